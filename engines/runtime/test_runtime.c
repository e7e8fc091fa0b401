/* Multi-process tests of the engine runtime: real test-engine processes
 * (tests/engines) over shared memory the test creates itself, as meshd
 * would: delivery and order, readiness on fd 3, kill -9 and restart with
 * skip-by-seq, drain on SIGTERM, malformed records, fan-out, drop policy. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus_ctl.h"
#include "bus_ring.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "msg_codec.h"
#include "msg_registry.h"
#include "rt_harness.h"

#define WAIT_MS 60000 /* upper bound of any single wait (sanitizer builds are slow) */

static rt_mesh M;

static void setup(void)
{
    cr_assert_eq(rt_mesh_init(&M, "x"), 0);
}

static void teardown(void)
{
    rt_mesh_cleanup(&M);
}

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 180);

/* One engine entry of the YAML config. */
static const char *engine_yaml(const char *name, const char *bin)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof(buf[0]),
             "  - name: %s\n    binary: %s\n    heartbeat_timeout_ms: 400\n"
             "    stop_timeout_ms: 20000\n",
             name, rt_engine_bin(bin));
    return b;
}

static const char *log_of(const char *engine)
{
    static char name[64];
    snprintf(name, sizeof(name), "%s.log", engine);
    return rt_path(&M, name);
}

/* Spawns an engine with a readiness pipe and asserts it reports ready. */
static pid_t start(const char *engine, unsigned gen, char *const argv[])
{
    int rd = -1;
    pid_t pid = rt_spawn(&M, engine, gen, &rd, NULL, argv);
    cr_assert_gt(pid, 0);
    int r = rt_read_ready(rd, WAIT_MS);
    cr_assert_eq(r, 1, "%s did not report ready (%d); its log:\n%s", engine, r,
                 rt_slurp(log_of(engine)));
    return pid;
}

/* Sends sig, waits for the exit and asserts a clean exit 0. */
static void stop_clean(pid_t pid, const char *engine)
{
    int st = 0;
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0, "%s did not exit", engine);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status 0x%x; log:\n%s", engine, st,
              rt_slurp(log_of(engine)));
}

static void wait_exit_code(pid_t pid, const char *engine, int code)
{
    int st = 0;
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0, "%s did not exit", engine);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == code,
              "%s: status 0x%x, expected exit %d; log:\n%s", engine, st, code,
              rt_slurp(log_of(engine)));
}

static void ctl_snapshot(const char *engine, bus_ctl_snapshot *snap)
{
    bus_ctl *c = NULL;
    cr_assert_eq(bus_ctl_open(&c, rt_ctl_name(&M, engine), BUS_CTL_RO), 0);
    cr_assert_eq(bus_ctl_snapshot_get(c, snap), 0);
    bus_ctl_close(c);
}

static void ring_stats(const char *from, const char *to, bus_ring_stats *st)
{
    bus_ring *r = NULL;
    cr_assert_eq(bus_ring_open(&r, rt_ring_name(&M, from, to), BUS_RING_OBSERVER), 0);
    cr_assert_eq(bus_ring_stats_get(r, st), 0);
    bus_ring_close(r);
}

/* Asserts the consumer wrote exactly counters first..last, in order, each
 * once, with ring seq == counter (the producer's counters start at 1 on a
 * fresh ring, so the n-th record has seq n). */
static void check_lines(const char *out, const char *from, uint64_t first, uint64_t last)
{
    long want = (long)(last - first + 1);
    static rt_line lines[200000];
    long n = rt_read_lines(out, lines, 200000);
    cr_assert_eq(n, want, "%s: %ld lines, expected %ld", out, n, want);
    for (long i = 0; i < n; i++) {
        cr_assert_str_eq(lines[i].from, from);
        cr_assert_eq(lines[i].counter, first + (uint64_t)i, "line %ld: counter %llu", i + 1,
                     (unsigned long long)lines[i].counter);
        cr_assert_eq(lines[i].seq, lines[i].counter, "line %ld: seq %llu", i + 1,
                     (unsigned long long)lines[i].seq);
    }
}

