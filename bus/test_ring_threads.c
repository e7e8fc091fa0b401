/* Cross-thread stress of the ring and the doorbell, in suite 'concurrency'
 * so that it also runs under ThreadSanitizer. A plain program, not Criterion:
 * Criterion 2.4 cannot start under TSan ("Could not initialize inheritable
 * arena", Criterion issue #274: its arena probes addresses TSan reserves).
 * Exit status 0 = all checks passed; a failed check prints where and exits 1. */
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <ck_pr.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int ring_ready(void *arg)
{
    return bus_ring_ready(arg);
}

/* --- ring stress: random claim sizes, shorter commits, aborted claims,
 * batch releases of random length, many wraps --- */

struct stress {
    void *mem;
    size_t len;
    uint64_t n;
    enum bus_wait_kind kind;
    bus_doorbell db; /* the consumer's, rung by the producer */
};

static void *stress_producer(void *arg)
{
    struct stress *s = arg;
    bus_ring *r;
    if (bus_ring_open_mem(&r, s->mem, s->len, BUS_RING_PRODUCER) != 0)
        return (void *)1;
    bus_wait_cfg cfg;
    bus_wait_cfg_default(&cfg);
    cfg.kind = s->kind;
    bus_ring_set_wait(r, &cfg);
    bus_ring_set_doorbell(r, &s->db);
    uint32_t max = bus_ring_max_record(r);
    uint64_t rnd = 7;
    for (uint64_t seq = 1; seq <= s->n;) {
        uint64_t x = tu_rand(&rnd);
        uint32_t len = tu_len(seq, max);
        uint32_t extra = (uint32_t)(x % 64); /* claim more than will be used */
        void *p;
        if (bus_ring_claim_wait(r, len + extra > max ? max : len + extra, &p, UINT64_MAX) != 0)
            return (void *)2;
        if ((x >> 16) % 16 == 0) { /* change of mind: nothing may show */
            memset(p, 0xee, len);
            bus_ring_abort(r);
            continue;
        }
        tu_fill(p, len, seq);
        if (bus_ring_commit(r, (uint32_t)seq, len, len) != 0)
            return (void *)3;
        seq++;
    }
    bus_ring_close(r);
    return NULL;
}

static void ring_stress(const char *what, uint64_t cap, enum bus_wait_kind kind, uint64_t n)
{
    struct stress s = {.len = bus_ring_segment_size(cap), .n = n, .kind = kind};
    s.mem = malloc(s.len);
    CHECK(bus_ring_format(s.mem, s.len, cap, 0, BUS_RING_POLICY_WAIT) == 0, "%s", what);
    bus_doorbell_init(&s.db);
    bus_ring *c;
    CHECK(bus_ring_open_mem(&c, s.mem, s.len, BUS_RING_CONSUMER) == 0, "%s", what);
    bus_wait_cfg cfg;
    bus_wait_cfg_default(&cfg);
    cfg.kind = kind;
    uint32_t max = bus_ring_max_record(c);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, stress_producer, &s) == 0, "%s", what);
    uint64_t rnd = 99, expect = 1, unreleased = 0, batch = 1;
    while (expect <= n) {
        bus_ring_rec rec;
        int rc = bus_ring_peek(c, &rec);
        if (rc == MESH_EAGAIN) {
            bus_ring_release(c); /* the producer may be waiting for space */
            unreleased = 0;
            rc = bus_wait_idle(&cfg, &s.db, ring_ready, c, 20000000000ull);
            CHECK(rc == 0, "%s: no record for 20 s at %lu", what, (unsigned long)expect);
            continue;
        }
        CHECK(rc == 0, "%s: peek: %s", what, mesh_strerror(rc));
        uint32_t len = tu_len(expect, max);
        CHECK(rec.seq == expect && rec.type == (uint32_t)expect && rec.len == len &&
                  rec.flags == len,
              "%s: record %lu: seq %lu type %u len %u flags %u", what, (unsigned long)expect,
              (unsigned long)rec.seq, rec.type, rec.len, rec.flags);
        CHECK(tu_check(rec.data, rec.len, expect), "%s: payload of %lu", what,
              (unsigned long)expect);
        expect++;
        if (++unreleased >= batch) {
            bus_ring_release(c);
            unreleased = 0;
            batch = 1 + tu_rand(&rnd) % 16;
        }
    }
    void *res;
    pthread_join(t, &res);
    CHECK(res == NULL, "%s: producer failed at step %p", what, res);
    bus_ring_rec rec;
    CHECK(bus_ring_peek(c, &rec) == MESH_EAGAIN, "%s: aborted claims left something", what);
    bus_ring_close(c);
    free(s.mem);
    printf("ok %s: %lu records\n", what, (unsigned long)n);
}

/* --- lost-wakeup stress: a producer thread pushes short bursts into three
 * rings, then waits until the consumer has taken them all, so every burst
 * depends on its wakeup; the consumer waits on one doorbell for all three
 * rings with a tiny spin, so it is often just going to sleep when a burst
 * comes. A sleep that runs to its timeout means a wakeup was lost. --- */

#define NRINGS     3
#define LOST_AFTER 5000000000ull
struct bell {
    void *mem[NRINGS];
    size_t len;
    bus_doorbell db;
    uint64_t n;
    bus_ring *cons[NRINGS];
    _Atomic uint64_t consumed;
    _Atomic int gave_up;
};

