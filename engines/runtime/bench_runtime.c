/* bench_runtime: publish -> handler latency and throughput through the whole
 * engine runtime (encode into the ring, commit, doorbell, poll, decode,
 * dispatch) between real engine processes, plus the in-process cost of the
 * fan-out choice (encode once + memcpy vs encode per ring). Not a test: it
 * prints percentiles and rates. The same binary is the harness (no
 * MESH_ENGINE) and the engines it starts (src, sink1, sink2). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_hist.h"
#include "mesh_log.h"
#include "msg_codec.h"
#include "msg_registry.h"
#include "rt_harness.h"

/* ---- engine side ---- */

static uint64_t b_count, b_rate, b_sent, b_start_ns, b_got, b_first_ns, b_last_ns;
static mesh_hist b_hist;

static void fill_trade(Meshpb__Trade *t, uint64_t i)
{
    t->symbol = "BENCH";
    t->venue = "bench";
    t->seq = i;
    t->trade_id = i;
    t->price = 100.0 + (double)(i % 1000) * 0.01;
    t->size = 100;
    t->aggressor = MESHPB__SIDE__SIDE_BUY;
}

static int src_publish(engine *e)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    fill_trade(&t, b_sent + 1);
    t.ts_ns = mesh_now_ns(); /* monotonic: the sink subtracts it from its own clock */
    b_sent++;
    return engine_publish(e, MSG_TYPE_TRADE, &t.base);
}

/* Paced: each message waits (spinning) for its due time start + i/rate, so
 * latency is measured without burst queueing; rate 0 = as fast as possible. */
static int src_tick(engine *e)
{
    uint64_t now = mesh_now_ns();
    if (b_start_ns == 0)
        b_start_ns = now;
    for (int n = 0; b_sent < b_count && n < 4096; n++) {
        if (b_rate) {
            uint64_t due = b_start_ns + b_sent * 1000000000ull / b_rate;
            if (due > now + 1000000ull)
                break; /* next tick */
            while ((now = mesh_now_ns()) < due)
                ;
        }
        int rc = src_publish(e);
        if (rc < 0)
            return rc;
    }
    if (b_sent == b_count)
        engine_stop(e);
    return 0;
}

static int sink_trade(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    const Meshpb__Trade *t = (const Meshpb__Trade *)msg;
    uint64_t now = mesh_now_ns();
    mesh_hist_record(&b_hist, now > t->ts_ns ? now - t->ts_ns : 0);
    if (b_got++ == 0)
        b_first_ns = now;
    b_last_ns = now;
    if (b_got == b_count)
        engine_stop(e);
    return 0;
}

static void sink_shutdown(engine *e)
{
    double secs = (double)(b_last_ns - b_first_ns) * 1e-9;
    printf("RESULT %s: %llu msgs, publish->handler latency ns: p50 %llu p90 %llu p99 %llu "
           "p99.9 %llu max %llu; throughput %.0f msgs/s (first to last receive)\n",
           engine_name(e), (unsigned long long)b_got,
           (unsigned long long)mesh_hist_percentile(&b_hist, 50),
           (unsigned long long)mesh_hist_percentile(&b_hist, 90),
           (unsigned long long)mesh_hist_percentile(&b_hist, 99),
           (unsigned long long)mesh_hist_percentile(&b_hist, 99.9), (unsigned long long)b_hist.max,
           secs > 0 ? (double)(b_got - 1) / secs : 0.0);
    fflush(stdout);
}

static int engine_init(engine *e, int argc, char **argv)
{
    if (argc < 4)
        return MESH_EINVAL;
    b_count = strtoull(argv[2], NULL, 10);
    b_rate = strtoull(argv[3], NULL, 10);
    mesh_hist_reset(&b_hist);
    return b_count ? 0 : MESH_EINVAL;
}

static const engine_timer src_timers[] = {{1, src_tick}};
static const engine_def src_def = {
    .name = "bench-src", .init = engine_init, .timers = src_timers, .ntimers = 1};
static const engine_handler sink_handlers[] = {{MSG_TYPE_TRADE, sink_trade}};
static const engine_def sink_def = {.name = "bench-sink",
                                    .init = engine_init,
                                    .handlers = sink_handlers,
                                    .nhandlers = 1,
                                    .shutdown = sink_shutdown};

/* ---- harness side ---- */

typedef struct opts {
    unsigned long count, rate, fanout, ring;
    const char *wait;
    int cpu_src, cpu_sink;
} opts;

static double ns_per_op(uint64_t t0, uint64_t t1, unsigned long n)
{
    return (double)(t1 - t0) / (double)n;
}

/* In-process: what fan-out costs per extra ring, encode vs copy. */
static void bench_fanout_choice(void)
{
    static uint8_t buf[256], copy[256];
    const unsigned long n = 1000000;
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    fill_trade(&t, 12345);
    t.ts_ns = mesh_now_ns();
    int len = 0;
    uint64_t t0 = mesh_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        t.seq = i;
        len = msg_encode(&t.base, buf, sizeof(buf));
    }
    uint64_t t1 = mesh_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        buf[0] = (uint8_t)i; /* keep the copy from being hoisted */
        memcpy(copy, buf, (size_t)len);
        __asm__ volatile("" : : "r"(copy) : "memory");
    }
    uint64_t t2 = mesh_now_ns();
    printf("fan-out choice: Trade of %d bytes: encode %.1f ns, memcpy %.1f ns per extra ring\n",
           len, ns_per_op(t0, t1, n), ns_per_op(t1, t2, n));
}

