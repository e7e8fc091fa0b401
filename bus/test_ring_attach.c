/* Tests that attaching refuses foreign, truncated, mismatched or corrupted
 * ring segments, that peek refuses corrupted records from the other side
 * without reading out of bounds, and that a producer attaching after one
 * killed inside a publish or a drop repairs the counters it left. */
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/stat.h>

/* Shared header fields, at the offsets the layout comment in bus_ring.h
 * gives: magic 0, version 8, capacity 16, max_record 24, policy 28,
 * intent_head 64, undo_seq 72, undo_bytes 80, intent_drops 88, head 128,
 * next_seq 136, bytes 144, drops 160, tail 256. */
#define OFF_MAGIC        0
#define OFF_VERSION      8
#define OFF_CAP          16
#define OFF_MAXREC       24
#define OFF_INTENT_HEAD  64
#define OFF_UNDO_SEQ     72
#define OFF_UNDO_BYTES   80
#define OFF_INTENT_DROPS 88
#define OFF_HEAD         128
#define OFF_NEXT_SEQ     136
#define OFF_BYTES        144
#define OFF_DROPS        160
#define OFF_TAIL         256
#define OFF_DATA         384

static void put64(void *seg, size_t off, uint64_t v)
{
    memcpy((uint8_t *)seg + off, &v, 8);
}

static void put32(void *seg, size_t off, uint32_t v)
{
    memcpy((uint8_t *)seg + off, &v, 4);
}

static char name[128];
static bus_shm *raw; /* read-write view to damage the segment */

static void setup_ring(void)
{
    tu_name(name, sizeof(name), "ring", "p", "c");
    cr_assert_eq(bus_ring_create(name, 4096, 0, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_shm_attach(&raw, name, 0, 1), 0);
    cr_assert_eq(bus_shm_size(raw), 384 + 4096);
}

static void teardown_ring(void)
{
    bus_shm_close(raw);
    bus_shm_unlink(name);
}

static int attach(enum bus_ring_role role)
{
    bus_ring *r = NULL;
    int rc = bus_ring_open(&r, name, role);
    bus_ring_close(r);
    return rc;
}

TestSuite(attach, .init = setup_ring, .fini = teardown_ring);

Test(attach, fresh_segment_attaches_in_every_role)
{
    cr_assert_eq(attach(BUS_RING_PRODUCER), 0);
    cr_assert_eq(attach(BUS_RING_CONSUMER), 0);
    cr_assert_eq(attach(BUS_RING_OBSERVER), 0);
    cr_assert_eq(bus_ring_create(name, 4096, 0, BUS_RING_POLICY_WAIT), MESH_EEXIST);
}

Test(attach, foreign_object_is_refused)
{
    put64(bus_shm_base(raw), OFF_MAGIC, 0x0123456789abcdefull);
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_EFOREIGN);
    memset(bus_shm_base(raw), 0, bus_shm_size(raw)); /* an all-zero object */
    cr_assert_eq(attach(BUS_RING_OBSERVER), MESH_EFOREIGN);
}

Test(attach, other_layout_version_is_refused)
{
    put32(bus_shm_base(raw), OFF_VERSION, BUS_RING_VERSION + 1);
    cr_assert_eq(attach(BUS_RING_PRODUCER), MESH_EVERSION);
}

Test(attach, truncated_object_is_refused)
{
    int fd = shm_open(name, O_RDWR, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 384 + 2048), 0); /* header intact, data cut */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    cr_assert_eq(ftruncate(fd, 100), 0); /* not even the header */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    close(fd);
}

Test(attach, capacity_must_be_a_power_of_two_matching_the_size)
{
    put64(bus_shm_base(raw), OFF_CAP, 4000);
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    put64(bus_shm_base(raw), OFF_CAP, 2048); /* power of two, wrong size */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    put64(bus_shm_base(raw), OFF_CAP, 4096);
    put32(bus_shm_base(raw), OFF_MAXREC, 4096 / 4 - 24 + 1); /* above capacity/4 */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
}

Test(attach, inconsistent_positions_are_refused)
{
    void *s = bus_shm_base(raw);
    put64(s, OFF_HEAD, 64);
    put64(s, OFF_TAIL, 128); /* tail > head */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    put64(s, OFF_HEAD, 4096 + 136);
    put64(s, OFF_TAIL, 128); /* head - tail = 4104 > capacity 4096 */
    cr_assert_eq(attach(BUS_RING_PRODUCER), MESH_ECORRUPT);
    put64(s, OFF_HEAD, 132);
    put64(s, OFF_TAIL, 128); /* head not 8-aligned */
    cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT);
    put64(s, OFF_HEAD, 128 + 4096); /* exactly full: valid */
    cr_assert_eq(attach(BUS_RING_CONSUMER), 0);
}

