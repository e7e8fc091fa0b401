/* Creation and removal of the mesh's shared-memory objects (bus/ API). */
#include "sup_shm.h"

#include "bus_shm.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <string.h>

/* An existing ring is reusable when it validates and matches the route. */
static int ring_reusable(const char *name, const mesh_route_cfg *rt)
{
    bus_ring *r = NULL;
    if (bus_ring_open(&r, name, BUS_RING_OBSERVER) != 0)
        return 0;
    bus_ring_stats st;
    bus_ring_stats_get(r, &st);
    bus_ring_close(r);
    uint32_t want = rt->policy == MESH_POLICY_DROP ? BUS_RING_POLICY_DROP : BUS_RING_POLICY_WAIT;
    return st.capacity == rt->ring_bytes && st.policy == want;
}

static int ring_make(const char *name, const mesh_route_cfg *rt, int reuse)
{
    enum bus_ring_policy pol =
        rt->policy == MESH_POLICY_DROP ? BUS_RING_POLICY_DROP : BUS_RING_POLICY_WAIT;
    int rc = bus_ring_create(name, rt->ring_bytes, 0, pol);
    if (rc != MESH_EEXIST)
        return rc;
    if (reuse && ring_reusable(name, rt)) {
        mesh_info("reusing ring %s (keep_shm): positions and sequence numbers carry over", name);
        return 0;
    }
    mesh_warn("removing stale shared memory object %s left by an earlier run", name);
    bus_shm_unlink(name);
    return bus_ring_create(name, rt->ring_bytes, 0, pol);
}

int sup_rings_create(sup_rings *rs, const mesh_config *cfg, int reuse)
{
    memset(rs, 0, sizeof(*rs));
    for (int i = 0; i < cfg->nroutes; i++) {
        /* Off-host routes get a ring too: between the local engine and the
         * bridge, which carries it over nng. */
        const mesh_route_cfg *rt = &cfg->routes[i];
        sup_ring *r = &rs->r[rs->n];
        r->route = i;
        int rc = bus_shm_name(r->name, sizeof(r->name), cfg->name, "ring", rt->from, rt->to);
        if (rc == 0)
            rc = ring_make(r->name, rt, reuse);
        if (rc != 0) {
            mesh_error("%s:%d: cannot create ring %s -> %s (%s): %s", cfg->path, rt->line, rt->from,
                       rt->to, r->name, mesh_strerror(rc));
            sup_rings_destroy(rs, 1);
            return rc;
        }
        rs->n++;
        rc = bus_ring_open(&r->obs, r->name, BUS_RING_OBSERVER);
        if (rc != 0) {
            mesh_error("cannot observe ring %s just created: %s", r->name, mesh_strerror(rc));
            sup_rings_destroy(rs, 1);
            return rc;
        }
    }
    return 0;
}

void sup_rings_destroy(sup_rings *rs, int unlink)
{
    for (int i = 0; i < rs->n; i++) {
        bus_ring_close(rs->r[i].obs);
        rs->r[i].obs = NULL;
        if (unlink && rs->r[i].name[0])
            bus_shm_unlink(rs->r[i].name);
    }
    rs->n = 0;
}

int sup_ctlblk_create(const char *mesh, const char *engine, int reuse, bus_ctl **out)
{
    char name[SUP_SHM_NAME_MAX];
    *out = NULL;
    int rc = bus_shm_name(name, sizeof(name), mesh, "ctl", engine, NULL);
    if (rc != 0)
        return rc;
    rc = bus_ctl_create(name);
    if (rc == MESH_EEXIST) {
        if (reuse && bus_ctl_open(out, name, BUS_CTL_RW) == 0) {
            mesh_info("reusing control block %s (keep_shm): last handled sequences carry over",
                      name);
            return 0;
        }
        mesh_warn("removing stale shared memory object %s left by an earlier run", name);
        bus_shm_unlink(name);
        rc = bus_ctl_create(name);
    }
    if (rc == 0)
        rc = bus_ctl_open(out, name, BUS_CTL_RW);
    if (rc != 0) {
        mesh_error("cannot create control block %s for engine %s: %s", name, engine,
                   mesh_strerror(rc));
        bus_shm_unlink(name);
    }
    return rc;
}

void sup_ctlblk_destroy(const char *mesh, const char *engine, bus_ctl *ctl, int unlink)
{
    bus_ctl_close(ctl);
    if (!unlink)
        return;
    char name[SUP_SHM_NAME_MAX];
    if (bus_shm_name(name, sizeof(name), mesh, "ctl", engine, NULL) == 0)
        bus_shm_unlink(name);
    /* The engine's checkpoints (engine_state_save), if it made any, go
     * with its control block. */
    if (bus_shm_name(name, sizeof(name), mesh, "state", engine, NULL) == 0)
        bus_shm_unlink(name);
    /* The bridge keeps its link state (receive positions, counters) in an
     * object of its own that outlives its restarts (bridge/bridge_state.c);
     * it goes with the mesh. */
    if (strcmp(engine, MESH_BRIDGE_ENGINE) == 0 &&
        bus_shm_name(name, sizeof(name), mesh, "bridge", "state", NULL) == 0)
        bus_shm_unlink(name);
}
