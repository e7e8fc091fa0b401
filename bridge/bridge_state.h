/* The bridge's shared state: per-route counters (sent, received, gaps,
 * reconnects, drops, bad frames, ...) that meshctl reads, and the receive
 * positions that must survive a bridge restart. One shared-memory object
 * per mesh, "/mesh.<mesh>.bridge.state", or process memory for tests. */
#ifndef BRIDGE_STATE_H
#define BRIDGE_STATE_H

#include "mesh_config.h"

#include <stdint.h>

#define BRIDGE_STATE_MAGIC   0x3154415453475242ull /* "BRGSTAT1" little-endian */
#define BRIDGE_STATE_VERSION 1u
#define BRIDGE_STATE_ROUTES  MESH_CFG_MAX_ROUTES

enum bridge_dir {
    BRIDGE_DIR_OUT = 1, /* local producer -> ring -> bridge -> peer */
    BRIDGE_DIR_IN = 2,  /* peer -> bridge -> ring -> local consumer */
};

/* Per-route counters. Each is written by one thread of the bridge. */
enum bridge_counter {
    BRIDGE_C_SENT = 0,   /* records handed to nng (resends included) */
    BRIDGE_C_RECEIVED,   /* records applied into the local ring */
    BRIDGE_C_GAPS,       /* records found missing by the receiver (reported) */
    BRIDGE_C_GAP_EVENTS, /* places where records were missing */
    BRIDGE_C_RECONNECTS, /* connections re-established after the first */
    BRIDGE_C_DROPS,      /* records dropped by policy (drop routes) */
    BRIDGE_C_BAD_FRAMES, /* frames rejected (malformed, unknown route or type) */
    BRIDGE_C_DUPS,       /* duplicate records skipped by the receiver */
    BRIDGE_C_RESENT,     /* records sent again after a reconnection or NACK */
    BRIDGE_C_REJECTED,   /* records of a type the route does not carry (skipped) */
    BRIDGE_C_NACKS,      /* resend requests sent (in) or obeyed (out) */
    BRIDGE_C_FRAMES,     /* frames sent (out) or applied (in) */
    BRIDGE_C_BYTES,      /* payload bytes of SENT / RECEIVED */
    BRIDGE_C_LAST_SEQ,   /* gauge: last sequence sent (out) / applied (in) */
    BRIDGE_C_ACKED_SEQ,  /* gauge: last sequence acknowledged by / to the peer */
    BRIDGE_C_LINK_UP,    /* gauge: 1 while connected */
    BRIDGE_NCOUNTERS = 16,
};

/* One route's slot (384 bytes). Names are NUL-terminated. */
typedef struct bridge_slot {
    char from[MESH_NAME_MAX];
    char to[MESH_NAME_MAX];
    char peer[MESH_NAME_MAX];
    uint64_t route_id;
    uint32_t dir;    /* enum bridge_dir */
    uint32_t policy; /* enum mesh_policy */
    uint64_t c[BRIDGE_NCOUNTERS];
    /* persistent receive position (BRIDGE_DIR_IN): see bridge_rx.c */
    uint64_t rx_epoch;
    uint64_t rx_last;
    uint64_t rx_known;
    /* the receive step under way (see bridge_rx.c, rx_step_begin): */
    uint64_t pend_seq;      /* rx_last once it is done, ... */
    uint64_t pend_ring_seq; /* ... the ring's next sequence number before it */
    /* persistent send generation (BRIDGE_DIR_OUT) */
    uint64_t tx_sync;
    uint64_t pend_counter; /* receive step: counter it adds to, + 1 (0: none) ... */
    uint64_t pend_count;   /* ... and that counter's value once it is done, ... */
    uint64_t pend_epoch;   /* ... and the stream (rx_epoch) it belongs to */
    uint8_t pad[384 - 3 * MESH_NAME_MAX - 16 - 8 * BRIDGE_NCOUNTERS - 72];
} bridge_slot;

