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

/* Children a failed assertion would leave running (the random-kill test's
 * producer and current consumer); teardown kills them. */
static pid_t live[2];

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        if (live[i] > 0)
            tu_wait_child(live[i], 0); /* kills and reaps */
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

/* --- consumer SIGKILLed at random times across many restarts --- */

#define CHAOS_KILLS 24

/* One consumer incarnation, as it left things when it died. */
struct chaos_inc {
    uint32_t attached; /* opened the ring and took the doorbell over */
    uint32_t fail;     /* nonzero: a check failed (code), at seq bad_seq */
    uint64_t bad_seq;
    uint64_t first;  /* first seq it peeked (0: none) */
    uint64_t rel_hi; /* stored before each release: seq released up to */
    uint64_t rel_lo; /* stored after each release completed */
};

struct chaos {
    uint64_t n;
    uint64_t maxseq;        /* highest seq delivered so far (progress) */
    uint64_t psum;          /* producer's fold of the record hashes */
    uint64_t allow;         /* the producer stops after this seq until it grows */
    uint32_t producer_done; /* the producer committed record n */
    struct chaos_inc inc[CHAOS_KILLS + 1];
    uint64_t *hash; /* [n + 1]: hash of the record delivered with each seq */
    uint8_t *seen;  /* [n + 1]: deliveries of each seq (saturates at 255) */
};

/* Hash of one record (seq, type, flags, payload), and the order-sensitive
 * fold of those hashes both sides compute over seqs 1..n. */
static uint64_t rec_hash(uint64_t seq, uint32_t type, uint32_t flags, const void *p, uint32_t len)
{
    return rec_sum(0xcbf29ce484222325ull, seq, type, flags, p, len);
}

static uint64_t fold(uint64_t acc, uint64_t h)
{
    return (acc ^ h) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
}

/* Producer: records 1..n in bursts of 1..1500 with pauses of 0.2..2 ms in
 * between, so that the consumer both streams and sleeps on its doorbell;
 * publishing every 4 KiB, so that the consumer peeks runs of records and
 * releases in the middle of them. It never runs past ks->allow, so that the
 * stream cannot end before the test has done its kills. */
static int produce_paced(struct chaos *ks, uint64_t seed)
{
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_PRODUCER) != 0)
        return 50;
    if (bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return 51;
    bus_ring_set_doorbell(r, bus_ctl_doorbell(ctl));
    if (bus_ring_set_publish_batch(r, 4096) != 0)
        return 54;
    uint64_t rnd = seed ^ 0x5bd1e995u, acc = 0, burst = 0;
    for (uint64_t seq = 1; seq <= ks->n; seq++) {
        if (seq > ck_pr_load_64(&ks->allow)) {
            bus_ring_flush(r);
            while (seq > ck_pr_load_64(&ks->allow))
                tu_sleep_us(100);
        }
        if (burst-- == 0) {
            bus_ring_flush(r);
            tu_sleep_us(200 + (unsigned)(tu_rand(&rnd) % 1800));
            burst = tu_rand(&rnd) % 1500;
        }
        uint32_t len = tu_len(seq, MAXLEN), type = (uint32_t)(seq & 0xffff), flags = len ^ 0xa5;
        void *p;
        if (bus_ring_claim_wait(r, len, &p, UINT64_MAX) != 0)
            return 52;
        tu_fill(p, len, seq);
        acc = fold(acc, rec_hash(seq, type, flags, p, len));
        if (bus_ring_commit(r, type, flags, len) != 0)
            return 53;
    }
    ks->psum = acc;
    ck_pr_store_32(&ks->producer_done, 1);
    bus_ring_close(r);
    bus_ctl_close(ctl);
    return 0;
}

static int chaos_fail(struct chaos_inc *me, uint32_t code, uint64_t seq)
{
    me->bad_seq = seq;
    ck_pr_store_32(&me->fail, code);
    return (int)code;
}

/* Releases everything peeked, bracketed by the two markers the test uses to
 * bound where the tail was if the kill lands in between. */
static void chaos_release(bus_ring *r, struct chaos_inc *me, uint64_t prev)
{
    if (prev == 0)
        return;
    ck_pr_store_64(&me->rel_hi, prev);
    bus_ring_release(r);
    ck_pr_store_64(&me->rel_lo, prev);
}

/* Checks one delivered record and notes it. Returns 0 or a failure code. */
static int chaos_note(struct chaos *ks, const bus_ring_rec *rec)
{
    uint32_t len = tu_len(rec->seq, MAXLEN);
    if (rec->seq == 0 || rec->seq > ks->n)
        return 61;
    if (rec->len != len || rec->type != (rec->seq & 0xffff) || rec->flags != (len ^ 0xa5) ||
        !tu_check(rec->data, rec->len, rec->seq))
        return 62;
    ks->hash[rec->seq] = rec_hash(rec->seq, rec->type, rec->flags, rec->data, rec->len);
    if (ks->seen[rec->seq] < 255)
        ks->seen[rec->seq]++;
    if (rec->seq > ck_pr_load_64(&ks->maxseq))
        ck_pr_store_64(&ks->maxseq, rec->seq);
    return 0;
}

