/* Multi-process tests of engine checkpoints (engine_state_*): a producer
 * with --checkpoint is SIGKILLed mid-stream again and again and restarted
 * with the next generation; its two consumers must still see every counter
 * exactly once, in order. And a first start removes a state object left by
 * an earlier mesh run. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus_ring.h"
#include "bus_shm.h"
#include "engine_ckpt.h"
#include "rt_harness.h"

#define WAIT_MS 60000 /* upper bound of any single wait (sanitizer builds are slow) */

static rt_mesh M;

static void setup(void)
{
    cr_assert_eq(rt_mesh_init(&M, "s"), 0);
}

static void teardown(void)
{
    rt_mesh_cleanup(&M);
}

TestSuite(runtime_state, .init = setup, .fini = teardown, .timeout = 240);

static const char *engine_yaml(const char *name, const char *bin)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof(buf[0]),
             "  - name: %s\n    binary: %s\n    heartbeat_timeout_ms: 2000\n"
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

static void stop_clean(pid_t pid, const char *engine)
{
    int st = 0;
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0, "%s did not exit", engine);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status 0x%x; log:\n%s", engine, st,
              rt_slurp(log_of(engine)));
}

static void kill9(pid_t pid)
{
    int st = 0;
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(rt_wait_exit(&M, pid, WAIT_MS, &st), 0);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", st);
}

static void ring_stats(const char *from, const char *to, bus_ring_stats *st)
{
    bus_ring *r = NULL;
    cr_assert_eq(bus_ring_open(&r, rt_ring_name(&M, from, to), BUS_RING_OBSERVER), 0);
    cr_assert_eq(bus_ring_stats_get(r, st), 0);
    bus_ring_close(r);
}

/* Serial of the producer's last saved snapshot and the count it holds;
 * 0 when there is none (or it was being replaced while read: callers poll). */
static uint64_t snapshot_serial(uint64_t *sent)
{
    char name[128];
    engine_ckpt c;
    engine_ckpt_meta m;
    size_t len;
    *sent = 0;
    cr_assert_eq(bus_shm_name(name, sizeof(name), M.name, "state", "prod", NULL), 0);
    cr_assert_eq(engine_ckpt_init(&c, name), 0);
    int rc = engine_ckpt_load(&c, &m, sent, sizeof(*sent), &len, NULL);
    engine_ckpt_fini(&c);
    return rc == 0 ? m.serial : 0;
}

/* Waits until the producer saved a snapshot after the one numbered base,
 * holding at least `want` messages (or all n: it has finished). A kill
 * before the run's first snapshot would restart it from scratch (as
 * designed); this keeps the kills spread over the stream. */
static void wait_snapshot(uint64_t base, uint64_t want, uint64_t n)
{
    uint64_t sent = 0, serial = 0;
    for (int i = 0; i < WAIT_MS / 2; i++) {
        serial = snapshot_serial(&sent);
        if ((serial > base && sent >= want) || sent == n)
            return;
        rt_sleep_ms(2);
    }
    cr_assert_fail("no snapshot after %llu with %llu messages (last: %llu with %llu); log:\n%s",
                   (unsigned long long)base, (unsigned long long)want, (unsigned long long)serial,
                   (unsigned long long)sent, rt_slurp(log_of("prod")));
}

/* Counters 1..n each exactly once, in order, as ring records 1..n: no
 * sequence number unused across the kills (a publish cut short is rolled
 * back), none used twice. */
static void check_exactly_once(const char *out, const char *to, long n)
{
    static rt_line lines[400000];
    long got = rt_read_lines(out, lines, 400000);
    cr_assert_eq(got, n, "%s: %ld lines, expected %ld", out, got, n);
    for (long i = 0; i < n; i++) {
        cr_assert_eq(lines[i].counter, (uint64_t)i + 1, "%s line %ld: counter %llu", out, i + 1,
                     (unsigned long long)lines[i].counter);
        cr_assert_eq(lines[i].seq, (uint64_t)i + 1, "%s line %ld: ring seq %llu", out, i + 1,
                     (unsigned long long)lines[i].seq);
    }
    bus_ring_stats st;
    ring_stats("prod", to, &st);
    cr_assert_eq(st.next_seq - 1, (uint64_t)n,
                 "ring to %s used %llu sequence numbers for %ld records", to,
                 (unsigned long long)(st.next_seq - 1), n);
}

