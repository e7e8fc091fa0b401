/* Codec tests: hand-computed wire bytes, round trip of every registered
 * type, bounded encode, and decode errors that are reported, not crashes. */
#include <string.h>
#include <criterion/criterion.h>

#include "mesh_error.h"
#include "msg_codec.h"
#include "msg_testutil.h"

static msg_arena *arena;

static void setup(void)
{
    cr_assert_eq(msg_arena_open(&arena, MSG_ARENA_DEFAULT_SIZE), 0);
}

static void teardown(void)
{
    msg_arena_close(arena);
}

TestSuite(msg_codec, .init = setup, .fini = teardown);

/* Trade{symbol "A", seq 1, price 1.0, aggressor SIDE_SELL} per the protobuf
 * encoding spec: tag = field << 3 | wire type.
 *   symbol  field 1, LEN (2):     0x0A, length 0x01, 'A' = 0x41
 *   seq     field 3, VARINT (0):  0x18, 0x01
 *   price   field 4, I64 (1):     0x21, then 1.0 as IEEE-754 little endian
 *                                 (0x3FF0000000000000): 00 00 00 00 00 00 F0 3F
 *   aggressor field 6, VARINT:    0x30, SIDE_SELL = 2
 * Default fields (ts_ns, size, venue, ...) are not written in proto3. */
static const uint8_t small_trade[] = {0x0A, 0x01, 0x41, 0x18, 0x01, 0x21, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x30, 0x02};

static Meshpb__Trade small_trade_msg(void)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = "A";
    t.seq = 1;
    t.price = 1.0;
    t.aggressor = MESHPB__SIDE__SIDE_SELL;
    return t;
}

Test(msg_codec, trade_encodes_to_the_spec_bytes)
{
    Meshpb__Trade t = small_trade_msg();
    uint8_t buf[64];
    cr_assert_eq(msg_encoded_size(&t.base), sizeof small_trade);
    cr_assert_eq(msg_encode(&t.base, buf, sizeof buf), (int)sizeof small_trade);
    cr_assert_arr_eq(buf, small_trade, sizeof small_trade);
    cr_assert_eq(msg_encode_typed(MSG_TYPE_TRADE, &t.base, buf, sizeof buf),
                 (int)sizeof small_trade);
}

Test(msg_codec, trade_decodes_from_the_spec_bytes)
{
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, sizeof small_trade, arena, &m), 0);
    Meshpb__Trade *t = (Meshpb__Trade *)m;
    cr_assert_eq(m->descriptor, &meshpb__trade__descriptor);
    cr_assert_str_eq(t->symbol, "A");
    cr_assert_eq(t->seq, 1);
    cr_assert_eq(t->price, 1.0);
    cr_assert_eq(t->aggressor, MESHPB__SIDE__SIDE_SELL);
    cr_assert_eq(t->ts_ns, 0);
    cr_assert_str_eq(t->venue, "");
    cr_assert_gt(msg_arena_used(arena), 0, "decoded into the arena");
}

/* The fields added later, per the encoding spec (tag = field << 3 | wire
 * type, varints 7 bits per byte, low group first, high bit = more):
 *   FeatureVector.source = FEATURE_SOURCE_BAR (2): field 29, VARINT:
 *     tag 232 = 0xE8 0x01 (104 | 0x80, then 1), value 0x02
 *   FeatureVector.bar_interval_ns = 60e9 (1-minute bars): field 30, VARINT:
 *     tag 240 = 0xF0 0x01; 60000000000 in 7-bit groups, low first:
 *     0, 48, 29, 66, 95, 1 -> 0x80 0xB0 0x9D 0xC2 0xDF 0x01
 *   RiskReport.base_currency = "EUR": field 17, LEN (2): tag 138 = 0x8A
 *     0x01, length 0x03, 'E' 'U' 'R' = 0x45 0x55 0x52 */
static const uint8_t bar_features[] = {0xE8, 0x01, 0x02, 0xF0, 0x01, 0x80,
                                       0xB0, 0x9D, 0xC2, 0xDF, 0x01};
static const uint8_t eur_risk[] = {0x8A, 0x01, 0x03, 0x45, 0x55, 0x52};

