/* mesh-bridge: the daemon meshd starts as engine "bridge" for a mesh with
 * off-host routes. Follows the engine launch protocol: MESH_* environment,
 * attaches the control block and rings meshd created, reports readiness on
 * MESH_READY_FD, heartbeats while its threads make progress, drains and
 * exits 0 on SIGTERM/SIGINT. */
#include "bridge.h"
#include "bridge_cfg.h"
#include "bus_ctl.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_SETUP 2
#define EXIT_FAIL  1
#define SHM_NAME   256
#define STALE_NS   1000000000ull /* a thread silent this long withholds the heartbeat */

static const char usage[] =
    "usage: mesh-bridge [--batch-bytes N] [--window-bytes N]\n"
    "  Carries the mesh's off-host routes over nng (TCP). Started by meshd as the\n"
    "  engine \"bridge\" when the config has a route with `peer:` or mesh.listen.\n"
    "  Outbound routes (local producer, consumer on a peer): reads the ring\n"
    "  /mesh.<mesh>.ring.<from>.<to> and sends it to the peer's address.\n"
    "  Inbound routes (producer on a peer): listens on mesh.listen and fills the ring.\n"
    "  --batch-bytes N    frame size target, 4096..16777216 (default 65536)\n"
    "  --window-bytes N   unacknowledged bytes per wait route (default: half the ring)\n"
    "Environment (set by meshd): MESH_CONFIG, MESH_CONFIG_FD, MESH_ENGINE, MESH_GENERATION,\n"
    "MESH_READY_FD, MESH_SEARCH_PATH, MESH_LOG_LEVEL. Counters: meshctl, or the\n"
    "shared object /mesh.<mesh>.bridge.state. Exit status 0 clean stop, 2 bad\n"
    "environment/config/arguments or missing shared memory, 1 other failure.\n";

typedef struct daemon_state {
    mesh_config *cfg;
    const mesh_engine_cfg *self;
    bus_ctl *ctl;
    bridge_state *st;
    bridge *b;
    bus_ring *ring[MESH_CFG_MAX_ROUTES];
    bus_ctl *peer_ctl[MESH_CFG_MAX_ROUTES];
    int nring, nctl;
    int ready_fd;
    uint64_t in_seen, out_seen; /* route totals already added to the control block */
    int started;                /* bridge_start was called */
    bridge_opts opts;
    char name[MESH_NAME_MAX];
} daemon_state;

static enum mesh_log_level log_level(void)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *s = getenv("MESH_LOG_LEVEL");
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return (enum mesh_log_level)i;
    return MESH_LOG_INFO;
}

static int parse_size(const char *opt, const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!s || errno || !end || *end || v < lo || v > hi) {
        mesh_error("%s '%s': expected an integer in %zu..%zu", opt, s ? s : "", lo, hi);
        return MESH_EINVAL;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_args(daemon_state *d, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int last = i + 1 >= argc;
        if (strcmp(argv[i], "--batch-bytes") == 0 && !last) {
            if (parse_size(argv[i], argv[i + 1], 4096, 16u << 20, &d->opts.batch_bytes) < 0)
                return MESH_EINVAL;
            i++;
        } else if (strcmp(argv[i], "--window-bytes") == 0 && !last) {
            if (parse_size(argv[i], argv[i + 1], 4096, 1u << 30, &d->opts.window_bytes) < 0)
                return MESH_EINVAL;
            i++;
        } else {
            mesh_error("argument '%s': unknown or missing its value (see --help)", argv[i]);
            return MESH_EINVAL;
        }
    }
    return 0;
}

static int type_lookup(const char *name, void *arg)
{
    const msg_type_info *t = NULL;
    (void)arg;
    int rc = msg_type_by_name(name, &t);
    return rc < 0 ? rc : (int)t->id;
}

