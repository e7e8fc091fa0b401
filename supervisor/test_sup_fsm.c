/* Unit tests of the supervision state machine: restart types, back-off
 * doubling and cap, back-off reset, intensity limit, stop/kill paths. Times
 * are given explicitly (the machine has no clock), so every expected value
 * below is worked out by hand from the policy. */
#include "sup_fsm.h"

#include <criterion/criterion.h>
#include <signal.h>

static sup_policy pol(enum mesh_restart r)
{
    sup_policy p = {
        .restart = r,
        .escalation = MESH_ESCALATE_LEAVE_DOWN,
        .heartbeat_timeout_ms = 500,
        .ready_timeout_ms = 2000,
        .backoff_initial_ms = 100,
        .backoff_max_ms = 800,
        .intensity_max = 4,
        .intensity_period_ms = 10000,
        .stop_timeout_ms = 3000,
    };
    return p;
}

/* START + LAUNCH at `t`, READY at t + 10. */
static void bring_up(sup_fsm *f, uint64_t t)
{
    if (f->state == SUP_DOWN || f->state == SUP_FAILED)
        sup_fsm_step(f, SUP_EV_START, t, 0, 0);
    cr_assert_eq(f->state, SUP_PENDING);
    unsigned a = sup_fsm_step(f, SUP_EV_LAUNCH, t, 0, 0);
    cr_assert(a & SUP_ACT_SPAWN);
    cr_assert(a & SUP_ACT_TIMER);
    cr_assert_eq(f->timer_ms, 2000u); /* the ready timeout */
    a = sup_fsm_step(f, SUP_EV_READY, t + 10, 0, 0);
    cr_assert_eq(f->state, SUP_READY);
    cr_assert(a & SUP_ACT_TIMER_STOP);
}

Test(sup_fsm, crash_loop_doubles_the_backoff_up_to_the_cap_then_fails)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    p.intensity_max = 5;
    sup_fsm f;
    sup_fsm_init(&f, &p);
    /* Expected delays: 100, 200, 400, 800 (cap), 800; the 6th restart within
     * 10 s is more than intensity_max = 5 => failed. */
    const uint32_t want[] = {100, 200, 400, 800, 800};
    uint64_t t = 0;
    for (int k = 0; k < 5; k++) {
        bring_up(&f, t);
        t += 50; /* runs 50 ms, then dies of SIGABRT */
        unsigned a = sup_fsm_step(&f, SUP_EV_EXIT, t, 0, SIGABRT);
        cr_assert_eq(f.state, SUP_BACKOFF, "restart %d", k);
        cr_assert(a & SUP_ACT_RESTARTING);
        cr_assert(a & SUP_ACT_TIMER);
        cr_assert_eq(f.timer_ms, want[k], "delay %d: %u", k, f.timer_ms);
        cr_assert_eq(f.history[k].delay_ms, want[k]);
        cr_assert_eq(f.history[k].exit_ms, t);
        t += want[k];
        sup_fsm_step(&f, SUP_EV_TIMER, t, 0, 0);
        cr_assert_eq(f.state, SUP_PENDING);
    }
    cr_assert_eq(f.restarts, 5u);
    unsigned a = sup_fsm_step(&f, SUP_EV_LAUNCH, t, 0, 0);
    cr_assert(a & SUP_ACT_SPAWN);
    cr_assert_eq(f.history[4].spawn_ms, t, "the spawn time of the 5th restart is recorded");
    cr_assert_eq(f.starts, 6u);
    a = sup_fsm_step(&f, SUP_EV_EXIT, t + 50, 0, SIGABRT);
    cr_assert_eq(f.state, SUP_FAILED);
    cr_assert(a & SUP_ACT_FAILED);
    cr_assert_not(a & SUP_ACT_SPAWN);
    cr_assert_eq(f.want_up, 0);
    cr_assert_eq(f.last_signal, SIGABRT);
}

/* The largest max_restarts the config allows (255): 255 crashes within the
 * period are all restarted, the 256th marks the engine failed. */
Test(sup_fsm, intensity_limit_holds_at_the_largest_configurable_value)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    p.intensity_max = 255;
    p.intensity_period_ms = 86400000; /* a day: every crash below is inside it */
    p.backoff_initial_ms = p.backoff_max_ms = 1;
    sup_fsm f;
    sup_fsm_init(&f, &p);
    uint64_t t = 0;
    for (int k = 0; k < 255; k++) {
        bring_up(&f, t);
        sup_fsm_step(&f, SUP_EV_EXIT, t + 20, 0, SIGABRT);
        cr_assert_eq(f.state, SUP_BACKOFF, "crash %d must be restarted", k + 1);
        t += 21;
        sup_fsm_step(&f, SUP_EV_TIMER, t, 0, 0);
    }
    cr_assert_eq(f.restarts, 255u);
    bring_up(&f, t);
    unsigned a = sup_fsm_step(&f, SUP_EV_EXIT, t + 20, 0, SIGABRT);
    cr_assert_eq(f.state, SUP_FAILED, "the 256th restart exceeds 255");
    cr_assert(a & SUP_ACT_FAILED);
}

