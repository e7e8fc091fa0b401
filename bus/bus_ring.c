/* SPSC ring hot path: claim/commit on the producer side, peek/release on the
 * consumer side, the copying and waiting conveniences built on them. */
#include "bus_ring.h"
#include "bus_atomic.h"
#include "bus_ring_int.h"
#include "mesh_clock.h"
#include "mesh_log.h"

#include <string.h>

const char *busi_ring_rec_invalid(const bus_ring *r, const struct ring_rec *h, uint64_t pos,
                                  uint64_t avail)
{
    uint64_t off = pos & r->mask;
    uint64_t room = r->cap - off; /* bytes to the end of the data area */
    if (h->type == BUS_RING_TYPE_PAD) {
        if (off == 0 || h->len != room)
            return "padding record length does not reach the end of the data area";
        if (h->len > avail)
            return "padding record runs past the producer position";
        return NULL;
    }
    if (avail < BUS_RING_REC_HDR || room < BUS_RING_REC_HDR)
        return "record header runs past the producer position or the data area";
    if (h->len > r->max_record)
        return "record length exceeds max_record";
    uint64_t need = ring_rec_size(h->len);
    if (need > avail)
        return "record runs past the producer position";
    if (need > room)
        return "record runs past the end of the data area";
    if (h->check != ring_check(h->len, h->type, h->flags, h->seq))
        return "record header check word mismatch";
    return NULL;
}

int busi_ring_corrupt(bus_ring *r, uint64_t pos, const char *why)
{
    if (!r->corrupt_logged) {
        r->corrupt_logged = 1;
        mesh_error("bus_ring %s: corrupt at position %llu (offset %llu): %s", r->name,
                   (unsigned long long)pos, (unsigned long long)(pos & r->mask), why);
    }
    return MESH_ECORRUPT;
}

/* Producer: reloads the consumer's tail. */
static int ring_reload_tail(bus_ring *r)
{
    /* Acquire: pairs with the release store of tail in bus_ring_release, so
     * the consumer's reads of the freed records finish before we overwrite. */
    uint64_t t = bus_load_acq_64(&r->shm->tail);
    if ((t & (BUS_RING_ALIGN - 1)) != 0)
        return busi_ring_corrupt(r, t, "consumer tail (shown as position) is not 8-aligned");
    if (t < r->tail_cache)
        return busi_ring_corrupt(r, t, "consumer tail (shown as position) went backwards");
    if (t > r->head)
        return busi_ring_corrupt(r, t,
                                 "consumer tail (shown as position) is past the producer head");
    r->tail_cache = t;
    return 0;
}

/* Producer: asks for ownership of the free lines just past head (last read
 * by the consumer a lap ago) before the next messages are written there.
 * Never touches lines the consumer has not released. */
static inline void ring_prefetch_write(bus_ring *r)
{
    uint64_t want = r->head + RING_PREFETCH, limit = r->tail_cache + r->cap;
    if (r->pf_write < r->head)
        r->pf_write = r->head & ~(uint64_t)63;
    for (; r->pf_write < want && r->pf_write + 64 <= limit; r->pf_write += 64)
        __builtin_prefetch(r->data + (r->pf_write & r->mask), 1, 3);
}

/* Consumer: prefetches committed lines from the read cursor on, so that
 * their transfers overlap: the lines of the next record (up to head) and
 * whole lines further ahead, but not the line the producer is filling
 * unless the next record needs it. */
static inline void ring_prefetch_read(bus_ring *r)
{
    uint64_t full = r->head_cache & ~(uint64_t)63, want = r->read + RING_PREFETCH;
    uint64_t now = r->read + 128 < r->head_cache ? r->read + 128 : r->head_cache;
    if (want > full)
        want = full > now ? full : now;
    if (r->pf_read < r->read)
        r->pf_read = r->read & ~(uint64_t)63;
    for (; r->pf_read < want; r->pf_read += 64)
        __builtin_prefetch(r->data + (r->pf_read & r->mask), 0, 3);
}

/* Producer: makes every commit so far visible to the consumer and rings its
 * doorbell if it sleeps. */
