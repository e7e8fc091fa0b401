/* SPSC ring set-up and tooling: formatting, validated attach over memory or a
 * POSIX shm object, counters, and the non-consuming observer. */
#include "bus_atomic.h"
#include "bus_ring.h"
#include "bus_ring_int.h"
#include "bus_shm.h"
#include "mesh_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ring_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

size_t bus_ring_segment_size(uint64_t capacity)
{
    return (size_t)(BUS_RING_HEADER_BYTES + capacity);
}

uint32_t bus_ring_default_max_record(uint64_t capacity)
{
    return (uint32_t)(capacity / 4 - BUS_RING_REC_HDR);
}

static int ring_cfg_ok(uint64_t capacity, uint32_t max_record, uint32_t policy)
{
    if (!ring_pow2(capacity) || capacity < BUS_RING_MIN_CAPACITY ||
        capacity > BUS_RING_MAX_CAPACITY)
        return 0;
    if (max_record == 0 || max_record > bus_ring_default_max_record(capacity))
        return 0;
    return policy == BUS_RING_POLICY_WAIT || policy == BUS_RING_POLICY_DROP;
}

int bus_ring_format(void *mem, size_t len, uint64_t capacity, uint32_t max_record,
                    enum bus_ring_policy policy)
{
    if (max_record == 0 && capacity >= BUS_RING_MIN_CAPACITY)
        max_record = bus_ring_default_max_record(capacity);
    if (mem == NULL || ((uintptr_t)mem & (BUS_RING_ALIGN - 1)) != 0 ||
        !ring_cfg_ok(capacity, max_record, (uint32_t)policy) ||
        len != bus_ring_segment_size(capacity))
        return MESH_EINVAL;
    struct ring_shm *s = mem;
    memset(s, 0, sizeof(*s));
    s->magic = BUS_RING_MAGIC;
    s->version = BUS_RING_VERSION;
    s->header_bytes = BUS_RING_HEADER_BYTES;
    s->capacity = capacity;
    s->max_record = max_record;
    s->policy = (uint32_t)policy;
    s->next_seq = 1;
    return 0;
}

/* Checks the header and positions of a mapped segment of `len` bytes; logs
 * what is wrong. */
static int ring_validate(const void *mem, size_t len, const char *name)
{
    const struct ring_shm *s = mem;
    if (len < sizeof(*s)) {
        mesh_warn("bus_ring %s: %zu bytes, smaller than the %u-byte header (truncated)", name, len,
                  BUS_RING_HEADER_BYTES);
        return MESH_ECORRUPT;
    }
    if (s->magic != BUS_RING_MAGIC) {
        mesh_warn("bus_ring %s: bad magic 0x%016llx: not a ring segment", name,
                  (unsigned long long)s->magic);
        return MESH_EFOREIGN;
    }
    if (s->version != BUS_RING_VERSION) {
        mesh_warn("bus_ring %s: layout version %u, this build reads %u", name, s->version,
                  BUS_RING_VERSION);
        return MESH_EVERSION;
    }
    const char *why = NULL;
    uint64_t head = bus_load_64(&s->head), tail = bus_load_64(&s->tail);
    if (s->header_bytes != BUS_RING_HEADER_BYTES)
        why = "header_bytes field is wrong";
    else if (!ring_cfg_ok(s->capacity, s->max_record, s->policy))
        why = "capacity (power of two in range), max_record (<= capacity/4 - 24) or policy invalid";
    else if (len != bus_ring_segment_size(s->capacity))
        why = "segment size does not match header + capacity (truncated or resized)";
    else if (((head | tail) & (BUS_RING_ALIGN - 1)) != 0)
        why = "head or tail position not 8-aligned";
    else if (tail > head || head - tail > s->capacity)
        why = "positions inconsistent (need tail <= head <= tail + capacity)";
    else if (bus_load_64(&s->next_seq) == 0 || bus_load_64(&s->next_seq) > UINT64_MAX / 2)
        why = "next_seq is 0 or at least 2^63 (skips stop before 2^63)";
    if (why != NULL) {
        mesh_warn("bus_ring %s: corrupt header: %s (capacity %llu, max_record %u, head %llu, "
                  "tail %llu, segment %zu bytes)",
                  name, why, (unsigned long long)s->capacity, s->max_record,
                  (unsigned long long)head, (unsigned long long)tail, len);
        return MESH_ECORRUPT;
    }
    return 0;
}

