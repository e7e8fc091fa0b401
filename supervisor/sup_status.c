/* Status, rings and metrics output: supervisor state from the engine table,
 * live figures from the control blocks and rings in shared memory (read-only
 * snapshots: the engines are never disturbed). */
#include "sup_status.h"

#include "bridge_state.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "sup_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bus_ctl_snapshot snap; /* large (histogram); loop thread only */

static const char *mesh_state(const sup_mesh *m)
{
    if (m->stopping)
        return "stopping";
    if (m->all_ready)
        return "ready";
    return m->ever_ready ? "degraded" : "starting";
}

static void engine_history(sup_json *j, const sup_fsm *f)
{
    unsigned n = f->nhist < SUP_HISTORY ? f->nhist : SUP_HISTORY;
    sup_json_key(j, "restart_history");
    sup_json_arr(j);
    for (unsigned k = f->nhist - n; k < f->nhist; k++) {
        const sup_restart_rec *r = &f->history[k % SUP_HISTORY];
        sup_json_obj(j);
        sup_json_kuint(j, "exit_ms", r->exit_ms);
        sup_json_kuint(j, "delay_ms", r->delay_ms);
        if (r->spawn_ms)
            sup_json_kuint(j, "spawn_ms", r->spawn_ms);
        sup_json_obj_end(j);
    }
    sup_json_arr_end(j);
}

static void engine_shm(sup_json *j, const sup_engine *e, uint64_t now_ns)
{
    if (!e->ctl || bus_ctl_snapshot_get(e->ctl, &snap) != 0) {
        sup_json_key(j, "heartbeat_age_ms");
        sup_json_null(j);
        return;
    }
    sup_json_key(j, "heartbeat_age_ms");
    if (snap.heartbeat_ns && now_ns >= snap.heartbeat_ns && sup_fsm_running(&e->fsm))
        sup_json_uint(j, (now_ns - snap.heartbeat_ns) / 1000000u);
    else
        sup_json_null(j);
    sup_json_kuint(j, "msgs_in", snap.counters[BUS_CTL_MSGS_IN]);
    sup_json_kuint(j, "msgs_out", snap.counters[BUS_CTL_MSGS_OUT]);
    sup_json_kuint(j, "malformed", snap.counters[BUS_CTL_MALFORMED]);
    sup_json_kuint(j, "handler_errors", snap.counters[BUS_CTL_HANDLER_ERRORS]);
    sup_json_kuint(j, "latency_count", snap.latency.count);
    sup_json_kuint(j, "p50_ns", mesh_hist_percentile(&snap.latency, 50.0));
    sup_json_kuint(j, "p99_ns", mesh_hist_percentile(&snap.latency, 99.0));
    sup_json_kstr(j, "engine_state", bus_ctl_state_name(snap.state));
}

static void engine_json(sup_json *j, const sup_mesh *m, const sup_engine *e, uint64_t now_ms,
                        uint64_t now_ns)
{
    const sup_fsm *f = &e->fsm;
    sup_json_obj(j);
    sup_json_kstr(j, "name", e->name);
    sup_json_kstr(j, "state", sup_state_name(f->state));
    sup_json_kint(j, "pid", e->child.pid);
    sup_json_kuint(j, "starts", f->starts);
    sup_json_kuint(j, "restarts", f->restarts);
    sup_json_kuint(j, "uptime_ms", f->state == SUP_READY ? now_ms - f->ready_ms : 0);
    sup_json_kuint(j, "spawn_ms", f->spawn_ms);
    sup_json_kuint(j, "ready_ms", f->ready_ms);
    sup_json_key(j, "last_exit");
    if (f->last_status < 0 && f->last_signal == 0) {
        sup_json_null(j);
    } else {
        sup_json_obj(j);
        sup_json_kint(j, "status", f->last_status);
        sup_json_kint(j, "signal", f->last_signal);
        sup_json_kstr(j, "reason", sup_reason_name(f->last_reason));
        sup_json_kuint(j, "at_ms", f->exit_ms);
        sup_json_obj_end(j);
    }
    sup_json_kuint(j, "next_backoff_ms", f->backoff_ms);
    sup_json_kstr(j, "restart",
                  f->pol.restart == MESH_RESTART_PERMANENT   ? "permanent"
                  : f->pol.restart == MESH_RESTART_TRANSIENT ? "transient"
                                                             : "temporary");
    sup_json_kbool(j, "removed", e->cfg_index < 0);
    engine_shm(j, e, now_ns);
    engine_history(j, f);
    sup_json_key(j, "depends_on");
    sup_json_arr(j);
    if (e->cfg_index >= 0) {
        const mesh_engine_cfg *c = &m->cfg->engines[e->cfg_index];
        for (int d = 0; d < c->ndeps; d++)
            sup_json_str(j, m->cfg->engines[c->deps[d]].name);
    }
    sup_json_arr_end(j);
    sup_json_obj_end(j);
}

