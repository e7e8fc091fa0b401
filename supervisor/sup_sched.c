/* The scheduler: carries out state-machine actions, launches pending engines
 * once their dependencies are ready (start_order), applies rest_for_one,
 * progresses the reverse-order mesh stop, and serves operator commands. */
#include "sup_mesh.h"

#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sup_spawn_engine(sup_engine *e); /* sup_spawn.c */
void sup_mesh_finish(sup_mesh *m);   /* sup_mesh.c */

static void timer_cb(uv_timer_t *t)
{
    sup_mesh_event(t->data, SUP_EV_TIMER, 0, 0);
}

static void mark_rest_for_one(sup_engine *failed);

static void apply(sup_engine *e, unsigned act)
{
    sup_mesh *m = e->mesh;
    if (act & SUP_ACT_TIMER_STOP)
        uv_timer_stop(&e->timer);
    if (act & SUP_ACT_KILL) {
        mesh_warn("%s: pid %d: SIGKILL (%s)", e->name, e->child.pid,
                  sup_reason_name(e->fsm.kill_reason));
        sup_child_kill(&e->child, SIGKILL);
    }
    if (act & SUP_ACT_TERM) {
        mesh_info("%s: pid %d: SIGTERM (stop timeout %u ms)", e->name, e->child.pid,
                  e->fsm.pol.stop_timeout_ms);
        sup_child_kill(&e->child, SIGTERM);
    }
    if (act & SUP_ACT_TIMER) {
        e->timer.data = e;
        uv_timer_start(&e->timer, timer_cb, e->fsm.timer_ms, 0);
    }
    if ((act & SUP_ACT_SPAWN) && sup_spawn_engine(e) != 0) {
        act |= SUP_ACT_CHANGED;
        sup_mesh_event(e, SUP_EV_SPAWN_FAILED, 127, 0);
    }
    if (act & SUP_ACT_RESTARTING) {
        mesh_warn("%s: restart %u in %u ms (back-off; last run: %s, status %d, signal %d)", e->name,
                  e->fsm.restarts, e->fsm.timer_ms, sup_reason_name(e->fsm.last_reason),
                  e->fsm.last_status, e->fsm.last_signal);
        if (m->cfg->strategy == MESH_STRATEGY_REST_FOR_ONE && !m->stopping)
            mark_rest_for_one(e);
    }
    if (act & SUP_ACT_FAILED) {
        mesh_error("%s: FAILED: more than %u restarts within %u ms; escalation: %s", e->name,
                   e->fsm.pol.intensity_max, e->fsm.pol.intensity_period_ms,
                   e->fsm.pol.escalation == MESH_ESCALATE_STOP_MESH ? "stop_mesh" : "leave_down");
        if (e->ctl)
            bus_ctl_set_state(e->ctl, BUS_CTL_STATE_FAILED);
        if (e->fsm.pol.escalation == MESH_ESCALATE_STOP_MESH)
            sup_mesh_stop(m, "an engine failed with escalation stop_mesh", 1);
    }
    if (act & SUP_ACT_CHANGED)
        sup_mesh_kick(m);
}

void sup_mesh_event(sup_engine *e, enum sup_event ev, int status, int sig)
{
    enum sup_state before = e->fsm.state;
    unsigned act = sup_fsm_step(&e->fsm, ev, sup_mesh_now_ms(e->mesh), status, sig);
    if (e->fsm.state != before)
        mesh_debug("%s: %s --%s--> %s", e->name, sup_state_name(before), sup_event_name(ev),
                   sup_state_name(e->fsm.state));
    apply(e, act);
}

/* Position of a slot in the start order, -1 if absent (removed engine). */
static int order_pos(const sup_mesh *m, int slot)
{
    for (int k = 0; k < m->norder; k++)
        if (m->order[k] == slot)
            return k;
    return -1;
}

/* rest_for_one: every engine after `failed` in start order is stopped in
 * reverse order, then started again in order once `failed` is ready. */
static void mark_rest_for_one(sup_engine *failed)
{
    sup_mesh *m = failed->mesh;
    int prev = (int)(failed - m->eng);
    int pos = order_pos(m, prev);
    if (pos < 0)
        return;
    for (int k = pos + 1; k < m->norder; k++) {
        sup_engine *e = &m->eng[m->order[k]];
        if (!e->fsm.want_up)
            continue;
        e->hold_for = prev;
        prev = m->order[k];
        if (e->fsm.state == SUP_STARTING || e->fsm.state == SUP_READY) {
            e->group_stop = 1;
            mesh_info("%s: restarting too (rest_for_one after %s)", e->name, failed->name);
        }
    }
}

static int deps_ready(const sup_mesh *m, const sup_engine *e)
{
    if (e->cfg_index < 0)
        return 0;
    const mesh_engine_cfg *c = &m->cfg->engines[e->cfg_index];
    for (int d = 0; d < c->ndeps; d++)
        if (m->eng[m->slot_of[c->deps[d]]].fsm.state != SUP_READY)
            return 0;
    return 1;
}

