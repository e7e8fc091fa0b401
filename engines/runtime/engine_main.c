/* engine_main: the start-up and exit path of every engine daemon. Reads the
 * MESH_* environment set by meshd, loads the mesh config (meshd's snapshot
 * of the config it runs, when given), attaches the control block and rings
 * meshd created, pins, runs init, reports readiness, runs the loop, then
 * shuts down and detaches. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_shm.h"
#include "engine_int.h"
#include "mesh_clock.h"
#include "mesh_cpu.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

#define EXIT_SETUP 2 /* environment, config, shared memory or arguments */
#define EXIT_FAIL  1

static const char runtime_help[] =
    "\nEngine runtime environment (set by meshd):\n"
    "  MESH_CONFIG=PATH      mesh config file (YAML) to load\n"
    "  MESH_CONFIG_FD=FD     meshd's sealed copy of that file as it runs it: read\n"
    "                        instead of PATH (PATH still names it in messages)\n"
    "  MESH_ENGINE=NAME      this engine's name in that config\n"
    "  MESH_GENERATION=N     how many times this engine was started before (default 0)\n"
    "  MESH_READY_FD=FD      write end of a pipe: \"ready\\n\" is written once ready, then\n"
    "                        closed (optional)\n"
    "  MESH_LOG_LEVEL=LEVEL  debug, info (default), warn or error\n"
    "The runtime attaches the control block /mesh.<mesh>.ctl.<engine> and the rings\n"
    "/mesh.<mesh>.ring.<from>.<to> of the engine's routes; meshd creates them first.\n"
    "SIGTERM/SIGINT: drain queued input (up to half the stop timeout), run shutdown,\n"
    "exit 0. Exit status 2: could not start (environment, config, shared memory,\n"
    "arguments); 1: other failure.\n";

static int help_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!s || *s < '0' || *s > '9')
        return MESH_EINVAL;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return MESH_EINVAL;
    *out = v;
    return 0;
}

static enum mesh_log_level log_level_from_env(void)
{
    const char *s = getenv("MESH_LOG_LEVEL");
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return (enum mesh_log_level)i;
    return MESH_LOG_INFO;
}

/* MESH_GENERATION and MESH_READY_FD (MESH_CONFIG / MESH_ENGINE are read by
 * config_setup). */
static int env_setup(engine *e)
{
    unsigned long v = 0;
    const char *gen = getenv("MESH_GENERATION");
    if (gen && parse_uint(gen, 0xffffffffUL, &v) < 0) {
        mesh_error("MESH_GENERATION='%s': expected a non-negative integer", gen);
        return MESH_EINVAL;
    }
    e->generation = (unsigned)v;
    const char *rfd = getenv("MESH_READY_FD");
    e->ready_fd = -1;
    if (rfd) {
        if (parse_uint(rfd, 65535, &v) < 0 || fcntl((int)v, F_GETFD) < 0) {
            mesh_error("MESH_READY_FD='%s': not an open file descriptor", rfd);
            return MESH_EBADF;
        }
        e->ready_fd = (int)v;
        fcntl(e->ready_fd, F_SETFD, FD_CLOEXEC); /* never leak it to our own children */
    }
    return 0;
}

static int type_lookup(const char *name, void *arg)
{
    const msg_type_info *t = NULL;
    int rc = msg_type_by_name(name, &t);
    return rc < 0 ? rc : (int)t->id;
}

/* Loads MESH_CONFIG: from meshd's snapshot when MESH_CONFIG_FD is set, else
 * the file. Engines never start binaries: only meshd checks them. */
static int config_load(engine *e, const char *path, char *err, size_t errlen)
{
    mesh_config_opts opts = {.type_lookup = type_lookup, .no_binary_check = 1};
    return mesh_config_load_given(&e->cfg, path, getenv("MESH_CONFIG_FD"), &opts, err,
                                  (unsigned)errlen);
}

static int config_setup(engine *e)
{
    const char *path = getenv("MESH_CONFIG");
    const char *name = getenv("MESH_ENGINE");
    if (!path || !*path || !name || !*name) {
        mesh_error("%s is not set: engines are started by meshd, which sets MESH_CONFIG and "
                   "MESH_ENGINE (see --help)",
                   !path || !*path ? "MESH_CONFIG" : "MESH_ENGINE");
        return MESH_EINVAL;
    }
    char err[4096] = "";
    int rc = config_load(e, path, err, sizeof(err));
    if (rc < 0) {
        mesh_error("MESH_CONFIG=%s: cannot load (%s):", path, mesh_strerror(rc));
        char *save = NULL;
        for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            mesh_error("  %s", line); /* one log line per problem */
        return rc;
    }
    int idx = mesh_config_engine_index(e->cfg, name);
    if (idx < 0) {
        mesh_error("MESH_ENGINE=%s: no engine of that name in %s", name, path);
        return MESH_ENOENT;
    }
    e->self = &e->cfg->engines[idx];
    snprintf(e->name, sizeof(e->name), "%s", e->self->name);
    mesh_log_init(e->name, log_level_from_env());
    rc = engine_plan_build(&e->plan, e->cfg, idx, err, sizeof(err));
    if (rc < 0)
        mesh_error("%s", err);
    return rc;
}

