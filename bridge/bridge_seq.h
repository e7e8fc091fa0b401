/* Per-route sequencing of the bridge, as pure state machines: the receiver's
 * verdict on each frame (apply, stale, ask for a resend) with gap detection,
 * the sender's window of unacknowledged frames, and the receiver's queue of
 * "acknowledge seq once the local consumer passed ring position pos". */
#ifndef BRIDGE_SEQ_H
#define BRIDGE_SEQ_H

#include "bridge_frame.h"

#include <stdint.h>

/* Protocol (reliable = `wait` routes):
 * - The sender keeps records in its ring until the receiver acknowledges
 *   them; it sends frames whose header seq ("prev") is the sequence number of
 *   the record sent before the frame, so a receiver sees lost frames as
 *   prev > last.
 * - After a (re)connection or a NACK the sender rewinds to its oldest
 *   unacknowledged record, increments its resend generation `sync`, and
 *   marks the first frame SYNC (prev = resume point).
 * - The receiver applies a frame only in sequence (prev <= last). A frame
 *   that would skip records (prev > last) is answered by a NACK, unless it
 *   belongs to an older generation than the last SYNC accepted (stale:
 *   discarded silently, the SYNC frame already rewound). A stream without a
 *   baseline (receiver state new, or the sender's epoch changed: its rings
 *   were recreated) starts only at a SYNC frame; other frames get a NACK.
 *   Records with seq <= last are duplicates of a resend and are skipped, so
 *   each record reaches the ring once.
 * Unreliable (`drop` routes): no NACK and no resend; records missing between
 * frames or inside one are counted as gaps. */
typedef struct bridge_rxseq {
    uint64_t epoch; /* sender epoch that `last` belongs to */
    uint64_t last;  /* last sequence number applied */
    int known;      /* epoch and last are meaningful */
    int synced;     /* a SYNC frame of generation `sync` was accepted (reliable) */
    uint32_t sync;
} bridge_rxseq;

enum bridge_rx_verdict {
    BRIDGE_RX_APPLY = 0, /* apply the records (bridge_rxseq_record on each) */
    BRIDGE_RX_STALE = 1, /* older resend generation: discard, nothing to report */
    BRIDGE_RX_NACK = 2,  /* discard and ask for a resend after `last` */
};

/* Most records one frame may report missing (between frames and inside it
 * together): a forged or corrupt sequence number cannot add ~2^64 to the
 * gap counters. A longer loss (a drop route whose peer was away for over
 * 2^32 records) is reported as 2^32 and the frame counted as bad. */
#define BRIDGE_RX_GAP_MAX (1ull << 32)

typedef struct bridge_rx_decision {
    enum bridge_rx_verdict verdict;
    uint64_t gap;   /* records missing between `last` and the frame's prev,
                     * at most BRIDGE_RX_GAP_MAX */
    int gap_capped; /* the frame claimed more than BRIDGE_RX_GAP_MAX missing */
    int new_stream; /* the state was (re)based on this frame: no gap is known */
} bridge_rx_decision;

/* Decides what to do with a data frame for a route in state *s (reliable:
 * 1 for wait routes, 0 for drop routes). For APPLY, updates *s (epoch,
 * baseline, generation; last moves to prev when a gap is counted). Pure. */
void bridge_rxseq_frame(bridge_rxseq *s, const bridge_frame_hdr *h, int reliable,
                        bridge_rx_decision *d);

/* For one record of an applied frame: returns 0 when seq <= last (a
 * duplicate, skip it), else 1 with *missing = seq - last - 1 records absent
 * before it. Call bridge_rxseq_applied once the record is in the ring. */
int bridge_rxseq_record(const bridge_rxseq *s, uint64_t seq, uint64_t *missing);

/* Records that seq was applied (last = seq). */
void bridge_rxseq_applied(bridge_rxseq *s, uint64_t seq);

#define BRIDGE_TXWIN_MARKS 1024u

/* Sender: one mark per frame sent and not yet acknowledged. */
typedef struct bridge_txwin {
    uint64_t seq[BRIDGE_TXWIN_MARKS];   /* last record sequence of the frame */
    uint64_t bytes[BRIDGE_TXWIN_MARKS]; /* ring bytes the frame's records hold */
    unsigned head, n;
    uint64_t total; /* sum of bytes over the marks */
} bridge_txwin;

/* Empties the window. */
void bridge_txwin_clear(bridge_txwin *w);

/* Adds a sent frame. Returns 0, or MESH_ENOSPC when BRIDGE_TXWIN_MARKS
 * frames are outstanding (send nothing more until acks arrive). */
int bridge_txwin_push(bridge_txwin *w, uint64_t last_seq, uint64_t bytes);

/* The receiver consumed everything up to seq: drops the marks of frames
 * fully covered. Returns the number dropped and sets *release_to to the
 * last sequence of the newest one (records up to it may be freed). */
unsigned bridge_txwin_ack(bridge_txwin *w, uint64_t seq, uint64_t *release_to);

#define BRIDGE_ACKQ_MAX 65536u /* most entries per route */

/* Receiver: "once the ring's tail reaches pos, everything up to seq was
 * consumed", one entry per record written (so a consumer that stops in the
 * middle of a frame gets exactly what it took acknowledged). When full, the
 * newest entry is moved forward instead of adding one (both grow, so acks
 * only come later, never wrong). */
typedef struct bridge_ackq {
    uint64_t *pos;
    uint64_t *seq;
    unsigned cap, head, n;
} bridge_ackq;

/* Allocates room for `entries` (1..BRIDGE_ACKQ_MAX). Returns 0 or MESH_ENOMEM. */
int bridge_ackq_init(bridge_ackq *q, unsigned entries);

/* Frees the arrays. Accepts a zeroed queue. */
void bridge_ackq_free(bridge_ackq *q);

void bridge_ackq_clear(bridge_ackq *q);

/* Adds (pos, seq); pos and seq must not decrease from one call to the next. */
void bridge_ackq_push(bridge_ackq *q, uint64_t pos, uint64_t seq);

/* Pops every entry with pos <= tail. Returns 1 and *seq (the newest popped)
 * if any was popped, else 0. */
int bridge_ackq_consumed(bridge_ackq *q, uint64_t tail, uint64_t *seq);

#endif
