/* Reload (SIGHUP or `reload`): re-read the config and apply what is safe
 * while engines run: engines added (started), removed (stopped), changed
 * binary/args/env/cpu (restarted), changed policy or timeouts (applied in
 * place), strategy and keep_shm. Refused, keeping the old config: a config
 * with errors, a changed mesh name, control socket or metrics address, and
 * any change to the routes (rings are laid out before engines start).
 * Engines read the config through meshd's sealed snapshot of the text it
 * runs (sup_config_snapshot), replaced only by a reload that succeeded: a
 * refused file never reaches a restarted engine. */
#include "sup_mesh.h"

#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int route_same(const mesh_route_cfg *a, const mesh_route_cfg *b)
{
    if (strcmp(a->from, b->from) || strcmp(a->to, b->to) || a->peer != b->peer ||
        a->ring_bytes != b->ring_bytes || a->policy != b->policy || a->ntypes != b->ntypes)
        return 0;
    for (int t = 0; t < a->ntypes; t++)
        if (strcmp(a->type_names[t], b->type_names[t]) != 0)
            return 0;
    return 1;
}

/* Returns 0 when nc may replace oc while running, else writes why into msg. */
static int check_safe(const mesh_config *oc, const mesh_config *nc, char *msg, size_t msglen)
{
    if (strcmp(oc->name, nc->name) != 0) {
        snprintf(msg, msglen,
                 "mesh.name changed (%s -> %s): shared memory is named after it; "
                 "restart meshd instead",
                 oc->name, nc->name);
        return MESH_ESTATE;
    }
    if (strcmp(oc->control_socket, nc->control_socket) != 0 ||
        strcmp(oc->metrics_listen, nc->metrics_listen) != 0) {
        snprintf(msg, msglen,
                 "mesh.control_socket or mesh.metrics_listen changed: "
                 "restart meshd to move them");
        return MESH_ESTATE;
    }
    int n = oc->nroutes > nc->nroutes ? oc->nroutes : nc->nroutes;
    for (int i = 0; i < n; i++) {
        if (i < oc->nroutes && i < nc->nroutes && route_same(&oc->routes[i], &nc->routes[i]))
            continue;
        const mesh_route_cfg *r = i < nc->nroutes ? &nc->routes[i] : &oc->routes[i];
        snprintf(msg, msglen,
                 "%s:%d: route %s -> %s %s: rings cannot change while the mesh "
                 "runs (stop the mesh, then start it with the new config)",
                 i < nc->nroutes ? nc->path : oc->path, r->line, r->from, r->to,
                 i >= oc->nroutes   ? "added"
                 : i >= nc->nroutes ? "removed"
                                    : "changed");
        return MESH_ESTATE;
    }
    return 0;
}

static sup_engine *find_live(sup_mesh *m, const char *name)
{
    sup_engine *e = sup_mesh_find(m, name);
    return e && e->cfg_index >= 0 ? e : NULL;
}

static void append(char *msg, size_t msglen, const char *what, const char *name)
{
    size_t l = strlen(msg);
    if (l < msglen)
        snprintf(msg + l, msglen - l, "%s%s %s", l ? "; " : "", what, name);
}

/* Creates slots for engines new in nc; on failure frees them again. */
static int add_new_slots(sup_mesh *m, const mesh_config *nc, int *slot_of, char *msg, size_t msglen)
{
    int added[MESH_CFG_MAX_ENGINES], nadded = 0;
    for (int i = 0; i < nc->nengines; i++) {
        sup_engine *e = find_live(m, nc->engines[i].name);
        if (e) {
            slot_of[i] = (int)(e - m->eng);
            continue;
        }
        int s = sup_mesh_slot_new(m, nc, i);
        if (s < 0) {
            snprintf(msg, msglen, "cannot add engine %s: %s", nc->engines[i].name,
                     mesh_strerror(s));
            while (nadded > 0)
                sup_mesh_slot_free(&m->eng[added[--nadded]]);
            return s;
        }
        m->eng[s].cfg_index = -2; /* new: not started until the swap is done */
        slot_of[i] = added[nadded++] = s;
    }
    return 0;
}

/* Loads the file, checks that it may replace the running config, makes its
 * snapshot and the slots of added engines. On error nothing changed and msg
 * says why. */