static void producer_consumer_config(const char *route_extra)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "engines:\n%s%s"
             "routes:\n  - from: prod\n    to: cons\n    types: [trade, heartbeat]\n%s",
             engine_yaml("prod", "test-producer"), engine_yaml("cons", "test-consumer"),
             route_extra ? route_extra : "");
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "prod"), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "cons"), 0);
}

Test(runtime, producer_to_consumer_delivers_every_message_in_order)
{
    long n = rt_scaled(20000, 2000);
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    producer_consumer_config(NULL);
    /* 16 KiB ring: ~64-byte records, so the producer keeps hitting a full ring */
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 16384, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    char *pargv[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--exit-when-done",
                     NULL};
    pid_t cons = start("cons", 0, cargv);
    pid_t prod = start("prod", 0, pargv);
    wait_exit_code(prod, "prod", 0);
    cr_assert_eq(rt_wait_lines(out, n, WAIT_MS), n);
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, (uint64_t)n);

    bus_ctl_snapshot snap;
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.counters[BUS_CTL_MSGS_IN], (uint64_t)n);
    cr_assert_eq(snap.last_seq[0], (uint64_t)n);
    cr_assert_eq(snap.latency.count, (uint64_t)n); /* one handler latency per message */
    cr_assert_eq(snap.state, BUS_CTL_STATE_STOPPED);
    ctl_snapshot("prod", &snap);
    cr_assert_eq(snap.counters[BUS_CTL_MSGS_OUT], (uint64_t)n);
    bus_ring_stats st;
    ring_stats("prod", "cons", &st);
    cr_assert_eq(st.messages, (uint64_t)n);
    cr_assert_eq(st.depth, 0);
    cr_assert_gt(st.full_waits, 0, "the 16 KiB ring never filled: back-pressure untested");
}

Test(runtime, readiness_is_reported_on_fd3_and_in_the_control_block)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out",
                     (char *)rt_path(&M, "cons.out"), NULL};
    uint64_t before = mesh_now_ns();
    pid_t cons = start("cons", 0, cargv);
    bus_ctl_snapshot snap;
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.ready, 1);
    cr_assert_eq(snap.pid, (int32_t)cons);
    cr_assert_eq(snap.state, BUS_CTL_STATE_RUNNING);
    cr_assert_geq(snap.heartbeat_ns, before);
    /* the idle engine keeps heartbeating (period 400/4 = 100 ms) */
    uint64_t hb = snap.heartbeat_ns;
    for (int i = 0; i < 1000 && snap.heartbeat_ns == hb; i++) {
        rt_sleep_ms(10);
        ctl_snapshot("cons", &snap);
    }
    cr_assert_gt(snap.heartbeat_ns, hb, "heartbeat did not advance in 10 s");
    /* idle between heartbeats, it sleeps on its doorbell (futex), not spins */
    uint64_t sleeps = snap.doorbell_sleeps;
    for (int i = 0; i < 1000 && snap.doorbell_sleeps == sleeps; i++) {
        rt_sleep_ms(10);
        ctl_snapshot("cons", &snap);
    }
    cr_assert_gt(snap.doorbell_sleeps, sleeps);
    stop_clean(cons, "cons");
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.ready, 0);
    cr_assert_eq(snap.state, BUS_CTL_STATE_STOPPED);
}

Test(runtime, missing_ring_fails_start_naming_it_without_readiness)
{
    producer_consumer_config(NULL); /* control blocks, but no ring */
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out",
                     (char *)rt_path(&M, "cons.out"), NULL};
    int rd = -1;
    pid_t pid = rt_spawn(&M, "cons", 0, &rd, NULL, cargv);
    cr_assert_gt(pid, 0);
    cr_assert_eq(rt_read_ready(rd, WAIT_MS), 0, "pipe closed without \"ready\"");
    wait_exit_code(pid, "cons", 2);
    const char *log = rt_slurp(log_of("cons"));
    cr_assert(strstr(log, rt_ring_name(&M, "prod", "cons")) && strstr(log, "missing"), "%s", log);
}

