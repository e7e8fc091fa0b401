/* A real bridge against a hand-made peer (a raw nng pair1 socket playing
 * the other host): the handshake (refusals naming what differs, one
 * connection per route), what a receiving bridge does with gaps, oversized
 * records, forged sequence numbers and unannounced data, and what a sending
 * bridge does with bogus acks, garbage on its ack path and NACK storms.
 * Expected counts come from the frames each test sends. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "bridge_frame.h"
#include "mesh_error.h"
#include "test_bridge_util.h"

#define WAIT_MS 30000

/* Static: bridges are stopped, not closed (bridge/README.md, nng_close on
 * libnng 1.5.2), and stay reachable until the test process exits. */
static struct {
    bridge_state *st;
    bridge *b;
    test_ring ring;
    bridge_slot *slot;
    bridge_state_hdr *hdr;
    nng_socket peer, peer2;
    char url[64];
} f;

static const int trade[] = {1, 2};

/* ---- helpers ---- */

static void send_raw(nng_socket s, const void *data, size_t len)
{
    nng_msg *m;
    cr_assert_eq(nng_msg_alloc(&m, len), 0);
    memcpy(nng_msg_body(m), data, len);
    int rv = nng_sendmsg(s, m, 0);
    cr_assert_eq(rv, 0, "send: %s", nng_strerror(rv));
}

/* Receives one frame (at most WAIT_MS); returns its length, 0 on timeout. */
static size_t recv_raw(nng_socket s, uint8_t *buf, size_t cap)
{
    nng_msg *m;
    if (nng_recvmsg(s, &m, 0) != 0)
        return 0;
    size_t len = nng_msg_len(m) < cap ? nng_msg_len(m) : cap;
    memcpy(buf, nng_msg_body(m), len);
    nng_msg_free(m);
    return len;
}

static void send_hello(nng_socket s, const char *mesh, uint64_t route, uint32_t policy,
                       const int *types, int ntypes)
{
    uint8_t b[512];
    bridge_frame_enc e;
    cr_assert_eq(bridge_hello_begin(&e, b, sizeof(b), 5, mesh, "b"), 0);
    cr_assert_eq(bridge_hello_add(&e, route, policy, types, ntypes), 0);
    send_raw(s, b, bridge_hello_finish(&e));
}

/* A data frame of `n` 8-byte records with sequence numbers seqs[0..n-1]. */
static void send_data(nng_socket s, uint64_t route, uint64_t prev, uint16_t flags,
                      const uint64_t *seqs, int n, uint32_t len)
{
    static uint8_t b[1 << 16], payload[4096];
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_DATA,
                          .flags = flags,
                          .route = route,
                          .epoch = 5,
                          .seq = prev,
                          .sync = 1};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, b, sizeof(b), &h), 0);
    for (int i = 0; i < n; i++) {
        memcpy(payload, &seqs[i], sizeof(seqs[i]));
        cr_assert_eq(bridge_frame_add(&e, 1, 0, seqs[i], payload, len), 0);
    }
    send_raw(s, b, bridge_frame_finish(&e));
}

static void open_peer(nng_socket *s, const char *url)
{
    cr_assert_eq(nng_pair1_open(s), 0);
    nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 10000);
    nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, WAIT_MS);
    cr_assert_eq(nng_dial(*s, url, NULL, 0), 0);
}

/* The state and the local ring of a receiving bridge, not started yet. */
static void receiver_prepare(uint32_t max_record)
{
    cr_assert_eq(bridge_state_open_mem(&f.st), 0);
    size_t len = bus_ring_segment_size(1 << 20);
    f.ring.mem = aligned_alloc(128, len);
    cr_assert_not_null(f.ring.mem);
    cr_assert_eq(bus_ring_format(f.ring.mem, len, 1 << 20, max_record, BUS_RING_POLICY_WAIT), 0);
    cr_assert_eq(bus_ring_open_mem(&f.ring.prod, f.ring.mem, len, BUS_RING_PRODUCER), 0);
    cr_assert_eq(bus_ring_open_mem(&f.ring.cons, f.ring.mem, len, BUS_RING_CONSUMER), 0);
}

