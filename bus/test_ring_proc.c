/* Cross-process ring tests with real processes: millions of variable-size
 * records checksummed end to end, a consumer SIGKILLed mid-stream and
 * re-attached, a producer SIGKILLed between claim and commit. */
#include "bus_ctl.h"
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <ck_pr.h>
#include <criterion/criterion.h>

#define MAXLEN      255u
#define IDLE_LIMIT  (20ull * 1000000000ull) /* an idle wait this long = lost wakeup */
#define CHILD_LIMIT 120u                    /* seconds before a child is killed */

static char ring_name[128], ctl_name[128];

static void setup(void)
{
    tu_name(ring_name, sizeof(ring_name), "ring", "prod", "cons");
    tu_name(ctl_name, sizeof(ctl_name), "ctl", "cons", NULL);
}

static void teardown(void)
{
    bus_shm_unlink(ring_name);
    bus_shm_unlink(ctl_name);
}

TestSuite(proc, .init = setup, .fini = teardown, .timeout = 150);

/* Word-wise checksum of one record (seq, type, flags and payload). */
static uint64_t rec_sum(uint64_t h, uint64_t seq, uint32_t type, uint32_t flags, const void *p,
                        uint32_t len)
{
    h = (h ^ seq) * 0x100000001b3ull;
    h = (h ^ ((uint64_t)type << 32 | flags)) * 0x100000001b3ull;
    const uint8_t *b = p;
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Producer process body: messages first..last, zero-copy, waiting when full.
 * Returns an exit code (0 ok). */
static int produce(uint64_t first, uint64_t last, uint64_t *sum_out)
{
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_PRODUCER) != 0)
        return 10;
    if (bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return 11;
    bus_ring_set_doorbell(r, bus_ctl_doorbell(ctl));
    uint64_t sum = 0;
    for (uint64_t seq = first; seq <= last; seq++) {
        uint32_t len = tu_len(seq, MAXLEN);
        void *p;
        if (bus_ring_claim_wait(r, len, &p, UINT64_MAX) != 0)
            return 12;
        tu_fill(p, len, seq);
        uint32_t type = (uint32_t)(seq & 0xffff), flags = len ^ 0xa5;
        sum = rec_sum(sum, seq, type, flags, p, len);
        if (bus_ring_commit(r, type, flags, len) != 0)
            return 13;
    }
    if (sum_out)
        *sum_out = sum;
    bus_ring_close(r);
    bus_ctl_close(ctl);
    return 0;
}

static int ring_ready(void *arg)
{
    return bus_ring_ready(arg);
}

Test(proc, ten_million_variable_records_arrive_complete_in_order_checksummed)
{
    const uint64_t n = tu_scaled(10000000, 20000);
    cr_assert_eq(bus_ring_create(ring_name, 1u << 20, 0, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_ctl_create(ctl_name), 0);
    uint64_t *psum = tu_shared(4096);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(produce(1, n, psum));

    bus_ring *r;
    bus_ctl *ctl;
    cr_assert_eq(bus_ring_open(&r, ring_name, BUS_RING_CONSUMER), 0);
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW), 0);
    uint64_t sum = 0, expect = 1, bad = 0, batch = 0;
    while (expect <= n && bad == 0) {
        bus_ring_rec rec;
        int rc = bus_ring_peek(r, &rec);
        if (rc == MESH_EAGAIN) {
            bus_ring_release(r);
            batch = 0;
            rc = bus_wait_idle(NULL, bus_ctl_doorbell(ctl), ring_ready, r, IDLE_LIMIT);
            cr_assert_eq(rc, 0, "no message for 20 s at seq %lu: lost wakeup?", expect);
            continue;
        }
        cr_assert_eq(rc, 0, "peek: %s", mesh_strerror(rc));
        uint32_t len = tu_len(expect, MAXLEN);
        bad += rec.seq != expect || rec.len != len || rec.type != (expect & 0xffff) ||
               rec.flags != (len ^ 0xa5) || !tu_check(rec.data, rec.len, expect);
        cr_assert_eq(bad, 0, "record %lu: seq %lu len %u (want %u)", expect, rec.seq, rec.len, len);
        sum = rec_sum(sum, rec.seq, rec.type, rec.flags, rec.data, rec.len);
        expect++;
        if (++batch == 64) { /* batch release: one tail store per 64 records */
            bus_ring_release(r);
            batch = 0;
        }
    }
    bus_ring_release(r);
    cr_assert_eq(tu_wait_child(pid, CHILD_LIMIT), 0, "producer failed");
    cr_assert_eq(sum, *psum, "checksums of %lu records differ", n);
    bus_ring_stats st;
    bus_ring_stats_get(r, &st);
    cr_assert_eq(st.messages, n);
    cr_assert_eq(st.head, st.tail, "everything consumed");
    cr_assert_eq(st.drops, 0);
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_peek(r, &rec), MESH_EAGAIN);
    bus_ring_close(r);
    bus_ctl_close(ctl);
}

