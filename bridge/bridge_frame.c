/* Bridge wire codec: little-endian frame header and records, encoder over a
 * caller buffer and a strict decoder that never trusts a length. */
#include "bridge_frame.h"

#include "mesh_error.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

uint64_t bridge_route_id(const char *from, const char *to)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    const char *parts[2] = {from, to};
    for (int k = 0; k < 2; k++) {
        for (const unsigned char *s = (const unsigned char *)parts[k]; *s; s++)
            h = (h ^ *s) * 0x100000001b3ull; /* FNV-1a 64 prime */
        if (k == 0)
            h = (h ^ 0u) * 0x100000001b3ull; /* the separating 0 byte */
    }
    return h;
}

static void hdr_write(uint8_t *p, const bridge_frame_hdr *h)
{
    put32(p + 0, BRIDGE_FRAME_MAGIC);
    p[4] = (uint8_t)BRIDGE_FRAME_VERSION;
    p[5] = h->kind;
    put16(p + 6, h->flags);
    put32(p + 8, h->count);
    put32(p + 12, h->bytes);
    put64(p + 16, h->route);
    put64(p + 24, h->epoch);
    put64(p + 32, h->seq);
    put32(p + 40, h->sync);
    put32(p + 44, 0);
}

int bridge_frame_begin(bridge_frame_enc *e, void *buf, size_t cap, const bridge_frame_hdr *hdr)
{
    if (!e || !buf || !hdr || cap < BRIDGE_FRAME_HDR)
        return MESH_EINVAL;
    e->buf = buf;
    e->cap = cap;
    e->used = BRIDGE_FRAME_HDR;
    e->count = 0;
    e->hdr = *hdr;
    e->last_seq = hdr->seq;
    return 0;
}

void *bridge_frame_next_payload(bridge_frame_enc *e, size_t *room)
{
    /* bridge_rec_size(len) <= left  <=>  len <= (left - header) rounded down to 8 */
    size_t left = e->cap - e->used;
    *room = left >= BRIDGE_REC_HDR ? ((left - BRIDGE_REC_HDR) & ~(size_t)7u) : 0;
    return e->buf + e->used + BRIDGE_REC_HDR;
}

int bridge_frame_push(bridge_frame_enc *e, uint32_t type, uint32_t flags, uint64_t seq,
                      uint32_t len)
{
    size_t need = bridge_rec_size(len);
    if (need > e->cap - e->used)
        return MESH_EMSGSIZE;
    if (type == 0 || type == 0xffffffffu || (e->count > 0 && seq <= e->last_seq))
        return MESH_EINVAL;
    uint8_t *p = e->buf + e->used;
    put32(p + 0, len);
    put32(p + 4, type);
    put32(p + 8, flags);
    put32(p + 12, 0);
    put64(p + 16, seq);
    size_t pad = need - BRIDGE_REC_HDR - len;
    if (pad)
        memset(p + BRIDGE_REC_HDR + len, 0, pad);
    e->used += need;
    e->count++;
    e->last_seq = seq;
    return 0;
}

int bridge_frame_add(bridge_frame_enc *e, uint32_t type, uint32_t flags, uint64_t seq,
                     const void *data, uint32_t len)
{
    size_t room;
    void *p = bridge_frame_next_payload(e, &room);
    if (len > room)
        return MESH_EMSGSIZE;
    if (len)
        memcpy(p, data, len);
    return bridge_frame_push(e, type, flags, seq, len);
}

void bridge_frame_set_prev(bridge_frame_enc *e, uint64_t prev, uint16_t flags)
{
    e->hdr.seq = prev;
    e->hdr.flags = flags;
}

size_t bridge_frame_finish(bridge_frame_enc *e)
{
    e->hdr.kind = BRIDGE_FRAME_DATA;
    e->hdr.count = e->count;
    e->hdr.bytes = (uint32_t)(e->used - BRIDGE_FRAME_HDR);
    hdr_write(e->buf, &e->hdr);
    return e->used;
}