/* Starts a receiving bridge with one inbound route prod -> cons (types 1,
 * 2) over what receiver_prepare made (and a test may have changed). */
static void receiver_start(enum mesh_policy policy)
{
    char err[256] = "";
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = f.st;
    o.listen = "tcp://127.0.0.1:0";
    o.mesh = "hostb";
    cr_assert_eq(bridge_open(&f.b, &o), 0);
    bridge_route_def d = {.from = "prod",
                          .to = "cons",
                          .peer = "a",
                          .dir = BRIDGE_DIR_IN,
                          .policy = policy,
                          .ring = f.ring.prod,
                          .types = trade,
                          .ntypes = 2};
    cr_assert_eq(bridge_add_route(f.b, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(bridge_start(f.b, err, sizeof(err)), 0, "%s", err);
    f.slot = (bridge_slot *)bridge_state_slot_at(f.st, 0);
    f.hdr = bridge_state_header(f.st);
    snprintf(f.url, sizeof(f.url), "tcp://127.0.0.1:%d", bridge_listen_port(f.b));
    open_peer(&f.peer, f.url);
}

static void receiver(enum mesh_policy policy, uint32_t max_record)
{
    receiver_prepare(max_record);
    receiver_start(policy);
}

typedef struct want {
    const uint64_t *p;
    uint64_t v;
} want;

static int at_least(void *arg)
{
    want *w = arg;
    return bridge_word_get(w->p) >= w->v;
}

/* Waits until the counter *p reaches v (bounded). */
static void wait_word(const uint64_t *p, uint64_t v, const char *what)
{
    want w = {p, v};
    cr_assert(test_wait_for(at_least, &w, WAIT_MS), "%s: %llu, want %llu", what,
              (unsigned long long)bridge_word_get(p), (unsigned long long)v);
}

static const uint64_t *ctr(enum bridge_counter c)
{
    return &f.slot->c[c];
}

/* Pops one record; returns its ring sequence number and the sender's seq
 * carried in the payload. */
static uint64_t pop(uint64_t *sender_seq)
{
    uint8_t buf[64];
    bus_ring_rec rec;
    cr_assert_eq(bus_ring_pop(f.ring.cons, &rec, buf, sizeof(buf)), 0);
    memcpy(sender_seq, buf, sizeof(*sender_seq));
    return rec.seq;
}

static uint64_t route_id(void)
{
    return bridge_route_id("prod", "cons");
}

/* ---- receiver ---- */

Test(peer, records_lost_upstream_reach_the_consumer_as_a_sequence_gap, .timeout = 60)
{
    receiver(MESH_POLICY_DROP, 0);
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_DROP, trade, 2);
    uint64_t a[] = {1, 2}, b[] = {6, 9};
    send_data(f.peer, route_id(), 0, 0, a, 2, 8);
    send_data(f.peer, route_id(), 5, 0, b, 2, 8); /* 3, 4, 5 between frames; 7, 8 inside */
    wait_word(ctr(BRIDGE_C_LAST_SEQ), 9, "last applied");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_GAPS), 5, "3 + 2 missing");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_RECEIVED), 4);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_DROPS), 0, "the ring itself dropped nothing");
    uint64_t s;
    /* the ring numbers them like the sender did: a local consumer engine
     * sees the same gaps as from a local producer */
    cr_assert_eq(pop(&s), 1);
    cr_assert_eq(pop(&s), 2);
    cr_assert_eq(pop(&s), 6);
    cr_assert_eq(s, 6);
    cr_assert_eq(pop(&s), 9);
    bus_ring_stats st;
    bus_ring_stats_get(f.ring.cons, &st);
    cr_assert_eq(st.drops, 5, "skipped sequence numbers count as ring drops");
    bridge_stop(f.b, 0);
}

/* What a receiving bridge killed inside a gap step leaves (bridge_rx.c,
 * rx_step_begin): records 1..10 in the ring and applied (rx_last 10), the
 * step for the gap 11..14 opened (pend_seq 14, ring at 11, GAPS to become
 * 4); `skipped`: whether the ring skip happened before the kill. */
