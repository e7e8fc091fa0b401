/* The engine loop: round-robin polling of the input rings in batches,
 * decode into the arena, skip what a previous run already handled, dispatch,
 * account, run timers, heartbeat, sleep on the doorbell when idle, and drain
 * the inputs when a stop is requested. */
#include "engine_int.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_codec.h"
#include "msg_registry.h"

static void count_handler_result(engine *e, int rc, const char *what, uint64_t now)
{
    if (rc >= 0)
        return;
    e->cnt.handler_errors++;
    bus_ctl_count(e->ctl, BUS_CTL_HANDLER_ERRORS, 1);
    engine_ratelog_warn(&e->log_handler, now, "%s returned %s", what, mesh_strerror(rc));
}

/* Decodes and dispatches one record; 1 if a handler ran, 0 if skipped. */
static int dispatch(engine *e, const engine_input *in, const bus_ring_rec *rec,
                    const engine_msg_info *info)
{
    engine_handler_fn fn = rec->type < ENGINE_TYPE_TABLE ? e->handler[rec->type] : NULL;
    int rc;
    if (fn) {
        ProtobufCMessage *msg = NULL;
        rc = msg_decode(rec->type, rec->data, rec->len, e->arena, &msg);
        if (rc < 0) {
            e->cnt.malformed++;
            bus_ctl_count(e->ctl, BUS_CTL_MALFORMED, 1);
            engine_ratelog_warn(&e->log_malformed, info->recv_ns,
                                "input from %s: record seq %llu, type %u (%s), %u bytes: %s; "
                                "skipped",
                                in->from, (unsigned long long)rec->seq, rec->type,
                                msg_type_name(rec->type), rec->len,
                                rc == MESH_ENOMEM ? "decoded message does not fit the arena"
                                                  : mesh_strerror(rc));
            return 0;
        }
        rc = fn(e, msg, info);
    } else if (e->def->raw) {
        rc = e->def->raw(e, rec->data, rec->len, info);
    } else {
        e->cnt.unknown_type++;
        const char *tn = msg_type_name(rec->type);
        engine_ratelog_warn(&e->log_unknown, info->recv_ns,
                            "input from %s: record seq %llu has type %u (%s) which this engine "
                            "does not handle; skipped",
                            in->from, (unsigned long long)rec->seq, rec->type,
                            tn ? tn : "not a registered type");
        return 0;
    }
    count_handler_result(e, rc, "handler", info->recv_ns);
    return 1;
}

static void handle_record(engine *e, engine_input *in, const bus_ring_rec *rec)
{
    if (rec->seq <= in->last_seq) {
        e->cnt.skipped_seen++;
        return;
    }
    uint64_t t0 = mesh_now_ns();
    if (rec->seq != in->last_seq + 1) {
        uint64_t missing = rec->seq - in->last_seq - 1;
        e->cnt.seq_gaps += missing;
        engine_ratelog_warn(&e->log_gap, t0,
                            "input from %s: %llu record(s) missing before seq %llu (dropped by "
                            "the producer's drop policy)",
                            in->from, (unsigned long long)missing, (unsigned long long)rec->seq);
    }
    engine_msg_info info = {.type = rec->type,
                            .len = rec->len,
                            .seq = rec->seq,
                            .from = in->from,
                            .input = (int)(in - e->in),
                            .recv_ns = t0};
    if (dispatch(e, in, rec, &info)) {
        uint64_t t1 = mesh_now_ns();
        bus_ctl_record_latency(e->ctl, t1 - t0);
        bus_ctl_count(e->ctl, BUS_CTL_MSGS_IN, 1);
        e->cnt.msgs_in++;
        e->cnt.bytes_in += rec->len;
        /* Between records, not inside handlers: a batch of slow handlers
         * keeps the engine alive, a handler that never returns does not. */
        engine_heartbeat(e, t1, 0);
    }
    /* After the handler: a restart skips this record (effectively-once). */
    in->last_seq = rec->seq;
    bus_ctl_set_last_seq(e->ctl, in->slot, rec->seq);
}

/* Takes up to ENGINE_BATCH records from one input, releases them at once.
 * Returns the number of records taken. */
static int poll_input(engine *e, engine_input *in)
{
    bus_ring_rec rec;
    int n = 0;
    while (n < ENGINE_BATCH) {
        if (e->draining && n > 0 && mesh_now_ns() >= e->drain_deadline_ns)
            break; /* slow handlers: the deadline also bounds a batch */
        int rc = bus_ring_peek(in->ring, &rec);
        if (rc == MESH_EAGAIN)
            break;
        if (rc < 0) {
            mesh_error("input ring %s (from %s): %s: input disabled until restart (the records "
                       "stay in the ring)",
                       in->shm, in->from, mesh_strerror(rc));
            in->disabled = 1;
            break;
        }
        handle_record(e, in, &rec);
        n++;
    }
    if (n > 0)
        bus_ring_release(in->ring);
    if (e->draining && !in->drained) {
        bus_ring_stats st;
        bus_ring_stats_get(in->ring, &st);
        in->drained = in->disabled || n == 0 || st.tail >= in->drain_head;
    }
    return n;
}

