/* Two meshes on one machine joined by two mesh-bridge processes over TCP on
 * 127.0.0.1. This driver plays meshd (config files, rings, control blocks,
 * spawning the bridges with the launch protocol) and the engines (a producer
 * thread on mesh A's ring, a consumer thread on mesh B's ring). Wait routes
 * deliver every record once and in order, across kill -9 of either bridge
 * and across a restart of B with a new ring and state; drop routes account
 * for every record as received or reported missing. Plain C (no Criterion),
 * so it also runs under ThreadSanitizer. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge_state.h"
#include "bus_ctl.h"
#include "bus_shm.h"
#include "mesh_log.h"
#include "test_bridge_util.h"

extern char **environ;

#define PAYLOAD  64
#define TYPE     1 /* "trade" in the proto registry, the type the routes carry */
#define RING     (256u << 10)
#define LIMIT_MS 120000

/* One mesh as meshd would set it up: config, ring, control blocks, bridge. */
typedef struct tmesh {
    char name[32];
    char config[160];
    const char *engine; /* the local engine of the route: "src" on A, "dst" on B */
    bus_ctl *ctl;       /* the bridge's control block (doorbell, generation) */
    pid_t bridge;
} tmesh;

typedef struct world {
    enum mesh_policy policy;
    uint64_t n;
    char dir[64];
    int port;
    tmesh a, b;
    bus_ring *prod, *cons;
    pthread_t prod_thread, cons_thread;
    int cons_running;
    uint64_t stop_cons, produced_all; /* __atomic */
    uint64_t next, got, bad_order, thread_errors;
    uint64_t misnumbered; /* drop route: ring seq at B differs from the producer's at A */
} world;

static world *W; /* for the failure hook */

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void shm_path(char *buf, size_t len, const char *mesh, const char *kind, const char *a,
                     const char *b)
{
    TB_CHECK(bus_shm_name(buf, len, mesh, kind, a, b) == 0, "shm name");
}

/* Mesh A (listen 0): producer "src" here, "dst" on peer hostb = B's listen
 * address. Mesh B: consumer "dst" here, listens; its peer entry for A is
 * never dialled (nothing flows from B to A). */
static void write_config(world *w, tmesh *m, int listen)
{
    char listen_line[96] = "";
    if (listen)
        snprintf(listen_line, sizeof(listen_line), "  listen: tcp://127.0.0.1:%d\n", w->port);
    const char *peer = listen ? "hosta" : "hostb";
    FILE *f = fopen(m->config, "w");
    TB_CHECK(f != NULL, "%s: %s", m->config, strerror(errno));
    fprintf(f,
            "mesh:\n  name: %s\n  control_socket: %s/%s.sock\n%s"
            "engines:\n  - name: %s\n    binary: /bin/true\n"
            "routes:\n  - from: src\n    to: dst\n    peer: %s\n    types: [trade]\n"
            "    policy: %s\n    ring_bytes: 256KiB\n"
            "peers:\n  - name: %s\n    address: tcp://127.0.0.1:%d\n",
            m->name, w->dir, m->name, listen_line, m->engine, peer,
            w->policy == MESH_POLICY_WAIT ? "wait" : "drop", peer, listen ? 1 : w->port);
    fclose(f);
}

/* Creates the ring and control blocks of a mesh (as meshd does at start). */
static void mesh_shm_create(world *w, tmesh *m)
{
    char name[128];
    shm_path(name, sizeof(name), m->name, "ring", "src", "dst");
    int rc = bus_ring_create(
        name, RING, 0, w->policy == MESH_POLICY_WAIT ? BUS_RING_POLICY_WAIT : BUS_RING_POLICY_DROP);
    TB_CHECK(rc == 0, "%s: %d", name, rc);
    shm_path(name, sizeof(name), m->name, "ctl", m->engine, NULL);
    TB_CHECK(bus_ctl_create(name) == 0, "%s", name);
    shm_path(name, sizeof(name), m->name, "ctl", "bridge", NULL);
    TB_CHECK(bus_ctl_create(name) == 0, "%s", name);
    TB_CHECK(bus_ctl_open(&m->ctl, name, BUS_CTL_RW) == 0, "%s", name);
}