size_t bridge_ack_encode(void *buf, size_t cap, uint64_t route, uint64_t epoch, uint64_t seq,
                         uint32_t sync, uint16_t flags)
{
    if (!buf || cap < BRIDGE_FRAME_HDR)
        return 0;
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_ACK,
                          .flags = flags,
                          .route = route,
                          .epoch = epoch,
                          .seq = seq,
                          .sync = sync};
    hdr_write(buf, &h);
    return BRIDGE_FRAME_HDR;
}

static void put_name(uint8_t *p, const char *name)
{
    memset(p, 0, BRIDGE_HELLO_NAME);
    for (size_t i = 0; name && name[i] && i < BRIDGE_HELLO_NAME - 1; i++)
        p[i] = (uint8_t)name[i];
}

int bridge_hello_begin(bridge_frame_enc *e, void *buf, size_t cap, uint64_t epoch, const char *mesh,
                       const char *peer)
{
    if (!e || !buf || cap < BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED)
        return MESH_EINVAL;
    memset(e, 0, sizeof(*e));
    e->buf = buf;
    e->cap = cap;
    e->used = BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED;
    e->hdr.kind = BRIDGE_FRAME_HELLO;
    e->hdr.epoch = epoch;
    uint8_t *b = e->buf + BRIDGE_FRAME_HDR;
    put_name(b, mesh);
    put_name(b + BRIDGE_HELLO_NAME, peer);
    memset(b + 2 * BRIDGE_HELLO_NAME, 0, BRIDGE_HELLO_FIXED - 2 * BRIDGE_HELLO_NAME);
    return 0;
}

int bridge_types_sorted(const int *types, int ntypes, uint32_t *out)
{
    int n = 0;
    for (int i = 0; i < ntypes; i++) { /* insertion sort, duplicates dropped */
        uint32_t v = (uint32_t)types[i];
        int k = n;
        if (v == 0 || v == 0xffffffffu)
            return MESH_EINVAL;
        while (k > 0 && out[k - 1] > v)
            k--;
        if (k > 0 && out[k - 1] == v)
            continue;
        memmove(out + k + 1, out + k, (size_t)(n - k) * sizeof(out[0]));
        out[k] = v;
        n++;
    }
    return n;
}

int bridge_hello_add(bridge_frame_enc *e, uint64_t route, uint32_t policy, const int *types,
                     int ntypes)
{
    uint32_t t[BRIDGE_HELLO_TYPES];
    if (ntypes < 0 || ntypes > (int)BRIDGE_HELLO_TYPES || policy > 1 || (ntypes && !types))
        return MESH_EINVAL;
    int sorted = bridge_types_sorted(types, ntypes, t);
    if (sorted < 0)
        return sorted;
    uint32_t n = (uint32_t)sorted;
    size_t need = (16u + 4u * (size_t)n + 7u) & ~(size_t)7u;
    if (need > e->cap - e->used)
        return MESH_EMSGSIZE;
    uint8_t *p = e->buf + e->used;
    memset(p, 0, need);
    put64(p, route);
    put32(p + 8, policy);
    put32(p + 12, n);
    for (uint32_t i = 0; i < n; i++)
        put32(p + 16 + 4 * i, t[i]);
    e->used += need;
    e->count++;
    return 0;
}

size_t bridge_hello_finish(bridge_frame_enc *e)
{
    e->hdr.kind = BRIDGE_FRAME_HELLO;
    e->hdr.count = e->count;
    e->hdr.bytes = (uint32_t)(e->used - BRIDGE_FRAME_HDR);
    hdr_write(e->buf, &e->hdr);
    return e->used;
}

size_t bridge_hello_refuse_encode(void *buf, size_t cap, uint64_t epoch, const char *reason)
{
    if (!buf || cap < BRIDGE_FRAME_HDR + 8)
        return 0;
    size_t n = reason ? strlen(reason) : 0, room = (cap - BRIDGE_FRAME_HDR) & ~(size_t)7u;
    if (n > room - 1)
        n = room - 1;
    size_t body = (n + 1 + 7u) & ~(size_t)7u;
    uint8_t *p = buf;
    memset(p + BRIDGE_FRAME_HDR, 0, body);
    if (n)
        memcpy(p + BRIDGE_FRAME_HDR, reason, n);
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_HELLO,
                          .flags = BRIDGE_HELLO_REFUSED,
                          .bytes = (uint32_t)body,
                          .epoch = epoch};
    hdr_write(p, &h);
    return BRIDGE_FRAME_HDR + body;
}

