/* Bridge life cycle: routes, nng sockets (one pair1 dialer per peer URL for
 * outbound routes, one polyamorous pair1 listener for inbound ones), the
 * connection callbacks, the two threads, and the drain on stop. */
#include "bridge_int.h"

#include "bus_atomic.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t bridge_atomic_get(const uint64_t *p)
{
    return bus_load_64(p);
}

void bridge_atomic_set(uint64_t *p, uint64_t v)
{
    bus_store_64(p, v);
}

void bridge_atomic_inc(uint64_t *p)
{
#ifdef BUS_TSAN
    __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
#else
    ck_pr_inc_64(p); /* lock-prefixed RMW: several nng threads may count */
#endif
}

void bridge_ratelog_warn(bridge_ratelog *rl, const char *fmt, ...)
{
    uint64_t now = mesh_now_ns();
    if (rl->last_ns && now - rl->last_ns < BRIDGE_LOG_NS) {
        rl->suppressed++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        mesh_warn("%s (and %llu more like it in the last second)", msg,
                  (unsigned long long)rl->suppressed);
    else
        mesh_warn("%s", msg);
    rl->last_ns = now;
    rl->suppressed = 0;
}

int bridge_nng_err(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        return MESH_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return MESH_EINVAL;
    case NNG_EADDRINUSE:
        return MESH_EADDRINUSE;
    case NNG_ECONNREFUSED:
        return MESH_ECONNREFUSED;
    case NNG_ETIMEDOUT:
        return MESH_ETIMEDOUT;
    case NNG_EAGAIN:
        return MESH_EAGAIN;
    case NNG_ECLOSED:
        return MESH_ECLOSED;
    case NNG_EMSGSIZE:
        return MESH_EMSGSIZE;
    case NNG_EPERM:
        return MESH_EPERM;
    case NNG_ENOTSUP:
        return MESH_ENOSYS;
    default:
        return MESH_EIO;
    }
}

void bridge_opts_default(bridge_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->batch_bytes = 64u << 10;
    o->batch_records = 4096;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 2000;
}

int bridge_open(bridge **out, const bridge_opts *opts)
{
    if (!out || !opts || !opts->state)
        return MESH_EINVAL;
    bridge *b = calloc(1, sizeof(*b));
    if (!b)
        return MESH_ENOMEM;
    b->o = *opts;
    if (b->o.batch_bytes < 4096)
        b->o.batch_bytes = 4096;
    if (b->o.batch_records == 0)
        b->o.batch_records = 4096;
    if (b->o.reconnect_min_ms == 0)
        b->o.reconnect_min_ms = 100;
    if (b->o.reconnect_max_ms < b->o.reconnect_min_ms)
        b->o.reconnect_max_ms = b->o.reconnect_min_ms;
    b->hdr = bridge_state_header(opts->state);
    b->epoch = bridge_word_get(&b->hdr->epoch);
    *out = b;
    return 0;
}

static bridge_link *link_for(bridge *b, const char *url, const char *peer)
{
    for (int i = 0; i < b->nlinks; i++)
        if (strcmp(b->link[i].url, url) == 0)
            return &b->link[i];
    if (b->nlinks == BRIDGE_MAX_LINKS)
        return NULL;
    bridge_link *l = &b->link[b->nlinks++];
    memset(l, 0, sizeof(*l));
    l->b = b;
    snprintf(l->url, sizeof(l->url), "%s", url);
    snprintf(l->peer, sizeof(l->peer), "%s", peer ? peer : url);
    return l;
}

static int route_fail(char *err, size_t errlen, int code, const bridge_route_def *d,
                      const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "route %s -> %s: %s", d->from ? d->from : "?", d->to ? d->to : "?",
                 what);
    return code;
}

/* The type list: at most MESH_CFG_MAX_TYPES ids, each one the HELLO can
 * announce (bridge_types_sorted: not 0 or 0xffffffff). A route whose ids
 * could not be announced would be missing from the HELLO, and all its data
 * rejected by the peer. Returns 0 or MESH_EINVAL with the reason in err. */
