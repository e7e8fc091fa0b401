/* Adds the bridge engine to a loaded mesh config and finds its binary. */
#include "bridge_cfg.h"

#include "mesh_error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bridge_cfg_needed(const mesh_config *cfg)
{
    if (cfg->listen[0])
        return 1;
    for (int i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].peer >= 0)
            return 1;
    return 0;
}

int bridge_cfg_index(const mesh_config *cfg)
{
    return mesh_config_engine_index(cfg, BRIDGE_ENGINE_NAME);
}

static void engine_defaults(mesh_engine_cfg *e, const mesh_config *cfg)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", BRIDGE_ENGINE_NAME);
    e->cpu = -1;
    e->restart = MESH_RESTART_PERMANENT;
    e->escalation = MESH_ESCALATE_LEAVE_DOWN;
    e->wait = MESH_WAIT_ADAPTIVE;
    e->heartbeat_timeout_ms = 3000;
    e->ready_timeout_ms = 10000;
    e->backoff_initial_ms = 100;
    e->backoff_max_ms = 10000;
    e->intensity_max = 5;
    e->intensity_period_ms = 30000;
    e->stop_timeout_ms = cfg->stop_timeout_ms;
}

static int add_engine(mesh_config *cfg, const char *binary, char *err, size_t errlen)
{
    if (!binary) {
        snprintf(err, errlen,
                 "%s: the mesh has off-host routes or mesh.listen, but the %s "
                 "binary was not found (install it beside meshd or in the binary "
                 "search path)",
                 cfg->path, BRIDGE_BINARY_NAME);
        return MESH_ECONFIG;
    }
    if (cfg->nengines == MESH_CFG_MAX_ENGINES) {
        snprintf(err, errlen, "%s: no room for the bridge engine (already %d engines)", cfg->path,
                 MESH_CFG_MAX_ENGINES);
        return MESH_ECONFIG;
    }
    mesh_engine_cfg *e = &cfg->engines[cfg->nengines];
    engine_defaults(e, cfg);
    e->binary = strdup(binary);
    e->argv = calloc(2, sizeof(char *));
    e->env = calloc(1, sizeof(char *));
    if (e->argv)
        e->argv[0] = strdup(binary);
    if (!e->binary || !e->argv || !e->argv[0] || !e->env) {
        free(e->binary);
        if (e->argv)
            free(e->argv[0]);
        free(e->argv);
        free(e->env);
        return MESH_ENOMEM;
    }
    cfg->start_order[cfg->nengines] = cfg->nengines;
    cfg->nengines++;
    return 0;
}

static int add_dep(mesh_config *cfg, int engine, int dep, char *err, size_t errlen)
{
    mesh_engine_cfg *e = &cfg->engines[engine];
    for (int i = 0; i < e->ndeps; i++)
        if (e->deps[i] == dep)
            return 0;
    if (e->ndeps == MESH_CFG_MAX_ENGINES) {
        snprintf(err, errlen, "%s:%d: engine '%s' has no room for a dependency on the bridge",
                 cfg->path, e->line, e->name);
        return MESH_ECONFIG;
    }
    e->deps[e->ndeps++] = dep;
    return 0;
}

/* Moves the bridge to the front of start_order (valid: it depends on
 * nothing, and the others keep their relative order). */
static void start_first(mesh_config *cfg, int bridge)
{
    int k = 0;
    while (k < cfg->nengines && cfg->start_order[k] != bridge)
        k++;
    for (; k > 0; k--)
        cfg->start_order[k] = cfg->start_order[k - 1];
    cfg->start_order[0] = bridge;
}

int bridge_cfg_inject(mesh_config *cfg, const char *binary, char *err, size_t errlen)
{
    if (!bridge_cfg_needed(cfg))
        return 0;
    int bi = bridge_cfg_index(cfg);
    if (bi < 0) {
        int rc = add_engine(cfg, binary, err, errlen);
        if (rc < 0)
            return rc;
        bi = cfg->nengines - 1;
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        const mesh_route_cfg *r = &cfg->routes[i];
        if (r->peer < 0)
            continue;
        int local = r->from_engine >= 0 ? r->from_engine : r->to_engine;
        if (local >= 0 && local != bi) {
            int rc = add_dep(cfg, local, bi, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    if (cfg->engines[bi].ndeps == 0)
        start_first(cfg, bi);
    return 0;
}

static int exec_in(const char *dir, size_t dirlen, char *out, size_t outlen)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%.*s/%s", (int)dirlen, dir, BRIDGE_BINARY_NAME);
    if (n < 0 || (size_t)n >= sizeof(path) || access(path, X_OK) != 0)
        return 0;
    char *abs = realpath(path, NULL);
    if (!abs)
        return 0;
    int ok = strlen(abs) < outlen;
    if (ok)
        snprintf(out, outlen, "%s", abs);
    free(abs);
    return ok;
}

static int search_list(const char *list, char *out, size_t outlen)
{
    while (list && *list) {
        const char *colon = strchr(list, ':');
        size_t len = colon ? (size_t)(colon - list) : strlen(list);
        if (len && exec_in(list, len, out, outlen))
            return 1;
        list = colon ? colon + 1 : NULL;
    }
    return 0;
}

int bridge_cfg_find_binary(const char *search_path, char *out, size_t outlen)
{
    if (search_list(search_path, out, outlen))
        return 0;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char up[PATH_MAX + 16];
            snprintf(up, sizeof(up), "%s/../bridge", self);
            if (exec_in(self, strlen(self), out, outlen) || exec_in(up, strlen(up), out, outlen))
                return 0;
        }
    }
    return search_list(getenv("PATH"), out, outlen) ? 0 : MESH_ENOENT;
}