static void mesh_shm_remove(tmesh *m, int with_state)
{
    char name[128];
    bus_ctl_close(m->ctl);
    m->ctl = NULL;
    shm_path(name, sizeof(name), m->name, "ring", "src", "dst");
    bus_shm_unlink(name);
    shm_path(name, sizeof(name), m->name, "ctl", m->engine, NULL);
    bus_shm_unlink(name);
    shm_path(name, sizeof(name), m->name, "ctl", "bridge", NULL);
    bus_shm_unlink(name);
    if (with_state)
        bridge_state_unlink(m->name);
}

static int bridge_kill(tmesh *m, int sig);

/* Starts the bridge with the launch protocol and waits for "ready" (1), or
 * reaps it and returns 0 when it exits or stays silent. */
static int bridge_try_spawn(tmesh *m)
{
    char bin[512], env_cfg[256], env_gen[64];
    const char *root = getenv("MESH_BUILD_ROOT");
    snprintf(bin, sizeof(bin), "%s/bridge/mesh-bridge", root ? root : ".");
    snprintf(env_cfg, sizeof(env_cfg), "MESH_CONFIG=%s", m->config);
    unsigned gen = (unsigned)bus_ctl_next_generation(m->ctl) - 1;
    snprintf(env_gen, sizeof(env_gen), "MESH_GENERATION=%u", gen);
    int p[2];
    TB_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 6, sizeof(char *));
    TB_CHECK(env != NULL, "oom");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "MESH_", 5) != 0 || strncmp(environ[i], "MESH_TEST", 9) == 0)
            env[k++] = environ[i];
    env[k++] = env_cfg;
    env[k++] = "MESH_ENGINE=bridge";
    env[k++] = env_gen;
    env[k++] = "MESH_READY_FD=3";
    env[k++] = "MESH_LOG_LEVEL=warn";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3); /* dup2 clears FD_CLOEXEC on fd 3 */
    char *argv[] = {bin, NULL};
    int rc = posix_spawn(&m->bridge, bin, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(p[1]);
    TB_CHECK(rc == 0, "spawn %s: %s", bin, strerror(rc));
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char buf[16] = "";
    int ready = poll(&pfd, 1, 60000) == 1 && read(p[0], buf, sizeof(buf) - 1) == 6;
    close(p[0]);
    if (ready && strcmp(buf, "ready\n") == 0)
        return 1;
    bridge_kill(m, SIGKILL);
    return 0;
}

static void bridge_spawn(tmesh *m)
{
    TB_CHECK(bridge_try_spawn(m), "bridge of %s did not report ready", m->name);
}

/* Signals the bridge and reaps it (SIGKILL after 30 s). Returns the status. */
static int bridge_kill(tmesh *m, int sig)
{
    int status = -1;
    if (m->bridge <= 0)
        return status;
    kill(m->bridge, sig);
    for (int i = 0; i < 3000; i++) {
        if (waitpid(m->bridge, &status, WNOHANG) == m->bridge) {
            m->bridge = 0;
            return status;
        }
        test_sleep_ms(10);
    }
    kill(m->bridge, SIGKILL);
    waitpid(m->bridge, &status, 0);
    m->bridge = 0;
    return -1;
}

static void on_fail(void)
{
    if (!W)
        return;
    bridge_kill(&W->a, SIGKILL);
    bridge_kill(&W->b, SIGKILL);
    mesh_shm_remove(&W->a, 1);
    mesh_shm_remove(&W->b, 1);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    TB_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                 getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
             "no free port");
    close(fd);
    return ntohs(sa.sin_port);
}

