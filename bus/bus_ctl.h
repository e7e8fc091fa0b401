/* Engine control block: one shared-memory object per engine holding its
 * doorbell, identity, state, heartbeat, counters, latency histogram and the
 * last handled sequence number of each input, written by the engine (and the
 * supervisor for its own fields) and read by tools. */
#ifndef BUS_CTL_H
#define BUS_CTL_H

#include "bus_wait.h"
#include "mesh_hist.h"

#include <stdint.h>

#define BUS_CTL_MAGIC   0x314c544348534d42ull /* "BMSHCTL1" little-endian */
#define BUS_CTL_VERSION 1u
#define BUS_CTL_SLOTS   32u /* per-input "last handled sequence" slots */

enum bus_ctl_state {
    BUS_CTL_STATE_NEW = 0,      /* created, engine not attached yet */
    BUS_CTL_STATE_STARTING = 1, /* engine attached, initialising */
    BUS_CTL_STATE_RUNNING = 2,
    BUS_CTL_STATE_DRAINING = 3, /* SIGTERM received, finishing inputs */
    BUS_CTL_STATE_STOPPED = 4,  /* exited cleanly */
    BUS_CTL_STATE_FAILED = 5,   /* supervisor gave up restarting it */
};

enum bus_ctl_counter {
    BUS_CTL_MSGS_IN = 0,
    BUS_CTL_MSGS_OUT = 1,
    BUS_CTL_MALFORMED = 2,
    BUS_CTL_HANDLER_ERRORS = 3,
    BUS_CTL_NCOUNTERS = 4,
};

enum bus_ctl_access {
    BUS_CTL_RW = 1, /* the engine, the supervisor, producers ringing the doorbell */
    BUS_CTL_RO = 2, /* tools: read-only mapping */
};

typedef struct bus_ctl bus_ctl;

/* A copy of the block for readers (each field read atomically). */
typedef struct bus_ctl_snapshot {
    int32_t pid;
    uint32_t state; /* enum bus_ctl_state */
    uint32_t ready;
    uint64_t heartbeat_ns; /* mesh_now_ns of the last heartbeat, 0 = never */
    uint64_t generation;   /* restart generation (supervisor) */
    uint64_t counters[BUS_CTL_NCOUNTERS];
    uint64_t last_seq[BUS_CTL_SLOTS];
    uint64_t doorbell_sleeps, doorbell_wakes, doorbell_timeouts;
    uint32_t doorbell_seq, doorbell_sleeping;
    mesh_hist latency; /* handler latency, ns */
} bus_ctl_snapshot;

/* Supervisor: creates and formats the object (O_EXCL: MESH_EEXIST). Returns 0
 * or an error. The object persists until bus_shm_unlink. */
int bus_ctl_create(const char *shm_name);

/* Attaches and validates (MESH_EFOREIGN, MESH_EVERSION, MESH_ECORRUPT for a
 * truncated object). *out is owned by the caller (bus_ctl_close). */
int bus_ctl_open(bus_ctl **out, const char *shm_name, enum bus_ctl_access access);

/* Unmaps and frees. Accepts NULL. */
void bus_ctl_close(bus_ctl *c);

/* The engine's doorbell (give it to bus_wait_idle as consumer, or to
 * bus_ring_set_doorbell as producer). NULL for a BUS_CTL_RO handle. */
bus_doorbell *bus_ctl_doorbell(bus_ctl *c);

/* Engine-written fields: one writer (the engine thread); readers in other
 * processes see each field atomically. No-ops on a BUS_CTL_RO handle. */
void bus_ctl_set_pid(bus_ctl *c, int32_t pid);
void bus_ctl_set_state(bus_ctl *c, enum bus_ctl_state state);
void bus_ctl_set_ready(bus_ctl *c, int ready);
void bus_ctl_heartbeat(bus_ctl *c, uint64_t now_ns);
void bus_ctl_count(bus_ctl *c, enum bus_ctl_counter which, uint64_t n);
void bus_ctl_record_latency(bus_ctl *c, uint64_t ns);

/* Records that input `slot` has handled everything up to sequence `seq`.
 * Returns 0 or MESH_EINVAL (slot >= BUS_CTL_SLOTS or read-only handle). */
int bus_ctl_set_last_seq(bus_ctl *c, unsigned slot, uint64_t seq);

/* Last handled sequence of input `slot` (0 = nothing handled yet; a restarted
 * engine skips records with seq <= this). Returns 0 or MESH_EINVAL. */
int bus_ctl_last_seq(const bus_ctl *c, unsigned slot, uint64_t *seq);

/* Supervisor: increments the restart generation, returns the new value. */
uint64_t bus_ctl_next_generation(bus_ctl *c);

/* Any handle: copies the block into *out. Never writes shared memory. */
int bus_ctl_snapshot_get(const bus_ctl *c, bus_ctl_snapshot *out);

/* Name of a state ("running"); "unknown" if out of range. */
const char *bus_ctl_state_name(uint32_t state);

#endif
