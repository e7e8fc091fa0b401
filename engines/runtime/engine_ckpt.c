/* Checkpoint object of one engine: layout checks, validation on load,
 * double-buffered crash-consistent saves with on-demand growth, the live
 * progress word. See engine_ckpt.h for the layout. */
#include "engine_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus_atomic.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#define CKPT_PAGE 4096u

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t engine_ckpt_hash(uint64_t seed, const void *p, size_t n)
{
    /* Multiply-rotate rounds over 8-byte words (the xxHash64 round), the
     * tail zero-padded, the length mixed in, then xxHash64's avalanche. */
    const uint64_t p1 = 0x9e3779b185ebca87ull, p2 = 0xc2b2ae3d27d4eb4full;
    const unsigned char *b = p;
    uint64_t h = seed + p1 + (uint64_t)n * p2;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = rotl64(h ^ (w * p2), 31) * p1;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i);
        h = rotl64(h ^ ((w + 1) * p2), 31) * p1;
    }
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    h *= 0x165667b19e3779f9ull;
    return h ^ (h >> 32);
}

int engine_ckpt_init(engine_ckpt *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    if (strlen(name) >= sizeof(c->name))
        return MESH_ENAMETOOLONG;
    snprintf(c->name, sizeof(c->name), "%s", name);
    return 0;
}

static void ckpt_unmap(engine_ckpt *c)
{
    bus_shm_close(c->seg);
    c->seg = NULL;
    c->hdr = NULL;
}

void engine_ckpt_fini(engine_ckpt *c)
{
    ckpt_unmap(c);
}

/* Region bytes for a slot of `need` bytes: half again, whole pages. */
static uint64_t ckpt_cap_for(uint64_t need)
{
    uint64_t cap = need + need / 2;
    cap = (cap + CKPT_PAGE - 1) / CKPT_PAGE * CKPT_PAGE;
    return cap < CKPT_PAGE ? CKPT_PAGE : cap;
}

/* Bytes a slot of len data bytes and nrings rings takes. */
static uint64_t ckpt_need(uint64_t len, uint32_t nrings)
{
    return sizeof(engine_ckpt_slot) + (uint64_t)nrings * sizeof(engine_ckpt_ring) + len;
}

/* NULL when the header and both slot regions fit the object, else why not. */
static const char *ckpt_hdr_invalid(const engine_ckpt_hdr *h, uint64_t size)
{
    if (size < sizeof(*h) || h->magic != ENGINE_CKPT_MAGIC)
        return "not an engine state object (bad magic)";
    if (h->version != ENGINE_CKPT_VERSION)
        return "engine state layout version mismatch";
    if (h->hdr_bytes != sizeof(*h))
        return "header size mismatch";
    uint64_t active = bus_load_acq_64(&h->active);
    if (active != ENGINE_CKPT_NONE && active > 1)
        return "active slot index out of range";
    for (int i = 0; i < 2; i++) {
        uint64_t off = h->slot_off[i], cap = h->slot_cap[i];
        if (off % 64 != 0 || off < sizeof(*h) || cap < sizeof(engine_ckpt_slot) || off > size ||
            cap > size - off)
            return "a slot region lies outside the object (truncated?)";
    }
    return NULL;
}

static int ckpt_hdr_code(const engine_ckpt_hdr *h, uint64_t size)
{
    if (size < sizeof(*h) || h->magic != ENGINE_CKPT_MAGIC)
        return MESH_EFOREIGN;
    return h->version != ENGINE_CKPT_VERSION ? MESH_EVERSION : MESH_ECORRUPT;
}

/* Checksum of a slot: its header with check = 0, its rings, its data. */
static uint64_t ckpt_slot_hash(const engine_ckpt_slot *s, const engine_ckpt_ring *rings,
                               const void *data)
{
    engine_ckpt_slot tmp = *s;
    tmp.check = 0;
    uint64_t h = engine_ckpt_hash(0, &tmp, sizeof(tmp));
    h = engine_ckpt_hash(h, rings, (size_t)s->nrings * sizeof(*rings));
    return engine_ckpt_hash(h, data, (size_t)s->len);
}

/* Attaches the object when not mapped yet. 0, MESH_ENOENT or an error. */
static int ckpt_attach(engine_ckpt *c)
{
    if (c->seg)
        return 0;
    int rc = bus_shm_attach(&c->seg, c->name, 0, 1);
    if (rc < 0) {
        c->seg = NULL;
        return rc;
    }
    c->hdr = bus_shm_base(c->seg);
    return 0;
}