Test(msg_codec, feature_source_interval_and_risk_currency_use_the_spec_bytes)
{
    uint8_t buf[64];
    Meshpb__FeatureVector f = MESHPB__FEATURE_VECTOR__INIT;
    f.source = MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_BAR;
    f.bar_interval_ns = 60000000000ull;
    cr_assert_eq(msg_encode_typed(MSG_TYPE_FEATURES, &f.base, buf, sizeof buf),
                 (int)sizeof bar_features);
    cr_assert_arr_eq(buf, bar_features, sizeof bar_features);
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_FEATURES, bar_features, sizeof bar_features, arena, &m), 0);
    Meshpb__FeatureVector *g = (Meshpb__FeatureVector *)m;
    cr_assert_eq(g->source, MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_BAR);
    cr_assert_eq(g->bar_interval_ns, 60000000000ull);
    cr_assert_eq(g->seq, 0);

    Meshpb__RiskReport r = MESHPB__RISK_REPORT__INIT;
    r.base_currency = "EUR";
    cr_assert_eq(msg_encode_typed(MSG_TYPE_RISK_REPORT, &r.base, buf, sizeof buf),
                 (int)sizeof eur_risk);
    cr_assert_arr_eq(buf, eur_risk, sizeof eur_risk);
    cr_assert_eq(msg_decode(MSG_TYPE_RISK_REPORT, eur_risk, sizeof eur_risk, arena, &m), 0);
    cr_assert_str_eq(((Meshpb__RiskReport *)m)->base_currency, "EUR");
    /* An older producer's message (without the fields) reads as unspecified. */
    cr_assert_eq(msg_decode(MSG_TYPE_RISK_REPORT, NULL, 0, arena, &m), 0);
    cr_assert_str_eq(((Meshpb__RiskReport *)m)->base_currency, "");
    cr_assert_eq(msg_decode(MSG_TYPE_FEATURES, NULL, 0, arena, &m), 0);
    cr_assert_eq(((Meshpb__FeatureVector *)m)->source,
                 MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_UNSPECIFIED);
    cr_assert_eq(((Meshpb__FeatureVector *)m)->bar_interval_ns, 0);
}

Test(msg_codec, every_registered_type_round_trips)
{
    static uint8_t buf[16384], again[16384];
    msg_arena *src;
    cr_assert_eq(msg_arena_open(&src, MSG_ARENA_DEFAULT_SIZE), 0);
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        const msg_type_info *t = msg_type_at(i);
        for (unsigned v = 0; v < 3; v++) { /* 3 variants reach every oneof member */
            msg_arena_reset(src);
            ProtobufCMessage *m = tu_fill(t->descriptor, src, v);
            cr_assert_not_null(m, "%s: filled", t->name);
            cr_assert_eq(msg_check(m), 0, "%s", t->name);
            int n = msg_encode_typed(t->id, m, buf, sizeof buf);
            cr_assert_gt(n, 0, "%s: encoded (%d)", t->name, n);
            ProtobufCMessage *d;
            cr_assert_eq(msg_decode(t->id, buf, (size_t)n, arena, &d), 0, "%s", t->name);
            char why[256] = "";
            cr_assert(tu_equal(m, d, why, sizeof why), "%s variant %u differs at %s", t->name, v,
                      why);
            /* Encoding the decoded message gives the same bytes again. */
            cr_assert_eq(msg_encode(d, again, sizeof again), n);
            cr_assert_arr_eq(again, buf, (size_t)n, "%s: re-encoding", t->name);
        }
    }
    msg_arena_close(src);
}

Test(msg_codec, round_trip_detects_a_changed_field)
{
    /* The comparator used above is not vacuous: a one-field change shows. */
    msg_arena *src;
    cr_assert_eq(msg_arena_open(&src, MSG_ARENA_DEFAULT_SIZE), 0);
    Meshpb__FactorExposures *m =
        (Meshpb__FactorExposures *)tu_fill(&meshpb__factor_exposures__descriptor, src, 1);
    uint8_t buf[4096];
    int n = msg_encode(&m->base, buf, sizeof buf);
    cr_assert_gt(n, 0);
    ProtobufCMessage *d;
    cr_assert_eq(msg_decode(MSG_TYPE_FACTOR_EXPOSURES, buf, (size_t)n, arena, &d), 0);
    Meshpb__FactorExposures *e = (Meshpb__FactorExposures *)d;
    cr_assert_gt(e->n_assets, 0);
    cr_assert_gt(e->assets[0]->n_values, 0);
    e->assets[0]->values[0] += 1.0;
    char why[256] = "";
    cr_assert_not(tu_equal(&m->base, d, why, sizeof why));
    cr_assert_str_eq(why, "FactorExposures.assets > AssetExposures.values");
    msg_arena_close(src);
}

Test(msg_codec, encode_into_a_too_small_buffer_fails_cleanly)
{
    Meshpb__Trade t = small_trade_msg();
    uint8_t buf[sizeof small_trade];
    memset(buf, 0xAA, sizeof buf);
    cr_assert_eq(msg_encode(&t.base, buf, sizeof small_trade - 1), MESH_EMSGSIZE);
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 0xAA, "buffer untouched at %zu", i);
    cr_assert_eq(msg_encode(&t.base, NULL, 0), MESH_EMSGSIZE);
    cr_assert_eq(msg_encode(&t.base, buf, sizeof buf), (int)sizeof small_trade, "exact fit");
}