static int poll_inputs(engine *e)
{
    int total = 0;
    for (int k = 0; k < e->nin; k++) {
        engine_input *in = &e->in[(e->next_in + k) % e->nin];
        if (!in->disabled && !in->drained)
            total += poll_input(e, in);
    }
    if (e->nin)
        e->next_in = (e->next_in + 1) % e->nin;
    return total;
}

static void run_timers(engine *e, uint64_t now)
{
    int i;
    while ((i = engine_sched_due(&e->sched, now)) >= 0) {
        int rc = e->def->timers[i].fn(e);
        engine_sched_ran(&e->sched, (size_t)i, now);
        count_handler_result(e, rc, "timer", now);
    }
}

/* bus_wait_ready_fn: input on any live ring, or a stop request. */
static int loop_ready(void *arg)
{
    engine *e = arg;
    if (engine_stop_requested(e))
        return 1;
    for (int i = 0; i < e->nin; i++)
        if (!e->in[i].disabled && bus_ring_ready(e->in[i].ring))
            return 1;
    return 0;
}

/* Sleeps until input, a stop request, or the next timer/heartbeat deadline.
 * Adaptive waiting spins first only while input is flowing: an engine without
 * inputs, or whose last wait timed out with nothing arriving (an idle engine
 * woken by its own timers), sleeps on its doorbell at once, so an idle mesh
 * stays at ~0% CPU. */
static void idle_wait(engine *e, uint64_t now)
{
    static const bus_wait_cfg sleep_now = {.kind = BUS_WAIT_ADAPTIVE, .spin = 0, .yield = 0};
    uint64_t deadline = engine_sched_next(&e->sched);
    if (e->next_hb_ns < deadline)
        deadline = e->next_hb_ns;
    if (deadline <= now)
        return;
    const bus_wait_cfg *cfg =
        (e->nin == 0 || e->idle) && e->wait.kind == BUS_WAIT_ADAPTIVE ? &sleep_now : &e->wait;
    e->idle = bus_wait_idle(cfg, e->db, loop_ready, e, deadline - now) == MESH_ETIMEDOUT;
}

static void drain_begin(engine *e, uint64_t now)
{
    uint64_t queued = 0;
    e->draining = 1;
    engine_drain_deadline(e, now);
    bus_ctl_set_state(e->ctl, BUS_CTL_STATE_DRAINING);
    for (int i = 0; i < e->nin; i++) {
        bus_ring_stats st;
        bus_ring_stats_get(e->in[i].ring, &st);
        e->in[i].drain_head = st.head;
        e->in[i].drained = e->in[i].disabled;
        queued += st.depth;
    }
    int sig = engine_signalled();
    mesh_info("stop requested (%s): draining %llu queued byte(s) from %d input(s), for at most "
              "%u ms",
              sig ? (sig == 2 ? "SIGINT" : "SIGTERM") : "engine_stop", (unsigned long long)queued,
              e->nin, e->drain_ms);
}

/* 1 when every input is drained; logs what is left when the deadline passed. */
static int drain_done(engine *e, uint64_t now)
{
    int left = 0;
    for (int i = 0; i < e->nin; i++)
        left += !e->in[i].drained;
    if (left == 0)
        return 1;
    if (now < e->drain_deadline_ns)
        return 0;
    for (int i = 0; i < e->nin; i++) {
        if (e->in[i].drained)
            continue;
        bus_ring_stats st;
        bus_ring_stats_get(e->in[i].ring, &st);
        mesh_warn("input from %s: drain deadline (%u ms) passed with %llu byte(s) still queued; "
                  "they stay in the ring for the next start",
                  e->in[i].from, e->drain_ms, (unsigned long long)st.depth);
    }
    return 1;
}

int engine_loop_run(engine *e)
{
    for (;;) {
        uint64_t now = mesh_now_ns();
        if (!e->draining && engine_stop_requested(e))
            drain_begin(e, now);
        int n = poll_inputs(e);
        now = mesh_now_ns();
        engine_heartbeat(e, now, 0);
        if (e->draining) {
            if (drain_done(e, now))
                return 0;
            continue;
        }
        run_timers(e, now);
        if (n == 0 && !engine_stop_requested(e))
            idle_wait(e, mesh_now_ns());
    }
}