static int hold_ok(const sup_mesh *m, const sup_engine *e)
{
    if (e->hold_for < 0)
        return 1;
    const sup_engine *h = &m->eng[e->hold_for];
    return !h->in_use || !h->fsm.want_up || h->fsm.state == SUP_READY;
}

/* Stops group members one at a time, last in start order first. Returns 1
 * while some member still has to stop. */
static int progress_group_stop(sup_mesh *m)
{
    for (int k = m->norder - 1; k >= 0; k--) {
        sup_engine *e = &m->eng[m->order[k]];
        if (!e->group_stop)
            continue;
        if (e->fsm.state == SUP_STOPPING)
            return 1;
        if (e->fsm.state == SUP_STARTING || e->fsm.state == SUP_READY) {
            sup_mesh_event(e, SUP_EV_RESTART, 0, 0);
            return 1;
        }
        e->group_stop = 0; /* exited meanwhile: nothing left to stop */
    }
    return 0;
}

static void launch_pending(sup_mesh *m, int group_busy)
{
    for (int k = 0; k < m->norder; k++) {
        sup_engine *e = &m->eng[m->order[k]];
        if (e->fsm.state != SUP_PENDING || !deps_ready(m, e))
            continue;
        if (e->hold_for >= 0 && (group_busy || !hold_ok(m, e)))
            continue;
        if (!sup_child_idle(&e->child)) {
            sup_child_release(&e->child); /* on_idle kicks us again */
            continue;
        }
        e->hold_for = -1;
        sup_mesh_event(e, SUP_EV_LAUNCH, 0, 0);
    }
}

/* Mesh stop: one engine at a time in reverse start order; then finish. */
static void progress_stop(sup_mesh *m)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        sup_engine *e = &m->eng[s];
        if (e->in_use && !sup_fsm_running(&e->fsm) && e->fsm.state != SUP_DOWN &&
            e->fsm.state != SUP_FAILED)
            sup_mesh_event(e, SUP_EV_STOP, 0, 0); /* pending / backoff: just down */
    }
    for (int k = m->norder - 1; k >= 0; k--) {
        sup_engine *e = &m->eng[m->order[k]];
        if (e->fsm.state == SUP_STOPPING)
            return;
        if (sup_fsm_running(&e->fsm)) {
            sup_mesh_event(e, SUP_EV_STOP, 0, 0);
            return;
        }
    }
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        sup_engine *e = &m->eng[s];
        if (!e->in_use)
            continue;
        if (sup_fsm_running(&e->fsm))
            return; /* removed engines still stopping */
        if (!sup_child_idle(&e->child)) {
            sup_child_release(&e->child);
            return;
        }
    }
    sup_mesh_finish(m);
}

static void report_ready(sup_mesh *m)
{
    int n = 0, all = 1;
    for (int k = 0; k < m->norder; k++) {
        const sup_engine *e = &m->eng[m->order[k]];
        if (e->fsm.state == SUP_FAILED)
            all = 0; /* a failed engine leaves the mesh degraded until started by hand */
        if (!e->fsm.want_up)
            continue;
        n++;
        if (e->fsm.state != SUP_READY)
            all = 0;
    }
    if (all && !m->all_ready) {
        if (!m->ever_ready) {
            m->ready_ms = sup_mesh_now_ms(m);
            mesh_info("mesh ready: %d engines ready in %llu ms", n,
                      (unsigned long long)m->ready_ms);
            if (m->opts.ready_fd >= 0) { /* s6-style readiness of meshd itself */
                ssize_t w = write(m->opts.ready_fd, "ready\n", 6);
                (void)w;
                close(m->opts.ready_fd);
                m->opts.ready_fd = -1;
            }
        } else {
            mesh_info("mesh ready: %d engines ready", n);
        }
        m->ever_ready = 1;
    }
    m->all_ready = all;
}

static void schedule_once(sup_mesh *m)
{
    /* removed by a reload and down: free the slot */
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        sup_engine *e = &m->eng[s];
        if (e->in_use && e->cfg_index == -1 && !sup_fsm_running(&e->fsm)) {
            if (!sup_child_idle(&e->child))
                sup_child_release(&e->child);
            else
                sup_mesh_slot_free(e);
        }
    }
    if (m->stopping) {
        progress_stop(m);
        return;
    }
    int group_busy = progress_group_stop(m);
    launch_pending(m, group_busy);
    report_ready(m);
}

void sup_mesh_kick(sup_mesh *m)
{
    m->dirty = 1;
    if (m->in_schedule)
        return;
    m->in_schedule = 1;
    while (m->dirty) {
        m->dirty = 0;
        schedule_once(m);
    }
    m->in_schedule = 0;
}

