/* Single-producer single-consumer ring of variable-length records, living in
 * one POSIX shared-memory object (or in caller memory), zero-copy both ways. */
#ifndef BUS_RING_H
#define BUS_RING_H

#include "bus_wait.h"
#include "mesh_error.h"

#include <stddef.h>
#include <stdint.h>

/* Shared layout, version 2 (struct ring_shm in bus_ring_int.h, where a
 * _Static_assert pins every offset below):
 *   [0, 128)    header line: immutable after format: 0 magic u64, 8 version
 *               u32, 12 header_bytes u32, 16 capacity u64, 24 max_record u32,
 *               28 policy u32; then, in a 64-byte cache line of its own, the
 *               producer's intent record of an unfinished publish or drop
 *               (see bus_ring_open): 64 intent_head u64, 72 undo_seq u64,
 *               80 undo_bytes u64, 88 intent_drops u64
 *   [128, 256)  producer line: 128 head u64, 136 next_seq u64, 144 bytes u64,
 *               152 full_waits u64, 160 drops u64, 168 wakeups u64,
 *               176 producer_pid i32, 180 publish_batch u32
 *   [256, 384)  consumer line: 256 tail u64, 264 high_water u64,
 *               272 consumer_pid i32
 *   [384, 384 + capacity)  data: records, each 8-aligned:
 *       u32 length (payload bytes), u32 type, u32 flags, u32 check, u64 seq, payload
 *       check = length ^ type ^ flags ^ seq_low32 ^ seq_high32 ^ 0x5a17c0de
 *   A padding record (type BUS_RING_TYPE_PAD, length = bytes to the end of the
 *   data area, only its first 8 bytes are written) fills the gap at wrap.
 * Positions are free-running u64 byte counts; offset = position & (capacity-1).
 * Version 2 added the intent record (version 1 segments are refused). */
#define BUS_RING_MAGIC        0x31474e4952485342ull /* "BSHRING1" little-endian */
#define BUS_RING_VERSION      2u
#define BUS_RING_HEADER_BYTES 384u   /* data offset inside the segment */
#define BUS_RING_REC_HDR      24u    /* record header bytes */
#define BUS_RING_ALIGN        8u     /* record alignment */
#define BUS_RING_MIN_CAPACITY 256ull /* capacity limits (powers of two) */
#define BUS_RING_MAX_CAPACITY (1ull << 32)
#define BUS_RING_TYPE_PAD     0xffffffffu /* reserved type id */

/* Returned by bus_ring_claim_wait / bus_ring_push_wait on a DROP-policy ring
 * that is full: the message was counted in `drops` and its sequence number
 * consumed (the consumer sees the gap). Distinct from MESH_EAGAIN. */
#define BUS_RING_DROPPED MESH_ENOSPC

enum bus_ring_policy {
    BUS_RING_POLICY_WAIT = 0, /* full ring: the producer waits, nothing is lost */
    BUS_RING_POLICY_DROP = 1, /* full ring: the message is dropped and counted */
};

enum bus_ring_role {
    BUS_RING_PRODUCER = 1, /* the one writer */
    BUS_RING_CONSUMER = 2, /* the one reader (owns the tail position) */
    BUS_RING_OBSERVER = 3, /* read-only (tools): stats and non-consuming copies */
};

typedef struct bus_ring bus_ring;

/* One record as seen by the consumer. data points into the ring and stays
 * valid until the consumer calls bus_ring_release. */
typedef struct bus_ring_rec {
    const void *data;
    uint32_t len;
    uint32_t type;
    uint32_t flags;
    uint64_t seq;
} bus_ring_rec;

/* Counters and positions, read from shared memory (any role). */
typedef struct bus_ring_stats {
    uint64_t capacity;   /* data bytes */
    uint32_t max_record; /* largest payload a claim may ask for */
    uint32_t policy;     /* enum bus_ring_policy */
    uint64_t head;       /* producer position (bytes, free-running) */
    uint64_t tail;       /* consumer released position */
    uint64_t depth;      /* head - tail, bytes waiting */
    uint64_t next_seq;   /* sequence number the next visible message gets (first is 1) */
    uint64_t messages;   /* records published (visible to the consumer) */
    uint64_t bytes;      /* payload bytes of those records */
    uint64_t full_waits; /* times a waiting producer found the ring full */
    uint64_t wakeups;    /* times the producer rang the consumer's doorbell */
    uint64_t drops;      /* messages dropped (DROP policy) */
    uint64_t high_water; /* largest depth the consumer has seen, bytes */
    int32_t producer_pid;
    int32_t consumer_pid;
} bus_ring_stats;