Test(runtime, unknown_engine_name_exits_2)
{
    producer_consumer_config(NULL);
    char *argv[] = {(char *)rt_engine_bin("test-crash"), NULL};
    pid_t pid = rt_spawn(&M, "nosuch", 0, NULL, NULL, argv);
    cr_assert_gt(pid, 0);
    wait_exit_code(pid, "nosuch", 2);
    cr_assert(rt_file_contains(log_of("nosuch"), "MESH_ENGINE=nosuch: no engine of that name"),
              "%s", rt_slurp(log_of("nosuch")));
}

Test(runtime, help_prints_engine_usage_and_runtime_environment)
{
    static const char *bins[] = {"test-producer", "test-consumer", "test-hang", "test-crash"};
    for (int i = 0; i < 4; i++) {
        char *argv[] = {(char *)rt_engine_bin(bins[i]), "--help", NULL};
        pid_t pid = rt_spawn(&M, bins[i], 0, NULL, "MESH_CONFIG=", argv);
        cr_assert_gt(pid, 0);
        wait_exit_code(pid, bins[i], 0);
        const char *log = rt_slurp(log_of(bins[i]));
        cr_assert(strstr(log, "usage: ") && strstr(log, bins[i]), "%s", log);
        cr_assert(strstr(log, "MESH_READY_FD") && strstr(log, "MESH_GENERATION"), "%s", log);
    }
}

Test(runtime, bad_engine_arguments_exit_2_naming_the_option)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    char *argv[] = {(char *)rt_engine_bin("test-consumer"), "--slow-us", "12x", NULL};
    int rd = -1;
    pid_t pid = rt_spawn(&M, "cons", 0, &rd, NULL, argv);
    cr_assert_eq(rt_read_ready(rd, WAIT_MS), 0);
    wait_exit_code(pid, "cons", 2);
    cr_assert(rt_file_contains(log_of("cons"), "--slow-us '12x'"), "%s", rt_slurp(log_of("cons")));
}

/* The test as a producer on route from -> to (the ring's one writer),
 * ringing the consumer's doorbell like an engine would. */
typedef struct pusher {
    bus_ring *ring;
    bus_ctl *ctl;
} pusher;

static void push_open(pusher *p, const char *from, const char *to)
{
    cr_assert_eq(bus_ring_open(&p->ring, rt_ring_name(&M, from, to), BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ctl_open(&p->ctl, rt_ctl_name(&M, to), BUS_CTL_RW), 0);
    bus_ring_set_doorbell(p->ring, bus_ctl_doorbell(p->ctl));
}

static void push_close(pusher *p)
{
    bus_ring_close(p->ring);
    bus_ctl_close(p->ctl);
}

static void push_raw(pusher *p, uint32_t type, const void *data, size_t len)
{
    cr_assert_eq(bus_ring_push(p->ring, type, data, len), 0);
}

static void push_trade(pusher *p, uint64_t counter)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = "TEST";
    t.venue = "test";
    t.seq = counter;
    t.price = 10.5;
    t.size = 2;
    uint8_t buf[256];
    int n = msg_encode(&t.base, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    push_raw(p, MSG_TYPE_TRADE, buf, (size_t)n);
}

/* A config whose consumer `cons` has its own stop timeout. */
static void config_with_stop_timeout(unsigned stop_ms)
{
    char body[2048], cons[512];
    snprintf(cons, sizeof(cons),
             "  - name: cons\n    binary: %s\n    heartbeat_timeout_ms: 400\n"
             "    stop_timeout_ms: %u\n",
             rt_engine_bin("test-consumer"), stop_ms);
    snprintf(body, sizeof(body),
             "engines:\n%s%sroutes:\n  - from: prod\n    to: cons\n    types: [trade]\n",
             engine_yaml("prod", "test-producer"), cons);
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "prod"), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "cons"), 0);
}