/* Shared between the consumer incarnations and the test. */
struct kill_state {
    uint64_t handled;    /* records handled (all incarnations) */
    uint64_t first[2];   /* first seq each incarnation peeked */
    uint64_t skipped;    /* already-handled records skipped after restart */
    uint64_t unreleased; /* handled but not released when the first one stopped */
    uint32_t parked;     /* the first consumer stopped and waits to be killed */
    uint32_t gap_found;  /* a consumer saw a sequence gap */
    uint8_t seen[];      /* times each seq was handled */
};

/* Consumer process body: handles until seq n, skipping seqs the control
 * block says were handled, releasing in batches of varying size. With
 * stop_at, it stops right after handling that seq, in the middle of a batch
 * (records handled but not released), and waits to be killed. */
static int consume_until(struct kill_state *ks, int incarnation, uint64_t n, uint64_t stop_at)
{
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_CONSUMER) != 0 ||
        bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return 20;
    uint64_t last = 0, prev = 0, since_release = 0;
    bus_ctl_last_seq(ctl, 0, &last);
    for (;;) {
        bus_ring_rec rec;
        int rc = bus_ring_peek(r, &rec);
        if (rc == MESH_EAGAIN) {
            bus_ring_release(r);
            since_release = 0;
            if (bus_wait_idle(NULL, bus_ctl_doorbell(ctl), ring_ready, r, IDLE_LIMIT) != 0)
                return 21;
            continue;
        }
        if (rc != 0 || !tu_check(rec.data, rec.len, rec.seq))
            return 22;
        if (prev == 0)
            ks->first[incarnation] = rec.seq;
        else if (rec.seq != prev + 1)
            ks->gap_found = 1;
        prev = rec.seq;
        if (rec.seq <= last) {
            ks->skipped++;
        } else {
            ks->seen[rec.seq]++; /* "handle" it */
            bus_ctl_set_last_seq(ctl, 0, rec.seq);
            ck_pr_store_64(&ks->handled, ks->handled + 1);
        }
        if (rec.seq == stop_at) {
            ks->unreleased = since_release + 1;
            ck_pr_store_32(&ks->parked, 1);
            for (;;)
                pause();
        }
        if (++since_release >= 1 + rec.seq % 37) {
            bus_ring_release(r);
            since_release = 0;
        }
        if (rec.seq == n)
            break;
    }
    bus_ring_release(r);
    bus_ring_close(r);
    bus_ctl_close(ctl);
    return 0;
}

Test(proc, consumer_killed_mid_stream_resumes_without_loss)
{
    const uint64_t n = tu_scaled(1000000, 20000);
    cr_assert_eq(bus_ring_create(ring_name, 1u << 16, 0, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_ctl_create(ctl_name), 0);
    struct kill_state *ks = tu_shared(sizeof(*ks) + n + 1);
    cr_assert_not_null(ks);
    pid_t prod = fork();
    if (prod == 0)
        _exit(produce(1, n, NULL));
    /* The first consumer stops mid-batch at n/3 while the producer streams
     * on (and soon waits: the 64 KiB ring fills); then it is SIGKILLed. */
    pid_t c1 = fork();
    if (c1 == 0)
        _exit(consume_until(ks, 0, n, n / 3));
    for (unsigned i = 0; ck_pr_load_32(&ks->parked) == 0 && i < 60000; i++)
        tu_sleep_ms(1);
    cr_assert_eq(ck_pr_load_32(&ks->parked), 1, "first consumer did not reach n/3");
    kill(c1, SIGKILL);
    cr_assert_eq(tu_wait_child(c1, 10), 128 + SIGKILL);
    bus_ctl *ctl;
    uint64_t last1;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RO), 0);
    bus_ctl_last_seq(ctl, 0, &last1);
    cr_assert_eq(last1, n / 3);

    pid_t c2 = fork();
    if (c2 == 0)
        _exit(consume_until(ks, 1, n, 0));
    cr_assert_eq(tu_wait_child(c2, CHILD_LIMIT), 0, "restarted consumer failed");
    cr_assert_eq(tu_wait_child(prod, CHILD_LIMIT), 0, "producer failed");
    cr_log_info("killed after seq %lu with %lu unreleased; restart resumed at %lu", last1,
                ks->unreleased, ks->first[1]);
    /* At-least-once: the restart resumes exactly after the last released
     * record, so the handled-but-unreleased ones come again (and are skipped
     * thanks to the control block), and no incarnation saw a gap. */
    cr_assert_geq(ks->unreleased, 1);
    cr_assert_eq(ks->first[1], last1 + 1 - ks->unreleased);
    cr_assert_eq(ks->skipped, ks->unreleased);
    cr_assert_eq(ks->gap_found, 0);
    uint64_t missing = 0, twice = 0;
    for (uint64_t s = 1; s <= n; s++) {
        missing += ks->seen[s] == 0;
        twice += ks->seen[s] > 1;
    }
    cr_assert_eq(missing, 0, "%lu records lost", missing);
    cr_assert_eq(twice, 0, "%lu records handled twice", twice);
    bus_ring *obs;
    bus_ring_stats st;
    cr_assert_eq(bus_ring_open(&obs, ring_name, BUS_RING_OBSERVER), 0);
    bus_ring_stats_get(obs, &st);
    cr_assert_geq(st.full_waits, 1, "the producer waited while no consumer ran");
    cr_assert_eq(st.messages, n);
    bus_ring_close(obs);
    bus_ctl_close(ctl);
}

