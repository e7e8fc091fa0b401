/* Bridge handshake: the sender's HELLO on every new connection (its mesh,
 * and per route: id, policy, type ids), and the receiver's check against its
 * own config, which binds each accepted route to that one connection. */
#include "bridge_int.h"

#include "mesh_error.h"
#include "mesh_log.h"

#include <stdio.h>
#include <string.h>

/* A HELLO that cannot be built (should not happen: bridge_add_route checks
 * what goes into it): the bridge reports itself dead, so that it is
 * restarted and the failure seen, rather than carry routes the peer rejects. */
static void hello_failed(bridge *b, bridge_link *l, int rc)
{
    if (!bridge_atomic_get(&b->failed))
        mesh_error("peer %s (%s): cannot build the HELLO: %s: the bridge reports itself dead",
                   l->peer, l->url, mesh_strerror(rc));
    bridge_atomic_set(&b->failed, 1);
}

_Static_assert(MESH_CFG_MAX_TYPES <= BRIDGE_HELLO_TYPES, "a route's type ids fit its HELLO entry");

int bridge_link_hello(bridge *b, bridge_link *l)
{
    uint64_t gen = bridge_atomic_get(&l->gen);
    if (gen == l->hello_gen)
        return 1;
    size_t cap = BRIDGE_FRAME_HDR + BRIDGE_HELLO_FIXED;
    for (int i = 0; i < b->nout; i++)
        if (b->out[i]->link == l)
            cap += 16 + 4 * BRIDGE_HELLO_TYPES;
    nng_msg *m;
    if (nng_msg_alloc(&m, cap) != 0)
        return 0;
    bridge_frame_enc e;
    int rc = bridge_hello_begin(&e, nng_msg_body(m), cap, b->epoch, b->o.mesh ? b->o.mesh : "-",
                                l->peer);
    for (int i = 0; i < b->nout && rc == 0; i++) {
        const bridge_out *r = b->out[i];
        if (r->link == l) /* sized above; types were checked by bridge_add_route */
            rc = bridge_hello_add(&e, r->route, r->reliable ? MESH_POLICY_WAIT : MESH_POLICY_DROP,
                                  r->types, r->ntypes);
    }
    if (rc < 0) { /* a HELLO missing a route would get all its data rejected */
        nng_msg_free(m);
        hello_failed(b, l, rc);
        return 0;
    }
    size_t len = bridge_hello_finish(&e);
    nng_msg_chop(m, cap - len);
    /* Pipes keep message order: data frames queued after it follow it. A
     * connection that changes meanwhile gets another HELLO (gen moved). */
    if (nng_sendmsg(l->sock, m, NNG_FLAG_NONBLOCK) != 0) {
        nng_msg_free(m);
        return 0;
    }
    l->hello_gen = gen;
    return 1;
}

