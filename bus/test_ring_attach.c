/* Tests that attaching refuses foreign, truncated, mismatched or corrupted
 * ring segments, and that peek refuses corrupted records from the other
 * side without reading out of bounds. */
#include "bus_ring.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/stat.h>

/* Shared header fields, at the offsets the layout comment in bus_ring.h
 * gives: magic 0, version 8, capacity 16, max_record 24, policy 28, head 128,
 * next_seq 136, tail 256. */
#define OFF_MAGIC   0
#define OFF_VERSION 8
#define OFF_CAP     16
#define OFF_MAXREC  24
#define OFF_HEAD    128
#define OFF_TAIL    256
#define OFF_DATA    384

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