/* The bridge's shared counters (bridge/bridge_state.h), attached read-only
 * for one request; NULL when the mesh has no off-host route or the bridge
 * has not created them yet. The caller closes it. */
static bridge_state *bridge_attach(const sup_mesh *m)
{
    bridge_state *bs = NULL;
    for (int i = 0; i < m->cfg->nroutes; i++)
        if (m->cfg->routes[i].peer >= 0)
            return bridge_state_attach(&bs, m->cfg->name) == 0 ? bs : NULL;
    return NULL;
}

/* Bridge-wide counters: frames rejected before a route was known, refused
 * handshakes, connected peers. */
static void bridge_hdr_json(sup_json *j, bridge_state *bs)
{
    bridge_state_hdr *h = bridge_state_header(bs);
    sup_json_kuint(j, "bad_frames", bridge_word_get(&h->bad_frames));
    sup_json_kuint(j, "hello_refused", bridge_word_get(&h->hello_refused));
    sup_json_kuint(j, "route_conflicts", bridge_word_get(&h->route_conflicts));
    sup_json_kuint(j, "peer_refusals", bridge_word_get(&h->peer_refusals));
    sup_json_kuint(j, "links_up", bridge_word_get(&h->links_up));
}

/* One off-host route's counters (every counter of bridge_state.h). */
static void bridge_slot_json(sup_json *j, const bridge_slot *sl)
{
    sup_json_kstr(j, "direction", sl->dir == BRIDGE_DIR_OUT ? "out" : "in");
    for (int c = 0; c < BRIDGE_NCOUNTERS; c++)
        sup_json_kuint(j, bridge_counter_name((enum bridge_counter)c),
                       bridge_slot_get(sl, (enum bridge_counter)c));
}

/* "bridge": null, or the bridge-wide counters and one entry per off-host
 * route of the config (counters null until the bridge registered it). */
static void status_bridge_json(sup_json *j, const sup_mesh *m)
{
    bridge_state *bs = bridge_attach(m);
    sup_json_key(j, "bridge");
    if (!bs) {
        sup_json_null(j);
        return;
    }
    sup_json_obj(j);
    bridge_hdr_json(j, bs);
    sup_json_key(j, "routes");
    sup_json_arr(j);
    for (int i = 0; i < m->cfg->nroutes; i++) {
        const mesh_route_cfg *rt = &m->cfg->routes[i];
        if (rt->peer < 0)
            continue;
        const bridge_slot *sl = bridge_state_find(bs, rt->from, rt->to);
        sup_json_obj(j);
        sup_json_kstr(j, "from", rt->from);
        sup_json_kstr(j, "to", rt->to);
        sup_json_kstr(j, "peer", m->cfg->peers[rt->peer].name);
        if (sl)
            bridge_slot_json(j, sl);
        sup_json_obj_end(j);
    }
    sup_json_arr_end(j);
    sup_json_obj_end(j);
    bridge_state_close(bs);
}