/* Producer attach: finishes the intent record (ring_publish, ring_drop) of a
 * producer killed between opening it and storing head (or drops). Nothing of
 * that operation became visible, so next_seq and bytes go back to their undo
 * values and this producer reuses those sequence numbers: a WAIT ring never
 * shows a gap, and every gap on a DROP ring is a counted drop. Returns 0, or
 * MESH_ECORRUPT (logged) for an intent record no producer could have left.
 * Runs before this producer writes anything; no other producer is attached. */
static int ring_recover(struct ring_shm *s, const char *name)
{
    /* Acquire: pairs with the release stores of intent_head (ring_publish)
     * and intent_drops (ring_drop): the undo values loaded below are the ones
     * the dead producer stored before it opened the intent. */
    uint64_t ih = bus_load_acq_64(&s->intent_head), id = bus_load_acq_64(&s->intent_drops);
    uint64_t head = bus_load_64(&s->head), drops = bus_load_64(&s->drops);
    if (ih == head && id == drops)
        return 0;
    /* The open publish claimed space up to intent_head, so it is at most
     * capacity past tail (a claim never overwrites unreleased records).
     * Relaxed: a consumer may still move tail towards head (no producer
     * runs); a later tail only makes ih - tail smaller, and one past ih
     * (damaged) wraps the difference and is refused. */
    uint64_t tail = bus_load_64(&s->tail);
    uint64_t seq = bus_load_64(&s->next_seq), useq = bus_load_64(&s->undo_seq);
    uint64_t bytes = bus_load_64(&s->bytes), ubytes = bus_load_64(&s->undo_bytes);
    int publish = ih != head;
    const char *why = NULL;
    if (publish && id != drops)
        why = "both a publish and a drop are open";
    else if (publish && (ih < head || ih - tail > s->capacity || (ih & (BUS_RING_ALIGN - 1)) != 0))
        why = "intent_head is not an 8-aligned position from head to tail + capacity";
    else if (!publish && (id <= drops || (seq != useq && seq - useq != id - drops)))
        why = "intent_drops does not match the sequence numbers the drop consumes";
    else if (useq == 0 || useq > seq)
        why = "undo_seq is 0 or ahead of next_seq";
    else if (ubytes > bytes)
        why = "undo_bytes is ahead of bytes";
    if (why != NULL) {
        mesh_warn("bus_ring %s: corrupt intent record: %s (tail %llu, head %llu, intent_head "
                  "%llu, drops %llu, intent_drops %llu, next_seq %llu, undo_seq %llu)",
                  name, why, (unsigned long long)tail, (unsigned long long)head,
                  (unsigned long long)ih, (unsigned long long)drops, (unsigned long long)id,
                  (unsigned long long)seq, (unsigned long long)useq);
        return MESH_ECORRUPT;
    }
    mesh_warn("bus_ring %s: the previous producer died inside a %s; nothing of it became "
              "visible: next_seq %llu -> %llu, bytes %llu -> %llu (those sequence numbers are "
              "reused)",
              name, publish ? "publish" : "drop", (unsigned long long)seq, (unsigned long long)useq,
              (unsigned long long)bytes, (unsigned long long)ubytes);
    bus_store_64(&s->next_seq, useq);
    bus_store_64(&s->bytes, ubytes);
    /* Closes the intent last: killed in here, the next attach redoes this.
     * Release: pairs with the acquire loads of intent_drops / intent_head in
     * bus_ring_stats_get: a tool that sees the intent closed sees the
     * rolled-back next_seq and bytes. */
    bus_store_rel_64(&s->intent_drops, drops);
    bus_store_rel_64(&s->intent_head, head);
    return 0;
}

