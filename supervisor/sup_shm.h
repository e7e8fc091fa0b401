/* meshd's shared memory: creates every ring (one per local route) and every
 * engine control block before any engine starts, keeps observer handles for
 * status, and unlinks them all at stop (unless keep_shm). */
#ifndef SUP_SHM_H
#define SUP_SHM_H

#include "bus_ctl.h"
#include "bus_ring.h"
#include "mesh_config.h"

#define SUP_SHM_NAME_MAX 256

typedef struct sup_ring {
    char name[SUP_SHM_NAME_MAX];
    int route;     /* index into mesh_config.routes */
    bus_ring *obs; /* observer handle: stats only */
} sup_ring;

typedef struct sup_rings {
    int n;
    sup_ring r[MESH_CFG_MAX_ROUTES];
} sup_rings;

/* Creates one ring per local route of cfg. An object left by an earlier run
 * is reused when `reuse` is set and it is a valid ring of the same capacity
 * and policy (positions and sequence numbers carry over: keep_shm), else
 * unlinked and created afresh. Returns 0, or an error after unlinking what
 * it created (the message names the ring). Loop thread only. */
int sup_rings_create(sup_rings *rs, const mesh_config *cfg, int reuse);

/* Closes the observer handles and, when `unlink` is set, removes the objects.
 * Safe on a partly created or empty set. */
void sup_rings_destroy(sup_rings *rs, int unlink);

/* Creates (or, when `reuse`, re-attaches a valid existing) control block
 * "/mesh.<mesh>.ctl.<engine>" and opens it read-write into *out (owned by
 * the caller; sup_ctlblk_destroy). Returns 0 or an error (logged). */
int sup_ctlblk_create(const char *mesh, const char *engine, int reuse, bus_ctl **out);

/* Closes the handle and, when `unlink`, removes the object and the
 * engine's checkpoint object "/mesh.<mesh>.state.<engine>" (the engine
 * creates that one itself). Accepts NULL ctl. */
void sup_ctlblk_destroy(const char *mesh, const char *engine, bus_ctl *ctl, int unlink);

#endif
