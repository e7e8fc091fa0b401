/* meshbench sample clock: the TSC (calibrated against CLOCK_MONOTONIC) or
 * CLOCK_MONOTONIC itself. Intervals are always read on one core. */
#include "mb.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

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

/* One (TSC, CLOCK_MONOTONIC) pair: the clock read bracketed by two TSC
 * reads, best of 32 tries (a preemption inside a bracket would skew it). */
static void tsc_pair(double *tsc, uint64_t *mono)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 32; i++) {
        uint64_t a = tsc_read(), m = mesh_now_ns(), b = tsc_read();
        if (b - a < best) {
            best = b - a;
            *tsc = (double)a + (double)(b - a) / 2;
            *mono = m;
        }
    }
}

/* ns per TSC tick over ~50 ms of CLOCK_MONOTONIC. */
static double tsc_rate(void)
{
    double t0, t1;
    uint64_t m0, m1;
    tsc_pair(&t0, &m0);
    do
        tsc_pair(&t1, &m1);
    while (m1 - m0 < 50000000ull);
    return (double)(m1 - m0) / (t1 - t0);
}

/* Two windows must agree within 0.1 % (a preempted window stretches both
 * clocks alike, but be sure); up to 10 tries, else the last pair's mean. */
static void calibrate_tsc(void)
{
    double prev = tsc_rate();
    for (int i = 0; i < 10; i++) {
        double cur = tsc_rate();
        double diff = cur > prev ? cur - prev : prev - cur;
        ns_per_tick = (cur + prev) / 2;
        if (diff < 0.001 * cur)
            return;
        prev = cur;
    }
    mesh_warn("TSC calibration did not settle; figures may be off by a few per cent");
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