void bridge_hello_names(const void *buf, size_t len, char mesh[BRIDGE_HELLO_NAME],
                        char peer[BRIDGE_HELLO_NAME])
{
    const uint8_t *b = (const uint8_t *)buf + BRIDGE_FRAME_HDR;
    mesh[0] = peer[0] = '\0';
    if (len < BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED)
        return;
    memcpy(mesh, b, BRIDGE_HELLO_NAME);
    memcpy(peer, b + BRIDGE_HELLO_NAME, BRIDGE_HELLO_NAME);
    mesh[BRIDGE_HELLO_NAME - 1] = peer[BRIDGE_HELLO_NAME - 1] = '\0';
}

int bridge_hello_next(const void *buf, size_t len, size_t *pos, bridge_hello_route *r)
{
    const uint8_t *p = buf;
    size_t off =
        *pos < BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED ? BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED : *pos;
    if (off + 16 > len)
        return 0;
    r->id = get64(p + off);
    r->policy = get32(p + off + 8);
    r->ntypes = get32(p + off + 12);
    if (r->ntypes > BRIDGE_HELLO_TYPES || off + 16 + 4 * (size_t)r->ntypes > len)
        return 0; /* not an accepted frame */
    for (uint32_t i = 0; i < r->ntypes; i++)
        r->types[i] = get32(p + off + 16 + 4 * i);
    *pos = off + ((16u + 4u * (size_t)r->ntypes + 7u) & ~(size_t)7u);
    return 1;
}

const char *bridge_hello_reason(const void *buf, size_t len)
{
    return len > BRIDGE_FRAME_HDR ? (const char *)buf + BRIDGE_FRAME_HDR : "";
}

void bridge_frame_limits_default(bridge_frame_limits *lim)
{
    lim->max_frame = 16u << 20;
    lim->max_record = 4u << 20;
    lim->max_count = 65536;
}

static int reject(bridge_frame_err *err, int code, const char *what, size_t offset)
{
    if (err) {
        err->what = what;
        err->offset = offset;
    }
    return code;
}

/* Header checks that do not depend on the body. */
static int decode_header(const uint8_t *p, size_t len, const bridge_frame_limits *lim,
                         bridge_frame_hdr *h, bridge_frame_err *err)
{
    if (len < 4)
        return reject(err, MESH_EPROTO, "frame shorter than its magic number", 0);
    if (get32(p) != BRIDGE_FRAME_MAGIC)
        return reject(err, MESH_EFOREIGN, "bad magic: not a bridge frame", 0);
    if (len < BRIDGE_FRAME_HDR)
        return reject(err, MESH_EPROTO, "frame shorter than its 48-byte header (truncated)", len);
    if (p[4] != BRIDGE_FRAME_VERSION)
        return reject(err, MESH_EVERSION, "unsupported frame version", 4);
    if (len > lim->max_frame)
        return reject(err, MESH_EMSGSIZE, "frame larger than the receiver's limit", 0);
    h->kind = p[5];
    h->flags = get16(p + 6);
    h->count = get32(p + 8);
    h->bytes = get32(p + 12);
    h->route = get64(p + 16);
    h->epoch = get64(p + 24);
    h->seq = get64(p + 32);
    h->sync = get32(p + 40);
    if (get32(p + 44) != 0)
        return reject(err, MESH_EPROTO, "reserved header word is not zero", 44);
    if ((size_t)h->bytes != len - BRIDGE_FRAME_HDR)
        return reject(err, MESH_EPROTO,
                      "body length in the header differs from the frame (truncated or trailing "
                      "bytes)",
                      12);
    if (h->kind == BRIDGE_FRAME_ACK) {
        if (h->count != 0 || h->bytes != 0)
            return reject(err, MESH_EPROTO, "ack frame with a body", 8);
        if (h->flags & ~BRIDGE_FRAME_NACK)
            return reject(err, MESH_EPROTO, "unknown ack flags", 6);
        return 0;
    }
    if (h->kind == BRIDGE_FRAME_HELLO) {
        if (h->flags & ~BRIDGE_HELLO_REFUSED)
            return reject(err, MESH_EPROTO, "unknown hello flags", 6);
        if (h->route != 0 || h->seq != 0 || h->sync != 0)
            return reject(err, MESH_EPROTO, "hello with a route, sequence or generation", 16);
        return 0; /* body: hello_check */
    }
    if (h->kind != BRIDGE_FRAME_DATA)
        return reject(err, MESH_EPROTO, "unknown frame kind", 5);
    if (h->flags & ~BRIDGE_FRAME_SYNC)
        return reject(err, MESH_EPROTO, "unknown data frame flags", 6);
    if (h->count == 0)
        return reject(err, MESH_EPROTO, "data frame without records", 8);
    if (h->count > lim->max_count)
        return reject(err, MESH_EMSGSIZE, "more records than the receiver's limit", 8);
    return 0;
}