/* Consumer incarnation k: attaches as the runtime does (doorbell taken
 * over), then peeks, checks and releases in batches of 1..37, sleeping on the
 * doorbell when idle, until killed; the last one (final) stops once the
 * producer is done and the ring is empty. */
static int chaos_consume(struct chaos *ks, unsigned k, int final)
{
    struct chaos_inc *me = &ks->inc[k];
    bus_ring *r;
    bus_ctl *ctl;
    if (bus_ring_open(&r, ring_name, BUS_RING_CONSUMER) != 0 ||
        bus_ctl_open(&ctl, ctl_name, BUS_CTL_RW) != 0)
        return chaos_fail(me, 60, 0);
    bus_doorbell *db = bus_ctl_doorbell(ctl);
    bus_doorbell_reset(db);
    ck_pr_store_32(&me->attached, 1);
    uint64_t prev = 0, since = 0;
    for (;;) {
        bus_ring_rec rec;
        int rc = bus_ring_peek(r, &rec);
        if (rc == MESH_EAGAIN) {
            chaos_release(r, me, prev);
            since = 0;
            if (final && ck_pr_load_32(&ks->producer_done) && !bus_ring_ready(r))
                break;
            /* the final one re-checks producer_done every 20 ms */
            rc = bus_wait_idle(NULL, db, ring_ready, r, final ? 20000000ull : IDLE_LIMIT);
            if (rc != 0 && !final)
                return chaos_fail(me, 63, prev);
            continue;
        }
        if (rc != 0)
            return chaos_fail(me, 64, prev);
        if (prev == 0)
            ck_pr_store_64(&me->first, rec.seq);
        else if (rec.seq != prev + 1)
            return chaos_fail(me, 65, rec.seq); /* gap or reorder */
        if ((rc = chaos_note(ks, &rec)) != 0)
            return chaos_fail(me, (uint32_t)rc, rec.seq);
        prev = rec.seq;
        if (++since >= 1 + rec.seq % 37) {
            chaos_release(r, me, prev);
            since = 0;
        }
    }
    bus_ring_close(r);
    bus_ctl_close(ctl);
    return 0;
}

/* After incarnation k ended: it saw no gap and failed no check, and it
 * resumed right after the last record its predecessors released, which the
 * markers bound to [*lo, *hi]; then narrows the bounds to k's last release. */
static void chaos_check(struct chaos *ks, unsigned k, uint64_t *lo, uint64_t *hi, uint64_t seed)
{
    const struct chaos_inc *me = &ks->inc[k];
    cr_assert_eq(me->fail, 0, "seed %lu: consumer %u failed check %u at seq %lu", seed, k, me->fail,
                 me->bad_seq);
    if (me->first == 0)
        return; /* killed before its first record: the tail did not move */
    cr_assert(me->first >= *lo + 1 && me->first <= *hi + 1,
              "seed %lu: consumer %u resumed at seq %lu, but the tail was after seq %lu..%lu", seed,
              k, me->first, *lo, *hi);
    uint64_t base = me->first - 1;
    *lo = me->rel_hi == 0 ? base : me->rel_lo != 0 ? me->rel_lo : base;
    *hi = me->rel_hi == 0 ? base : me->rel_hi;
}

/* Waits (bounded) until the consumer delivered up to `target`, and then
 * until it is asleep in FUTEX_WAIT (`asleep`) or busy delivering records
 * (not `asleep`: its progress moved between two looks, or, if this process
 * looked too late, it has taken all the producer may send). Returns 1 if it
 * returned with the consumer asleep. */
static int chaos_await(struct chaos *ks, bus_ctl *ctl, pid_t pid, uint64_t target, int asleep,
                       uint64_t seed)
{
    uint64_t allow = ck_pr_load_64(&ks->allow);
    bus_ctl_snapshot snap;
    char state = '?';
    unsigned long long ticks;
    uint64_t seen = 0;
    for (unsigned i = 0; i < 600000; i++) { /* 100 us steps: 60 s */
        bus_ctl_snapshot_get(ctl, &snap);
        int zz = snap.doorbell_sleeping && tu_proc_stat(pid, &state, &ticks) == 0 && state == 'S';
        uint64_t now = ck_pr_load_64(&ks->maxseq);
        if (now >= target && (asleep ? zz : (now != seen && seen >= target) || now >= allow))
            return zz;
        seen = now;
        tu_sleep_us(asleep ? 100 : 10);
    }
    cr_assert_fail("seed %lu: consumer never reached seq %lu%s (at %lu)", seed, target,
                   asleep ? " and slept" : "", ck_pr_load_64(&ks->maxseq));
    return 0;
}