Test(sup_fsm, intensity_counts_only_restarts_inside_the_period)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    p.intensity_max = 1;
    p.intensity_period_ms = 1000;
    sup_fsm f;
    sup_fsm_init(&f, &p);
    /* One restart per 1500 ms: each window of 1000 ms holds one => never failed. */
    uint64_t t = 0;
    for (int k = 0; k < 6; k++) {
        bring_up(&f, t);
        sup_fsm_step(&f, SUP_EV_EXIT, t + 100, 1, 0);
        cr_assert_eq(f.state, SUP_BACKOFF, "restart %d", k);
        sup_fsm_step(&f, SUP_EV_TIMER, t + 200, 0, 0);
        t += 1500;
    }
    /* Two exits 300 ms apart: the second is the 2nd restart in 1000 ms > 1. */
    bring_up(&f, t);
    sup_fsm_step(&f, SUP_EV_EXIT, t + 100, 1, 0);
    sup_fsm_step(&f, SUP_EV_TIMER, t + 200, 0, 0);
    bring_up(&f, t + 200);
    sup_fsm_step(&f, SUP_EV_EXIT, t + 400, 1, 0);
    cr_assert_eq(f.state, SUP_FAILED);
}

Test(sup_fsm, backoff_resets_after_a_stable_run)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 50, 1, 0);
    cr_assert_eq(f.timer_ms, 100u);
    sup_fsm_step(&f, SUP_EV_TIMER, 150, 0, 0);
    bring_up(&f, 150);
    sup_fsm_step(&f, SUP_EV_EXIT, 200, 1, 0);
    cr_assert_eq(f.timer_ms, 200u); /* doubled: the run lasted 40 ms */
    sup_fsm_step(&f, SUP_EV_TIMER, 400, 0, 0);
    bring_up(&f, 400); /* ready at 410 */
    /* stable = max(backoff_max 800, 1000) = 1000 ms: ready at 410, exit at 1410 */
    cr_assert_eq(sup_fsm_stable_ms(&p), 1000u);
    sup_fsm_step(&f, SUP_EV_EXIT, 1410, 1, 0);
    cr_assert_eq(f.timer_ms, 100u, "a run of 1000 ms resets the back-off");
}

Test(sup_fsm, transient_restarts_only_abnormal_exits)
{
    sup_policy p = pol(MESH_RESTART_TRANSIENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 100, 3, 0);
    cr_assert_eq(f.state, SUP_BACKOFF, "exit 3 is abnormal");
    sup_fsm_step(&f, SUP_EV_TIMER, 200, 0, 0);
    bring_up(&f, 200);
    sup_fsm_step(&f, SUP_EV_EXIT, 300, 0, SIGSEGV);
    cr_assert_eq(f.state, SUP_BACKOFF, "death by signal is abnormal");
    sup_fsm_step(&f, SUP_EV_TIMER, 500, 0, 0);
    bring_up(&f, 500);
    unsigned a = sup_fsm_step(&f, SUP_EV_EXIT, 600, 0, 0);
    cr_assert_eq(f.state, SUP_DOWN, "exit 0 is normal: not restarted");
    cr_assert_not(a & SUP_ACT_RESTARTING);
    cr_assert_eq(f.last_reason, SUP_REASON_EXITED);
}

Test(sup_fsm, temporary_never_restarts_and_permanent_restarts_clean_exits)
{
    sup_policy p = pol(MESH_RESTART_TEMPORARY);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 100, 0, SIGKILL);
    cr_assert_eq(f.state, SUP_DOWN);
    p = pol(MESH_RESTART_PERMANENT);
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 100, 0, 0);
    cr_assert_eq(f.state, SUP_BACKOFF);
}

Test(sup_fsm, stop_sends_term_then_kill_at_the_stop_timeout_and_does_not_restart)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    unsigned a = sup_fsm_step(&f, SUP_EV_STOP, 100, 0, 0);
    cr_assert_eq(f.state, SUP_STOPPING);
    cr_assert(a & SUP_ACT_TERM);
    cr_assert(a & SUP_ACT_TIMER);
    cr_assert_eq(f.timer_ms, 3000u);
    a = sup_fsm_step(&f, SUP_EV_TIMER, 3100, 0, 0);
    cr_assert_eq(a, (unsigned)SUP_ACT_KILL);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_TIMER, 3200, 0, 0), 0u, "one SIGKILL only");
    a = sup_fsm_step(&f, SUP_EV_EXIT, 3110, 0, SIGKILL);
    cr_assert_eq(f.state, SUP_DOWN);
    cr_assert_not(a & SUP_ACT_RESTARTING);
    cr_assert_eq(f.last_reason, SUP_REASON_STOP_TIMEOUT);
    cr_assert_eq(f.restarts, 0u);
}

