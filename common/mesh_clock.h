/* Clocks: monotonic nanoseconds for latency and timeouts (system-wide, so
 * comparable across processes), wall-clock nanoseconds for message stamps. */
#ifndef MESH_CLOCK_H
#define MESH_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns. Same clock in every process on the host. */
static inline uint64_t mesh_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in ns since the Unix epoch. */
static inline uint64_t mesh_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
