/* bench-bridge: throughput and one-way latency of fixed-size messages over
 * an nng route (ring -> bridge -> TCP loopback -> bridge -> ring, in one
 * process), beside the same figures for a bare shared ring from the same
 * run. Each message carries its send time (CLOCK_MONOTONIC); the consumer
 * records now - sent in a histogram. */
#include "bridge.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_hist.h"
#include "mesh_log.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_opts {
    uint64_t count;      /* messages in the throughput run */
    uint64_t lat_count;  /* messages in the paced latency run */
    uint64_t rate;       /* messages per second in the latency run */
    uint32_t size;       /* payload bytes, >= 16 */
    uint64_t ring_bytes; /* capacity of each ring */
    size_t batch_bytes;
} bench_opts;

typedef struct mem_ring {
    void *mem;
    bus_ring *prod, *cons;
    bus_doorbell *db; /* the consumer's; the producer rings it */
} mem_ring;

typedef struct run {
    const bench_opts *o;
    bus_ring *in;   /* producer side */
    bus_ring *out;  /* consumer side */
    uint64_t count; /* messages to send */
    uint64_t rate;  /* 0 = as fast as possible */
    uint64_t t_start, t_end;
    uint64_t received, bad;
    mesh_hist *lat;
    bus_doorbell *db; /* the consumer's doorbell, rung by the ring's producer */
} run;

static int ring_make(mem_ring *r, uint64_t cap)
{
    size_t len = bus_ring_segment_size(cap);
    r->mem = aligned_alloc(128, len);
    r->db = aligned_alloc(128, sizeof(*r->db));
    if (!r->mem || !r->db || bus_ring_format(r->mem, len, cap, 0, BUS_RING_POLICY_WAIT) < 0 ||
        bus_ring_open_mem(&r->prod, r->mem, len, BUS_RING_PRODUCER) < 0 ||
        bus_ring_open_mem(&r->cons, r->mem, len, BUS_RING_CONSUMER) < 0)
        return MESH_ENOMEM;
    bus_doorbell_init(r->db);
    bus_ring_set_doorbell(r->prod, r->db);
    return 0;
}

static void ring_free(mem_ring *r)
{
    bus_ring_close(r->prod);
    bus_ring_close(r->cons);
    free(r->mem);
    free(r->db);
}

static void *producer(void *arg)
{
    run *x = arg;
    uint8_t msg[4096];
    memset(msg, 0xab, sizeof(msg));
    uint64_t t0 = mesh_now_ns();
    for (uint64_t i = 1; i <= x->count; i++) {
        if (x->rate) { /* sleep while the next send is far, then yield until due */
            uint64_t due = t0 + (i - 1) * 1000000000ull / x->rate, now;
            while ((now = mesh_now_ns()) < due) {
                if (due - now > 150000) {
                    struct timespec ts = {0, (long)(due - now - 100000)};
                    nanosleep(&ts, NULL);
                } else {
                    sched_yield();
                }
            }
        }
        uint64_t now = mesh_now_ns();
        memcpy(msg, &now, 8);
        memcpy(msg + 8, &i, 8);
        if (bus_ring_push_wait(x->in, 1, msg, x->o->size, UINT64_MAX) < 0)
            break;
    }
    return NULL;
}

/* bus_wait_ready_fn: a record is waiting. */
static int cons_ready(void *arg)
{
    return bus_ring_ready(arg);
}

/* Consumes like an engine: batches of up to 256 records released at once,
 * adaptive wait on the consumer doorbell (spin, yield, then futex sleep). */
static void *consumer(void *arg)
{
    run *x = arg;
    bus_ring_rec rec;
    bus_wait_cfg wait;
    bus_wait_cfg_default(&wait);
    uint64_t expect = 1;
    while (expect <= x->count) {
        int n = 0;
        while (n < 256 && bus_ring_peek(x->out, &rec) == 0) {
            uint64_t now = mesh_now_ns(), sent, c;
            memcpy(&sent, rec.data, 8);
            memcpy(&c, (const uint8_t *)rec.data + 8, 8);
            x->bad += c != expect;
            expect = c + 1;
            mesh_hist_record(x->lat, now - sent);
            n++;
        }
        if (n) {
            bus_ring_release(x->out);
            x->received += (uint64_t)n;
        } else {
            bus_wait_idle(&wait, x->db, cons_ready, x->out, 100000000ull);
        }
    }
    x->t_end = mesh_now_ns();
    return NULL;
}

