/* Bridge sequencing state machines (see bridge_seq.h for the protocol). */
#include "bridge_seq.h"

#include "mesh_error.h"

#include <stdlib.h>
#include <string.h>

static void rx_rebase(bridge_rxseq *s, const bridge_frame_hdr *h, bridge_rx_decision *d)
{
    s->known = 1;
    s->epoch = h->epoch;
    s->last = h->seq;
    d->new_stream = 1;
}

/* prev beyond last: the records in between never arrived. */
static void rx_count_gap(bridge_rxseq *s, const bridge_frame_hdr *h, bridge_rx_decision *d)
{
    if (h->seq > s->last) {
        d->gap = h->seq - s->last;
        if (d->gap > BRIDGE_RX_GAP_MAX) {
            d->gap = BRIDGE_RX_GAP_MAX;
            d->gap_capped = 1;
        }
        s->last = h->seq;
    }
}

static void rx_reliable(bridge_rxseq *s, const bridge_frame_hdr *h, int new_epoch,
                        bridge_rx_decision *d)
{
    if (h->flags & BRIDGE_FRAME_SYNC) {
        if (!new_epoch && s->synced && h->sync < s->sync) {
            d->verdict = BRIDGE_RX_STALE;
            return;
        }
        if (new_epoch)
            rx_rebase(s, h, d);
        else
            rx_count_gap(s, h, d); /* the sender resumes past what we have: lost */
        s->synced = 1;
        s->sync = h->sync;
        return;
    }
    if (new_epoch) {
        d->verdict = BRIDGE_RX_NACK; /* no baseline for this stream yet: need a SYNC frame */
        return;
    }
    if (h->seq > s->last) {
        /* Records between last and prev are missing. A frame of an older
         * generation is expected to be behind (a SYNC frame follows it). */
        d->verdict = s->synced && h->sync < s->sync ? BRIDGE_RX_STALE : BRIDGE_RX_NACK;
        return;
    }
    /* In sequence (prev <= last): apply; duplicates are skipped per record. */
    if (!s->synced || h->sync > s->sync)
        s->sync = h->sync;
    s->synced = 1;
}

void bridge_rxseq_frame(bridge_rxseq *s, const bridge_frame_hdr *h, int reliable,
                        bridge_rx_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->verdict = BRIDGE_RX_APPLY;
    int new_epoch = !s->known || h->epoch != s->epoch;
    if (reliable) {
        rx_reliable(s, h, new_epoch, d);
        return;
    }
    if (new_epoch)
        rx_rebase(s, h, d);
    else
        rx_count_gap(s, h, d);
}

int bridge_rxseq_record(const bridge_rxseq *s, uint64_t seq, uint64_t *missing)
{
    if (seq <= s->last) {
        *missing = 0;
        return 0;
    }
    *missing = seq - s->last - 1;
    return 1;
}

void bridge_rxseq_applied(bridge_rxseq *s, uint64_t seq)
{
    s->last = seq;
}

void bridge_txwin_clear(bridge_txwin *w)
{
    w->head = 0;
    w->n = 0;
    w->total = 0;
}

int bridge_txwin_push(bridge_txwin *w, uint64_t last_seq, uint64_t bytes)
{
    if (w->n == BRIDGE_TXWIN_MARKS)
        return MESH_ENOSPC;
    unsigned i = (w->head + w->n) % BRIDGE_TXWIN_MARKS;
    w->seq[i] = last_seq;
    w->bytes[i] = bytes;
    w->n++;
    w->total += bytes;
    return 0;
}

unsigned bridge_txwin_ack(bridge_txwin *w, uint64_t seq, uint64_t *release_to)
{
    unsigned popped = 0;
    while (w->n > 0 && w->seq[w->head] <= seq) {
        *release_to = w->seq[w->head];
        w->total -= w->bytes[w->head];
        w->head = (w->head + 1) % BRIDGE_TXWIN_MARKS;
        w->n--;
        popped++;
    }
    return popped;
}

int bridge_ackq_init(bridge_ackq *q, unsigned entries)
{
    memset(q, 0, sizeof(*q));
    if (entries == 0 || entries > BRIDGE_ACKQ_MAX)
        return MESH_EINVAL;
    q->pos = calloc(entries, sizeof(uint64_t));
    q->seq = calloc(entries, sizeof(uint64_t));
    if (!q->pos || !q->seq) {
        bridge_ackq_free(q);
        return MESH_ENOMEM;
    }
    q->cap = entries;
    return 0;
}

void bridge_ackq_free(bridge_ackq *q)
{
    free(q->pos);
    free(q->seq);
    memset(q, 0, sizeof(*q));
}

void bridge_ackq_clear(bridge_ackq *q)
{
    q->head = 0;
    q->n = 0;
}

void bridge_ackq_push(bridge_ackq *q, uint64_t pos, uint64_t seq)
{
    if (q->n == q->cap) {
        unsigned last = (q->head + q->n - 1) % q->cap;
        q->pos[last] = pos;
        q->seq[last] = seq;
        return;
    }
    unsigned i = (q->head + q->n) % q->cap;
    q->pos[i] = pos;
    q->seq[i] = seq;
    q->n++;
}

int bridge_ackq_consumed(bridge_ackq *q, uint64_t tail, uint64_t *seq)
{
    int any = 0;
    while (q->n > 0 && q->pos[q->head] <= tail) {
        *seq = q->seq[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        any = 1;
    }
    return any;
}
