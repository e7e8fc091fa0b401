/* Tests for wait strategies and the doorbell: a sleeping consumer process
 * is woken by a producer process, an idle consumer sleeps in the futex (no
 * CPU), a consumer killed asleep does not leave producers ringing for its
 * successor. The lost-wakeup stress is in test_ring_threads.c (TSan). */
#include "bus_ctl.h"
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <ck_pr.h>
#include <criterion/criterion.h>

static char ring_name[128], ctl_name[128];

static void setup(void)
{
    tu_name(ring_name, sizeof(ring_name), "ring", "prod", "cons");
    tu_name(ctl_name, sizeof(ctl_name), "ctl", "cons", NULL);
    cr_assert_eq(bus_ring_create(ring_name, 4096, 0, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_ctl_create(ctl_name), 0);
}

static void teardown(void)
{
    bus_shm_unlink(ring_name);
    bus_shm_unlink(ctl_name);
}

static int ring_ready(void *arg)
{
    return bus_ring_ready(arg);
}

/* Consumer process: waits (adaptive, up to 60 s) for one record and checks it.
 * Exit 0 = woken and got "ding"; 2 = timed out; others = failures. */
static int wait_for_one(void)
{
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_CONSUMER) != 0 ||
        bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return 1;
    bus_wait_cfg cfg;
    bus_wait_cfg_default(&cfg);
    int rc = bus_wait_idle(&cfg, bus_ctl_doorbell(ctl), ring_ready, r, 60ull * 1000000000ull);
    if (rc == MESH_ETIMEDOUT)
        return 2;
    char buf[16] = {0};
    bus_ring_rec rec;
    if (rc != 0 || bus_ring_pop(r, &rec, buf, sizeof(buf) - 1) != 0)
        return 3;
    return strcmp(buf, "ding") == 0 ? 0 : 4;
}

/* Waits until the consumer announced it sleeps, entered FUTEX_WAIT (sleeps
 * counted) and the kernel shows it sleeping ('S'). */
static void await_sleeping(bus_ctl *ctl, pid_t pid, bus_ctl_snapshot *snap)
{
    char state = '?';
    unsigned long long ticks;
    for (unsigned i = 0; i < 30000; i++) {
        bus_ctl_snapshot_get(ctl, snap);
        if (snap->doorbell_sleeping && snap->doorbell_sleeps >= 1 &&
            tu_proc_stat(pid, &state, &ticks) == 0 && state == 'S')
            return;
        tu_sleep_ms(1);
    }
    cr_assert_fail("consumer never slept (sleeping %u, sleeps %lu, state %c)",
                   snap->doorbell_sleeping, snap->doorbell_sleeps, state);
}

TestSuite(wait, .init = setup, .fini = teardown, .timeout = 60);

Test(wait, doorbell_wakes_a_sleeping_consumer_process)
{
    bus_ctl *ctl;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(wait_for_one());
    bus_ctl_snapshot snap;
    await_sleeping(ctl, pid, &snap);
    cr_assert_eq(snap.doorbell_seq, 0, "nobody rang yet");
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, ring_name, BUS_RING_PRODUCER), 0);
    bus_ring_set_doorbell(p, bus_ctl_doorbell(ctl));
    cr_assert_eq(bus_ring_push(p, 1, "ding", 4), 0);
    cr_assert_eq(tu_wait_child(pid, 30), 0, "consumer was not woken with the record");
    bus_ring_stats st;
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.wakeups, 1, "the producer rang once");
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_seq, 1);
    cr_assert_eq(snap.doorbell_sleeping, 0);
    cr_assert_geq(snap.doorbell_wakes, 1, "the sleep ended by the ring");
    bus_ring_close(p);
    bus_ctl_close(ctl);
}

Test(wait, idle_consumer_sleeps_in_the_futex_without_cpu)
{
    bus_ctl *ctl;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(wait_for_one());
    bus_ctl_snapshot snap;
    await_sleeping(ctl, pid, &snap);
    char state;
    unsigned long long t0, t1;
    cr_assert_eq(tu_proc_stat(pid, &state, &t0), 0);
    tu_sleep_ms(500);
    cr_assert_eq(tu_proc_stat(pid, &state, &t1), 0);
    bus_ctl_snapshot later;
    bus_ctl_snapshot_get(ctl, &later);
    /* Still in the one FUTEX_WAIT it entered: no loop, no CPU. A spinning or
     * yielding consumer would accrue ~50 ticks (100 Hz) in 0.5 s and would
     * not be in state S. */
    cr_assert_eq(state, 'S');
    cr_assert_eq(later.doorbell_sleeps, snap.doorbell_sleeps, "slept once, not in a loop");
    cr_assert_leq(t1 - t0, 1, "consumer used %llu ticks while idle", t1 - t0);
    /* Prove it was the doorbell it slept on: ringing it ends the wait. */
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, ring_name, BUS_RING_PRODUCER), 0);
    bus_ring_set_doorbell(p, bus_ctl_doorbell(ctl));
    cr_assert_eq(bus_ring_push(p, 1, "ding", 4), 0);
    cr_assert_eq(tu_wait_child(pid, 30), 0);
    bus_ring_close(p);
    bus_ctl_close(ctl);
}

