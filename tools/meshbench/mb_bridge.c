/* meshbench transport "nng-route": the ring's payloads carried by the nng
 * bridge (libmeshbridge) over TCP on 127.0.0.1, as an off-host route runs in
 * the mesh. Each role has its own pair of rings, as an engine on its own
 * mesh would; two bridge processes (the `mesh-bridge` of each side,
 * unpinned) join them: role A -> ring -> bridge A -> TCP -> bridge B ->
 * ring -> role B, and the echo back the same way through a second route.
 * The roles use the ring endpoints of mb_ring.c; their polls yield, since
 * the bridges' threads share the two CPUs with them. */
#include "mb_atomic.h"
#include "mb_ring.h"

#include "bridge.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUTE_URL_LEN  64
#define ROUTE_READY_NS 20000000000ull /* both bridges started and connected within this */
#define ROUTE_STOP_NS  5000000000ull  /* each stop step: a bridge is killed after this */
#define ROUTE_DRAIN_NS 1000000000ull  /* a stopping bridge waits this long for the last acks */
#define ROUTE_POLL_NS  1000000ull     /* parent and bridges poll for readiness this often */

static const char *const side_name[2] = {"meshbench-a", "meshbench-b"};

/* Shared by the parent, the two bridge processes and the two roles (a
 * MAP_SHARED anonymous mapping made before they fork). */
typedef struct route_shm {
    /* per side: the bridge's send thread sleeps on it; the role's producer
     * rings it after each publication (bus_ring_set_doorbell) */
    bus_doorbell db[2];
    /* per side: 1 once its bridge is started and its link to the other side
     * is up (release store in the bridge; acquire load in the parent) */
    uint32_t ready[2];
    /* per side: 1 once its bridge is stopped (same pairing, route_stop) */
    uint32_t stopped[2];
} route_shm;

typedef struct route_priv {
    mb_rings rings;
    route_shm *shm;
    pid_t pid[2];               /* bridge processes (0: none or reaped) */
    int hold[2];                /* sockets reserving the listen ports (-1: none) */
    char url[2][ROUTE_URL_LEN]; /* side s's bridge listens on url[s] */
} route_priv;

/* Reserves a loopback TCP port for a bridge's listener: a bound, not
 * listening socket with SO_REUSEADDR keeps other binds and outgoing
 * connections off the port, while nng's listener (which sets SO_REUSEADDR
 * too) may still bind it. Both bridges need both URLs before either starts. */
static int reserve_port(int *fd, char *url, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof(a);
    int on = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return mesh_err_from_errno(errno);
    if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(*fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &alen) != 0)
        return mesh_err_from_errno(errno); /* teardown closes *fd */
    snprintf(url, len, "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    return 0;
}

static void nap_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* Adds side s's two routes: role s's output ring goes to the other side,
 * the other side's output arrives in role s's input ring. Both `wait`
 * routes (acknowledged, nothing lost), any type id. */
static int side_routes(route_priv *p, int s, bridge *b, bus_ring *out, bus_ring *in, char *err,
                       size_t errlen)
{
    bridge_route_def ro = {.from = side_name[s],
                           .to = side_name[1 - s],
                           .peer = side_name[1 - s],
                           .dir = BRIDGE_DIR_OUT,
                           .policy = MESH_POLICY_WAIT,
                           .ring = out,
                           .url = p->url[1 - s]};
    bridge_route_def ri = {.from = side_name[1 - s],
                           .to = side_name[s],
                           .peer = side_name[1 - s],
                           .dir = BRIDGE_DIR_IN,
                           .policy = MESH_POLICY_WAIT,
                           .ring = in};
    int rc = bridge_add_route(b, &ro, err, errlen);
    return rc != 0 ? rc : bridge_add_route(b, &ri, err, errlen);
}

/* Opens side s's rings and counters, starts its bridge and waits until its
 * link to the other side is up. Nothing is freed on failure: the process
 * exits. Returns 0 and *out, or an error with the reason in err. */
