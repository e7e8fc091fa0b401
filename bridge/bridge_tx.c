/* Bridge send thread: reads outbound rings through an observer cursor,
 * batches records into frames built in place in nng messages, sends them,
 * frees ring space as acks arrive (wait routes) or at once (drop routes),
 * rewinds and resends after a reconnection or a NACK, and drops records of
 * drop routes while their peer is unreachable. */
#include "bridge_int.h"

#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <stdio.h>
#include <string.h>

#define TX_FRAMES_PER_PASS 8 /* per route, so one busy route does not starve the others */
#define TX_IDLE_NS         100000000ull /* idle wake-up: liveness tick */
#define TX_DRAIN_IDLE_NS   1000000ull
#define TX_MAX_WINDOW      (8u << 20)
#define TX_NACK_NS         50000000ull /* at most one NACK-caused rewind per route in this time */

void bridge_out_init(bridge *b, bridge_out *r)
{
    bus_ring_stats st;
    bus_ring_stats_get(r->ring, &st);
    size_t w = b->o.window_bytes ? b->o.window_bytes : (size_t)(st.capacity / 2);
    r->window = w > TX_MAX_WINDOW ? TX_MAX_WINDOW : w;
    /* A new resend generation per start: frames of an earlier run are stale. */
    r->sync = (uint32_t)bridge_word_get(&r->slot->tx_sync) + 1;
    bridge_word_set(&r->slot->tx_sync, r->sync);
    r->need_sync = 1;
    r->hi_sent = bridge_slot_get(r->slot, BRIDGE_C_LAST_SEQ);
    bridge_atomic_set(&r->hi_posted, r->hi_sent);
    /* A route that never sent or dropped anything in this state's life
     * starts at the ring's first sequence number, so records the ring or
     * the link dropped before the first frame show up as a gap. */
    r->prev_known = bridge_slot_get(r->slot, BRIDGE_C_SENT) == 0 &&
                    bridge_slot_get(r->slot, BRIDGE_C_DROPS) == 0;
    r->prev = 0;
    bridge_txwin_clear(&r->win);
    /* Everything before the tail was acknowledged by an earlier run: the
     * record at the tail (if any) tells where that ends. */
    bus_ring_rec rec;
    uint64_t c = 0;
    uint8_t none;
    int rc = bus_ring_observe(r->ring, &c, &rec, &none, 0);
    r->released = rc == 0 || rc == MESH_EMSGSIZE ? rec.seq - 1 : st.next_seq - 1;
}

/* A frame on the ack path that cannot be right: counted and logged (the
 * route is charged when known); nothing else changes. */
static void bogus_ack(bridge_link *l, bridge_out *r, const bridge_frame_hdr *h, const char *what)
{
    bridge_atomic_inc(&l->b->hdr->bad_frames);
    if (r)
        bridge_slot_add(r->slot, BRIDGE_C_BAD_FRAMES, 1);
    bridge_ratelog_warn(&l->log_ack, "peer %s (%s): %s %s for sequence %llu: %s: ignored", l->peer,
                        l->url, h->flags & BRIDGE_FRAME_NACK ? "NACK" : "ack",
                        r ? r->slot->from : "(unknown route)", (unsigned long long)h->seq, what);
}

void bridge_link_on_ack(bridge_link *l, const bridge_frame_hdr *h)
{
    bridge *b = l->b;
    if (h->epoch != b->epoch)
        return; /* acknowledges a stream of an earlier incarnation of our rings */
    for (int i = 0; i < b->nout; i++) {
        bridge_out *r = b->out[i];
        if (r->link != l || r->route != h->route)
            continue;
        /* Nothing above what went to nng was ever sent: an ack past it would
         * free records the receiver never had. */
        if (h->seq > bridge_atomic_get(&r->hi_posted)) {
            bogus_ack(l, r, h, "above the highest sequence number sent");
            return;
        }
        pthread_mutex_lock(&l->mu);
        if (h->flags & BRIDGE_FRAME_NACK) {
            r->nack_sync = h->sync;
            r->nack_new = 1;
        } else if (h->seq > r->ack_seq) {
            r->ack_seq = h->seq;
            r->ack_new = 1;
        }
        pthread_mutex_unlock(&l->mu);
        bridge_atomic_set(&l->acks_ready, 1);
        return;
    }
    bogus_ack(l, NULL, h, "route id matches no outbound route on this link");
}

