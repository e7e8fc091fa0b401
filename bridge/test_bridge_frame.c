/* Bridge wire codec: exact byte layout, batching bounds, encode/decode round
 * trip, and the decoder's rejection of each kind of malformed frame. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_frame.h"
#include "mesh_error.h"

static uint8_t buf[1 << 16];

static const bridge_frame_hdr data_hdr = {
    .kind = BRIDGE_FRAME_DATA, .route = 0x1122334455667788ull, .epoch = 9, .seq = 4, .sync = 3};

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* One record "abc" after a header: the layout of bridge_frame.h byte by byte. */
static size_t encode_abc(uint8_t *out)
{
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, out, 4096, &data_hdr), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 7, 5, "abc", 3), 0);
    return bridge_frame_finish(&e);
}

Test(frame, one_record_has_the_documented_byte_layout)
{
    size_t len = encode_abc(buf);
    /* 48 header + 24 record header + 3 payload padded to 8 = 80 */
    cr_assert_eq(len, 80);
    cr_assert_eq(memcmp(buf, "MBRG", 4), 0, "magic reads MBRG");
    cr_assert_eq(buf[4], 2, "version");
    cr_assert_eq(buf[5], BRIDGE_FRAME_DATA, "kind");
    cr_assert_eq(le(buf + 6, 2), 0, "flags");
    cr_assert_eq(le(buf + 8, 4), 1, "count");
    cr_assert_eq(le(buf + 12, 4), 32, "body bytes = 80 - 48");
    cr_assert_eq(le(buf + 16, 8), 0x1122334455667788ull, "route");
    cr_assert_eq(buf[16], 0x88, "little-endian route");
    cr_assert_eq(le(buf + 24, 8), 9, "epoch");
    cr_assert_eq(le(buf + 32, 8), 4, "prev seq");
    cr_assert_eq(le(buf + 40, 4), 3, "sync");
    cr_assert_eq(le(buf + 44, 4), 0, "reserved");
    cr_assert_eq(le(buf + 48, 4), 3, "record len");
    cr_assert_eq(le(buf + 52, 4), 1, "record type");
    cr_assert_eq(le(buf + 56, 4), 7, "record flags");
    cr_assert_eq(le(buf + 60, 4), 0, "record reserved");
    cr_assert_eq(le(buf + 64, 8), 5, "record seq");
    cr_assert_eq(memcmp(buf + 72, "abc", 3), 0, "payload");
    for (int i = 75; i < 80; i++)
        cr_assert_eq(buf[i], 0, "padding byte %d", i);
}

Test(frame, record_size_rounds_header_plus_payload_up_to_8)
{
    cr_assert_eq(bridge_rec_size(0), 24);
    cr_assert_eq(bridge_rec_size(1), 32);  /* 25 -> 32 */
    cr_assert_eq(bridge_rec_size(8), 32);  /* 32 exactly */
    cr_assert_eq(bridge_rec_size(64), 88); /* 24 + 64 = 88, already a multiple of 8 */
    cr_assert_eq(bridge_rec_size(65), 96); /* 89 -> 96 */
}

Test(frame, a_64_kib_batch_holds_744_records_of_64_bytes)
{
    /* (65536 - 48) / (24 + 64) = 65488 / 88 = 744.18: 744 fit, the 745th does not */
    static uint8_t big[65536];
    uint8_t payload[64] = {0};
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, big, sizeof(big), &data_hdr), 0);
    int n = 0;
    while (bridge_frame_add(&e, 2, 0, 5 + (uint64_t)n, payload, sizeof(payload)) == 0)
        n++;
    cr_assert_eq(n, 744);
    cr_assert_eq(bridge_frame_add(&e, 2, 0, 1000, payload, 64), MESH_EMSGSIZE);
    size_t len = bridge_frame_finish(&e);
    cr_assert_eq(len, 48 + 744 * 88);
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(big, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.count, 744);
}

Test(frame, next_payload_room_is_what_still_fits)
{
    bridge_frame_enc e;
    size_t room;
    /* cap 100: after the 48-byte header 52 bytes remain; 52 - 24 = 28 -> 24 (multiple of 8) */
    cr_assert_eq(bridge_frame_begin(&e, buf, 100, &data_hdr), 0);
    bridge_frame_next_payload(&e, &room);
    cr_assert_eq(room, 24);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 5, "0123456789abcdefghijklmn", 24), 0);
    bridge_frame_next_payload(&e, &room); /* 100 - 48 - 48 = 4 left: not even a header */
    cr_assert_eq(room, 0);
}