static void *producer(void *arg)
{
    world *w = arg;
    uint8_t payload[PAYLOAD] = {0};
    for (uint64_t i = 1; i <= w->n; i++) {
        memcpy(payload, &i, sizeof(i));
        int rc = bus_ring_push_wait(w->prod, TYPE, payload, sizeof(payload), UINT64_MAX);
        if (rc != 0 && rc != BUS_RING_DROPPED)
            __atomic_add_fetch(&w->thread_errors, 1, __ATOMIC_RELAXED);
    }
    st(&w->produced_all, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    world *w = arg;
    uint8_t buf[PAYLOAD];
    bus_ring_rec rec;
    for (;;) {
        int rc = bus_ring_pop(w->cons, &rec, buf, sizeof(buf));
        if (rc == MESH_EAGAIN) {
            if (ld(&w->stop_cons))
                break;
            test_sleep_ms(1);
            continue;
        }
        if (rc != 0 || rec.type != TYPE) {
            __atomic_add_fetch(&w->thread_errors, 1, __ATOMIC_RELAXED);
            break;
        }
        uint64_t c;
        memcpy(&c, buf, sizeof(c));
        /* wait: exactly the next one; drop: later than the last one (records
         * may be missing, never reordered or repeated) */
        if (w->policy == MESH_POLICY_WAIT ? c != w->next : c < w->next) {
            if (__atomic_add_fetch(&w->bad_order, 1, __ATOMIC_RELAXED) < 5)
                fprintf(stderr, "consumer: got counter %llu (ring seq %llu), expected %s%llu\n",
                        (unsigned long long)c, (unsigned long long)rec.seq,
                        w->policy == MESH_POLICY_WAIT ? "" : "at least ",
                        (unsigned long long)w->next);
        }
        /* The producer's counter i went out as ring seq i at A; B numbers its
         * ring the same way, skipping what was lost, so that the consumer
         * engine sees every loss as a sequence gap. */
        if (w->policy == MESH_POLICY_DROP && rec.seq != c)
            __atomic_add_fetch(&w->misnumbered, 1, __ATOMIC_RELAXED);
        w->next = c + 1;
        st(&w->got, ld(&w->got) + 1);
    }
    return NULL;
}

static void consumer_start(world *w)
{
    char name[128];
    shm_path(name, sizeof(name), w->b.name, "ring", "src", "dst");
    TB_CHECK(bus_ring_open(&w->cons, name, BUS_RING_CONSUMER) == 0, "%s", name);
    st(&w->stop_cons, 0);
    TB_CHECK(pthread_create(&w->cons_thread, NULL, consumer, w) == 0, "thread");
    w->cons_running = 1;
}

static void consumer_stop(world *w)
{
    if (!w->cons_running)
        return;
    st(&w->stop_cons, 1);
    pthread_join(w->cons_thread, NULL);
    w->cons_running = 0;
    bus_ring_close(w->cons);
    w->cons = NULL;
}

static void producer_start(world *w)
{
    char name[128];
    shm_path(name, sizeof(name), w->a.name, "ring", "src", "dst");
    TB_CHECK(bus_ring_open(&w->prod, name, BUS_RING_PRODUCER) == 0, "%s", name);
    bus_ring_set_doorbell(w->prod, bus_ctl_doorbell(w->a.ctl)); /* wakes bridge A */
    TB_CHECK(pthread_create(&w->prod_thread, NULL, producer, w) == 0, "thread");
}

static void world_open(world *w, enum mesh_policy policy, uint64_t n)
{
    memset(w, 0, sizeof(*w));
    W = w;
    tb_on_fail = on_fail;
    w->policy = policy;
    w->n = n;
    w->next = 1;
    snprintf(w->dir, sizeof(w->dir), "/tmp/bridge-link-XXXXXX");
    TB_CHECK(mkdtemp(w->dir) != NULL, "mkdtemp");
    snprintf(w->a.name, sizeof(w->a.name), "tba%d", (int)getpid());
    snprintf(w->b.name, sizeof(w->b.name), "tbb%d", (int)getpid());
    w->a.engine = "src";
    w->b.engine = "dst";
    snprintf(w->a.config, sizeof(w->a.config), "%s/a.yaml", w->dir);
    snprintf(w->b.config, sizeof(w->b.config), "%s/b.yaml", w->dir);
    mesh_shm_remove(&w->a, 1); /* leftovers of a crashed earlier run with our pid */
    mesh_shm_remove(&w->b, 1);
    mesh_shm_create(w, &w->a);
    mesh_shm_create(w, &w->b);
    /* free_port's port may be taken before B listens on it (B then exits
     * with "address in use"): try again with another */
    int listening = 0;
    for (int attempt = 0; attempt < 5 && !listening; attempt++) {
        w->port = free_port();
        write_config(w, &w->a, 0);
        write_config(w, &w->b, 1);
        listening = bridge_try_spawn(&w->b);
    }
    TB_CHECK(listening, "bridge of %s did not start listening in 5 attempts", w->b.name);
    bridge_spawn(&w->a);
    consumer_start(w);
}

static void world_close(world *w)
{
    consumer_stop(w);
    bus_ring_close(w->prod);
    TB_CHECK(ld(&w->thread_errors) == 0, "producer or consumer saw an error");
    TB_CHECK(bridge_kill(&w->a, SIGTERM) == 0, "bridge A did not exit 0 on SIGTERM");
    TB_CHECK(bridge_kill(&w->b, SIGTERM) == 0, "bridge B did not exit 0 on SIGTERM");
    mesh_shm_remove(&w->a, 1);
    mesh_shm_remove(&w->b, 1);
    unlink(w->a.config);
    unlink(w->b.config);
    rmdir(w->dir);
    W = NULL;
}

/* A counter of the one route, read from a mesh's bridge state. */
static uint64_t counter(const tmesh *m, enum bridge_counter c)
{
    bridge_state *s = NULL;
    if (bridge_state_attach(&s, m->name) != 0)
        return 0;
    const bridge_slot *sl = bridge_state_slot_at(s, 0);
    uint64_t v = sl ? bridge_slot_get(sl, c) : 0;
    bridge_state_close(s);
    return v;
}

static void dump(const tmesh *m)
{
    fprintf(stderr, "%s:", m->name);
    for (int c = 0; c < BRIDGE_NCOUNTERS; c++)
        fprintf(stderr, " %s=%llu", bridge_counter_name((enum bridge_counter)c),
                (unsigned long long)counter(m, (enum bridge_counter)c));
    fputc('\n', stderr);
}

typedef struct until {
    world *w;
    uint64_t v;
} until;

static int got_at_least(void *arg)
{
    until *u = arg;
    return ld(&u->w->got) >= u->v;
}

static int b_applied(void *arg)
{
    until *u = arg;
    return counter(&u->w->b, BRIDGE_C_LAST_SEQ) >= u->v;
}

static int a_link_up(void *arg)
{
    world *w = arg;
    return counter(&w->a, BRIDGE_C_LINK_UP) == 1;
}

static void wait_got(world *w, uint64_t v)
{
    until u = {w, v};
    if (!test_wait_for(got_at_least, &u, LIMIT_MS)) {
        dump(&w->a);
        dump(&w->b);
    }
    TB_CHECK(ld(&w->got) >= v, "consumer got %llu of %llu", (unsigned long long)ld(&w->got),
             (unsigned long long)v);
}

static void check_exactly_once(world *w)
{
    wait_got(w, w->n);
    pthread_join(w->prod_thread, NULL);
    test_sleep_ms(50); /* a duplicate would arrive now */
    TB_CHECK(ld(&w->bad_order) == 0, "%llu records out of order or duplicated",
             (unsigned long long)ld(&w->bad_order));
    TB_CHECK(ld(&w->got) == w->n, "got %llu, want exactly %llu", (unsigned long long)ld(&w->got),
             (unsigned long long)w->n);
    TB_CHECK(counter(&w->b, BRIDGE_C_GAPS) == 0, "gaps reported on a wait route");
}

static void wait_route_delivers_everything_once_in_order(void)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    producer_start(&w);
    check_exactly_once(&w);
    TB_CHECK(counter(&w.b, BRIDGE_C_RECEIVED) == w.n, "received counter");
    TB_CHECK(counter(&w.a, BRIDGE_C_SENT) - counter(&w.a, BRIDGE_C_RESENT) == w.n, "sent");
    TB_CHECK(w.n / counter(&w.a, BRIDGE_C_FRAMES) > 1, "records are not batched");
    world_close(&w);
}