/* Makes a route that can no longer work visible: bridge_alive turns 0, the
 * daemon stops heartbeating and its supervisor restarts the bridge. */
static void route_failed(bridge *b, bridge_out *r, int rc, const char *doing)
{
    mesh_error("route %s -> %s: ring %s: %s while %s: route unusable; the bridge reports "
               "itself dead so that it is restarted (records stay in the ring)",
               r->slot->from, r->slot->to, bus_ring_name(r->ring), mesh_strerror(rc), doing);
    r->disabled = 1;
    bridge_atomic_set(&b->failed, 1);
}

/* Frees ring records up to and including sequence `to`, the sequence of a
 * record in the ring after r->released that was sent (to <= hi_sent, which
 * the callers check). A ring that fails here is corrupt. */
static void release_to(bridge *b, bridge_out *r, uint64_t to)
{
    bus_ring_rec rec;
    int rc = 0;
    if (to <= r->released)
        return;
    while ((rc = bus_ring_peek(r->ring, &rec)) == 0 && rec.seq < to)
        ;
    if (rc < 0 && rc != MESH_EAGAIN)
        route_failed(b, r, rc, "freeing sent records");
    bus_ring_release(r->ring);
    r->released = to;
}

/* Starts over from the oldest unacknowledged record with a SYNC frame. */
static void rewind_route(bridge_out *r, const char *why)
{
    if (r->pending)
        nng_msg_free(r->pending);
    r->pending = NULL;
    r->cursor = 0;
    bridge_txwin_clear(&r->win);
    r->need_sync = 1;
    r->sync++;
    bridge_word_set(&r->slot->tx_sync, r->sync);
    mesh_info("route %s -> %s: %s: resending from the oldest unacknowledged record "
              "(generation %u)",
              r->slot->from, r->slot->to, why, r->sync);
}

/* Only a NACK for the current generation counts: older ones were caused by
 * frames sent before the last rewind. At most one rewind per TX_NACK_NS, so
 * a peer repeating NACKs cannot keep the route resending; a NACK inside that
 * time is held and applied once it has passed (the send thread wakes for it,
 * tx_wait_ns), unless a rewind meanwhile (a reconnection) already resent.
 * Returns 1 if the route rewound. */
static int take_nack(bridge_out *r, int nack_new, uint32_t nack_sync)
{
    if (nack_new && r->reliable && nack_sync == r->sync) {
        r->nack_held = 1;
        r->nack_held_sync = nack_sync;
    }
    if (!r->nack_held)
        return 0;
    if (r->nack_held_sync != r->sync) { /* rewound since: the NACK is served */
        r->nack_held = 0;
        return 0;
    }
    uint64_t now = mesh_now_ns();
    if (r->nack_ns != 0 && now - r->nack_ns < TX_NACK_NS)
        return 0;
    r->nack_held = 0;
    r->nack_ns = now;
    bridge_slot_add(r->slot, BRIDGE_C_NACKS, 1);
    rewind_route(r, "the receiver asked for a resend");
    return 1;
}