static void killed_inside_a_gap_step(int skipped)
{
    receiver_prepare(0);
    bridge_slot *sl;
    cr_assert_eq(bridge_state_slot(f.st, "prod", "cons", "a", BRIDGE_DIR_IN, MESH_POLICY_DROP, &sl),
                 0);
    uint8_t payload[8] = {0};
    for (uint64_t i = 1; i <= 10; i++) {
        memcpy(payload, &i, sizeof(i));
        cr_assert_eq(bus_ring_push(f.ring.prod, 1, payload, sizeof(payload)), 0);
    }
    if (skipped)
        cr_assert_eq(bus_ring_skip(f.ring.prod, 4), 0);
    bridge_word_set(&sl->rx_epoch, 5);
    bridge_word_set(&sl->rx_known, 1);
    bridge_word_set(&sl->rx_last, 10);
    bridge_word_set(&sl->pend_counter, BRIDGE_C_GAPS + 1);
    bridge_word_set(&sl->pend_count, 4);
    bridge_word_set(&sl->pend_ring_seq, 11);
    bridge_word_set(&sl->pend_epoch, 5);
    bridge_word_set(&sl->pend_seq, 14);
    receiver_start(MESH_POLICY_DROP);
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_DROP, trade, 2);
    uint64_t a[] = {15, 16};
    send_data(f.peer, route_id(), 14, 0, a, 2, 8); /* the sender goes on after 14 */
    wait_word(ctr(BRIDGE_C_LAST_SEQ), 16, "last applied");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_GAPS), 4, "11..14 counted once");
    uint64_t s;
    for (uint64_t i = 1; i <= 10; i++)
        cr_assert_eq(pop(&s), i);
    cr_assert_eq(pop(&s), 15, "ring numbers still follow the sender's: 11..14 skipped once");
    cr_assert_eq(s, 15);
    cr_assert_eq(pop(&s), 16);
    bus_ring_stats st;
    bus_ring_stats_get(f.ring.cons, &st);
    cr_assert_eq(st.drops, 4);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_DROPS), 0, "the skip is a gap, not a drop");
    bridge_stop(f.b, 0);
}

Test(peer, a_bridge_killed_after_a_gap_skip_counts_the_gap_once, .timeout = 60)
{
    killed_inside_a_gap_step(1);
}

Test(peer, a_bridge_killed_before_a_gap_skip_counts_the_gap_once, .timeout = 60)
{
    killed_inside_a_gap_step(0);
}

/* What a receiving bridge killed right after a new stream started leaves
 * (bridge_rx.c, rx_frame): the peer's mesh started afresh (epoch 4 -> 5,
 * sequence numbers from 1 again); rx_last, rx_epoch and rx_known are
 * rebased, but the kill came before the new stream's first step, so pend_*
 * still describe the old stream's last step: sender seq 1000 committed as
 * ring seq 11 (the ring moved past it). The new stream's records must reach
 * the ring, none taken as a duplicate of the old stream's numbers. */