Test(msg_codec, encode_argument_errors)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    Meshpb__Quote q = MESHPB__QUOTE__INIT;
    uint8_t buf[16];
    cr_assert_eq(msg_encode(&t.base, NULL, 0), 0, "an all-default message packs to 0 bytes");
    cr_assert_eq(msg_encode(NULL, buf, sizeof buf), MESH_EINVAL);
    cr_assert_eq(msg_encode(&t.base, NULL, 16), MESH_EINVAL);
    cr_assert_eq(msg_encode_typed(MSG_TYPE_QUOTE, &t.base, buf, sizeof buf), MESH_EINVAL);
    cr_assert_eq(msg_encode_typed(MSG_TYPE_QUOTE, &q.base, buf, sizeof buf), 0);
    cr_assert_eq(msg_encode_typed(999, &q.base, buf, sizeof buf), MESH_EUNKNOWNTYPE);
}

Test(msg_codec, check_rejects_null_repeated_elements)
{
    Meshpb__FactorExposures e = MESHPB__FACTOR_EXPOSURES__INIT;
    char *factors[2] = {"momentum", NULL};
    e.factors = factors;
    e.n_factors = 2;
    cr_assert_eq(msg_check(&e.base), MESH_EINVAL);
    factors[1] = "size";
    cr_assert_eq(msg_check(&e.base), 0);
    cr_assert_eq(msg_check(NULL), MESH_EINVAL);
}

Test(msg_codec, decode_rejects_unknown_types_and_bad_arguments)
{
    ProtobufCMessage *m = (ProtobufCMessage *)0x1;
    cr_assert_eq(msg_decode(0, small_trade, sizeof small_trade, arena, &m), MESH_EUNKNOWNTYPE);
    cr_assert_null(m);
    cr_assert_eq(msg_decode(12345, small_trade, sizeof small_trade, arena, &m), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, NULL, 4, arena, &m), MESH_EINVAL);
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, 4, NULL, &m), MESH_EINVAL);
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, 4, arena, NULL), MESH_EINVAL);
}

Test(msg_codec, empty_payload_is_an_all_default_message)
{
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_BAR, NULL, 0, arena, &m), 0);
    Meshpb__Bar *b = (Meshpb__Bar *)m;
    cr_assert_eq(b->close, 0.0);
    cr_assert_str_eq(b->symbol, "");
}

Test(msg_codec, malformed_payloads_are_eproto)
{
    ProtobufCMessage *m;
    /* Cut inside the price's 8 bytes. */
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, 10, arena, &m), MESH_EPROTO);
    cr_assert_null(m);
    /* symbol claims 5 bytes, 1 follows. */
    static const uint8_t overlong[] = {0x0A, 0x05, 0x41};
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, overlong, sizeof overlong, arena, &m), MESH_EPROTO);
    /* Varint that never ends (10 bytes with the continuation bit set). */
    static const uint8_t endless[] = {0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, endless, sizeof endless, arena, &m), MESH_EPROTO);
    /* Field number 0 is invalid in every message. */
    static const uint8_t field0[] = {0x00, 0x01};
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, field0, sizeof field0, arena, &m), MESH_EPROTO);
    /* Field 0 hidden in an over-long tag varint: 0x80 (continuation, low
     * bits 0) then 0x00 = tag 0. protobuf-c alone would accept it. */
    static const uint8_t field0_long[] = {0x18, 0x01, 0x80, 0x00, 0x01};
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, field0_long, sizeof field0_long, arena, &m),
                 MESH_EPROTO);
    /* Wire type 7 does not exist. */
    static const uint8_t wt7[] = {0x1F, 0x01};
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, wt7, sizeof wt7, arena, &m), MESH_EPROTO);
}

Test(msg_codec, unknown_fields_are_skipped)
{
    /* Field 15 (tag 15 << 3 | 0 = 0x78), varint 5, after the small trade: a
     * newer producer's field must not break an older consumer. */
    uint8_t buf[sizeof small_trade + 2];
    memcpy(buf, small_trade, sizeof small_trade);
    buf[sizeof small_trade] = 0x78;
    buf[sizeof small_trade + 1] = 0x05;
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, buf, sizeof buf, arena, &m), 0);
    cr_assert_eq(((Meshpb__Trade *)m)->price, 1.0);
}

Test(msg_codec, arena_too_small_is_enomem_not_a_crash)
{
    msg_arena *tiny;
    cr_assert_eq(msg_arena_open(&tiny, 64), 0);
    cr_assert_lt(msg_arena_capacity(tiny), sizeof(Meshpb__Trade), "cannot hold a Trade struct");
    ProtobufCMessage *m = (ProtobufCMessage *)0x1;
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, sizeof small_trade, tiny, &m),
                 MESH_ENOMEM);
    cr_assert_null(m);
    cr_assert_eq(msg_arena_used(tiny), 0, "left reset");
    msg_arena_close(tiny);
}

Test(msg_codec, decode_resets_the_arena)
{
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, sizeof small_trade, arena, &m), 0);
    size_t one = msg_arena_used(arena);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(msg_decode(MSG_TYPE_TRADE, small_trade, sizeof small_trade, arena, &m), 0);
    cr_assert_eq(msg_arena_used(arena), one, "no growth across messages");
}
