/* Bridge receive thread: takes frames from the listener, rejects and counts
 * bad ones, applies each route's records in sequence into its local ring
 * (back-pressure: a full wait ring blocks here, so TCP and then the sender
 * slow down), reports gaps, and acknowledges what the local consumer has
 * consumed (wait routes) or asks for a resend (NACK). */
#include "bridge_int.h"

#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <string.h>

#define RX_CLAIM_NS   10000000ull   /* a blocked push re-checks stop and liveness this often */
#define RX_REACK_NS   1000000000ull /* repeat the last ack (acks may be lost) ... */
#define RX_REACK_BUSY 50000000ull   /* ... sooner while the route is active */
#define RX_BUSY_NS    1000000000ull /* "active": a frame arrived within this time */
#define RX_NACK_NS    20000000ull   /* at most one NACK per route in this time */
#define RX_FAST_MS    2             /* receive timeout while acks are due */
#define RX_SLOW_MS    100
#define RX_LINKCHK_NS 100000000ull
#define RX_LINGER_MS  50 /* after the last acks, before the socket closes */

/* The ring's own counters are the authority for what reached it: they stay
 * right even when the bridge is killed between a commit and a count. The
 * ring's drops include the sequence numbers the bridge skipped (records
 * lost upstream, counted as gaps, or rejected): DROPS is what the full ring
 * dropped. */
static void ring_counters(bridge_in *r, const bus_ring_stats *st)
{
    uint64_t skipped =
        bridge_slot_get(r->slot, BRIDGE_C_GAPS) + bridge_slot_get(r->slot, BRIDGE_C_REJECTED);
    bridge_slot_set(r->slot, BRIDGE_C_RECEIVED, st->messages);
    bridge_slot_set(r->slot, BRIDGE_C_DROPS, st->drops > skipped ? st->drops - skipped : 0);
    bridge_slot_set(r->slot, BRIDGE_C_BYTES, st->bytes);
}

/* Each change of the local ring (a commit, or sequence numbers skipped for
 * a gap or a rejected record) is one step: rx_step_begin records what the
 * step will leave behind (rx_last, and the counter it adds to) and the
 * stream it belongs to, the ring changes (atomically, bus_ring.h), the
 * counter is added, rx_step_end sets rx_last. A bridge killed anywhere in
 * between is restarted by meshd, and bridge_in_init finishes a step of the
 * current stream whose ring change happened (the ring's next sequence number
 * moved past pend_ring_seq): so the ring, rx_last and the counters never
 * disagree, and nothing is counted or skipped twice. A step of an earlier
 * stream is never finished: its sequence numbers mean nothing in the
 * current one (rx_frame closes it when a new stream starts). */
static void rx_step_begin(bridge_in *r, uint64_t seq_after, int counter, uint64_t n)
{
    bridge_slot *s = r->slot;
    bridge_word_set(&s->pend_counter, counter < 0 ? 0 : (uint64_t)counter + 1);
    bridge_word_set(&s->pend_count, counter < 0 ? 0 : bridge_slot_get(s, counter) + n);
    /* pend_ring_seq before pend_epoch: killed between the two, the step
     * names the current stream but a ring that has not moved */
    bridge_word_set(&s->pend_ring_seq, r->ring_next);
    bridge_word_set(&s->pend_epoch, r->seq.epoch);
    bridge_word_set(&s->pend_seq, seq_after); /* last: opens the step */
}

static void rx_step_end(bridge_in *r, uint64_t seq_after)
{
    bridge_word_set(&r->slot->rx_last, seq_after);
}

/* Finishes the step a killed run left open, if it belongs to the current
 * stream and its ring change happened. */
static void rx_step_recover(bridge_in *r, const bus_ring_stats *st)
{
    bridge_slot *s = r->slot;
    uint64_t pend = bridge_word_get(&s->pend_seq), pring = bridge_word_get(&s->pend_ring_seq);
    if (!r->seq.known || bridge_word_get(&s->pend_epoch) != r->seq.epoch || pend <= r->seq.last ||
        pring == 0 || st->next_seq <= pring)
        return;
    uint64_t counter = bridge_word_get(&s->pend_counter);
    if (counter > 0 && counter <= BRIDGE_NCOUNTERS)
        bridge_slot_set(s, (enum bridge_counter)(counter - 1), bridge_word_get(&s->pend_count));
    r->seq.last = pend;
    bridge_word_set(&s->rx_last, pend);
}