static void killed_after_a_new_stream_started(enum mesh_policy policy)
{
    receiver_prepare(0);
    bridge_slot *sl;
    cr_assert_eq(bridge_state_slot(f.st, "prod", "cons", "a", BRIDGE_DIR_IN, policy, &sl), 0);
    uint8_t payload[8] = {0};
    for (uint64_t i = 990; i <= 1000; i++) { /* the old stream's last 11 records */
        memcpy(payload, &i, sizeof(i));
        cr_assert_eq(bus_ring_push(f.ring.prod, 1, payload, sizeof(payload)), 0);
    }
    bridge_word_set(&sl->pend_counter, 0);
    bridge_word_set(&sl->pend_count, 0);
    bridge_word_set(&sl->pend_ring_seq, 11);
    bridge_word_set(&sl->pend_epoch, 4);
    bridge_word_set(&sl->pend_seq, 1000);
    bridge_word_set(&sl->rx_last, 0);
    bridge_word_set(&sl->rx_epoch, 5);
    bridge_word_set(&sl->rx_known, 1);
    receiver_start(policy);
    send_hello(f.peer, "hosta", route_id(), policy, trade, 2);
    uint64_t a[] = {1, 2};
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 2, 8);
    wait_word(ctr(BRIDGE_C_FRAMES), 1, "frames applied");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_DUPS), 0, "new records taken as duplicates");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_LAST_SEQ), 2);
    cr_assert_eq(bridge_word_get(&f.slot->rx_last), 2);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_GAPS), 0);
    uint64_t s;
    for (uint64_t i = 1; i <= 11; i++) {
        cr_assert_eq(pop(&s), i);
        cr_assert_eq(s, 989 + i);
    }
    cr_assert_eq(pop(&s), 12, "the new stream's first record reached the ring");
    cr_assert_eq(s, 1);
    cr_assert_eq(pop(&s), 13);
    cr_assert_eq(s, 2);
    if (policy == MESH_POLICY_WAIT) { /* acks name the new stream's numbers */
        uint8_t b[256];
        bridge_frame_hdr h = {0};
        while (h.kind != BRIDGE_FRAME_ACK || h.seq < 2) {
            size_t len = recv_raw(f.peer, b, sizeof(b));
            cr_assert_gt(len, 0, "no ack for record 2");
            cr_assert_eq(bridge_frame_decode(b, len, NULL, &h, NULL), 0);
            cr_assert(h.kind != BRIDGE_FRAME_ACK || h.seq <= 2, "acked %llu, sent only 1..2",
                      (unsigned long long)h.seq);
        }
    }
    bridge_stop(f.b, 0);
}

Test(peer, a_bridge_killed_as_a_new_stream_started_applies_its_records_once, .timeout = 60)
{
    killed_after_a_new_stream_started(MESH_POLICY_DROP);
}

Test(peer, a_bridge_killed_as_a_new_stream_started_acks_the_new_numbers, .timeout = 60)
{
    killed_after_a_new_stream_started(MESH_POLICY_WAIT);
}

Test(peer, a_record_over_the_rings_max_record_is_a_gap_for_the_consumer, .timeout = 60)
{
    receiver(MESH_POLICY_WAIT, 64); /* the local ring takes payloads of at most 64 bytes */
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_WAIT, trade, 2);
    uint64_t a[] = {1}, b[] = {2}, c[] = {3};
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 1, 8);
    send_data(f.peer, route_id(), 1, 0, b, 1, 100);
    send_data(f.peer, route_id(), 2, 0, c, 1, 8);
    wait_word(ctr(BRIDGE_C_LAST_SEQ), 3, "last applied");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_REJECTED), 1);
    uint64_t s;
    cr_assert_eq(pop(&s), 1);
    cr_assert_eq(pop(&s), 3, "ring seq 2 skipped: the consumer sees the loss");
    cr_assert_eq(s, 3);
    bridge_stop(f.b, 0);
}

Test(peer, a_forged_sequence_number_adds_at_most_2_to_the_32_gaps, .timeout = 60)
{
    receiver(MESH_POLICY_DROP, 0);
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_DROP, trade, 2);
    uint64_t a[] = {1}, b[] = {UINT64_MAX - 1};
    send_data(f.peer, route_id(), 0, 0, a, 1, 8);
    send_data(f.peer, route_id(), UINT64_MAX - 2, 0, b, 1, 8);
    wait_word(ctr(BRIDGE_C_LAST_SEQ), UINT64_MAX - 1, "last applied");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_GAPS), 1ull << 32);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_BAD_FRAMES), 1, "the frame counts as bad");
    bridge_stop(f.b, 0);
}

Test(peer, data_without_an_accepted_hello_is_rejected, .timeout = 60)
{
    receiver(MESH_POLICY_WAIT, 0);
    uint64_t a[] = {1};
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 1, 8); /* no hello */
    send_data(f.peer, 0x1234, 0, BRIDGE_FRAME_SYNC, a, 1, 8);     /* no such route */
    wait_word(&f.hdr->bad_frames, 2, "bad frames");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_BAD_FRAMES), 1, "the first names our route");
    /* after the hello the same frame goes through */
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_WAIT, trade, 2);
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 1, 8);
    wait_word(ctr(BRIDGE_C_RECEIVED), 1, "received");
    cr_assert_eq(bridge_word_get(&f.hdr->bad_frames), 2);
    bridge_stop(f.b, 0);
}

