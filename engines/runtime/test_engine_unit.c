/* Unit tests of the runtime's pure pieces: heartbeat period and drain
 * deadline arithmetic, the timer schedule, and the routing plan built from a
 * mesh config (no shared memory, no processes). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine_plan.h"
#include "engine_sched.h"
#include "mesh_error.h"

#define MS 1000000ull

Test(engine_sched, heartbeat_period_is_quarter_timeout_clamped_to_10_250_ms)
{
    /* timeout/4: 800/4 = 200 and 100/4 = 25 lie inside [10, 250] */
    cr_assert_eq(engine_heartbeat_period_ms(800), 200);
    cr_assert_eq(engine_heartbeat_period_ms(100), 25);
    /* 3000/4 = 750 > 250 -> 250; 20/4 = 5 < 10 -> 10; 41/4 = 10 (integer) */
    cr_assert_eq(engine_heartbeat_period_ms(3000), 250);
    cr_assert_eq(engine_heartbeat_period_ms(20), 10);
    cr_assert_eq(engine_heartbeat_period_ms(41), 10);
    /* hang detection off: still 250 ms so tools see liveness */
    cr_assert_eq(engine_heartbeat_period_ms(0), 250);
}

Test(engine_sched, drain_is_half_the_stop_timeout)
{
    cr_assert_eq(engine_drain_ms(5000), 2500); /* 5000 / 2 */
    cr_assert_eq(engine_drain_ms(301), 150);   /* integer halving */
    cr_assert_eq(engine_drain_ms(6), 10);      /* 3 < 10 -> floor of 10 */
    cr_assert_eq(engine_drain_ms(0), 2500);    /* unset */
}

Test(engine_sched, timers_fire_one_period_after_start_earliest_first)
{
    engine_sched s;
    const uint32_t periods[] = {10, 25};
    const uint64_t t0 = 1000;
    cr_assert_eq(engine_sched_init(&s, periods, 2, t0), 0);
    cr_assert_eq(engine_sched_next(&s), t0 + 10 * MS);
    cr_assert_eq(engine_sched_due(&s, t0 + 10 * MS - 1), -1);
    cr_assert_eq(engine_sched_due(&s, t0 + 10 * MS), 0);
    engine_sched_ran(&s, 0, t0 + 10 * MS);
    /* timer 0 next at t0 + 20 ms, timer 1 at t0 + 25 ms */
    cr_assert_eq(engine_sched_next(&s), t0 + 20 * MS);
    /* at t0 + 25 ms both are due; the earlier deadline (timer 0, 20 ms) first */
    cr_assert_eq(engine_sched_due(&s, t0 + 25 * MS), 0);
    engine_sched_ran(&s, 0, t0 + 25 * MS); /* 20 + 10 = 30 ms > 25 ms: stays on its grid */
    cr_assert_eq(engine_sched_due(&s, t0 + 25 * MS), 1);
    engine_sched_ran(&s, 1, t0 + 25 * MS); /* 25 + 25 = 50 ms */
    cr_assert_eq(engine_sched_due(&s, t0 + 25 * MS), -1);
    cr_assert_eq(engine_sched_next(&s), t0 + 30 * MS);
}

Test(engine_sched, a_late_timer_skips_missed_runs)
{
    engine_sched s;
    const uint32_t periods[] = {10};
    cr_assert_eq(engine_sched_init(&s, periods, 1, 0), 0);
    /* deadline 10 ms; it runs at 45 ms: 10 + 10 = 20 <= 45, so the next run
     * is 45 + 10 = 55 ms rather than a burst at 20, 30, 40, 50 */
    cr_assert_eq(engine_sched_due(&s, 45 * MS), 0);
    engine_sched_ran(&s, 0, 45 * MS);
    cr_assert_eq(engine_sched_next(&s), 55 * MS);
    cr_assert_eq(engine_sched_due(&s, 54 * MS), -1);
}

Test(engine_sched, bad_timer_tables_are_refused)
{
    engine_sched s;
    const uint32_t zero[] = {5, 0};
    cr_assert_eq(engine_sched_init(&s, zero, 2, 0), MESH_EINVAL);
    uint32_t many[ENGINE_MAX_TIMERS + 1];
    for (size_t i = 0; i < ENGINE_MAX_TIMERS + 1; i++)
        many[i] = 1;
    cr_assert_eq(engine_sched_init(&s, many, ENGINE_MAX_TIMERS + 1, 0), MESH_EINVAL);
    cr_assert_eq(engine_sched_init(&s, NULL, 0, 0), 0);
    cr_assert_eq(engine_sched_next(&s), UINT64_MAX);
    cr_assert_eq(engine_sched_due(&s, UINT64_MAX), -1);
}

