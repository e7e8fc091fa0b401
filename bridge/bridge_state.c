/* Bridge shared state: layout checks, create / attach / reformat of the
 * per-mesh object, slot lookup and relaxed counter access. */
#include "bridge_state.h"

#include "bus_atomic.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(bridge_slot) == 384, "bridge slot is three 128-byte lines");
_Static_assert(offsetof(bridge_slot, route_id) == 96, "bridge slot layout");
_Static_assert(offsetof(bridge_slot, c) == 112, "bridge slot counters");
_Static_assert(offsetof(bridge_slot, rx_epoch) == 112 + 8 * BRIDGE_NCOUNTERS, "bridge slot rx");
_Static_assert(offsetof(bridge_slot, tx_sync) == 112 + 8 * BRIDGE_NCOUNTERS + 40, "bridge slot tx");
_Static_assert(offsetof(bridge_slot, pend_counter) == 112 + 8 * BRIDGE_NCOUNTERS + 48,
               "bridge slot");
_Static_assert(offsetof(bridge_slot, pend_count) == 112 + 8 * BRIDGE_NCOUNTERS + 56, "bridge slot");
_Static_assert(offsetof(bridge_slot, pend_epoch) == 112 + 8 * BRIDGE_NCOUNTERS + 64, "bridge slot");
_Static_assert(sizeof(bridge_state_hdr) == 128, "bridge state header is one 128-byte line");
_Static_assert(offsetof(bridge_state_hdr, epoch) == 24, "bridge state header layout");
_Static_assert(offsetof(bridge_state_hdr, nslots) == 16, "bridge state header layout");
_Static_assert(offsetof(bridge_state_hdr, links_up) == 48, "bridge state header layout");
_Static_assert(offsetof(bridge_state_hdr, pid) == 56, "bridge state header layout");
_Static_assert(offsetof(bridge_state_hdr, hello_refused) == 64, "bridge state header layout");
_Static_assert(offsetof(bridge_state_hdr, peer_refusals) == 80, "bridge state header layout");
_Static_assert(offsetof(bridge_state_shm, slot) == 128, "slots follow the header");
_Static_assert(sizeof(bridge_state_shm) == 128 + 384 * BRIDGE_STATE_ROUTES, "bridge state size");
_Static_assert(sizeof(bridge_state_shm) < UINT32_MAX, "size fits size_bytes");

struct bridge_state {
    bridge_state_shm *shm;
    bus_shm *seg; /* NULL for process memory */
    int writable;
};

static const char *const counter_names[BRIDGE_NCOUNTERS] = {
    "sent",   "received", "gaps",  "gap_events", "reconnects", "drops",    "bad_frames", "dups",
    "resent", "rejected", "nacks", "frames",     "bytes",      "last_seq", "acked",      "link_up"};

const char *bridge_counter_name(enum bridge_counter c)
{
    return (unsigned)c < BRIDGE_NCOUNTERS ? counter_names[c] : "unknown";
}

static uint64_t new_epoch(void)
{
    /* Distinct per format: wall clock in ns mixed with the pid; never 0. */
    uint64_t e = mesh_wall_ns() ^ ((uint64_t)getpid() << 40);
    return e ? e : 1;
}

static void state_format(bridge_state_shm *s)
{
    memset(s, 0, sizeof(*s));
    s->hdr.magic = BRIDGE_STATE_MAGIC;
    s->hdr.version = BRIDGE_STATE_VERSION;
    s->hdr.size_bytes = (uint32_t)sizeof(*s);
    s->hdr.epoch = new_epoch();
}

/* Returns NULL when valid, else why not. */
static const char *state_invalid(const bridge_state_shm *s, size_t len)
{
    if (len < sizeof(s->hdr) || s->hdr.magic != BRIDGE_STATE_MAGIC)
        return "not a bridge state object (bad magic)";
    if (s->hdr.version != BRIDGE_STATE_VERSION)
        return "bridge state layout version mismatch";
    if (len < sizeof(*s) || s->hdr.size_bytes != sizeof(*s))
        return "bridge state object has the wrong size (truncated?)";
    if (s->hdr.nslots > BRIDGE_STATE_ROUTES)
        return "bridge state slot count out of range";
    return NULL;
}