/* Segment bytes needed for a ring of `capacity` data bytes (header + data). */
size_t bus_ring_segment_size(uint64_t capacity);

/* Default and largest allowed max_record for a capacity: capacity/4 minus the
 * record header, so one record never takes more than a quarter of the ring. */
uint32_t bus_ring_default_max_record(uint64_t capacity);

/* Formats `len` bytes at mem (8-aligned; len == bus_ring_segment_size(capacity))
 * as an empty ring. capacity: power of two in [BUS_RING_MIN_CAPACITY,
 * BUS_RING_MAX_CAPACITY]; max_record 0 means the default. Returns 0 or
 * MESH_EINVAL. Not concurrent with any other use of the memory. */
int bus_ring_format(void *mem, size_t len, uint64_t capacity, uint32_t max_record,
                    enum bus_ring_policy policy);

/* Opens a handle over formatted memory (same process or a mapping of a shm
 * object). Validates magic (MESH_EFOREIGN), version (MESH_EVERSION), sizes and
 * positions (MESH_ECORRUPT, reason logged). A producer also finishes the
 * intent record a producer killed inside a publish or drop left open: it
 * rolls next_seq and bytes back to before it (logged), so the unpublished
 * sequence numbers are reused; an intent record no producer could have left
 * is MESH_ECORRUPT. The caller keeps owning mem and must keep it mapped until
 * bus_ring_close. */
int bus_ring_open_mem(bus_ring **out, void *mem, size_t len, enum bus_ring_role role);

/* Supervisor side: creates the shm object `shm_name` (O_EXCL: MESH_EEXIST if
 * it exists), sizes and formats it, unmaps. See bus_ring_format for args. */
int bus_ring_create(const char *shm_name, uint64_t capacity, uint32_t max_record,
                    enum bus_ring_policy policy);

/* Engine / tool side: attaches the shm object (the observer maps it read-only)
 * and validates it as bus_ring_open_mem does; the object size must equal
 * bus_ring_segment_size(capacity) (else MESH_ECORRUPT). Returns 0 or an error;
 * *out is owned by the caller (bus_ring_close). */
int bus_ring_open(bus_ring **out, const char *shm_name, enum bus_ring_role role);

/* Closes the handle (unmaps a shm ring; never unlinks). An outstanding claim
 * is abandoned (nothing becomes visible); records peeked but not released
 * stay in the ring for the next consumer. Accepts NULL. */
void bus_ring_close(bus_ring *r);

/* Producer: ring this consumer doorbell after every commit if its consumer
 * sleeps (see bus_doorbell_notify). NULL disables. The doorbell memory must
 * outlive the handle. */
void bus_ring_set_doorbell(bus_ring *r, bus_doorbell *db);

/* Producer: wait strategy for bus_ring_claim_wait (copied; default adaptive). */
void bus_ring_set_wait(bus_ring *r, const bus_wait_cfg *cfg);

/* Producer: reserves space for a record of up to `len` payload bytes and sets
 * *ptr to it (8-aligned). Nothing is visible until bus_ring_commit. Returns 0,
 * MESH_EAGAIN if the ring is full now (would block), MESH_ETOOBIG if len >
 * max_record, MESH_ESTATE if a claim is already open or the role is wrong,
 * MESH_ECORRUPT if the consumer position in shm is inconsistent. */
int bus_ring_claim(bus_ring *r, size_t len, void **ptr);

/* Producer: commits the claimed record with `used_len` <= claimed payload
 * bytes and assigns the next sequence number; publishes it (release store of
 * head) and rings the doorbell if set -- at once by default, or, in publish
 * batch mode, once a batch of bytes is committed. Returns 0, MESH_EINVAL
 * (used_len too big or type is BUS_RING_TYPE_PAD; the claim stays open) or
 * MESH_ESTATE (no claim). */
int bus_ring_commit(bus_ring *r, uint32_t type, uint32_t flags, size_t used_len);

/* Producer: publish batch mode for streaming. With bytes > 0, head is stored
 * (one cross-core line transfer for the consumer) only once that many bytes
 * of records are committed, when a claim finds the ring full, on
 * bus_ring_flush and on close; 0 (the default, and for every newly attached
 * producer) publishes each commit. Committed records not yet published are
 * lost if the producer dies, like an open claim, and the restarted producer
 * reuses their sequence numbers. Returns 0, MESH_EINVAL (bytes > capacity/4)
 * or MESH_ESTATE (not an idle producer). Flushes first. */
