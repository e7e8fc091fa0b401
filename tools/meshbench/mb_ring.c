/* meshbench transports "ring" and "trade": the bus SPSC ring, one POSIX shm
 * object per direction created by the parent. "ring" copies raw payloads in
 * (claim + memcpy + commit) and out (peek + memcpy); "trade" encodes a
 * meshpb.Trade straight into claimed space and decodes it with the arena.
 * The ring endpoints also serve "nng-route" (mb_bridge.c). */
#include "mb_ring.h"
#include "bus_ring.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_codec.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define RING_BATCH  32u  /* consumer releases after this many records, or when idle */
#define TRADE_CLAIM 256u /* claim size for one encoded trade (~60 bytes used) */
#define TRADE_ARENA 4096u
#define STAMP_AT    8u /* stamped payloads: CLOCK_MONOTONIC ns at bytes 8..15 */

struct mb_ep {
    mb_case *c;
    bus_ring *tx, *rx;
    uint32_t pending;  /* peeked on rx, not yet released */
    bool yield;        /* c->rings->yield */
    bool stamp;        /* c->rings->stamp, and not streaming */
    msg_arena *arena;  /* trade: decode arena */
    Meshpb__Trade out; /* trade: template for the next message */
};

int mb_rings_add(mb_case *c, mb_rings *r, const char *what)
{
    uint64_t cap = c->opts->ring_bytes;
    if (c->payload > bus_ring_default_max_record(cap)) {
        mesh_error("%s: %zu-byte payload exceeds the max record %u of a %llu-byte ring "
                   "(raise --ring-bytes)",
                   c->tr->name, c->payload, bus_ring_default_max_record(cap),
                   (unsigned long long)cap);
        return MESH_ETOOBIG;
    }
    if (r->n == MB_RING_MAX)
        return MESH_ENOSPC;
    char *name = r->name[r->n];
    int rc = bus_shm_name(name, MB_RING_NAME, c->tag, "ring", what, NULL);
    if (rc == 0)
        rc = bus_ring_create(name, cap, 0, BUS_RING_POLICY_WAIT);
    if (rc != 0) {
        name[0] = '\0'; /* nothing of ours to unlink */
        return rc;
    }
    return (int)r->n++;
}

void mb_rings_unlink(mb_rings *r)
{
    for (unsigned i = 0; i < r->n; i++)
        if (r->name[i][0])
            bus_shm_unlink(r->name[i]);
    r->n = 0;
}

static void ring_teardown(mb_case *c)
{
    mb_rings *r = c->setup_priv;
    if (r == NULL)
        return;
    mb_rings_unlink(r);
    free(r);
    c->setup_priv = NULL;
    c->rings = NULL;
}

/* One ring per direction: A produces into "ab", which B consumes. */
static int ring_create_pair(mb_case *c)
{
    mb_rings *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MESH_ENOMEM;
    c->setup_priv = r;
    c->rings = r;
    int ab = mb_rings_add(c, r, "ab");
    if (ab < 0)
        return ab;
    int ba = mb_rings_add(c, r, "ba");
    if (ba < 0)
        return ba; /* teardown unlinks what was created */
    r->tx[0] = r->rx[1] = ab;
    r->tx[1] = r->rx[0] = ba;
    return 0;
}

static int ring_setup(mb_case *c)
{
    return ring_create_pair(c);
}

void mb_ring_ep_close(mb_ep *ep)
{
    if (ep == NULL)
        return;
    if (ep->rx != NULL && ep->pending != 0)
        bus_ring_release(ep->rx);
    bus_ring_close(ep->tx);
    bus_ring_close(ep->rx);
    msg_arena_close(ep->arena);
    free(ep);
}