static int state_code(const bridge_state_shm *s, size_t len)
{
    if (len < sizeof(s->hdr) || s->hdr.magic != BRIDGE_STATE_MAGIC)
        return MESH_EFOREIGN;
    if (s->hdr.version != BRIDGE_STATE_VERSION)
        return MESH_EVERSION;
    return MESH_ECORRUPT;
}

static int state_wrap(bridge_state **out, bus_shm *seg, bridge_state_shm *shm, int writable)
{
    bridge_state *s = calloc(1, sizeof(*s));
    if (!s)
        return MESH_ENOMEM;
    s->seg = seg;
    s->shm = shm;
    s->writable = writable;
    *out = s;
    return 0;
}

/* Attaches an existing object read-write, or recreates it when it is not a
 * valid bridge state. Sets *fresh when the returned object is newly made. */
static int state_map(bus_shm **seg, const char *name, int *fresh)
{
    int rc = bus_shm_create(seg, name, sizeof(bridge_state_shm));
    if (rc == 0) {
        *fresh = 1;
        return 0;
    }
    if (rc != MESH_EEXIST)
        return rc;
    rc = bus_shm_attach(seg, name, 0, 1);
    if (rc < 0)
        return rc;
    const char *why = state_invalid(bus_shm_base(*seg), bus_shm_size(*seg));
    if (!why)
        return 0;
    mesh_warn("%s: %s: recreating it", name, why);
    bus_shm_close(*seg);
    *seg = NULL;
    bus_shm_unlink(name);
    rc = bus_shm_create(seg, name, sizeof(bridge_state_shm));
    if (rc == 0)
        *fresh = 1;
    return rc;
}

int bridge_state_open(bridge_state **out, const char *mesh, uint64_t generation, int *fresh)
{
    char name[256];
    bus_shm *seg = NULL;
    int made = 0;
    *out = NULL;
    int rc = bus_shm_name(name, sizeof(name), mesh, "bridge", "state", NULL);
    if (rc == 0)
        rc = state_map(&seg, name, &made);
    if (rc < 0)
        return rc;
    bridge_state_shm *shm = bus_shm_base(seg);
    if (!made && shm->hdr.generation >= generation) {
        mesh_info("%s: left by an earlier mesh run (generation %llu, now %llu): starting fresh",
                  name, (unsigned long long)shm->hdr.generation, (unsigned long long)generation);
        made = 1;
    }
    if (made)
        state_format(shm);
    shm->hdr.generation = generation;
    bus_store_32((uint32_t *)&shm->hdr.pid, (uint32_t)getpid());
    rc = state_wrap(out, seg, shm, 1);
    if (rc < 0) {
        bus_shm_close(seg);
        return rc;
    }
    if (fresh)
        *fresh = made;
    return 0;
}

int bridge_state_open_mem(bridge_state **out)
{
    bridge_state_shm *shm = aligned_alloc(128, sizeof(*shm));
    if (!shm)
        return MESH_ENOMEM;
    state_format(shm);
    shm->hdr.pid = (int32_t)getpid();
    int rc = state_wrap(out, NULL, shm, 1);
    if (rc < 0)
        free(shm);
    return rc;
}

int bridge_state_attach(bridge_state **out, const char *mesh)
{
    char name[256];
    bus_shm *seg = NULL;
    *out = NULL;
    int rc = bus_shm_name(name, sizeof(name), mesh, "bridge", "state", NULL);
    if (rc == 0)
        rc = bus_shm_attach(&seg, name, 0, 0);
    if (rc < 0)
        return rc;
    const bridge_state_shm *shm = bus_shm_base(seg);
    const char *why = state_invalid(shm, bus_shm_size(seg));
    if (why) {
        rc = state_code(shm, bus_shm_size(seg));
        mesh_warn("%s: %s", name, why);
        bus_shm_close(seg);
        return rc;
    }
    rc = state_wrap(out, seg, (bridge_state_shm *)shm, 0);
    if (rc < 0)
        bus_shm_close(seg);
    return rc;
}