static void *bell_producer(void *arg)
{
    struct bell *s = arg;
    bus_ring *p[NRINGS];
    for (int i = 0; i < NRINGS; i++) {
        if (bus_ring_open_mem(&p[i], s->mem[i], s->len, BUS_RING_PRODUCER) != 0)
            return (void *)1;
        bus_ring_set_doorbell(p[i], &s->db);
    }
    uint64_t rnd = 42;
    for (uint64_t k = 1; k <= s->n;) {
        uint64_t x = tu_rand(&rnd);
        if ((x >> 56) % 4 == 0)
            tu_sleep_us(20); /* surely asleep: the ring must wake it */
        else
            for (volatile uint64_t d = (x >> 20) % 256; d > 0; d--) /* race its way to sleep */
                ;
        for (uint64_t b = 1 + (x >> 40) % 3; b > 0 && k <= s->n; b--, k++) {
            int i = (int)((x >> (8 * b)) % NRINGS);
            if (bus_ring_push_wait(p[i], (uint32_t)i, &k, sizeof(k), UINT64_MAX) != 0)
                return (void *)2;
        }
        /* Busy-wait (not yield) so the next burst lands while the consumer
         * is on its way to sleep, where a broken protocol loses the wakeup. */
        for (unsigned spin = 0; atomic_load(&s->consumed) < k - 1 && !atomic_load(&s->gave_up);
             spin++) {
            if ((spin & 0xffff) == 0xffff)
                sched_yield(); /* in case we share one core with the consumer */
        }
        if (atomic_load(&s->gave_up))
            break;
    }
    for (int i = 0; i < NRINGS; i++)
        bus_ring_close(p[i]);
    return NULL;
}

static int any_ready(void *arg)
{
    struct bell *s = arg;
    for (int i = 0; i < NRINGS; i++)
        if (bus_ring_ready(s->cons[i]))
            return 1;
    return 0;
}

static uint64_t bell_drain(struct bell *s, uint64_t *last, uint64_t got)
{
    for (int i = 0; i < NRINGS; i++) {
        uint64_t k;
        bus_ring_rec rec;
        while (bus_ring_pop(s->cons[i], &rec, &k, sizeof(k)) == 0) {
            CHECK(k > last[i] && rec.type == (uint32_t)i, "ring %d: %lu after %lu", i,
                  (unsigned long)k, (unsigned long)last[i]);
            last[i] = k;
            got++;
        }
    }
    return got;
}

static void doorbell_stress(uint64_t n)
{
    static struct bell s;
    s.n = n;
    s.len = bus_ring_segment_size(1024);
    bus_doorbell_init(&s.db);
    for (int i = 0; i < NRINGS; i++) {
        s.mem[i] = malloc(s.len);
        CHECK(bus_ring_format(s.mem[i], s.len, 1024, 0, BUS_RING_POLICY_WAIT) == 0, "format");
        CHECK(bus_ring_open_mem(&s.cons[i], s.mem[i], s.len, BUS_RING_CONSUMER) == 0, "open");
    }
    bus_wait_cfg cfg = {.kind = BUS_WAIT_ADAPTIVE, .spin = 1, .yield = 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, bell_producer, &s) == 0, "thread");
    uint64_t got = 0, last[NRINGS] = {0};
    while (got < s.n) {
        uint64_t before = got;
        got = bell_drain(&s, last, got);
        atomic_store(&s.consumed, got);
        if (got != before)
            continue;
        /* The producer waits for us: a sleep that times out was not rung. */
        if (bus_wait_idle(&cfg, &s.db, any_ready, &s, LOST_AFTER) != 0 ||
            ck_pr_load_64(&s.db.timeouts) != 0) {
            atomic_store(&s.gave_up, 1);
            break;
        }
    }
    void *res;
    pthread_join(t, &res);
    CHECK(res == NULL, "producer failed at step %p", res);
    CHECK(ck_pr_load_64(&s.db.timeouts) == 0, "lost wakeup after %lu of %lu messages",
          (unsigned long)got, (unsigned long)s.n);
    CHECK(got == s.n, "got %lu of %lu", (unsigned long)got, (unsigned long)s.n);
    uint64_t sleeps = ck_pr_load_64(&s.db.sleeps);
    CHECK(sleeps > s.n / 100, "the consumer slept only %lu times", (unsigned long)sleeps);
    for (int i = 0; i < NRINGS; i++) {
        bus_ring_close(s.cons[i]);
        free(s.mem[i]);
    }
    printf("ok doorbell: %lu messages, %lu sleeps, %lu rung\n", (unsigned long)s.n,
           (unsigned long)sleeps, (unsigned long)ck_pr_load_64(&s.db.wakes));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: test_bus_ring_threads [--help]\n"
               "  Cross-thread ring stress and lost-wakeup stress (also under TSan);\n"
               "  exit 0 = all checks passed, 1 = a check failed (printed), 2 = bad usage.\n"
               "  MESH_TEST_SCALE (default 1) scales the record counts.\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "test_bus_ring_threads: unknown argument '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    ring_stress("small ring, many wraps, spinning", 256, BUS_WAIT_SPIN, tu_scaled(500000, 20000));
    ring_stress("medium ring, adaptive waits", 4096, BUS_WAIT_ADAPTIVE, tu_scaled(200000, 20000));
    doorbell_stress(tu_scaled(200000, 5000));
    return 0;
}