/* Consumes n sequence numbers of the local ring, so the consumer engine
 * sees records lost before they reached this host as a gap, exactly as if
 * a local producer had dropped them. Inside a step. */
static void ring_skip(bridge_in *r, uint64_t n)
{
    if (n == 0 || bus_ring_skip(r->ring, n) < 0)
        return;
    r->ring_next += n;
}

int bridge_in_init(bridge *b, bridge_in *r)
{
    bridge_slot *s = r->slot;
    bus_ring_stats st;
    bus_ring_stats_get(r->ring, &st);
    uint64_t entries = st.capacity / 32; /* smallest record: 24-byte header + 8 */
    if (entries > BRIDGE_ACKQ_MAX)
        entries = BRIDGE_ACKQ_MAX;
    if (bridge_ackq_init(&r->ackq, entries < 16 ? 16 : (unsigned)entries) < 0)
        return MESH_ENOMEM;
    r->ring_next = st.next_seq;
    r->head_pos = st.head;
    r->cap = st.capacity;
    r->seq.known = bridge_word_get(&s->rx_known) != 0;
    r->seq.epoch = bridge_word_get(&s->rx_epoch);
    r->seq.last = bridge_word_get(&s->rx_last);
    rx_step_recover(r, &st);
    if (r->seq.known && r->seq.last > 0) /* acknowledge it once the consumer caught up */
        bridge_ackq_push(&r->ackq, st.head, r->seq.last);
    ring_counters(r, &st);
    if (r->seq.known)
        mesh_info("route %s -> %s: resuming after sequence %llu", r->from, r->to,
                  (unsigned long long)r->seq.last);
    (void)b;
    return 0;
}

/* The ring position after committing a record of len bytes at head_pos:
 * records are 8-aligned with a 24-byte header, and one that does not fit
 * before the end of the data area starts at its beginning after a padding
 * record (bus_ring.h). Checked against the ring after every frame. */
static void advance_head(bridge_in *r, uint32_t len)
{
    uint64_t need = bridge_ring_rec_bytes(len);
    uint64_t room = r->cap - (r->head_pos & (r->cap - 1));
    if (need > room)
        r->head_pos += room;
    r->head_pos += need;
}

bridge_in *bridge_find_in(bridge *b, uint64_t id)
{
    for (int i = 0; i < b->nin; i++)
        if (b->in[i]->route == id)
            return b->in[i];
    return NULL;
}

/* Counts and logs a rejected frame; the route is charged when the header
 * names one of ours. */
static void reject(bridge *b, nng_msg *m, const char *what, size_t offset)
{
    const uint8_t *p = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    bridge_in *r = NULL;
    if (len >= 24) {
        uint64_t id = 0;
        for (int i = 7; i >= 0; i--)
            id = id << 8 | p[16 + i];
        r = bridge_find_in(b, id);
    }
    bridge_atomic_inc(&b->hdr->bad_frames);
    if (r)
        bridge_slot_add(r->slot, BRIDGE_C_BAD_FRAMES, 1);
    char from[64];
    bridge_pipe_addr(nng_msg_get_pipe(m), from, sizeof(from));
    bridge_ratelog_warn(&b->log_bad, "rejected a %zu-byte frame from %s%s%s%s%s: %s (at byte %zu)",
                        len, from, r ? " for route " : "", r ? r->from : "", r ? " -> " : "",
                        r ? r->to : "", what, offset);
}

static void send_ack(bridge *b, bridge_in *r, uint64_t seq, uint32_t sync, uint16_t flags)
{
    nng_msg *m;
    if (nng_pipe_id(r->pipe) <= 0 || nng_msg_alloc(&m, BRIDGE_FRAME_HDR) != 0)
        return;
    bridge_ack_encode(nng_msg_body(m), BRIDGE_FRAME_HDR, r->route, r->seq.epoch, seq, sync, flags);
    nng_msg_set_pipe(m, r->pipe);
    /* Best effort: a lost ack is repeated, a lost NACK is sent again on
     * the next out-of-order frame. */
    if (nng_sendmsg(b->lsock, m, NNG_FLAG_NONBLOCK) != 0)
        nng_msg_free(m);
}

