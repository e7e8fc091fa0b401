/* Engine control blocks in shared memory: layout, create/attach with
 * validation, field updates and a reader's snapshot. Fields are stored and
 * loaded whole with relaxed ck_pr atomics: readers see each value intact,
 * with no ordering between fields (nothing is published through them), so
 * no release/acquire pairs here. Most fields have one writer (generation:
 * meshd; heartbeat, counters, last_seq, latency: the engine). Some have
 * several, and relaxed access is still enough:
 * - pid, ready, state: meshd clears pid and ready before it spawns a run
 *   and sets state FAILED after the engine's last run exited; the engine
 *   writes them while it runs. The writers take turns, separated by the
 *   spawn or the exit, never racing; each store is whole.
 * - the doorbell: seq is bumped by every producer of the engine with a
 *   locked increment (bus_inc_32: an atomic RMW, no bump is lost);
 *   sleeping, sleeps, wakes and timeouts are the engine's (bus_doorbell_reset
 *   at attach, before its first wait). Its ordering against the rings is
 *   bus_wait.c's (fences named there). */
#include "bus_ctl.h"
#include "bus_atomic.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CTL_LINE 128u

struct ctl_shm {
    /* line 0: written once by bus_ctl_create */
    uint64_t magic;
    uint32_t version;
    uint32_t size_bytes; /* sizeof(struct ctl_shm) */
    uint64_t created_ns;
    uint8_t pad0[CTL_LINE - 24];
    /* line 1: the engine's doorbell (engine + its producers) */
    bus_doorbell doorbell;
    /* line 2: supervisor-owned */
    uint64_t generation;
    uint8_t pad2[CTL_LINE - 8];
    /* line 3: engine-owned status and counters */
    int32_t pid;
    uint32_t state;
    uint32_t ready;
    uint32_t pad3a;
    uint64_t heartbeat_ns;
    uint64_t counters[BUS_CTL_NCOUNTERS];
    uint8_t pad3[CTL_LINE - 56];
    /* engine-owned: last handled sequence per input, then handler latency */
    uint64_t last_seq[BUS_CTL_SLOTS];
    mesh_hist latency;
};

/* Every field at a fixed offset: the shared-memory ABI of BUS_CTL_VERSION
 * (the doorbell's own layout is asserted in bus_wait.c). */
_Static_assert(_Alignof(struct ctl_shm) == 8, "ctl alignment");
_Static_assert(offsetof(struct ctl_shm, magic) == 0, "ctl header line");
_Static_assert(offsetof(struct ctl_shm, version) == 8, "ctl header line");
_Static_assert(offsetof(struct ctl_shm, size_bytes) == 12, "ctl header line");
_Static_assert(offsetof(struct ctl_shm, created_ns) == 16, "ctl header line");
_Static_assert(offsetof(struct ctl_shm, pad0) == 24, "ctl header line");
_Static_assert(offsetof(struct ctl_shm, doorbell) == CTL_LINE, "ctl doorbell line");
_Static_assert(sizeof(bus_doorbell) == CTL_LINE, "doorbell fills its line");
_Static_assert(offsetof(struct ctl_shm, generation) == 2 * CTL_LINE, "ctl supervisor line");
_Static_assert(offsetof(struct ctl_shm, pad2) == 2 * CTL_LINE + 8, "ctl supervisor line");
_Static_assert(offsetof(struct ctl_shm, pid) == 3 * CTL_LINE, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, state) == 3 * CTL_LINE + 4, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, ready) == 3 * CTL_LINE + 8, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, pad3a) == 3 * CTL_LINE + 12, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, heartbeat_ns) == 3 * CTL_LINE + 16, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, counters) == 3 * CTL_LINE + 24, "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, pad3) == 3 * CTL_LINE + 24 + 8 * BUS_CTL_NCOUNTERS,
               "ctl engine line");
_Static_assert(offsetof(struct ctl_shm, last_seq) == 4 * CTL_LINE, "ctl slots offset");
_Static_assert(offsetof(struct ctl_shm, latency) == 4 * CTL_LINE + 8 * BUS_CTL_SLOTS,
               "ctl histogram offset");
_Static_assert(sizeof(struct ctl_shm) == 4 * CTL_LINE + 8 * BUS_CTL_SLOTS + sizeof(mesh_hist),
               "ctl size");
_Static_assert(sizeof(mesh_hist) == 8 * (4 + MESH_HIST_BUCKETS), "mesh_hist is pointer-free");
_Static_assert(_Alignof(mesh_hist) <= 8, "mesh_hist needs no more than 8-byte alignment");

struct bus_ctl {
    struct ctl_shm *shm;
    bus_shm *seg;
    int writable;
};

int bus_ctl_create(const char *shm_name)
{
    bus_shm *seg;
    int rc = bus_shm_create(&seg, shm_name, sizeof(struct ctl_shm));
    if (rc < 0)
        return rc;
    struct ctl_shm *s = bus_shm_base(seg);
    memset(s, 0, sizeof(*s));
    s->magic = BUS_CTL_MAGIC;
    s->version = BUS_CTL_VERSION;
    s->size_bytes = sizeof(*s);
    s->created_ns = mesh_now_ns();
    bus_doorbell_init(&s->doorbell);
    mesh_hist_reset(&s->latency);
    bus_shm_close(seg);
    return 0;
}