/* Fills the handle from a validated segment; writes the role's pid unless
 * it is an observer (whose mapping may be read-only). */
static void ring_init_handle(bus_ring *r, void *mem, enum bus_ring_role role)
{
    struct ring_shm *s = mem;
    r->shm = s;
    r->data = (uint8_t *)mem + BUS_RING_HEADER_BYTES;
    r->cap = s->capacity;
    r->mask = s->capacity - 1;
    r->max_record = s->max_record;
    r->policy = s->policy;
    r->role = role;
    bus_wait_cfg_default(&r->wait);
    if (role == BUS_RING_PRODUCER) {
        r->pstate = RING_P_IDLE;
        r->head = r->published = bus_load_64(&s->head);
        /* Acquire: pairs with the release store of tail in bus_ring_release
         * (by any consumer incarnation): its reads of the records it freed
         * are done before this producer overwrites them. */
        r->tail_cache = bus_load_acq_64(&s->tail);
        bus_store_32(&s->publish_batch, 0); /* a new producer publishes every commit */
        r->next_seq = r->pub_seq = bus_load_64(&s->next_seq);
        r->bytes = r->pub_bytes = bus_load_64(&s->bytes);
        bus_store_32((uint32_t *)&s->producer_pid, (uint32_t)getpid());
    } else if (role == BUS_RING_CONSUMER) {
        /* Relaxed: tail is the consumer's own field; head is loaded with
         * acquire by the first ring_reload_head. */
        r->read = r->released = r->head_cache = bus_load_64(&s->tail);
        r->high_water = bus_load_64(&s->high_water);
        bus_store_32((uint32_t *)&s->consumer_pid, (uint32_t)getpid());
    }
}

static int ring_role_ok(enum bus_ring_role role)
{
    return role == BUS_RING_PRODUCER || role == BUS_RING_CONSUMER || role == BUS_RING_OBSERVER;
}

int bus_ring_open_mem(bus_ring **out, void *mem, size_t len, enum bus_ring_role role)
{
    if (out == NULL || mem == NULL || ((uintptr_t)mem & (BUS_RING_ALIGN - 1)) != 0 ||
        !ring_role_ok(role))
        return MESH_EINVAL;
    int rc = ring_validate(mem, len, "mem");
    if (rc == 0 && role == BUS_RING_PRODUCER)
        rc = ring_recover(mem, "mem");
    if (rc < 0)
        return rc;
    bus_ring *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MESH_ENOMEM;
    snprintf(r->name, sizeof(r->name), "mem");
    ring_init_handle(r, mem, role);
    *out = r;
    return 0;
}

int bus_ring_create(const char *shm_name, uint64_t capacity, uint32_t max_record,
                    enum bus_ring_policy policy)
{
    if (max_record == 0 && capacity >= BUS_RING_MIN_CAPACITY)
        max_record = bus_ring_default_max_record(capacity);
    if (!ring_cfg_ok(capacity, max_record, (uint32_t)policy))
        return MESH_EINVAL;
    bus_shm *seg;
    int rc = bus_shm_create(&seg, shm_name, bus_ring_segment_size(capacity));
    if (rc < 0)
        return rc;
    rc = bus_ring_format(bus_shm_base(seg), bus_shm_size(seg), capacity, max_record, policy);
    bus_shm_close(seg);
    if (rc < 0)
        bus_shm_unlink(shm_name);
    return rc;
}