static void kill9(pid_t pid, const char *engine)
{
    int st = 0;
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: status 0x%x", engine, st);
}

static void wait_log(const char *engine, const char *needle)
{
    for (int i = 0; i < WAIT_MS / 10 && !rt_file_contains(log_of(engine), needle); i++)
        rt_sleep_ms(10);
    cr_assert(rt_file_contains(log_of(engine), needle), "'%s' not in %s's log:\n%s", needle, engine,
              rt_slurp(log_of(engine)));
}

Test(runtime, sigkill_then_restart_handles_each_message_exactly_once)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    /* 300 trades (~70 B each incl. header: ~21 KB) all sit in the 64 KiB ring first */
    char *pargv[] = {(char *)rt_engine_bin("test-producer"), "--count", "300", "--exit-when-done",
                     NULL};
    wait_exit_code(start("prod", 0, pargv), "prod", 0);
    char *c0[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--stall-at", "40", NULL};
    pid_t cons = start("cons", 0, c0);
    wait_log("cons", "stalling forever at counter 40");
    cr_assert_eq(rt_count_lines(out), 39);
    /* Premise: counters 1..39 were handled but not released (the runtime
     * releases after a batch of up to 64), so the ring will deliver them
     * again and only the seq slot (39) can keep them from being handled twice. */
    bus_ring_stats st;
    ring_stats("prod", "cons", &st);
    cr_assert_eq(st.tail, 0);
    kill9(cons, "cons");
    bus_ctl_snapshot snap;
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.last_seq[0], 39);

    char *c1[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    cons = start("cons", 1, c1);
    cr_assert_eq(rt_wait_lines(out, 300, WAIT_MS), 300);
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, 300);
    cr_assert(rt_file_contains(log_of("cons"), "resuming after seq 39"));
    cr_assert(rt_file_contains(log_of("cons"), "skipped as already handled 39,"), "%s",
              rt_slurp(log_of("cons")));
}

Test(runtime, consumer_killed_while_producer_blocks_resumes_without_loss)
{
    long n = rt_scaled(5000, 1000);
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 4096, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    char *c0[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--stall-at", "500", NULL};
    char *pargv[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--exit-when-done",
                     NULL};
    pid_t cons = start("cons", 0, c0);
    pid_t prod = start("prod", 0, pargv);
    wait_log("cons", "stalling forever at counter 500");
    /* The 4 KiB ring fills up behind the stalled consumer; the blocked
     * producer must keep heartbeating (or meshd would kill it as hung). */
    bus_ring_stats st;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        ring_stats("prod", "cons", &st);
        if (st.full_waits > 0)
            break;
        rt_sleep_ms(10);
    }
    cr_assert_gt(st.full_waits, 0);
    bus_ctl_snapshot a, b;
    ctl_snapshot("prod", &a);
    b = a;
    for (int i = 0; i < 1000 && b.heartbeat_ns == a.heartbeat_ns; i++) {
        rt_sleep_ms(10);
        ctl_snapshot("prod", &b);
    }
    cr_assert_gt(b.heartbeat_ns, a.heartbeat_ns, "blocked producer stopped heartbeating");
    kill9(cons, "cons");
    char *c1[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    cons = start("cons", 1, c1);
    wait_exit_code(prod, "prod", 0);
    cr_assert_eq(rt_wait_lines(out, n, WAIT_MS), n);
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, (uint64_t)n);
    cr_assert(rt_file_contains(log_of("cons"), "resuming after seq 499"));
}