static int write_config(rt_mesh *m, const opts *o, const char *self)
{
    char body[8192], eng[PATH_MAX + 256];
    int off = snprintf(body, sizeof(body), "engines:\n");
    for (unsigned long i = 0; i <= o->fanout; i++) {
        char name[32];
        int cpu = i == 0 ? o->cpu_src : o->cpu_sink;
        snprintf(name, sizeof(name), i == 0 ? "src" : "sink%lu", i);
        snprintf(eng, sizeof(eng), "  - name: %s\n    binary: %s\n    wait: %s\n%s%d\n", name, self,
                 o->wait, cpu >= 0 ? "    cpu: " : "    # cpu: ", cpu);
        off += snprintf(body + off, sizeof(body) - (size_t)off, "%s", eng);
    }
    off += snprintf(body + off, sizeof(body) - (size_t)off,
                    "routes:\n  - from: src\n    to: [%s]\n    types: [trade]\n"
                    "    ring_bytes: %lu\n",
                    o->fanout == 2 ? "sink1, sink2" : "sink1", o->ring);
    int rc = rt_mesh_write_config(m, body);
    for (unsigned long i = 0; rc == 0 && i <= o->fanout; i++) {
        char name[32];
        snprintf(name, sizeof(name), i == 0 ? "src" : "sink%lu", i);
        rc = rt_mesh_create_ctl(m, name);
        if (rc == 0 && i > 0)
            rc = rt_mesh_create_ring(m, "src", name, o->ring, BUS_RING_POLICY_WAIT);
    }
    return rc;
}

static int run_mesh(rt_mesh *m, const opts *o, const char *self)
{
    char count[32], rate[32];
    snprintf(count, sizeof(count), "%lu", o->count);
    snprintf(rate, sizeof(rate), "%lu", o->rate);
    pid_t pids[3];
    for (unsigned long i = o->fanout + 1; i-- > 0;) { /* sinks first, src last */
        char name[32];
        snprintf(name, sizeof(name), i == 0 ? "src" : "sink%lu", i);
        char *argv[] = {(char *)self, i == 0 ? "src" : "sink", count, rate, NULL};
        int rd = -1;
        pids[i] = rt_spawn(m, name, 0, &rd, NULL, argv);
        if (pids[i] < 0 || rt_read_ready(rd, 30000) != 1) {
            fprintf(stderr, "%s did not start: see %s/%s.log\n", name, m->dir, name);
            return 1;
        }
    }
    int bad = 0;
    for (unsigned long i = 0; i <= o->fanout; i++) {
        int st = 0;
        if (rt_wait_exit(m, pids[i], 600000, &st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            bad = 1;
    }
    for (unsigned long i = 1; i <= o->fanout; i++) {
        char name[40], line[512];
        snprintf(name, sizeof(name), "sink%lu.log", i);
        FILE *f = fopen(rt_path(m, name), "r");
        while (f && fgets(line, sizeof(line), f))
            if (strncmp(line, "RESULT ", 7) == 0)
                fputs(line + 7, stdout);
        if (f)
            fclose(f);
    }
    return bad;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){.count = 200000,
                .rate = 20000,
                .fanout = 1,
                .ring = 1u << 20,
                .wait = "adaptive",
                .cpu_src = -1,
                .cpu_sink = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v && strcmp(a, "--help") != 0) {
            fprintf(stderr, "%s: missing value\n", a);
            return -1;
        }
        if (strcmp(a, "--count") == 0)
            o->count = strtoul(v, NULL, 10);
        else if (strcmp(a, "--rate") == 0)
            o->rate = strtoul(v, NULL, 10);
        else if (strcmp(a, "--fanout") == 0)
            o->fanout = strtoul(v, NULL, 10);
        else if (strcmp(a, "--ring") == 0)
            o->ring = strtoul(v, NULL, 10);
        else if (strcmp(a, "--wait") == 0)
            o->wait = v;
        else if (strcmp(a, "--cpus") == 0 && sscanf(v, "%d,%d", &o->cpu_src, &o->cpu_sink) == 2)
            ;
        else
            return -1;
        i++;
    }
    return o->count && (o->fanout == 1 || o->fanout == 2) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (getenv("MESH_ENGINE") && argc > 1)
        return engine_main(strcmp(argv[1], "src") == 0 ? &src_def : &sink_def, argc, argv);
    opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: bench_runtime [--count N] [--rate MSGS_PER_S (0 = max)] "
                        "[--fanout 1|2] [--ring BYTES] [--wait adaptive|spin|yield] "
                        "[--cpus SRC,SINK]\n");
        return 2;
    }
    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self))
        return 1;
    bench_fanout_choice();
    char pace[48] = "max rate";
    if (o.rate)
        snprintf(pace, sizeof(pace), "%lu msgs/s (paced)", o.rate);
    printf("runtime: %lu Trade msgs at %s, fan-out %lu, ring %lu B, wait %s, cpus %d,%d\n", o.count,
           pace, o.fanout, o.ring, o.wait, o.cpu_src, o.cpu_sink);
    fflush(stdout);
    rt_mesh m;
    if (rt_mesh_init(&m, "bench") < 0 || write_config(&m, &o, self) < 0) {
        fprintf(stderr, "cannot set up the mesh in /tmp and /dev/shm\n");
        rt_mesh_cleanup(&m);
        return 1;
    }
    int rc = run_mesh(&m, &o, self);
    rt_mesh_cleanup(&m);
    return rc;
}