static int take_acks(bridge *b, bridge_out *r)
{
    uint64_t ack = 0;
    uint32_t nack_sync = 0;
    int ack_new, nack_new;
    pthread_mutex_lock(&r->link->mu);
    ack_new = r->ack_new;
    nack_new = r->nack_new;
    ack = r->ack_seq;
    nack_sync = r->nack_sync;
    r->ack_new = r->nack_new = 0;
    pthread_mutex_unlock(&r->link->mu);
    int work = ack_new + nack_new;
    if (ack_new && r->reliable && ack > r->hi_sent) {
        /* Checked against hi_posted on arrival: the frame is on its way
         * into nng and send_pending has not counted it yet. Next pass. */
        pthread_mutex_lock(&r->link->mu);
        r->ack_new = 1;
        pthread_mutex_unlock(&r->link->mu);
        bridge_atomic_set(&r->link->acks_ready, 1);
        ack_new = 0;
    }
    if (ack_new && r->reliable) {
        /* The receiver acknowledges each record its consumer took: free
         * exactly those (also after a rewind cleared the window). */
        uint64_t to = 0;
        bridge_txwin_ack(&r->win, ack, &to); /* frames fully acknowledged leave the window */
        release_to(b, r, ack);
        bridge_slot_set(r->slot, BRIDGE_C_ACKED_SEQ, ack);
    }
    return work + take_nack(r, nack_new, nack_sync);
}

/* Drop route with the peer unreachable: free what is queued, count it. */
static int discard(bridge_out *r)
{
    bus_ring_rec rec;
    uint64_t n = 0;
    if (r->pending)
        nng_msg_free(r->pending);
    r->pending = NULL;
    while (bus_ring_peek(r->ring, &rec) == 0) {
        if (!r->prev_known) { /* the receiver must see these as missing */
            r->prev = rec.seq - 1;
            r->prev_known = 1;
        }
        n++;
    }
    bus_ring_release(r->ring);
    r->cursor = 0;
    if (n) {
        bridge_slot_add(r->slot, BRIDGE_C_DROPS, n);
        bridge_ratelog_warn(&r->log,
                            "route %s -> %s: peer %s unreachable: dropped %llu record(s) "
                            "(drop policy)",
                            r->slot->from, r->slot->to, r->link->peer, (unsigned long long)n);
    }
    return n > 0;
}

static int window_full(const bridge_out *r, uint64_t extra)
{
    return r->reliable && (r->win.n == BRIDGE_TXWIN_MARKS || r->win.total + extra >= r->window);
}

/* Fills frame e from the ring; returns the observe result that ended it. */
static int fill_frame(bridge *b, bridge_out *r, bridge_frame_enc *e, uint64_t *ring_bytes,
                      uint64_t *payload, uint64_t *resent, uint64_t *first, bus_ring_rec *rec)
{
    while (e->count < b->o.batch_records) {
        if (e->count > 0 && window_full(r, *ring_bytes))
            return MESH_EAGAIN;
        size_t room;
        void *p = bridge_frame_next_payload(e, &room);
        int rc = bus_ring_observe(r->ring, &r->cursor, rec, p, room);
        if (rc == MESH_ERANGE)
            continue; /* an ack for frames sent before a rewind freed records ahead of the
                       * cursor: they reached the consumer, so go on from the tail */
        if (rc < 0)
            return rc;
        if (bridge_frame_push(e, rec->type, rec->flags, rec->seq, rec->len) < 0)
            return MESH_ECORRUPT; /* type 0 or a non-increasing seq in the ring */
        if (e->count == 1)
            *first = rec->seq;
        *ring_bytes += bridge_ring_rec_bytes(rec->len);
        *payload += rec->len;
        *resent += rec->seq <= r->hi_sent;
    }
    return 0;
}

/* Builds the next frame into r->pending. Returns 1 if one was built, 0 if
 * nothing is ready, or an error. */