static void ring_publish(bus_ring *r)
{
    struct ring_shm *s = r->shm;
    /* Intent record first (undo values, then intent_head opens it): a
     * producer killed before the head store leaves head != intent_head, and
     * the next producer's attach (ring_recover) rolls next_seq and bytes back
     * to the undo values, so the sequence numbers of the never-visible
     * records are reused: no gap, no duplicate. */
    bus_store_64(&s->undo_seq, r->pub_seq);
    bus_store_64(&s->undo_bytes, r->pub_bytes);
    /* Release: the undo values are in memory before the intent is open.
     * Pairs with the acquire load of intent_head in ring_recover (run after
     * this process died) and in bus_ring_stats_get. */
    bus_store_rel_64(&s->intent_head, r->head);
    /* Release: next_seq never gets ahead of an open intent (same pairs). */
    bus_store_rel_64(&s->next_seq, r->next_seq);
    bus_store_64(&s->bytes, r->bytes);
    r->pub_seq = r->next_seq;
    r->pub_bytes = r->bytes;
    /* Release: the headers and payloads written before are visible before the
     * new head (and head == intent_head closes the intent). Pairs with the
     * acquire loads of head in ring_reload_head (consumer), bus_ring_observe
     * and ring_intact (observer) and bus_ring_stats_get (tools). */
    bus_store_rel_64(&s->head, r->head);
    /* Store fence (seqlock writer side): this head is visible before any
     * record byte this producer writes next, which may overwrite records up
     * to head + ring_write_guard - capacity that an observer is copying.
     * Pairs with the load fence in ring_intact: an observer whose copy read
     * such a byte then loads this head (or a later one) and drops the copy.
     * Free on x86 (a compiler barrier: TSO keeps stores in order). */
    bus_fence_store();
    r->published = r->head;
    if (r->db != NULL && bus_doorbell_notify(r->db))
        bus_add_64(&s->wakeups, 1);
}

int bus_ring_flush(bus_ring *r)
{
    if (r->pstate == 0)
        return MESH_ESTATE;
    if (r->published != r->head)
        ring_publish(r);
    return 0;
}

int bus_ring_set_publish_batch(bus_ring *r, uint32_t bytes)
{
    if (r->pstate != RING_P_IDLE)
        return MESH_ESTATE;
    if (bytes > r->cap / 4)
        return MESH_EINVAL;
    bus_ring_flush(r);
    /* Observers must see the batch (how far past head the producer may be
     * writing) before this producer starts deferring: store, then full fence
     * before any record is written under the new batch. Pairs with the load
     * fence in ring_intact: an observer whose copy of a record read bytes
     * written after this fence then loads publish_batch (ring_write_guard)
     * and sees the new batch. */
    bus_store_32(&r->shm->publish_batch, bytes);
    bus_fence_full();
    r->publish_batch = bytes;
    return 0;
}

int bus_ring_claim(bus_ring *r, size_t len, void **ptr)
{
    if (r->pstate != RING_P_IDLE)
        return MESH_ESTATE;
    if (len > r->max_record)
        return MESH_ETOOBIG;
    uint64_t need = ring_rec_size(len);
    uint64_t pos = r->head;
    uint64_t off = pos & r->mask;
    uint64_t room = r->cap - off;
    uint64_t total = need <= room ? need : room + need; /* + padding to the end */
    if (pos + total - r->tail_cache > r->cap) {
        int rc = ring_reload_tail(r);
        if (rc < 0)
            return rc;
        if (pos + total - r->tail_cache > r->cap) {
            /* Full: whatever is still unpublished must reach the consumer,
             * or it could never free the space we are waiting for. */
            if (r->published != r->head)
                ring_publish(r);
            return MESH_EAGAIN;
        }
    }
    if (need > room) {
        /* Padding record; becomes visible only with the commit's head store. */
        struct ring_rec *pad = (struct ring_rec *)(r->data + off);
        pad->len = (uint32_t)room;
        pad->type = BUS_RING_TYPE_PAD;
        pos += room;
        off = 0;
    }
    r->claim_pos = pos;
    r->claim_len = len;
    r->pstate = RING_P_CLAIMED;
    *ptr = r->data + off + BUS_RING_REC_HDR;
    return 0;
}

