/* Internal: the ring's shared-memory layout and process-local handle, shared
 * by bus_ring.c (hot path) and bus_ring_open.c (format, attach, tools). */
#ifndef BUS_RING_INT_H
#define BUS_RING_INT_H

#include "bus_ring.h"
#include "bus_shm.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RING_LINE 128u /* two 64-byte lines: adjacent-line prefetch pairs */

/* How far ahead each side prefetches ring lines: the producer the free lines
 * it will write next (for ownership), the consumer the committed lines it
 * will read next, so several line transfers are in flight at once. */
#ifndef RING_PREFETCH
#define RING_PREFETCH 1024u
#endif

/* Producer states. One int read and written whole, so that claim's check
 * is forwarded from commit's store (no merged role+flag load). */
#define RING_P_IDLE    1
#define RING_P_CLAIMED 2

/* The segment header. Positions are free-running byte counts; the shared
 * memory holds no pointers. Producer and consumer lines are written by one
 * side each; tools only read. */
struct ring_shm {
    /* line 0, first 64 bytes: written once by bus_ring_format */
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes; /* = BUS_RING_HEADER_BYTES, the data offset */
    uint64_t capacity;
    uint32_t max_record;
    uint32_t policy;
    uint8_t pad0[32];
    /* line 0, second 64 bytes: producer-owned intent record of its open
     * publish or drop (ring_publish, ring_drop). While head != intent_head
     * or drops != intent_drops one is unfinished, and next_seq / bytes may
     * be ahead of what is visible; a producer attaching then rolls them back
     * to undo_seq / undo_bytes. A cache line of its own that no consumer
     * reads, so these stores stay in the producer's cache. */
    uint64_t intent_head;  /* head the open publish moves to */
    uint64_t undo_seq;     /* next_seq before the open operation */
    uint64_t undo_bytes;   /* bytes before the open operation */
    uint64_t intent_drops; /* drops the open drop moves to */
    uint8_t pad0b[32];
    /* line 1: producer-owned */
    uint64_t head;     /* end of the last committed record */
    uint64_t next_seq; /* next sequence number to assign */
    uint64_t bytes;
    uint64_t full_waits;
    uint64_t drops;
    uint64_t wakeups;
    int32_t producer_pid;
    uint32_t publish_batch; /* bytes a producer may commit before publishing head */
    uint8_t pad1[RING_LINE - 56];
    /* line 2: consumer-owned */
    uint64_t tail;       /* end of the last released record */
    uint64_t high_water; /* bytes */
    int32_t consumer_pid;
    uint8_t pad2[RING_LINE - 20];
};

/* Every field at the offset the layout comment in bus_ring.h documents (the
 * shared-memory ABI of BUS_RING_VERSION; a change needs a version bump). */
_Static_assert(sizeof(struct ring_shm) == BUS_RING_HEADER_BYTES, "ring header size");
_Static_assert(sizeof(struct ring_shm) == 3 * RING_LINE, "three lines");
_Static_assert(_Alignof(struct ring_shm) == 8, "ring header alignment");
_Static_assert(BUS_RING_HEADER_BYTES % RING_LINE == 0, "data starts on a line boundary");
_Static_assert(offsetof(struct ring_shm, magic) == 0, "header line");
_Static_assert(offsetof(struct ring_shm, version) == 8, "header line");
_Static_assert(offsetof(struct ring_shm, header_bytes) == 12, "header line");
_Static_assert(offsetof(struct ring_shm, capacity) == 16, "header line");
_Static_assert(offsetof(struct ring_shm, max_record) == 24, "header line");
_Static_assert(offsetof(struct ring_shm, policy) == 28, "header line");
_Static_assert(offsetof(struct ring_shm, pad0) == 32, "header line");
_Static_assert(offsetof(struct ring_shm, intent_head) == 64, "intent record");
_Static_assert(offsetof(struct ring_shm, undo_seq) == 72, "intent record");
_Static_assert(offsetof(struct ring_shm, undo_bytes) == 80, "intent record");
_Static_assert(offsetof(struct ring_shm, intent_drops) == 88, "intent record");
_Static_assert(offsetof(struct ring_shm, pad0b) == 96, "intent record");
_Static_assert(offsetof(struct ring_shm, head) == RING_LINE, "producer line");
_Static_assert(offsetof(struct ring_shm, next_seq) == RING_LINE + 8, "producer line");
_Static_assert(offsetof(struct ring_shm, bytes) == RING_LINE + 16, "producer line");
_Static_assert(offsetof(struct ring_shm, full_waits) == RING_LINE + 24, "producer line");
_Static_assert(offsetof(struct ring_shm, drops) == RING_LINE + 32, "producer line");
_Static_assert(offsetof(struct ring_shm, wakeups) == RING_LINE + 40, "producer line");
_Static_assert(offsetof(struct ring_shm, producer_pid) == RING_LINE + 48, "producer line");
_Static_assert(offsetof(struct ring_shm, publish_batch) == RING_LINE + 52, "producer line");
_Static_assert(offsetof(struct ring_shm, pad1) == RING_LINE + 56, "producer line");
_Static_assert(offsetof(struct ring_shm, tail) == 2 * RING_LINE, "consumer line");
_Static_assert(offsetof(struct ring_shm, high_water) == 2 * RING_LINE + 8, "consumer line");
_Static_assert(offsetof(struct ring_shm, consumer_pid) == 2 * RING_LINE + 16, "consumer line");
_Static_assert(offsetof(struct ring_shm, pad2) == 2 * RING_LINE + 20, "consumer line");
/* 64-bit fields read and written whole by ck_pr (no torn values) */
_Static_assert(offsetof(struct ring_shm, head) % 8 == 0 && offsetof(struct ring_shm, tail) % 8 == 0,
               "positions 8-aligned");