static int run_once(run *x)
{
    pthread_t p, c;
    mesh_hist_reset(x->lat);
    x->received = x->bad = 0;
    x->t_start = mesh_now_ns();
    if (pthread_create(&c, NULL, consumer, x) || pthread_create(&p, NULL, producer, x))
        return MESH_ENOMEM;
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    return 0;
}

static void report(const char *what, const run *x)
{
    double secs = (double)(x->t_end - x->t_start) * 1e-9;
    double rate = (double)x->received / secs;
    printf("%-22s %10llu %8.3f %12.0f %9.1f %9.1f %9.1f %9.1f %9.1f%s\n", what,
           (unsigned long long)x->received, secs, rate, rate * x->o->size / 1e6,
           mesh_hist_percentile(x->lat, 50) / 1e3, mesh_hist_percentile(x->lat, 99) / 1e3,
           mesh_hist_percentile(x->lat, 99.9) / 1e3, (double)x->lat->max / 1e3,
           x->bad ? "  OUT OF ORDER" : "");
}

/* Both runs (max rate, then paced) over one producer ring and one consumer ring. */
static int measure(const char *name, const bench_opts *o, bus_ring *in, bus_ring *out,
                   bus_doorbell *db, mesh_hist *lat)
{
    char label[64];
    run x = {.o = o, .in = in, .out = out, .count = o->count, .lat = lat, .db = db};
    if (run_once(&x) < 0)
        return MESH_ENOMEM;
    snprintf(label, sizeof(label), "%s max", name);
    report(label, &x);
    x.count = o->lat_count;
    x.rate = o->rate;
    if (run_once(&x) < 0)
        return MESH_ENOMEM;
    snprintf(label, sizeof(label), "%s %llu/s", name, (unsigned long long)o->rate);
    report(label, &x);
    return x.bad ? MESH_EPROTO : 0;
}

typedef struct nng_pair {
    mem_ring a, b;
    bridge_state *sa, *sb;
    bridge *ba, *bb;
    bus_doorbell *db;
} nng_pair;

static int pair_open(nng_pair *p, const bench_opts *o, char *err, size_t errlen)
{
    char url[64];
    bridge_opts opt;
    int rc;
    if ((rc = ring_make(&p->a, o->ring_bytes)) < 0 || (rc = ring_make(&p->b, o->ring_bytes)) < 0 ||
        (rc = bridge_state_open_mem(&p->sa)) < 0 || (rc = bridge_state_open_mem(&p->sb)) < 0)
        return rc;
    bridge_opts_default(&opt);
    opt.state = p->sb;
    opt.listen = "tcp://127.0.0.1:0";
    opt.batch_bytes = o->batch_bytes;
    bridge_route_def in = {.from = "bench",
                           .to = "sink",
                           .peer = "a",
                           .dir = BRIDGE_DIR_IN,
                           .policy = MESH_POLICY_WAIT,
                           .ring = p->b.prod};
    if ((rc = bridge_open(&p->bb, &opt)) < 0 ||
        (rc = bridge_add_route(p->bb, &in, err, errlen)) < 0 ||
        (rc = bridge_start(p->bb, err, errlen)) < 0)
        return rc;
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", bridge_listen_port(p->bb));
    p->db = aligned_alloc(128, sizeof(*p->db));
    if (!p->db)
        return MESH_ENOMEM;
    bus_doorbell_init(p->db);
    bus_ring_set_doorbell(p->a.prod, p->db); /* wakes bridge A's send thread */
    bridge_opts_default(&opt);
    opt.state = p->sa;
    opt.doorbell = p->db;
    opt.batch_bytes = o->batch_bytes;
    bridge_route_def out = {.from = "bench",
                            .to = "sink",
                            .peer = "b",
                            .dir = BRIDGE_DIR_OUT,
                            .policy = MESH_POLICY_WAIT,
                            .ring = p->a.cons,
                            .url = url};
    if ((rc = bridge_open(&p->ba, &opt)) < 0 ||
        (rc = bridge_add_route(p->ba, &out, err, errlen)) < 0)
        return rc;
    return bridge_start(p->ba, err, errlen);
}