void sup_status_json(sup_mesh *m, sup_json *j)
{
    uint64_t now_ms = sup_mesh_now_ms(m), now_ns = mesh_now_ns();
    sup_json_kstr(j, "mesh", m->cfg->name);
    sup_json_kstr(j, "config", m->config_path);
    sup_json_kstr(j, "search_path", m->opts.search_path ? m->opts.search_path : "");
    sup_json_kint(j, "pid", getpid());
    sup_json_kstr(j, "state", mesh_state(m));
    sup_json_kbool(j, "ready", m->all_ready && !m->stopping);
    sup_json_kuint(j, "uptime_ms", now_ms);
    if (m->ever_ready)
        sup_json_kuint(j, "ready_ms", m->ready_ms);
    sup_json_kstr(j, "strategy",
                  m->cfg->strategy == MESH_STRATEGY_REST_FOR_ONE ? "rest_for_one" : "one_for_one");
    sup_json_kstr(j, "control_socket", m->cfg->control_socket);
    sup_json_kuint(j, "reloads", m->reloads);
    sup_json_key(j, "engines");
    sup_json_arr(j);
    for (int k = 0; k < m->norder; k++)
        engine_json(j, m, &m->eng[m->order[k]], now_ms, now_ns);
    for (int s = 0; s < SUP_MAX_SLOTS; s++) /* removed by a reload, still stopping */
        if (m->eng[s].in_use && m->eng[s].cfg_index < 0)
            engine_json(j, m, &m->eng[s], now_ms, now_ns);
    sup_json_arr_end(j);
    status_bridge_json(j, m);
}

/* An off-host route's ring: its peer and the bridge's counters for the route
 * (null until the bridge has registered it). */
static void ring_bridge_json(sup_json *j, const mesh_config *cfg, const mesh_route_cfg *rt,
                             const bridge_state *bs)
{
    sup_json_kstr(j, "peer", cfg->peers[rt->peer].name);
    const bridge_slot *sl = bs ? bridge_state_find(bs, rt->from, rt->to) : NULL;
    sup_json_key(j, "bridge");
    if (!sl) {
        sup_json_null(j);
        return;
    }
    sup_json_obj(j);
    bridge_slot_json(j, sl);
    sup_json_obj_end(j);
}

void sup_status_rings_json(sup_mesh *m, sup_json *j)
{
    bridge_state *bs = bridge_attach(m);
    sup_json_kstr(j, "mesh", m->cfg->name);
    sup_json_kuint(j, "time_ns", mesh_now_ns());
    if (bs) { /* bridge-wide counters; per route below */
        sup_json_key(j, "bridge");
        sup_json_obj(j);
        bridge_hdr_json(j, bs);
        sup_json_obj_end(j);
    }
    sup_json_key(j, "rings");
    sup_json_arr(j);
    for (int i = 0; i < m->rings.n; i++) {
        const sup_ring *r = &m->rings.r[i];
        const mesh_route_cfg *rt = &m->cfg->routes[r->route];
        bus_ring_stats st;
        if (!r->obs || bus_ring_stats_get(r->obs, &st) != 0)
            continue;
        sup_json_obj(j);
        sup_json_kstr(j, "name", r->name);
        sup_json_kstr(j, "from", rt->from);
        sup_json_kstr(j, "to", rt->to);
        sup_json_kstr(j, "policy", st.policy == BUS_RING_POLICY_DROP ? "drop" : "wait");
        sup_json_key(j, "types");
        sup_json_arr(j);
        for (int t = 0; t < rt->ntypes; t++)
            sup_json_str(j, rt->type_names[t]);
        sup_json_arr_end(j);
        sup_json_kuint(j, "capacity", st.capacity);
        sup_json_kuint(j, "depth", st.depth);
        sup_json_kuint(j, "messages", st.messages);
        sup_json_kuint(j, "bytes", st.bytes);
        sup_json_kuint(j, "full_waits", st.full_waits);
        sup_json_kuint(j, "drops", st.drops);
        sup_json_kuint(j, "wakeups", st.wakeups);
        sup_json_kuint(j, "high_water", st.high_water);
        sup_json_kuint(j, "next_seq", st.next_seq);
        sup_json_kint(j, "producer_pid", st.producer_pid);
        sup_json_kint(j, "consumer_pid", st.consumer_pid);
        if (rt->peer >= 0)
            ring_bridge_json(j, m->cfg, rt, bs);
        sup_json_obj_end(j);
    }
    sup_json_arr_end(j);
    bridge_state_close(bs);
}

