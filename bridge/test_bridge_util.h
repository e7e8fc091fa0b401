/* Helpers shared by the bridge tests (Criterion or plain C drivers, since
 * Criterion cannot start under ThreadSanitizer): a check macro, in-memory
 * rings, the workload scale, bounded waiting on a condition. Header-only. */
#ifndef TEST_BRIDGE_UTIL_H
#define TEST_BRIDGE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bus_ring.h"
#include "mesh_clock.h"

/* Called before a failed check aborts (plain drivers: kill children, unlink
 * shared memory). */
static void (*tb_on_fail)(void);

/* Fails the test: prints where and why, runs tb_on_fail, then aborts (a
 * Criterion test sees a crash, a plain driver exits abnormally). */
#define TB_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            if (tb_on_fail)                                                                        \
                tb_on_fail();                                                                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A ring in process memory with a producer and a consumer handle. */
typedef struct test_ring {
    void *mem;
    bus_ring *prod, *cons;
} test_ring;

static inline void test_ring_open(test_ring *t, uint64_t cap, enum bus_ring_policy pol)
{
    size_t len = bus_ring_segment_size(cap);
    t->mem = aligned_alloc(128, len);
    TB_CHECK(t->mem != NULL, "out of memory");
    TB_CHECK(bus_ring_format(t->mem, len, cap, 0, pol) == 0, "format");
    TB_CHECK(bus_ring_open_mem(&t->prod, t->mem, len, BUS_RING_PRODUCER) == 0, "producer");
    TB_CHECK(bus_ring_open_mem(&t->cons, t->mem, len, BUS_RING_CONSUMER) == 0, "consumer");
}

static inline void test_ring_close(test_ring *t)
{
    bus_ring_close(t->prod);
    bus_ring_close(t->cons);
    free(t->mem);
    t->mem = NULL;
    t->prod = t->cons = NULL;
}

/* MESH_TEST_SCALE (default 1) times n, at least `min`. */
static inline uint64_t test_scaled(uint64_t n, uint64_t min)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    if (f <= 0)
        f = 1.0;
    uint64_t v = (uint64_t)((double)n * f);
    return v < min ? min : v;
}

static inline void test_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls cond(arg) every millisecond for at most limit_ms; returns its last value.
 * A bound on a wait for behaviour, not a timing assertion. */
static inline int test_wait_for(int (*cond)(void *), void *arg, unsigned limit_ms)
{
    uint64_t end = mesh_now_ns() + (uint64_t)limit_ms * 1000000ull;
    while (!cond(arg)) {
        if (mesh_now_ns() > end)
            return cond(arg);
        test_sleep_ms(1);
    }
    return 1;
}

#endif
