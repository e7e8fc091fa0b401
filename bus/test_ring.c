/* In-process tests for the SPSC ring: record framing and wrap at every
 * offset and length, full/empty edges, claim/commit rules, batch release,
 * drop policy and full waits, skipped sequence numbers, the observer. */
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <pthread.h>

/* A ring formatted over malloc'ed memory of exactly the segment size, so
 * ASan flags any access outside it. */
typedef struct {
    void *mem;
    size_t len;
    bus_ring *prod, *cons;
} mem_ring;

static void mr_open(mem_ring *m, uint64_t cap, uint32_t max_record, enum bus_ring_policy pol)
{
    m->len = bus_ring_segment_size(cap);
    m->mem = malloc(m->len);
    cr_assert_not_null(m->mem);
    cr_assert_eq(bus_ring_format(m->mem, m->len, cap, max_record, pol), 0);
    cr_assert_eq(bus_ring_open_mem(&m->prod, m->mem, m->len, BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ring_open_mem(&m->cons, m->mem, m->len, BUS_RING_CONSUMER), 0);
}

static void mr_close(mem_ring *m)
{
    bus_ring_close(m->prod);
    bus_ring_close(m->cons);
    free(m->mem);
}

static uint64_t rec_bytes(uint32_t len) /* header 24 + payload, rounded up to 8 */
{
    return (24u + len + 7u) / 8u * 8u;
}

/* Pushes and pops filler records until the head sits at offset `off`; *pos
 * follows the ring's head. */
static void move_to_offset(mem_ring *m, uint64_t cap, uint64_t off, uint64_t *pos, uint64_t *seq)
{
    uint8_t buf[256] = {0};
    for (;;) {
        uint64_t o = *pos % cap;
        if (o == off)
            return;
        uint64_t room = cap - o, dist = (off + cap - o) % cap;
        uint64_t step = dist < room ? dist : room;
        if (step < 24) /* no record that small: pad to the end, or go round */
            step = step == room ? 24 : room;
        uint64_t c = step > 256 ? 256 : step;
        if (step - c > 0 && step - c < 24)
            c -= 24; /* leave room for one more minimal record */
        if (c < 24)
            c = 24;
        cr_assert_eq(bus_ring_push(m->prod, 7, buf, c - 24), 0);
        cr_assert_eq(bus_ring_pop(m->cons, NULL, buf, sizeof(buf)), 0);
        (*seq)++;
        bus_ring_stats st;
        bus_ring_stats_get(m->prod, &st);
        *pos = st.head;
    }
}

Test(ring, framing_and_wrap_at_every_offset_and_length)
{
    const uint64_t cap = 1024;
    const uint32_t maxrec = 1024 / 4 - 24; /* 232: default max_record */
    mem_ring m;
    mr_open(&m, cap, 0, BUS_RING_POLICY_WAIT);
    cr_assert_eq(bus_ring_max_record(m.prod), maxrec);
    uint64_t pos = 0, seq = 0;
    uint8_t in[256], out[256];
    for (uint32_t len = 0; len <= maxrec; len++) {
        /* Every 8-aligned start offset, hence every distance to the wrap
         * point (8 .. capacity). Offsets 8 and 16 cannot start a record:
         * after a wrap the first record is at 0 and takes at least 24. */
        for (uint64_t off = 0; off < cap; off += 8) {
            if (off == 8 || off == 16)
                continue;
            move_to_offset(&m, cap, off, &pos, &seq);
            /* Two records in flight, so one may sit on each side of the wrap. */
            for (int k = 0; k < 2; k++) {
                tu_fill(in, len, seq + 1 + (uint64_t)k);
                cr_assert_eq(bus_ring_push(m.prod, 1000 + len, in, len), 0);
                /* Expected head: a record that does not fit before the end of
                 * the data area is preceded by padding up to the end. */
                uint64_t o = pos % cap;
                pos += (o + rec_bytes(len) > cap ? cap - o : 0) + rec_bytes(len);
            }
            for (int k = 0; k < 2; k++) {
                bus_ring_rec rec;
                seq++;
                cr_assert_eq(bus_ring_pop(m.cons, &rec, out, sizeof(out)), 0);
                cr_assert_eq(rec.len, len);
                cr_assert_eq(rec.type, 1000 + len);
                cr_assert_eq(rec.seq, seq, "seq %lu at offset %lu len %u", rec.seq, off, len);
                cr_assert_eq(rec.flags, 0);
                cr_assert(tu_check(out, len, seq), "payload len %u offset %lu", len, off);
            }
            bus_ring_stats st;
            bus_ring_stats_get(m.prod, &st);
            cr_assert_eq(st.head, pos, "head after len %u at offset %lu", len, off);
            cr_assert_eq(st.tail, pos);
            cr_assert_eq(st.next_seq, seq + 1);
        }
    }
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_peek(m.cons, &rec), MESH_EAGAIN);
    mr_close(&m);
}