Test(proc, consumer_killed_at_random_times_across_restarts_loses_nothing)
{
    const uint64_t n = tu_scaled(200000, 20000);
    const char *env = getenv("MESH_TEST_SEED");
    uint64_t seed =
        env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    cr_log_info("consumer kill test: seed %lu (rerun with MESH_TEST_SEED=%lu), %lu records", seed,
                seed, n);
    cr_assert_eq(bus_ring_create(ring_name, 1u << 16, 0, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_ctl_create(ctl_name), 0);
    struct chaos *ks = tu_shared(sizeof(*ks));
    cr_assert_not_null(ks);
    ks->n = n;
    ks->allow = n / (CHAOS_KILLS + 2);
    ks->hash = tu_shared((n + 1) * sizeof(uint64_t));
    ks->seen = tu_shared(n + 1);
    cr_assert(ks->hash != NULL && ks->seen != NULL);
    bus_ctl *ctl;
    cr_assert_eq(bus_ctl_open(&ctl, ctl_name, BUS_CTL_RO), 0);
    pid_t prod = live[0] = fork();
    if (prod == 0)
        _exit(produce_paced(ks, seed));
    uint64_t rnd = seed | 1, lo = 0, hi = 0, step = n / (CHAOS_KILLS + 2);
    unsigned mode0 = (unsigned)(tu_rand(&rnd) % 3), asleep_kills = 0, early_kills = 0;
    for (unsigned k = 0; k < CHAOS_KILLS; k++) {
        pid_t c = live[1] = fork();
        if (c == 0)
            _exit(chaos_consume(ks, k, 0));
        /* Where to kill: every third one just after attaching (a random few
         * us later), every third asleep on the doorbell, the others while
         * streaming (peek, check, release) a random 0..100 us after it was
         * seen delivering past a random point of the stream. */
        unsigned mode = (mode0 + k) % 3;
        uint64_t target = (k + 1) * step + tu_rand(&rnd) % step;
        ck_pr_store_64(&ks->allow, target + step); /* < n: (k + 3) * step at most */
        if (mode == 0) {
            for (unsigned i = 0; !ck_pr_load_32(&ks->inc[k].attached) && i < 600000; i++)
                tu_sleep_us(100);
            tu_sleep_us((unsigned)(tu_rand(&rnd) % 200));
            early_kills++;
        } else if (chaos_await(ks, ctl, c, target, mode == 1, seed)) {
            asleep_kills++;
        } else {
            tu_sleep_us((unsigned)(tu_rand(&rnd) % 100));
        }
        cr_assert_eq(kill(c, SIGKILL), 0);
        int st = tu_wait_child(c, 10); /* reaped: never kill that pid again */
        live[1] = 0;
        cr_assert_eq(st, 128 + SIGKILL, "seed %lu: consumer %u ended with %d (check %u)", seed, k,
                     st, ks->inc[k].fail);
        chaos_check(ks, k, &lo, &hi, seed);
    }
    ck_pr_store_64(&ks->allow, n);
    pid_t c = live[1] = fork();
    if (c == 0)
        _exit(chaos_consume(ks, CHAOS_KILLS, 1));
    int cst = tu_wait_child(c, CHILD_LIMIT);
    live[1] = 0;
    cr_assert_eq(cst, 0, "seed %lu: last consumer failed (check %u)", seed,
                 ks->inc[CHAOS_KILLS].fail);
    int pst = tu_wait_child(prod, CHILD_LIMIT);
    live[0] = 0;
    cr_assert_eq(pst, 0, "seed %lu: producer failed", seed);
    chaos_check(ks, CHAOS_KILLS, &lo, &hi, seed);
    cr_assert_eq(hi, n, "seed %lu: the last consumer released up to %lu of %lu", seed, hi, n);
    uint64_t missing = 0, again = 0, acc = 0;
    for (uint64_t s = 1; s <= n; s++) {
        missing += ks->seen[s] == 0;
        again += ks->seen[s] > 1 ? ks->seen[s] - 1u : 0;
        acc = fold(acc, ks->hash[s]);
    }
    cr_log_info("seed %lu: %u kills (%u just after attach, %u asleep on the doorbell), %lu "
                "records delivered again after a restart",
                seed, CHAOS_KILLS, early_kills, asleep_kills, again);
    cr_assert_eq(missing, 0, "seed %lu: %lu records never delivered", seed, missing);
    cr_assert_eq(acc, ks->psum, "seed %lu: record checksums differ from the producer's", seed);
    cr_assert_geq(asleep_kills, CHAOS_KILLS / 3, "seed %lu: kills asleep on the doorbell", seed);
    bus_ring *obs;
    bus_ring_stats rs;
    cr_assert_eq(bus_ring_open(&obs, ring_name, BUS_RING_OBSERVER), 0);
    bus_ring_stats_get(obs, &rs);
    cr_assert_eq(rs.messages, n);
    cr_assert_eq(rs.head, rs.tail, "everything released");
    cr_assert_eq(rs.drops, 0);
    bus_ring_close(obs);
    bus_ctl_close(ctl);
}