Test(runtime, sigterm_drains_queued_input_before_exit)
{
    config_with_stop_timeout(20000); /* drain deadline 10 s */
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--slow-us", "1000", NULL};
    pid_t cons = start("cons", 0, cargv);
    pusher p;
    push_open(&p, "prod", "cons");
    for (uint64_t i = 1; i <= 300; i++)
        push_trade(&p, i);
    push_close(&p);
    int st = 0;
    cr_assert_eq(kill(cons, SIGTERM), 0);
    /* 1 ms per message: at most a few of the 300 can be done already */
    cr_assert_lt(rt_count_lines(out), 300);
    cr_assert_eq(rt_wait_exit(&M, cons, WAIT_MS, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
    check_lines(out, "prod", 1, 300);
    cr_assert(rt_file_contains(log_of("cons"), "stop requested (SIGTERM): draining"));
}

Test(runtime, drain_deadline_bounds_the_stop_and_loses_nothing)
{
    config_with_stop_timeout(400); /* drain deadline 400 / 2 = 200 ms */
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    /* 50 ms per message: 100 messages need 5 s, far past the 200 ms deadline */
    char *c0[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--slow-us", "50000", NULL};
    pid_t cons = start("cons", 0, c0);
    pusher p;
    push_open(&p, "prod", "cons");
    for (uint64_t i = 1; i <= 100; i++)
        push_trade(&p, i);
    push_close(&p);
    /* Inside one batch of slow handlers the heartbeat still advances (it is
     * written between records), so meshd does not take slow for hung. */
    cr_assert_geq(rt_wait_lines(out, 1, WAIT_MS), 1);
    bus_ctl_snapshot a, b;
    ctl_snapshot("cons", &a);
    b = a;
    for (int i = 0; i < 1000 && b.heartbeat_ns == a.heartbeat_ns; i++) {
        rt_sleep_ms(10);
        ctl_snapshot("cons", &b);
    }
    cr_assert_gt(b.heartbeat_ns, a.heartbeat_ns);
    cr_assert_lt(rt_count_lines(out), 64, "the first batch (64 records) should still be running");
    stop_clean(cons, "cons");
    long first = rt_count_lines(out);
    cr_assert_lt(first, 100);
    cr_assert(rt_file_contains(log_of("cons"), "drain deadline (200 ms) passed"), "%s",
              rt_slurp(log_of("cons")));
    /* what was left stays in the ring: the next start handles it, once */
    char *c1[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    cons = start("cons", 1, c1);
    cr_assert_eq(rt_wait_lines(out, 100, WAIT_MS), 100);
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, 100);
}

Test(runtime, malformed_and_unknown_records_are_counted_and_skipped)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    pid_t cons = start("cons", 0, cargv);
    pusher p;
    push_open(&p, "prod", "cons");
    push_trade(&p, 1); /* seq 1 */
    push_raw(&p, MSG_TYPE_TRADE,
             "\x0a\x05"
             "ab",
             4);                         /* seq 2: field 1 says 5 bytes, 2 follow */
    push_raw(&p, 999, "xyz", 3);         /* seq 3: no such type */
    push_raw(&p, MSG_TYPE_QUOTE, "", 0); /* seq 4: valid, but no handler for quotes */
    push_trade(&p, 2);                   /* seq 5 */
    push_close(&p);
    cr_assert_eq(rt_wait_lines(out, 2, WAIT_MS), 2);
    cr_assert_eq(kill(cons, 0), 0, "consumer died");
    stop_clean(cons, "cons");
    rt_line lines[4];
    cr_assert_eq(rt_read_lines(out, lines, 4), 2);
    cr_assert(lines[0].seq == 1 && lines[0].counter == 1);
    cr_assert(lines[1].seq == 5 && lines[1].counter == 2);
    bus_ctl_snapshot snap;
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.counters[BUS_CTL_MALFORMED], 1);
    cr_assert_eq(snap.counters[BUS_CTL_MSGS_IN], 2);
    cr_assert_eq(snap.last_seq[0], 5);
    const char *log = rt_slurp(log_of("cons"));
    cr_assert(strstr(log, "malformed 1, unknown type 2,"), "%s", log);
    cr_assert(strstr(log, "record seq 2, type 1 (trade), 4 bytes"), "%s", log);
}

Test(runtime, fan_out_delivers_everything_to_two_consumers)
{
    long n = rt_scaled(10000, 1000);
    char count[32], body[2048];
    snprintf(count, sizeof(count), "%ld", n);
    snprintf(body, sizeof(body),
             "engines:\n%s%s%sroutes:\n  - from: prod\n    to: [c1, c2]\n    types: [trade]\n",
             engine_yaml("prod", "test-producer"), engine_yaml("c1", "test-consumer"),
             engine_yaml("c2", "test-consumer"));
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    const char *names[] = {"prod", "c1", "c2"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rt_mesh_create_ctl(&M, names[i]), 0);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "c1", 16384, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "c2", 16384, BUS_RING_POLICY_WAIT), 0);
    char out1[512], out2[512];
    snprintf(out1, sizeof(out1), "%s", rt_path(&M, "c1.out"));
    snprintf(out2, sizeof(out2), "%s", rt_path(&M, "c2.out"));
    char *a1[] = {(char *)rt_engine_bin("test-consumer"), "--out", out1, NULL};
    char *a2[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", out2, "--buffer-lines", "100", NULL};
    char *pargv[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--exit-when-done",
                     NULL};
    pid_t c1 = start("c1", 0, a1);
    pid_t c2 = start("c2", 0, a2);
    wait_exit_code(start("prod", 0, pargv), "prod", 0);
    cr_assert_eq(rt_wait_lines(out1, n, WAIT_MS), n);
    cr_assert_eq(rt_wait_lines(out2, n, WAIT_MS), n);
    stop_clean(c1, "c1");
    stop_clean(c2, "c2");
    check_lines(out1, "prod", 1, (uint64_t)n);
    check_lines(out2, "prod", 1, (uint64_t)n);
    bus_ctl_snapshot snap;
    ctl_snapshot("prod", &snap);
    cr_assert_eq(snap.counters[BUS_CTL_MSGS_OUT], 2 * (uint64_t)n); /* one per ring */
}