static int attach_ctl(engine *e)
{
    char shm[ENGINE_SHM_NAME];
    int rc = bus_shm_name(shm, sizeof(shm), e->cfg->name, "ctl", e->name, NULL);
    if (rc == 0)
        rc = bus_ctl_open(&e->ctl, shm, BUS_CTL_RW);
    if (rc < 0) {
        mesh_error("control block %s: cannot attach: %s (meshd creates it before starting the "
                   "engine)",
                   shm, mesh_strerror(rc));
        return rc;
    }
    e->db = bus_ctl_doorbell(e->ctl);
    /* We own the doorbell now: clear a `sleeping` flag a killed predecessor
     * left set (producers would ring on every commit until our first sleep);
     * before the signal handler may ring it. */
    bus_doorbell_reset(e->db);
    engine_signals_doorbell(e->db);
    bus_ctl_set_pid(e->ctl, (int32_t)getpid());
    bus_ctl_set_state(e->ctl, BUS_CTL_STATE_STARTING);
    bus_ctl_set_ready(e->ctl, 0);
    bus_ctl_heartbeat(e->ctl, mesh_now_ns());
    return 0;
}

static int ring_fail(const engine *e, const char *shm, int ri, const char *what, int rc)
{
    const mesh_route_cfg *r = &e->cfg->routes[ri];
    mesh_error("%s ring %s (route %s -> %s, %s:%d): %s: %s (meshd creates every ring before "
               "starting engines)",
               what, shm, r->from, r->to, e->cfg->path, r->line,
               rc == MESH_ENOENT ? "missing" : "refused", mesh_strerror(rc));
    return rc;
}

/* Reads the input's last handled seq from its control-block slot. A slot
 * beyond anything the ring ever carried cannot describe this ring (routes
 * reordered by a config change, or the ring recreated while the control
 * block was kept): trusting it would skip unhandled records, so it is reset
 * (at-least-once) with a warning. Slots follow producer names (engine_plan),
 * so reordered routes alone never mismatch them. */
static void resume_point(engine *e, engine_input *in)
{
    bus_ring_stats st;
    bus_ctl_last_seq(e->ctl, in->slot, &in->last_seq);
    bus_ring_stats_get(in->ring, &st);
    if (in->last_seq == 0 || in->last_seq < st.next_seq)
        return;
    mesh_warn("input from %s: control-block slot %u says seq %llu was handled, but %s has only "
              "carried up to seq %llu: the slot is not this ring's; handling everything queued",
              in->from, in->slot, (unsigned long long)in->last_seq, in->shm,
              (unsigned long long)(st.next_seq - 1));
    in->last_seq = 0;
    bus_ctl_set_last_seq(e->ctl, in->slot, 0);
}

static int attach_inputs(engine *e)
{
    for (int i = 0; i < e->plan.ninputs; i++) {
        engine_input *in = &e->in[i];
        const mesh_route_cfg *r = &e->cfg->routes[e->plan.inputs[i]];
        int rc = bus_shm_name(in->shm, sizeof(in->shm), e->cfg->name, "ring", r->from, r->to);
        if (rc == 0)
            rc = bus_ring_open(&in->ring, in->shm, BUS_RING_CONSUMER);
        if (rc < 0)
            return ring_fail(e, in->shm, e->plan.inputs[i], "input", rc);
        in->from = r->from;
        in->slot = e->plan.input_slot[i]; /* by producer name: file order does not matter */
        e->nin = i + 1;
        resume_point(e, in);
        if (in->last_seq > 0)
            mesh_info("input from %s: resuming after seq %llu (records up to it were handled "
                      "by a previous run)",
                      in->from, (unsigned long long)in->last_seq);
    }
    return 0;
}