/* ---- Prometheus ---------------------------------------------------------- */

static void prom_engine(sup_json *t, const sup_engine *e)
{
    char line[512];
    const sup_fsm *f = &e->fsm;
    for (int s = 0; s < SUP_NSTATES; s++) {
        snprintf(line, sizeof(line), "mesh_engine_state{engine=\"%s\",state=\"%s\"} %d\n", e->name,
                 sup_state_name((enum sup_state)s), f->state == (enum sup_state)s);
        sup_json_raw(t, line, strlen(line));
    }
    snprintf(line, sizeof(line), "mesh_engine_restarts_total{engine=\"%s\"} %u\n", e->name,
             f->restarts);
    sup_json_raw(t, line, strlen(line));
    if (!e->ctl || bus_ctl_snapshot_get(e->ctl, &snap) != 0)
        return;
    snprintf(line, sizeof(line),
             "mesh_engine_messages_in_total{engine=\"%s\"} %llu\n"
             "mesh_engine_messages_out_total{engine=\"%s\"} %llu\n"
             "mesh_engine_malformed_total{engine=\"%s\"} %llu\n"
             "mesh_engine_handler_latency_seconds{engine=\"%s\",quantile=\"0.5\"} %.9f\n"
             "mesh_engine_handler_latency_seconds{engine=\"%s\",quantile=\"0.99\"} %.9f\n",
             e->name, (unsigned long long)snap.counters[BUS_CTL_MSGS_IN], e->name,
             (unsigned long long)snap.counters[BUS_CTL_MSGS_OUT], e->name,
             (unsigned long long)snap.counters[BUS_CTL_MALFORMED], e->name,
             (double)mesh_hist_percentile(&snap.latency, 50.0) / 1e9, e->name,
             (double)mesh_hist_percentile(&snap.latency, 99.0) / 1e9);
    sup_json_raw(t, line, strlen(line));
}

static void prom_ring(sup_json *t, const sup_mesh *m, const sup_ring *r)
{
    bus_ring_stats st;
    if (!r->obs || bus_ring_stats_get(r->obs, &st) != 0)
        return;
    const mesh_route_cfg *rt = &m->cfg->routes[r->route];
    char lbl[128], line[1024];
    snprintf(lbl, sizeof(lbl), "from=\"%s\",to=\"%s\"", rt->from, rt->to);
    snprintf(line, sizeof(line),
             "mesh_ring_depth_bytes{%s} %llu\nmesh_ring_messages_total{%s} %llu\n"
             "mesh_ring_full_waits_total{%s} %llu\nmesh_ring_drops_total{%s} %llu\n"
             "mesh_ring_wakeups_total{%s} %llu\nmesh_ring_high_water_bytes{%s} %llu\n",
             lbl, (unsigned long long)st.depth, lbl, (unsigned long long)st.messages, lbl,
             (unsigned long long)st.full_waits, lbl, (unsigned long long)st.drops, lbl,
             (unsigned long long)st.wakeups, lbl, (unsigned long long)st.high_water);
    sup_json_raw(t, line, strlen(line));
}