/* Sends a hello that differs, reads the refusal, checks nothing binds. */
static void refused_hello(uint32_t policy, const int *types, int ntypes, uint64_t route,
                          const char *phrase)
{
    receiver(MESH_POLICY_WAIT, 0);
    send_hello(f.peer, "hosta", route, policy, types, ntypes);
    uint8_t b[2048];
    size_t len = recv_raw(f.peer, b, sizeof(b) - 1);
    cr_assert_gt(len, 0, "no refusal came back");
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(b, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.kind, BRIDGE_FRAME_HELLO);
    cr_assert_eq(h.flags, BRIDGE_HELLO_REFUSED);
    const char *why = bridge_hello_reason(b, len);
    cr_assert(strstr(why, phrase) != NULL, "reason '%s' lacks '%s'", why, phrase);
    cr_assert_eq(bridge_word_get(&f.hdr->hello_refused), 1);
    uint64_t a[] = {1};
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 1, 8);
    wait_word(&f.hdr->bad_frames, 1, "data of a refused route");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_RECEIVED), 0);
    bridge_stop(f.b, 0);
}

Test(peer, a_policy_mismatch_is_refused_naming_both_policies, .timeout = 60)
{
    refused_hello(MESH_POLICY_DROP, trade, 2, route_id(),
                  "route prod -> cons: policy differs (sender: drop, here: wait)");
}

Test(peer, a_type_mismatch_is_refused_naming_both_lists, .timeout = 60)
{
    static const int other[] = {2, 3, 1};
    refused_hello(MESH_POLICY_WAIT, other, 3, route_id(),
                  "type ids differ (sender: [1,2,3], here: [1,2])");
}

Test(peer, an_unknown_route_is_refused, .timeout = 60)
{
    refused_hello(MESH_POLICY_WAIT, trade, 2, bridge_route_id("prod", "other"),
                  "matches no inbound route here");
}

Test(peer, a_second_mesh_claiming_a_bound_route_is_refused, .timeout = 60)
{
    receiver(MESH_POLICY_WAIT, 0);
    send_hello(f.peer, "hosta", route_id(), MESH_POLICY_WAIT, trade, 2);
    uint64_t a[] = {1}, b[] = {2};
    send_data(f.peer, route_id(), 0, BRIDGE_FRAME_SYNC, a, 1, 8);
    wait_word(ctr(BRIDGE_C_RECEIVED), 1, "first connection's record");
    open_peer(&f.peer2, f.url);
    send_hello(f.peer2, "intruder", route_id(), MESH_POLICY_WAIT, trade, 2);
    uint8_t buf[2048];
    size_t len = recv_raw(f.peer2, buf, sizeof(buf));
    cr_assert_gt(len, 0, "no refusal");
    cr_assert(strstr(bridge_hello_reason(buf, len), "already carried for mesh hosta") != NULL, "%s",
              bridge_hello_reason(buf, len));
    cr_assert_eq(bridge_word_get(&f.hdr->route_conflicts), 1);
    send_data(f.peer2, route_id(), 1, 0, b, 1, 8); /* not applied */
    wait_word(&f.hdr->bad_frames, 1, "the intruder's data");
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_RECEIVED), 1);
    /* acks go to the bound connection: the consumer takes record 1 */
    uint64_t s;
    cr_assert_eq(pop(&s), 1);
    len = recv_raw(f.peer, buf, sizeof(buf));
    bridge_frame_hdr h;
    cr_assert_gt(len, 0, "no ack on the bound connection");
    cr_assert_eq(bridge_frame_decode(buf, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.kind, BRIDGE_FRAME_ACK);
    cr_assert_eq(h.seq, 1);
    /* the first connection goes on */
    send_data(f.peer, route_id(), 1, 0, b, 1, 8);
    wait_word(ctr(BRIDGE_C_RECEIVED), 2, "first connection's second record");
    bridge_stop(f.b, 0);
}

/* ---- sender ---- */

static struct {
    bridge_state *st;
    bridge *b;
    test_ring ring;
    bridge_slot *slot;
    bridge_state_hdr *hdr;
    nng_socket lis;
} s;

