/* Publishing: fan a message out to every output ring whose route carries its
 * type. Encodes once, straight into the first claimed ring slot, copies the
 * bytes into the other claimed slots, commits; waits (heartbeating) on full
 * wait-policy rings and counts drops on drop-policy rings. No allocation. */
#include "engine_int.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_codec.h"
#include "msg_registry.h"

#include <string.h>

/* Waits for space in a full wait-policy ring, heartbeating every period.
 * Returns 0 with *p claimed, or MESH_ECLOSED once a stop was requested and
 * the drain deadline passed, or another bus error. */
static int claim_blocking(engine *e, engine_output *o, size_t len, void **p)
{
    e->cnt.full_waits++;
    for (;;) {
        uint64_t now = mesh_now_ns();
        engine_heartbeat(e, now, 0);
        uint64_t until = e->next_hb_ns;
        if (engine_stop_requested(e)) {
            uint64_t deadline = engine_drain_deadline(e, now);
            if (now >= deadline) {
                engine_ratelog_warn(&e->log_publish, now,
                                    "output to %s: ring still full at the drain deadline while "
                                    "stopping; message not delivered",
                                    o->to);
                return MESH_ECLOSED;
            }
            if (deadline < until)
                until = deadline;
        }
        int rc = bus_ring_claim_wait(o->ring, len, p, until > now ? until - now : 0);
        if (rc != MESH_ETIMEDOUT)
            return rc;
    }
}

/* 0 with *p claimed, BUS_RING_DROPPED (counted), or an error. */
static int claim(engine *e, engine_output *o, size_t len, void **p)
{
    int rc = bus_ring_claim(o->ring, len, p);
    if (rc != MESH_EAGAIN)
        return rc;
    if (o->drop) {
        /* Counts the drop in the ring and consumes its sequence number, so
         * the consumer sees the gap; may also succeed if space just freed. */
        rc = bus_ring_claim_wait(o->ring, len, p, 0);
        if (rc == BUS_RING_DROPPED)
            e->cnt.drops++;
        return rc;
    }
    return claim_blocking(e, o, len, p);
}

static void committed(engine *e, engine_output *o, uint32_t type, size_t len)
{
    bus_ring_commit(o->ring, type, 0, len);
    e->cnt.msgs_out++;
    e->cnt.bytes_out += len;
    bus_ctl_count(e->ctl, BUS_CTL_MSGS_OUT, 1);
}

/* Checks every target ring accepts len bytes before claiming anything, so a
 * too-large message reaches no ring rather than some. */
static int check_size(engine *e, uint64_t mask, size_t len)
{
    for (int i = 0; i < e->nout; i++) {
        if (!(mask >> i & 1) || len <= e->out[i].max_record)
            continue;
        engine_ratelog_warn(&e->log_publish, mesh_now_ns(),
                            "output to %s: message of %zu bytes is larger than the ring's "
                            "largest record (%u bytes); not published",
                            e->out[i].to, len, e->out[i].max_record);
        return MESH_ETOOBIG;
    }
    return 0;
}

/* Fills the first claimed slot: encodes msg, or copies raw bytes. */
static int fill(void *p, size_t len, const ProtobufCMessage *msg, const void *raw)
{
    if (!msg) {
        if (len)
            memcpy(p, raw, len);
        return 0;
    }
    int n = msg_encode(msg, p, len);
    return n < 0 ? n : (n == (int)len ? 0 : MESH_EINVAL);
}

/* Resume after a kill: takes out of mask the outputs to which the previous
 * run committed this record after its snapshot (engine_state_skip counts
 * them). Called only while records are left to skip. */
static uint64_t skip_replayed(engine *e, uint64_t mask)
{
    for (int i = 0; i < e->nout; i++)
        if ((mask >> i & 1) && engine_state_skip(e, i))
            mask &= ~(1ull << i);
    return mask;
}

/* A ring that fails (full past the drain deadline) misses the message; the
 * others still get it, and the error is returned. */
static int fan_out(engine *e, uint32_t type, uint64_t mask, const ProtobufCMessage *msg,
                   const void *raw, size_t len)
{
    int rc = check_size(e, mask, len);
    if (rc < 0)
        return rc;
    /* Hot path: one branch, predicted not taken, unless a resume replays. */
    if (__builtin_expect(e->st.nskip != 0, 0))
        mask = skip_replayed(e, mask);
    engine_output *first = NULL;
    void *first_p = NULL;
    for (int i = 0; i < e->nout; i++) {
        if (!(mask >> i & 1))
            continue;
        engine_output *o = &e->out[i];
        void *p = NULL;
        int c = claim(e, o, len, &p);
        if (c == BUS_RING_DROPPED)
            continue;
        if (c < 0) {
            rc = c;
        } else if (!first) {
            /* Kept open until the end: the other rings copy from it. */
            c = fill(p, len, msg, raw);
            if (c < 0) {
                bus_ring_abort(o->ring);
                return c;
            }
            first = o;
            first_p = p;
        } else {
            memcpy(p, first_p, len);
            committed(e, o, type, len);
        }
    }
    if (first)
        committed(e, first, type, len);
    return rc;
}

int engine_publish(engine *e, uint32_t type, const ProtobufCMessage *msg)
{
    const msg_type_info *ti = NULL;
    if (!e || !msg)
        return MESH_EINVAL;
    int rc = msg_type_by_id(type, &ti);
    if (rc < 0)
        return rc;
    if (ti->descriptor != msg->descriptor)
        return MESH_EINVAL;
    uint64_t mask = engine_plan_outputs_for(&e->plan, type);
    if (mask == 0) {
        e->cnt.unrouted++;
        return 0;
    }
    return fan_out(e, type, mask, msg, NULL, msg_encoded_size(msg));
}

int engine_publish_raw(engine *e, uint32_t type, const void *data, size_t len)
{
    if (!e || (!data && len) || type == BUS_RING_TYPE_PAD)
        return MESH_EINVAL;
    uint64_t mask = engine_plan_outputs_for(&e->plan, type);
    if (mask == 0) {
        e->cnt.unrouted++;
        return 0;
    }
    return fan_out(e, type, mask, NULL, data, len);
}
