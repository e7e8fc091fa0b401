/* meshctl tail: attaches every ring carrying a message type as a read-only
 * observer and prints each record of that type as one JSON line. Never
 * consumes or slows the engines; when it falls behind a consumer it skips to
 * the consumer's position and says how often that happened. */
#include "mctl.h"

#include "bus_ring.h"
#include "bus_shm.h"
#include "mesh_error.h"
#include "msg_arena.h"
#include "msg_json.h"
#include "msg_registry.h"
#include "mesh_clock.h"
#include "sup_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tail_ring {
    bus_ring *r;
    uint64_t cursor;
    char label[2 * MESH_NAME_MAX + 8];
} tail_ring;

/* The config path: --config, else the one meshd reports. */
static int config_path(const mctl *c, char *out, size_t len)
{
    char *reply = NULL;
    sup_jval *v = NULL;
    if (c->config) {
        snprintf(out, len, "%s", c->config);
        return 0;
    }
    int rc = mctl_request(c, "status", &reply, NULL);
    if (rc == 0)
        rc = mctl_parse_reply(reply, &v);
    if (rc == 0)
        snprintf(out, len, "%s", sup_jval_gstr(v, "config", ""));
    sup_jval_free(v);
    free(reply);
    return rc;
}

static int route_carries(const mesh_route_cfg *rt, uint32_t type)
{
    for (int t = 0; t < rt->ntypes; t++)
        if (rt->types[t] == (int)type)
            return 1;
    return 0;
}

static int open_rings(const mesh_config *cfg, uint32_t type, tail_ring *tr, int *n)
{
    *n = 0;
    for (int i = 0; i < cfg->nroutes; i++) {
        const mesh_route_cfg *rt = &cfg->routes[i];
        if (!route_carries(rt, type))
            continue;
        char name[256];
        int rc = bus_shm_name(name, sizeof(name), cfg->name, "ring", rt->from, rt->to);
        if (rc == 0)
            rc = bus_ring_open(&tr[*n].r, name, BUS_RING_OBSERVER);
        if (rc != 0) {
            fprintf(stderr,
                    "meshctl: cannot attach ring %s (%s -> %s): %s (is the mesh running?)\n", name,
                    rt->from, rt->to, mesh_strerror(rc));
            return rc;
        }
        tr[*n].cursor = 0;
        snprintf(tr[*n].label, sizeof(tr[*n].label), "%s->%s", rt->from, rt->to);
        (*n)++;
    }
    return 0;
}

/* One pass over every ring. Returns records printed; counts skips. */
static long pass(tail_ring *tr, int n, uint32_t type, void *buf, size_t cap, msg_arena *arena,
                 long left, unsigned long *skips)
{
    long printed = 0;
    for (int i = 0; i < n && printed < left; i++) {
        for (int k = 0; k < 4096 && printed < left; k++) {
            bus_ring_rec rec;
            int rc = bus_ring_observe(tr[i].r, &tr[i].cursor, &rec, buf, cap);
            if (rc == MESH_ERANGE) {
                if ((*skips)++ == 0)
                    fprintf(stderr, "meshctl: fell behind on %s: skipped to the consumer\n",
                            tr[i].label);
                continue;
            }
            if (rc != 0)
                break; /* MESH_EAGAIN: nothing newer; anything else: try next pass */
            if (rec.type != type)
                continue;
            if (msg_json_record_fprint(stdout, rec.type, rec.data, rec.len, arena) == 0)
                printed++;
        }
    }
    fflush(stdout);
    return printed;
}

/* What a tail holds while it runs. */
typedef struct tail_ctx {
    const msg_type_info *ti;
    mesh_config *cfg;
    tail_ring *tr; /* [MESH_CFG_MAX_ROUTES] */
    int n;
    void *buf; /* one record, copied out of a ring */
    size_t cap;
    msg_arena *arena;
} tail_ctx;

static int unknown_type(const char *type_name)
{
    fprintf(stderr, "meshctl: unknown message type '%s'; known types:", type_name);
    for (size_t i = 0; msg_type_at(i); i++)
        fprintf(stderr, " %s", msg_type_at(i)->name);
    fprintf(stderr, "\n");
    return 2;
}

/* Loads the config and attaches every ring carrying the type. Returns 0, or
 * the exit status (messages printed). */
static int tail_open(tail_ctx *t, const mctl *c)
{
    char path[4096];
    static char err[SUP_CONFIG_ERRLEN];
    if (config_path(c, path, sizeof(path)) != 0)
        return 1;
    if (sup_config_load_for_tool(&t->cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshctl: %s:\n%s", path, err);
        return 1;
    }
    if (open_rings(t->cfg, t->ti->id, t->tr, &t->n) != 0)
        return 1;
    if (t->n == 0) {
        fprintf(stderr, "meshctl: no local route of mesh %s carries '%s'\n", t->cfg->name,
                t->ti->name);
        return 1;
    }
    for (int i = 0; i < t->n; i++) /* a copy buffer that holds any record */
        if (bus_ring_max_record(t->tr[i].r) > t->cap)
            t->cap = bus_ring_max_record(t->tr[i].r);
    t->buf = malloc(t->cap);
    if (!t->buf || msg_arena_open(&t->arena, 4 * t->cap + MSG_ARENA_DEFAULT_SIZE) != 0) {
        fprintf(stderr, "meshctl: out of memory for a %zu-byte record buffer\n", t->cap);
        return 1;
    }
    return 0;
}

/* Prints records until `count` were shown (0 = for ever) or the timeout.
 * Returns the exit status. */
static int tail_loop(tail_ctx *t, long count, unsigned timeout_ms)
{
    long done = 0;
    unsigned long skips = 0;
    uint64_t deadline = timeout_ms ? mesh_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    while (count <= 0 || done < count) {
        long left = count > 0 ? count - done : 1L << 62;
        long got = pass(t->tr, t->n, t->ti->id, t->buf, t->cap, t->arena, left, &skips);
        done += got;
        if (deadline && mesh_now_ns() > deadline)
            break;
        if (got == 0) {
            struct timespec ts = {0, 2000000}; /* 2 ms between idle passes */
            nanosleep(&ts, NULL);
        }
    }
    if (skips)
        fprintf(stderr, "meshctl: fell behind %lu time(s): some records were not shown\n", skips);
    if (count <= 0 || done >= count)
        return 0;
    fprintf(stderr, "meshctl: %ld of %ld '%s' messages seen before the timeout\n", done, count,
            t->ti->name);
    return 1;
}

static void tail_close(tail_ctx *t)
{
    for (int i = 0; i < t->n; i++)
        bus_ring_close(t->tr[i].r);
    msg_arena_close(t->arena);
    free(t->buf);
    mesh_config_free(t->cfg);
}

int mctl_tail(const mctl *c, const char *type_name, long count, unsigned timeout_ms)
{
    static tail_ring tr[MESH_CFG_MAX_ROUTES];
    tail_ctx t = {.tr = tr};
    if (msg_type_by_name(type_name, &t.ti) != 0)
        return unknown_type(type_name);
    int status = tail_open(&t, c);
    if (status == 0)
        status = tail_loop(&t, count, timeout_ms);
    tail_close(&t);
    return status;
}