static int attach_outputs(engine *e)
{
    for (int i = 0; i < e->plan.noutputs; i++) {
        engine_output *out = &e->out[i];
        int ri = e->plan.outputs[i];
        const mesh_route_cfg *r = &e->cfg->routes[ri];
        char ctl[ENGINE_SHM_NAME];
        int rc = bus_shm_name(out->shm, sizeof(out->shm), e->cfg->name, "ring", r->from, r->to);
        if (rc == 0)
            rc = bus_ring_open(&out->ring, out->shm, BUS_RING_PRODUCER);
        if (rc < 0)
            return ring_fail(e, out->shm, ri, "output", rc);
        e->nout = i + 1;
        out->to = r->to;
        out->drop = r->policy == MESH_POLICY_DROP;
        out->max_record = bus_ring_max_record(out->ring);
        /* The consumer is r->to, or the bridge when r->to runs on a peer. */
        const char *consumer = r->peer >= 0 ? MESH_BRIDGE_ENGINE : r->to;
        rc = bus_shm_name(ctl, sizeof(ctl), e->cfg->name, "ctl", consumer, NULL);
        if (rc == 0)
            rc = bus_ctl_open(&out->peer_ctl, ctl, BUS_CTL_RW);
        if (rc < 0)
            return ring_fail(e, ctl, ri, "consumer control block of output", rc);
        bus_ring_set_doorbell(out->ring, bus_ctl_doorbell(out->peer_ctl));
        bus_ring_set_wait(out->ring, &e->wait);
    }
    return 0;
}

/* Dispatch table, plus a warning for input types nobody handles. */
static int handlers_setup(engine *e)
{
    const engine_def *d = e->def;
    for (size_t i = 0; i < d->nhandlers; i++) {
        uint32_t t = d->handlers[i].type;
        if (t >= ENGINE_TYPE_TABLE || msg_type_name(t) == NULL || !d->handlers[i].fn) {
            mesh_error("handler %zu: type id %u is not a registered message type (or has no "
                       "function)",
                       i, t);
            return MESH_EINVAL;
        }
        e->handler[t] = d->handlers[i].fn;
    }
    for (int i = 0; i < e->plan.ninputs && !d->raw; i++) {
        const mesh_route_cfg *r = &e->cfg->routes[e->plan.inputs[i]];
        for (int t = 0; t < r->ntypes; t++)
            if (r->types[t] < 0 || r->types[t] >= ENGINE_TYPE_TABLE || !e->handler[r->types[t]])
                mesh_warn("route %s -> %s (%s:%d) carries '%s' but this engine has no handler "
                          "for it: such records will be counted as unknown and skipped",
                          r->from, r->to, e->cfg->path, r->line, r->type_names[t]);
    }
    return 0;
}

static int wait_setup(engine *e)
{
    bus_wait_cfg_default(&e->wait);
    e->wait.kind = e->self->wait == MESH_WAIT_SPIN    ? BUS_WAIT_SPIN
                   : e->self->wait == MESH_WAIT_YIELD ? BUS_WAIT_YIELD
                                                      : BUS_WAIT_ADAPTIVE;
    e->hb_period_ns = (uint64_t)engine_heartbeat_period_ms(e->self->heartbeat_timeout_ms) * 1000000;
    e->drain_ms = engine_drain_ms(e->self->stop_timeout_ms);
    uint32_t periods[ENGINE_MAX_TIMERS];
    if (e->def->ntimers > ENGINE_MAX_TIMERS || (e->def->ntimers && !e->def->timers)) {
        mesh_error("engine defines %zu timers; the runtime supports %d", e->def->ntimers,
                   ENGINE_MAX_TIMERS);
        return MESH_EINVAL;
    }
    for (size_t i = 0; i < e->def->ntimers; i++)
        periods[i] = e->def->timers[i].fn ? e->def->timers[i].period_ms : 0;
    int rc = engine_sched_init(&e->sched, periods, e->def->ntimers, mesh_now_ns());
    if (rc < 0)
        mesh_error("a timer has a zero period or no function");
    return rc;
}

static size_t arena_size(const engine *e)
{
    size_t size = MSG_ARENA_DEFAULT_SIZE;
    for (int i = 0; i < e->nin; i++) {
        size_t need = (size_t)bus_ring_max_record(e->in[i].ring) * 4;
        if (need > size)
            size = need;
    }
    return size > (64u << 20) ? (64u << 20) : size;
}

static int pin_cpu(engine *e)
{
    if (e->self->cpu < 0)
        return 0;
    int rc = mesh_cpu_pin(e->self->cpu);
    if (rc < 0)
        mesh_error("cpu: %d (%s:%d): cannot pin the engine thread: %s", e->self->cpu, e->cfg->path,
                   e->self->line, mesh_strerror(rc));
    return rc;
}