static int side_start(route_priv *p, int s, bridge **out, char *err, size_t errlen)
{
    const mb_rings *r = &p->rings;
    bus_ring *tx = NULL, *rx = NULL;
    bridge_state *st = NULL;
    bridge_opts o;
    int rc = bus_ring_open(&tx, r->name[r->tx[s]], BUS_RING_CONSUMER);
    if (rc == 0)
        rc = bus_ring_open(&rx, r->name[r->rx[s]], BUS_RING_PRODUCER);
    if (rc == 0)
        rc = bridge_state_open_mem(&st);
    if (rc != 0) {
        snprintf(err, errlen, "rings or state: %s", mesh_strerror(rc));
        return rc;
    }
    bridge_opts_default(&o);
    o.state = st;
    o.doorbell = &p->shm->db[s];
    o.listen = p->url[s];
    rc = bridge_open(out, &o);
    if (rc == 0)
        rc = side_routes(p, s, *out, tx, rx, err, errlen);
    if (rc == 0)
        rc = bridge_start(*out, err, errlen);
    if (rc != 0)
        return rc;
    const bridge_state_hdr *h = bridge_state_header(st);
    uint64_t until = mesh_now_ns() + ROUTE_READY_NS;
    while (bridge_word_get(&h->links_up) == 0) { /* set by the send thread */
        if (mesh_now_ns() > until) {
            snprintf(err, errlen, "no connection to %s within %llu s", p->url[1 - s],
                     (unsigned long long)(ROUTE_READY_NS / 1000000000ull));
            return MESH_ETIMEDOUT;
        }
        nap_ns(ROUTE_POLL_NS);
    }
    return 0;
}

static void wait_signal(const sigset_t *sigs)
{
    int sig = 0;
    while (sigwait(sigs, &sig) != 0)
        ;
}

/* From here on the other bridge's exit is expected: nng's "connection lost"
 * warning about it would only be noise on the benchmark's output. */
static void quiet_stderr(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO); /* atomic: a line being logged goes to one or the other */
        close(fd);
    }
}

/* Body of side s's bridge process: start, report ready, run until the
 * first SIGTERM (teardown) or SIGINT, stop, report stopped, exit at the
 * second one. Never returns. */
static void side_main(mb_case *c, route_priv *p, int s, pid_t parent)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* before the threads: they inherit it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(3);
    mesh_log_init(s == 0 ? "meshbench bridge A" : "meshbench bridge B", MESH_LOG_WARN);
    bridge *b = NULL;
    char err[MB_ERR_LEN] = "";
    int rc = side_start(p, s, &b, err, sizeof(err));
    if (rc != 0) {
        mesh_error("%s (%s)", err[0] ? err : "cannot start", mesh_strerror(rc));
        mb_fail(c, rc, "bridge %c: %s", 'A' + s, err);
        _exit(1);
    }
    mb_store_rel_32(&p->shm->ready[s], 1); /* pairs with the acquire in wait_ready */
    wait_signal(&sigs);
    /* The roles are gone: what they consumed is acknowledged while draining,
     * so a clean stop has nothing to warn about. No bridge_close: see
     * bridge.h on nng_close with libnng 1.5.2. */
    bridge_stop(b, ROUTE_DRAIN_NS);
    quiet_stderr();
    mb_store_rel_32(&p->shm->stopped[s], 1); /* pairs with the acquire in route_stop */
    wait_signal(&sigs);
    _exit(0);
}

/* Reaps side s's bridge if it exited; 1 if it did (and was not asked to). */
static int side_gone(route_priv *p, int s)
{
    int st;
    if (p->pid[s] <= 0 || waitpid(p->pid[s], &st, WNOHANG) != p->pid[s])
        return 0;
    p->pid[s] = 0;
    return 1;
}

/* Waits until both bridges report ready. Returns 0, or an error after
 * logging why (a bridge logs its own failure first). */
static int wait_ready(mb_case *c, route_priv *p)
{
    uint64_t until = mesh_now_ns() + ROUTE_READY_NS + ROUTE_STOP_NS;
    for (;;) {
        /* Acquire; pairs with the release store in side_main. */
        if (mb_load_acq_32(&p->shm->ready[0]) && mb_load_acq_32(&p->shm->ready[1]))
            return 0;
        for (int s = 0; s < 2; s++) {
            if (side_gone(p, s)) {
                mesh_error("nng-route: bridge %c exited before its link was up", 'A' + s);
                return MESH_ECHILD;
            }
        }
        if (mb_aborted(c))
            return MESH_ECANCELED;
        if (mesh_now_ns() > until) {
            mesh_error("nng-route: the bridges were not ready in time");
            return MESH_ETIMEDOUT;
        }
        nap_ns(ROUTE_POLL_NS);
    }
}

