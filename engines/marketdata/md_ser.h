/* Flat byte buffers for the marketdata state snapshots (md_synth_save,
 * md_bars_save, md_csv_save, md_feed_save): a writer that measures what it
 * cannot store, a reader that fails softly on short input, tagged and
 * versioned sections, length-prefixed nested blobs. Values are stored in the
 * host's byte order: a snapshot is read back on the host that wrote it. */
#ifndef MD_SER_H
#define MD_SER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mesh_error.h"

/* Writer over buf[0, cap). len counts every byte put, also those that did
 * not fit, so a first pass with cap 0 measures the size. */
typedef struct md_wr {
    unsigned char *p;
    size_t cap, len;
} md_wr;

static inline void md_wr_init(md_wr *w, void *buf, size_t cap)
{
    w->p = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
}

static inline void md_put(md_wr *w, const void *v, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->p + w->len, v, n);
    w->len += n;
}

static inline void md_put_u32(md_wr *w, uint32_t v)
{
    md_put(w, &v, sizeof(v));
}

static inline void md_put_u64(md_wr *w, uint64_t v)
{
    md_put(w, &v, sizeof(v));
}

static inline void md_put_f64(md_wr *w, double v)
{
    md_put(w, &v, sizeof(v));
}

/* Section header: a four-character tag and a layout version. */
static inline void md_put_tag(md_wr *w, uint32_t tag, uint32_t version)
{
    md_put_u32(w, tag);
    md_put_u32(w, version);
}

/* Where the writer is, for a nested blob written in place (NULL when it no
 * longer fits), and how much room is left there. */
static inline unsigned char *md_wr_here(const md_wr *w, size_t *room)
{
    *room = w->len <= w->cap ? w->cap - w->len : 0;
    return w->len <= w->cap ? w->p + w->len : NULL;
}

/* Nested blob: md_blob_begin reserves its u64 length and returns where;
 * the caller writes the blob at md_wr_here (n bytes written or needed),
 * then md_blob_end fills the length in and moves past the blob. */
static inline size_t md_blob_begin(md_wr *w)
{
    size_t at = w->len;
    md_put_u64(w, 0);
    return at;
}

static inline void md_blob_end(md_wr *w, size_t at, size_t n)
{
    uint64_t v = n;
    if (at <= w->cap && sizeof(v) <= w->cap - at)
        memcpy(w->p + at, &v, sizeof(v));
    w->len += n;
}

/* Ends a write: *len = bytes written (or needed); 0, or MESH_ENOSPC when
 * they did not fit in cap. */
static inline int md_wr_end(const md_wr *w, size_t *len)
{
    *len = w->len;
    return w->len <= w->cap ? 0 : MESH_ENOSPC;
}

/* Reader over p[0, len). A short read sets bad and yields zeros. */
typedef struct md_rd {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} md_rd;

static inline void md_rd_init(md_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
    r->bad = 0;
}

static inline void md_get(md_rd *r, void *v, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        memset(v, 0, n);
        return;
    }
    memcpy(v, r->p + r->pos, n);
    r->pos += n;
}

static inline uint32_t md_get_u32(md_rd *r)
{
    uint32_t v;
    md_get(r, &v, sizeof(v));
    return v;
}

static inline uint64_t md_get_u64(md_rd *r)
{
    uint64_t v;
    md_get(r, &v, sizeof(v));
    return v;
}

static inline double md_get_f64(md_rd *r)
{
    double v;
    md_get(r, &v, sizeof(v));
    return v;
}

/* Reads a section header: 0, MESH_EFOREIGN (another tag, or too short) or
 * MESH_EVERSION. */
static inline int md_get_tag(md_rd *r, uint32_t tag, uint32_t version)
{
    uint32_t t = md_get_u32(r), v = md_get_u32(r);
    if (r->bad || t != tag)
        return MESH_EFOREIGN;
    return v == version ? 0 : MESH_EVERSION;
}

/* Reads a u64 length and returns a pointer to that many bytes (NULL and bad
 * set when the input is shorter). */
static inline const void *md_get_blob(md_rd *r, size_t *n)
{
    uint64_t len = md_get_u64(r);
    if (r->bad || len > r->len - r->pos) {
        r->bad = 1;
        *n = 0;
        return NULL;
    }
    const void *p = r->p + r->pos;
    r->pos += (size_t)len;
    *n = (size_t)len;
    return p;
}

/* 0 when the whole input was read without a short read, else MESH_ECORRUPT. */
static inline int md_rd_end(const md_rd *r)
{
    return !r->bad && r->pos == r->len ? 0 : MESH_ECORRUPT;
}

/* FNV-1a 64 over n bytes, continuing from h (start with MD_FNV_INIT). */
#define MD_FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t md_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Four-character tags, little-endian. */
#define MD_TAG(a, b, c, d)                                                                         \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

#endif