static int build_frame(bridge *b, bridge_out *r)
{
    size_t cap = b->o.batch_bytes;
    nng_msg *m;
    if (window_full(r, 0) || nng_msg_alloc(&m, cap) != 0)
        return 0;
    bridge_frame_hdr h = {.route = r->route, .epoch = b->epoch, .seq = r->prev, .sync = r->sync};
    bridge_frame_enc e;
    uint64_t ring_bytes = 0, payload = 0, resent = 0, first = 0;
    bus_ring_rec rec;
    bridge_frame_begin(&e, nng_msg_body(m), cap, &h);
    int rc = fill_frame(b, r, &e, &ring_bytes, &payload, &resent, &first, &rec);
    if (rc == MESH_EMSGSIZE && e.count == 0) { /* one record larger than a batch */
        cap = BRIDGE_FRAME_HDR + bridge_rec_size(rec.len);
        if (nng_msg_realloc(m, cap) == 0) {
            bridge_frame_begin(&e, nng_msg_body(m), cap, &h);
            rc = fill_frame(b, r, &e, &ring_bytes, &payload, &resent, &first, &rec);
        }
    }
    if (rc < 0 && rc != MESH_EAGAIN && rc != MESH_EMSGSIZE)
        route_failed(b, r, rc, "reading records to send");
    if (e.count == 0 || r->disabled) {
        nng_msg_free(m);
        return 0;
    }
    if (r->reliable && r->need_sync) /* resume point: the oldest unacknowledged record */
        bridge_frame_set_prev(&e, first - 1, BRIDGE_FRAME_SYNC);
    else if (!r->prev_known)
        bridge_frame_set_prev(&e, first - 1, 0);
    size_t len = bridge_frame_finish(&e);
    nng_msg_chop(m, cap - len);
    r->pending = m;
    r->p_last = e.last_seq;
    r->p_count = e.count;
    r->p_bytes = payload;
    r->p_ring = ring_bytes;
    r->p_resent = resent;
    r->need_sync = 0;
    r->prev = e.last_seq;
    r->prev_known = 1;
    return 1;
}

/* Hands the pending frame to nng. Returns 0, MESH_EAGAIN (still pending) or
 * an error (frame discarded; a reliable route rewinds). */
static int send_pending(bridge *b, bridge_out *r)
{
    if (r->p_last > r->hi_sent) /* before nng has it: an ack may arrive at once */
        bridge_atomic_set(&r->hi_posted, r->p_last);
    int rv = nng_sendmsg(r->link->sock, r->pending, 0);
    if (rv != 0)
        bridge_atomic_set(&r->hi_posted, r->hi_sent);
    if (rv == NNG_ETIMEDOUT || rv == NNG_EAGAIN)
        return MESH_EAGAIN;
    if (rv != 0) {
        nng_msg_free(r->pending);
        r->pending = NULL;
        if (r->reliable)
            rewind_route(r, nng_strerror(rv));
        return bridge_nng_err(rv);
    }
    r->pending = NULL;
    if (r->reliable)
        bridge_txwin_push(&r->win, r->p_last, r->p_ring); /* room checked by window_full */
    else
        release_to(b, r, r->p_last);
    if (r->p_last > r->hi_sent)
        r->hi_sent = r->p_last;
    bridge_slot_add(r->slot, BRIDGE_C_SENT, r->p_count);
    bridge_slot_add(r->slot, BRIDGE_C_FRAMES, 1);
    bridge_slot_add(r->slot, BRIDGE_C_BYTES, r->p_bytes);
    bridge_slot_add(r->slot, BRIDGE_C_RESENT, r->p_resent);
    bridge_slot_set(r->slot, BRIDGE_C_LAST_SEQ, r->p_last);
    return 0;
}

/* Connection changes seen since the last pass. */
static void track_link(bridge_out *r)
{
    uint64_t gen = bridge_atomic_get(&r->link->gen);
    if (gen == r->gen_seen)
        return;
    uint64_t more = gen - r->gen_seen;
    int first = r->gen_seen == 0;
    /* The first connection of this process is not a reconnection; before it
     * nothing was sent and the first frame is a SYNC frame anyway. */
    bridge_slot_add(r->slot, BRIDGE_C_RECONNECTS, first ? more - 1 : more);
    r->gen_seen = gen;
    if (r->reliable && !first)
        rewind_route(r, "reconnected");
}