Test(ring, empty_and_full_edges)
{
    /* capacity 256: max_record 256/4 - 24 = 40; a 40-byte record takes
     * 24 + 40 = 64 bytes, so exactly 256 / 64 = 4 fit. */
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_WAIT);
    bus_ring_rec rec;
    uint8_t buf[64] = {0};
    void *p;
    cr_assert_eq(bus_ring_peek(m.cons, &rec), MESH_EAGAIN, "new ring is empty");
    cr_assert_eq(bus_ring_ready(m.cons), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bus_ring_push(m.prod, 1, buf, 40), 0);
    cr_assert_eq(bus_ring_push(m.prod, 1, buf, 40), MESH_EAGAIN, "full at exactly capacity");
    cr_assert_eq(bus_ring_push(m.prod, 1, buf, 0), MESH_EAGAIN, "not even 24 bytes free");
    bus_ring_stats st;
    bus_ring_stats_get(m.cons, &st);
    cr_assert_eq(st.depth, 256);
    cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
    cr_assert_eq(rec.seq, 1);
    cr_assert_eq(bus_ring_claim(m.prod, 40, &p), 0, "one record's space freed");
    cr_assert_eq(bus_ring_commit(m.prod, 2, 0, 40), 0);
    for (uint64_t s = 2; s <= 5; s++) {
        cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
        cr_assert_eq(rec.seq, s);
    }
    cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), MESH_EAGAIN, "drained");
    mr_close(&m);
}

Test(ring, minimal_records_fill_then_wrap_with_padding)
{
    /* 0-byte records take 24 bytes: 10 fit in 256 (240 bytes). The 11th
     * would need 16 bytes of padding (256 - 240) + 24 = 40 > 256 - 240. */
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_WAIT);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(bus_ring_push(m.prod, 3, NULL, 0), 0);
    cr_assert_eq(bus_ring_push(m.prod, 3, NULL, 0), MESH_EAGAIN);
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_pop(m.cons, &rec, NULL, 0), 0);
    /* tail 24: 240 + 40 - 24 = 256 <= capacity, so it fits now. */
    cr_assert_eq(bus_ring_push(m.prod, 3, NULL, 0), 0);
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.head, 256 + 24, "padding 16 then the record at offset 0");
    for (uint64_t s = 2; s <= 11; s++) {
        cr_assert_eq(bus_ring_pop(m.cons, &rec, NULL, 0), 0);
        cr_assert_eq(rec.seq, s);
        cr_assert_eq(rec.len, 0);
    }
    mr_close(&m);
}