/* A sending bridge with one wait route prod -> cons to a raw listener. */
static void sender(void)
{
    char err[256] = "", url[64];
    nng_listener l;
    int port = 0;
    cr_assert_eq(nng_pair1_open_poly(&s.lis), 0);
    nng_socket_set_ms(s.lis, NNG_OPT_RECVTIMEO, WAIT_MS);
    nng_socket_set_ms(s.lis, NNG_OPT_SENDTIMEO, 10000);
    nng_socket_set_size(s.lis, NNG_OPT_RECVMAXSZ, 32u << 20);
    cr_assert_eq(nng_listen(s.lis, "tcp://127.0.0.1:0", &l, 0), 0);
    cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    cr_assert_eq(bridge_state_open_mem(&s.st), 0);
    test_ring_open(&s.ring, 1 << 20, BUS_RING_POLICY_WAIT);
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = s.st;
    o.mesh = "hosta";
    cr_assert_eq(bridge_open(&s.b, &o), 0);
    bridge_route_def d = {.from = "prod",
                          .to = "cons",
                          .peer = "b",
                          .dir = BRIDGE_DIR_OUT,
                          .policy = MESH_POLICY_WAIT,
                          .ring = s.ring.cons,
                          .url = url,
                          .types = trade,
                          .ntypes = 2};
    cr_assert_eq(bridge_add_route(s.b, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(bridge_start(s.b, err, sizeof(err)), 0, "%s", err);
    s.slot = (bridge_slot *)bridge_state_slot_at(s.st, 0);
    s.hdr = bridge_state_header(s.st);
}

/* Receives frames until a data frame whose last record is `last`; returns
 * the header of the last frame. The first frame must be the HELLO. */
static bridge_frame_hdr recv_until(uint64_t last, int expect_hello)
{
    static uint8_t b[1 << 17];
    bridge_frame_hdr h = {0};
    for (;;) {
        size_t len = recv_raw(s.lis, b, sizeof(b));
        cr_assert_gt(len, 0, "no frame from the sender");
        cr_assert_eq(bridge_frame_decode(b, len, NULL, &h, NULL), 0);
        if (expect_hello) {
            cr_assert_eq(h.kind, BRIDGE_FRAME_HELLO, "first frame on a connection is the HELLO");
            char mesh[32], peer[32];
            bridge_hello_names(b, len, mesh, peer);
            cr_assert_str_eq(mesh, "hosta");
            cr_assert_str_eq(peer, "b");
            size_t pos = 0;
            bridge_hello_route r;
            cr_assert_eq(bridge_hello_next(b, len, &pos, &r), 1);
            cr_assert_eq(r.id, route_id());
            cr_assert_eq(r.policy, MESH_POLICY_WAIT);
            cr_assert_eq(r.ntypes, 2);
            expect_hello = 0;
            continue;
        }
        if (h.kind != BRIDGE_FRAME_DATA)
            continue;
        size_t pos = 0;
        bridge_frame_rec rec;
        uint64_t hi = 0;
        while (bridge_frame_next(b, len, &pos, &rec))
            hi = rec.seq;
        if (hi >= last)
            return h;
    }
}

static void push_n(uint64_t n)
{
    uint8_t p[16] = {0};
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(bus_ring_push(s.ring.prod, 1, p, sizeof(p)), 0);
}

static void send_ack(uint64_t seq, uint32_t sync, uint16_t flags)
{
    uint8_t b[BRIDGE_FRAME_HDR];
    /* the epoch of the sender's stream, as a receiver learns it */
    bridge_ack_encode(b, sizeof(b), route_id(), bridge_word_get(&s.hdr->epoch), seq, sync, flags);
    send_raw(s.lis, b, sizeof(b));
}

static uint64_t depth(void)
{
    bus_ring_stats st;
    bus_ring_stats_get(s.ring.cons, &st);
    return st.depth;
}

static int ring_empty(void *arg)
{
    (void)arg;
    return depth() == 0;
}

Test(peer, an_ack_above_what_was_sent_is_counted_and_frees_nothing, .timeout = 60)
{
    sender();
    push_n(10);
    bridge_frame_hdr h = recv_until(10, 1);
    send_ack(1000, h.sync, 0); /* records 11..1000 were never sent */
    wait_word(&s.hdr->bad_frames, 1, "bogus ack counted");
    cr_assert_eq(bridge_slot_get(s.slot, BRIDGE_C_BAD_FRAMES), 1);
    cr_assert_eq(depth(), 10 * 40, "ten records (24-byte header + 16) still held");
    cr_assert(bridge_alive(s.b, mesh_now_ns(), 10000000000ull), "the route stays usable");
    /* more records, then an honest ack of everything sent frees them */
    push_n(5);
    recv_until(15, 0);
    send_ack(15, h.sync, 0);
    cr_assert(test_wait_for(ring_empty, NULL, WAIT_MS), "honest ack ignored: depth %llu",
              (unsigned long long)depth());
    cr_assert_eq(bridge_word_get(&s.hdr->bad_frames), 1);
    bridge_stop(s.b, 0);
}

Test(peer, garbage_on_the_ack_path_is_counted_and_the_sender_goes_on, .timeout = 60)
{
    sender();
    push_n(3);
    bridge_frame_hdr h = recv_until(3, 1);
    uint8_t junk[100];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    send_raw(s.lis, junk, sizeof(junk)); /* not a frame */
    uint8_t d[256];
    bridge_frame_hdr dh = {.kind = BRIDGE_FRAME_DATA, .route = route_id(), .epoch = 1, .sync = 1};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, d, sizeof(d), &dh), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 1, "x", 1), 0);
    send_raw(s.lis, d, bridge_frame_finish(&e)); /* a data frame: not on this path */
    uint8_t ack[BRIDGE_FRAME_HDR];
    bridge_ack_encode(ack, sizeof(ack), 0x999, bridge_word_get(&s.hdr->epoch), 1, h.sync, 0);
    send_raw(s.lis, ack, sizeof(ack)); /* an ack for a route we do not send */
    wait_word(&s.hdr->bad_frames, 3, "frames on the ack path");
    send_ack(3, h.sync, 0);
    cr_assert(test_wait_for(ring_empty, NULL, WAIT_MS), "the sender stopped working");
    cr_assert_eq(bridge_word_get(&s.hdr->bad_frames), 3);
    bridge_stop(s.b, 0);
}