Test(runtime, drop_policy_counts_drops_while_the_consumer_is_stopped)
{
    const long n = 2000;
    producer_consumer_config("    policy: drop\n");
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 4096, BUS_RING_POLICY_DROP), 0);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    pid_t cons = start("cons", 0, cargv);
    int st = 0;
    cr_assert_eq(kill(cons, SIGSTOP), 0);
    cr_assert_eq(waitpid(cons, &st, WUNTRACED), cons);
    cr_assert(WIFSTOPPED(st));
    char *pargv[] = {(char *)rt_engine_bin("test-producer"), "--count", "2000", "--exit-when-done",
                     NULL};
    /* a drop route never blocks: the producer finishes with the consumer stopped */
    wait_exit_code(start("prod", 0, pargv), "prod", 0);
    bus_ring_stats rs;
    ring_stats("prod", "cons", &rs);
    uint64_t kept = rs.messages, dropped = rs.drops;
    cr_assert_eq(kept + dropped, (uint64_t)n, "every publish is either in the ring or counted");
    cr_assert_gt(dropped, 0);
    cr_assert_gt(kept, 0);
    char want[64];
    snprintf(want, sizeof(want), "drops %llu,", (unsigned long long)dropped);
    cr_assert(rt_file_contains(log_of("prod"), want), "%s", rt_slurp(log_of("prod")));

    cr_assert_eq(kill(cons, SIGCONT), 0);
    cr_assert_eq(rt_wait_lines(out, (long)kept, WAIT_MS), (long)kept);
    /* nothing was consumed while stopped, so the kept ones are 1..kept */
    check_lines(out, "prod", 1, kept);
    /* a later message continues the ring's sequence (drops consumed theirs):
     * the consumer sees the gap of `dropped` records and reports it */
    char first[32];
    snprintf(first, sizeof(first), "%ld", n + 1);
    char *p2[] = {(char *)rt_engine_bin("test-producer"),
                  "--count",
                  "1",
                  "--first",
                  first,
                  "--exit-when-done",
                  NULL};
    wait_exit_code(start("prod", 1, p2), "prod", 0);
    cr_assert_eq(rt_wait_lines(out, (long)kept + 1, WAIT_MS), (long)kept + 1);
    stop_clean(cons, "cons");
    snprintf(want, sizeof(want), "%llu record(s) missing before seq %ld",
             (unsigned long long)dropped, n + 1);
    cr_assert(rt_file_contains(log_of("cons"), want), "%s", rt_slurp(log_of("cons")));
}

