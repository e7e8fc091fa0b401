/* Benchmark: cost per trade of the full features indicator set, amortised over
 * N trades (default 10 million) across S symbols (default 8) with 1 s bars.
 * Usage: bench_features [trades] [symbols] [trades_per_second]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "feat_engine.h"
#include "mesh_clock.h"
#include "mesh_error.h"

#define CHUNK 65536

/* CPU time of the calling thread in ns: unlike wall time, it does not count
 * the time the thread waits for a core on a shared machine. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct sink {
    uint64_t vectors;
    double checksum;
} sink;

static void on_emit(void *ctx, const feat_vector *v)
{
    sink *s = ctx;
    s->vectors++;
    if (v->ready & FEAT_READY_RSI)
        s->checksum += v->rsi;
}

static uint64_t rng = 0x853C49E6748FEA9Bull;

static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next_u64() >> 11) * 0x1.0p-53;
}

int main(int argc, char **argv)
{
    long long total = argc > 1 ? atoll(argv[1]) : 10000000LL;
    int nsym = argc > 2 ? atoi(argv[2]) : 8;
    double rate = argc > 3 ? atof(argv[3]) : 1000.0;
    if (total <= 0 || nsym <= 0 || nsym > 4096 || !(rate > 0)) {
        fprintf(stderr, "usage: bench_features [trades>0] [symbols 1..4096] [trades/s>0]\n");
        return 2;
    }
    feat_config cfg;
    sink out = {0};
    feat_config_default(&cfg);
    cfg.emit = on_emit;
    cfg.emit_ctx = &out;
    feat_engine *e;
    const char *why;
    int rc = feat_open(&e, &cfg, &why);
    if (rc < 0) {
        fprintf(stderr, "feat_open: %s (%s)\n", mesh_strerror(rc), why ? why : "");
        return 1;
    }
    char(*names)[16] = calloc((size_t)nsym, 16);
    double *px = malloc(sizeof(double) * nsym);
    int *sym = malloc(sizeof(int) * CHUNK);
    uint64_t *ts = malloc(sizeof(uint64_t) * CHUNK);
    double *price = malloc(sizeof(double) * CHUNK), *size = malloc(sizeof(double) * CHUNK);
    if (!names || !px || !sym || !ts || !price || !size) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int s = 0; s < nsym; s++) {
        snprintf(names[s], 16, "SYM%d", s);
        px[s] = 100.0;
    }
    uint64_t now = 1700000000ull * 1000000000ull, elapsed = 0, cpu = 0;
    double gap_ns = 1e9 / rate;
    for (long long done = 0; done < total;) {
        int n = total - done < CHUNK ? (int)(total - done) : CHUNK;
        for (int i = 0; i < n; i++) { /* generation is not timed */
            now += (uint64_t)(2.0 * gap_ns * uniform());
            int s = (int)(next_u64() % (uint64_t)nsym);
            px[s] *= 1.0 + 0.0005 * (uniform() - 0.5);
            sym[i] = s;
            ts[i] = now;
            price[i] = px[s];
            size[i] = (double)(1 + next_u64() % 500);
        }
        uint64_t t0 = mesh_now_ns(), c0 = thread_cpu_ns();
        for (int i = 0; i < n; i++)
            rc |= feat_on_trade(e, names[sym[i]], ts[i], price[i], size[i]);
        elapsed += mesh_now_ns() - t0;
        cpu += thread_cpu_ns() - c0;
        done += n;
    }
    if (rc != 0) {
        fprintf(stderr, "feat_on_trade failed\n");
        return 1;
    }
    feat_flush(e, UINT64_MAX);
    printf("bench_features: %lld trades, %d symbols, %.0f trades/s simulated, 1 s bars\n", total,
           nsym, rate);
    printf("  vectors emitted: %llu (checksum %.6g)\n", (unsigned long long)out.vectors,
           out.checksum);
    printf("  wall: %.1f ns/trade, %.2f M trades/s\n", (double)elapsed / (double)total,
           (double)total / ((double)elapsed / 1e9) / 1e6);
    printf("  thread CPU: %.1f ns/trade, %.2f M trades/s\n", (double)cpu / (double)total,
           (double)total / ((double)cpu / 1e9) / 1e6);
    feat_close(e);
    free(names), free(px), free(sym), free(ts), free(price), free(size);
    return 0;
}