/* "[1,2,5]" or "any". */
static void types_text(char *buf, size_t len, const uint32_t *t, uint32_t n)
{
    size_t pos = (size_t)snprintf(buf, len, n ? "[" : "any");
    for (uint32_t i = 0; i < n && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%u", i ? "," : "", t[i]);
    if (n && pos < len)
        snprintf(buf + pos, len - pos, "]");
}

/* What differs between the sender's announcement and our route (NULL:
 * nothing), written into why. */
static const char *route_differs(const bridge_in *r, const bridge_hello_route *h, char *why,
                                 size_t len)
{
    uint32_t t[MESH_CFG_MAX_TYPES];
    int sorted = bridge_types_sorted(r->types, r->ntypes, t);
    if (sorted < 0) { /* an id no sender can announce: bridge_add_route refuses them */
        snprintf(why, len, "route %s -> %s: this route's type ids cannot be announced", r->from,
                 r->to);
        return why;
    }
    uint32_t n = (uint32_t)sorted;
    uint32_t ours = r->reliable ? MESH_POLICY_WAIT : MESH_POLICY_DROP;
    if (h->policy != ours) {
        snprintf(why, len, "route %s -> %s: policy differs (sender: %s, here: %s)", r->from, r->to,
                 h->policy == MESH_POLICY_WAIT ? "wait" : "drop",
                 ours == MESH_POLICY_WAIT ? "wait" : "drop");
        return why;
    }
    if (n != h->ntypes || memcmp(t, h->types, n * sizeof(t[0])) != 0) {
        char a[200], b[200];
        types_text(a, sizeof(a), h->types, h->ntypes);
        types_text(b, sizeof(b), t, n);
        snprintf(why, len, "route %s -> %s: type ids differ (sender: %s, here: %s)", r->from, r->to,
                 a, b);
        return why;
    }
    return NULL;
}

/* Binds route r to connection p of mesh `mesh`, or explains why not. */
static const char *bind_route(bridge *b, bridge_in *r, nng_pipe p, const char *mesh,
                              const char *from, char *why, size_t len)
{
    int same = nng_pipe_id(p) == nng_pipe_id(r->pipe);
    if (!same && bridge_pipe_alive(r->pipe)) {
        if (strcmp(mesh, r->peer_mesh) != 0) {
            char held[64];
            bridge_pipe_addr(r->pipe, held, sizeof(held));
            bridge_atomic_inc(&b->hdr->route_conflicts);
            snprintf(why, len,
                     "route %s -> %s: already carried for mesh %s from %s; a second connection "
                     "(mesh %s from %s) is refused",
                     r->from, r->to, r->peer_mesh, held, mesh, from);
            return why;
        }
        /* The same mesh again (its bridge restarted or redialled before we
         * noticed the old connection die): the new connection supersedes. */
        nng_pipe_close(r->pipe);
    }
    if (!same) {
        if (nng_pipe_id(r->pipe) > 0)
            bridge_slot_add(r->slot, BRIDGE_C_RECONNECTS, 1);
        mesh_info("route %s -> %s: carried for mesh %s from %s", r->from, r->to, mesh, from);
    }
    r->pipe = p;
    snprintf(r->peer_mesh, sizeof(r->peer_mesh), "%s", mesh);
    bridge_slot_set(r->slot, BRIDGE_C_LINK_UP, 1);
    return NULL;
}

/* Refused routes: logged one by one, counted, and told to the sender. */
static void refuse(bridge *b, nng_pipe p, const char *reasons)
{
    nng_msg *m;
    size_t cap = BRIDGE_FRAME_HDR + 1024;
    if (nng_msg_alloc(&m, cap) != 0)
        return;
    size_t len = bridge_hello_refuse_encode(nng_msg_body(m), cap, b->epoch, reasons);
    nng_msg_chop(m, cap - len);
    nng_msg_set_pipe(m, p);
    if (nng_sendmsg(b->lsock, m, NNG_FLAG_NONBLOCK) != 0)
        nng_msg_free(m);
}

void bridge_rx_hello(bridge *b, nng_msg *m)
{
    const void *body = nng_msg_body(m);
    size_t len = nng_msg_len(m), pos = 0, rlen = 0;
    nng_pipe p = nng_msg_get_pipe(m);
    char mesh[BRIDGE_HELLO_NAME], peer[BRIDGE_HELLO_NAME], from[64], why[512], reasons[1024] = "";
    bridge_hello_names(body, len, mesh, peer);
    bridge_pipe_addr(p, from, sizeof(from));
    bridge_hello_route hr;
    while (bridge_hello_next(body, len, &pos, &hr)) {
        bridge_in *r = bridge_find_in(b, hr.id);
        const char *no = NULL;
        if (!r) {
            snprintf(why, sizeof(why),
                     "route id %016llx matches no inbound route here (from/to names differ "
                     "between the configs?)",
                     (unsigned long long)hr.id);
            no = why;
        } else {
            no = route_differs(r, &hr, why, sizeof(why));
            if (!no)
                no = bind_route(b, r, p, mesh, from, why, sizeof(why));
        }
        if (!no)
            continue;
        if (r)
            bridge_slot_add(r->slot, BRIDGE_C_BAD_FRAMES, 1);
        bridge_atomic_inc(&b->hdr->hello_refused);
        mesh_warn("handshake from mesh %s (calls us %s) at %s: %s: refused", mesh,
                  peer[0] ? peer : "-", from, no);
        if (rlen < sizeof(reasons))
            rlen += (size_t)snprintf(reasons + rlen, sizeof(reasons) - rlen, "%s%s",
                                     rlen ? "; " : "", no);
    }
    if (rlen)
        refuse(b, p, reasons);
}
