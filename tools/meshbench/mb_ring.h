/* meshbench ring endpoints (mb_ring.c), shared by the transports whose roles
 * talk through bus rings: "ring" and "trade" (one ring per direction) and
 * "nng-route" (mb_bridge.c: each role has its own pair, the bridge joins them). */
#ifndef MB_RING_H
#define MB_RING_H

#include "mb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_RING_NAME 128
#define MB_RING_MAX  4
/* Type id of raw payload records: no registered message type uses it (and
 * it is neither 0 nor the padding id, which the bridge refuses to carry). */
#define MB_RAW_TYPE 0x7ffffff0u

struct bus_doorbell;

/* The rings of a case, created by the parent's setup before the roles fork.
 * Role r produces into name[tx[r]] and consumes name[rx[r]]. */
typedef struct mb_rings {
    char name[MB_RING_MAX][MB_RING_NAME]; /* created shm objects ("" = none) */
    unsigned n;                           /* entries of name in use */
    int tx[2], rx[2];                     /* per role: index into name */
    struct bus_doorbell *db[2];           /* per role: doorbell its producer rings after commits
                                           * (NULL: none; must be mapped in the role's process) */
    bool yield; /* polls sched_yield: unpinned threads need the two CPUs */
    bool stamp; /* the latency phase stamps CLOCK_MONOTONIC at payload bytes
                 * 8..15 (payloads of 16 bytes or more); B records the one-way
                 * time in the case's stamp histogram */
} mb_rings;

/* Parent: creates one ring of opts->ring_bytes named after the case and
 * `what`, and appends it to r. Returns its index, MESH_ETOOBIG (payload above
 * the ring's max record, reason logged), MESH_ENOSPC (r is full) or a bus
 * error. */
int mb_rings_add(mb_case *c, mb_rings *r, const char *what);

/* Parent: unlinks every ring of r (the roles' mappings stay valid). */
void mb_rings_unlink(mb_rings *r);

/* Role side of a ring transport (mb_transport ops), over c->rings: open the
 * role's two rings, send (claim + memcpy + commit, polling while full),
 * receive (peek + memcpy, release every 32 records or when idle), stream
 * (publish batch on or off), close. */
int mb_ring_ep_open(mb_case *c, mb_ep **out);
void mb_ring_ep_close(mb_ep *ep);
int mb_ring_ep_send(mb_ep *ep, const uint8_t *buf, size_t len);
int mb_ring_ep_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len);
int mb_ring_ep_stream(mb_ep *ep, int on);

#endif