int mb_ring_ep_open(mb_case *c, mb_ep **out)
{
    const mb_rings *r = c->rings;
    mb_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return MESH_ENOMEM;
    ep->c = c;
    ep->yield = r->yield;
    ep->stamp = r->stamp;
    int rc = bus_ring_open(&ep->tx, r->name[r->tx[c->role]], BUS_RING_PRODUCER);
    if (rc == 0)
        rc = bus_ring_open(&ep->rx, r->name[r->rx[c->role]], BUS_RING_CONSUMER);
    if (rc != 0) {
        mb_ring_ep_close(ep);
        return rc;
    }
    if (r->db[c->role] != NULL)
        bus_ring_set_doorbell(ep->tx, r->db[c->role]);
    *out = ep;
    return 0;
}

/* One unsuccessful poll: yields first when other threads need the CPU. */
static int ring_poll_fail(mb_ep *ep, uint32_t *n)
{
    if (ep->yield)
        sched_yield();
    return mb_spin(ep->c, n);
}

/* Claims `len` bytes, spinning while the ring is full. */
static int ring_claim(mb_ep *ep, size_t len, void **p)
{
    uint32_t n = 0;
    int rc;
    while ((rc = bus_ring_claim(ep->tx, len, p)) == MESH_EAGAIN) {
        int src = ring_poll_fail(ep, &n);
        if (src != 0)
            return src;
    }
    return rc;
}

/* Streaming: the producer publishes the head once per batch of bytes (one
 * cross-core line transfer per batch instead of per message); leaving it
 * flushes what is held back. Stamping is for the latency phase only. */
int mb_ring_ep_stream(mb_ep *ep, int on)
{
    uint32_t batch = on ? ep->c->opts->publish_batch : 0;
    uint64_t max = ep->c->opts->ring_bytes / 4;
    ep->stamp = !on && ep->c->rings->stamp;
    return bus_ring_set_publish_batch(ep->tx, batch > max ? (uint32_t)max : batch);
}

int mb_ring_ep_send(mb_ep *ep, const uint8_t *buf, size_t len)
{
    uint8_t *p;
    int rc = ring_claim(ep, len, (void **)&p);
    if (rc != 0)
        return rc;
    memcpy(p, buf, len);
    if (ep->stamp && len >= STAMP_AT + sizeof(uint64_t)) {
        uint64_t now = mesh_now_ns();
        memcpy(p + STAMP_AT, &now, sizeof(now));
    }
    return bus_ring_commit(ep->tx, MB_RAW_TYPE, 0, len);
}

/* Peeks the next record, spinning while the ring is empty; records already
 * consumed are released (one store) before the first idle spin. */
static int ring_wait(mb_ep *ep, bus_ring_rec *rec)
{
    uint32_t n = 0;
    for (;;) {
        int rc = bus_ring_peek(ep->rx, rec);
        if (rc != MESH_EAGAIN)
            return rc;
        if (ep->pending != 0) {
            bus_ring_release(ep->rx);
            ep->pending = 0;
        }
        rc = ring_poll_fail(ep, &n);
        if (rc != 0)
            return rc;
    }
}

/* One record consumed: release every RING_BATCH records. */
static void ring_done(mb_ep *ep)
{
    if (++ep->pending >= RING_BATCH) {
        bus_ring_release(ep->rx);
        ep->pending = 0;
    }
}

int mb_ring_ep_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len)
{
    bus_ring_rec rec;
    int rc = ring_wait(ep, &rec);
    if (rc != 0)
        return rc;
    if (rec.len > cap)
        return mb_fail(ep->c, MESH_EMSGSIZE, "ring record of %u bytes > buffer %zu", rec.len, cap);
    memcpy(buf, rec.data, rec.len);
    *len = rec.len;
    if (ep->c->stamp != NULL && ep->stamp && rec.len >= STAMP_AT + sizeof(uint64_t)) {
        uint64_t now = mesh_now_ns(), sent;
        memcpy(&sent, buf + STAMP_AT, sizeof(sent));
        mesh_hist_record(ep->c->stamp, now > sent ? now - sent : 0);
    }
    ring_done(ep);
    return 0;
}

/* --- trade: meshpb.Trade encoded into the ring, decoded with the arena --- */

