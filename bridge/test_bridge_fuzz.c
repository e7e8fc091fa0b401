/* Fuzz-style tests of the bridge's frame decoder (seeded; iterations scale
 * with MESH_TEST_SCALE): random, truncated, bit-flipped and oversized input
 * never crashes or reads out of bounds (each case sits in an exactly-sized
 * heap buffer, so ASan sees any overread), the classes that must fail do,
 * accepted frames are self-consistent; and over a real connection every
 * rejected frame is counted while the receiver keeps working. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "bridge_frame.h"
#include "mesh_error.h"
#include "test_bridge_util.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: a fixed seed gives the same cases on every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* A valid frame of 1..20 records into buf (cap bytes); returns its length. */
static size_t gen_frame(uint8_t *buf, size_t cap, uint64_t route)
{
    static uint8_t payload[300];
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_DATA,
                          .flags = (uint16_t)(rnd() & 1),
                          .route = route,
                          .epoch = rnd() | 1,
                          .seq = rnd() % 1000,
                          .sync = (uint32_t)rnd()};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, buf, cap, &h), 0);
    uint64_t seq = h.seq;
    int n = 1 + (int)(rnd() % 20);
    for (int i = 0; i < n; i++) {
        uint32_t len = (uint32_t)(rnd() % sizeof(payload));
        for (uint32_t k = 0; k < len; k++)
            payload[k] = (uint8_t)rnd();
        seq += 1 + rnd() % 4;
        if (bridge_frame_add(&e, 1 + (uint32_t)(rnd() % 100), (uint32_t)rnd(), seq, payload, len) <
            0)
            break;
    }
    return bridge_frame_finish(&e);
}

/* Decodes a copy in an exactly-sized heap buffer; on success walks the
 * records and checks they tile the body exactly. Returns the decoder's code. */
static int decode_checked(const uint8_t *src, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, src, len);
    bridge_frame_hdr h;
    bridge_frame_err err = {0};
    int rc = bridge_frame_decode(copy, len, NULL, &h, &err);
    if (rc < 0) {
        cr_assert_not_null(err.what);
        cr_assert_leq(err.offset, len, "error offset beyond the frame");
    } else if (h.kind == BRIDGE_FRAME_DATA) {
        size_t pos = 0, used = BRIDGE_FRAME_HDR;
        uint32_t n = 0;
        uint64_t prev = h.seq;
        bridge_frame_rec rec;
        while (bridge_frame_next(copy, len, &pos, &rec)) {
            cr_assert_gt(rec.seq, prev);
            prev = rec.seq;
            used += bridge_rec_size(rec.len);
            cr_assert_leq(used, len);
            n++;
        }
        cr_assert_eq(n, h.count);
        cr_assert_eq(used, len);
    }
    free(copy);
    return rc;
}

/* Header bytes where any single bit flip makes a frame invalid: magic,
 * version, kind, flags (except the SYNC bit), count, body bytes, reserved. */
static int flip_must_fail(size_t byte, int bit)
{
    if (byte <= 5 || (byte >= 8 && byte <= 15) || (byte >= 44 && byte <= 47))
        return 1;
    return (byte == 6 && bit != 0) || byte == 7;
}

Test(fuzz, decoder_survives_and_rejects_what_it_must)
{
    static uint8_t base[1 << 14], work[(1 << 14) + 64];
    rng_state = 0x9e3779b97f4a7c15ull;
    uint64_t iters = test_scaled(200000, 2000);
    uint64_t rejected = 0, accepted = 0;
    for (uint64_t it = 0; it < iters; it++) {
        size_t len = gen_frame(base, sizeof(base), rnd());
        cr_assert_eq(decode_checked(base, len), 0, "generated frame %llu rejected",
                     (unsigned long long)it);
        memcpy(work, base, len);
        size_t wlen = len;
        int must_fail = 0;
        switch (it % 5) {
        case 0: { /* truncation */
            wlen = rnd() % len;
            must_fail = 1;
            break;
        }
        case 1: { /* one bit flipped anywhere */
            size_t byte = rnd() % len;
            int bit = (int)(rnd() % 8);
            work[byte] ^= (uint8_t)(1u << bit);
            must_fail = byte < BRIDGE_FRAME_HDR && flip_must_fail(byte, bit);
            break;
        }
        case 2: /* several bytes overwritten */
            for (int k = 0; k < 1 + (int)(rnd() % 8); k++)
                work[rnd() % len] = (uint8_t)rnd();
            break;
        case 3: { /* random garbage that does not start with the magic */
            wlen = rnd() % 200;
            for (size_t k = 0; k < wlen; k++)
                work[k] = (uint8_t)rnd();
            if (wlen >= 4 && memcmp(work, "MBRG", 4) == 0)
                work[0] ^= 1;
            must_fail = 1;
            break;
        }
        default: /* trailing bytes */
            wlen = len + 1 + rnd() % 60;
            for (size_t k = len; k < wlen; k++)
                work[k] = (uint8_t)rnd();
            must_fail = 1;
            break;
        }
        int rc = decode_checked(work, wlen);
        if (must_fail)
            cr_assert_lt(rc, 0, "iteration %llu (case %llu) accepted a frame that must fail",
                         (unsigned long long)it, (unsigned long long)(it % 5));
        rc < 0 ? rejected++ : accepted++;
    }
    cr_assert_eq(rejected + accepted, iters);
    cr_log_info("%llu cases: %llu rejected, %llu accepted", (unsigned long long)iters,
                (unsigned long long)rejected, (unsigned long long)accepted);
}

