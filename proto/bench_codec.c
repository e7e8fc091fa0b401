/* Micro-benchmark of the codec on the hot message: ns per Trade encode
 * (into a buffer, as into claimed ring space) and per arena decode, in one
 * thread, through msg_encode/msg_decode (hand-written Trade fast path) and
 * through plain protobuf-c for comparison. Prints per-operation
 * percentiles (mesh_hist) and batch means. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_clock.h"
#include "mesh_cpu.h"
#include "mesh_error.h"
#include "mesh_hist.h"
#include "msg_codec.h"

static mesh_hist hist;

/* A realistic trade: 4-char symbol, exchange timestamps, a price that is not
 * a round binary number, venue string. Varies per iteration like a feed. */
static void next_trade(Meshpb__Trade *t, uint64_t i)
{
    t->ts_ns = 1700000000000000000ull + i * 1000u;
    t->seq = i + 1;
    t->price = 189.25 + (double)(i % 100) * 0.01;
    t->size = (double)(100 + i % 7 * 100);
    t->aggressor = i & 1 ? MESHPB__SIDE__SIDE_BUY : MESHPB__SIDE__SIDE_SELL;
    t->trade_id = 5000000 + i;
    t->recv_ts_ns = t->ts_ns + 35000;
}

static void print_row(const char *what, const mesh_hist *h, double batch_mean)
{
    printf("%-22s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9.1f %10.1f\n", what,
           mesh_hist_percentile(h, 50), mesh_hist_percentile(h, 99), mesh_hist_percentile(h, 99.9),
           h->max, (double)h->sum / (double)h->count, batch_mean);
}

typedef int (*enc_fn)(const ProtobufCMessage *msg, void *buf, size_t cap);
typedef int (*dec_fn)(uint32_t type, const void *data, size_t len, msg_arena *a,
                      ProtobufCMessage **out);

/* The same operations done by protobuf-c alone (size, pack; arena unpack). */
static int pbc_encode(const ProtobufCMessage *msg, void *buf, size_t cap)
{
    size_t need = protobuf_c_message_get_packed_size(msg);
    if (need > cap)
        return MESH_EMSGSIZE;
    return (int)protobuf_c_message_pack(msg, buf);
}

static int pbc_decode(uint32_t type, const void *data, size_t len, msg_arena *a,
                      ProtobufCMessage **out)
{
    msg_arena_reset(a);
    *out = protobuf_c_message_unpack(&meshpb__trade__descriptor, msg_arena_allocator(a), len, data);
    return *out != NULL ? 0 : MESH_EPROTO;
}

static volatile uint64_t sink; /* keeps results alive across the timed loops */

static void bench_timer(uint64_t n)
{
    mesh_hist_reset(&hist);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = mesh_now_ns();
        uint64_t t1 = mesh_now_ns();
        mesh_hist_record(&hist, t1 - t0);
    }
    print_row("clock overhead", &hist, 0.0);
}

static int bench_encode(const char *what, enc_fn enc, uint64_t n, uint8_t *buf, size_t cap)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = "AAPL";
    t.venue = "XNAS";
    mesh_hist_reset(&hist);
    for (uint64_t i = 0; i < n; i++) {
        next_trade(&t, i);
        uint64_t t0 = mesh_now_ns();
        int len = enc(&t.base, buf, cap);
        uint64_t t1 = mesh_now_ns();
        if (len < 0)
            return len;
        mesh_hist_record(&hist, t1 - t0);
    }
    uint64_t start = mesh_now_ns(), total = 0;
    for (uint64_t i = 0; i < n; i++) {
        next_trade(&t, i);
        total += (uint64_t)enc(&t.base, buf, cap);
    }
    double batch = (double)(mesh_now_ns() - start) / (double)n;
    sink = total;
    print_row(what, &hist, batch);
    return 0;
}