Test(ring, claim_and_commit_rules)
{
    mem_ring m;
    mr_open(&m, 4096, 0, BUS_RING_POLICY_WAIT);
    void *p, *q;
    /* max_record = 4096/4 - 24 = 1000 */
    cr_assert_eq(bus_ring_claim(m.prod, 1001, &p), MESH_ETOOBIG);
    cr_assert_eq(bus_ring_commit(m.prod, 1, 0, 0), MESH_ESTATE, "no claim open");
    cr_assert_eq(bus_ring_claim(m.prod, 1000, &p), 0);
    cr_assert_eq((uintptr_t)p % 8, 0, "payload is 8-aligned");
    cr_assert_eq(bus_ring_claim(m.prod, 8, &q), MESH_ESTATE, "one claim at a time");
    cr_assert_eq(bus_ring_commit(m.prod, 1, 0, 1001), MESH_EINVAL, "more than claimed");
    cr_assert_eq(bus_ring_commit(m.prod, BUS_RING_TYPE_PAD, 0, 1), MESH_EINVAL);
    memcpy(p, "abcdefghij", 10);
    cr_assert_eq(bus_ring_commit(m.prod, 42, 0x5, 10), 0, "commit less than claimed");
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.head, 40, "24 + 10 rounded up to 8");
    cr_assert_eq(st.bytes, 10);
    /* An aborted claim leaves nothing behind. */
    cr_assert_eq(bus_ring_claim(m.prod, 64, &p), 0);
    memset(p, 0xee, 64);
    bus_ring_abort(m.prod);
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_peek(m.cons, &rec), 0);
    cr_assert_eq(rec.type, 42);
    cr_assert_eq(rec.flags, 0x5);
    cr_assert_eq(rec.len, 10);
    cr_assert_eq(memcmp(rec.data, "abcdefghij", 10), 0);
    cr_assert_eq(bus_ring_peek(m.cons, &rec), MESH_EAGAIN, "abort published nothing");
    cr_assert_eq(bus_ring_claim(m.cons, 8, &p), MESH_ESTATE, "consumer cannot claim");
    cr_assert_eq(bus_ring_peek(m.prod, &rec), MESH_ESTATE, "producer cannot peek");
    mr_close(&m);
}

Test(ring, batch_release_publishes_once_and_reattach_redelivers)
{
    mem_ring m;
    mr_open(&m, 4096, 0, BUS_RING_POLICY_WAIT);
    uint8_t in[100];
    for (uint32_t i = 1; i <= 5; i++) {
        tu_fill(in, 10 * i, i);
        cr_assert_eq(bus_ring_push(m.prod, i, in, 10 * i), 0);
    }
    bus_ring_rec r[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bus_ring_peek(m.cons, &r[i]), 0);
        cr_assert_eq(r[i].seq, (uint64_t)i + 1);
    }
    for (int i = 0; i < 3; i++) /* all three stay readable until release */
        cr_assert(tu_check(r[i].data, r[i].len, r[i].seq));
    bus_ring_stats st;
    bus_ring_stats_get(m.cons, &st);
    cr_assert_eq(st.tail, 0, "nothing released yet");
    bus_ring_release(m.cons);
    bus_ring_stats_get(m.cons, &st);
    /* records of 10, 20, 30 bytes: 40 + 48 + 56 = 144 */
    cr_assert_eq(st.tail, 144);
    cr_assert_eq(bus_ring_peek(m.cons, &r[0]), 0);
    cr_assert_eq(r[0].seq, 4);
    /* A new consumer handle resumes at the released position: seq 4 again. */
    bus_ring_close(m.cons);
    cr_assert_eq(bus_ring_open_mem(&m.cons, m.mem, m.len, BUS_RING_CONSUMER), 0);
    cr_assert_eq(bus_ring_peek(m.cons, &r[0]), 0);
    cr_assert_eq(r[0].seq, 4, "unreleased record is delivered again");
    mr_close(&m);
}

Test(ring, pop_reports_a_small_buffer_without_consuming)
{
    mem_ring m;
    mr_open(&m, 1024, 0, BUS_RING_POLICY_WAIT);
    uint8_t in[50], out[64];
    tu_fill(in, 50, 1);
    cr_assert_eq(bus_ring_push(m.prod, 9, in, 50), 0);
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_pop(m.cons, &rec, out, 49), MESH_EMSGSIZE);
    cr_assert_eq(rec.len, 50);
    cr_assert_null(rec.data);
    cr_assert_eq(bus_ring_pop(m.cons, &rec, out, 50), 0);
    cr_assert_eq(rec.seq, 1);
    cr_assert_eq(rec.data, out);
    cr_assert(tu_check(out, 50, 1));
    mr_close(&m);
}