int bus_ring_set_publish_batch(bus_ring *r, uint32_t bytes);

/* Producer: publishes every committed record now (a no-op when nothing is
 * held back). Call before going idle in publish batch mode. Returns 0 or
 * MESH_ESTATE (not a producer). */
int bus_ring_flush(bus_ring *r);

/* Producer: abandons the open claim, if any (nothing becomes visible). */
void bus_ring_abort(bus_ring *r);

/* Producer: like bus_ring_claim, but when the ring is full: WAIT policy waits
 * (wait strategy of bus_ring_set_wait; counts one full wait) until space frees
 * or timeout_ns passes (UINT64_MAX: no limit; then MESH_ETIMEDOUT, nothing
 * lost: the caller still holds its message); DROP policy counts a drop,
 * consumes a sequence number and returns BUS_RING_DROPPED at once. */
int bus_ring_claim_wait(bus_ring *r, size_t len, void **ptr, uint64_t timeout_ns);

/* Producer (idle, no open claim): consumes the next n sequence numbers
 * without writing records and counts them in `drops`, as the DROP policy
 * does for one message, so the consumer sees a gap of n before the next
 * record. For relays (the nng bridge) whose upstream lost records. Returns
 * 0, MESH_ESTATE (not an idle producer) or MESH_EINVAL (n would take the
 * next sequence number past 2^63 - 1, or it is past already). */
int bus_ring_skip(bus_ring *r, uint64_t n);

/* Producer: copies one record in (claim + memcpy + commit, flags 0). Returns
 * as bus_ring_claim (MESH_EAGAIN when full) or bus_ring_commit. */
int bus_ring_push(bus_ring *r, uint32_t type, const void *data, size_t len);

/* Producer: copying form of bus_ring_claim_wait. */
int bus_ring_push_wait(bus_ring *r, uint32_t type, const void *data, size_t len,
                       uint64_t timeout_ns);

/* Consumer: returns the next record after the ones already peeked, and moves
 * the local read cursor past it; its space is freed only by bus_ring_release
 * (so peek N records, release once = batch release). Validates the header
 * written by the other process. Returns 0, MESH_EAGAIN when no record is
 * committed, MESH_ECORRUPT (cursor does not move; reason logged once) or
 * MESH_ESTATE (wrong role). */
int bus_ring_peek(bus_ring *r, bus_ring_rec *rec);

/* Consumer: frees every record peeked so far by publishing the read cursor
 * as the tail position (one release store; no-op if nothing was peeked). */
void bus_ring_release(bus_ring *r);

/* Consumer: peek + copy into buf + release. Returns 0, MESH_EAGAIN, MESH_ECORRUPT,
 * or MESH_EMSGSIZE if cap < payload (record not consumed; rec still describes
 * it, rec->data is NULL). rec may be NULL. Must not be mixed with unreleased
 * peeks (they are released too). */
int bus_ring_pop(bus_ring *r, bus_ring_rec *rec, void *buf, size_t cap);

/* Consumer: nonzero when bus_ring_peek would return a record (reloads the
 * producer position if its cached copy is used up). For bus_wait_ready_fn
 * callbacks. */
int bus_ring_ready(bus_ring *r);

/* Any role: fills *st from shared memory (plain atomic loads; never writes, so
 * tools do not disturb the hot path). Returns 0. */
int bus_ring_stats_get(const bus_ring *r, bus_ring_stats *st);

/* Any role (for `meshctl tail`): copies the record at *cursor without
 * consuming it, also after the consumer released it, as long as the producer
 * has not come within one claim of overwriting it (about capacity - 2 x the
 * largest record behind the head). *cursor 0 starts at the current tail. On
 * success sets *rec (rec->data = buf), advances *cursor, returns 0.
 * MESH_EAGAIN: nothing newer yet. MESH_ERANGE: the observer fell that far
 * behind (the record may have been overwritten before or while it was
 * copied): *cursor is moved to the tail, call again. MESH_EMSGSIZE: cap too
 * small (*cursor unchanged, rec->len says how much is needed). */
int bus_ring_observe(const bus_ring *r, uint64_t *cursor, bus_ring_rec *rec, void *buf, size_t cap);

/* Name given at open ("mem" for bus_ring_open_mem), for messages. */
const char *bus_ring_name(const bus_ring *r);

/* The ring's max_record (largest payload a claim may ask for). */
uint32_t bus_ring_max_record(const bus_ring *r);

#endif