static int bench_decode(const char *what, dec_fn dec, uint64_t n, const uint8_t *buf, size_t len,
                        msg_arena *a)
{
    ProtobufCMessage *m;
    mesh_hist_reset(&hist);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = mesh_now_ns();
        int rc = dec(MSG_TYPE_TRADE, buf, len, a, &m);
        uint64_t t1 = mesh_now_ns();
        if (rc < 0)
            return rc;
        mesh_hist_record(&hist, t1 - t0);
    }
    uint64_t start = mesh_now_ns(), total = 0;
    for (uint64_t i = 0; i < n; i++) {
        dec(MSG_TYPE_TRADE, buf, len, a, &m);
        total += ((Meshpb__Trade *)m)->seq;
    }
    double batch = (double)(mesh_now_ns() - start) / (double)n;
    sink = total;
    print_row(what, &hist, batch);
    return 0;
}

/* Encode then decode the same record: the codec share of one trade hop. */
static int bench_both(const char *what, enc_fn enc, dec_fn dec, uint64_t n, uint8_t *buf,
                      size_t cap, msg_arena *a)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    ProtobufCMessage *m;
    t.symbol = "AAPL";
    t.venue = "XNAS";
    mesh_hist_reset(&hist);
    for (uint64_t i = 0; i < n; i++) {
        next_trade(&t, i);
        uint64_t t0 = mesh_now_ns();
        int len = enc(&t.base, buf, cap);
        int rc = len < 0 ? len : dec(MSG_TYPE_TRADE, buf, (size_t)len, a, &m);
        uint64_t t1 = mesh_now_ns();
        if (rc < 0)
            return rc;
        mesh_hist_record(&hist, t1 - t0);
    }
    print_row(what, &hist, 0.0);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_codec [-n iterations] [-c cpu] [--help]\n"
               "  -n  operations per measurement (default 1000000)\n"
               "  -c  pin to this CPU (default: not pinned)\n");
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    int cpu = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            cpu = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_codec: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (n == 0) {
        fprintf(stderr, "bench_codec: -n must be a positive number\n");
        usage(stderr);
        return 2;
    }
    if (cpu >= 0 && mesh_cpu_pin(cpu) < 0)
        fprintf(stderr, "bench_codec: could not pin to CPU %d, running unpinned\n", cpu);
    static uint8_t buf[256], rec[256];
    msg_arena *a;
    int rc = msg_arena_open(&a, 4096);
    if (rc < 0) {
        fprintf(stderr, "bench_codec: %s\n", mesh_strerror(rc));
        return 1;
    }
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = "AAPL";
    t.venue = "XNAS";
    next_trade(&t, 12345);
    int len = msg_encode(&t.base, rec, sizeof rec); /* the record bench_decode reads */
    printf("Trade: %d bytes packed, %zu bytes decoded in the arena; %" PRIu64 " ops per row; ns\n",
           len,
           (msg_decode(MSG_TYPE_TRADE, rec, (size_t)len, a, &(ProtobufCMessage *){0}),
            msg_arena_used(a)),
           n);
    printf("%-22s %8s %8s %8s %8s %9s %10s\n", "operation", "p50", "p99", "p99.9", "max", "mean",
           "batch-mean");
    bench_timer(n);
    if ((rc = bench_encode("encode (msg_encode)", msg_encode, n, buf, sizeof buf)) < 0 ||
        (rc = bench_decode("decode (msg_decode)", msg_decode, n, rec, (size_t)len, a)) < 0 ||
        (rc = bench_both("enc+dec (msg_*)", msg_encode, msg_decode, n, buf, sizeof buf, a)) < 0 ||
        (rc = bench_encode("encode (protobuf-c)", pbc_encode, n, buf, sizeof buf)) < 0 ||
        (rc = bench_decode("decode (protobuf-c)", pbc_decode, n, rec, (size_t)len, a)) < 0 ||
        (rc = bench_both("enc+dec (protobuf-c)", pbc_encode, pbc_decode, n, buf, sizeof buf, a)) <
            0) {
        fprintf(stderr, "bench_codec: %s\n", mesh_strerror(rc));
        msg_arena_close(a);
        return 1;
    }
    printf("per-op rows include one clock read (see 'clock overhead'); batch-mean times a "
           "whole loop and has no per-op clock cost\n");
    msg_arena_close(a);
    return 0;
}