/* Checks one record at p (avail bytes to the frame end). */
static int decode_record(const uint8_t *p, size_t avail, size_t off, const bridge_frame_limits *lim,
                         uint64_t *prev, size_t *size, bridge_frame_err *err)
{
    if (avail < BRIDGE_REC_HDR)
        return reject(err, MESH_EPROTO, "record header runs past the frame end (truncated)", off);
    uint32_t len = get32(p);
    uint32_t type = get32(p + 4);
    uint64_t seq = get64(p + 16);
    if (len > lim->max_record)
        return reject(err, MESH_EMSGSIZE, "record payload larger than the receiver's limit", off);
    size_t need = bridge_rec_size(len);
    if (need > avail)
        return reject(err, MESH_EPROTO, "record payload runs past the frame end (truncated)", off);
    if (get32(p + 12) != 0)
        return reject(err, MESH_EPROTO, "reserved record word is not zero", off + 12);
    if (type == 0 || type == 0xffffffffu)
        return reject(err, MESH_EPROTO, "record type id 0 or 0xffffffff is reserved", off + 4);
    if (seq <= *prev)
        return reject(err, MESH_EPROTO, "record sequence number does not increase", off + 16);
    for (size_t i = BRIDGE_REC_HDR + len; i < need; i++)
        if (p[i] != 0)
            return reject(err, MESH_EPROTO, "record padding is not zero", off + i);
    *prev = seq;
    *size = need;
    return 0;
}

/* A name field: NUL within 32 bytes, zeros after it; nonempty if `need`. */
static int name_ok(const uint8_t *p, int need)
{
    size_t n = 0;
    while (n < BRIDGE_HELLO_NAME && p[n])
        n++;
    if (n == BRIDGE_HELLO_NAME || (need && n == 0))
        return 0;
    for (size_t i = n; i < BRIDGE_HELLO_NAME; i++)
        if (p[i])
            return 0;
    return 1;
}

/* One route entry of a HELLO at p (avail bytes to the end). */
static int hello_route(const uint8_t *p, size_t avail, size_t off, size_t *size,
                       bridge_frame_err *err)
{
    if (avail < 16)
        return reject(err, MESH_EPROTO, "hello route entry runs past the frame end", off);
    uint32_t policy = get32(p + 8), n = get32(p + 12);
    if (policy > 1)
        return reject(err, MESH_EPROTO, "hello route with an unknown policy", off + 8);
    if (n > BRIDGE_HELLO_TYPES)
        return reject(err, MESH_EPROTO, "hello route with more than 32 types", off + 12);
    size_t need = (16u + 4u * (size_t)n + 7u) & ~(size_t)7u;
    if (need > avail)
        return reject(err, MESH_EPROTO, "hello route types run past the frame end", off);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = get32(p + 16 + 4 * i);
        if (t == 0 || t == 0xffffffffu || (i > 0 && t <= get32(p + 12 + 4 * i)))
            return reject(err, MESH_EPROTO, "hello route types not increasing or reserved",
                          off + 16 + 4 * i);
    }
    for (size_t i = 16 + 4 * (size_t)n; i < need; i++)
        if (p[i])
            return reject(err, MESH_EPROTO, "hello padding is not zero", off + i);
    *size = need;
    return 0;
}