/* Stops the threads; the bridges, their sockets and rings go with the
 * process (see bridge.h on libnng 1.5.2's nng_close). */
static void pair_stop(nng_pair *p)
{
    bridge_stop(p->ba, 0);
    bridge_stop(p->bb, 0);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || v < lo || v > hi)
        return MESH_EINVAL;
    *out = v;
    return 0;
}

static const char usage[] =
    "usage: bench-bridge [--count N] [--latency-count N] [--rate R] [--size B]\n"
    "                    [--ring-bytes B] [--batch-bytes B]\n"
    "  Measures a shared-memory ring and an nng bridge route over TCP loopback\n"
    "  (ring -> bridge -> tcp://127.0.0.1 -> bridge -> ring) with the same load:\n"
    "  a run at full speed (--count, default 5000000), then a paced run (--rate\n"
    "  per second, default 100000, for --latency-count, default 500000).\n"
    "  --size: payload bytes, 16..4096 (default 64); --ring-bytes: ring capacity,\n"
    "  power of two (default 4194304); --batch-bytes: bridge frame target (65536).\n"
    "  Latency = consumer clock - producer stamp (CLOCK_MONOTONIC), microseconds.\n";

static int parse_opts(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.count = 5000000,
                      .lat_count = 500000,
                      .rate = 100000,
                      .size = 64,
                      .ring_bytes = 4u << 20,
                      .batch_bytes = 64u << 10};
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = MESH_EINVAL;
        if (strcmp(a, "--count") == 0 && (rc = parse_u64(val, 1, 1ull << 40, &v)) == 0)
            o->count = v;
        else if (strcmp(a, "--latency-count") == 0 && (rc = parse_u64(val, 1, 1ull << 40, &v)) == 0)
            o->lat_count = v;
        else if (strcmp(a, "--rate") == 0 && (rc = parse_u64(val, 1, 100000000, &v)) == 0)
            o->rate = v;
        else if (strcmp(a, "--size") == 0 && (rc = parse_u64(val, 16, 4096, &v)) == 0)
            o->size = (uint32_t)v;
        else if (strcmp(a, "--ring-bytes") == 0 &&
                 (rc = parse_u64(val, 65536, 1u << 30, &v)) == 0 && (v & (v - 1)) == 0)
            o->ring_bytes = v;
        else if (strcmp(a, "--batch-bytes") == 0 && (rc = parse_u64(val, 4096, 16u << 20, &v)) == 0)
            o->batch_bytes = (size_t)v;
        if (rc < 0 || (strcmp(a, "--ring-bytes") == 0 && (v & (v - 1)) != 0)) {
            fprintf(stderr, "bench-bridge: %s '%s': bad value or unknown option\n%s", a,
                    val ? val : "", usage);
            return 2;
        }
        i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    bench_opts o;
    if (parse_opts(argc, argv, &o))
        return 2;
    mesh_log_init("bench-bridge", MESH_LOG_WARN);
    mesh_hist *lat = malloc(sizeof(*lat));
    mem_ring r;
    nng_pair p = {0};
    char err[256] = "";
    if (!lat || ring_make(&r, o.ring_bytes) < 0)
        return 1;
    printf("# %u-byte messages, rings of %llu bytes, bridge frames up to %zu bytes\n", o.size,
           (unsigned long long)o.ring_bytes, o.batch_bytes);
    printf("%-22s %10s %8s %12s %9s %9s %9s %9s %9s\n", "transport", "msgs", "seconds", "msgs/s",
           "MB/s", "p50 us", "p99 us", "p99.9 us", "max us");
    int rc = measure("ring (memory)", &o, r.prod, r.cons, r.db, lat);
    if (rc == 0 && (rc = pair_open(&p, &o, err, sizeof(err))) < 0)
        fprintf(stderr, "bench-bridge: %s: %s\n", err, mesh_strerror(rc));
    if (rc == 0)
        rc = measure("nng tcp loopback", &o, p.a.prod, p.b.cons, p.b.db, lat);
    pair_stop(&p);
    ring_free(&r);
    free(lat);
    return rc == 0 ? 0 : 1;
}