static int check_types(const bridge_route_def *d, char *err, size_t errlen)
{
    char why[128];
    if (d->ntypes < 0 || d->ntypes > MESH_CFG_MAX_TYPES) {
        snprintf(why, sizeof(why), "bad type list: %d ids (0 to %d)", d->ntypes,
                 MESH_CFG_MAX_TYPES);
        return route_fail(err, errlen, MESH_EINVAL, d, why);
    }
    if (d->ntypes > 0 && !d->types)
        return route_fail(err, errlen, MESH_EINVAL, d, "bad type list: ntypes without types");
    uint32_t sorted[MESH_CFG_MAX_TYPES];
    if (bridge_types_sorted(d->types, d->ntypes, sorted) >= 0)
        return 0;
    uint32_t bad = 0;
    for (int i = 0; i < d->ntypes; i++)
        if ((uint32_t)d->types[i] == 0 || (uint32_t)d->types[i] == 0xffffffffu)
            bad = (uint32_t)d->types[i];
    snprintf(why, sizeof(why),
             "type id %u is reserved (0 and 4294967295 cannot be announced to the peer)", bad);
    return route_fail(err, errlen, MESH_EINVAL, d, why);
}

/* Route ids must be unique per direction: the receiver finds routes by id. */
static int route_id_taken(const bridge *b, uint64_t id, enum bridge_dir dir)
{
    if (dir == BRIDGE_DIR_OUT) {
        for (int i = 0; i < b->nout; i++)
            if (b->out[i]->route == id)
                return 1;
    } else {
        for (int i = 0; i < b->nin; i++)
            if (b->in[i]->route == id)
                return 1;
    }
    return 0;
}

static int add_out(bridge *b, const bridge_route_def *d, bridge_slot *slot, char *err,
                   size_t errlen)
{
    if (!d->url || !*d->url)
        return route_fail(err, errlen, MESH_EINVAL, d, "outbound route without a peer URL");
    bridge_link *l = link_for(b, d->url, d->peer);
    if (!l)
        return route_fail(err, errlen, MESH_ENOSPC, d, "too many peer addresses");
    bridge_out *r = calloc(1, sizeof(*r));
    if (!r)
        return MESH_ENOMEM;
    r->slot = slot;
    r->ring = d->ring;
    r->link = l;
    r->route = bridge_route_id(d->from, d->to);
    r->reliable = d->policy == MESH_POLICY_WAIT;
    r->ntypes = d->ntypes;
    for (int i = 0; i < d->ntypes; i++)
        r->types[i] = d->types[i];
    bridge_out_init(b, r);
    b->out[b->nout++] = r;
    return 0;
}

static int add_in(bridge *b, const bridge_route_def *d, bridge_slot *slot, char *err, size_t errlen)
{
    bridge_in *r = calloc(1, sizeof(*r));
    if (!r)
        return MESH_ENOMEM;
    r->slot = slot;
    r->ring = d->ring;
    r->route = bridge_route_id(d->from, d->to);
    r->reliable = d->policy == MESH_POLICY_WAIT;
    r->ntypes = d->ntypes;
    for (int i = 0; i < d->ntypes; i++)
        r->types[i] = d->types[i];
    snprintf(r->from, sizeof(r->from), "%s", d->from);
    snprintf(r->to, sizeof(r->to), "%s", d->to);
    if (bridge_in_init(b, r) < 0) {
        free(r);
        return MESH_ENOMEM;
    }
    b->in[b->nin++] = r;
    return 0;
}

int bridge_add_route(bridge *b, const bridge_route_def *d, char *err, size_t errlen)
{
    if (!b || !d || !d->from || !d->to || !d->ring)
        return MESH_EINVAL;
    if (b->started)
        return route_fail(err, errlen, MESH_ESTATE, d, "bridge already started");
    if (d->dir != BRIDGE_DIR_OUT && d->dir != BRIDGE_DIR_IN)
        return route_fail(err, errlen, MESH_EINVAL, d, "direction is neither in nor out");
    if ((d->dir == BRIDGE_DIR_OUT ? b->nout : b->nin) == BRIDGE_MAX_ROUTES)
        return route_fail(err, errlen, MESH_ENOSPC, d, "too many routes");
    int rc = check_types(d, err, errlen);
    if (rc < 0)
        return rc;
    uint64_t id = bridge_route_id(d->from, d->to);
    if (route_id_taken(b, id, d->dir))
        return route_fail(err, errlen, MESH_EINVAL, d,
                          "route id clashes with another route of the same direction (rename one "
                          "engine)");
    bridge_slot *slot = NULL;
    rc = bridge_state_slot(b->o.state, d->from, d->to, d->peer ? d->peer : "", d->dir, d->policy,
                           &slot);
    if (rc < 0)
        return route_fail(err, errlen, rc, d, "no counter slot left in the bridge state");
    bridge_word_set(&slot->route_id, id);
    return d->dir == BRIDGE_DIR_OUT ? add_out(b, d, slot, err, errlen)
                                    : add_in(b, d, slot, err, errlen);
}