static void report_gap(bridge_in *r, uint64_t missing, uint64_t before)
{
    rx_step_begin(r, before - 1, BRIDGE_C_GAPS, missing);
    ring_skip(r, missing);
    bridge_slot_add(r->slot, BRIDGE_C_GAPS, missing);
    rx_step_end(r, before - 1);
    bridge_slot_add(r->slot, BRIDGE_C_GAP_EVENTS, 1);
    bridge_ratelog_warn(&r->log_gap,
                        "route %s -> %s: gap: %llu record(s) missing before sequence %llu "
                        "(%s)",
                        r->from, r->to, (unsigned long long)missing, (unsigned long long)before,
                        r->reliable ? "lost in transit" : "dropped: drop policy");
}

static int type_ok(const bridge_in *r, uint32_t type)
{
    if (r->ntypes == 0)
        return 1;
    for (int i = 0; i < r->ntypes; i++)
        if (r->types[i] >= 0 && (uint32_t)r->types[i] == type)
            return 1;
    return 0;
}

/* Commits one record into the ring. Returns 0 (committed, dropped or
 * rejected: the record is dealt with) or MESH_ECLOSED (stopping; not
 * applied, the sender resends it). */
static int push(bridge *b, bridge_in *r, const bridge_frame_rec *rec)
{
    bridge_slot *s = r->slot;
    rx_step_begin(r, rec->seq, -1, 0); /* a restart can tell whether the commit happened */
    for (;;) {
        void *p;
        int rc = bus_ring_claim_wait(r->ring, rec->len, &p, RX_CLAIM_NS);
        if (rc == 0) {
            if (rec->len)
                memcpy(p, rec->data, rec->len);
            bus_ring_commit(r->ring, rec->type, rec->flags, rec->len);
            r->ring_next++;
            advance_head(r, rec->len);
            return 0;
        }
        if (rc == BUS_RING_DROPPED) { /* counted by the ring */
            r->ring_next++;
            return 0;
        }
        if (rc != MESH_ETIMEDOUT) { /* e.g. larger than the ring's max record */
            rx_step_begin(r, rec->seq, BRIDGE_C_REJECTED, 1);
            ring_skip(r, 1);
            bridge_slot_add(s, BRIDGE_C_REJECTED, 1);
            bridge_ratelog_warn(&r->log_bad,
                                "route %s -> %s: record seq %llu (%u bytes) not "
                                "written to ring %s: %s",
                                r->from, r->to, (unsigned long long)rec->seq, rec->len,
                                bus_ring_name(r->ring), mesh_strerror(rc));
            return 0;
        }
        bridge_atomic_set(&b->rx_tick, mesh_now_ns());
        if (bridge_atomic_get(&b->stop_rx))
            return MESH_ECLOSED;
    }
}

/* Counts a frame that claimed more missing records than BRIDGE_RX_GAP_MAX. */
static void gap_capped(bridge_in *r, uint64_t before)
{
    bridge_slot_add(r->slot, BRIDGE_C_BAD_FRAMES, 1);
    bridge_ratelog_warn(&r->log_bad,
                        "route %s -> %s: frame claims more than %llu records missing before "
                        "sequence %llu: counted as %llu (forged or corrupt sequence number?)",
                        r->from, r->to, BRIDGE_RX_GAP_MAX, (unsigned long long)before,
                        BRIDGE_RX_GAP_MAX);
}

/* Applies a frame's records in order. Records of a type the route does not
 * carry are skipped and counted (and the frame counted as bad once): the
 * rest of the frame still goes through, and the sender is not asked to
 * resend what can never be accepted. *budget: records the frame may still
 * report missing (BRIDGE_RX_GAP_MAX per frame); rejected: the frame was
 * already counted as bad. */