static int reload_prepare(sup_mesh *m, mesh_config **nc, int *fd, int *slot_of, char *msg,
                          size_t msglen)
{
    static char err[SUP_CONFIG_ERRLEN];
    char *text = NULL;
    size_t len = 0;
    int rc =
        sup_config_load(nc, m->config_path, m->opts.search_path, &text, &len, err, sizeof(err));
    if (rc != 0) {
        snprintf(msg, msglen, "%s has errors:\n%s", m->config_path, err);
        return rc;
    }
    rc = check_safe(m->cfg, *nc, msg, msglen);
    if (rc == 0 && (rc = sup_config_snapshot(text, len, fd)) != 0)
        snprintf(msg, msglen, "cannot keep a copy of the config for the engines: %s",
                 mesh_strerror(rc));
    free(text);
    if (rc == 0 && (rc = add_new_slots(m, *nc, slot_of, msg, msglen)) != 0)
        close(*fd);
    if (rc != 0) {
        mesh_config_free(*nc);
        *nc = NULL;
    }
    return rc;
}

/* Points every engine still in nc at its new entry and policy; marks those
 * that must restart (binary/args/env/cpu changed) and those removed. */
static void reconcile(sup_mesh *m, const mesh_config *oc, const mesh_config *nc, int *restart,
                      int *removed, char *msg, size_t msglen)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++) {
        sup_engine *e = &m->eng[s];
        if (!e->in_use || e->cfg_index < 0)
            continue;
        int ni = mesh_config_engine_index(nc, e->name);
        if (ni < 0) {
            append(msg, msglen, "removed", e->name);
            e->cfg_index = -1;
            e->group_stop = 0;
            removed[s] = 1; /* stopped after the swap: no event sees a half-updated table */
            continue;
        }
        restart[s] = !mesh_config_engine_same(&oc->engines[e->cfg_index], &nc->engines[ni]) &&
                     e->fsm.want_up;
        sup_policy pol;
        sup_policy_from_cfg(&pol, &nc->engines[ni]);
        sup_fsm_set_policy(&e->fsm, &pol);
        e->cfg_index = ni;
    }
}

/* After the swap: stops removed engines, starts added ones, restarts changed ones. */
static void apply_changes(sup_mesh *m, const int *slot_of, const int *restart, const int *removed,
                          char *msg, size_t msglen)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (removed[s])
            sup_mesh_event(&m->eng[s], SUP_EV_STOP, 0, 0);
    for (int i = 0; i < m->cfg->nengines; i++) {
        sup_engine *e = &m->eng[slot_of[i]];
        if (e->cfg_index == -2) {
            e->cfg_index = i;
            append(msg, msglen, "added", e->name);
            sup_mesh_event(e, SUP_EV_START, 0, 0);
        } else if (restart[slot_of[i]]) {
            append(msg, msglen, "restarted (binary/args/env/cpu changed)", e->name);
            sup_mesh_event(e, SUP_EV_RESTART, 0, 0);
        }
    }
}

int sup_mesh_reload(sup_mesh *m, char *msg, size_t msglen)
{
    mesh_config *nc = NULL;
    int fd = -1, slot_of[MESH_CFG_MAX_ENGINES];
    msg[0] = '\0';
    if (m->stopping) {
        snprintf(msg, msglen, "the mesh is stopping");
        return MESH_ESTATE;
    }
    int rc = reload_prepare(m, &nc, &fd, slot_of, msg, msglen);
    if (rc != 0)
        return rc;
    /* From here nothing can fail: swap the config and reconcile the engines. */
    mesh_config *oc = m->cfg;
    int restart[SUP_MAX_SLOTS] = {0}, removed[SUP_MAX_SLOTS] = {0};
    reconcile(m, oc, nc, restart, removed, msg, msglen);
    m->cfg = nc;
    close(m->cfg_fd); /* engines started from now on read the new snapshot */
    m->cfg_fd = fd;
    m->keep_shm = m->opts.keep_shm || nc->keep_shm;
    memcpy(m->slot_of, slot_of, sizeof(slot_of));
    sup_mesh_rebuild_order(m);
    mesh_config_free(oc);
    apply_changes(m, slot_of, restart, removed, msg, msglen);
    if (!msg[0])
        snprintf(msg, msglen,
                 "no engine added, removed or changed; policies and timeouts "
                 "applied");
    m->reloads++;
    sup_mesh_hb_rearm(m);
    sup_mesh_kick(m);
    return 0;
}