Test(peer, nacks_cause_a_bounded_number_of_rewinds, .timeout = 60)
{
    sender();
    push_n(4);
    bridge_frame_hdr h = recv_until(4, 1);
    /* 200 NACKs each naming the generation of the last frame seen, as a
     * misbehaving receiver would; each rewind starts a new generation */
    uint64_t t0 = mesh_now_ns();
    uint32_t sync = h.sync;
    for (int i = 0; i < 200; i++)
        send_ack(0, sync + (uint32_t)(i % 4), BRIDGE_FRAME_NACK);
    send_ack(100, sync, BRIDGE_FRAME_NACK); /* above anything sent: bogus */
    wait_word(&s.hdr->bad_frames, 1, "bogus NACK");
    uint64_t ms = (mesh_now_ns() - t0) / 1000000 + 1;
    /* at most one rewind per 50 ms of the time the NACKs took to arrive */
    uint64_t nacks = bridge_slot_get(s.slot, BRIDGE_C_NACKS);
    cr_assert_leq(nacks, ms / 50 + 1, "%llu rewinds in %llu ms", (unsigned long long)nacks,
                  (unsigned long long)ms);
    bridge_stop(s.b, 0);
}

Test(peer, a_nack_inside_the_rewind_limit_is_applied_once_the_limit_passed, .timeout = 60)
{
    sender();
    push_n(4);
    bridge_frame_hdr h = recv_until(4, 1);
    send_ack(0, h.sync, BRIDGE_FRAME_NACK); /* the first rewind: at once */
    bridge_frame_hdr h2 = recv_until(4, 0);
    cr_assert_eq(h2.sync, h.sync + 1);
    cr_assert(h2.flags & BRIDGE_FRAME_SYNC);
    /* A second NACK right after the resend, well inside the 50 ms limit on
     * this connection: nothing else will make the sender move (its window
     * holds all it has, no new records, no other NACK), so only the held
     * NACK can bring the frames again. */
    send_ack(0, h2.sync, BRIDGE_FRAME_NACK);
    bridge_frame_hdr h3 = recv_until(4, 0);
    cr_assert_eq(h3.sync, h2.sync + 1, "resent by the second NACK");
    cr_assert(h3.flags & BRIDGE_FRAME_SYNC);
    cr_assert_eq(h3.seq, 0, "from the oldest unacknowledged record");
    cr_assert_eq(bridge_slot_get(s.slot, BRIDGE_C_NACKS), 2);
    bridge_stop(s.b, 0);
}