static void trade_template(Meshpb__Trade *t)
{
    meshpb__trade__init(t);
    t->symbol = "AAPL";
    t->venue = "XNAS";
    t->price = 189.25;
    t->size = 100.0;
    t->aggressor = MESHPB__SIDE__SIDE_BUY;
}

/* The payload figure reported for trade: the encoded size of a typical
 * message (seq around 2^20, current wall-clock stamps). */
static int trade_setup(mb_case *c)
{
    Meshpb__Trade t;
    trade_template(&t);
    t.seq = 1u << 20;
    t.trade_id = t.seq;
    t.ts_ns = t.recv_ts_ns = mesh_wall_ns();
    c->payload = msg_encoded_size(&t.base);
    return ring_create_pair(c);
}

static int trade_open(mb_case *c, mb_ep **out)
{
    int rc = mb_ring_ep_open(c, out);
    if (rc != 0)
        return rc;
    rc = msg_arena_open(&(*out)->arena, TRADE_ARENA);
    if (rc != 0) {
        mb_ring_ep_close(*out);
        *out = NULL;
        return rc;
    }
    trade_template(&(*out)->out);
    return 0;
}

/* Stamps the wall clock into the trade, encodes it into claimed ring space
 * and commits it. The harness sequence number (from 0) is seq - 1. */
static int trade_send(mb_ep *ep, const uint8_t *buf, size_t len)
{
    Meshpb__Trade *t = &ep->out;
    uint64_t seq;
    memcpy(&seq, buf, sizeof(seq));
    t->seq = seq + 1;
    t->trade_id = seq + 1;
    t->ts_ns = t->recv_ts_ns = mesh_wall_ns();
    void *p;
    int rc = ring_claim(ep, TRADE_CLAIM, &p);
    if (rc != 0)
        return rc;
    int n = msg_encode_typed(MSG_TYPE_TRADE, &t->base, p, TRADE_CLAIM);
    if (n < 0) {
        bus_ring_abort(ep->tx);
        return mb_fail(ep->c, n, "encode trade: %s", mesh_strerror(n));
    }
    return bus_ring_commit(ep->tx, MSG_TYPE_TRADE, 0, (size_t)n);
}

static int trade_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len)
{
    bus_ring_rec rec;
    int rc = ring_wait(ep, &rec);
    if (rc != 0)
        return rc;
    ProtobufCMessage *m = NULL;
    rc = msg_decode(rec.type, rec.data, rec.len, ep->arena, &m);
    if (rc != 0)
        return mb_fail(ep->c, rc, "decode record type %u, %u bytes: %s", rec.type, rec.len,
                       mesh_strerror(rc));
    if (m->descriptor != &meshpb__trade__descriptor)
        return mb_fail(ep->c, MESH_EPROTO, "record type %u is not a trade", rec.type);
    const Meshpb__Trade *t = (const Meshpb__Trade *)m;
    if (ep->c->stamp != NULL) {
        uint64_t now = mesh_wall_ns();
        mesh_hist_record(ep->c->stamp, now > t->recv_ts_ns ? now - t->recv_ts_ns : 0);
    }
    uint64_t seq = t->seq - 1;
    memcpy(buf, &seq, sizeof(seq));
    *len = rec.len;
    ring_done(ep);
    return 0;
}

const mb_transport mb_tr_ring = {
    .name = "ring",
    .what = "bus SPSC ring in POSIX shm, one per direction, busy-polled",
    .flags = 0,
    .setup = ring_setup,
    .teardown = ring_teardown,
    .open = mb_ring_ep_open,
    .close = mb_ring_ep_close,
    .send = mb_ring_ep_send,
    .stream = mb_ring_ep_stream,
    .recv = mb_ring_ep_recv,
};

const mb_transport mb_tr_trade = {
    .name = "trade",
    .what = "ring carrying meshpb.Trade: encode into claimed space, arena decode",
    .flags = MB_TR_ONE_SIZE,
    .setup = trade_setup,
    .teardown = ring_teardown,
    .open = trade_open,
    .close = mb_ring_ep_close,
    .send = trade_send,
    .stream = mb_ring_ep_stream,
    .recv = trade_recv,
};