/* The body of a HELLO (or of a refusal). */
static int hello_check(const uint8_t *p, size_t len, const bridge_frame_hdr *h,
                       bridge_frame_err *err)
{
    const uint8_t *b = p + BRIDGE_FRAME_HDR;
    size_t blen = len - BRIDGE_FRAME_HDR;
    if (h->flags & BRIDGE_HELLO_REFUSED) {
        if (h->count != 0 || blen < 8 || blen % 8 != 0 || b[blen - 1] != 0)
            return reject(err, MESH_EPROTO, "hello refusal without a NUL-terminated reason", 8);
        return 0;
    }
    if (blen < BRIDGE_HELLO_FIXED)
        return reject(err, MESH_EPROTO, "hello shorter than its 72-byte fixed part", len);
    if (!name_ok(b, 1) || !name_ok(b + BRIDGE_HELLO_NAME, 0))
        return reject(err, MESH_EPROTO, "hello mesh or peer name not NUL-terminated",
                      BRIDGE_FRAME_HDR);
    if (get32(b + 64) != 0 || get32(b + 68) != 0)
        return reject(err, MESH_EPROTO, "hello reserved words are not zero", BRIDGE_FRAME_HDR + 64);
    size_t off = BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED;
    uint32_t n = 0;
    while (off < len) {
        if (n == h->count)
            return reject(err, MESH_EPROTO, "more hello routes than the header's count", off);
        size_t size = 0;
        int rc = hello_route(p + off, len - off, off, &size, err);
        if (rc < 0)
            return rc;
        off += size;
        n++;
    }
    if (n != h->count)
        return reject(err, MESH_EPROTO, "fewer hello routes than the header's count", len);
    return 0;
}

int bridge_frame_decode(const void *buf, size_t len, const bridge_frame_limits *lim,
                        bridge_frame_hdr *hdr, bridge_frame_err *err)
{
    bridge_frame_limits def;
    if (!lim) {
        bridge_frame_limits_default(&def);
        lim = &def;
    }
    if (!buf)
        return reject(err, MESH_EPROTO, "no frame", 0);
    const uint8_t *p = buf;
    bridge_frame_hdr h;
    int rc = decode_header(p, len, lim, &h, err);
    if (rc == 0 && h.kind == BRIDGE_FRAME_HELLO)
        rc = hello_check(p, len, &h, err);
    if (rc < 0 || h.kind == BRIDGE_FRAME_HELLO) {
        if (rc == 0 && hdr)
            *hdr = h;
        return rc;
    }
    size_t off = BRIDGE_FRAME_HDR;
    uint64_t prev = h.seq;
    uint32_t n = 0;
    while (off < len) {
        if (n == h.count)
            return reject(err, MESH_EPROTO, "more records than the header's count", off);
        size_t size = 0;
        rc = decode_record(p + off, len - off, off, lim, &prev, &size, err);
        if (rc < 0)
            return rc;
        off += size;
        n++;
    }
    if (n != h.count)
        return reject(err, MESH_EPROTO, "fewer records than the header's count", len);
    if (hdr)
        *hdr = h;
    return 0;
}

int bridge_frame_next(const void *buf, size_t len, size_t *pos, bridge_frame_rec *rec)
{
    const uint8_t *p = buf;
    size_t off = *pos < BRIDGE_FRAME_HDR ? BRIDGE_FRAME_HDR : *pos;
    if (off + BRIDGE_REC_HDR > len)
        return 0;
    rec->len = get32(p + off);
    rec->type = get32(p + off + 4);
    rec->flags = get32(p + off + 8);
    rec->seq = get64(p + off + 16);
    rec->data = p + off + BRIDGE_REC_HDR;
    *pos = off + bridge_rec_size(rec->len);
    return 1;
}