/* Validates the active slot; NULL when valid, else why not. */
static const char *ckpt_slot_invalid(const engine_ckpt *c, uint64_t idx)
{
    const engine_ckpt_hdr *h = c->hdr;
    const engine_ckpt_slot *s = (const void *)((const char *)h + h->slot_off[idx]);
    uint64_t cap = h->slot_cap[idx];
    if (s->magic != ENGINE_CKPT_SLOT_MAGIC)
        return "snapshot slot has a bad magic";
    if (s->nrings > ENGINE_CKPT_MAX_RINGS || s->len > ENGINE_CKPT_MAX_DATA ||
        ckpt_need(s->len, s->nrings) > cap)
        return "snapshot slot sizes out of range";
    const engine_ckpt_ring *rings = (const void *)(s + 1);
    if (ckpt_slot_hash(s, rings, rings + s->nrings) != s->check)
        return "snapshot checksum mismatch (torn or corrupted)";
    return NULL;
}

int engine_ckpt_load(engine_ckpt *c, engine_ckpt_meta *meta, void *buf, size_t cap, size_t *len,
                     uint64_t *mark)
{
    *len = 0;
    int rc = ckpt_attach(c);
    if (rc < 0)
        return rc;
    uint64_t size = bus_shm_size(c->seg);
    const char *why = ckpt_hdr_invalid(c->hdr, size);
    if (why) {
        rc = ckpt_hdr_code(c->hdr, size);
        mesh_warn("engine state %s: %s: ignored (starting without a snapshot)", c->name, why);
        ckpt_unmap(c); /* a save recreates it */
        return rc;
    }
    /* Acquire: pairs with the release store of active in engine_ckpt_save. */
    uint64_t idx = bus_load_acq_64(&c->hdr->active);
    if (idx == ENGINE_CKPT_NONE)
        return MESH_ENOENT;
    why = ckpt_slot_invalid(c, idx);
    if (why) {
        mesh_warn("engine state %s: slot %llu: %s: ignored (starting without a snapshot)", c->name,
                  (unsigned long long)idx, why);
        return MESH_ECORRUPT;
    }
    const engine_ckpt_slot *s = (const void *)((const char *)c->hdr + c->hdr->slot_off[idx]);
    const engine_ckpt_ring *rings = (const void *)(s + 1);
    *len = (size_t)s->len;
    if (s->len > cap)
        return MESH_EMSGSIZE;
    if (s->len)
        memcpy(buf, rings + s->nrings, (size_t)s->len);
    if (meta) {
        meta->serial = s->serial;
        meta->mark = s->mark;
        meta->wall_ns = s->wall_ns;
        meta->nrings = s->nrings;
        memcpy(meta->ring, rings, s->nrings * sizeof(*rings));
    }
    if (mark)
        *mark = bus_load_64(&c->hdr->mark);
    return 0;
}

/* Creates the object with two slot regions of `cap` bytes. */
static int ckpt_create(engine_ckpt *c, uint64_t cap)
{
    uint64_t size = sizeof(engine_ckpt_hdr) + 2 * cap;
    int rc = bus_shm_create(&c->seg, c->name, (size_t)size);
    if (rc < 0) {
        c->seg = NULL;
        return rc;
    }
    engine_ckpt_hdr *h = c->hdr = bus_shm_base(c->seg);
    h->version = ENGINE_CKPT_VERSION;
    h->hdr_bytes = sizeof(*h);
    h->active = ENGINE_CKPT_NONE;
    h->mark = c->mark;
    h->slot_off[0] = sizeof(*h);
    h->slot_off[1] = sizeof(*h) + cap;
    h->slot_cap[0] = h->slot_cap[1] = cap;
    /* Magic last: a creator killed before this leaves an object that does
     * not validate (and is replaced), never a half-made one that does. */
    bus_store_rel_64(&h->magic, ENGINE_CKPT_MAGIC);
    return 0;
}

/* Maps a usable object: the existing one when it validates, else a new one
 * (an invalid one is replaced). */
static int ckpt_ensure(engine_ckpt *c, uint64_t need)
{
    int rc = ckpt_attach(c);
    if (rc == 0) {
        const char *why = ckpt_hdr_invalid(c->hdr, bus_shm_size(c->seg));
        if (!why)
            return 0;
        mesh_warn("engine state %s: %s: replacing it", c->name, why);
        ckpt_unmap(c);
        bus_shm_unlink(c->name);
    } else if (rc == MESH_ECORRUPT) { /* empty: bus_shm_attach logged it */
        mesh_warn("engine state %s: replacing it", c->name);
        bus_shm_unlink(c->name);
    } else if (rc != MESH_ENOENT) {
        return rc;
    }
    return ckpt_create(c, ckpt_cap_for(need));
}