Test(frame, encoder_refuses_reserved_types_and_non_increasing_seq)
{
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, buf, 4096, &data_hdr), 0);
    cr_assert_eq(bridge_frame_add(&e, 0, 0, 5, "x", 1), MESH_EINVAL);
    cr_assert_eq(bridge_frame_add(&e, 0xffffffffu, 0, 5, "x", 1), MESH_EINVAL);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 5, "x", 1), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 5, "x", 1), MESH_EINVAL);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 4, "x", 1), MESH_EINVAL);
}

Test(frame, round_trip_keeps_every_record_field_and_payload)
{
    srand(12345);
    static uint8_t payloads[300][200];
    uint32_t lens[300], types[300], flags[300];
    uint64_t seqs[300];
    bridge_frame_enc e;
    cr_assert_eq(bridge_frame_begin(&e, buf, sizeof(buf), &data_hdr), 0);
    uint64_t seq = data_hdr.seq;
    for (int i = 0; i < 300; i++) {
        lens[i] = (uint32_t)(rand() % 200);
        types[i] = 1 + (uint32_t)(rand() % 100);
        flags[i] = (uint32_t)rand();
        seq += 1 + (uint64_t)(rand() % 3); /* gaps allowed, order required */
        seqs[i] = seq;
        for (uint32_t k = 0; k < lens[i]; k++)
            payloads[i][k] = (uint8_t)rand();
        cr_assert_eq(bridge_frame_add(&e, types[i], flags[i], seqs[i], payloads[i], lens[i]), 0);
    }
    size_t len = bridge_frame_finish(&e);
    bridge_frame_hdr h;
    bridge_frame_err err = {0};
    cr_assert_eq(bridge_frame_decode(buf, len, NULL, &h, &err), 0, "%s", err.what);
    cr_assert_eq(h.count, 300);
    cr_assert_eq(h.route, data_hdr.route);
    cr_assert_eq(h.epoch, data_hdr.epoch);
    cr_assert_eq(h.seq, data_hdr.seq);
    cr_assert_eq(h.sync, data_hdr.sync);
    size_t pos = 0;
    bridge_frame_rec rec;
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(bridge_frame_next(buf, len, &pos, &rec), 1);
        cr_assert_eq(rec.len, lens[i]);
        cr_assert_eq(rec.type, types[i]);
        cr_assert_eq(rec.flags, flags[i]);
        cr_assert_eq(rec.seq, seqs[i]);
        cr_assert_eq(memcmp(rec.data, payloads[i], lens[i]), 0, "payload %d", i);
    }
    cr_assert_eq(bridge_frame_next(buf, len, &pos, &rec), 0);
}

Test(frame, sync_frame_takes_its_prev_from_set_prev)
{
    bridge_frame_enc e;
    bridge_frame_hdr h0 = data_hdr;
    h0.seq = 0;
    cr_assert_eq(bridge_frame_begin(&e, buf, 4096, &h0), 0);
    cr_assert_eq(bridge_frame_add(&e, 1, 0, 101, "a", 1), 0);
    bridge_frame_set_prev(&e, 100, BRIDGE_FRAME_SYNC);
    size_t len = bridge_frame_finish(&e);
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(buf, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.seq, 100);
    cr_assert_eq(h.flags, BRIDGE_FRAME_SYNC);
}

Test(frame, ack_frames_round_trip)
{
    size_t len = bridge_ack_encode(buf, sizeof(buf), 77, 88, 99, 5, BRIDGE_FRAME_NACK);
    cr_assert_eq(len, BRIDGE_FRAME_HDR);
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(buf, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.kind, BRIDGE_FRAME_ACK);
    cr_assert_eq(h.flags, BRIDGE_FRAME_NACK);
    cr_assert_eq(h.route, 77);
    cr_assert_eq(h.epoch, 88);
    cr_assert_eq(h.seq, 99);
    cr_assert_eq(h.sync, 5);
    cr_assert_eq(h.count, 0);
    cr_assert_eq(bridge_ack_encode(buf, 47, 1, 1, 1, 1, 0), 0, "47 bytes cannot hold a header");
}

Test(frame, route_id_is_fnv1a_over_from_nul_to)
{
    /* FNV-1a 64 of the single byte 0: (0xcbf29ce484222325 ^ 0) * 0x100000001b3
     * mod 2^64 = 0xaf63bd4c8601b7df */
    cr_assert_eq(bridge_route_id("", ""), 0xaf63bd4c8601b7dfull);
    /* the separator makes ("ab","c") and ("a","bc") different routes */
    cr_assert_neq(bridge_route_id("ab", "c"), bridge_route_id("a", "bc"));
    cr_assert_neq(bridge_route_id("md", "vpin"), bridge_route_id("vpin", "md"));
    cr_assert_eq(bridge_route_id("md", "vpin"), bridge_route_id("md", "vpin"));
}

