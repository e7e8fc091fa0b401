/* Launching an engine per the launch protocol: argv from the config, the
 * environment = meshd's + the engine's `env` + MESH_CONFIG, MESH_CONFIG_FD=4
 * (the snapshot of the config meshd runs), MESH_ENGINE, MESH_GENERATION,
 * MESH_READY_FD=3; and the child's callbacks. */
#include "sup_mesh.h"

#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int sup_spawn_engine(sup_engine *e); /* used by sup_sched.c */

/* 1 when "KEY=..." entry `kv` sets one of the keys in `over` (NULL-terminated
 * "KEY=VALUE" list) or one of the MESH_* launch variables. */
static int overridden(const char *kv, char *const *over)
{
    static const char *const mesh_keys[] = {
        "MESH_CONFIG=", "MESH_CONFIG_FD=", "MESH_ENGINE=", "MESH_GENERATION=", "MESH_READY_FD="};
    for (size_t i = 0; i < sizeof(mesh_keys) / sizeof(mesh_keys[0]); i++)
        if (strncmp(kv, mesh_keys[i], strlen(mesh_keys[i])) == 0)
            return 1;
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) + 1 : strlen(kv);
    for (; over && *over; over++)
        if (strncmp(kv, *over, klen) == 0)
            return 1;
    return 0;
}

/* Builds the child's environment into one allocation (array + strings). */
static char **build_env(const sup_engine *e, const mesh_engine_cfg *c)
{
    const sup_mesh *m = e->mesh;
    size_t n = 0, nenv = 0, bytes = 0;
    for (char **p = environ; p && *p; p++)
        n++;
    for (char **p = c->env; p && *p; p++)
        nenv++;
    enum { NEXTRA = 5 };
    char extra[NEXTRA][PATH_MAX + 32];
    snprintf(extra[0], sizeof(extra[0]), "MESH_CONFIG=%s", m->config_path);
    snprintf(extra[1], sizeof(extra[1]), "MESH_ENGINE=%s", e->name);
    snprintf(extra[2], sizeof(extra[2]), "MESH_GENERATION=%u", e->fsm.starts - 1);
    snprintf(extra[3], sizeof(extra[3]), "MESH_READY_FD=3");
    int nextra = 4;
    if (m->cfg_fd >= 0)
        snprintf(extra[nextra++], sizeof(extra[0]), "MESH_CONFIG_FD=%d", SUP_CHILD_CONFIG_FD);
    for (int i = 0; i < nextra; i++)
        bytes += strlen(extra[i]) + 1;
    char **env = malloc((n + nenv + NEXTRA + 1) * sizeof(char *) + bytes);
    if (!env)
        return NULL;
    char *strs = (char *)(env + n + nenv + NEXTRA + 1);
    size_t k = 0;
    for (char **p = environ; p && *p; p++)
        if (!overridden(*p, c->env))
            env[k++] = *p;
    for (char **p = c->env; p && *p; p++)
        if (!overridden(*p, NULL))
            env[k++] = *p;
    for (int i = 0; i < nextra; i++) {
        size_t l = strlen(extra[i]) + 1;
        memcpy(strs, extra[i], l);
        env[k++] = strs;
        strs += l;
    }
    env[k] = NULL;
    return env;
}

int sup_spawn_engine(sup_engine *e)
{
    sup_mesh *m = e->mesh;
    if (e->cfg_index < 0)
        return MESH_ESTATE;
    const mesh_engine_cfg *c = &m->cfg->engines[e->cfg_index];
    char **env = build_env(e, c);
    if (!env) {
        mesh_error("%s: cannot build the environment: %s", e->name, mesh_strerror(MESH_ENOMEM));
        return MESH_ENOMEM;
    }
    if (e->ctl) { /* the last run's flags must not pass for this run's */
        bus_ctl_set_ready(e->ctl, 0);
        bus_ctl_set_pid(e->ctl, 0);
        bus_ctl_next_generation(e->ctl);
    }
    e->run_hb_ms = c->heartbeat_timeout_ms; /* what this process reads from the snapshot */
    int rc = sup_child_spawn(&e->child, m->loop, c->binary, c->argv, env, m->cfg_fd);
    free(env);
    if (rc != 0) {
        mesh_error("%s: cannot execute %s: %s", e->name, c->binary, mesh_strerror(rc));
        return rc;
    }
    mesh_info("%s: started pid %d (generation %u)", e->name, e->child.pid, e->fsm.starts - 1);
    return 0;
}

static void child_ready(void *arg)
{
    sup_engine *e = arg;
    e->ready_ns = mesh_now_ns();
    mesh_info("%s: ready (pid %d, %llu ms after spawn)", e->name, e->child.pid,
              (unsigned long long)(sup_mesh_now_ms(e->mesh) - e->fsm.spawn_ms));
    sup_mesh_event(e, SUP_EV_READY, 0, 0);
}

static void child_exited(void *arg, int64_t status, int sig)
{
    sup_engine *e = arg;
    if (sig)
        mesh_warn("%s: killed by signal %d", e->name, sig);
    else if (status != 0)
        mesh_warn("%s: exited with status %lld", e->name, (long long)status);
    else
        mesh_info("%s: exited with status 0", e->name);
    e->group_stop = e->fsm.state == SUP_STOPPING ? 0 : e->group_stop;
    sup_mesh_event(e, SUP_EV_EXIT, (int)status, sig);
    sup_reap_orphans(e->mesh); /* an orphan queued behind this child can go now */
}

static void child_idle(void *arg)
{
    sup_engine *e = arg;
    sup_mesh_kick(e->mesh);
}

const sup_child_ops sup_engine_child_ops = {
    .on_ready = child_ready,
    .on_exit = child_exited,
    .on_idle = child_idle,
};
