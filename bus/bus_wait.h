/* Wait strategies (busy-spin, spin-then-yield, adaptive) and the futex
 * "doorbell": one eventcount word per consumer engine in shared memory. */
#ifndef BUS_WAIT_H
#define BUS_WAIT_H

#include <stdint.h>

/* Doorbell: lives in the consumer's control block (bus_ctl), written by the
 * consumer (sleeping flag, counters) and by every producer feeding it (seq).
 * Layout is part of the shared-memory ABI: static-asserted in bus_wait.c. */
typedef struct bus_doorbell {
    uint32_t seq;      /* futex word: +1 each time a producer rings */
    uint32_t sleeping; /* nonzero while the consumer is in (or entering) FUTEX_WAIT */
    uint64_t sleeps;   /* FUTEX_WAIT calls made by the consumer */
    uint64_t wakes;    /* sleeps that ended because the doorbell was rung */
    uint64_t timeouts; /* sleeps that ran to their timeout */
    uint8_t pad[96];   /* one 128-byte line of its own */
} bus_doorbell;

enum bus_wait_kind {
    BUS_WAIT_ADAPTIVE = 0, /* spin, then yield, then sleep on the doorbell (default) */
    BUS_WAIT_SPIN = 1,     /* busy-spin only: lowest latency, burns its core */
    BUS_WAIT_YIELD = 2,    /* spin briefly, then sched_yield in a loop */
};

typedef struct bus_wait_cfg {
    enum bus_wait_kind kind;
    uint32_t spin;  /* polls before yielding (all kinds but SPIN) */
    uint32_t yield; /* sched_yield rounds before sleeping (ADAPTIVE) */
} bus_wait_cfg;

/* Nonzero when input is available. Called by bus_wait_idle; for a consumer
 * with several input rings it checks them all (e.g. bus_ring_ready on each). */
typedef int (*bus_wait_ready_fn)(void *arg);

/* Fills *cfg with the defaults: ADAPTIVE, spin 2000 polls, yield 16 rounds. */
void bus_wait_cfg_default(bus_wait_cfg *cfg);

/* Parses "adaptive" / "spin" / "yield" into *kind. Returns 0 or MESH_EINVAL. */
int bus_wait_kind_parse(const char *s, enum bus_wait_kind *kind);

/* Zeroes a doorbell (supervisor side, before any engine uses it). */
void bus_doorbell_init(bus_doorbell *db);

/* Consumer side: takes the doorbell over for a new consumer process by
 * clearing `sleeping`, which a previous owner killed inside bus_wait_idle
 * (e.g. SIGKILL in FUTEX_WAIT) left at 1; until cleared, every producer
 * commit would ring (FUTEX_WAKE syscall, `wakeups` + 1) for nobody. seq and
 * the counters are kept. Call once when attaching as the doorbell's owner,
 * before the first bus_wait_idle, from the one consumer thread, never while
 * a thread of this process waits on db (that would lose its wakeup).
 * Producers may call bus_doorbell_notify concurrently: one that still reads
 * the old 1 rings once for nothing, which is harmless. */
void bus_doorbell_reset(bus_doorbell *db);

/* Producer side, called after a commit was published with a release store:
 * full fence, then rings (seq += 1, FUTEX_WAKE) only if the consumer said it
 * sleeps. Returns 1 if it rang, 0 if not. Any number of producers (threads or
 * processes) may call it concurrently. */
int bus_doorbell_notify(bus_doorbell *db);

/* Consumer side: waits until ready(arg) returns nonzero or timeout_ns elapses
 * (UINT64_MAX: no limit). ADAPTIVE sleeps in FUTEX_WAIT (shared, not PRIVATE)
 * with the eventcount protocol: read seq, announce sleeping, full fence,
 * re-check ready(), futex-wait on the seq read before the re-check. db may be
 * NULL for SPIN/YIELD (ADAPTIVE then sleeps in short naps instead). Returns 0
 * when ready, MESH_ETIMEDOUT when the time ran out (so the caller's timers can
 * run). Only the one consumer thread owning db may call it. */
int bus_wait_idle(const bus_wait_cfg *cfg, bus_doorbell *db, bus_wait_ready_fn ready, void *arg,
                  uint64_t timeout_ns);

/* Backoff state for a producer waiting for ring space (no doorbell: it polls
 * with spin, then yield, then naps growing from 16 us to 1 ms). Process-local. */
typedef struct bus_backoff {
    const bus_wait_cfg *cfg;
    uint32_t round;
    uint32_t nap_us;
} bus_backoff;

/* Starts a backoff sequence using cfg (NULL: defaults). */
void bus_backoff_init(bus_backoff *b, const bus_wait_cfg *cfg);

/* Waits one step of the sequence (pause, yield or nap). */
void bus_backoff_step(bus_backoff *b);

#endif