/* Decodes buf[0..len) and returns the code, checking the reason is set. */
static int decode_code(const uint8_t *p, size_t len, const bridge_frame_limits *lim)
{
    bridge_frame_hdr h;
    bridge_frame_err err = {0};
    int rc = bridge_frame_decode(p, len, lim, &h, &err);
    if (rc < 0)
        cr_assert_not_null(err.what, "rejection without a reason");
    return rc;
}

Test(frame, truncated_and_trailing_frames_are_rejected)
{
    size_t len = encode_abc(buf);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_lt(decode_code(buf, cut, NULL), 0, "frame cut to %zu bytes accepted", cut);
    buf[len] = 0;
    cr_assert_eq(decode_code(buf, len + 1, NULL), MESH_EPROTO, "trailing byte accepted");
}

Test(frame, header_corruptions_give_their_codes)
{
    size_t len = encode_abc(buf);
    static uint8_t c[128];
    memcpy(c, buf, len);
    c[0] ^= 1;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EFOREIGN);
    memcpy(c, buf, len);
    c[4] = 1; /* a version-1 peer (no hello) */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EVERSION);
    memcpy(c, buf, len);
    c[5] = 9;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO, "unknown kind");
    memcpy(c, buf, len);
    c[6] = 0x80;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO, "unknown flag");
    memcpy(c, buf, len);
    c[8] = 2;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO, "count 2 for one record");
    memcpy(c, buf, len);
    c[8] = 0;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO, "count 0");
    memcpy(c, buf, len);
    c[44] = 1;
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO, "reserved header word");
}

Test(frame, record_corruptions_are_rejected)
{
    size_t len = encode_abc(buf);
    static uint8_t c[128];
    memcpy(c, buf, len);
    c[48] = 9; /* len 9 needs 24 + 16 = 40 bytes, only 32 in the body */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
    memcpy(c, buf, len);
    memset(c + 52, 0, 4); /* type 0 */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
    memcpy(c, buf, len);
    memset(c + 52, 0xff, 4); /* type 0xffffffff (the ring's padding type) */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
    memcpy(c, buf, len);
    c[60] = 1; /* reserved record word */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
    memcpy(c, buf, len);
    c[64] = 4; /* seq 4 == prev 4 */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
    memcpy(c, buf, len);
    c[77] = 1; /* padding */
    cr_assert_eq(decode_code(c, len, NULL), MESH_EPROTO);
}

Test(frame, limits_reject_oversized_frames_and_records)
{
    size_t len = encode_abc(buf);
    bridge_frame_limits lim = {.max_frame = 79, .max_record = 1 << 20, .max_count = 10};
    cr_assert_eq(decode_code(buf, len, &lim), MESH_EMSGSIZE, "80-byte frame over a 79 limit");
    lim.max_frame = 80;
    cr_assert_eq(decode_code(buf, len, &lim), 0);
    lim.max_record = 2;
    cr_assert_eq(decode_code(buf, len, &lim), MESH_EMSGSIZE, "3-byte record over a 2 limit");
    lim.max_record = 3;
    lim.max_count = 0;
    cr_assert_eq(decode_code(buf, len, &lim), MESH_EMSGSIZE, "1 record over a 0 limit");
}

Test(frame, ack_with_a_body_or_data_flags_is_rejected)
{
    size_t len = bridge_ack_encode(buf, sizeof(buf), 1, 2, 3, 4, 0);
    buf[8] = 1; /* count 1 */
    cr_assert_eq(decode_code(buf, len, NULL), MESH_EPROTO);
    len = bridge_ack_encode(buf, sizeof(buf), 1, 2, 3, 4, 0);
    buf[6] = 2;
    cr_assert_eq(decode_code(buf, len, NULL), MESH_EPROTO);
    cr_assert_eq(decode_code(NULL, 0, NULL), MESH_EPROTO);
}

/* ---- HELLO ---- */

static size_t encode_hello(uint8_t *b, size_t cap)
{
    bridge_frame_enc e;
    int types[] = {7, 3, 7, 5}; /* unsorted, one duplicate */
    cr_assert_eq(bridge_hello_begin(&e, b, cap, 9, "hosta", "b"), 0);
    cr_assert_eq(bridge_hello_add(&e, 0x1122334455667788ull, 1, types, 4), 0);
    cr_assert_eq(bridge_hello_add(&e, 42, 0, NULL, 0), 0);
    return bridge_hello_finish(&e);
}