void bridge_state_close(bridge_state *s)
{
    if (!s)
        return;
    if (s->seg)
        bus_shm_close(s->seg);
    else
        free(s->shm);
    free(s);
}

int bridge_state_unlink(const char *mesh)
{
    char name[256];
    int rc = bus_shm_name(name, sizeof(name), mesh, "bridge", "state", NULL);
    return rc < 0 ? rc : bus_shm_unlink(name);
}

bridge_state_hdr *bridge_state_header(bridge_state *s)
{
    return &s->shm->hdr;
}

int bridge_state_slot(bridge_state *s, const char *from, const char *to, const char *peer,
                      enum bridge_dir dir, enum mesh_policy policy, bridge_slot **slot)
{
    if (!s->writable)
        return MESH_EACCES;
    bridge_state_shm *shm = s->shm;
    uint32_t n = (uint32_t)shm->hdr.nslots;
    for (uint32_t i = 0; i < n; i++) {
        bridge_slot *sl = &shm->slot[i];
        if (strcmp(sl->from, from) == 0 && strcmp(sl->to, to) == 0 && sl->dir == (uint32_t)dir) {
            snprintf(sl->peer, sizeof(sl->peer), "%s", peer);
            sl->policy = (uint32_t)policy;
            *slot = sl;
            return 0;
        }
    }
    if (n == BRIDGE_STATE_ROUTES)
        return MESH_ENOSPC;
    bridge_slot *sl = &shm->slot[n];
    memset(sl, 0, sizeof(*sl));
    snprintf(sl->from, sizeof(sl->from), "%s", from);
    snprintf(sl->to, sizeof(sl->to), "%s", to);
    snprintf(sl->peer, sizeof(sl->peer), "%s", peer);
    sl->dir = (uint32_t)dir;
    sl->policy = (uint32_t)policy;
    /* Release: the slot's names are written before the count that shows
     * them. Pairs with the acquire load in bridge_state_nslots. */
    bus_store_rel_64(&shm->hdr.nslots, n + 1);
    *slot = sl;
    return 0;
}

const bridge_slot *bridge_state_find(const bridge_state *s, const char *from, const char *to)
{
    uint32_t n = bridge_state_nslots(s);
    for (uint32_t i = 0; i < n; i++) {
        const bridge_slot *sl = &s->shm->slot[i];
        if (strncmp(sl->from, from, sizeof(sl->from)) == 0 &&
            strncmp(sl->to, to, sizeof(sl->to)) == 0)
            return sl;
    }
    return NULL;
}

const bridge_slot *bridge_state_slot_at(const bridge_state *s, uint32_t i)
{
    return i < bridge_state_nslots(s) ? &s->shm->slot[i] : NULL;
}

uint32_t bridge_state_nslots(const bridge_state *s)
{
    /* Acquire: pairs with the release store in bridge_state_slot. */
    uint64_t n = bus_load_acq_64(&s->shm->hdr.nslots);
    return n > BRIDGE_STATE_ROUTES ? BRIDGE_STATE_ROUTES : (uint32_t)n;
}

/* Relaxed: statistics and single-writer words; no other memory is published
 * through them, so no acquire/release pairing is needed. */
void bridge_slot_add(bridge_slot *s, enum bridge_counter c, uint64_t n)
{
    bus_add_64(&s->c[c], n);
}

void bridge_slot_set(bridge_slot *s, enum bridge_counter c, uint64_t v)
{
    bus_store_64(&s->c[c], v);
}

uint64_t bridge_slot_get(const bridge_slot *s, enum bridge_counter c)
{
    return bus_load_64(&s->c[c]);
}

void bridge_word_set(uint64_t *w, uint64_t v)
{
    bus_store_64(w, v);
}

uint64_t bridge_word_get(const uint64_t *w)
{
    return bus_load_64(w);
}