_Static_assert(offsetof(struct ring_shm, intent_head) % 64 == 0, "intent record: own cache line");

/* Record header, 8-aligned, followed by the payload. A padding record only
 * has len (bytes to the end of the data area) and type written. */
struct ring_rec {
    uint32_t len;   /* payload bytes */
    uint32_t type;  /* message type id, BUS_RING_TYPE_PAD for padding */
    uint32_t flags; /* user flags */
    uint32_t check; /* ring_check() of the other fields */
    uint64_t seq;   /* per-ring sequence number, first is 1 */
};

_Static_assert(sizeof(struct ring_rec) == BUS_RING_REC_HDR, "record header size");
_Static_assert(_Alignof(struct ring_rec) == 8, "record header alignment");
_Static_assert(BUS_RING_REC_HDR % BUS_RING_ALIGN == 0, "payload starts 8-aligned");
_Static_assert(offsetof(struct ring_rec, len) == 0, "record header layout");
_Static_assert(offsetof(struct ring_rec, type) == 4, "record header layout");
_Static_assert(offsetof(struct ring_rec, flags) == 8, "record header layout");
_Static_assert(offsetof(struct ring_rec, check) == 12, "record header layout");
_Static_assert(offsetof(struct ring_rec, seq) == 16, "record header layout");

struct bus_ring {
    /* read-only after open */
    uint8_t *data; /* data area (this process's mapping) */
    struct ring_shm *shm;
    uint64_t cap;
    uint64_t mask;
    uint32_t max_record;
    uint32_t policy;
    int role;
    int pstate; /* producer: RING_P_IDLE or RING_P_CLAIMED; 0 for other roles */
    /* producer state */
    uint64_t head;          /* our committed head (shm head once published) */
    uint64_t published;     /* head as last stored in shm */
    uint32_t publish_batch; /* publish once head - published reaches this (0: every commit) */
    uint64_t tail_cache;    /* consumer tail as last loaded */
    uint64_t claim_pos;     /* where the claimed record header goes */
    uint64_t claim_len;     /* payload bytes claimed */
    uint64_t next_seq;
    uint64_t bytes;
    uint64_t pub_seq;   /* next_seq as last stored in shm (the undo value) */
    uint64_t pub_bytes; /* bytes as last stored in shm (the undo value) */
    uint64_t pf_write;  /* lines before this position were prefetched for writing */
    bus_doorbell *db;
    /* consumer state */
    uint64_t read;       /* next record to peek */
    uint64_t released;   /* tail as last published */
    uint64_t head_cache; /* producer head as last loaded */
    uint64_t pf_read;    /* committed lines before this position were prefetched */
    uint64_t high_water;
    int corrupt_logged;
    /* cold */
    bus_wait_cfg wait;
    bus_shm *seg; /* NULL for bus_ring_open_mem */
    char name[96];
};

/* Record size in the ring for `len` payload bytes: header + payload, rounded
 * up to 8 (a mask, no division). */
static inline uint64_t ring_rec_size(uint64_t len)
{
    return (BUS_RING_REC_HDR + len + (BUS_RING_ALIGN - 1)) & ~(uint64_t)(BUS_RING_ALIGN - 1);
}

/* Header check word: catches a stray write or a torn/foreign header. */
static inline uint32_t ring_check(uint32_t len, uint32_t type, uint32_t flags, uint64_t seq)
{
    return len ^ type ^ flags ^ (uint32_t)seq ^ (uint32_t)(seq >> 32) ^ 0x5a17c0deu;
}

/* Copies the record header at data offset off out of shared memory: the
 * first 8 bytes (len, type), then the rest unless it is padding or would run
 * past the data area (those fields are then zero, which fails validation). */
static inline void ring_copy_hdr(const bus_ring *r, uint64_t off, struct ring_rec *h)
{
    memcpy(h, r->data + off, 8);
    if (h->type != BUS_RING_TYPE_PAD && r->cap - off >= BUS_RING_REC_HDR) {
        memcpy((uint8_t *)h + 8, r->data + off + 8, BUS_RING_REC_HDR - 8);
    } else {
        h->flags = 0;
        h->check = 0;
        h->seq = 0;
    }
}

/* Validates the header copied out of shared memory, for the record at
 * position pos with `avail` committed bytes from pos. Returns NULL if valid,
 * else the reason. */
const char *busi_ring_rec_invalid(const bus_ring *r, const struct ring_rec *h, uint64_t pos,
                                  uint64_t avail);

/* Logs (once per handle) and returns MESH_ECORRUPT. */
int busi_ring_corrupt(bus_ring *r, uint64_t pos, const char *why);

#endif
