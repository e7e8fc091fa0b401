/* bench_meshd: supervisor figures on a real mesh of test engines:
 *   1. start-to-all-ready: fork of meshd to its --ready-fd notification;
 *   2. restart latency: SIGKILL of an engine to that engine ready again (its
 *      control block shows the new pid and the ready flag), p50/p99;
 *   3. idle CPU of meshd (and of all engines) from /proc/<pid>/stat.
 * Usage: bench_meshd [--build DIR] [--engines N] [--kills N] [--idle-s S]
 *                    [--starts N] [--backoff-ms MS]
 * The consumers' back-off is fixed at --backoff-ms (initial = max), so the
 * restart figure is the mechanism (exit -> spawn -> attach -> ready), not the
 * policy's doubling delay. */
#include "bus_ctl.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_hist.h"
#include "sup_json.h"

#include <dirent.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct bench {
    char build[512], dir[64], config[128], socket[128], name[32];
    int engines, kills, idle_s, starts, backoff_ms;
    pid_t meshd;
} bench;

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* e0 publishes; e1..eN-1 consume from it (one ring each): an idle mesh with
 * rings, doorbells and heartbeats, like a real one. */
static void write_config(const bench *b)
{
    FILE *f = fopen(b->config, "w");
    if (!f) {
        perror(b->config);
        exit(1);
    }
    fprintf(f, "mesh:\n  name: %s\n  control_socket: %s\n  stop_timeout_ms: 5000\n", b->name,
            b->socket);
    fprintf(f,
            "engines:\n  - name: e0\n    binary: %s/tests/engines/test-producer\n"
            "    args: [--count, '1']\n",
            b->build);
    for (int i = 1; i < b->engines; i++)
        fprintf(f,
                "  - name: e%d\n    binary: %s/tests/engines/test-consumer\n"
                "    args: [--out, /dev/null]\n    depends_on: [e0]\n"
                "    backoff_initial_ms: %d\n    backoff_max_ms: %d\n"
                "    intensity: {max_restarts: 255, period_ms: 1000}\n",
                i, b->build, b->backoff_ms, b->backoff_ms);
    if (b->engines > 1) {
        fprintf(f, "routes:\n  - from: e0\n    to: [");
        for (int i = 1; i < b->engines; i++)
            fprintf(f, "%se%d", i > 1 ? ", " : "", i);
        fprintf(f, "]\n    types: [trade]\n    ring_bytes: 65536\n");
    }
    fclose(f);
}

/* Starts meshd; returns ns from fork to "mesh ready", or 0 on failure. */
static uint64_t start_meshd(bench *b)
{
    int p[2];
    if (pipe(p) != 0)
        return 0;
    char meshd[600], fd[16];
    snprintf(meshd, sizeof(meshd), "%s/supervisor/meshd", b->build);
    snprintf(fd, sizeof(fd), "%d", p[1]);
    uint64_t t0 = mesh_now_ns();
    b->meshd = fork();
    if (b->meshd == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        close(p[0]);
        execl(meshd, meshd, "--foreground", "--config", b->config, "--ready-fd", fd, "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    char buf[8];
    int ok = poll(&pf, 1, 60000) > 0 && read(p[0], buf, sizeof(buf)) > 0;
    uint64_t t = mesh_now_ns() - t0;
    close(p[0]);
    return ok ? t : 0;
}

static void stop_meshd(bench *b)
{
    int st;
    kill(b->meshd, SIGTERM);
    waitpid(b->meshd, &st, 0);
    b->meshd = 0;
}

/* CPU ticks (utime + stime) of a process. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, stt = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return -1;
    return (long long)(ut + stt);
}

static void engine_pids(const bench *b, pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        char name[256], eng[16];
        snprintf(eng, sizeof(eng), "e%d", i);
        bus_ctl *c = NULL;
        bus_ctl_snapshot s;
        pids[i] = 0;
        if (bus_shm_name(name, sizeof(name), b->name, "ctl", eng, NULL) == 0 &&
            bus_ctl_open(&c, name, BUS_CTL_RO) == 0 && bus_ctl_snapshot_get(c, &s) == 0)
            pids[i] = s.pid;
        bus_ctl_close(c);
    }
}

static void bench_restart(const bench *b)
{
    char name[256];
    bus_ctl *c = NULL;
    static bus_ctl_snapshot s;
    static mesh_hist h;
    bus_shm_name(name, sizeof(name), b->name, "ctl", "e1", NULL);
    if (bus_ctl_open(&c, name, BUS_CTL_RO) != 0) {
        fprintf(stderr, "bench: cannot open %s\n", name);
        return;
    }
    mesh_hist_reset(&h);
    for (int k = 0; k < b->kills; k++) {
        bus_ctl_snapshot_get(c, &s);
        pid_t old = s.pid;
        if (old <= 0 || !s.ready) {
            sleep_us(1000);
            k--;
            continue;
        }
        uint64_t t0 = mesh_now_ns();
        kill(old, SIGKILL);
        uint64_t limit = t0 + 10000000000ull;
        for (;;) { /* tight poll of the control block: ~50 us resolution */
            bus_ctl_snapshot_get(c, &s);
            if (s.ready && s.pid > 0 && s.pid != old)
                break;
            if (mesh_now_ns() > limit) {
                fprintf(stderr, "bench: e1 not back within 10 s\n");
                bus_ctl_close(c);
                return;
            }
            sleep_us(50);
        }
        mesh_hist_record(&h, mesh_now_ns() - t0);
        sleep_us(20000); /* let meshd settle between kills */
    }
    bus_ctl_close(c);
    printf("restart (SIGKILL -> ready again, backoff_initial_ms %d, %d kills): "
           "p50 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n",
           b->backoff_ms, b->kills, mesh_hist_percentile(&h, 50) / 1e6,
           mesh_hist_percentile(&h, 99) / 1e6, (double)h.max / 1e6,
           h.count ? (double)h.sum / (double)h.count / 1e6 : 0.0);
}

