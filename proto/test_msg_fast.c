/* Differential tests of the hand-written Trade codec against protobuf-c,
 * the reference: identical bytes on encode, identical messages on every
 * input the fast decoder accepts, and a decline (never a wrong answer) on
 * everything else. */
#include <math.h>
#include <string.h>
#include <criterion/criterion.h>

#include "mesh_error.h"
#include "msg_codec.h"
#include "msg_fast.h"
#include "msg_testutil.h"

#define BASE_ITERATIONS 100000

static uint64_t rng = 0xD1B54A32D192ED03ull;
static char strbuf[2][400];

static double random_double(void)
{
    static const double special[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, 4.9e-324, 189.25, 1e300};
    uint64_t r = tu_rand(&rng);
    if (r % 4 == 0)
        return special[(r >> 8) % (sizeof special / sizeof special[0])];
    double d;
    uint64_t bits = tu_rand(&rng);
    memcpy(&d, &bits, sizeof d); /* any bit pattern, NaN payloads included */
    return d;
}

static uint64_t random_u64(void)
{
    uint64_t r = tu_rand(&rng);
    switch (r % 4) {
    case 0:
        return 0;
    case 1:
        return r >> (r % 64); /* every varint length */
    case 2:
        return UINT64_MAX;
    default:
        return tu_rand(&rng) & 0x7F;
    }
}

static char *random_string(int which)
{
    uint64_t r = tu_rand(&rng);
    if (r % 5 == 0)
        return NULL;
    size_t n = r % 7 == 0 ? 128 + r % 250 : r % 12; /* lengths needing 1 or 2 varint bytes */
    for (size_t i = 0; i < n; i++)
        strbuf[which][i] = (char)(1 + tu_rand(&rng) % 255); /* no NUL inside */
    strbuf[which][n] = '\0';
    return strbuf[which];
}

static void random_trade(Meshpb__Trade *t)
{
    static const int enums[] = {0, 1, 2, -1, 127, 128, INT32_MIN, INT32_MAX};
    meshpb__trade__init(t);
    t->symbol = random_string(0);
    t->ts_ns = random_u64();
    t->seq = random_u64();
    t->price = random_double();
    t->size = random_double();
    t->aggressor = (Meshpb__Side)enums[tu_rand(&rng) % 8];
    t->venue = random_string(1);
    t->trade_id = random_u64();
    t->recv_ts_ns = random_u64();
}

static unsigned long iterations(void)
{
    unsigned long n = (unsigned long)(BASE_ITERATIONS * tu_scale());
    return n < 2000 ? 2000 : n;
}

/* The fields msg_fast.c is written for; a schema change must fail here. */
Test(msg_fast, trade_schema_is_the_one_the_fast_path_knows)
{
    static const struct {
        unsigned id;
        const char *name;
        ProtobufCType type;
    } f[] = {{1, "symbol", PROTOBUF_C_TYPE_STRING},    {2, "ts_ns", PROTOBUF_C_TYPE_UINT64},
             {3, "seq", PROTOBUF_C_TYPE_UINT64},       {4, "price", PROTOBUF_C_TYPE_DOUBLE},
             {5, "size", PROTOBUF_C_TYPE_DOUBLE},      {6, "aggressor", PROTOBUF_C_TYPE_ENUM},
             {7, "venue", PROTOBUF_C_TYPE_STRING},     {8, "trade_id", PROTOBUF_C_TYPE_UINT64},
             {9, "recv_ts_ns", PROTOBUF_C_TYPE_UINT64}};
    const ProtobufCMessageDescriptor *d = &meshpb__trade__descriptor;
    cr_assert_eq(d->n_fields, sizeof f / sizeof f[0]);
    for (unsigned i = 0; i < d->n_fields; i++) {
        cr_assert_eq(d->fields[i].id, f[i].id);
        cr_assert_str_eq(d->fields[i].name, f[i].name);
        cr_assert_eq(d->fields[i].type, f[i].type, "%s", f[i].name);
        cr_assert_eq(d->fields[i].label, PROTOBUF_C_LABEL_NONE, "%s", f[i].name);
    }
}

Test(msg_fast, encode_matches_protobuf_c_byte_for_byte)
{
    static uint8_t fast[1024], ref[1024];
    for (unsigned long it = 0; it < iterations(); it++) {
        Meshpb__Trade t;
        random_trade(&t);
        size_t want = protobuf_c_message_get_packed_size(&t.base);
        cr_assert_leq(want, sizeof ref);
        cr_assert_eq(protobuf_c_message_pack(&t.base, ref), want);
        int n = msg_fast_trade_encode(&t, fast, sizeof fast);
        cr_assert_eq(n, (int)want, "iteration %lu: length %d, protobuf-c %zu", it, n, want);
        cr_assert_arr_eq(fast, ref, want, "iteration %lu: bytes differ", it);
        if (want > 0) {
            memset(fast, 0x5A, want);
            cr_assert_eq(msg_fast_trade_encode(&t, fast, want - 1), MESH_EMSGSIZE);
            for (size_t i = 0; i < want; i++)
                cr_assert_eq(fast[i], 0x5A, "untouched on EMSGSIZE");
        }
    }
}