static void single_engine_config(const char *name, const char *bin)
{
    char body[1024];
    snprintf(body, sizeof(body), "engines:\n%s", engine_yaml(name, bin));
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, name), 0);
}

Test(runtime, test_crash_ends_abnormally_as_asked)
{
    single_engine_config("crash", "test-crash");
    char *a1[] = {
        (char *)rt_engine_bin("test-crash"), "--crash-after-ms", "10", "--exit-code", "3", NULL};
    wait_exit_code(start("crash", 0, a1), "crash", 3);
    char *a2[] = {(char *)rt_engine_bin("test-crash"), "--crash-after-ms", "10", NULL};
    pid_t pid = start("crash", 1, a2);
    int st = 0;
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status 0x%x", st);
}

Test(runtime, test_hang_stops_heartbeating)
{
    single_engine_config("hang", "test-hang");
    char *argv[] = {(char *)rt_engine_bin("test-hang"), "--hang-after-ms", "100", NULL};
    pid_t pid = start("hang", 0, argv);
    wait_log("hang", "hanging now");
    /* heartbeats come only from the loop, which is now stuck in the timer */
    bus_ctl_snapshot a, b;
    ctl_snapshot("hang", &a);
    for (int i = 0; i < 5; i++) { /* 5 x 100 ms = 5 heartbeat periods (400 / 4) */
        rt_sleep_ms(100);
        ctl_snapshot("hang", &b);
        cr_assert_eq(b.heartbeat_ns, a.heartbeat_ns);
    }
    cr_assert_eq(kill(pid, 0), 0, "still alive");
}

Test(runtime, raw_publish_and_raw_handler_carry_the_bytes_unchanged)
{
    long n = rt_scaled(5000, 500);
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 16384, BUS_RING_POLICY_WAIT), 0);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--raw", NULL};
    char *pargv[] = {(char *)rt_engine_bin("test-producer"),
                     "--count",
                     count,
                     "--raw",
                     "--type",
                     "heartbeat",
                     "--exit-when-done",
                     NULL};
    pid_t cons = start("cons", 0, cargv);
    wait_exit_code(start("prod", 0, pargv), "prod", 0);
    cr_assert_eq(rt_wait_lines(out, n, WAIT_MS), n);
    /* a raw handler also receives types nobody registered; test-consumer
     * refuses them, which the runtime counts as a handler error */
    pusher p;
    push_open(&p, "prod", "cons");
    push_raw(&p, 999, "xyz", 3);
    push_close(&p);
    bus_ctl_snapshot snap;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        ctl_snapshot("cons", &snap);
        if (snap.last_seq[0] == (uint64_t)n + 1)
            break;
        rt_sleep_ms(10);
    }
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, (uint64_t)n);
    ctl_snapshot("cons", &snap);
    cr_assert_eq(snap.counters[BUS_CTL_HANDLER_ERRORS], 1);
    cr_assert_eq(snap.counters[BUS_CTL_MSGS_IN], (uint64_t)n + 1);
    cr_assert(rt_file_contains(log_of("cons"), "unknown type 0,"));
}