Test(fuzz, oversized_frames_and_records_are_rejected_by_size)
{
    bridge_frame_limits lim = {.max_frame = 1 << 16, .max_record = 1 << 10, .max_count = 64};
    static uint8_t big[(1 << 16) + 8];
    rng_state = 42;
    /* a frame one byte over the limit */
    memset(big, 0, sizeof(big));
    size_t len = bridge_ack_encode(big, sizeof(big), 1, 1, 1, 1, 0);
    cr_assert_eq(bridge_frame_decode(big, (1 << 16) + 1, &lim, NULL, NULL), MESH_EMSGSIZE);
    /* a record one byte over the record limit */
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_DATA, .route = 1, .epoch = 1};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, big, sizeof(big), &h), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 1, big + 40000, 1025), 0);
    len = bridge_frame_finish(&e);
    cr_assert_eq(bridge_frame_decode(big, len, &lim, NULL, NULL), MESH_EMSGSIZE);
    /* 65 records over a 64-record limit */
    cr_assert_eq(bridge_frame_begin(&e, big, sizeof(big), &h), 0);
    for (int i = 0; i < 65; i++)
        cr_assert_eq(bridge_frame_add(&e, 1, 0, 1 + (uint64_t)i, "x", 1), 0);
    len = bridge_frame_finish(&e);
    cr_assert_eq(bridge_frame_decode(big, len, &lim, NULL, NULL), MESH_EMSGSIZE);
}

/* --- over a real connection --- */

typedef struct rx_fixture {
    bridge_state *st;
    bridge *b;
    test_ring ring;
    bridge_slot *slot;
    nng_socket peer;
} rx_fixture;

static int slot_last_is_3(void *arg)
{
    rx_fixture *fx = arg;
    return bridge_slot_get(fx->slot, BRIDGE_C_LAST_SEQ) >= 3;
}

static void send_raw(nng_socket s, const void *data, size_t len)
{
    nng_msg *m;
    cr_assert_eq(nng_msg_alloc(&m, len), 0);
    if (len)
        memcpy(nng_msg_body(m), data, len);
    int rv = nng_sendmsg(s, m, 0);
    cr_assert_eq(rv, 0, "send: %s", nng_strerror(rv));
}

/* Static: the bridge is stopped, not closed (see bridge.h on libnng 1.5.2's
 * nng_close), and stays reachable until the test process exits. */
static rx_fixture f;