/* Everything before init; any failure is a setup failure (exit 2). */
static int setup(engine *e)
{
    int rc = engine_signals_install();
    if (rc < 0)
        mesh_error("signal handlers: %s", mesh_strerror(rc));
    if (rc == 0)
        rc = env_setup(e);
    if (rc == 0)
        rc = config_setup(e);
    if (rc == 0)
        rc = wait_setup(e);
    if (rc == 0)
        rc = attach_ctl(e);
    if (rc == 0)
        rc = engine_state_setup(e);
    if (rc == 0)
        rc = attach_inputs(e);
    if (rc == 0)
        rc = attach_outputs(e);
    if (rc == 0)
        rc = handlers_setup(e);
    if (rc == 0 && (rc = msg_arena_open(&e->arena, arena_size(e))) < 0)
        mesh_error("decode arena: %s", mesh_strerror(rc));
    if (rc == 0)
        rc = pin_cpu(e);
    return rc;
}

static int report_ready(engine *e)
{
    bus_ctl_set_state(e->ctl, BUS_CTL_STATE_RUNNING);
    bus_ctl_set_ready(e->ctl, 1);
    engine_heartbeat(e, mesh_now_ns(), 1);
    if (e->ready_fd < 0)
        return 0;
    static const char msg[] = "ready\n";
    ssize_t w;
    do
        w = write(e->ready_fd, msg, sizeof(msg) - 1);
    while (w < 0 && errno == EINTR);
    int err = w < 0 ? errno : 0;
    close(e->ready_fd);
    e->ready_fd = -1;
    if (err) {
        mesh_error("MESH_READY_FD: cannot report readiness: %s", strerror(err));
        return mesh_err_from_errno(err);
    }
    return 0;
}

static void log_final(const engine *e)
{
    const engine_counters *c = &e->cnt;
    mesh_info("stopped: in %llu (%llu B), out %llu (%llu B), malformed %llu, unknown type %llu, "
              "skipped as already handled %llu, sequence gaps %llu, handler errors %llu, "
              "drops %llu, full waits %llu, unrouted %llu, state saves %llu, not published again "
              "after a resume %llu",
              (unsigned long long)c->msgs_in, (unsigned long long)c->bytes_in,
              (unsigned long long)c->msgs_out, (unsigned long long)c->bytes_out,
              (unsigned long long)c->malformed, (unsigned long long)c->unknown_type,
              (unsigned long long)c->skipped_seen, (unsigned long long)c->seq_gaps,
              (unsigned long long)c->handler_errors, (unsigned long long)c->drops,
              (unsigned long long)c->full_waits, (unsigned long long)c->unrouted,
              (unsigned long long)c->state_saves, (unsigned long long)c->replay_skipped);
}

static void teardown(engine *e)
{
    engine_signals_doorbell(NULL); /* the control block is unmapped below */
    for (int i = 0; i < e->nout; i++) {
        bus_ring_close(e->out[i].ring);
        bus_ctl_close(e->out[i].peer_ctl);
    }
    for (int i = 0; i < e->nin; i++)
        bus_ring_close(e->in[i].ring);
    bus_ctl_close(e->ctl);
    engine_state_teardown(e);
    msg_arena_close(e->arena);
    mesh_config_free(e->cfg);
    if (e->ready_fd >= 0)
        close(e->ready_fd);
}

static int run(engine *e, int argc, char **argv)
{
    if (setup(e) < 0)
        return EXIT_SETUP;
    int rc = e->def->init ? e->def->init(e, argc, argv) : 0;
    if (rc < 0) {
        mesh_error("init failed: %s", mesh_strerror(rc));
        return rc == MESH_EINVAL ? EXIT_SETUP : EXIT_FAIL;
    }
    if (report_ready(e) < 0)
        return EXIT_FAIL;
    mesh_info("ready: pid %d, generation %u, %d input(s), %d output(s), cpu %d", (int)getpid(),
              e->generation, e->nin, e->nout, e->self->cpu);
    engine_loop_run(e);
    if (e->def->shutdown)
        e->def->shutdown(e);
    bus_ctl_set_ready(e->ctl, 0);
    bus_ctl_set_state(e->ctl, BUS_CTL_STATE_STOPPED);
    log_final(e);
    return 0;
}

int engine_main(const engine_def *def, int argc, char **argv)
{
    if (!def)
        return EXIT_FAIL;
    const char *dname = def->name ? def->name : "engine";
    if (help_requested(argc, argv)) {
        printf("%s%s", def->usage ? def->usage : "", runtime_help);
        fflush(stdout);
        return 0;
    }
    mesh_log_init(dname, log_level_from_env());
    static engine eng; /* large (dispatch table, rings); one per process */
    engine *e = &eng;
    memset(e, 0, sizeof(*e));
    e->def = def;
    e->ready_fd = -1;
    snprintf(e->name, sizeof(e->name), "%s", dname);
    int code = run(e, argc, argv);
    teardown(e);
    return code;
}