/* Valid encodings, then damaged or random ones; fast and reference decode
 * the same bytes into separate arenas. */
static size_t make_input(uint8_t *buf, size_t cap, int *mode)
{
    Meshpb__Trade t;
    random_trade(&t);
    size_t n = protobuf_c_message_pack(&t.base, buf);
    *mode = (int)(tu_rand(&rng) % 5);
    switch (*mode) {
    case 0: /* valid */
        return n;
    case 1: /* truncated */
        return n ? tu_rand(&rng) % n : 0;
    case 2: /* bit flips */
        for (int k = 0; k < 3 && n > 0; k++) {
            uint64_t r = tu_rand(&rng);
            buf[(r >> 3) % n] ^= (uint8_t)(1u << (r & 7));
        }
        return n;
    case 3: /* an unknown field appended: field 15 varint */
        buf[n] = 0x78;
        buf[n + 1] = 0x01;
        return n + 2;
    default: /* random bytes */
        n = tu_rand(&rng) % 64;
        for (size_t i = 0; i < n && i < cap; i++)
            buf[i] = (uint8_t)tu_rand(&rng);
        return n;
    }
}

Test(msg_fast, decode_agrees_with_protobuf_c_or_declines)
{
    static uint8_t buf[1024];
    msg_arena *fa, *ra;
    cr_assert_eq(msg_arena_open(&fa, 4096), 0);
    cr_assert_eq(msg_arena_open(&ra, 4096), 0);
    unsigned long accepted = 0, declined = 0, valid = 0;
    for (unsigned long it = 0; it < iterations(); it++) {
        int mode;
        size_t n = make_input(buf, sizeof buf, &mode);
        msg_arena_reset(fa);
        msg_arena_reset(ra);
        Meshpb__Trade *f = NULL;
        int rc = msg_fast_trade_decode(buf, n, fa, &f);
        ProtobufCMessage *r =
            protobuf_c_message_unpack(&meshpb__trade__descriptor, msg_arena_allocator(ra), n, buf);
        if (mode == 0) {
            valid++;
            cr_assert_eq(rc, 0, "iteration %lu: a canonical encoding is handled", it);
        }
        if (mode == 3)
            cr_assert_eq(rc, MSG_FAST_DECLINED, "unknown fields go to protobuf-c");
        if (rc == MSG_FAST_DECLINED) {
            declined++;
            continue;
        }
        cr_assert_eq(rc, 0);
        accepted++;
        cr_assert_not_null(r, "iteration %lu (mode %d): fast accepted what protobuf-c rejects", it,
                           mode);
        char why[256] = "";
        cr_assert(tu_equal(&f->base, r, why, sizeof why), "iteration %lu: %s", it, why);
    }
    cr_log_info("%lu inputs: %lu accepted by the fast path (%lu valid), %lu declined\n",
                iterations(), accepted, valid, declined);
    cr_assert_gt(declined, 0);
    cr_assert_geq(accepted, valid);
    msg_arena_close(fa);
    msg_arena_close(ra);
}

Test(msg_fast, codec_entry_points_use_it_and_fall_back)
{
    /* A Trade carrying an unknown field (as decoded from a newer producer)
     * is re-encoded by protobuf-c with that field kept. */
    static const uint8_t with_unknown[] = {0x18, 0x05, 0x78, 0x01}; /* seq 5, field 15 = 1 */
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 4096), 0);
    ProtobufCMessage *m;
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, with_unknown, sizeof with_unknown, a, &m), 0);
    cr_assert_eq(m->n_unknown_fields, 1, "decoded by protobuf-c");
    cr_assert_eq(((Meshpb__Trade *)m)->seq, 5);
    uint8_t out[16];
    cr_assert_eq(msg_encode(m, out, sizeof out), (int)sizeof with_unknown);
    cr_assert_arr_eq(out, with_unknown, sizeof with_unknown);
    /* Without the unknown field the fast path decodes (no unknown fields). */
    cr_assert_eq(msg_decode(MSG_TYPE_TRADE, with_unknown, 2, a, &m), 0);
    cr_assert_eq(m->n_unknown_fields, 0);
    cr_assert_eq(((Meshpb__Trade *)m)->seq, 5);
    msg_arena_close(a);
}