/* Per off-host route: the bridge's counters; bridge-wide ones once. */
static void prom_bridge(sup_json *t, const sup_mesh *m)
{
    static const enum bridge_counter counters[] = {
        BRIDGE_C_SENT,     BRIDGE_C_RECEIVED, BRIDGE_C_GAPS, BRIDGE_C_RECONNECTS, BRIDGE_C_DROPS,
        BRIDGE_C_REJECTED, BRIDGE_C_RESENT,   BRIDGE_C_DUPS, BRIDGE_C_BAD_FRAMES, BRIDGE_C_NACKS};
    char line[512];
    bridge_state *bs = bridge_attach(m);
    if (!bs)
        return;
    for (int i = 0; i < m->cfg->nroutes; i++) {
        const mesh_route_cfg *rt = &m->cfg->routes[i];
        const bridge_slot *sl = rt->peer >= 0 ? bridge_state_find(bs, rt->from, rt->to) : NULL;
        if (!sl)
            continue;
        char lbl[160];
        snprintf(lbl, sizeof(lbl), "from=\"%s\",to=\"%s\",peer=\"%s\",direction=\"%s\"", rt->from,
                 rt->to, m->cfg->peers[rt->peer].name, sl->dir == BRIDGE_DIR_OUT ? "out" : "in");
        for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
            snprintf(line, sizeof(line), "mesh_bridge_%s_total{%s} %llu\n",
                     bridge_counter_name(counters[k]), lbl,
                     (unsigned long long)bridge_slot_get(sl, counters[k]));
            sup_json_raw(t, line, strlen(line));
        }
        snprintf(line, sizeof(line), "mesh_bridge_link_up{%s} %llu\n", lbl,
                 (unsigned long long)bridge_slot_get(sl, BRIDGE_C_LINK_UP));
        sup_json_raw(t, line, strlen(line));
    }
    bridge_state_hdr *h = bridge_state_header(bs);
    snprintf(line, sizeof(line),
             "mesh_bridge_unrouted_bad_frames_total %llu\nmesh_bridge_hello_refused_total %llu\n"
             "mesh_bridge_route_conflicts_total %llu\nmesh_bridge_peer_refusals_total %llu\n",
             (unsigned long long)bridge_word_get(&h->bad_frames),
             (unsigned long long)bridge_word_get(&h->hello_refused),
             (unsigned long long)bridge_word_get(&h->route_conflicts),
             (unsigned long long)bridge_word_get(&h->peer_refusals));
    sup_json_raw(t, line, strlen(line));
    bridge_state_close(bs);
}

int sup_status_prometheus(sup_mesh *m, char **out, size_t *len)
{
    static const char head[] =
        "# TYPE mesh_engine_state gauge\n# TYPE mesh_engine_restarts_total counter\n"
        "# TYPE mesh_engine_messages_in_total counter\n"
        "# TYPE mesh_engine_messages_out_total counter\n"
        "# TYPE mesh_engine_malformed_total counter\n"
        "# TYPE mesh_engine_handler_latency_seconds summary\n"
        "# TYPE mesh_ring_depth_bytes gauge\n# TYPE mesh_ring_messages_total counter\n"
        "# TYPE mesh_ring_full_waits_total counter\n# TYPE mesh_ring_drops_total counter\n"
        "# TYPE mesh_ring_wakeups_total counter\n# TYPE mesh_ring_high_water_bytes gauge\n"
        "# TYPE mesh_bridge_sent_total counter\n# TYPE mesh_bridge_received_total counter\n"
        "# TYPE mesh_bridge_gaps_total counter\n# TYPE mesh_bridge_reconnects_total counter\n"
        "# TYPE mesh_bridge_drops_total counter\n# TYPE mesh_bridge_rejected_total counter\n"
        "# TYPE mesh_bridge_resent_total counter\n# TYPE mesh_bridge_dups_total counter\n"
        "# TYPE mesh_bridge_bad_frames_total counter\n# TYPE mesh_bridge_nacks_total counter\n"
        "# TYPE mesh_bridge_link_up gauge\n# TYPE mesh_bridge_unrouted_bad_frames_total counter\n"
        "# TYPE mesh_bridge_hello_refused_total counter\n"
        "# TYPE mesh_bridge_route_conflicts_total counter\n"
        "# TYPE mesh_bridge_peer_refusals_total counter\n";
    sup_json t; /* used as a plain growing text buffer */
    sup_json_init(&t, 8u << 20);
    sup_json_raw(&t, head, sizeof(head) - 1);
    for (int k = 0; k < m->norder; k++)
        prom_engine(&t, &m->eng[m->order[k]]);
    for (int i = 0; i < m->rings.n; i++)
        prom_ring(&t, m, &m->rings.r[i]);
    prom_bridge(&t, m);
    if (sup_json_error(&t)) {
        int rc = sup_json_error(&t);
        sup_json_free(&t);
        return rc;
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}
