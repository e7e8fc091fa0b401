/* Bridge shared state: slots and counters, the keep-or-reformat rule tied to
 * the bridge control block's generation, and refusal of foreign objects. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bridge_state.h"
#include "bus_shm.h"
#include "mesh_error.h"

static char mesh[32];

static void setup(void)
{
    snprintf(mesh, sizeof(mesh), "tbst%d", (int)getpid());
    bridge_state_unlink(mesh);
}

static void teardown(void)
{
    bridge_state_unlink(mesh);
}

TestSuite(state, .init = setup, .fini = teardown);

Test(state, slots_are_found_by_route_and_keep_their_counters)
{
    bridge_state *s;
    cr_assert_eq(bridge_state_open_mem(&s), 0);
    bridge_slot *a, *b, *again;
    cr_assert_eq(bridge_state_slot(s, "md", "vpin", "hostb", BRIDGE_DIR_OUT, MESH_POLICY_WAIT, &a),
                 0);
    cr_assert_eq(bridge_state_slot(s, "md", "feat", "hostb", BRIDGE_DIR_OUT, MESH_POLICY_DROP, &b),
                 0);
    cr_assert_neq(a, b);
    bridge_slot_add(a, BRIDGE_C_SENT, 5);
    bridge_slot_add(a, BRIDGE_C_SENT, 7);
    cr_assert_eq(bridge_slot_get(a, BRIDGE_C_SENT), 12);
    cr_assert_eq(
        bridge_state_slot(s, "md", "vpin", "hostc", BRIDGE_DIR_OUT, MESH_POLICY_WAIT, &again), 0);
    cr_assert_eq(again, a, "same route, same slot");
    cr_assert_str_eq(again->peer, "hostc", "the peer name follows the config");
    cr_assert_eq(bridge_state_nslots(s), 2);
    cr_assert_eq(bridge_state_find(s, "md", "feat"), b);
    cr_assert_null(bridge_state_find(s, "feat", "md"));
    cr_assert_str_eq(bridge_counter_name(BRIDGE_C_GAPS), "gaps");
    bridge_state_close(s);
}

Test(state, a_restart_under_the_same_meshd_keeps_the_state)
{
    bridge_state *s, *ro;
    int fresh = 0;
    cr_assert_eq(bridge_state_open(&s, mesh, 1, &fresh), 0);
    cr_assert_eq(fresh, 1, "new object");
    uint64_t epoch = bridge_word_get(&bridge_state_header(s)->epoch);
    cr_assert_neq(epoch, 0);
    bridge_slot *sl;
    cr_assert_eq(bridge_state_slot(s, "a", "b", "p", BRIDGE_DIR_IN, MESH_POLICY_WAIT, &sl), 0);
    bridge_word_set(&sl->rx_last, 4242);
    bridge_state_close(s);
    /* generation 2: meshd restarted the bridge, rings are the same */
    cr_assert_eq(bridge_state_open(&s, mesh, 2, &fresh), 0);
    cr_assert_eq(fresh, 0);
    cr_assert_eq(bridge_word_get(&bridge_state_header(s)->epoch), epoch, "same stream epoch");
    cr_assert_eq(bridge_state_slot(s, "a", "b", "p", BRIDGE_DIR_IN, MESH_POLICY_WAIT, &sl), 0);
    cr_assert_eq(bridge_word_get(&sl->rx_last), 4242);
    /* a tool sees the same, read-only */
    cr_assert_eq(bridge_state_attach(&ro, mesh), 0);
    cr_assert_eq(bridge_word_get(&bridge_state_find(ro, "a", "b")->rx_last), 4242);
    bridge_slot *no;
    cr_assert_eq(bridge_state_slot(ro, "x", "y", "p", BRIDGE_DIR_IN, MESH_POLICY_WAIT, &no),
                 MESH_EACCES);
    bridge_state_close(ro);
    bridge_state_close(s);
}

Test(state, a_new_control_block_means_new_rings_and_a_fresh_state)
{
    bridge_state *s;
    int fresh = 0;
    cr_assert_eq(bridge_state_open(&s, mesh, 3, &fresh), 0);
    uint64_t epoch = bridge_word_get(&bridge_state_header(s)->epoch);
    bridge_slot *sl;
    cr_assert_eq(bridge_state_slot(s, "a", "b", "p", BRIDGE_DIR_IN, MESH_POLICY_WAIT, &sl), 0);
    bridge_word_set(&sl->rx_last, 99);
    bridge_state_close(s);
    /* generation 1 again (<= 3): meshd made a new control block, so new rings */
    cr_assert_eq(bridge_state_open(&s, mesh, 1, &fresh), 0);
    cr_assert_eq(fresh, 1);
    cr_assert_eq(bridge_state_nslots(s), 0, "slots cleared");
    cr_assert_neq(bridge_word_get(&bridge_state_header(s)->epoch), epoch, "new stream epoch");
    bridge_state_close(s);
}

Test(state, a_foreign_object_is_refused_by_tools_and_replaced_by_the_bridge)
{
    char name[128];
    cr_assert_eq(bus_shm_name(name, sizeof(name), mesh, "bridge", "state", NULL), 0);
    bus_shm *seg;
    cr_assert_eq(bus_shm_create(&seg, name, 4096), 0);
    memset(bus_shm_base(seg), 0x5a, 4096);
    bus_shm_close(seg);
    bridge_state *s;
    cr_assert_eq(bridge_state_attach(&s, mesh), MESH_EFOREIGN);
    cr_assert_null(s);
    int fresh = 0;
    cr_assert_eq(bridge_state_open(&s, mesh, 1, &fresh), 0);
    cr_assert_eq(fresh, 1);
    bridge_state_close(s);
    cr_assert_eq(bridge_state_attach(&s, mesh), 0, "valid after the bridge recreated it");
    bridge_state_close(s);
}

Test(state, a_mesh_without_a_bridge_has_no_state)
{
    bridge_state *s = (bridge_state *)1;
    cr_assert_eq(bridge_state_attach(&s, mesh), MESH_ENOENT);
    cr_assert_null(s);
}