int bus_ring_open(bus_ring **out, const char *shm_name, enum bus_ring_role role)
{
    if (out == NULL || !ring_role_ok(role))
        return MESH_EINVAL;
    bus_shm *seg;
    int rc = bus_shm_attach(&seg, shm_name, BUS_RING_HEADER_BYTES, role != BUS_RING_OBSERVER);
    if (rc < 0)
        return rc;
    rc = ring_validate(bus_shm_base(seg), bus_shm_size(seg), shm_name);
    if (rc == 0 && role == BUS_RING_PRODUCER)
        rc = ring_recover(bus_shm_base(seg), shm_name);
    if (rc < 0)
        goto fail_seg;
    bus_ring *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = MESH_ENOMEM;
        goto fail_seg;
    }
    snprintf(r->name, sizeof(r->name), "%s", shm_name);
    r->seg = seg;
    ring_init_handle(r, bus_shm_base(seg), role);
    *out = r;
    return 0;
fail_seg:
    bus_shm_close(seg);
    return rc;
}

void bus_ring_close(bus_ring *r)
{
    if (r == NULL)
        return;
    if (r->role == BUS_RING_PRODUCER)
        bus_ring_flush(r);
    bus_shm_close(r->seg);
    free(r);
}

void bus_ring_set_doorbell(bus_ring *r, bus_doorbell *db)
{
    r->db = db;
}

void bus_ring_set_wait(bus_ring *r, const bus_wait_cfg *cfg)
{
    if (cfg != NULL)
        r->wait = *cfg;
    else
        bus_wait_cfg_default(&r->wait);
}

const char *bus_ring_name(const bus_ring *r)
{
    return r->name;
}

uint32_t bus_ring_max_record(const bus_ring *r)
{
    return r->max_record;
}

int bus_ring_stats_get(const bus_ring *r, bus_ring_stats *st)
{
    const struct ring_shm *s = r->shm;
    memset(st, 0, sizeof(*st));
    st->capacity = r->cap;
    st->max_record = r->max_record;
    st->policy = r->policy;
    /* tail first: head only grows, so head >= tail holds for the pair. The
     * acquires keep each later load after the earlier one; tail pairs with
     * the release store in bus_ring_release, head with the one in
     * ring_publish (the counters loaded below are at least that new). */
    st->tail = bus_load_acq_64(&s->tail);
    st->head = bus_load_acq_64(&s->head);
    st->depth = st->head >= st->tail ? st->head - st->tail : 0;
    /* drops before next_seq: pairs with the release store in ring_drop */
    st->drops = bus_load_acq_64(&s->drops);
    /* A publish or drop under way, or left open by a dead producer, counts
     * as not done yet, as ring_recover will roll it back: then the undo
     * values. Acquire: pairs with the release stores of intent_head
     * (ring_publish) and intent_drops (ring_drop), so the undo values read
     * are the ones stored before that intent opened. */
    uint64_t ih = bus_load_acq_64(&s->intent_head), id = bus_load_acq_64(&s->intent_drops);
    int open = ih != st->head || id != st->drops;
    st->next_seq = bus_load_64(open ? &s->undo_seq : &s->next_seq);
    st->messages = st->next_seq - 1 >= st->drops ? st->next_seq - 1 - st->drops : 0;
    st->bytes = bus_load_64(open ? &s->undo_bytes : &s->bytes);
    st->full_waits = bus_load_64(&s->full_waits);
    st->wakeups = bus_load_64(&s->wakeups);
    st->high_water = bus_load_64(&s->high_water);
    st->producer_pid = (int32_t)bus_load_32((const uint32_t *)&s->producer_pid);
    st->consumer_pid = (int32_t)bus_load_32((const uint32_t *)&s->consumer_pid);
    return 0;
}

/* Observer: the producer may be writing anywhere below head + this many
 * bytes (one claim in flight, the padding record before a wrap, and what a
 * publish batch holds back). */