static void apply_records(bridge *b, bridge_in *r, const void *body, size_t len, uint64_t *budget,
                          int rejected)
{
    size_t pos = 0;
    bridge_frame_rec rec;
    while (bridge_frame_next(body, len, &pos, &rec)) {
        uint64_t missing;
        if (!bridge_rxseq_record(&r->seq, rec.seq, &missing)) {
            bridge_slot_add(r->slot, BRIDGE_C_DUPS, 1);
            continue;
        }
        if (missing > *budget) {
            missing = *budget;
            if (!rejected++)
                gap_capped(r, rec.seq);
        }
        *budget -= missing;
        if (missing)
            report_gap(r, missing, rec.seq);
        if (!type_ok(r, rec.type)) {
            rx_step_begin(r, rec.seq, BRIDGE_C_REJECTED, 1);
            ring_skip(r, 1); /* the consumer sees it missing */
            bridge_slot_add(r->slot, BRIDGE_C_REJECTED, 1);
            if (!rejected++)
                bridge_slot_add(r->slot, BRIDGE_C_BAD_FRAMES, 1);
            bridge_ratelog_warn(&r->log_bad,
                                "route %s -> %s: record seq %llu has type %u, which "
                                "the route does not carry here: skipped (configs differ?)",
                                r->from, r->to, (unsigned long long)rec.seq, rec.type);
        } else if (push(b, r, &rec) < 0) {
            return;
        }
        bridge_rxseq_applied(&r->seq, rec.seq);
        rx_step_end(r, rec.seq);
        bridge_slot_set(r->slot, BRIDGE_C_LAST_SEQ, rec.seq);
        bridge_ackq_push(&r->ackq, r->head_pos, rec.seq);
    }
}

static void nack(bridge *b, bridge_in *r, const bridge_frame_hdr *h)
{
    uint64_t now = mesh_now_ns();
    if (r->nack_ns && now - r->nack_ns < RX_NACK_NS)
        return;
    r->nack_ns = now;
    bridge_slot_add(r->slot, BRIDGE_C_NACKS, 1);
    send_ack(b, r, r->seq.last, h->sync, BRIDGE_FRAME_NACK);
}

static void rx_frame(bridge *b, nng_msg *m)
{
    const void *body = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    bridge_frame_hdr h;
    bridge_frame_err e = {0};
    int rc = bridge_frame_decode(body, len, NULL, &h, &e);
    if (rc < 0) {
        reject(b, m, e.what, e.offset);
        return;
    }
    if (h.kind == BRIDGE_FRAME_HELLO && !(h.flags & BRIDGE_HELLO_REFUSED)) {
        bridge_rx_hello(b, m);
        return;
    }
    bridge_in *r = h.kind == BRIDGE_FRAME_DATA ? bridge_find_in(b, h.route) : NULL;
    if (!r) {
        reject(b, m,
               h.kind != BRIDGE_FRAME_DATA
                   ? "an ack or hello refusal where data frames are expected"
                   : "route id matches no inbound route of this mesh (configs differ?)",
               h.kind != BRIDGE_FRAME_DATA ? 5 : 16);
        return;
    }
    if (nng_pipe_id(nng_msg_get_pipe(m)) != nng_pipe_id(r->pipe)) {
        reject(b, m,
               "data for a route this connection did not announce in an accepted hello (no "
               "hello, refused, or held by another connection)",
               16);
        return;
    }
    r->frame_ns = mesh_now_ns();
    bridge_rx_decision d;
    bridge_rxseq_frame(&r->seq, &h, r->reliable, &d);
    if (d.verdict == BRIDGE_RX_NACK)
        nack(b, r, &h);
    if (d.verdict != BRIDGE_RX_APPLY)
        return;
    if (d.new_stream) {
        mesh_info("route %s -> %s: stream %016llx starts after sequence %llu", r->from, r->to,
                  (unsigned long long)h.epoch, (unsigned long long)h.seq);
        /* The old stream's last step is closed first (it is complete: an
         * open one was finished by bridge_in_init): a restart must not take
         * its sequence numbers for this stream's. Then rx_last: a run
         * killed before the epoch is stored rebases again on the next frame. */
        bridge_word_set(&r->slot->pend_seq, 0);
        bridge_word_set(&r->slot->rx_last, r->seq.last);
        bridge_word_set(&r->slot->rx_epoch, h.epoch);
        bridge_word_set(&r->slot->rx_known, 1);
        bridge_ackq_clear(&r->ackq);
        r->acked = 0;
    }
    uint64_t budget = BRIDGE_RX_GAP_MAX - d.gap;
    if (d.gap_capped)
        gap_capped(r, h.seq + 1);
    if (d.gap)
        report_gap(r, d.gap, h.seq + 1);
    apply_records(b, r, body, len, &budget, d.gap_capped);
    bridge_slot_add(r->slot, BRIDGE_C_FRAMES, 1);
    bus_ring_stats st;
    bus_ring_stats_get(r->ring, &st);
    ring_counters(r, &st);
    if (st.head != r->head_pos) { /* should not happen: fall back to the ring's view */
        if (!r->resynced++)
            mesh_warn("route %s -> %s: ring %s head %llu, expected %llu: acks now per frame",
                      r->from, r->to, bus_ring_name(r->ring), (unsigned long long)st.head,
                      (unsigned long long)r->head_pos);
        r->head_pos = st.head;
    }
    /* covers sequence numbers skipped by a gap at the end of the frame */
    bridge_ackq_push(&r->ackq, r->head_pos, r->seq.last);
}