struct claim_state {
    uint32_t pushed, consumed, claimed;
};

/* Pushes 60 records of 64 bytes (head 3840 of 4096), waits until they are
 * consumed, then claims 300 bytes (328 > the 256 left: padding is written at
 * 3840 and the claim starts at offset 0), scribbles and hangs uncommitted. */
static int produce_then_hang(struct claim_state *cs)
{
    bus_ring *r;
    if (bus_ring_open(&r, ring_name, BUS_RING_PRODUCER) != 0)
        return 30;
    uint8_t buf[40];
    for (uint64_t s = 1; s <= 60; s++) {
        tu_fill(buf, 40, s);
        if (bus_ring_push(r, 1, buf, 40) != 0)
            return 31;
    }
    ck_pr_store_32(&cs->pushed, 1);
    while (ck_pr_load_32(&cs->consumed) == 0)
        tu_sleep_ms(1);
    void *p;
    if (bus_ring_claim(r, 300, &p) != 0)
        return 32;
    memset(p, 0xab, 300);
    ck_pr_store_32(&cs->claimed, 1);
    for (;;)
        pause();
}

Test(proc, producer_killed_between_claim_and_commit_leaves_a_usable_ring)
{
    cr_assert_eq(bus_ring_create(ring_name, 4096, 0, BUS_RING_POLICY_WAIT), 0);
    struct claim_state *cs = tu_shared(sizeof(*cs));
    pid_t pid = fork();
    if (pid == 0)
        _exit(produce_then_hang(cs));
    bus_ring *c;
    cr_assert_eq(bus_ring_open(&c, ring_name, BUS_RING_CONSUMER), 0);
    for (unsigned i = 0; ck_pr_load_32(&cs->pushed) == 0 && i < 20000; i++)
        tu_sleep_ms(1);
    uint8_t buf[400];
    bus_ring_rec rec;
    for (uint64_t s = 1; s <= 60; s++) {
        cr_assert_eq(bus_ring_pop(c, &rec, buf, sizeof(buf)), 0);
        cr_assert_eq(rec.seq, s);
    }
    ck_pr_store_32(&cs->consumed, 1);
    for (unsigned i = 0; ck_pr_load_32(&cs->claimed) == 0 && i < 20000; i++)
        tu_sleep_ms(1);
    cr_assert_eq(ck_pr_load_32(&cs->claimed), 1);
    kill(pid, SIGKILL);
    cr_assert_eq(tu_wait_child(pid, 10), 128 + SIGKILL);

    bus_ring_stats st;
    bus_ring_stats_get(c, &st);
    cr_assert_eq(st.head, 60 * 64, "the claim published nothing");
    cr_assert_eq(st.next_seq, 61);
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_EAGAIN);
    /* The restarted producer (this process) continues the sequence, across
     * the spot where the dead one left padding and scribbles. */
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, ring_name, BUS_RING_PRODUCER), 0);
    for (uint64_t s = 61; s < 61 + 500; s++) {
        uint32_t len = tu_len(s, 300);
        uint8_t in[400];
        tu_fill(in, len, s);
        cr_assert_eq(bus_ring_push(p, 2, in, len), 0);
        cr_assert_eq(bus_ring_pop(c, &rec, buf, sizeof(buf)), 0);
        cr_assert_eq(rec.seq, s);
        cr_assert_eq(rec.len, len);
        cr_assert(tu_check(buf, len, s));
    }
    bus_ring_close(p);
    bus_ring_close(c);
}