/* Moves inactive slot t to a new region of at least `need` bytes appended
 * to the object. Only t's descriptor changes, and t is not active. */
static int ckpt_grow(engine_ckpt *c, uint64_t t, uint64_t need)
{
    uint64_t off = (bus_shm_size(c->seg) + 63) & ~(uint64_t)63;
    uint64_t cap = ckpt_cap_for(need);
    int fd = shm_open(c->name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return mesh_err_from_errno(errno);
    int rc = ftruncate(fd, (off_t)(off + cap)) == 0 ? 0 : mesh_err_from_errno(errno);
    close(fd);
    if (rc < 0)
        return rc;
    bus_shm *seg = NULL;
    rc = bus_shm_attach(&seg, c->name, (size_t)(off + cap), 1);
    if (rc < 0)
        return rc;
    ckpt_unmap(c);
    c->seg = seg;
    c->hdr = bus_shm_base(seg);
    c->hdr->slot_off[t] = off;
    c->hdr->slot_cap[t] = cap;
    return 0;
}

/* Writes slot t completely (header, rings, data, checksum). */
static void ckpt_write_slot(engine_ckpt *c, uint64_t t, engine_ckpt_meta *meta, const void *data,
                            size_t len)
{
    engine_ckpt_slot *s = (void *)((char *)c->hdr + c->hdr->slot_off[t]);
    engine_ckpt_ring *rings = (void *)(s + 1);
    s->magic = ENGINE_CKPT_SLOT_MAGIC;
    s->serial = meta->serial;
    s->len = len;
    s->mark = meta->mark;
    s->wall_ns = meta->wall_ns;
    s->nrings = meta->nrings;
    s->reserved = 0;
    s->pad = 0;
    memcpy(rings, meta->ring, meta->nrings * sizeof(*rings));
    if (len)
        memcpy(rings + meta->nrings, data, len);
    s->check = ckpt_slot_hash(s, meta->ring, data);
}

int engine_ckpt_save(engine_ckpt *c, engine_ckpt_meta *meta, const void *data, size_t len)
{
    if (len > ENGINE_CKPT_MAX_DATA || meta->nrings > ENGINE_CKPT_MAX_RINGS || (len && !data))
        return MESH_EINVAL;
    uint64_t need = ckpt_need(len, meta->nrings);
    int rc = ckpt_ensure(c, need);
    if (rc < 0)
        return rc;
    engine_ckpt_hdr *h = c->hdr;
    uint64_t active = bus_load_64(&h->active);
    uint64_t t = active == 0 ? 1 : 0;
    if (h->slot_cap[t] < need && (rc = ckpt_grow(c, t, need)) < 0) {
        engine_ckpt_invalidate(c); /* the caller moved on: the old one is no longer its state */
        return rc;
    }
    h = c->hdr;
    meta->serial = h->saves + 1;
    meta->mark = c->mark;
    meta->wall_ns = mesh_wall_ns();
    ckpt_write_slot(c, t, meta, data, len);
    h->saves = meta->serial;
    h->pid = (int32_t)getpid();
    bus_store_64(&h->mark, c->mark);
    /* Release: the slot written above is complete before it becomes the
     * active one. Pairs with the acquire load of active in engine_ckpt_load. */
    bus_store_rel_64(&h->active, t);
    return 0;
}

void engine_ckpt_mark(engine_ckpt *c, uint64_t mark)
{
    c->mark = mark;
    /* Relaxed: read by the next instance after this one died, or by tools
     * (engine_ckpt_load's plain load of mark). */
    if (c->hdr)
        bus_store_64(&c->hdr->mark, mark);
}

int engine_ckpt_invalidate(engine_ckpt *c)
{
    int rc = ckpt_attach(c);
    if (rc == MESH_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (ckpt_hdr_invalid(c->hdr, bus_shm_size(c->seg)) != NULL) {
        ckpt_unmap(c); /* holds nothing valid already; a save replaces it */
        return 0;
    }
    bus_store_rel_64(&c->hdr->active, ENGINE_CKPT_NONE); /* pairs as in save */
    return 0;
}