Test(ring, drop_policy_counts_every_drop_and_leaves_a_sequence_gap)
{
    /* capacity 256, 40-byte payloads (64-byte records): 4 fit. */
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_DROP);
    uint8_t buf[40] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bus_ring_push_wait(m.prod, 1, buf, 40, UINT64_MAX), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(bus_ring_push_wait(m.prod, 1, buf, 40, UINT64_MAX), BUS_RING_DROPPED);
    cr_assert_neq(BUS_RING_DROPPED, MESH_EAGAIN);
    cr_assert_eq(bus_ring_push(m.prod, 1, buf, 40), MESH_EAGAIN, "non-blocking push: no drop");
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.drops, 3);
    cr_assert_eq(st.messages, 4);
    cr_assert_eq(st.next_seq, 8, "4 committed + 3 dropped, first is 1");
    cr_assert_eq(st.full_waits, 0, "a drop ring never waits");
    bus_ring_rec rec;
    for (uint64_t s = 1; s <= 4; s++) {
        cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
        cr_assert_eq(rec.seq, s);
    }
    cr_assert_eq(bus_ring_push_wait(m.prod, 1, buf, 40, UINT64_MAX), 0);
    cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
    cr_assert_eq(rec.seq, 8, "seqs 5, 6, 7 were dropped: the consumer sees the gap");
    mr_close(&m);
}

Test(ring, skip_consumes_sequence_numbers_as_drops_on_any_policy)
{
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_WAIT);
    uint8_t buf[40] = {0};
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_push(m.prod, 1, buf, 8), 0); /* seq 1 */
    cr_assert_eq(bus_ring_skip(m.prod, 5), 0);         /* seqs 2..6 lost upstream */
    cr_assert_eq(bus_ring_skip(m.prod, 0), 0);         /* nothing */
    cr_assert_eq(bus_ring_push(m.prod, 1, buf, 8), 0); /* seq 7 */
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.drops, 5);
    cr_assert_eq(st.messages, 2);
    cr_assert_eq(st.next_seq, 8, "2 committed + 5 skipped, first is 1");
    cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
    cr_assert_eq(rec.seq, 1);
    cr_assert_eq(bus_ring_pop(m.cons, &rec, buf, sizeof(buf)), 0);
    cr_assert_eq(rec.seq, 7, "the consumer sees the gap of 5");
    /* only an idle producer may skip */
    void *p;
    cr_assert_eq(bus_ring_claim(m.prod, 8, &p), 0);
    cr_assert_eq(bus_ring_skip(m.prod, 1), MESH_ESTATE, "claim open");
    bus_ring_abort(m.prod);
    cr_assert_eq(bus_ring_skip(m.cons, 1), MESH_ESTATE, "consumer handle");
    cr_assert_eq(bus_ring_skip(m.prod, UINT64_MAX - 3), MESH_EINVAL, "sequence would wrap");
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.next_seq, 8, "refused skips change nothing");
    cr_assert_eq(st.drops, 5);
    mr_close(&m);
}

Test(ring, wait_policy_times_out_without_losing_and_counts_full_waits)
{
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_WAIT);
    uint8_t buf[40] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bus_ring_push(m.prod, 1, buf, 40), 0);
    cr_assert_eq(bus_ring_push_wait(m.prod, 1, buf, 40, 2000000), MESH_ETIMEDOUT);
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.full_waits, 1);
    cr_assert_eq(st.drops, 0);
    cr_assert_eq(st.next_seq, 5, "a timed-out push consumes no sequence number");
    mr_close(&m);
}

struct popper {
    bus_ring *cons;
    int popped;
};

static void *pop_later(void *arg)
{
    struct popper *pp = arg;
    uint8_t buf[64];
    tu_sleep_ms(20); /* let the producer find the ring full and wait */
    while (pp->popped < 8) {
        if (bus_ring_pop(pp->cons, NULL, buf, sizeof(buf)) == 0)
            pp->popped++;
        else
            tu_sleep_ms(1);
    }
    return NULL;
}

Test(ring, waiting_producer_resumes_when_space_frees)
{
    mem_ring m;
    mr_open(&m, 256, 0, BUS_RING_POLICY_WAIT);
    uint8_t buf[40] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bus_ring_push(m.prod, 1, buf, 40), 0);
    struct popper pp = {m.cons, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, pop_later, &pp), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bus_ring_push_wait(m.prod, 1, buf, 40, UINT64_MAX), 0);
    pthread_join(t, NULL);
    bus_ring_stats st;
    bus_ring_stats_get(m.prod, &st);
    cr_assert_eq(st.messages, 8);
    cr_assert_geq(st.full_waits, 1);
    cr_assert_leq(st.full_waits, 4);
    cr_assert_eq(st.high_water, 256, "the consumer saw the ring full");
    mr_close(&m);
}