Test(attach, next_seq_zero_or_from_2_63_is_refused)
{
    void *s = bus_shm_base(raw);
    const uint64_t bad[] = {0, 1ull << 63, (1ull << 63) + 5, UINT64_MAX};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        put64(s, OFF_NEXT_SEQ, bad[k]);
        cr_assert_eq(attach(BUS_RING_PRODUCER), MESH_ECORRUPT, "next_seq %lu", bad[k]);
        cr_assert_eq(attach(BUS_RING_CONSUMER), MESH_ECORRUPT, "next_seq %lu", bad[k]);
    }
    put64(s, OFF_NEXT_SEQ, (1ull << 63) - 1); /* the last number a skip may leave */
    cr_assert_eq(attach(BUS_RING_PRODUCER), 0);
}

Test(attach, skip_never_wraps_the_sequence_near_2_63)
{
    void *s = bus_shm_base(raw);
    bus_ring *p;
    put64(s, OFF_NEXT_SEQ, (1ull << 63) - 2);
    cr_assert_eq(bus_ring_open(&p, name, BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ring_skip(p, 2), MESH_EINVAL, "would make next_seq 2^63");
    cr_assert_eq(bus_ring_skip(p, 1), 0, "next_seq 2^63 - 1");
    cr_assert_eq(bus_ring_skip(p, 1), MESH_EINVAL);
    cr_assert_eq(bus_ring_push(p, 5, "x", 1), 0, "seq 2^63 - 1; next_seq 2^63");
    /* With next_seq past 2^63 - 1, (2^63 - 1) - next_seq wrapped to 2^64 - 1
     * and let this skip wrap next_seq around to 5. */
    cr_assert_eq(bus_ring_skip(p, (1ull << 63) + 5), MESH_EINVAL);
    cr_assert_eq(bus_ring_skip(p, 1), MESH_EINVAL);
    bus_ring_stats st;
    bus_ring_stats_get(p, &st);
    cr_assert_eq(st.next_seq, 1ull << 63, "refused skips change nothing");
    cr_assert_eq(st.drops, 1);
    bus_ring_close(p);
}

/* Producer pushes records; the test damages one; the consumer must refuse it
 * and keep refusing (its cursor does not move). */
static bus_ring *push_three(void)
{
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, name, BUS_RING_PRODUCER), 0);
    uint8_t buf[64] = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(bus_ring_push(p, 5, buf, 40), 0); /* 64-byte records */
    return p;
}

static void expect_corrupt_at_second(void)
{
    bus_ring *c;
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    cr_assert_eq(bus_ring_peek(c, &rec), 0);
    cr_assert_eq(rec.seq, 1);
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_ECORRUPT);
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_ECORRUPT, "stays refused");
    bus_ring_release(c);
    bus_ring_stats st;
    bus_ring_stats_get(c, &st);
    cr_assert_eq(st.tail, 64, "only the good record was released");
    bus_ring_close(c);
}

Test(attach, record_longer_than_max_record_is_refused)
{
    bus_ring *p = push_three();
    put32(bus_shm_base(raw), OFF_DATA + 64, 0xfffffff0u); /* len of record 2 */
    expect_corrupt_at_second();
    bus_ring_close(p);
}

Test(attach, record_running_past_head_is_refused)
{
    bus_ring *p = push_three();
    put32(bus_shm_base(raw), OFF_DATA + 64, 200); /* 224 bytes from 64 > head 192 */
    expect_corrupt_at_second();
    bus_ring_close(p);
}

Test(attach, header_check_word_catches_a_changed_field)
{
    bus_ring *p = push_three();
    put32(bus_shm_base(raw), OFF_DATA + 64 + 4, 6); /* type 5 -> 6 */
    expect_corrupt_at_second();
    bus_ring_close(p);
}

Test(attach, misplaced_padding_is_refused)
{
    bus_ring *p = push_three();
    /* record 2 turned into padding that does not reach the end (4096 - 64). */
    put32(bus_shm_base(raw), OFF_DATA + 64, 64);
    put32(bus_shm_base(raw), OFF_DATA + 64 + 4, BUS_RING_TYPE_PAD);
    expect_corrupt_at_second();
    bus_ring_close(p);
}