static void add_engine(mesh_config *c, const char *name)
{
    snprintf(c->engines[c->nengines].name, MESH_NAME_MAX, "%s", name);
    c->engines[c->nengines].cpu = -1;
    c->nengines++;
}

/* Route from engine index f to index t (-1 = on the peer), with given types. */
static void add_route(mesh_config *c, int f, int t, int peer, int line, const int *types, int n)
{
    mesh_route_cfg *r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof(*r));
    snprintf(r->from, MESH_NAME_MAX, "%s", f >= 0 ? c->engines[f].name : "remote");
    snprintf(r->to, MESH_NAME_MAX, "%s", t >= 0 ? c->engines[t].name : "remote");
    r->from_engine = f;
    r->to_engine = t;
    r->peer = peer;
    r->line = line;
    r->ntypes = n;
    for (int i = 0; i < n; i++) {
        r->types[i] = types[i];
        snprintf(r->type_names[i], MESH_NAME_MAX, "type%d", i);
    }
}

static mesh_config *three_engines(void)
{
    static mesh_config c;
    memset(&c, 0, sizeof(c));
    snprintf(c.path, sizeof(c.path), "mesh.yaml");
    add_engine(&c, "a");
    add_engine(&c, "b");
    add_engine(&c, "c");
    const int trade_bar[] = {1, 3}, trade[] = {1}, features[] = {16};
    add_route(&c, 0, 1, -1, 20, trade_bar, 2); /* route 0: a -> b {1, 3} */
    add_route(&c, 0, 2, -1, 24, trade, 1);     /* route 1: a -> c {1} */
    add_route(&c, 1, 2, -1, 28, features, 1);  /* route 2: b -> c {16} */
    return &c;
}