Test(ring, observer_copies_without_consuming)
{
    mem_ring m;
    mr_open(&m, 512, 0, BUS_RING_POLICY_WAIT);
    bus_ring *obs;
    cr_assert_eq(bus_ring_open_mem(&obs, m.mem, m.len, BUS_RING_OBSERVER), 0);
    uint8_t in[100], out[100];
    for (uint32_t i = 1; i <= 3; i++) {
        tu_fill(in, 30 + i, i);
        cr_assert_eq(bus_ring_push(m.prod, i, in, 30 + i), 0);
    }
    uint64_t cur = 0;
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_observe(obs, &cur, &rec, out, 10), MESH_EMSGSIZE);
    cr_assert_eq(rec.len, 31);
    for (uint64_t s = 1; s <= 3; s++) {
        cr_assert_eq(bus_ring_observe(obs, &cur, &rec, out, sizeof(out)), 0);
        cr_assert_eq(rec.seq, s);
        cr_assert(tu_check(out, rec.len, s));
    }
    cr_assert_eq(bus_ring_observe(obs, &cur, &rec, out, sizeof(out)), MESH_EAGAIN);
    bus_ring_stats st;
    bus_ring_stats_get(obs, &st);
    cr_assert_eq(st.tail, 0, "observer consumed nothing");
    cr_assert_eq(st.messages, 3);
    cr_assert_eq(bus_ring_peek(obs, &rec), MESH_ESTATE);
    /* The consumer frees the first two records (31 and 32 bytes: 24-byte
     * header + payload rounded up to 8 = 56 bytes each, at 0 and 56; the
     * third at 112; head 168, tail 112 after the pops). */
    uint64_t old = 0;
    cr_assert_eq(bus_ring_pop(m.cons, NULL, out, sizeof(out)), 0);
    cr_assert_eq(bus_ring_pop(m.cons, NULL, out, sizeof(out)), 0);
    cr_assert_eq(bus_ring_observe(obs, &old, &rec, out, sizeof(out)), 0, "0 = from tail");
    cr_assert_eq(rec.seq, 3);
    /* A released record stays readable while the producer is more than one
     * claim away from overwriting it: max_record = 512/4 - 24 = 104, a claim
     * spans at most 24 + 104 = 128 bytes, guard = 2 x 128 = 256; at 56:
     * head 168 + 256 = 424 <= 56 + 512 = 568. */
    old = 56;
    cr_assert_eq(bus_ring_observe(obs, &old, &rec, out, sizeof(out)), 0);
    cr_assert_eq(rec.seq, 2);
    cr_assert(tu_check(out, rec.len, 2));
    cr_assert_eq(old, 112);
    /* Three more 56-byte records: head 336, 336 + 256 = 592 > 568: the
     * record at 56 may be overwritten by the next claim, so the observer is
     * moved to the tail (still 112). */
    for (uint32_t i = 4; i <= 6; i++) {
        tu_fill(in, 30, i);
        cr_assert_eq(bus_ring_push(m.prod, i, in, 30), 0);
    }
    old = 56;
    cr_assert_eq(bus_ring_observe(obs, &old, &rec, out, sizeof(out)), MESH_ERANGE);
    cr_assert_eq(old, 112);
    bus_ring_close(obs);
    mr_close(&m);
}

Test(ring, format_rejects_bad_geometry)
{
    static uint64_t mem[4096];
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(1000), 1000, 0, 0), MESH_EINVAL);
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(128), 128, 0, 0), MESH_EINVAL);
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(1024), 1024, 233, 0), MESH_EINVAL,
                 "max_record above 1024/4 - 24 = 232");
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(1024) - 8, 1024, 0, 0), MESH_EINVAL);
    cr_assert_eq(bus_ring_format((char *)mem + 4, bus_ring_segment_size(1024), 1024, 0, 0),
                 MESH_EINVAL, "misaligned");
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(1024), 1024, 0, 7), MESH_EINVAL);
    cr_assert_eq(bus_ring_format(mem, bus_ring_segment_size(1024), 1024, 100, 1), 0);
    bus_ring *r;
    cr_assert_eq(bus_ring_open_mem(&r, mem, bus_ring_segment_size(1024), BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ring_max_record(r), 100);
    cr_assert_str_eq(bus_ring_name(r), "mem");
    bus_ring_close(r);
    bus_ring_close(NULL);
}