Test(fuzz, every_rejected_frame_is_counted_and_the_receiver_keeps_working, .timeout = 120)
{
    char err[256] = "";
    cr_assert_eq(bridge_state_open_mem(&f.st), 0);
    test_ring_open(&f.ring, 1 << 20, BUS_RING_POLICY_WAIT);
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = f.st;
    o.listen = "tcp://127.0.0.1:0";
    cr_assert_eq(bridge_open(&f.b, &o), 0);
    int types[] = {1, 2};
    bridge_route_def d = {.from = "prod",
                          .to = "cons",
                          .peer = "a",
                          .dir = BRIDGE_DIR_IN,
                          .policy = MESH_POLICY_WAIT,
                          .ring = f.ring.prod,
                          .types = types,
                          .ntypes = 2};
    cr_assert_eq(bridge_add_route(f.b, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(bridge_start(f.b, err, sizeof(err)), 0, "%s", err);
    f.slot = (bridge_slot *)bridge_state_slot_at(f.st, 0);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", bridge_listen_port(f.b));
    cr_assert_eq(nng_pair1_open(&f.peer), 0);
    nng_socket_set_ms(f.peer, NNG_OPT_SENDTIMEO, 10000);
    cr_assert_eq(nng_dial(f.peer, url, NULL, 0), 0);
    /* the handshake binds the route to this connection */
    static uint8_t hello[512];
    bridge_frame_enc he;
    cr_assert_eq(bridge_hello_begin(&he, hello, sizeof(hello), 5, "fuzzer", "b"), 0);
    cr_assert_eq(bridge_hello_add(&he, bridge_route_id("prod", "cons"), MESH_POLICY_WAIT, types, 2),
                 0);
    send_raw(f.peer, hello, bridge_hello_finish(&he));

    static uint8_t base[1 << 14], work[(1 << 14) + 64];
    rng_state = 7;
    uint64_t route = bridge_route_id("prod", "cons");
    /* route_bad: the rejected frames whose header still names our route (the
     * receiver charges those to the route too): route frames (odd i) cut to
     * 24 bytes or more, or with a flipped bit in bytes 0..15 */
    uint64_t n = test_scaled(2000, 200), bad = 0, route_bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = gen_frame(base, sizeof(base), i % 2 ? route : rnd());
        memcpy(work, base, len);
        size_t wlen = len;
        if (i % 3 == 0) {
            wlen = rnd() % len; /* truncated */
        } else if (i % 3 == 1) {
            size_t byte = rnd() % 16; /* header flip that must fail */
            int bit = (int)(rnd() % 8);
            if (!flip_must_fail(byte, bit))
                byte = 0;
            work[byte] ^= (uint8_t)(1u << bit);
        } else {
            for (size_t k = 0; k < wlen; k++) /* garbage */
                work[k] = (uint8_t)rnd();
            work[0] = 'X';
        }
        send_raw(f.peer, work, wlen);
        bad++;
        route_bad += i % 2 == 1 && (i % 3 == 1 || (i % 3 == 0 && wlen >= 24));
    }
    /* two frames over our 16 MiB limit (but under nng's 32 MiB cut-off) */
    size_t huge = (16u << 20) + 4096;
    uint8_t *hb = calloc(1, huge);
    cr_assert_not_null(hb);
    for (int k = 0; k < 2; k++) {
        bridge_ack_encode(hb, huge, route, 1, 1, 1, 0);
        send_raw(f.peer, hb, huge);
        bad++;
        route_bad++;
    }
    free(hb);
    /* A well-formed frame afterwards is still applied (so everything before
     * it was seen), except its record of type 99, which the route (types 1
     * and 2) does not carry: skipped and counted, the frame counted bad. */
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_DATA,
                          .flags = BRIDGE_FRAME_SYNC,
                          .route = route,
                          .epoch = 5,
                          .seq = 0,
                          .sync = 1};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, base, sizeof(base), &h), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 1, "ok", 2), 0);
    cr_assert_eq(bridge_frame_add(&e, 99, 0, 2, "no", 2), 0);
    cr_assert_eq(bridge_frame_add(&e, 2, 0, 3, "ok2", 3), 0);
    send_raw(f.peer, base, bridge_frame_finish(&e));
    cr_assert(test_wait_for(slot_last_is_3, &f, 60000), "valid frame never applied");
    bridge_state_hdr *hdr = bridge_state_header(f.st);
    cr_assert_eq(bridge_word_get(&hdr->bad_frames), bad, "counted %llu of %llu bad frames",
                 (unsigned long long)bridge_word_get(&hdr->bad_frames), (unsigned long long)bad);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_REJECTED), 1);
    cr_assert_eq(bridge_slot_get(f.slot, BRIDGE_C_BAD_FRAMES), route_bad + 1);
    bus_ring_rec rec;
    static uint8_t out[64];
    cr_assert_eq(bus_ring_pop(f.ring.cons, &rec, out, sizeof(out)), 0);
    cr_assert_eq(rec.len, 2);
    cr_assert_eq(memcmp(out, "ok", 2), 0);
    cr_assert_eq(bus_ring_pop(f.ring.cons, &rec, out, sizeof(out)), 0);
    cr_assert_eq(rec.type, 2);
    cr_assert_eq(memcmp(out, "ok2", 3), 0);
    cr_assert_eq(rec.seq, 3, "the skipped record of type 99 is a gap for the consumer");
    cr_assert_eq(bus_ring_pop(f.ring.cons, &rec, out, sizeof(out)), MESH_EAGAIN);
    bridge_stop(f.b, 0);
}