Test(engine_plan, fan_out_masks_follow_route_types)
{
    mesh_config *c = three_engines();
    engine_plan p;
    char err[256] = "";
    cr_assert_eq(engine_plan_build(&p, c, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(p.ninputs, 0);
    cr_assert_eq(p.noutputs, 2);
    cr_assert_eq(p.outputs[0], 0);
    cr_assert_eq(p.outputs[1], 1);
    /* trade (1) goes to both outputs: bits 0 and 1 = 3; bar (3) only to b: bit 0 */
    cr_assert_eq(engine_plan_outputs_for(&p, 1), 3u);
    cr_assert_eq(engine_plan_outputs_for(&p, 3), 1u);
    cr_assert_eq(engine_plan_outputs_for(&p, 16), 0u);
    cr_assert_eq(engine_plan_outputs_for(&p, 5000), 0u);
}

Test(engine_plan, inputs_and_outputs_in_config_order)
{
    mesh_config *c = three_engines();
    engine_plan p;
    cr_assert_eq(engine_plan_build(&p, c, 2, NULL, 0), 0);
    cr_assert_eq(p.ninputs, 2);
    cr_assert_eq(p.inputs[0], 1); /* a -> c comes first in the file */
    cr_assert_eq(p.inputs[1], 2);
    cr_assert_eq(p.noutputs, 0);
    cr_assert_eq(engine_plan_build(&p, c, 1, NULL, 0), 0);
    cr_assert_eq(p.ninputs, 1);
    cr_assert_eq(p.inputs[0], 0);
    cr_assert_eq(p.noutputs, 1);
    cr_assert_eq(engine_plan_outputs_for(&p, 16), 1u);
}

/* Slots by producer name: c's inputs come from a and b, so a's ring gets
 * slot 0 and b's slot 1 whatever the order of the routes in the file. */
Test(engine_plan, resume_slots_follow_producer_names_not_file_order)
{
    mesh_config *c = three_engines();
    engine_plan p;
    cr_assert_eq(engine_plan_build(&p, c, 2, NULL, 0), 0);
    cr_assert_eq(p.inputs[0], 1); /* a -> c */
    cr_assert_eq(p.input_slot[0], 0u);
    cr_assert_eq(p.inputs[1], 2); /* b -> c */
    cr_assert_eq(p.input_slot[1], 1u);
    mesh_route_cfg tmp = c->routes[1]; /* the same routes, b -> c now before a -> c */
    c->routes[1] = c->routes[2];
    c->routes[2] = tmp;
    cr_assert_eq(engine_plan_build(&p, c, 2, NULL, 0), 0);
    cr_assert_eq(p.inputs[0], 1);
    cr_assert_str_eq(c->routes[p.inputs[0]].from, "b");
    cr_assert_eq(p.input_slot[0], 1u, "b's ring keeps slot 1");
    cr_assert_str_eq(c->routes[p.inputs[1]].from, "a");
    cr_assert_eq(p.input_slot[1], 0u, "a's ring keeps slot 0");
}

Test(engine_plan, off_host_route_is_an_ordinary_output_of_the_local_engine)
{
    mesh_config *c = three_engines();
    const int vpin[] = {17};
    add_route(c, 2, -1, 0, 40, vpin, 1); /* c -> remote through peer 0 (via the bridge) */
    int ri = c->nroutes - 1;
    engine_plan p;
    char err[256] = "";
    cr_assert_eq(engine_plan_build(&p, c, 2, err, sizeof(err)), 0, "%s", err);
    int found = 0;
    for (int i = 0; i < p.noutputs; i++)
        found |= p.outputs[i] == ri;
    cr_assert(found, "the off-host route is one of c's outputs");
    cr_assert_neq(engine_plan_outputs_for(&p, 17), 0u, "type 17 is routed");
    /* engines not on that route are unaffected */
    cr_assert_eq(engine_plan_build(&p, c, 0, err, sizeof(err)), 0);
}

Test(engine_plan, unresolved_or_huge_type_ids_are_refused)
{
    mesh_config *c = three_engines();
    c->routes[1].types[0] = -1; /* a -> c, line 24 */
    engine_plan p;
    char err[256] = "";
    cr_assert_eq(engine_plan_build(&p, c, 0, err, sizeof(err)), MESH_ECONFIG);
    cr_assert(strstr(err, "mesh.yaml:24:") && strstr(err, "'type0'"), "%s", err);
    c->routes[1].types[0] = ENGINE_TYPE_TABLE;
    cr_assert_eq(engine_plan_build(&p, c, 0, err, sizeof(err)), MESH_ECONFIG);
    cr_assert(strstr(err, "1024") != NULL, "%s", err);
    cr_assert_eq(engine_plan_build(&p, c, 3, err, sizeof(err)), MESH_EINVAL);
}

Test(engine_plan, more_than_32_inputs_are_refused)
{
    static mesh_config c;
    memset(&c, 0, sizeof(c));
    snprintf(c.path, sizeof(c.path), "big.yaml");
    add_engine(&c, "sink");
    const int trade[] = {1};
    for (int i = 0; i < ENGINE_MAX_INPUTS + 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "src%d", i);
        add_engine(&c, name);
        add_route(&c, c.nengines - 1, 0, -1, 100 + i, trade, 1);
    }
    engine_plan p;
    char err[256] = "";
    cr_assert_eq(engine_plan_build(&p, &c, 0, err, sizeof(err)), MESH_ECONFIG);
    /* the 33rd route (index 32) is on line 100 + 32 = 132 */
    cr_assert(strstr(err, "big.yaml:132:") && strstr(err, "max 32"), "%s", err);
}

Test(engine_sched, a_paused_timer_never_fires_until_given_a_period)
{
    engine_sched s;
    const uint32_t periods[] = {1, 50};
    cr_assert_eq(engine_sched_init(&s, periods, 2, 0), 0);
    cr_assert_eq(engine_sched_set(&s, 0, 0, 0), 0); /* pause timer 0 */
    cr_assert_eq(engine_sched_due(&s, 10 * MS), -1);
    cr_assert_eq(engine_sched_next(&s), 50 * MS);
    cr_assert_eq(engine_sched_set(&s, 1, 0, 0), 0);
    cr_assert_eq(engine_sched_next(&s), UINT64_MAX);
    cr_assert_eq(engine_sched_due(&s, UINT64_MAX - 1), -1);
    /* resumed at 100 ms with 5 ms: due at 105 ms */
    cr_assert_eq(engine_sched_set(&s, 0, 5, 100 * MS), 0);
    cr_assert_eq(engine_sched_due(&s, 105 * MS - 1), -1);
    cr_assert_eq(engine_sched_due(&s, 105 * MS), 0);
    cr_assert_eq(engine_sched_set(&s, 2, 5, 0), MESH_EINVAL);
}
