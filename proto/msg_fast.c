/* Hand-written Trade codec: the protobuf wire format of meshpb.Trade written
 * and parsed directly (no descriptor walk), ~5x faster than protobuf-c on
 * this message. Equal to protobuf-c by construction for what it accepts,
 * checked by differential tests (test_msg_fast.c). */
#include "msg_fast.h"

#include <string.h>

#include "mesh_error.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "msg_fast.c copies doubles as little-endian fixed64; port it for this CPU"
#endif

/* This file knows Trade's nine fields. A schema change changes the struct
 * (new fields are appended), stopping the build here until this codec and
 * test_msg_fast.c's descriptor check are updated. */
_Static_assert(sizeof(Meshpb__Trade) == sizeof(ProtobufCMessage) + 9 * 8,
               "meshpb.Trade changed: update msg_fast.c to match");

/* Trade's tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 len). */
enum {
    TAG_SYMBOL = 1 << 3 | 2,
    TAG_TS_NS = 2 << 3 | 0,
    TAG_SEQ = 3 << 3 | 0,
    TAG_PRICE = 4 << 3 | 1,
    TAG_SIZE = 5 << 3 | 1,
    TAG_AGGRESSOR = 6 << 3 | 0,
    TAG_VENUE = 7 << 3 | 2,
    TAG_TRADE_ID = 8 << 3 | 0,
    TAG_RECV_TS_NS = 9 << 3 | 0,
};

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* protobuf-c writes a negative int32/enum as its 64-bit sign extension. */
static inline uint64_t enum_wire(int v)
{
    return (uint64_t)(int64_t)v;
}

static inline size_t str_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

static inline uint8_t *put_bytes(uint8_t *p, uint8_t tag, const char *s, size_t n)
{
    *p++ = tag;
    p = put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

static inline uint8_t *put_double(uint8_t *p, uint8_t tag, double v)
{
    *p++ = tag;
    memcpy(p, &v, 8);
    return p + 8;
}

static inline uint8_t *put_u64(uint8_t *p, uint8_t tag, uint64_t v)
{
    *p++ = tag;
    return put_varint(p, v);
}

/* Fields are written in field-number order and skipped when zero, as
 * protobuf-c does for proto3 (a double is skipped when == 0, so -0.0 too). */
int msg_fast_trade_encode(const Meshpb__Trade *t, uint8_t *buf, size_t cap)
{
    if (t->base.n_unknown_fields != 0)
        return MSG_FAST_DECLINED;
    size_t ls = str_len(t->symbol), lv = str_len(t->venue);
    size_t n =
        (ls ? 1 + varint_len(ls) + ls : 0) + (t->ts_ns ? 1 + varint_len(t->ts_ns) : 0) +
        (t->seq ? 1 + varint_len(t->seq) : 0) + (t->price != 0 ? 9 : 0) + (t->size != 0 ? 9 : 0) +
        (t->aggressor ? 1 + varint_len(enum_wire(t->aggressor)) : 0) +
        (lv ? 1 + varint_len(lv) + lv : 0) + (t->trade_id ? 1 + varint_len(t->trade_id) : 0) +
        (t->recv_ts_ns ? 1 + varint_len(t->recv_ts_ns) : 0);
    if (n > cap || n > INT32_MAX)
        return MESH_EMSGSIZE;
    uint8_t *p = buf;
    if (ls)
        p = put_bytes(p, TAG_SYMBOL, t->symbol, ls);
    if (t->ts_ns)
        p = put_u64(p, TAG_TS_NS, t->ts_ns);
    if (t->seq)
        p = put_u64(p, TAG_SEQ, t->seq);
    if (t->price != 0)
        p = put_double(p, TAG_PRICE, t->price);
    if (t->size != 0)
        p = put_double(p, TAG_SIZE, t->size);
    if (t->aggressor)
        p = put_u64(p, TAG_AGGRESSOR, enum_wire(t->aggressor));
    if (lv)
        p = put_bytes(p, TAG_VENUE, t->venue, lv);
    if (t->trade_id)
        p = put_u64(p, TAG_TRADE_ID, t->trade_id);
    if (t->recv_ts_ns)
        p = put_u64(p, TAG_RECV_TS_NS, t->recv_ts_ns);
    return (int)(p - buf);
}

/* Reads a varint of at most 10 bytes whose value fits 64 bits (10th byte
 * 0 or 1). Returns the bytes consumed, or 0 (declined). */
static inline size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        uint64_t b = p[i];
        if (i == 9 && b > 1)
            return 0;
        r |= (b & 0x7F) << (7 * i);
        if (b < 0x80) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Copies a length-delimited string into the arena, NUL-terminated. */
static inline size_t get_string(const uint8_t *p, const uint8_t *end, msg_arena *a, char **out)
{
    uint64_t n;
    size_t k = get_varint(p, end, &n);
    if (k == 0 || n > (uint64_t)(end - p - (ptrdiff_t)k))
        return 0;
    char *s = msg_arena_alloc(a, (size_t)n + 1);
    if (s == NULL)
        return 0;
    memcpy(s, p + k, (size_t)n);
    s[n] = '\0';
    *out = s;
    return k + (size_t)n;
}

static inline size_t get_double(const uint8_t *p, const uint8_t *end, double *out)
{
    if (end - p < 8)
        return 0;
    memcpy(out, p, 8);
    return 8;
}

/* Parses one field value after its tag into t. Returns bytes consumed or
 * 0 (declined). Repeated occurrences overwrite: last one wins, as in
 * protobuf-c for singular proto3 fields. */
static size_t get_field(uint8_t tag, const uint8_t *p, const uint8_t *end, msg_arena *a,
                        Meshpb__Trade *t)
{
    uint64_t v = 0;
    size_t k;
    switch (tag) {
    case TAG_SYMBOL:
        return get_string(p, end, a, &t->symbol);
    case TAG_VENUE:
        return get_string(p, end, a, &t->venue);
    case TAG_PRICE:
        return get_double(p, end, &t->price);
    case TAG_SIZE:
        return get_double(p, end, &t->size);
    case TAG_AGGRESSOR:
        k = get_varint(p, end, &v);
        t->aggressor = (Meshpb__Side)(int32_t)(uint32_t)v; /* low 32 bits, as protobuf-c */
        return k;
    case TAG_TS_NS:
    case TAG_SEQ:
    case TAG_TRADE_ID:
    case TAG_RECV_TS_NS:
        k = get_varint(p, end, &v);
        if (tag == TAG_TS_NS)
            t->ts_ns = v;
        else if (tag == TAG_SEQ)
            t->seq = v;
        else if (tag == TAG_TRADE_ID)
            t->trade_id = v;
        else
            t->recv_ts_ns = v;
        return k;
    default:
        return 0; /* unknown field, other wire type, multi-byte tag */
    }
}

int msg_fast_trade_decode(const uint8_t *p, size_t len, msg_arena *a, Meshpb__Trade **out)
{
    Meshpb__Trade *t = msg_arena_alloc(a, sizeof *t);
    if (t == NULL)
        return MSG_FAST_DECLINED;
    meshpb__trade__init(t);
    const uint8_t *end = p + len;
    while (p < end) {
        uint8_t tag = *p++;
        size_t k = get_field(tag, p, end, a, t);
        if (k == 0)
            return MSG_FAST_DECLINED;
        p += k;
    }
    *out = t;
    return 0;
}
