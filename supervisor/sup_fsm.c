/* Supervision state machine: restart types (permanent/transient/temporary,
 * as in Erlang/OTP), exponential back-off with a cap and a reset after a
 * stable run, and the restart intensity limit (more than intensity_max
 * restarts within intensity_period_ms => failed). */
#include "sup_fsm.h"

#include <string.h>

void sup_policy_from_cfg(sup_policy *pol, const mesh_engine_cfg *cfg)
{
    pol->restart = cfg->restart;
    pol->escalation = cfg->escalation;
    pol->heartbeat_timeout_ms = cfg->heartbeat_timeout_ms;
    pol->ready_timeout_ms = cfg->ready_timeout_ms;
    pol->backoff_initial_ms = cfg->backoff_initial_ms;
    pol->backoff_max_ms = cfg->backoff_max_ms;
    pol->intensity_max = cfg->intensity_max;
    pol->intensity_period_ms = cfg->intensity_period_ms;
    pol->stop_timeout_ms = cfg->stop_timeout_ms;
}

void sup_fsm_init(sup_fsm *f, const sup_policy *pol)
{
    memset(f, 0, sizeof(*f));
    f->state = SUP_DOWN;
    f->pol = *pol;
    f->backoff_ms = pol->backoff_initial_ms;
    f->last_status = -1;
}

void sup_fsm_set_policy(sup_fsm *f, const sup_policy *pol)
{
    if (f->backoff_ms < pol->backoff_initial_ms)
        f->backoff_ms = pol->backoff_initial_ms;
    if (f->backoff_ms > pol->backoff_max_ms)
        f->backoff_ms = pol->backoff_max_ms;
    f->pol = *pol;
}

void sup_fsm_unwant(sup_fsm *f)
{
    f->want_up = 0;
    f->restart_pending = 0;
}

int sup_fsm_running(const sup_fsm *f)
{
    return f->state == SUP_STARTING || f->state == SUP_READY || f->state == SUP_STOPPING;
}

uint32_t sup_fsm_stable_ms(const sup_policy *pol)
{
    return pol->backoff_max_ms > 1000 ? pol->backoff_max_ms : 1000;
}

static unsigned enter(sup_fsm *f, enum sup_state s)
{
    f->state = s;
    return SUP_ACT_CHANGED;
}

static unsigned do_spawn(sup_fsm *f, uint64_t now)
{
    f->starts++;
    f->spawn_ms = now;
    f->ready_ms = 0;
    f->kill_sent = 0;
    f->kill_reason = SUP_REASON_NONE;
    f->restart_pending = 0;
    if (f->nhist > 0) {
        sup_restart_rec *r = &f->history[(f->nhist - 1) % SUP_HISTORY];
        if (r->spawn_ms == 0)
            r->spawn_ms = now;
    }
    unsigned act = SUP_ACT_SPAWN | enter(f, SUP_STARTING);
    if (f->pol.ready_timeout_ms > 0) {
        f->timer_ms = f->pol.ready_timeout_ms;
        act |= SUP_ACT_TIMER;
    }
    return act;
}

static unsigned do_stop(sup_fsm *f, int then_start)
{
    f->want_up = then_start;
    f->restart_pending = then_start;
    if (f->state == SUP_STOPPING)
        return 0;
    f->timer_ms = f->pol.stop_timeout_ms;
    return SUP_ACT_TERM | SUP_ACT_TIMER | enter(f, SUP_STOPPING);
}

static unsigned do_kill(sup_fsm *f, enum sup_reason why)
{
    if (f->kill_sent)
        return 0;
    f->kill_sent = 1;
    f->kill_reason = why;
    return SUP_ACT_KILL;
}

static void record_exit(sup_fsm *f, uint64_t now, int status, int sig, enum sup_reason self)
{
    f->exit_ms = now;
    f->last_status = status;
    f->last_signal = sig;
    f->last_reason = f->kill_sent ? f->kill_reason : self;
}

/* Drops intensity timestamps that left the window; returns how many remain. */
static unsigned intensity_prune(sup_fsm *f, uint64_t now)
{
    unsigned keep = 0;
    for (unsigned i = 0; i < f->nint; i++)
        if (now - f->int_ms[i] < f->pol.intensity_period_ms)
            f->int_ms[keep++] = f->int_ms[i];
    f->nint = keep;
    return keep;
}

static unsigned schedule_restart(sup_fsm *f, uint64_t now)
{
    uint32_t max =
        f->pol.intensity_max < MESH_CFG_MAX_RESTARTS ? f->pol.intensity_max : MESH_CFG_MAX_RESTARTS;
    if (intensity_prune(f, now) + 1 > max) {
        f->want_up = 0;
        return SUP_ACT_TIMER_STOP | SUP_ACT_FAILED | enter(f, SUP_FAILED);
    }
    f->int_ms[f->nint++] = now;
    f->restarts++;
    sup_restart_rec *r = &f->history[f->nhist++ % SUP_HISTORY];
    r->exit_ms = now;
    r->delay_ms = f->backoff_ms;
    r->spawn_ms = 0;
    f->timer_ms = f->backoff_ms;
    uint64_t next = (uint64_t)f->backoff_ms * 2;
    f->backoff_ms = next > f->pol.backoff_max_ms ? f->pol.backoff_max_ms : (uint32_t)next;
    return SUP_ACT_TIMER | SUP_ACT_RESTARTING | enter(f, SUP_BACKOFF);
}

