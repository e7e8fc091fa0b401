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