static void wait_route_survives_kill_9_of_the_receiving_bridge(void)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    producer_start(&w);
    wait_got(&w, w.n / 3);
    bridge_kill(&w.b, SIGKILL); /* ring and state stay, as when meshd restarts it */
    bridge_spawn(&w.b);
    check_exactly_once(&w);
    TB_CHECK(counter(&w.a, BRIDGE_C_RECONNECTS) >= 1, "no reconnection counted");
    world_close(&w);
}

static void wait_route_survives_kill_9_of_the_sending_bridge(void)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    producer_start(&w);
    wait_got(&w, w.n / 3);
    bridge_kill(&w.a, SIGKILL); /* unacknowledged records are still in ring A */
    bridge_spawn(&w.a);
    check_exactly_once(&w);
    world_close(&w);
}

static void wait_route_survives_a_receiver_restart_with_new_ring_and_state(void)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    producer_start(&w);
    wait_got(&w, w.n / 3);
    /* as meshd stops mesh B: the consumer first, then the bridge (SIGTERM) */
    consumer_stop(&w);
    TB_CHECK(bridge_kill(&w.b, SIGTERM) == 0, "bridge B did not exit 0 on SIGTERM");
    mesh_shm_remove(&w.b, 0); /* new ring and control blocks; the state goes stale */
    mesh_shm_create(&w, &w.b);
    bridge_spawn(&w.b);
    consumer_start(&w);
    check_exactly_once(&w);
    world_close(&w);
}

