/* Deadlines of the engine loop: periodic timers, the heartbeat period and the
 * drain deadline. Pure arithmetic on mesh_now_ns values, unit-tested alone. */
#ifndef ENGINE_SCHED_H
#define ENGINE_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define ENGINE_MAX_TIMERS 16

/* Heartbeat period for a heartbeat timeout: timeout/4 clamped to [10, 250]
 * ms; 250 when hang detection is off (timeout 0). */
uint32_t engine_heartbeat_period_ms(uint32_t heartbeat_timeout_ms);

/* How long a stopping engine may spend draining its input: half the stop
 * timeout (the rest is left for shutdown), at least 10 ms; 2500 ms when the
 * stop timeout is 0 (unset). */
uint32_t engine_drain_ms(uint32_t stop_timeout_ms);

typedef struct engine_sched {
    size_t n;
    uint64_t period_ns[ENGINE_MAX_TIMERS];
    uint64_t next_ns[ENGINE_MAX_TIMERS];
} engine_sched;

/* Sets up n timers with the given periods (ms, each > 0), the first run of
 * each one period after now_ns. Returns 0, or MESH_EINVAL for n above
 * ENGINE_MAX_TIMERS or a zero period. */
int engine_sched_init(engine_sched *s, const uint32_t *period_ms, size_t n, uint64_t now_ns);

/* Index of a timer due at now_ns (the earliest deadline first), or -1. */
int engine_sched_due(const engine_sched *s, uint64_t now_ns);

/* Marks timer i as run at now_ns: its next deadline moves one period on from
 * the previous one, or one period on from now_ns when it fell more than a
 * period behind (missed runs are skipped, not run in a burst). */
void engine_sched_ran(engine_sched *s, size_t i, uint64_t now_ns);

/* Gives timer i a new period (ms) from now_ns on; 0 pauses it. Returns 0 or
 * MESH_EINVAL for an index out of range. */
int engine_sched_set(engine_sched *s, size_t i, uint32_t period_ms, uint64_t now_ns);

/* Earliest timer deadline, or UINT64_MAX with no (running) timers. */
uint64_t engine_sched_next(const engine_sched *s);

#endif