static void bench_idle(const bench *b)
{
    pid_t pids[256];
    int n = b->engines < 256 ? b->engines : 256;
    engine_pids(b, pids, n);
    long long m0 = cpu_ticks(b->meshd), e0 = 0, e1 = 0;
    for (int i = 0; i < n; i++)
        e0 += cpu_ticks(pids[i]);
    sleep_us((long)b->idle_s * 1000000L);
    long long m1 = cpu_ticks(b->meshd);
    for (int i = 0; i < n; i++)
        e1 += cpu_ticks(pids[i]);
    double hz = (double)sysconf(_SC_CLK_TCK);
    printf("idle CPU over %d s: meshd %.3f%% of one core (%lld ticks); %d engines together "
           "%.3f%% (%lld ticks)\n",
           b->idle_s, 100.0 * (double)(m1 - m0) / hz / b->idle_s, m1 - m0, n,
           100.0 * (double)(e1 - e0) / hz / b->idle_s, e1 - e0);
}

int main(int argc, char **argv)
{
    bench b = {.engines = 12, .kills = 100, .idle_s = 30, .starts = 5, .backoff_ms = 1};
    const char *root = getenv("MESH_BUILD_ROOT");
    snprintf(b.build, sizeof(b.build), "%s", root ? root : "build");
    static const struct option opts[] = {
        {"build", required_argument, 0, 'b'},  {"engines", required_argument, 0, 'e'},
        {"kills", required_argument, 0, 'k'},  {"idle-s", required_argument, 0, 'i'},
        {"starts", required_argument, 0, 's'}, {"backoff-ms", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            snprintf(b.build, sizeof(b.build), "%s", optarg);
            break;
        case 'e':
            b.engines = atoi(optarg);
            break;
        case 'k':
            b.kills = atoi(optarg);
            break;
        case 'i':
            b.idle_s = atoi(optarg);
            break;
        case 's':
            b.starts = atoi(optarg);
            break;
        case 'o':
            b.backoff_ms = atoi(optarg);
            break;
        default:
            printf("usage: bench_meshd [--build DIR] [--engines N (12)] [--kills N (100)]\n"
                   "                   [--idle-s S (30)] [--starts N (5)] [--backoff-ms MS (1)]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (b.engines < 2 || b.engines > 64) {
        fprintf(stderr, "bench: --engines must be 2..64\n");
        return 2;
    }
    snprintf(b.name, sizeof(b.name), "bench%d", (int)getpid());
    snprintf(b.dir, sizeof(b.dir), "/tmp/meshbench-XXXXXX");
    if (!mkdtemp(b.dir))
        return 1;
    snprintf(b.config, sizeof(b.config), "%s/mesh.yaml", b.dir);
    snprintf(b.socket, sizeof(b.socket), "%s/ctl.sock", b.dir);
    write_config(&b);
    static mesh_hist sh;
    for (int r = 0; r < b.starts; r++) {
        uint64_t t = start_meshd(&b);
        if (!t) {
            fprintf(stderr, "bench: the mesh did not start (config %s)\n", b.config);
            return 1;
        }
        mesh_hist_record(&sh, t);
        if (r + 1 < b.starts)
            stop_meshd(&b);
    }
    printf("start to all ready (%d engines, %d rings, %d starts): p50 %.1f ms  max %.1f ms\n",
           b.engines, b.engines - 1, b.starts, mesh_hist_percentile(&sh, 50) / 1e6,
           (double)sh.max / 1e6);
    bench_restart(&b);
    sleep_us(500000);
    bench_idle(&b);
    stop_meshd(&b);
    unlink(b.config);
    rmdir(b.dir);
    return 0;
}