Test(attach, padding_claiming_more_than_committed_is_refused)
{
    /* Head at 4096 - 8 = 4088 (data offset 4088): a padding record there
     * must span exactly 8 bytes to the end. */
    void *s = bus_shm_base(raw);
    put64(s, OFF_HEAD, 4088 + 8);
    put64(s, OFF_TAIL, 4088);
    put32(s, OFF_DATA + 4088, 8);
    put32(s, OFF_DATA + 4088 + 4, BUS_RING_TYPE_PAD);
    bus_ring *c;
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_EAGAIN, "valid padding, nothing after it");
    bus_ring_close(c);
    /* A non-padding header in the last 8 bytes cannot hold 24 bytes: refused
     * without reading past the data area. */
    put64(s, OFF_HEAD, 4088 + 8 + 64);
    put32(s, OFF_DATA + 4088 + 4, 5);
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_ECORRUPT);
    bus_ring_close(c);
}

Test(attach, producer_head_jumping_past_capacity_is_refused)
{
    bus_ring *c, *p = push_three();
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    put64(bus_shm_base(raw), OFF_HEAD, 4096 + 8); /* tail 0: more than capacity ahead */
    cr_assert_eq(bus_ring_peek(c, &rec), MESH_ECORRUPT);
    cr_assert_eq(bus_ring_ready(c), 1, "ready, so that the caller's peek reports it");
    bus_ring_close(c);
    bus_ring_close(p);
}

Test(attach, consumer_tail_past_head_is_refused_by_the_producer)
{
    bus_ring *p = push_three(), *c;
    uint8_t buf[64];
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(bus_ring_pop(c, NULL, buf, sizeof(buf)), 0);
    /* fill to the end so that the producer must reload the tail */
    void *q;
    int rc;
    while ((rc = bus_ring_claim(p, 1000, &q)) == 0)
        cr_assert_eq(bus_ring_commit(p, 1, 0, 1000), 0);
    cr_assert_eq(rc, MESH_EAGAIN);
    put64(bus_shm_base(raw), OFF_TAIL, 8 * 1000001); /* past the head */
    cr_assert_eq(bus_ring_claim(p, 1000, &q), MESH_ECORRUPT);
    bus_ring_close(c);
    bus_ring_close(p);
}

/* --- a producer killed inside ring_publish / ring_drop, simulated by
 * writing the shared fields in the order the real producer stores them, up
 * to the kill point --- */

struct field {
    size_t off;
    uint64_t v;
};

/* The ring after records 1..3 with payloads of 10, 20 and 30 bytes (record
 * sizes 24 + len rounded up to 8: 40, 48, 56, so head = 144, next_seq 4,
 * bytes 60), pushed by a producer that then closed. */
static void three_published(enum bus_ring_policy policy)
{
    void *s = bus_shm_base(raw);
    cr_assert_eq(bus_ring_format(s, bus_shm_size(raw), 4096, 0, policy), 0);
    bus_ring *p;
    cr_assert_eq(bus_ring_open(&p, name, BUS_RING_PRODUCER), 0);
    uint8_t buf[30];
    for (uint32_t i = 1; i <= 3; i++) {
        tu_fill(buf, 10 * i, i);
        cr_assert_eq(bus_ring_push(p, 7, buf, 10 * i), 0);
    }
    bus_ring_close(p);
}

/* Observer's counters: next_seq, messages, bytes, drops, head. */
static void expect_stats(uint64_t next_seq, uint64_t messages, uint64_t bytes, uint64_t drops,
                         uint64_t head, const char *when)
{
    bus_ring *o;
    bus_ring_stats st;
    cr_assert_eq(bus_ring_open(&o, name, BUS_RING_OBSERVER), 0);
    bus_ring_stats_get(o, &st);
    cr_assert_eq(st.next_seq, next_seq, "%s: next_seq %lu", when, st.next_seq);
    cr_assert_eq(st.messages, messages, "%s: messages %lu", when, st.messages);
    cr_assert_eq(st.bytes, bytes, "%s: bytes %lu", when, st.bytes);
    cr_assert_eq(st.drops, drops, "%s: drops %lu", when, st.drops);
    cr_assert_eq(st.head, head, "%s: head %lu", when, st.head);
    bus_ring_close(o);
}

/* A new producer pushes one 7-byte record; a consumer must then read the
 * sequence numbers want[0..n) in order (payloads checked) and nothing more. */