static int bridge_dead(void *arg)
{
    (void)arg;
    return !bridge_alive(s.b, mesh_now_ns(), 10000000000ull);
}

Test(peer, a_corrupt_ring_makes_the_bridge_report_itself_dead, .timeout = 60)
{
    sender();
    push_n(1);
    recv_until(1, 1);
    cr_assert(bridge_alive(s.b, mesh_now_ns(), 10000000000ull));
    /* record 2 is committed but held back (publish batch), its header is
     * overwritten, then it is published: the send thread finds it corrupt */
    cr_assert_eq(bus_ring_set_publish_batch(s.ring.prod, 4096), 0);
    push_n(1);
    uint8_t *rec2 = (uint8_t *)s.ring.mem + BUS_RING_HEADER_BYTES + 40; /* after 24 + 16 */
    uint32_t bad = 0x7fffffffu;
    memcpy(rec2, &bad, sizeof(bad)); /* length; its check word no longer matches */
    cr_assert_eq(bus_ring_flush(s.ring.prod), 0);
    cr_assert(test_wait_for(bridge_dead, NULL, WAIT_MS),
              "a route that cannot read its ring must stop the heartbeat");
    bridge_stop(s.b, 0);
}

/* ---- route set-up ---- */

/* Adds route prod -> cons in direction dir with the given type ids. */
static int add_typed(bridge *b, test_ring *ring, enum bridge_dir dir, const int *types, int n,
                     char *err, size_t errlen)
{
    bridge_route_def d = {.from = "prod",
                          .to = "cons",
                          .peer = "b",
                          .dir = dir,
                          .policy = MESH_POLICY_WAIT,
                          .ring = dir == BRIDGE_DIR_OUT ? ring->cons : ring->prod,
                          .url = "tcp://127.0.0.1:9",
                          .types = types,
                          .ntypes = n};
    return bridge_add_route(b, &d, err, errlen);
}

Test(peer, a_route_with_a_type_id_the_hello_cannot_announce_is_refused)
{
    bridge_state *st;
    bridge *b;
    test_ring ring;
    char err[256] = "";
    cr_assert_eq(bridge_state_open_mem(&st), 0);
    test_ring_open(&ring, 1 << 16, BUS_RING_POLICY_WAIT);
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = st;
    o.mesh = "hosta";
    cr_assert_eq(bridge_open(&b, &o), 0);
    /* 0 means "any" on the wire, 0xffffffff is the ring's padding type */
    static const int zero[] = {1, 0}, all_ones[] = {-1, 2};
    cr_assert_eq(add_typed(b, &ring, BRIDGE_DIR_OUT, zero, 2, err, sizeof(err)), MESH_EINVAL);
    cr_assert(strstr(err, "route prod -> cons: type id 0 is reserved") != NULL, "%s", err);
    cr_assert_eq(add_typed(b, &ring, BRIDGE_DIR_IN, all_ones, 2, err, sizeof(err)), MESH_EINVAL);
    cr_assert(strstr(err, "route prod -> cons: type id 4294967295 is reserved") != NULL, "%s", err);
    cr_assert_eq(bridge_state_nslots(st), 0, "a refused route claims no state slot");
    cr_assert_eq(add_typed(b, &ring, BRIDGE_DIR_OUT, trade, 2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(add_typed(b, &ring, BRIDGE_DIR_IN, trade, 2, err, sizeof(err)), 0, "%s", err);
    bridge_close(b); /* never started: safe (bridge.h) */
    test_ring_close(&ring);
    bridge_state_close(st);
}
