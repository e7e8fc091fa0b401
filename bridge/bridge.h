/* The nng bridge: carries off-host routes between two meshes over TCP. Each
 * outbound route is a local ring the bridge consumes and sends in batched
 * frames to the peer; each inbound route is a local ring the bridge fills
 * from frames received on mesh.listen. Per-route order, gap detection and
 * reporting, acknowledgement and resend for `wait` routes (nothing lost
 * across reconnections), drop-and-count for `drop` routes. One send thread
 * and one receive thread; the rings and the state area belong to the caller. */
#ifndef BRIDGE_H
#define BRIDGE_H

#include "bridge_state.h"
#include "bus_ring.h"
#include "bus_wait.h"
#include "mesh_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bridge bridge;

typedef struct bridge_opts {
    bridge_state *state;       /* counters and persistent positions; required, not owned */
    bus_doorbell *doorbell;    /* the send thread sleeps on it; producers of outbound rings
                                * ring it (NULL: the send thread naps 1 ms when idle) */
    const char *listen;        /* nng URL inbound routes arrive on; NULL or "" = none */
    size_t batch_bytes;        /* target frame size (default 64 KiB) */
    uint32_t batch_records;    /* most records per frame (default 4096) */
    size_t window_bytes;       /* most unacknowledged ring bytes per wait route (default:
                                * half the ring, at most 8 MiB) */
    uint32_t reconnect_min_ms; /* nng dialer back-off, first retry (default 100) */
    uint32_t reconnect_max_ms; /* nng dialer back-off cap (default 2000) */
    const char *mesh;          /* this mesh's name, sent in the HELLO on every connection
                                * and shown in the peer's logs (NULL: "-") */
} bridge_opts;

typedef struct bridge_route_def {
    const char *from; /* producer engine name (as both hosts' configs spell it) */
    const char *to;   /* consumer engine name */
    const char *peer; /* peer name, for counters and logs */
    enum bridge_dir dir;
    enum mesh_policy policy; /* both hosts must agree (checked at the handshake) */
    bus_ring *ring;          /* OUT: consumer handle; IN: producer handle whose doorbell the
                              * caller set. Not owned; must outlive the bridge. */
    const char *url;         /* OUT: the peer's nng address (routes to one URL share a link) */
    const int *types;        /* type ids the route carries: IN rejects others; both
                              * directions announce them at the handshake, where the
                              * two hosts' lists must match; 0 and 0xffffffff
                              * (-1) are reserved */
    int ntypes;              /* 0 = any type id */
} bridge_route_def;

/* Fills *o with the defaults above (state, doorbell, listen left NULL). */
void bridge_opts_default(bridge_opts *o);

/* Creates a bridge (nothing started). Returns 0 and *out (bridge_close), or
 * MESH_EINVAL / MESH_ENOMEM. */
int bridge_open(bridge **out, const bridge_opts *opts);

/* Adds a route before bridge_start. Restores an inbound route's receive
 * position from its state slot. Returns 0, or an error with the reason in
 * err: MESH_EINVAL (bad definition, e.g. a reserved type id; route id
 * clash), MESH_ENOSPC (too many
 * routes or peers), MESH_ESTATE (already started). */
int bridge_add_route(bridge *b, const bridge_route_def *def, char *err, size_t errlen);

/* Listens (if any inbound route or a listen URL), starts the dialers (they
 * retry in the background: a peer that is down is not an error) and the two
 * threads. Returns 0, or an nng/system error mapped to MESH_E* with the
 * reason in err (e.g. the listen address is in use). */
int bridge_start(bridge *b, char *err, size_t errlen);

/* Nonzero when both threads made progress within the last stale_ns and no
 * route became unusable (a corrupt ring): either stops the caller's
 * heartbeat, so a supervisor restarts the bridge. Any thread. */
int bridge_alive(const bridge *b, uint64_t now_ns, uint64_t stale_ns);

/* Stops: receiving ends at once (unacknowledged frames are resent by the
 * peer later); sending continues until every wait route is acknowledged or
 * drain_ns passed. Joins the threads; the sockets stay open (no more
 * traffic flows) until bridge_close or process exit. Idempotent. */
void bridge_stop(bridge *b, uint64_t drain_ns);

/* bridge_stop(b, 0) if needed, closes the sockets, frees. Accepts NULL.
 * Known issue: with libnng 1.5.2 (Debian 12) nng_close can hang after
 * traffic (reproduced with nng alone: bridge/README.md, "nng_close and
 * libnng 1.5.2"), so the daemon and the benchmark exit after bridge_stop
 * instead; safe before bridge_start. */
void bridge_close(bridge *b);

/* The port a "tcp://host:0" listener was bound to (0 if none). */
int bridge_listen_port(const bridge *b);

#endif