void sup_mesh_stop(sup_mesh *m, const char *why, int exit_code)
{
    if (exit_code > m->exit_code)
        m->exit_code = exit_code;
    if (m->stopping)
        return;
    m->stopping = 1;
    mesh_info("stopping the mesh (%s): engines in reverse start order", why);
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (m->eng[s].in_use) {
            sup_fsm_unwant(&m->eng[s].fsm);
            m->eng[s].group_stop = 0;
        }
    sup_mesh_kick(m);
}

/* ---- operator commands ---------------------------------------------------- */

static sup_engine *lookup(sup_mesh *m, const char *name, char *msg, size_t msglen, int *rc)
{
    *rc = 0;
    if (m->stopping) {
        snprintf(msg, msglen, "the mesh is stopping");
        *rc = MESH_ESTATE;
        return NULL;
    }
    sup_engine *e = sup_mesh_find(m, name);
    if (!e || e->cfg_index < 0) {
        snprintf(msg, msglen, "no engine named '%s' in %s", name, m->config_path);
        *rc = MESH_ENOENT;
        return NULL;
    }
    return e;
}

int sup_mesh_start_engine(sup_mesh *m, const char *name, char *msg, size_t msglen)
{
    int rc;
    sup_engine *e = lookup(m, name, msg, msglen, &rc);
    if (!e)
        return rc;
    if (sup_fsm_running(&e->fsm) && e->fsm.state != SUP_STOPPING) {
        snprintf(msg, msglen, "%s is already %s", name, sup_state_name(e->fsm.state));
        return MESH_ESTATE;
    }
    e->hold_for = -1;
    sup_mesh_event(e, SUP_EV_START, 0, 0);
    snprintf(msg, msglen, "%s: %s", name, sup_state_name(e->fsm.state));
    return 0;
}

int sup_mesh_stop_engine(sup_mesh *m, const char *name, char *msg, size_t msglen)
{
    int rc;
    sup_engine *e = lookup(m, name, msg, msglen, &rc);
    if (!e)
        return rc;
    if (e->fsm.state == SUP_DOWN || e->fsm.state == SUP_FAILED) {
        snprintf(msg, msglen, "%s is already %s", name, sup_state_name(e->fsm.state));
        return MESH_ESTATE;
    }
    e->group_stop = 0;
    sup_mesh_event(e, SUP_EV_STOP, 0, 0);
    snprintf(msg, msglen, "%s: %s", name, sup_state_name(e->fsm.state));
    return 0;
}

int sup_mesh_restart_engine(sup_mesh *m, const char *name, char *msg, size_t msglen)
{
    int rc;
    sup_engine *e = lookup(m, name, msg, msglen, &rc);
    if (!e)
        return rc;
    e->hold_for = -1;
    sup_mesh_event(e, SUP_EV_RESTART, 0, 0);
    snprintf(msg, msglen, "%s: %s", name, sup_state_name(e->fsm.state));
    return 0;
}

/* ---- heartbeat watch ----------------------------------------------------- */

static void hb_cb(uv_timer_t *t)
{
    sup_mesh *m = t->data;
    static bus_ctl_snapshot snap; /* large (histogram): not on the stack */
    uint64_t now = mesh_now_ns();
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        sup_engine *e = &m->eng[s];
        uint32_t to = e->run_hb_ms; /* not the policy: a reload may have lowered it */
        if (!e->in_use || e->fsm.state != SUP_READY || e->fsm.kill_sent || to == 0 || !e->ctl)
            continue;
        if (bus_ctl_snapshot_get(e->ctl, &snap) != 0)
            continue;
        uint64_t base = snap.heartbeat_ns > e->ready_ns ? snap.heartbeat_ns : e->ready_ns;
        if (now > base && now - base > (uint64_t)to * 1000000ull) {
            mesh_warn("%s: heartbeat stale: last one %llu ms ago (timeout %u ms)", e->name,
                      (unsigned long long)((now - base) / 1000000ull), to);
            sup_mesh_event(e, SUP_EV_HB_STALE, 0, 0);
        }
    }
}

void sup_mesh_hb_rearm(sup_mesh *m)
{
    uint32_t min = 0;
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        const sup_engine *e = &m->eng[s];
        /* the timeouts of the running processes and those of their next runs */
        uint32_t to[2] = {e->in_use ? e->fsm.pol.heartbeat_timeout_ms : 0,
                          e->in_use ? e->run_hb_ms : 0};
        for (int k = 0; k < 2; k++)
            if (to[k] > 0 && (min == 0 || to[k] < min))
                min = to[k];
    }
    uv_timer_stop(&m->hb_timer);
    if (min == 0)
        return;
    uint32_t iv = min / 4;
    iv = iv < 10 ? 10 : iv > 1000 ? 1000 : iv;
    m->hb_interval_ms = iv;
    m->hb_timer.data = m;
    uv_timer_start(&m->hb_timer, hb_cb, iv, iv);
}