static int load_config(daemon_state *d)
{
    const char *path = getenv("MESH_CONFIG"), *name = getenv("MESH_ENGINE");
    const char *rfd = getenv("MESH_READY_FD");
    if (!path || !*path) {
        mesh_error("MESH_CONFIG is not set: the bridge is started by meshd (see --help)");
        return MESH_EINVAL;
    }
    snprintf(d->name, sizeof(d->name), "%s", name && *name ? name : BRIDGE_ENGINE_NAME);
    d->ready_fd = -1;
    if (rfd && *rfd) {
        char *end = NULL;
        long fd = strtol(rfd, &end, 10);
        if (*end || fd < 0 || fcntl((int)fd, F_GETFD) < 0) {
            mesh_error("MESH_READY_FD='%s': not an open file descriptor", rfd);
            return MESH_EBADF;
        }
        d->ready_fd = (int)fd;
        fcntl(d->ready_fd, F_SETFD, FD_CLOEXEC);
    }
    mesh_config_opts opts = {.search_path = getenv("MESH_SEARCH_PATH"), .type_lookup = type_lookup};
    static char err[8192];
    /* meshd's snapshot of the config it runs (MESH_CONFIG_FD), as engines do. */
    int rc =
        mesh_config_load_given(&d->cfg, path, getenv("MESH_CONFIG_FD"), &opts, err, sizeof(err));
    if (rc < 0) {
        mesh_error("MESH_CONFIG=%s: cannot load (%s):\n%s", path, mesh_strerror(rc), err);
        return rc;
    }
    /* The same engine entry meshd supervises (its own, or the one it added). */
    char bin[512];
    int have_bin = bridge_cfg_find_binary(getenv("MESH_SEARCH_PATH"), bin, sizeof(bin)) == 0;
    rc = bridge_cfg_inject(d->cfg, have_bin ? bin : "/proc/self/exe", err, sizeof(err));
    if (rc < 0) {
        mesh_error("%s", err);
        return rc;
    }
    int idx = mesh_config_engine_index(d->cfg, d->name);
    if (idx < 0) {
        mesh_error("MESH_ENGINE=%s: no engine of that name in %s", d->name, path);
        return MESH_ENOENT;
    }
    d->self = &d->cfg->engines[idx];
    return 0;
}

static int attach_ctl(daemon_state *d)
{
    char shm[SHM_NAME];
    int rc = bus_shm_name(shm, sizeof(shm), d->cfg->name, "ctl", d->name, NULL);
    if (rc == 0)
        rc = bus_ctl_open(&d->ctl, shm, BUS_CTL_RW);
    if (rc < 0) {
        mesh_error("control block %s: cannot attach: %s (meshd creates it before starting the "
                   "bridge)",
                   shm, mesh_strerror(rc));
        return rc;
    }
    /* The send thread will sleep on this doorbell: clear a `sleeping` flag a
     * killed predecessor left set (producers would ring on every commit). */
    bus_doorbell_reset(bus_ctl_doorbell(d->ctl));
    bus_ctl_set_pid(d->ctl, (int32_t)getpid());
    bus_ctl_set_state(d->ctl, BUS_CTL_STATE_STARTING);
    bus_ctl_set_ready(d->ctl, 0);
    bus_ctl_heartbeat(d->ctl, mesh_now_ns());
    bus_ctl_snapshot snap;
    bus_ctl_snapshot_get(d->ctl, &snap);
    int fresh = 0;
    rc = bridge_state_open(&d->st, d->cfg->name, snap.generation, &fresh);
    if (rc < 0)
        mesh_error("bridge state of mesh %s: cannot open: %s", d->cfg->name, mesh_strerror(rc));
    return rc;
}

static int open_ring(daemon_state *d, const mesh_route_cfg *r, enum bus_ring_role role,
                     bus_ring **out)
{
    char shm[SHM_NAME];
    int rc = bus_shm_name(shm, sizeof(shm), d->cfg->name, "ring", r->from, r->to);
    if (rc == 0)
        rc = bus_ring_open(out, shm, role);
    if (rc < 0)
        mesh_error("%s:%d: route %s -> %s (peer %s): ring %s: %s (meshd creates the local ring "
                   "of every off-host route before starting the bridge)",
                   d->cfg->path, r->line, r->from, r->to, d->cfg->peers[r->peer].name, shm,
                   mesh_strerror(rc));
    else
        d->ring[d->nring++] = *out;
    return rc;
}

