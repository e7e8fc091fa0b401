/* Timer and heartbeat deadline arithmetic for the engine loop. */
#include "engine_sched.h"

#include "mesh_error.h"

#define NS_PER_MS 1000000ull

uint32_t engine_heartbeat_period_ms(uint32_t heartbeat_timeout_ms)
{
    if (heartbeat_timeout_ms == 0)
        return 250;
    uint32_t p = heartbeat_timeout_ms / 4;
    if (p < 10)
        return 10;
    return p > 250 ? 250 : p;
}

uint32_t engine_drain_ms(uint32_t stop_timeout_ms)
{
    if (stop_timeout_ms == 0)
        return 2500;
    uint32_t d = stop_timeout_ms / 2;
    return d < 10 ? 10 : d;
}

int engine_sched_init(engine_sched *s, const uint32_t *period_ms, size_t n, uint64_t now_ns)
{
    if (n > ENGINE_MAX_TIMERS || (n > 0 && !period_ms))
        return MESH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (period_ms[i] == 0)
            return MESH_EINVAL;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        s->period_ns[i] = (uint64_t)period_ms[i] * NS_PER_MS;
        s->next_ns[i] = now_ns + s->period_ns[i];
    }
    return 0;
}

int engine_sched_due(const engine_sched *s, uint64_t now_ns)
{
    int best = -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->next_ns[i] <= now_ns && (best < 0 || s->next_ns[i] < s->next_ns[best]))
            best = (int)i;
    return best;
}

void engine_sched_ran(engine_sched *s, size_t i, uint64_t now_ns)
{
    uint64_t next = s->next_ns[i] + s->period_ns[i];
    s->next_ns[i] = next > now_ns ? next : now_ns + s->period_ns[i];
}

int engine_sched_set(engine_sched *s, size_t i, uint32_t period_ms, uint64_t now_ns)
{
    if (i >= s->n)
        return MESH_EINVAL;
    s->period_ns[i] = (uint64_t)period_ms * NS_PER_MS;
    s->next_ns[i] = period_ms ? now_ns + s->period_ns[i] : UINT64_MAX;
    return 0;
}

uint64_t engine_sched_next(const engine_sched *s)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (s->next_ns[i] < next)
            next = s->next_ns[i];
    return next;
}