static int route_rings(mb_case *c, route_priv *p)
{
    static const char *const what[4] = {"a-out", "a-in", "b-out", "b-in"};
    int idx[4];
    for (int i = 0; i < 4; i++) {
        idx[i] = mb_rings_add(c, &p->rings, what[i]);
        if (idx[i] < 0)
            return idx[i];
    }
    p->rings.tx[0] = idx[0];
    p->rings.rx[0] = idx[1];
    p->rings.tx[1] = idx[2];
    p->rings.rx[1] = idx[3];
    return 0;
}

/* Rings, doorbells, two reserved ports, then the two bridge processes
 * (forked from the still single-threaded parent); returns once both are
 * connected. teardown undoes any prefix of it. */
static int route_setup(mb_case *c)
{
    route_priv *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return MESH_ENOMEM;
    p->hold[0] = p->hold[1] = -1;
    c->setup_priv = p;
    c->rings = &p->rings;
    p->rings.yield = true;
    p->rings.stamp = true;
    int rc = route_rings(c, p);
    if (rc != 0)
        return rc;
    p->shm = mmap(NULL, sizeof(*p->shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->shm == MAP_FAILED) {
        p->shm = NULL;
        return mesh_err_from_errno(errno);
    }
    for (int s = 0; s < 2; s++) {
        bus_doorbell_init(&p->shm->db[s]);
        p->rings.db[s] = &p->shm->db[s];
        rc = reserve_port(&p->hold[s], p->url[s], sizeof(p->url[s]));
        if (rc != 0)
            return rc;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    for (int s = 0; s < 2; s++) {
        pid_t pid = fork();
        if (pid < 0)
            return mesh_err_from_errno(errno);
        if (pid == 0)
            side_main(c, p, s, parent);
        p->pid[s] = pid;
    }
    return wait_ready(c, p);
}

/* Reaps side s's bridge after a SIGTERM (SIGKILL after ROUTE_STOP_NS). */
static void side_reap(route_priv *p, int s)
{
    if (p->pid[s] <= 0)
        return;
    kill(p->pid[s], SIGTERM);
    uint64_t until = mesh_now_ns() + ROUTE_STOP_NS;
    while (!side_gone(p, s)) {
        if (mesh_now_ns() > until) {
            mesh_warn("nng-route: bridge %c did not exit within %llu s: killed", 'A' + s,
                      (unsigned long long)(ROUTE_STOP_NS / 1000000000ull));
            kill(p->pid[s], SIGKILL);
            waitpid(p->pid[s], NULL, 0);
            p->pid[s] = 0;
            return;
        }
        nap_ns(ROUTE_POLL_NS);
    }
}

static int side_stopped(route_priv *p, int s)
{
    /* Acquire; pairs with the release store in side_main. */
    return p->pid[s] <= 0 || mb_load_acq_32(&p->shm->stopped[s]) || side_gone(p, s);
}

/* Stops both bridges, then lets them exit: neither closes its connections
 * while the other still drains. */
static void route_stop(route_priv *p)
{
    for (int s = 0; s < 2; s++)
        if (p->pid[s] > 0)
            kill(p->pid[s], SIGTERM);
    uint64_t until = mesh_now_ns() + ROUTE_STOP_NS;
    while (!(side_stopped(p, 0) && side_stopped(p, 1)) && mesh_now_ns() < until)
        nap_ns(ROUTE_POLL_NS);
    for (int s = 0; s < 2; s++)
        side_reap(p, s);
}

static void route_teardown(mb_case *c)
{
    route_priv *p = c->setup_priv;
    if (p == NULL)
        return;
    if (p->shm != NULL)
        route_stop(p); /* no bridge was forked without it */
    for (int s = 0; s < 2; s++)
        if (p->hold[s] >= 0)
            close(p->hold[s]);
    mb_rings_unlink(&p->rings);
    if (p->shm != NULL)
        munmap(p->shm, sizeof(*p->shm));
    free(p);
    c->setup_priv = NULL;
    c->rings = NULL;
}

const mb_transport mb_tr_nng_route = {
    .name = "nng-route",
    .what = "ring -> nng bridge -> TCP 127.0.0.1 -> bridge -> ring (bridges unpinned)",
    .flags = 0,
    .rtt_allow_us = 2000, /* round trips of 0.1-1 ms with a loaded scheduler */
    .setup = route_setup,
    .teardown = route_teardown,
    .open = mb_ring_ep_open,
    .close = mb_ring_ep_close,
    .send = mb_ring_ep_send,
    .recv = mb_ring_ep_recv,
    .stream = mb_ring_ep_stream,
};