static void push_then_expect(const uint64_t *want, int n, const char *when)
{
    bus_ring *p, *c;
    uint8_t in[8], out[64];
    cr_assert_eq(bus_ring_open(&p, name, BUS_RING_PRODUCER), 0, "%s", when);
    tu_fill(in, 7, want[n - 1]);
    cr_assert_eq(bus_ring_push(p, 8, in, 7), 0, "%s", when);
    cr_assert_eq(bus_ring_open(&c, name, BUS_RING_CONSUMER), 0);
    for (int i = 0; i < n; i++) {
        bus_ring_rec rec;
        cr_assert_eq(bus_ring_pop(c, &rec, out, sizeof(out)), 0, "%s: record %d", when, i);
        cr_assert_eq(rec.seq, want[i], "%s: record %d has seq %lu", when, i, rec.seq);
        uint32_t len = i == n - 1 ? 7 : rec.seq <= 3 ? 10 * (uint32_t)rec.seq : 40;
        cr_assert_eq(rec.len, len, "%s: seq %lu len %u", when, rec.seq, rec.len);
        cr_assert(tu_check(out, rec.len, rec.seq), "%s: payload of seq %lu", when, rec.seq);
    }
    cr_assert_eq(bus_ring_pop(c, NULL, out, sizeof(out)), MESH_EAGAIN, "%s", when);
    bus_ring_close(c);
    bus_ring_close(p);
}

Test(attach, producer_killed_inside_publish_leaves_no_gap_and_exact_counters)
{
    /* Record 4 (40-byte payload: 64 bytes at data offset 144, new head 208)
     * is written in full, then ring_publish's stores in their order: undo
     * values, intent_head, next_seq, bytes, head. */
    const struct field publish[] = {
        {OFF_UNDO_SEQ, 4}, {OFF_UNDO_BYTES, 60}, {OFF_INTENT_HEAD, 208},
        {OFF_NEXT_SEQ, 5}, {OFF_BYTES, 100},     {OFF_HEAD, 208},
    };
    const int nsteps = sizeof(publish) / sizeof(publish[0]);
    for (int done = 0; done <= nsteps; done++) {
        char when[64];
        snprintf(when, sizeof(when), "killed after %d of %d publish stores", done, nsteps);
        three_published(BUS_RING_POLICY_WAIT);
        void *s = bus_shm_base(raw);
        put32(s, OFF_DATA + 144, 40);
        put32(s, OFF_DATA + 144 + 4, 9);
        put32(s, OFF_DATA + 144 + 8, 0);
        put32(s, OFF_DATA + 144 + 12, 40u ^ 9u ^ 0u ^ 4u ^ 0u ^ 0x5a17c0deu); /* check word */
        put64(s, OFF_DATA + 144 + 16, 4);
        tu_fill((uint8_t *)s + OFF_DATA + 144 + 24, 40, 4);
        for (int i = 0; i < done; i++)
            put64(s, publish[i].off, publish[i].v);
        if (done < nsteps) {
            /* Record 4 never became visible: it does not count, not even
             * before a producer repairs the ring, and its number is reused. */
            expect_stats(4, 3, 60, 0, 144, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 4}, 4, when);
            expect_stats(5, 4, 67, 0, 144 + 32, when);
        } else {
            expect_stats(5, 4, 100, 0, 208, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 4, 5}, 5, when);
            expect_stats(6, 5, 107, 0, 208 + 32, when);
        }
    }
}

Test(attach, producer_killed_inside_a_drop_leaves_no_uncounted_gap)
{
    /* ring_drop's stores in their order: undo values, intent_drops, next_seq,
     * drops. */
    const struct field drop[] = {
        {OFF_UNDO_SEQ, 4}, {OFF_UNDO_BYTES, 60}, {OFF_INTENT_DROPS, 1},
        {OFF_NEXT_SEQ, 5}, {OFF_DROPS, 1},
    };
    const int nsteps = sizeof(drop) / sizeof(drop[0]);
    for (int done = 0; done <= nsteps; done++) {
        char when[64];
        snprintf(when, sizeof(when), "killed after %d of %d drop stores", done, nsteps);
        three_published(BUS_RING_POLICY_DROP);
        for (int i = 0; i < done; i++)
            put64(bus_shm_base(raw), drop[i].off, drop[i].v);
        if (done < nsteps) {
            /* The drop never completed: neither a gap nor a count. */
            expect_stats(4, 3, 60, 0, 144, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 4}, 4, when);
            expect_stats(5, 4, 67, 0, 144 + 32, when);
        } else {
            /* A finished drop: the gap at 4 is counted. */
            expect_stats(5, 3, 60, 1, 144, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 5}, 4, when);
            expect_stats(6, 4, 67, 1, 144 + 32, when);
        }
    }
}