static void drop_route_reports_every_record_received_or_missing(void)
{
    world w;
    world_open(&w, MESH_POLICY_DROP, test_scaled(200000, 20000));
    /* connected first, or a fast producer may finish before anything is sent */
    TB_CHECK(test_wait_for(a_link_up, &w, LIMIT_MS), "A never connected");
    producer_start(&w);
    wait_got(&w, 1000); /* the producer outruns the link: most records may be dropped */
    bridge_kill(&w.b, SIGKILL);
    test_sleep_ms(100); /* A drops while B is away */
    bridge_spawn(&w.b);
    pthread_join(w.prod_thread, NULL);
    /* once reconnected, one last record that is not dropped marks the end */
    TB_CHECK(test_wait_for(a_link_up, &w, LIMIT_MS), "A never reconnected");
    uint8_t last[PAYLOAD] = {0};
    uint64_t end = w.n + 1;
    memcpy(last, &end, sizeof(end));
    while (bus_ring_push(w.prod, TYPE, last, sizeof(last)) == MESH_EAGAIN)
        test_sleep_ms(1);
    bus_ring_stats sa;
    bus_ring_stats_get(w.prod, &sa);
    uint64_t total = sa.next_seq - 1; /* ring drops consume sequence numbers too */
    TB_CHECK(total == w.n + 1, "sequence numbers used: %llu", (unsigned long long)total);
    until u = {&w, total};
    TB_CHECK(test_wait_for(b_applied, &u, LIMIT_MS), "the last record never arrived");
    uint64_t rx = counter(&w.b, BRIDGE_C_RECEIVED), gaps = counter(&w.b, BRIDGE_C_GAPS);
    uint64_t bdrops = counter(&w.b, BRIDGE_C_DROPS);
    if (rx + bdrops + gaps != total) {
        dump(&w.a);
        dump(&w.b);
    }
    TB_CHECK(rx + bdrops + gaps == total, "received %llu + dropped at B %llu + gaps %llu != %llu",
             (unsigned long long)rx, (unsigned long long)bdrops, (unsigned long long)gaps,
             (unsigned long long)total);
    TB_CHECK(counter(&w.b, BRIDGE_C_DUPS) == 0, "duplicates on a drop route");
    consumer_stop(&w); /* everything before the last record was consumed or is in the ring */
    TB_CHECK(ld(&w.bad_order) == 0, "%llu records out of order or repeated on a drop route",
             (unsigned long long)ld(&w.bad_order));
    TB_CHECK(ld(&w.misnumbered) == 0,
             "%llu records reached B's consumer with another sequence number than at A",
             (unsigned long long)ld(&w.misnumbered));
    world_close(&w);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        {"wait_route_delivers_everything_once_in_order",
         wait_route_delivers_everything_once_in_order},
        {"wait_route_survives_kill_9_of_the_receiving_bridge",
         wait_route_survives_kill_9_of_the_receiving_bridge},
        {"wait_route_survives_kill_9_of_the_sending_bridge",
         wait_route_survives_kill_9_of_the_sending_bridge},
        {"wait_route_survives_a_receiver_restart_with_new_ring_and_state",
         wait_route_survives_a_receiver_restart_with_new_ring_and_state},
        {"drop_route_reports_every_record_received_or_missing",
         drop_route_reports_every_record_received_or_missing},
    };
    mesh_log_init("test-bridge-link", MESH_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    int ran = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL)
            continue; /* argv[1]: run only the cases whose name contains it */
        uint64_t t0 = mesh_now_ns();
        fprintf(stderr, "# %s\n", cases[i].name);
        cases[i].fn(); /* a failed check cleans up and aborts with file:line */
        printf("ok %zu - %s (%.1f s)\n", i + 1, cases[i].name, (double)(mesh_now_ns() - t0) * 1e-9);
        fflush(stdout);
        ran++;
    }
    return ran > 0 ? 0 : 1;
}