static int route_pass(bridge *b, bridge_out *r)
{
    if (r->disabled)
        return 0;
    int work = take_acks(b, r);
    track_link(r);
    int up = bridge_atomic_get(&r->link->npipes) > 0;
    bridge_slot_set(r->slot, BRIDGE_C_LINK_UP, (uint64_t)up);
    if (!up)
        return work + (r->reliable ? 0 : discard(r));
    if (!bridge_link_hello(b, r->link))
        return work; /* the HELLO comes first on every connection */
    for (int n = 0; n < TX_FRAMES_PER_PASS && !r->disabled; n++) {
        if (!r->pending && build_frame(b, r) <= 0)
            break;
        if (send_pending(b, r) == MESH_EAGAIN)
            break;
        work++;
    }
    return work;
}

/* 1 when the ring holds records after the observer cursor. */
static int ring_has_unsent(const bridge_out *r)
{
    bus_ring_stats st;
    bus_ring_stats_get(r->ring, &st);
    return st.head > (r->cursor ? r->cursor : st.tail);
}

/* bus_wait_ready_fn of the send thread. */
static int tx_ready(void *arg)
{
    bridge *b = arg;
    if (bridge_atomic_get(&b->stop_tx))
        return 1;
    for (int i = 0; i < b->nlinks; i++)
        if (bridge_atomic_get(&b->link[i].acks_ready))
            return 1;
    for (int i = 0; i < b->nout; i++) {
        const bridge_out *r = b->out[i];
        if (r->disabled)
            continue;
        if (bridge_atomic_get(&r->link->gen) != r->gen_seen)
            return 1;
        int up = bridge_atomic_get(&r->link->npipes) > 0;
        if ((up ? !window_full(r, 0) : !r->reliable) && ring_has_unsent(r))
            return 1;
    }
    return 0;
}

/* How long the send thread may sleep: TX_IDLE_NS, or less when a held NACK
 * becomes due sooner (take_nack). */
static uint64_t tx_wait_ns(const bridge *b, uint64_t now)
{
    uint64_t wait = TX_IDLE_NS;
    for (int i = 0; i < b->nout; i++) {
        const bridge_out *r = b->out[i];
        if (!r->nack_held || r->disabled)
            continue;
        uint64_t due = r->nack_ns + TX_NACK_NS;
        uint64_t left = due > now ? due - now : 0;
        if (left < wait)
            wait = left;
    }
    return wait;
}

/* Everything sent and (wait routes) acknowledged. */
static int drained(const bridge *b)
{
    for (int i = 0; i < b->nout; i++) {
        const bridge_out *r = b->out[i];
        bus_ring_stats st;
        bus_ring_stats_get(r->ring, &st);
        if (!r->disabled && (st.depth > 0 || r->pending))
            return 0;
    }
    return 1;
}

void *bridge_tx_main(void *arg)
{
    bridge *b = arg;
    bus_wait_cfg wait;
    bus_wait_cfg_default(&wait);
    for (;;) {
        uint64_t now = mesh_now_ns();
        bridge_atomic_set(&b->tx_tick, now);
        for (int i = 0; i < b->nlinks; i++)
            bridge_atomic_set(&b->link[i].acks_ready, 0); /* before the routes read their acks */
        int work = 0;
        for (int i = 0; i < b->nout; i++)
            work += route_pass(b, b->out[i]);
        uint64_t up = 0;
        for (int i = 0; i < b->nlinks; i++)
            up += bridge_atomic_get(&b->link[i].npipes);
        bridge_word_set(&b->hdr->links_up, up);
        int stopping = (int)bridge_atomic_get(&b->stop_tx);
        if (stopping && (drained(b) || now >= b->drain_deadline))
            break;
        if (!work) {
            uint64_t idle = tx_wait_ns(b, mesh_now_ns());
            bus_wait_idle(&wait, b->o.doorbell, tx_ready, b,
                          stopping && idle > TX_DRAIN_IDLE_NS ? TX_DRAIN_IDLE_NS : idle);
        }
    }
    if (!drained(b))
        mesh_warn("stopping with unsent or unacknowledged records: they stay in the rings for "
                  "the next start");
    return NULL;
}