Test(attach, producer_killed_inside_a_skip_of_three_leaves_no_uncounted_gap)
{
    /* bus_ring_skip(r, 3) after three records: ring_drop's stores with n = 3. */
    const struct field skip[] = {
        {OFF_UNDO_SEQ, 4}, {OFF_UNDO_BYTES, 60}, {OFF_INTENT_DROPS, 3},
        {OFF_NEXT_SEQ, 7}, {OFF_DROPS, 3},
    };
    const int nsteps = sizeof(skip) / sizeof(skip[0]);
    for (int done = 0; done <= nsteps; done++) {
        char when[64];
        snprintf(when, sizeof(when), "killed after %d of %d skip stores", done, nsteps);
        three_published(BUS_RING_POLICY_WAIT);
        for (int i = 0; i < done; i++)
            put64(bus_shm_base(raw), skip[i].off, skip[i].v);
        if (done < nsteps) {
            expect_stats(4, 3, 60, 0, 144, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 4}, 4, when);
        } else {
            /* A finished skip: numbers 4, 5 and 6 are a counted gap. */
            expect_stats(7, 3, 60, 3, 144, when);
            push_then_expect((const uint64_t[]){1, 2, 3, 7}, 4, when);
        }
    }
}

Test(attach, impossible_intent_record_is_refused_to_producers_only)
{
    void *s = bus_shm_base(raw);
    const struct field bad[][3] = {
        {{OFF_INTENT_HEAD, 100}, {OFF_UNDO_SEQ, 4}, {0, 0}},           /* behind head 144 */
        {{OFF_INTENT_HEAD, 148}, {OFF_UNDO_SEQ, 4}, {0, 0}},           /* not 8-aligned */
        {{OFF_INTENT_HEAD, 208}, {OFF_UNDO_SEQ, 9}, {0, 0}},           /* undo_seq > next_seq 4 */
        {{OFF_INTENT_HEAD, 208}, {OFF_UNDO_SEQ, 0}, {0, 0}},           /* undo_seq 0 */
        {{OFF_INTENT_DROPS, 2}, {OFF_UNDO_SEQ, 4}, {OFF_NEXT_SEQ, 5}}, /* 2 drops, 1 number */
        {{OFF_INTENT_DROPS, 1}, {OFF_INTENT_HEAD, 208}, {0, 0}},       /* both open */
        {{OFF_INTENT_HEAD, 208}, {OFF_UNDO_SEQ, 4}, {OFF_UNDO_BYTES, 61}}, /* > bytes 60 */
        /* 3960 past head 144 but 4104 past tail 0: more than the 4096 free */
        {{OFF_INTENT_HEAD, 4104}, {OFF_UNDO_SEQ, 4}, {0, 0}},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        three_published(BUS_RING_POLICY_WAIT);
        put64(s, OFF_UNDO_BYTES, 60);
        for (int i = 0; i < 3 && bad[k][i].off != 0; i++)
            put64(s, bad[k][i].off, bad[k][i].v);
        cr_assert_eq(attach(BUS_RING_PRODUCER), MESH_ECORRUPT, "case %zu", k);
        cr_assert_eq(attach(BUS_RING_CONSUMER), 0, "case %zu: the consumer may drain", k);
        cr_assert_eq(attach(BUS_RING_OBSERVER), 0, "case %zu", k);
    }
}

Test(attach, intent_head_up_to_capacity_past_tail_is_rolled_back)
{
    /* Head 144, tail 0: a producer (publishing in batches) may have claimed
     * up to tail + capacity = 4096 before it died; nothing of it is visible. */
    void *s = bus_shm_base(raw);
    three_published(BUS_RING_POLICY_WAIT);
    const struct field left[] = {
        {OFF_UNDO_SEQ, 4},  {OFF_UNDO_BYTES, 60}, {OFF_INTENT_HEAD, 4096},
        {OFF_NEXT_SEQ, 60}, {OFF_BYTES, 3000},
    };
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
        put64(s, left[i].off, left[i].v);
    cr_assert_eq(attach(BUS_RING_PRODUCER), 0);
    expect_stats(4, 3, 60, 0, 144, "rolled back");
}