/* Inbound ring: we produce, the local consumer engine's doorbell is rung. */
static int open_in(daemon_state *d, const mesh_route_cfg *r, bus_ring **ring)
{
    int rc = open_ring(d, r, BUS_RING_PRODUCER, ring);
    if (rc < 0)
        return rc;
    char shm[SHM_NAME];
    bus_ctl *c = NULL;
    rc = bus_shm_name(shm, sizeof(shm), d->cfg->name, "ctl", r->to, NULL);
    if (rc == 0)
        rc = bus_ctl_open(&c, shm, BUS_CTL_RW);
    if (rc < 0) {
        mesh_error("route %s -> %s: consumer control block %s: %s", r->from, r->to, shm,
                   mesh_strerror(rc));
        return rc;
    }
    d->peer_ctl[d->nctl++] = c;
    bus_ring_set_doorbell(*ring, bus_ctl_doorbell(c));
    return 0;
}

static int add_routes(daemon_state *d)
{
    char err[512];
    for (int i = 0; i < d->cfg->nroutes; i++) {
        const mesh_route_cfg *r = &d->cfg->routes[i];
        if (r->peer < 0)
            continue;
        const mesh_peer_cfg *p = &d->cfg->peers[r->peer];
        int out = r->from_engine >= 0;
        bridge_route_def def = {.from = r->from,
                                .to = r->to,
                                .peer = p->name,
                                .dir = out ? BRIDGE_DIR_OUT : BRIDGE_DIR_IN,
                                .policy = r->policy,
                                .url = p->address,
                                .types = r->types,
                                .ntypes = r->ntypes};
        for (int t = 0; t < r->ntypes; t++)
            if (r->types[t] < 0)
                def.ntypes = 0; /* names not resolved: accept any type id */
        int rc = out ? open_ring(d, r, BUS_RING_CONSUMER, &def.ring) : open_in(d, r, &def.ring);
        if (rc == 0 && (rc = bridge_add_route(d->b, &def, err, sizeof(err))) < 0)
            mesh_error("%s:%d: %s", d->cfg->path, r->line, err);
        if (rc < 0)
            return rc;
        const char *pol = r->policy == MESH_POLICY_DROP ? "drop" : "wait";
        if (out)
            mesh_info("route %s -> %s: to peer %s at %s, policy %s", r->from, r->to, p->name,
                      p->address, pol);
        else
            mesh_info("route %s -> %s: from peer %s, received on %s, policy %s", r->from, r->to,
                      p->name, d->cfg->listen, pol);
    }
    return 0;
}

static int setup(daemon_state *d)
{
    int rc = load_config(d);
    if (rc == 0)
        rc = attach_ctl(d);
    if (rc < 0)
        return rc;
    d->opts.state = d->st;
    d->opts.doorbell = bus_ctl_doorbell(d->ctl);
    d->opts.listen = d->cfg->listen;
    d->opts.mesh = d->cfg->name;
    if ((rc = bridge_open(&d->b, &d->opts)) < 0)
        return rc;
    return add_routes(d);
}

static int report_ready(daemon_state *d)
{
    bus_ctl_set_state(d->ctl, BUS_CTL_STATE_RUNNING);
    bus_ctl_set_ready(d->ctl, 1);
    bus_ctl_heartbeat(d->ctl, mesh_now_ns());
    if (d->ready_fd < 0)
        return 0;
    ssize_t w;
    do
        w = write(d->ready_fd, "ready\n", 6);
    while (w < 0 && errno == EINTR);
    int e = w < 0 ? errno : 0;
    close(d->ready_fd);
    d->ready_fd = -1;
    if (e)
        mesh_error("MESH_READY_FD: cannot report readiness: %s", strerror(e));
    return e ? mesh_err_from_errno(e) : 0;
}

/* Heartbeat period: heartbeat_timeout_ms / 4 within [10, 250] ms. */
static uint64_t heartbeat_ns(const mesh_engine_cfg *e)
{
    uint64_t ms = e->heartbeat_timeout_ms ? e->heartbeat_timeout_ms / 4 : 250;
    ms = ms < 10 ? 10 : ms > 250 ? 250 : ms;
    return ms * 1000000ull;
}

