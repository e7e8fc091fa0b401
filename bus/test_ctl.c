/* Tests for engine control blocks: layout validation, engine-written fields
 * seen by a read-only reader in another process, sequence slots, generation. */
#include "bus_ctl.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/stat.h>

static char name[128];

static void setup(void)
{
    tu_name(name, sizeof(name), "ctl", "vpin", NULL);
    cr_assert_eq(bus_ctl_create(name), 0);
}

static void teardown(void)
{
    bus_shm_unlink(name);
}

TestSuite(ctl, .init = setup, .fini = teardown, .timeout = 30);

Test(ctl, fresh_block_reads_as_new_and_empty)
{
    bus_ctl *c;
    bus_ctl_snapshot s;
    cr_assert_eq(bus_ctl_open(&c, name, BUS_CTL_RO), 0);
    bus_ctl_snapshot_get(c, &s);
    cr_assert_eq(s.state, BUS_CTL_STATE_NEW);
    cr_assert_str_eq(bus_ctl_state_name(s.state), "new");
    cr_assert_eq(s.ready, 0);
    cr_assert_eq(s.heartbeat_ns, 0);
    cr_assert_eq(s.latency.count, 0);
    for (unsigned i = 0; i < BUS_CTL_SLOTS; i++)
        cr_assert_eq(s.last_seq[i], 0);
    cr_assert_eq(bus_ctl_create(name), MESH_EEXIST);
    bus_ctl_close(c);
    bus_ctl_close(NULL);
}

/* Engine process: fills in every engine-owned field with known values. */
static int engine_writes(void)
{
    bus_ctl *c;
    if (bus_ctl_open(&c, name, BUS_CTL_RW) != 0)
        return 1;
    bus_ctl_set_pid(c, (int32_t)getpid());
    bus_ctl_set_state(c, BUS_CTL_STATE_RUNNING);
    bus_ctl_set_ready(c, 1);
    bus_ctl_heartbeat(c, 123456789);
    bus_ctl_count(c, BUS_CTL_MSGS_IN, 10);
    bus_ctl_count(c, BUS_CTL_MSGS_IN, 5);
    bus_ctl_count(c, BUS_CTL_MSGS_OUT, 7);
    bus_ctl_count(c, BUS_CTL_MALFORMED, 2);
    bus_ctl_count(c, BUS_CTL_HANDLER_ERRORS, 1);
    for (uint64_t v = 1; v <= 100; v++)
        bus_ctl_record_latency(c, v);
    if (bus_ctl_set_last_seq(c, 0, 41) != 0 || bus_ctl_set_last_seq(c, 31, 99) != 0 ||
        bus_ctl_set_last_seq(c, 32, 1) != MESH_EINVAL)
        return 2;
    bus_ctl_close(c);
    return 0;
}

Test(ctl, reader_in_another_process_sees_what_the_engine_wrote)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(engine_writes());
    cr_assert_eq(tu_wait_child(pid, 20), 0);
    bus_ctl *c;
    bus_ctl_snapshot s;
    cr_assert_eq(bus_ctl_open(&c, name, BUS_CTL_RO), 0);
    bus_ctl_snapshot_get(c, &s);
    cr_assert_eq(s.pid, pid);
    cr_assert_eq(s.state, BUS_CTL_STATE_RUNNING);
    cr_assert_str_eq(bus_ctl_state_name(s.state), "running");
    cr_assert_eq(s.ready, 1);
    cr_assert_eq(s.heartbeat_ns, 123456789);
    cr_assert_eq(s.counters[BUS_CTL_MSGS_IN], 15, "10 + 5");
    cr_assert_eq(s.counters[BUS_CTL_MSGS_OUT], 7);
    cr_assert_eq(s.counters[BUS_CTL_MALFORMED], 2);
    cr_assert_eq(s.counters[BUS_CTL_HANDLER_ERRORS], 1);
    /* latencies 1..100: count 100, sum 100 * 101 / 2 = 5050; below 64 the
     * histogram is exact, and the median (rank 50) is 50. */
    cr_assert_eq(s.latency.count, 100);
    cr_assert_eq(s.latency.sum, 5050);
    cr_assert_eq(s.latency.min, 1);
    cr_assert_eq(s.latency.max, 100);
    cr_assert_eq(mesh_hist_percentile(&s.latency, 50), 50);
    cr_assert_eq(s.last_seq[0], 41);
    cr_assert_eq(s.last_seq[31], 99);
    uint64_t seq;
    cr_assert_eq(bus_ctl_last_seq(c, 31, &seq), 0);
    cr_assert_eq(seq, 99);
    cr_assert_eq(bus_ctl_last_seq(c, 32, &seq), MESH_EINVAL);
    bus_ctl_close(c);
}