Test(runtime_state, producer_killed_repeatedly_delivers_every_counter_once_to_each_consumer)
{
    long n = rt_scaled(60000, 40000); /* kills 5000+ apart: more than one tick (4096) */
    char body[2048], count[32], out1[512], out2[512];
    snprintf(count, sizeof(count), "%ld", n);
    snprintf(body, sizeof(body),
             "engines:\n%s%s%sroutes:\n  - from: prod\n    to: [c1, c2]\n    types: [trade]\n",
             engine_yaml("prod", "test-producer"), engine_yaml("c1", "test-consumer"),
             engine_yaml("c2", "test-consumer"));
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    const char *names[] = {"prod", "c1", "c2"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rt_mesh_create_ctl(&M, names[i]), 0);
    /* The producer outruns the consumers (a line written per message), so
     * it mostly waits on full rings: kills land inside blocked publishes and
     * between the two rings of one message. A restart reads what the
     * killed run published after its snapshot back from the ring: up to a
     * tick (4096 records of 72 bytes = 295 KB) must stay readable, and an
     * observer reads records back to capacity - 2 x the largest record
     * (1 MiB - 2 x 256 KiB). */
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "c1", 1 << 20, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "c2", 1 << 20, BUS_RING_POLICY_WAIT), 0);
    snprintf(out1, sizeof(out1), "%s", rt_path(&M, "c1.out"));
    snprintf(out2, sizeof(out2), "%s", rt_path(&M, "c2.out"));
    char *a1[] = {(char *)rt_engine_bin("test-consumer"), "--out", out1, NULL};
    char *a2[] = {(char *)rt_engine_bin("test-consumer"), "--out", out2, NULL};
    /* Full speed: the producer spends its time blocked on the full rings
     * inside a tick (up to 4096 messages between snapshots), so the kills
     * land mid-publish and the restarts replay what came after the snapshot. */
    char *pa[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--checkpoint", NULL};
    pid_t c1 = start("c1", 0, a1), c2 = start("c2", 0, a2);
    pid_t prod = start("prod", 0, pa);
    const int kills = 6;
    uint64_t base = 0, sent;
    for (int k = 1; k <= kills; k++) {
        wait_snapshot(base, (uint64_t)(n * k / (kills + 2)), (uint64_t)n);
        kill9(prod);
        base = snapshot_serial(&sent);
        prod = start("prod", (unsigned)k, pa);
    }
    cr_assert_eq(rt_wait_lines(out1, n, WAIT_MS), n);
    cr_assert_eq(rt_wait_lines(out2, n, WAIT_MS), n);
    stop_clean(prod, "prod");
    stop_clean(c1, "c1");
    stop_clean(c2, "c2");
    check_exactly_once(out1, "c1", n);
    check_exactly_once(out2, "c2", n);
    const char *log = rt_slurp(log_of("prod"));
    cr_assert(strstr(log, "resuming from snapshot"), "%s", log);
    cr_assert(!strstr(log, "no longer readable"), "%s", log);
    /* Premise: some kill came after records were published past a snapshot. */
    int replayed = 0;
    for (const char *p = log; (p = strstr(p, "when the last run stopped): ")); p++)
        replayed += p[28] != '0';
    cr_assert_gt(replayed, 0, "%s", log);
    cr_assert(strstr(log, "resumed at counter"), "%s", log);
    cr_assert(!strstr(log, "not reproduced"), "%s", log);
}

Test(runtime_state, a_first_start_removes_the_state_an_earlier_mesh_run_left)
{
    char body[1024], state[128];
    snprintf(body, sizeof(body),
             "engines:\n%s%sroutes:\n  - from: prod\n    to: cons\n    types: [trade]\n",
             engine_yaml("prod", "test-producer"), engine_yaml("cons", "test-consumer"));
    cr_assert_eq(rt_mesh_write_config(&M, body), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "prod"), 0);
    cr_assert_eq(rt_mesh_create_ctl(&M, "cons"), 0);
    cr_assert_eq(rt_mesh_create_ring(&M, "prod", "cons", 65536, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_shm_name(state, sizeof(state), M.name, "state", "prod", NULL), 0);
    char path[160];
    snprintf(path, sizeof(path), "/dev/shm%s", state);
    char *pa[] = {(char *)rt_engine_bin("test-producer"),
                  "--count",
                  "100",
                  "--checkpoint",
                  "--exit-when-done",
                  NULL};
    int st = 0;
    pid_t prod = start("prod", 0, pa);
    cr_assert_eq(rt_wait_exit(&M, prod, WAIT_MS, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(access(path, F_OK), 0, "the producer saved no state object %s", path);
    /* Generation 0 again: a new mesh run; the old snapshot is not resumed. */
    prod = start("prod", 0, pa);
    cr_assert_eq(rt_wait_exit(&M, prod, WAIT_MS, &st), 0);
    cr_assert(rt_file_contains(log_of("prod"), "left by an earlier mesh run"), "%s",
              rt_slurp(log_of("prod")));
    cr_assert(!rt_file_contains(log_of("prod"), "resuming from"), "%s", rt_slurp(log_of("prod")));
    /* ... so the consumer gets counters 1..100 twice, from two runs. */
    char *ca[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)rt_path(&M, "cons.out"),
                  NULL};
    pid_t cons = start("cons", 0, ca);
    cr_assert_eq(rt_wait_lines(rt_path(&M, "cons.out"), 200, WAIT_MS), 200);
    stop_clean(cons, "cons");
}
