/* meshbench sample clock: the TSC (calibrated against CLOCK_MONOTONIC) or
 * CLOCK_MONOTONIC itself. Intervals are always read on one core. */
#include "mb.h"
#include "mesh_clock.h"
#include "mesh_error.h"

#include <stdlib.h>
#include <string.h>

static enum mb_clock_kind clock_kind = MB_CLOCK_MONO;
static double ns_per_tick = 1.0;
static double read_cost_ns;

#if defined(__x86_64__)
static inline uint64_t tsc_read(void)
{
    uint32_t lo, hi;
    /* lfence keeps rdtsc from executing before earlier loads complete. */
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}
#define MB_HAVE_TSC 1
#else
static inline uint64_t tsc_read(void)
{
    return 0;
}
#define MB_HAVE_TSC 0
#endif

uint64_t mb_ticks(void)
{
    return clock_kind == MB_CLOCK_TSC ? tsc_read() : mesh_now_ns();
}

uint64_t mb_ticks_to_ns(uint64_t ticks)
{
    if (clock_kind == MB_CLOCK_MONO)
        return ticks;
    return (uint64_t)((double)ticks * ns_per_tick + 0.5);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median over 1001 back-to-back pairs of readings. */
static void measure_read_cost(void)
{
    enum { N = 1001 };
    uint64_t d[N];
    for (int i = 0; i < N; i++) {
        uint64_t a = mb_ticks();
        uint64_t b = mb_ticks();
        d[i] = b - a;
    }
    qsort(d, N, sizeof(d[0]), cmp_u64);
    read_cost_ns = (double)mb_ticks_to_ns(d[N / 2]);
}

/* TSC ticks over ~20 ms of CLOCK_MONOTONIC; each end brackets the clock read
 * with two TSC reads and takes their midpoint. */
static void calibrate_tsc(void)
{
    uint64_t a0 = tsc_read(), m0 = mesh_now_ns(), a1 = tsc_read();
    uint64_t m1, b0, b1;
    do {
        b0 = tsc_read();
        m1 = mesh_now_ns();
        b1 = tsc_read();
    } while (m1 - m0 < 20000000ull);
    double ticks = (double)((b0 + b1) / 2 - (a0 + a1) / 2);
    ns_per_tick = (double)(m1 - m0) / ticks;
}

int mb_clock_init(enum mb_clock_kind kind)
{
    if (kind == MB_CLOCK_TSC && !MB_HAVE_TSC)
        return MESH_ENOSYS;
    clock_kind = kind;
    if (kind == MB_CLOCK_TSC)
        calibrate_tsc();
    measure_read_cost();
    return 0;
}

double mb_clock_ghz(void)
{
    return clock_kind == MB_CLOCK_TSC ? 1.0 / ns_per_tick : 0.0;
}

double mb_clock_read_cost_ns(void)
{
    return read_cost_ns;
}

const char *mb_clock_name(void)
{
    return clock_kind == MB_CLOCK_TSC ? "tsc" : "monotonic";
}