Test(wait, producer_rings_only_when_the_consumer_sleeps)
{
    bus_ctl *ctl;
    bus_ring *p, *c;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    cr_assert_eq(bus_ring_open(&p, ring_name, BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ring_open(&c, ring_name, BUS_RING_CONSUMER), 0);
    bus_ring_set_doorbell(p, bus_ctl_doorbell(ctl));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(bus_ring_push(p, 1, "x", 1), 0);
    bus_ring_stats st;
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.wakeups, 0, "consumer awake: no syscall, no ring");
    bus_ctl_snapshot snap;
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_seq, 0);
    /* Ready input: the wait returns at once without sleeping. */
    cr_assert_eq(bus_wait_idle(NULL, bus_ctl_doorbell(ctl), ring_ready, c, 0), 0);
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_sleeps, 0);
    bus_ring_close(p);
    bus_ring_close(c);
    bus_ctl_close(ctl);
}

static int never(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

Test(wait, every_kind_times_out_when_nothing_comes)
{
    bus_ctl *ctl;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    static const char *kinds[] = {"spin", "yield", "adaptive"};
    for (int k = 0; k < 3; k++) {
        bus_wait_cfg cfg;
        bus_wait_cfg_default(&cfg);
        cr_assert_eq(bus_wait_kind_parse(kinds[k], &cfg.kind), 0);
        int calls = 0;
        cr_assert_eq(bus_wait_idle(&cfg, bus_ctl_doorbell(ctl), never, &calls, 3000000),
                     MESH_ETIMEDOUT, "%s", kinds[k]);
        cr_assert_geq(calls, 1, "%s polled its inputs", kinds[k]);
        calls = 0; /* adaptive without a doorbell naps instead */
        cr_assert_eq(bus_wait_idle(&cfg, NULL, never, &calls, 3000000), MESH_ETIMEDOUT);
    }
    enum bus_wait_kind kind;
    cr_assert_eq(bus_wait_kind_parse("busy", &kind), MESH_EINVAL);
    bus_ctl_close(ctl);
}

/* Shared between the test (producer) and the successor consumer process. */
struct successor {
    uint32_t attached; /* took the doorbell over */
    uint32_t go;       /* the test pushed its records: drain them */
    uint32_t drained;  /* all of them handled; now waiting for "ding" */
    uint32_t got;
};

/* Successor consumer: attaches as the engine runtime does (ring, control
 * block, bus_doorbell_reset), stays awake (polls, never sleeps) until the
 * test has pushed its records, drains them, then sleeps on the doorbell for
 * one more record. Exit 0 = all good. */
static int successor(struct successor *sh, uint32_t expect)
{
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_CONSUMER) != 0 ||
        bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return 1;
    bus_doorbell_reset(bus_ctl_doorbell(ctl));
    ck_pr_store_32(&sh->attached, 1);
    for (unsigned i = 0; !ck_pr_load_32(&sh->go) && i < 60000; i++)
        tu_sleep_ms(1);
    char buf[16];
    bus_ring_rec rec;
    while (bus_ring_pop(r, &rec, buf, sizeof(buf)) == 0)
        sh->got++;
    if (sh->got != expect)
        return 2;
    ck_pr_store_32(&sh->drained, 1);
    if (bus_wait_idle(NULL, bus_ctl_doorbell(ctl), ring_ready, r, 60ull * 1000000000ull) != 0)
        return 3;
    memset(buf, 0, sizeof(buf));
    if (bus_ring_pop(r, &rec, buf, sizeof(buf) - 1) != 0 || strcmp(buf, "ding") != 0)
        return 4;
    bus_ring_close(r);
    bus_ctl_close(ctl);
    return 0;
}

Test(wait, consumer_killed_asleep_leaves_no_ringing_for_its_successor)
{
    bus_ctl *ctl;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(wait_for_one());
    bus_ctl_snapshot snap;
    await_sleeping(ctl, pid, &snap);
    kill(pid, SIGKILL);
    cr_assert_eq(tu_wait_child(pid, 10), 128 + SIGKILL);
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_sleeping, 1, "the dead consumer's flag stays set");
    /* With no consumer at all, a commit rings for nobody: once per record. */
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, ring_name, BUS_RING_PRODUCER), 0);
    bus_ring_set_doorbell(p, bus_ctl_doorbell(ctl));
    cr_assert_eq(bus_ring_push(p, 1, "x", 1), 0);
    bus_ring_stats st;
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.wakeups, 1);
    /* The successor takes the doorbell over: while it is awake, 100 commits
     * ring nothing (no syscall, seq unchanged). */
    struct successor *sh = tu_shared(sizeof(*sh));
    cr_assert_not_null(sh);
    pid = fork();
    if (pid == 0)
        _exit(successor(sh, 101));
    for (unsigned i = 0; !ck_pr_load_32(&sh->attached) && i < 30000; i++)
        tu_sleep_ms(1);
    cr_assert_eq(ck_pr_load_32(&sh->attached), 1, "successor did not attach");
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_sleeping, 0, "the successor cleared the flag");
    for (int i = 0; i < 100; i++)
        cr_assert_eq(bus_ring_push(p, 1, "y", 1), 0);
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.wakeups, 1, "no ring while the successor is awake");
    bus_ctl_snapshot_get(ctl, &snap);
    cr_assert_eq(snap.doorbell_seq, 1, "rung once, before the successor came");
    ck_pr_store_32(&sh->go, 1);
    /* Once it really sleeps, one commit rings once and wakes it. */
    for (unsigned i = 0; !ck_pr_load_32(&sh->drained) && i < 30000; i++)
        tu_sleep_ms(1);
    await_sleeping(ctl, pid, &snap);
    cr_assert_eq(bus_ring_push(p, 1, "ding", 4), 0);
    cr_assert_eq(tu_wait_child(pid, 30), 0, "successor failed");
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.wakeups, 2);
    bus_ring_close(p);
    bus_ctl_close(ctl);
}
