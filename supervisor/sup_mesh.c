/* Mesh lifecycle: load the config, create shared memory and the control
 * socket, install signal handlers (signals become loop events), start the
 * engines, and tear everything down at the end of a stop. */
#include "sup_mesh.h"

#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_config.h"
#include "sup_ctl.h"
#include "sup_metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern const sup_child_ops sup_engine_child_ops; /* sup_spawn.c */
void sup_mesh_finish(sup_mesh *m);               /* used by sup_sched.c */

uint64_t sup_mesh_now_ms(const sup_mesh *m)
{
    return uv_now(m->loop) - m->start_ms;
}

sup_engine *sup_mesh_find(sup_mesh *m, const char *name)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (m->eng[s].in_use && strcmp(m->eng[s].name, name) == 0)
            return &m->eng[s];
    return NULL;
}

int sup_mesh_slot_new(sup_mesh *m, const mesh_config *cfg, int cfg_index)
{
    int s = 0;
    while (s < SUP_MAX_SLOTS && m->eng[s].in_use)
        s++;
    if (s == SUP_MAX_SLOTS)
        return MESH_ENOSPC;
    sup_engine *e = &m->eng[s];
    const mesh_engine_cfg *c = &cfg->engines[cfg_index];
    int rc = sup_ctlblk_create(cfg->name, c->name, m->keep_shm, &e->ctl);
    if (rc != 0)
        return rc;
    e->in_use = 1;
    e->mesh = m;
    e->cfg_index = cfg_index;
    e->group_stop = 0;
    e->hold_for = -1;
    e->ready_ns = 0;
    e->run_hb_ms = 0;
    snprintf(e->name, sizeof(e->name), "%s", c->name);
    sup_policy pol;
    sup_policy_from_cfg(&pol, c);
    sup_fsm_init(&e->fsm, &pol);
    sup_child_init(&e->child, e->name, &sup_engine_child_ops, e, &m->out, &m->err);
    return s;
}

void sup_mesh_slot_free(sup_engine *e)
{
    sup_mesh *m = e->mesh;
    uv_timer_stop(&e->timer);
    sup_ctlblk_destroy(m->cfg->name, e->name, e->ctl, !m->keep_shm);
    e->ctl = NULL;
    e->in_use = 0;
    e->cfg_index = -1;
}

void sup_mesh_rebuild_order(sup_mesh *m)
{
    m->norder = 0;
    for (int i = 0; i < m->cfg->nengines; i++)
        m->order[m->norder++] = m->slot_of[m->cfg->start_order[i]];
}

static void on_stop_signal(uv_signal_t *h, int sig)
{
    sup_mesh *m = h->data;
    if (m->stopping) {
        mesh_warn("signal %d again: already stopping (engines get SIGKILL at their stop timeout)",
                  sig);
        return;
    }
    sup_mesh_stop(m, sig == SIGINT ? "SIGINT" : "SIGTERM", 0);
}

static void on_hup(uv_signal_t *h, int sig)
{
    sup_mesh *m = h->data;
    char msg[1024];
    (void)sig;
    if (sup_mesh_reload(m, msg, sizeof(msg)) == 0)
        mesh_info("SIGHUP: reloaded: %s", msg);
    else
        mesh_error("SIGHUP: reload refused, still running the old config: %s", msg);
}

static void on_chld(uv_signal_t *h, int sig)
{
    (void)sig;
    sup_reap_orphans(h->data);
}

static void signals_start(sup_mesh *m)
{
    signal(SIGPIPE, SIG_IGN); /* a vanished client or reader is an error code, not a death */
    uv_signal_t *hs[] = {&m->sig_term, &m->sig_int, &m->sig_hup, &m->sig_chld};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(m->loop, hs[i]);
        hs[i]->data = m;
    }
    uv_signal_start(&m->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&m->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&m->sig_hup, on_hup, SIGHUP);
    /* Orphans of engines come to us (or we are PID 1): reap those that are
     * not libuv's own children (see sup_reap.c). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        mesh_warn("cannot become a child subreaper; orphans are reaped only as PID 1");
    uv_signal_start(&m->sig_chld, on_chld, SIGCHLD);
    uv_unref((uv_handle_t *)&m->sig_chld);
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* meshd's own log lines go through the stderr sink while the loop runs:
 * never blocked by a slow reader, in order with the engines' lines. */
static int log_to_sink(void *arg, const char *line, size_t len)
{
    return sup_sink_log(arg, line, len);
}

static void output_open(sup_mesh *m)
{
    sup_sink_open(&m->out, m->loop, m->opts.out_fd, "stdout", NULL);
    sup_sink_open(&m->err, m->loop, m->opts.err_fd, "stderr", &m->out);
    mesh_log_set_writer(log_to_sink, &m->err);
}