/* A run ended that nobody asked to stop (or that we killed for a hang). */
static unsigned unexpected_exit(sup_fsm *f, uint64_t now, int status, int sig, enum sup_reason self)
{
    const int was_ready = f->state == SUP_READY;
    record_exit(f, now, status, sig, self);
    const int abnormal = status != 0 || sig != 0;
    int restart = f->want_up;
    if (f->pol.restart == MESH_RESTART_TRANSIENT)
        restart = restart && abnormal;
    else if (f->pol.restart == MESH_RESTART_TEMPORARY)
        restart = 0;
    if (!restart) {
        f->want_up = 0;
        return SUP_ACT_TIMER_STOP | enter(f, SUP_DOWN);
    }
    if (was_ready && now - f->ready_ms >= sup_fsm_stable_ms(&f->pol))
        f->backoff_ms = f->pol.backoff_initial_ms;
    return schedule_restart(f, now);
}

static unsigned step_down(sup_fsm *f, enum sup_event ev)
{
    if (ev == SUP_EV_STOP) {
        f->want_up = 0;
        return 0;
    }
    if (ev != SUP_EV_START && ev != SUP_EV_RESTART)
        return 0;
    if (f->state == SUP_FAILED) { /* a start by hand forgives the past */
        f->nint = 0;
        f->backoff_ms = f->pol.backoff_initial_ms;
    }
    f->want_up = 1;
    return enter(f, SUP_PENDING);
}

static unsigned step_running(sup_fsm *f, enum sup_event ev, uint64_t now, int status, int sig)
{
    switch (ev) {
    case SUP_EV_READY:
        if (f->state != SUP_STARTING || f->kill_sent)
            return 0;
        f->ready_ms = now;
        return SUP_ACT_TIMER_STOP | enter(f, SUP_READY);
    case SUP_EV_TIMER:
        return f->state == SUP_STARTING ? do_kill(f, SUP_REASON_READY_TIMEOUT) : 0;
    case SUP_EV_HB_STALE:
        return f->state == SUP_READY ? do_kill(f, SUP_REASON_HEARTBEAT) : 0;
    case SUP_EV_EXIT:
        return unexpected_exit(f, now, status, sig, SUP_REASON_EXITED);
    case SUP_EV_SPAWN_FAILED:
        return unexpected_exit(f, now, 127, 0, SUP_REASON_SPAWN_FAILED);
    case SUP_EV_STOP:
        return do_stop(f, 0);
    case SUP_EV_RESTART:
        return do_stop(f, 1);
    default:
        return 0;
    }
}

static unsigned step_stopping(sup_fsm *f, enum sup_event ev, uint64_t now, int status, int sig)
{
    switch (ev) {
    case SUP_EV_TIMER:
        return do_kill(f, SUP_REASON_STOP_TIMEOUT);
    case SUP_EV_EXIT:
    case SUP_EV_SPAWN_FAILED:
        record_exit(f, now, status, sig, SUP_REASON_STOPPED);
        if (f->want_up && f->restart_pending) {
            f->restart_pending = 0;
            return SUP_ACT_TIMER_STOP | enter(f, SUP_PENDING);
        }
        f->want_up = 0;
        return SUP_ACT_TIMER_STOP | enter(f, SUP_DOWN);
    case SUP_EV_START:
    case SUP_EV_RESTART:
        f->want_up = 1;
        f->restart_pending = 1;
        return 0;
    case SUP_EV_STOP:
        sup_fsm_unwant(f);
        return 0;
    default:
        return 0;
    }
}

unsigned sup_fsm_step(sup_fsm *f, enum sup_event ev, uint64_t now_ms, int status, int sig)
{
    switch (f->state) {
    case SUP_DOWN:
    case SUP_FAILED:
        return step_down(f, ev);
    case SUP_PENDING:
        if (ev == SUP_EV_LAUNCH)
            return do_spawn(f, now_ms);
        if (ev == SUP_EV_STOP) {
            f->want_up = 0;
            return enter(f, SUP_DOWN);
        }
        return 0;
    case SUP_STARTING:
    case SUP_READY:
        return step_running(f, ev, now_ms, status, sig);
    case SUP_STOPPING:
        return step_stopping(f, ev, now_ms, status, sig);
    case SUP_BACKOFF:
        if (ev == SUP_EV_TIMER)
            return enter(f, SUP_PENDING);
        if (ev == SUP_EV_START || ev == SUP_EV_RESTART)
            return SUP_ACT_TIMER_STOP | enter(f, SUP_PENDING);
        if (ev == SUP_EV_STOP) {
            f->want_up = 0;
            return SUP_ACT_TIMER_STOP | enter(f, SUP_DOWN);
        }
        return 0;
    default:
        return 0;
    }
}

const char *sup_state_name(enum sup_state s)
{
    static const char *const names[SUP_NSTATES] = {"down",     "pending", "starting", "ready",
                                                   "stopping", "backoff", "failed"};
    return (unsigned)s < SUP_NSTATES ? names[s] : "unknown";
}

const char *sup_event_name(enum sup_event e)
{
    static const char *const names[SUP_NEVENTS] = {"start", "launch",  "spawn-failed",
                                                   "ready", "exit",    "heartbeat-stale",
                                                   "stop",  "restart", "timer"};
    return (unsigned)e < SUP_NEVENTS ? names[e] : "unknown";
}

const char *sup_reason_name(enum sup_reason r)
{
    switch (r) {
    case SUP_REASON_NONE:
        return "none";
    case SUP_REASON_EXITED:
        return "exited";
    case SUP_REASON_STOPPED:
        return "stopped";
    case SUP_REASON_STOP_TIMEOUT:
        return "killed: stop timeout";
    case SUP_REASON_HEARTBEAT:
        return "killed: heartbeat stale";
    case SUP_REASON_READY_TIMEOUT:
        return "killed: ready timeout";
    case SUP_REASON_SPAWN_FAILED:
        return "spawn failed";
    }
    return "unknown";
}