Test(runtime, corrupt_ring_record_disables_that_input_without_a_crash)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    pusher p;
    push_open(&p, "prod", "cons");
    push_trade(&p, 1);
    push_trade(&p, 2);
    push_trade(&p, 3);
    push_close(&p);
    /* Flip a byte of record 2's seq: records are 24-byte header + payload
     * rounded up to 8, the first at the data offset; seq is at header +16.
     * The header's check word no longer matches. */
    bus_shm *s = NULL;
    cr_assert_eq(bus_shm_attach(&s, rt_ring_name(&M, "prod", "cons"), 0, 1), 0);
    uint8_t *data = (uint8_t *)bus_shm_base(s) + BUS_RING_HEADER_BYTES;
    uint32_t len1;
    memcpy(&len1, data, sizeof(len1));
    size_t rec2 = BUS_RING_REC_HDR + ((len1 + 7u) & ~7u);
    data[rec2 + 16] ^= 0x40;
    bus_shm_close(s);

    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    pid_t cons = start("cons", 0, cargv);
    cr_assert_eq(rt_wait_lines(out, 1, WAIT_MS), 1);
    wait_log("cons", "input disabled");
    cr_assert_eq(kill(cons, 0), 0, "consumer died");
    stop_clean(cons, "cons");
    cr_assert_eq(rt_count_lines(out), 1);
    cr_assert(rt_file_contains(log_of("cons"), rt_ring_name(&M, "prod", "cons")));
}

Test(runtime, bad_ready_fd_exits_2_with_a_clear_message)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    char *argv[] = {(char *)rt_engine_bin("test-consumer"), "--out",
                    (char *)rt_path(&M, "cons.out"), NULL};
    pid_t pid = rt_spawn(&M, "cons", 0, NULL, "MESH_READY_FD=99", argv);
    cr_assert_gt(pid, 0);
    wait_exit_code(pid, "cons", 2);
    cr_assert(rt_file_contains(log_of("cons"), "MESH_READY_FD='99': not an open file descriptor"),
              "%s", rt_slurp(log_of("cons")));
}

Test(runtime, a_resume_slot_beyond_the_ring_is_not_trusted)
{
    producer_consumer_config(NULL);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    /* as if the ring had been recreated while the control block was kept */
    bus_ctl *c = NULL;
    cr_assert_eq(bus_ctl_open(&c, rt_ctl_name(&M, "cons"), BUS_CTL_RW), 0);
    cr_assert_eq(bus_ctl_set_last_seq(c, 0, 1000), 0);
    bus_ctl_close(c);
    pusher p;
    push_open(&p, "prod", "cons");
    for (uint64_t i = 1; i <= 3; i++)
        push_trade(&p, i);
    push_close(&p);
    const char *out = rt_path(&M, "cons.out");
    char *cargv[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    pid_t cons = start("cons", 1, cargv);
    /* the ring has carried seqs 1..3 only, so slot value 1000 is ignored */
    cr_assert_eq(rt_wait_lines(out, 3, WAIT_MS), 3);
    stop_clean(cons, "cons");
    check_lines(out, "prod", 1, 3);
    cr_assert(rt_file_contains(log_of("cons"), "says seq 1000 was handled"), "%s",
              rt_slurp(log_of("cons")));
}

Test(runtime, config_errors_exit_2_with_file_and_line)
{
    /* line 1 "mesh:", 2 "  name:", 3 ring_bytes, 4 stop_timeout_ms, 5 "engines:",
     * 6 "  - name: cons", 7 binary, 8 the unknown key */
    char body[1024];
    snprintf(body, sizeof(body), "engines:\n  - name: cons\n    binary: %s\n    colour: red\n",
             rt_engine_bin("test-consumer"));
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    char *argv[] = {(char *)rt_engine_bin("test-consumer"), "--out", "/dev/null", NULL};
    pid_t pid = rt_spawn(&M, "cons", 0, NULL, NULL, argv);
    cr_assert_gt(pid, 0);
    wait_exit_code(pid, "cons", 2);
    char where[400];
    snprintf(where, sizeof(where), "%s:8:", M.config);
    const char *log = rt_slurp(log_of("cons"));
    cr_assert(strstr(log, "cannot load") && strstr(log, where) && strstr(log, "colour"), "%s", log);
}