/* Acknowledges what the consumer has released; repeats the last ack now
 * and then; notices a vanished connection. */
static int check_acks(bridge *b, uint64_t now, int link_check)
{
    int due = 0;
    for (int i = 0; i < b->nin; i++) {
        bridge_in *r = b->in[i];
        uint64_t seq;
        if (r->ackq.n > 0) {
            bus_ring_stats st;
            bus_ring_stats_get(r->ring, &st);
            if (bridge_ackq_consumed(&r->ackq, st.tail, &seq) && seq > r->acked) {
                r->acked = seq;
                r->ack_ns = now;
                bridge_slot_set(r->slot, BRIDGE_C_ACKED_SEQ, seq);
                send_ack(b, r, seq, r->seq.sync, 0);
            }
            due |= r->ackq.n > 0;
        }
        uint64_t every = now - r->frame_ns < RX_BUSY_NS ? RX_REACK_BUSY : RX_REACK_NS;
        if (r->acked && now - r->ack_ns > every) {
            r->ack_ns = now;
            send_ack(b, r, r->acked, r->seq.sync, 0);
        }
        if (link_check && nng_pipe_id(r->pipe) > 0 && !bridge_pipe_alive(r->pipe))
            bridge_slot_set(r->slot, BRIDGE_C_LINK_UP, 0);
    }
    return due;
}

void *bridge_rx_main(void *arg)
{
    bridge *b = arg;
    int timeout = RX_SLOW_MS, due = 0;
    uint64_t next_check = 0;
    while (!bridge_atomic_get(&b->stop_rx)) {
        uint64_t now = mesh_now_ns();
        bridge_atomic_set(&b->rx_tick, now);
        int want = due ? RX_FAST_MS : RX_SLOW_MS;
        if (want != timeout && nng_socket_set_ms(b->lsock, NNG_OPT_RECVTIMEO, want) == 0)
            timeout = want;
        nng_msg *m;
        int rv = nng_recvmsg(b->lsock, &m, 0);
        if (rv == 0) {
            rx_frame(b, m);
            nng_msg_free(m);
        } else if (rv == NNG_ECLOSED) {
            break;
        }
        now = mesh_now_ns();
        int link_check = now >= next_check;
        if (link_check)
            next_check = now + RX_LINKCHK_NS;
        due = check_acks(b, now, link_check);
    }
    /* Last acks for what the consumer took meanwhile (meshd stops the
     * consumer engines before the bridge), and a moment for nng to put
     * recent ones on the wire before the process exits (the kernel then
     * resets connections with unread input, dropping unsent output): what is
     * acked is not resent to the next run. */
    uint64_t now = mesh_now_ns();
    check_acks(b, now, 0);
    uint64_t last_ack = 0;
    for (int i = 0; i < b->nin; i++)
        if (b->in[i]->ack_ns > last_ack)
            last_ack = b->in[i]->ack_ns;
    if (last_ack && now - last_ack < RX_LINGER_MS * 1000000ull)
        nng_msleep(RX_LINGER_MS);
    return NULL;
}
