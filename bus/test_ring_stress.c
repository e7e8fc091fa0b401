/* Cross-thread stress of the SPSC ring (suite 'concurrency', run under TSan):
 * random claim sizes, shorter commits, aborted claims, batch releases of
 * random length, many wraps of small rings. */
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <pthread.h>

struct stress {
    void *mem;
    size_t len;
    uint64_t n;
    enum bus_wait_kind kind;
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    bus_ring *r;
    if (bus_ring_open_mem(&r, s->mem, s->len, BUS_RING_PRODUCER) != 0)
        return (void *)1;
    bus_wait_cfg cfg;
    bus_wait_cfg_default(&cfg);
    cfg.kind = s->kind;
    bus_ring_set_wait(r, &cfg);
    uint32_t max = bus_ring_max_record(r);
    uint64_t rnd = 7;
    for (uint64_t seq = 1; seq <= s->n;) {
        uint64_t x = tu_rand(&rnd);
        uint32_t len = tu_len(seq, max);
        uint32_t extra = (uint32_t)(x % 64); /* claim more than we will use */
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

static void run_stress(uint64_t cap, enum bus_wait_kind kind, uint64_t n)
{
    struct stress s = {.len = bus_ring_segment_size(cap), .n = n, .kind = kind};
    s.mem = malloc(s.len);
    cr_assert_eq(bus_ring_format(s.mem, s.len, cap, 0, BUS_RING_POLICY_WAIT), 0);
    bus_ring *c;
    cr_assert_eq(bus_ring_open_mem(&c, s.mem, s.len, BUS_RING_CONSUMER), 0);
    uint32_t max = bus_ring_max_record(c);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, producer, &s), 0);
    uint64_t rnd = 99, expect = 1, unreleased = 0, batch = 1;
    while (expect <= n) {
        bus_ring_rec rec;
        int rc = bus_ring_peek(c, &rec);
        if (rc == MESH_EAGAIN) {
            bus_ring_release(c); /* the producer may be waiting for space */
            unreleased = 0;
            if (kind == BUS_WAIT_SPIN)
                continue;
            sched_yield();
            continue;
        }
        cr_assert_eq(rc, 0);
        uint32_t len = tu_len(expect, max);
        cr_assert_eq(rec.seq, expect, "seq");
        cr_assert_eq(rec.type, (uint32_t)expect);
        cr_assert_eq(rec.len, len);
        cr_assert_eq(rec.flags, len);
        cr_assert(tu_check(rec.data, rec.len, expect), "payload of %lu", expect);
        expect++;
        if (++unreleased >= batch) {
            bus_ring_release(c);
            unreleased = 0;
            batch = 1 + tu_rand(&rnd) % 16;
        }
    }
    void *res;
    pthread_join(t, &res);
    cr_assert_null(res, "producer failed: %p", res);
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_EAGAIN, "aborted claims left nothing");
    bus_ring_close(c);
    free(s.mem);
}

Test(stress, small_ring_many_wraps_spinning, .timeout = 120)
{
    run_stress(256, BUS_WAIT_SPIN, tu_scaled(1000000, 20000));
}

Test(stress, medium_ring_adaptive_waits, .timeout = 120)
{
    run_stress(4096, BUS_WAIT_ADAPTIVE, tu_scaled(500000, 20000));
}