static int ctl_validate(const struct ctl_shm *s, size_t len, const char *name)
{
    if (s->magic != BUS_CTL_MAGIC) {
        mesh_warn("bus_ctl %s: bad magic 0x%016llx: not a control block", name,
                  (unsigned long long)s->magic);
        return MESH_EFOREIGN;
    }
    if (s->version != BUS_CTL_VERSION) {
        mesh_warn("bus_ctl %s: layout version %u, this build reads %u", name, s->version,
                  BUS_CTL_VERSION);
        return MESH_EVERSION;
    }
    if (s->size_bytes != sizeof(*s) || len != sizeof(*s)) {
        mesh_warn("bus_ctl %s: size field %u / object %zu bytes, expected %zu", name, s->size_bytes,
                  len, sizeof(*s));
        return MESH_ECORRUPT;
    }
    return 0;
}

int bus_ctl_open(bus_ctl **out, const char *shm_name, enum bus_ctl_access access)
{
    if (out == NULL || (access != BUS_CTL_RW && access != BUS_CTL_RO))
        return MESH_EINVAL;
    bus_shm *seg;
    /* The header must be there to be checked; the exact size is checked next. */
    int rc = bus_shm_attach(&seg, shm_name, CTL_LINE, access == BUS_CTL_RW);
    if (rc < 0)
        return rc;
    rc = ctl_validate(bus_shm_base(seg), bus_shm_size(seg), shm_name);
    if (rc < 0)
        goto fail_seg;
    bus_ctl *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = MESH_ENOMEM;
        goto fail_seg;
    }
    c->shm = bus_shm_base(seg);
    c->seg = seg;
    c->writable = access == BUS_CTL_RW;
    *out = c;
    return 0;
fail_seg:
    bus_shm_close(seg);
    return rc;
}

void bus_ctl_close(bus_ctl *c)
{
    if (c == NULL)
        return;
    bus_shm_close(c->seg);
    free(c);
}

bus_doorbell *bus_ctl_doorbell(bus_ctl *c)
{
    return c->writable ? &c->shm->doorbell : NULL;
}

void bus_ctl_set_pid(bus_ctl *c, int32_t pid)
{
    if (c->writable)
        bus_store_32((uint32_t *)&c->shm->pid, (uint32_t)pid);
}

void bus_ctl_set_state(bus_ctl *c, enum bus_ctl_state state)
{
    if (c->writable)
        bus_store_32(&c->shm->state, (uint32_t)state);
}

void bus_ctl_set_ready(bus_ctl *c, int ready)
{
    if (c->writable)
        bus_store_32(&c->shm->ready, ready ? 1u : 0u);
}

void bus_ctl_heartbeat(bus_ctl *c, uint64_t now_ns)
{
    if (c->writable)
        bus_store_64(&c->shm->heartbeat_ns, now_ns);
}

void bus_ctl_count(bus_ctl *c, enum bus_ctl_counter which, uint64_t n)
{
    if (c->writable && (unsigned)which < BUS_CTL_NCOUNTERS)
        bus_add_64(&c->shm->counters[which], n);
}

void bus_ctl_record_latency(bus_ctl *c, uint64_t ns)
{
    if (c->writable)
        mesh_hist_record(&c->shm->latency, ns);
}

int bus_ctl_set_last_seq(bus_ctl *c, unsigned slot, uint64_t seq)
{
    if (!c->writable || slot >= BUS_CTL_SLOTS)
        return MESH_EINVAL;
    bus_store_64(&c->shm->last_seq[slot], seq);
    return 0;
}

int bus_ctl_last_seq(const bus_ctl *c, unsigned slot, uint64_t *seq)
{
    if (slot >= BUS_CTL_SLOTS)
        return MESH_EINVAL;
    *seq = bus_load_64(&c->shm->last_seq[slot]);
    return 0;
}

uint64_t bus_ctl_next_generation(bus_ctl *c)
{
    if (!c->writable)
        return bus_load_64(&c->shm->generation);
    uint64_t g = bus_load_64(&c->shm->generation) + 1;
    bus_store_64(&c->shm->generation, g);
    return g;
}

int bus_ctl_snapshot_get(const bus_ctl *c, bus_ctl_snapshot *out)
{
    const struct ctl_shm *s = c->shm;
    out->pid = (int32_t)bus_load_32((const uint32_t *)&s->pid);
    out->state = bus_load_32(&s->state);
    out->ready = bus_load_32(&s->ready);
    out->heartbeat_ns = bus_load_64(&s->heartbeat_ns);
    out->generation = bus_load_64(&s->generation);
    for (unsigned i = 0; i < BUS_CTL_NCOUNTERS; i++)
        out->counters[i] = bus_load_64(&s->counters[i]);
    for (unsigned i = 0; i < BUS_CTL_SLOTS; i++)
        out->last_seq[i] = bus_load_64(&s->last_seq[i]);
    out->doorbell_seq = bus_load_32(&s->doorbell.seq);
    out->doorbell_sleeping = bus_load_32(&s->doorbell.sleeping);
    out->doorbell_sleeps = bus_load_64(&s->doorbell.sleeps);
    out->doorbell_wakes = bus_load_64(&s->doorbell.wakes);
    out->doorbell_timeouts = bus_load_64(&s->doorbell.timeouts);
    mesh_hist_reset(&out->latency);
    mesh_hist_merge(&out->latency, &s->latency);
    return 0;
}

const char *bus_ctl_state_name(uint32_t state)
{
    static const char *const names[] = {"new",      "starting", "running",
                                        "draining", "stopped",  "failed"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