int bus_ring_commit(bus_ring *r, uint32_t type, uint32_t flags, size_t used_len)
{
    if (r->pstate != RING_P_CLAIMED)
        return MESH_ESTATE;
    if (used_len > r->claim_len || type == BUS_RING_TYPE_PAD)
        return MESH_EINVAL;
    struct ring_rec *h = (struct ring_rec *)(r->data + (r->claim_pos & r->mask));
    uint64_t seq = r->next_seq;
    h->len = (uint32_t)used_len;
    h->type = type;
    h->flags = flags;
    h->seq = seq;
    h->check = ring_check((uint32_t)used_len, type, flags, seq);
    r->pstate = RING_P_IDLE;
    r->next_seq = seq + 1;
    r->bytes += used_len;
    r->head = r->claim_pos + ring_rec_size(used_len);
    if (r->head - r->published >= r->publish_batch)
        ring_publish(r);
    ring_prefetch_write(r);
    return 0;
}

void bus_ring_abort(bus_ring *r)
{
    if (r->pstate == RING_P_CLAIMED)
        r->pstate = RING_P_IDLE;
}

/* Consumes n sequence numbers without records, counted as drops, so the
 * consumer sees the gap (DROP policy: n = 1; bus_ring_skip: any n). Head is
 * final here (a failed claim published everything; bus_ring_skip flushes
 * first); the intent record (as in ring_publish, opened by intent_drops)
 * makes a producer killed between the next_seq and drops stores leave
 * neither a gap nor a count (ring_recover rolls next_seq back). */
static void ring_drop(bus_ring *r, uint64_t n)
{
    struct ring_shm *s = r->shm;
    uint64_t drops = bus_load_64(&s->drops) + n;
    bus_store_64(&s->undo_seq, r->pub_seq);
    bus_store_64(&s->undo_bytes, r->pub_bytes);
    /* Release: undo values before the intent opens. Pairs with the acquire
     * load of intent_drops in ring_recover and bus_ring_stats_get. */
    bus_store_rel_64(&s->intent_drops, drops);
    r->next_seq += n;
    /* Release: next_seq never gets ahead of an open intent (same pairs). */
    bus_store_rel_64(&s->next_seq, r->next_seq);
    r->pub_seq = r->next_seq;
    /* Release: closes the intent (drops == intent_drops) after next_seq.
     * Pairs with the acquire load of drops in bus_ring_stats_get, which then
     * sees this next_seq too (messages never underflow). */
    bus_store_rel_64(&s->drops, drops);
}

int bus_ring_skip(bus_ring *r, uint64_t n)
{
    if (r->pstate != RING_P_IDLE)
        return MESH_ESTATE;
    /* next_seq first: past 2^63 - 1 (commits after a skip to the limit can
     * get there; attach refuses it) the subtraction would wrap and let any
     * n through. */
    if (r->next_seq > UINT64_MAX / 2 || n > UINT64_MAX / 2 - r->next_seq)
        return MESH_EINVAL;
    if (n == 0)
        return 0;
    if (r->published != r->head)
        ring_publish(r); /* the gap comes after every record committed so far */
    ring_drop(r, n);
    return 0;
}

int bus_ring_claim_wait(bus_ring *r, size_t len, void **ptr, uint64_t timeout_ns)
{
    int rc = bus_ring_claim(r, len, ptr);
    if (rc != MESH_EAGAIN)
        return rc;
    if (r->policy == BUS_RING_POLICY_DROP) {
        ring_drop(r, 1);
        return BUS_RING_DROPPED;
    }
    bus_add_64(&r->shm->full_waits, 1);
    uint64_t start = mesh_now_ns();
    bus_backoff b;
    bus_backoff_init(&b, &r->wait);
    for (;;) {
        bus_backoff_step(&b);
        rc = bus_ring_claim(r, len, ptr);
        if (rc != MESH_EAGAIN)
            return rc;
        if (timeout_ns != UINT64_MAX && mesh_now_ns() - start >= timeout_ns)
            return MESH_ETIMEDOUT;
    }
}

/* Copies a payload into the open claim and commits it. */
static int ring_fill_commit(bus_ring *r, void *p, uint32_t type, const void *data, size_t len)
{
    if (len > 0)
        memcpy(p, data, len);
    return bus_ring_commit(r, type, 0, len);
}

int bus_ring_push(bus_ring *r, uint32_t type, const void *data, size_t len)
{
    void *p;
    if (type == BUS_RING_TYPE_PAD)
        return MESH_EINVAL;
    int rc = bus_ring_claim(r, len, &p);
    return rc < 0 ? rc : ring_fill_commit(r, p, type, data, len);
}

int bus_ring_push_wait(bus_ring *r, uint32_t type, const void *data, size_t len,
                       uint64_t timeout_ns)
{
    void *p;
    if (type == BUS_RING_TYPE_PAD)
        return MESH_EINVAL;
    int rc = bus_ring_claim_wait(r, len, &p, timeout_ns);
    return rc < 0 ? rc : ring_fill_commit(r, p, type, data, len);
}

