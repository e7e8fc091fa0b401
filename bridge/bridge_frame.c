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
    if (rc < 0)
        return rc;
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