Test(ctl, read_only_handle_writes_nothing)
{
    bus_ctl *ro;
    bus_ctl_snapshot s;
    cr_assert_eq(bus_ctl_open(&ro, name, BUS_CTL_RO), 0);
    cr_assert_null(bus_ctl_doorbell(ro));
    cr_assert_eq(bus_ctl_set_last_seq(ro, 0, 5), MESH_EINVAL);
    bus_ctl_set_state(ro, BUS_CTL_STATE_FAILED); /* ignored, no fault */
    bus_ctl_heartbeat(ro, 1);
    bus_ctl_count(ro, BUS_CTL_MSGS_IN, 1);
    bus_ctl_record_latency(ro, 1);
    cr_assert_eq(bus_ctl_next_generation(ro), 0, "reads, does not bump");
    bus_ctl_snapshot_get(ro, &s);
    cr_assert_eq(s.state, BUS_CTL_STATE_NEW);
    cr_assert_eq(s.heartbeat_ns, 0);
    cr_assert_eq(s.counters[BUS_CTL_MSGS_IN], 0);
    cr_assert_eq(s.last_seq[0], 0);
    bus_ctl_close(ro);
}

Test(ctl, supervisor_bumps_the_restart_generation)
{
    bus_ctl *sup, *ro;
    cr_assert_eq(bus_ctl_open(&sup, name, BUS_CTL_RW), 0);
    cr_assert_eq(bus_ctl_open(&ro, name, BUS_CTL_RO), 0);
    cr_assert_eq(bus_ctl_next_generation(sup), 1);
    cr_assert_eq(bus_ctl_next_generation(sup), 2);
    bus_ctl_snapshot s;
    bus_ctl_snapshot_get(ro, &s);
    cr_assert_eq(s.generation, 2);
    cr_assert_not_null(bus_ctl_doorbell(sup));
    bus_ctl_close(sup);
    bus_ctl_close(ro);
}

static void damage(size_t off, uint32_t v)
{
    bus_shm *raw;
    cr_assert_eq(bus_shm_attach(&raw, name, 0, 1), 0);
    memcpy((uint8_t *)bus_shm_base(raw) + off, &v, sizeof(v));
    bus_shm_close(raw);
}

Test(ctl, foreign_version_and_truncated_blocks_are_refused)
{
    bus_ctl *c;
    damage(8, BUS_CTL_VERSION + 1); /* version at offset 8 */
    cr_assert_eq(bus_ctl_open(&c, name, BUS_CTL_RO), MESH_EVERSION);
    damage(0, 0x12345678); /* magic at offset 0 */
    cr_assert_eq(bus_ctl_open(&c, name, BUS_CTL_RO), MESH_EFOREIGN);
    bus_shm_unlink(name);
    cr_assert_eq(bus_ctl_create(name), 0);
    int fd = shm_open(name, O_RDWR, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 1024), 0); /* header intact, histogram cut off */
    close(fd);
    cr_assert_eq(bus_ctl_open(&c, name, BUS_CTL_RW), MESH_ECORRUPT);
    cr_assert_eq(bus_ctl_open(&c, "/mesh.nope.ctl.absent", BUS_CTL_RO), MESH_ENOENT);
}