/* Mirrors the route totals into the control block's in/out counters. */
static void sync_counters(daemon_state *d)
{
    uint64_t in = 0, out = 0;
    for (uint32_t i = 0; i < bridge_state_nslots(d->st); i++) {
        const bridge_slot *s = bridge_state_slot_at(d->st, i);
        in += bridge_slot_get(s, BRIDGE_C_RECEIVED);
        out += bridge_slot_get(s, BRIDGE_C_SENT);
    }
    if (in > d->in_seen)
        bus_ctl_count(d->ctl, BUS_CTL_MSGS_IN, in - d->in_seen);
    if (out > d->out_seen)
        bus_ctl_count(d->ctl, BUS_CTL_MSGS_OUT, out - d->out_seen);
    d->in_seen = in;
    d->out_seen = out;
}

/* Waits for SIGTERM/SIGINT, heartbeating while both threads are alive. */
static int run_until_signal(daemon_state *d, const sigset_t *sigs)
{
    uint64_t period = heartbeat_ns(d->self);
    int withheld = 0;
    for (;;) {
        struct timespec ts = {(time_t)(period / 1000000000ull), (long)(period % 1000000000ull)};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        uint64_t now = mesh_now_ns();
        if (bridge_alive(d->b, now, STALE_NS)) {
            bus_ctl_heartbeat(d->ctl, now);
            withheld = 0;
        } else if (!withheld++) {
            mesh_error("a bridge thread has made no progress for over %llu ms, or a route became "
                       "unusable (logged above): heartbeat "
                       "withheld (meshd will restart the bridge)",
                       (unsigned long long)(STALE_NS / 1000000));
        }
        sync_counters(d);
    }
}

/* After bridge_start, nng callbacks may still run until the process exits
 * (they ring the control block's doorbell), and nng_close can hang with
 * libnng 1.5.2 (see bridge.h): the bridge, its sockets and mappings then go
 * with the process. Before that, everything is released here. */
static void teardown(daemon_state *d)
{
    if (d->ready_fd >= 0)
        close(d->ready_fd);
    d->ready_fd = -1;
    if (d->started)
        return;
    bridge_close(d->b);
    for (int i = 0; i < d->nring; i++)
        bus_ring_close(d->ring[i]);
    for (int i = 0; i < d->nctl; i++)
        bus_ctl_close(d->peer_ctl[i]);
    bridge_state_close(d->st);
    bus_ctl_close(d->ctl);
    mesh_config_free(d->cfg);
}

static int run(daemon_state *d, int argc, char **argv)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* taken with sigtimedwait; threads inherit the block */
    signal(SIGPIPE, SIG_IGN);
    if (parse_args(d, argc, argv) < 0 || setup(d) < 0)
        return EXIT_SETUP;
    char err[512] = "";
    int rc = bridge_start(d->b, err, sizeof(err));
    d->started = 1; /* threads or sockets may exist even when it failed half-way */
    if (rc < 0) {
        mesh_error("%s", err);
        return rc == MESH_EINVAL || rc == MESH_EADDRINUSE ? EXIT_SETUP : EXIT_FAIL;
    }
    if (report_ready(d) < 0)
        return EXIT_FAIL;
    mesh_info("ready: pid %d, mesh %s", (int)getpid(), d->cfg->name);
    int sig = run_until_signal(d, &sigs);
    uint64_t drain_ms = d->self->stop_timeout_ms / 2;
    mesh_info("%s: draining for at most %llu ms", sig == SIGINT ? "SIGINT" : "SIGTERM",
              (unsigned long long)drain_ms);
    bus_ctl_set_state(d->ctl, BUS_CTL_STATE_DRAINING);
    bridge_stop(d->b, drain_ms * 1000000ull);
    sync_counters(d);
    bus_ctl_set_ready(d->ctl, 0);
    bus_ctl_set_state(d->ctl, BUS_CTL_STATE_STOPPED);
    mesh_info("stopped: %llu record(s) sent, %llu received", (unsigned long long)d->out_seen,
              (unsigned long long)d->in_seen);
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    mesh_log_init(BRIDGE_ENGINE_NAME, log_level());
    static daemon_state d;
    bridge_opts_default(&d.opts);
    int code = run(&d, argc, argv);
    teardown(&d);
    return code;
}