static uint64_t ring_write_guard(const bus_ring *r)
{
    /* A producer in publish-batch mode may also have up to a batch of
     * committed, not yet published records past head. Relaxed load, ordered
     * by the callers' acquire of head / load fence; pairs with the store +
     * full fence in bus_ring_set_publish_batch. */
    return 2 * ring_rec_size(r->max_record) + bus_load_32(&r->shm->publish_batch);
}

/* Observer: 1 if the bytes at pos cannot have been overwritten: either the
 * consumer has not released them (pos >= tail: the producer may not reuse
 * them), or the producer is still far enough behind pos + capacity. The load
 * fence keeps the caller's earlier loads of the record before these loads
 * (seqlock-style re-check). */
static int ring_intact(const bus_ring *r, uint64_t pos, uint64_t *tail)
{
    /* Load fence: the caller's loads of the record stay before the re-check
     * loads below (seqlock read side). Pairs with the store fence after the
     * head store in ring_publish: a copy that saw bytes the producer wrote
     * after a head store sees that head (or a later one) below. And with
     * the full fence after the publish_batch store in
     * bus_ring_set_publish_batch: a copy that saw bytes written under a new
     * batch sees that batch in ring_write_guard. */
    bus_fence_load();
    /* Acquire: pairs with the release store of tail in bus_ring_release. */
    *tail = bus_load_acq_64(&r->shm->tail);
    if (pos >= *tail)
        return 1;
    /* Acquire: pairs with the release store of head in ring_publish. */
    uint64_t head = bus_load_acq_64(&r->shm->head);
    return head + ring_write_guard(r) <= pos + r->cap;
}

int bus_ring_observe(const bus_ring *r, uint64_t *cursor, bus_ring_rec *rec, void *buf, size_t cap)
{
    /* Acquire: pairs with the release store of tail in bus_ring_release
     * (a position to start from; head is loaded after it). */
    uint64_t tail = bus_load_acq_64(&r->shm->tail);
    uint64_t pos = *cursor == 0 ? tail : *cursor;
    for (;;) {
        /* Acquire: pairs with the release store of head in ring_publish: the
         * record bytes below head are read after they were published. */
        uint64_t head = bus_load_acq_64(&r->shm->head);
        if (pos >= head) {
            *cursor = pos;
            return MESH_EAGAIN;
        }
        /* Records the consumer released stay readable until the producer
         * comes within one claim of overwriting them. */
        if (pos < tail && head + ring_write_guard(r) > pos + r->cap) {
            *cursor = tail;
            return MESH_ERANGE;
        }
        struct ring_rec h;
        ring_copy_hdr(r, pos & r->mask, &h);
        /* Compiler barrier: validate this one copy, never a re-read of
         * memory the producer may be overwriting (ring_intact re-checks). */
        ck_pr_barrier();
        const char *why = (pos & (BUS_RING_ALIGN - 1)) != 0 || head - pos > r->cap
                              ? "observer cursor is not a record position"
                              : busi_ring_rec_invalid(r, &h, pos, head - pos);
        if (why != NULL) {
            if (!ring_intact(r, pos, &tail)) {
                *cursor = tail; /* overwritten under us */
                return MESH_ERANGE;
            }
            mesh_warn("bus_ring %s: observer: corrupt at position %llu: %s", r->name,
                      (unsigned long long)pos, why);
            return MESH_ECORRUPT;
        }
        if (h.type == BUS_RING_TYPE_PAD) {
            pos += h.len;
            continue;
        }
        rec->len = h.len;
        rec->type = h.type;
        rec->flags = h.flags;
        rec->seq = h.seq;
        rec->data = buf;
        if (h.len > cap) {
            *cursor = pos;
            return MESH_EMSGSIZE;
        }
        if (h.len > 0)
            memcpy(buf, r->data + (pos & r->mask) + BUS_RING_REC_HDR, h.len);
        if (!ring_intact(r, pos, &tail)) {
            *cursor = tail; /* overwritten while copying */
            return MESH_ERANGE;
        }
        *cursor = pos + ring_rec_size(h.len);
        return 0;
    }
}