Test(sup_fsm, restart_request_stops_then_pends)
{
    sup_policy p = pol(MESH_RESTART_TEMPORARY); /* even a temporary engine restarts by hand */
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    unsigned a = sup_fsm_step(&f, SUP_EV_RESTART, 100, 0, 0);
    cr_assert(a & SUP_ACT_TERM);
    sup_fsm_step(&f, SUP_EV_EXIT, 150, 0, 0);
    cr_assert_eq(f.state, SUP_PENDING);
    cr_assert_eq(f.last_reason, SUP_REASON_STOPPED);
    cr_assert_eq(f.restarts, 0u, "a requested restart is not a failure");
}

Test(sup_fsm, stale_heartbeat_kills_and_restarts_with_the_reason)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    unsigned a = sup_fsm_step(&f, SUP_EV_HB_STALE, 900, 0, 0);
    cr_assert_eq(a, (unsigned)SUP_ACT_KILL);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_HB_STALE, 950, 0, 0), 0u);
    a = sup_fsm_step(&f, SUP_EV_EXIT, 905, 0, SIGKILL);
    cr_assert_eq(f.state, SUP_BACKOFF);
    cr_assert_eq(f.last_reason, SUP_REASON_HEARTBEAT);
    cr_assert_eq(f.last_signal, SIGKILL);
}

Test(sup_fsm, ready_timeout_kills_a_starting_engine)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    sup_fsm_step(&f, SUP_EV_START, 0, 0, 0);
    sup_fsm_step(&f, SUP_EV_LAUNCH, 0, 0, 0);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_TIMER, 2000, 0, 0), (unsigned)SUP_ACT_KILL);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_READY, 2001, 0, 0), 0u, "late readiness ignored");
    sup_fsm_step(&f, SUP_EV_EXIT, 2002, 0, SIGKILL);
    cr_assert_eq(f.last_reason, SUP_REASON_READY_TIMEOUT);
    cr_assert_eq(f.state, SUP_BACKOFF);
}

Test(sup_fsm, start_by_hand_forgives_a_failed_engine)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    p.intensity_max = 0; /* the first crash fails it */
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 10, 1, 0);
    cr_assert_eq(f.state, SUP_FAILED);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_TIMER, 20, 0, 0), 0u);
    sup_fsm_step(&f, SUP_EV_START, 30, 0, 0);
    cr_assert_eq(f.state, SUP_PENDING);
    cr_assert_eq(f.nint, 0u);
    cr_assert_eq(f.backoff_ms, 100u);
}

Test(sup_fsm, unwanted_engine_goes_down_at_its_exit)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_unwant(&f);
    cr_assert_eq(f.state, SUP_READY, "unwant does not signal");
    sup_fsm_step(&f, SUP_EV_EXIT, 100, 1, 0);
    cr_assert_eq(f.state, SUP_DOWN);
}

Test(sup_fsm, events_that_do_not_apply_change_nothing)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    const enum sup_event evs[] = {SUP_EV_READY, SUP_EV_EXIT,   SUP_EV_HB_STALE,
                                  SUP_EV_TIMER, SUP_EV_LAUNCH, SUP_EV_STOP};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        cr_assert_eq(sup_fsm_step(&f, evs[i], 5, 0, 0), 0u, "%s", sup_event_name(evs[i]));
        cr_assert_eq(f.state, SUP_DOWN);
    }
    sup_fsm_step(&f, SUP_EV_START, 0, 0, 0);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_READY, 1, 0, 0), 0u, "not spawned yet");
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_STOP, 2, 0, 0), (unsigned)SUP_ACT_CHANGED);
    cr_assert_eq(f.state, SUP_DOWN);
}

Test(sup_fsm, stop_during_backoff_cancels_the_restart)
{
    sup_policy p = pol(MESH_RESTART_PERMANENT);
    sup_fsm f;
    sup_fsm_init(&f, &p);
    bring_up(&f, 0);
    sup_fsm_step(&f, SUP_EV_EXIT, 10, 1, 0);
    unsigned a = sup_fsm_step(&f, SUP_EV_STOP, 20, 0, 0);
    cr_assert(a & SUP_ACT_TIMER_STOP);
    cr_assert_eq(f.state, SUP_DOWN);
    cr_assert_eq(sup_fsm_step(&f, SUP_EV_TIMER, 110, 0, 0), 0u);
}