/* The object: a 128-byte header, then BRIDGE_STATE_ROUTES slots. */
typedef struct bridge_state_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t size_bytes; /* sizeof(bridge_state_shm) */
    uint64_t nslots;     /* slots in use (published with a release store) */
    uint64_t epoch;      /* this bridge's stream epoch as a sender */
    uint64_t generation; /* the bridge control block's generation at the last start */
    uint64_t bad_frames; /* frames rejected before a route was known */
    uint64_t links_up;   /* gauge: connected peers (out) */
    int32_t pid;         /* bridge process */
    uint32_t reserved;
    uint64_t hello_refused;   /* routes this receiver refused at a handshake (unknown, policy
                               * or types differ) */
    uint64_t route_conflicts; /* connections refused because another mesh holds the route */
    uint64_t peer_refusals;   /* refusals this sender got from its peers */
    uint8_t pad[128 - 88];
} bridge_state_hdr;

typedef struct bridge_state_shm {
    bridge_state_hdr hdr;
    bridge_slot slot[BRIDGE_STATE_ROUTES];
} bridge_state_shm;

typedef struct bridge_state bridge_state;

/* Bridge side: opens "/mesh.<mesh>.bridge.state", creating it if missing.
 * The state is kept when it validates and its recorded generation is below
 * `generation` (the bridge control block's, which meshd increments per
 * start: a restart under the same meshd, or a keep_shm restart); otherwise
 * (new control block = new rings) it is reformatted with a new epoch and
 * *fresh = 1. Records `generation` and the pid. Returns 0 or an error;
 * *out is the caller's (bridge_state_close). */
int bridge_state_open(bridge_state **out, const char *mesh, uint64_t generation, int *fresh);

/* Process-memory state (tests, benchmarks): formatted, new epoch. */
int bridge_state_open_mem(bridge_state **out);

/* Tools: attaches read-only and validates (MESH_ENOENT when the mesh has no
 * bridge state, MESH_EFOREIGN / MESH_EVERSION / MESH_ECORRUPT). */
int bridge_state_attach(bridge_state **out, const char *mesh);

/* Unmaps (never unlinks). Accepts NULL. */
void bridge_state_close(bridge_state *s);

/* Removes the object of a mesh. Returns 0 or MESH_ENOENT. */
int bridge_state_unlink(const char *mesh);

/* The header (read-only for tools). */
bridge_state_hdr *bridge_state_header(bridge_state *s);

/* Finds the slot of (from, to), or claims a new one (writable handles only).
 * Returns 0 and *slot, MESH_ENOSPC when all slots are used, MESH_EACCES on
 * a read-only handle. Not thread-safe: call before the bridge threads start. */
int bridge_state_slot(bridge_state *s, const char *from, const char *to, const char *peer,
                      enum bridge_dir dir, enum mesh_policy policy, bridge_slot **slot);

/* The slot of route (from, to), or NULL. Any handle; read-only. */
const bridge_slot *bridge_state_find(const bridge_state *s, const char *from, const char *to);

/* Slot i (0 <= i < nslots) for readers, or NULL. */
const bridge_slot *bridge_state_slot_at(const bridge_state *s, uint32_t i);
uint32_t bridge_state_nslots(const bridge_state *s);

/* Counter access: one writer per counter; readers in any process or thread
 * see whole values (relaxed atomics; statistics, no ordering implied). */
void bridge_slot_add(bridge_slot *s, enum bridge_counter c, uint64_t n);
void bridge_slot_set(bridge_slot *s, enum bridge_counter c, uint64_t v);
uint64_t bridge_slot_get(const bridge_slot *s, enum bridge_counter c);

/* Same for the persistent words and header fields (relaxed; one writer). */
void bridge_word_set(uint64_t *w, uint64_t v);
uint64_t bridge_word_get(const uint64_t *w);

/* Short name of a counter ("sent", "gaps", ...). */
const char *bridge_counter_name(enum bridge_counter c);

#endif