/* Consumer: reloads the producer's head; tracks the high-water depth. */
static int ring_reload_head(bus_ring *r)
{
    /* Acquire: pairs with the release store of head in ring_publish, so
     * the record bytes are read only after they were published. */
    uint64_t h = bus_load_acq_64(&r->shm->head);
    if ((h & (BUS_RING_ALIGN - 1)) != 0)
        return busi_ring_corrupt(r, h, "producer head (shown as position) is not 8-aligned");
    if (h < r->head_cache)
        return busi_ring_corrupt(r, h, "producer head (shown as position) went backwards");
    if (h - r->released > r->cap)
        return busi_ring_corrupt(r, h,
                                 "producer head (shown as position) is more than capacity "
                                 "ahead of the consumer tail");
    r->head_cache = h;
    uint64_t depth = h - r->released;
    if (depth > r->high_water) {
        r->high_water = depth;
        bus_store_64(&r->shm->high_water, depth); /* relaxed: a counter for tools */
    }
    return 0;
}

/* Consumer: 1 if a committed record waits at the read cursor (reloading
 * head once the cached copy is used up), 0 if not, or an error. */
static int ring_poll(bus_ring *r)
{
    if (r->read != r->head_cache)
        return 1;
    int rc = ring_reload_head(r);
    if (rc < 0)
        return rc;
    return r->read != r->head_cache;
}

int bus_ring_peek(bus_ring *r, bus_ring_rec *rec)
{
    if (r->role != BUS_RING_CONSUMER)
        return MESH_ESTATE;
    for (;;) {
        int rc = ring_poll(r);
        if (rc <= 0)
            return rc < 0 ? rc : MESH_EAGAIN;
        uint64_t pos = r->read, off = pos & r->mask, avail = r->head_cache - pos;
        ring_prefetch_read(r);
        const uint8_t *at = r->data + off;
        struct ring_rec h;
        ring_copy_hdr(r, off, &h);
        /* Compiler barrier: validate and use this one copy, never a re-read
         * of memory the other process could be changing. */
        ck_pr_barrier();
        uint64_t need = ring_rec_size(h.len);
        if (__builtin_expect(h.type != BUS_RING_TYPE_PAD && h.len <= r->max_record &&
                                 need <= avail && need <= r->cap - off &&
                                 h.check == ring_check(h.len, h.type, h.flags, h.seq),
                             1)) {
            rec->data = at + BUS_RING_REC_HDR;
            rec->len = h.len;
            rec->type = h.type;
            rec->flags = h.flags;
            rec->seq = h.seq;
            r->read = pos + need;
            return 0;
        }
        const char *why = busi_ring_rec_invalid(r, &h, pos, avail);
        if (why != NULL)
            return busi_ring_corrupt(r, pos, why);
        r->read = pos + h.len; /* valid padding: continue at offset 0 */
    }
}

void bus_ring_release(bus_ring *r)
{
    if (r->role != BUS_RING_CONSUMER || r->read == r->released)
        return;
    r->released = r->read;
    /* Release: our reads of every record before `read` finish before the
     * producer may reuse the space. Pairs with the acquire loads of tail in
     * ring_reload_tail and at producer attach (ring_init_handle); observers'
     * acquire loads (ring_intact, bus_ring_observe, bus_ring_stats_get) only
     * use it as a position. */
    bus_store_rel_64(&r->shm->tail, r->read);
}

int bus_ring_pop(bus_ring *r, bus_ring_rec *rec, void *buf, size_t cap)
{
    bus_ring_rec tmp;
    if (rec == NULL)
        rec = &tmp;
    uint64_t before = r->read;
    int rc = bus_ring_peek(r, rec);
    if (rc < 0)
        return rc;
    if (rec->len > cap) {
        r->read = before;
        rec->data = NULL;
        return MESH_EMSGSIZE;
    }
    if (rec->len > 0)
        memcpy(buf, rec->data, rec->len);
    rec->data = buf;
    bus_ring_release(r);
    return 0;
}

int bus_ring_ready(bus_ring *r)
{
    if (r->role != BUS_RING_CONSUMER)
        return 0;
    /* An error reports ready so that the caller's peek sees it. */
    return ring_poll(r) != 0;
}