static void output_close(sup_mesh *m)
{
    mesh_log_set_writer(NULL, NULL);
    sup_sink_close(&m->err, 1000); /* bounded: a reader that never reads cannot hold us */
    sup_sink_close(&m->out, 1000);
}

/* Releases what sup_mesh_start created, in reverse order. */
static void teardown(sup_mesh *m)
{
    sup_metrics_close(m->metrics);
    m->metrics = NULL;
    sup_ctl_close(m->ctl);
    m->ctl = NULL;
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (m->eng[s].in_use)
            sup_mesh_slot_free(&m->eng[s]);
    if (m->cfg)
        sup_rings_destroy(&m->rings, !m->keep_shm);
    close_if_open((uv_handle_t *)&m->hb_timer);
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        close_if_open((uv_handle_t *)&m->eng[s].timer);
    close_if_open((uv_handle_t *)&m->sig_term);
    close_if_open((uv_handle_t *)&m->sig_int);
    close_if_open((uv_handle_t *)&m->sig_hup);
    close_if_open((uv_handle_t *)&m->sig_chld);
    if (m->cfg_fd >= 0)
        close(m->cfg_fd);
    m->cfg_fd = -1;
    output_close(m);
}

void sup_mesh_finish(sup_mesh *m)
{
    if (!m->cfg || m->stopping == 2)
        return;
    m->stopping = 2;
    sup_reap_descendants(5000); /* nothing an engine started may outlive the mesh */
    teardown(m);
    mesh_info("mesh stopped%s (exit status %d)",
              m->keep_shm ? "; shared memory kept (keep_shm)" : "; shared memory removed",
              m->exit_code);
}

static int create_all(sup_mesh *m)
{
    int rc = sup_ctl_open(&m->ctl, m, m->cfg->control_socket);
    if (rc != 0)
        return rc;
    rc = sup_rings_create(&m->rings, m->cfg, m->keep_shm);
    if (rc != 0)
        return rc;
    for (int i = 0; i < m->cfg->nengines; i++) {
        int s = sup_mesh_slot_new(m, m->cfg, i);
        if (s < 0)
            return s;
        m->slot_of[i] = s;
    }
    sup_mesh_rebuild_order(m);
    if (m->cfg->metrics_listen[0]) {
        rc = sup_metrics_open(&m->metrics, m, m->cfg->metrics_listen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sup_mesh_start(sup_mesh *m, uv_loop_t *loop, const sup_opts *opts)
{
    memset(m, 0, sizeof(*m));
    m->cfg_fd = -1;
    m->loop = loop;
    m->opts = *opts;
    m->start_ms = uv_now(loop);
    if (!realpath(opts->config_path, m->config_path)) {
        mesh_error("%s: cannot read the config: %s", opts->config_path,
                   mesh_strerror(mesh_err_from_errno(errno)));
        return mesh_err_from_errno(errno);
    }
    static char err[SUP_CONFIG_ERRLEN];
    char *text = NULL;
    size_t len = 0;
    int rc =
        sup_config_load(&m->cfg, m->config_path, opts->search_path, &text, &len, err, sizeof(err));
    if (rc != 0) {
        fputs(err, stderr);
        mesh_error("%s: invalid config: nothing was started (%s)", m->config_path,
                   mesh_strerror(rc));
        return rc;
    }
    rc = sup_config_snapshot(text, len, &m->cfg_fd);
    free(text);
    if (rc != 0) {
        mesh_error("%s: cannot keep a copy of the config for the engines: %s", m->config_path,
                   mesh_strerror(rc));
        mesh_config_free(m->cfg);
        m->cfg = NULL;
        return rc;
    }
    m->keep_shm = opts->keep_shm || m->cfg->keep_shm;
    output_open(m);
    uv_timer_init(loop, &m->hb_timer);
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        uv_timer_init(loop, &m->eng[s].timer);
    rc = create_all(m);
    if (rc != 0) {
        teardown(m);
        uv_run(loop, UV_RUN_NOWAIT); /* let the close callbacks run */
        mesh_config_free(m->cfg);
        m->cfg = NULL;
        return rc;
    }
    signals_start(m);
    sup_mesh_hb_rearm(m);
    mesh_info("mesh %s: %d engines, %d rings, control socket %s", m->cfg->name, m->cfg->nengines,
              m->rings.n, m->cfg->control_socket);
    for (int k = 0; k < m->norder; k++)
        sup_mesh_event(&m->eng[m->order[k]], SUP_EV_START, 0, 0);
    sup_mesh_kick(m);
    return 0;
}