/* Publish batch mode: a 40-byte payload takes 24 + 40 = 64 ring bytes, so a
 * 256-byte batch holds 3 records back and publishes with the 4th. */
Test(ring, publish_batch_holds_records_back_until_the_batch_fills)
{
    mem_ring m;
    mr_open(&m, 1024, 0, BUS_RING_POLICY_WAIT);
    cr_assert_eq(bus_ring_set_publish_batch(m.prod, 1024 / 4 + 8), MESH_EINVAL, "> cap/4");
    cr_assert_eq(bus_ring_set_publish_batch(m.cons, 256), MESH_ESTATE, "consumer");
    cr_assert_eq(bus_ring_set_publish_batch(m.prod, 256), 0);
    uint8_t in[40], out[64];
    bus_ring_rec rec;
    for (uint32_t i = 1; i <= 3; i++) {
        tu_fill(in, 40, i);
        cr_assert_eq(bus_ring_push(m.prod, 7, in, 40), 0);
        cr_assert_eq(bus_ring_peek(m.cons, &rec), MESH_EAGAIN, "record %u held back", i);
    }
    tu_fill(in, 40, 4);
    cr_assert_eq(bus_ring_push(m.prod, 7, in, 40), 0); /* 4 x 64 = 256: published */
    for (uint64_t s = 1; s <= 4; s++) {
        cr_assert_eq(bus_ring_pop(m.cons, &rec, out, sizeof(out)), 0);
        cr_assert_eq(rec.seq, s);
        cr_assert(tu_check(out, rec.len, s));
    }
    /* One more is held back until bus_ring_flush. */
    tu_fill(in, 40, 5);
    cr_assert_eq(bus_ring_push(m.prod, 7, in, 40), 0);
    cr_assert_eq(bus_ring_peek(m.cons, &rec), MESH_EAGAIN);
    cr_assert_eq(bus_ring_flush(m.prod), 0);
    cr_assert_eq(bus_ring_pop(m.cons, &rec, out, sizeof(out)), 0);
    cr_assert_eq(rec.seq, 5);
    cr_assert_eq(bus_ring_flush(m.cons), MESH_ESTATE);
    mr_close(&m);
}

/* A full ring publishes what it holds back, or the consumer could never
 * free the space the producer waits for: 512 / 64 = 8 records fit; the 9th
 * claim fails and must have published all 8 despite a 128-byte batch. */
Test(ring, publish_batch_publishes_when_the_ring_is_full)
{
    mem_ring m;
    mr_open(&m, 512, 0, BUS_RING_POLICY_WAIT);
    cr_assert_eq(bus_ring_set_publish_batch(m.prod, 128), 0);
    uint8_t in[40] = {0};
    int pushed = 0;
    while (bus_ring_push(m.prod, 1, in, 40) == 0)
        pushed++;
    cr_assert_eq(pushed, 8);
    bus_ring_stats st;
    bus_ring_stats_get(m.cons, &st);
    cr_assert_eq(st.head, 512, "all 8 records published");
    bus_ring_rec rec;
    uint8_t out[64];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(bus_ring_pop(m.cons, &rec, out, sizeof(out)), 0);
    mr_close(&m);
}

/* Closing the producer publishes what it held back. */
Test(ring, publish_batch_close_publishes)
{
    mem_ring m;
    mr_open(&m, 1024, 0, BUS_RING_POLICY_WAIT);
    cr_assert_eq(bus_ring_set_publish_batch(m.prod, 256), 0);
    uint8_t in[40] = {0}, out[64];
    cr_assert_eq(bus_ring_push(m.prod, 1, in, 40), 0);
    bus_ring_close(m.prod);
    m.prod = NULL;
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_pop(m.cons, &rec, out, sizeof(out)), 0);
    cr_assert_eq(rec.seq, 1);
    mr_close(&m);
}