Test(frame, hello_has_the_documented_byte_layout)
{
    uint8_t b[512];
    size_t len = encode_hello(b, sizeof(b));
    /* 48 header + 72 fixed + (16 + 3 x 4 = 28 -> 32) + 16 = 168 */
    cr_assert_eq(len, 168);
    cr_assert_eq(b[5], BRIDGE_FRAME_HELLO, "kind");
    cr_assert_eq(le(b + 8, 4), 2, "count = routes");
    cr_assert_eq(le(b + 12, 4), 120, "body bytes");
    cr_assert_eq(le(b + 16, 8), 0, "route 0");
    cr_assert_eq(le(b + 24, 8), 9, "epoch");
    cr_assert_eq(memcmp(b + 48, "hosta\0", 6), 0, "mesh name");
    cr_assert_eq(b[48 + 31], 0);
    cr_assert_eq(memcmp(b + 80, "b\0", 2), 0, "peer name");
    cr_assert_eq(le(b + 120, 8), 0x1122334455667788ull, "route id");
    cr_assert_eq(le(b + 128, 4), 1, "policy drop");
    cr_assert_eq(le(b + 132, 4), 3, "3 types after de-duplication");
    cr_assert_eq(le(b + 136, 4), 3, "sorted");
    cr_assert_eq(le(b + 140, 4), 5);
    cr_assert_eq(le(b + 144, 4), 7);
    cr_assert_eq(le(b + 148, 4), 0, "padding");
    cr_assert_eq(le(b + 152, 8), 42);
    cr_assert_eq(le(b + 164, 4), 0, "no types: any");
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(b, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.kind, BRIDGE_FRAME_HELLO);
    char mesh[32], peer[32];
    bridge_hello_names(b, len, mesh, peer);
    cr_assert_str_eq(mesh, "hosta");
    cr_assert_str_eq(peer, "b");
    size_t pos = 0;
    bridge_hello_route r;
    cr_assert_eq(bridge_hello_next(b, len, &pos, &r), 1);
    cr_assert_eq(r.ntypes, 3);
    cr_assert_eq(r.types[2], 7);
    cr_assert_eq(bridge_hello_next(b, len, &pos, &r), 1);
    cr_assert_eq(r.id, 42);
    cr_assert_eq(bridge_hello_next(b, len, &pos, &r), 0);
}

Test(frame, bad_hellos_are_rejected)
{
    uint8_t b[512], c[512];
    size_t len = encode_hello(b, sizeof(b));
    bridge_frame_err err;
    memcpy(c, b, len);
    memset(c + 48, 'x', 32); /* mesh name without its NUL */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    memcpy(c, b, len);
    c[48] = 0; /* empty mesh name ("osta" after the NUL is not zero either) */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    memcpy(c, b, len);
    c[140] = 2; /* types 3, 2, 7: not increasing */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    cr_assert_eq(err.offset, 140);
    memcpy(c, b, len);
    c[128] = 2; /* policy 2 */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    memcpy(c, b, len);
    c[8] = 3; /* count 3, two routes */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    memcpy(c, b, len);
    c[16] = 1; /* a hello names no route */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    memcpy(c, b, len);
    c[132] = 33; /* more than 32 types */
    cr_assert_eq(bridge_frame_decode(c, len, NULL, NULL, &err), MESH_EPROTO);
    int too_many[33];
    for (int i = 0; i < 33; i++)
        too_many[i] = i + 1;
    bridge_frame_enc e;
    cr_assert_eq(bridge_hello_begin(&e, c, sizeof(c), 1, "m", ""), 0);
    cr_assert_eq(bridge_hello_add(&e, 1, 0, too_many, 33), MESH_EINVAL);
    cr_assert_eq(bridge_hello_add(&e, 1, 2, NULL, 0), MESH_EINVAL);
    cr_assert_eq(bridge_hello_begin(&e, c, 48 + 71, 1, "m", ""), MESH_EINVAL);
}

Test(frame, a_refusal_carries_its_reason)
{
    uint8_t b[256];
    size_t len = bridge_hello_refuse_encode(b, sizeof(b), 5, "policy differs");
    cr_assert_eq(len, 48 + 16, "14 chars + NUL padded to 16");
    bridge_frame_hdr h;
    cr_assert_eq(bridge_frame_decode(b, len, NULL, &h, NULL), 0);
    cr_assert_eq(h.flags, BRIDGE_HELLO_REFUSED);
    cr_assert_str_eq(bridge_hello_reason(b, len), "policy differs");
    /* cut to fit: 48 + 8 holds 7 characters and the NUL */
    len = bridge_hello_refuse_encode(b, 56, 5, "policy differs");
    cr_assert_eq(len, 56);
    cr_assert_str_eq(bridge_hello_reason(b, len), "policy ");
    b[55] = 'x'; /* no NUL */
    cr_assert_eq(bridge_frame_decode(b, len, NULL, NULL, NULL), MESH_EPROTO);
}
