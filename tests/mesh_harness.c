/* Integration test harness: real meshd processes in private directories,
 * bounded waits, and thorough cleanup (processes, shm objects, files). */
#include "mesh_harness.h"

#include "mesh_clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_MAX 8
static th_mesh *registry[TH_MAX];

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

double th_scale(void)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

const char *th_build_path(const char *rel, char *buf, size_t len)
{
    const char *root = getenv("MESH_BUILD_ROOT");
    snprintf(buf, len, "%s/%s", root ? root : ".", rel);
    return buf;
}

void th_init(th_mesh *h)
{
    static int seq;
    memset(h, 0, sizeof(*h));
    h->ready_fd = -1;
    h->exit_status = -1;
    h->out_fd = -1;
    snprintf(h->name, sizeof(h->name), "t%d-%d", (int)getpid(), seq++);
    snprintf(h->dir, sizeof(h->dir), "/tmp/meshtest-%s-XXXXXX", h->name);
    if (!mkdtemp(h->dir))
        abort();
    snprintf(h->config, sizeof(h->config), "%s/mesh.yaml", h->dir);
    snprintf(h->socket, sizeof(h->socket), "%s/ctl.sock", h->dir);
    snprintf(h->log, sizeof(h->log), "%s/meshd.log", h->dir);
    th_build_path("tests/engines", h->bindir, sizeof(h->bindir));
    for (int i = 0; i < TH_MAX; i++)
        if (!registry[i]) {
            registry[i] = h;
            break;
        }
}

void th_write_config(th_mesh *h, const char *extra_mesh, const char *body)
{
    FILE *f = fopen(h->config, "w");
    if (!f)
        abort();
    fprintf(f, "mesh:\n  name: %s\n  control_socket: %s\n  stop_timeout_ms: 3000\n%s", h->name,
            h->socket, extra_mesh);
    for (const char *p = body; *p;) {
        if (strncmp(p, "@DIR@", 5) == 0) {
            fputs(h->dir, f);
            p += 5;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
}

pid_t th_start(th_mesh *h, const char *extra_args)
{
    return th_start_wrapped(h, NULL, extra_args);
}

pid_t th_start_wrapped(th_mesh *h, const char *wrapper, const char *extra_args)
{
    int p[2];
    if (pipe(p) != 0)
        abort();
    char meshd[512], cmd[2048];
    th_build_path("supervisor/meshd", meshd, sizeof(meshd));
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(h->out_fd >= 0 ? h->out_fd : fd, 1);
        dup2(fd, 2);
        close(p[0]);
        setpgid(0, 0);
        snprintf(cmd, sizeof(cmd),
                 "exec %s '%s' --foreground --config '%s' --bin-path '%s' --ready-fd %d %s",
                 wrapper ? wrapper : "", meshd, h->config, h->bindir, p[1],
                 extra_args ? extra_args : "");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    h->ready_fd = p[0];
    h->meshd = pid;
    h->exit_status = -1;
    return pid;
}

int th_wait_ready(th_mesh *h, unsigned timeout_ms)
{
    struct pollfd pf = {.fd = h->ready_fd, .events = POLLIN};
    char buf[16];
    if (poll(&pf, 1, (int)timeout_ms) <= 0)
        return 0;
    return read(h->ready_fd, buf, sizeof(buf)) > 0; /* "ready\n"; EOF = meshd gave up */
}

sup_jval *th_request(th_mesh *h, const char *line)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", h->socket);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char req[256];
    snprintf(req, sizeof(req), "%s\n", line);
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    sup_jval *v = NULL;
    while (len < cap - 1) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 10000) <= 0)
            break;
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(buf, '\n', len)) {
            sup_jval_parse(&v, buf, (size_t)((char *)memchr(buf, '\n', len) - buf), NULL, 0);
            break;
        }
    }
    free(buf);
    close(fd);
    return v;
}

const sup_jval *th_engine(const sup_jval *status, const char *name)
{
    const sup_jval *es = sup_jval_get(status, "engines");
    for (size_t i = 0; i < sup_jval_len(es); i++)
        if (strcmp(sup_jval_gstr(sup_jval_at(es, i), "name", ""), name) == 0)
            return sup_jval_at(es, i);
    return NULL;
}

int th_cond_holds(const sup_jval *st, const void *arg)
{
    const th_cond *c = arg;
    const sup_jval *e = th_engine(st, c->engine);
    if (c->str)
        return strcmp(sup_jval_gstr(e, c->field, ""), c->str) == 0;
    return sup_jval_gnum(e, c->field, -1) >= c->value;
}

int th_wait_status(th_mesh *h, int (*pred)(const sup_jval *, const void *), const void *arg,
                   unsigned timeout_ms)
{
    uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    do {
        sup_jval *st = th_request(h, "status");
        int ok = st && pred(st, arg);
        sup_jval_free(st);
        if (ok)
            return 1;
        sleep_ms(20);
    } while (mesh_now_ns() < end);
    return 0;
}

static int reap(th_mesh *h, unsigned timeout_ms)
{
    uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int st;
        pid_t r = waitpid(h->meshd, &st, WNOHANG);
        if (r == h->meshd) {
            h->exit_status = st;
            h->meshd = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (r < 0 || mesh_now_ns() > end)
            return -2;
        sleep_ms(10);
    }
}

int th_wait_exit(th_mesh *h, unsigned timeout_ms)
{
    if (h->meshd <= 0)
        return -1;
    int rc = reap(h, timeout_ms);
    if (rc == -2) {
        kill(h->meshd, SIGKILL);
        reap(h, 5000);
        return -1;
    }
    return rc;
}

int th_stop(th_mesh *h, unsigned timeout_ms)
{
    if (h->meshd <= 0)
        return -1;
    kill(h->meshd, SIGTERM);
    return th_wait_exit(h, timeout_ms);
}

int th_wait_log(const th_mesh *h, const char *phrase, unsigned timeout_ms)
{
    static char buf[1 << 20];
    uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    do {
        FILE *f = fopen(h->log, "r");
        if (f) {
            buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
            fclose(f);
            if (strstr(buf, phrase))
                return 1;
        }
        sleep_ms(20);
    } while (mesh_now_ns() < end);
    return 0;
}

int th_shm_count(const th_mesh *h)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "mesh.%s.", h->name);
    DIR *d = opendir("/dev/shm");
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

int th_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static void drain(int fd, char *buf, size_t len, size_t *used)
{
    char tmp[4096];
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0) {
        size_t take = (size_t)r;
        if (*used + take > len - 1)
            take = len - 1 - *used;
        memcpy(buf + *used, tmp, take);
        *used += take;
    }
    buf[*used] = '\0';
}

int th_run(char *const argv[], char *out, size_t outlen, char *err, size_t errlen,
           unsigned timeout_ms)
{
    int po[2], pe[2];
    if (pipe2(po, O_NONBLOCK) != 0 || pipe2(pe, O_NONBLOCK) != 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        fcntl(1, F_SETFL, 0);
        fcntl(2, F_SETFL, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t uo = 0, ue = 0;
    uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int st = 0, done = 0;
    while (!done) {
        struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
        poll(pf, 2, 50);
        drain(po[0], out, outlen, &uo);
        drain(pe[0], err, errlen, &ue);
        if (waitpid(pid, &st, WNOHANG) == pid)
            done = 1;
        else if (mesh_now_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            done = 2;
        }
    }
    drain(po[0], out, outlen, &uo);
    drain(pe[0], err, errlen, &ue);
    close(po[0]);
    close(pe[0]);
    if (done == 2 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

long th_read_counters(const char *path, unsigned *counts, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char prod[64];
    unsigned long long seq, c;
    long lines = 0;
    while (fscanf(f, "%63s %llu %llu", prod, &seq, &c) == 3) {
        lines++;
        if (c < n)
            counts[c]++;
    }
    fclose(f);
    return lines;
}

long th_wait_all_counters(const char *path, unsigned n, unsigned timeout_ms, unsigned *missing)
{
    unsigned *counts = calloc(n + 1, sizeof(unsigned));
    long dups = -1;
    *missing = 0;
    uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        memset(counts, 0, (n + 1) * sizeof(unsigned));
        long lines = th_read_counters(path, counts, n + 1);
        *missing = 0;
        for (unsigned c = n; c >= 1; c--)
            if (counts[c] == 0)
                *missing = c; /* ends as the smallest missing counter */
        if (*missing == 0) {
            dups = lines - (long)n;
            break;
        }
        if (mesh_now_ns() > end)
            break;
        sleep_ms(50);
    }
    free(counts);
    return dups;
}

/* 1 when /proc/<pid>/environ holds the entry `want` (zombies have none). */
static int environ_has(pid_t pid, const char *want)
{
    static char env[65536];
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, env, sizeof(env) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    env[n] = '\0';
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1)
        if (strcmp(env + i, want) == 0)
            return 1;
    return 0;
}

int th_mesh_procs(const th_mesh *h, pid_t *pids, int max)
{
    char want[400];
    snprintf(want, sizeof(want), "MESH_CONFIG=%s", h->config);
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid <= 0 || pid == getpid() || pid == h->meshd || !environ_has(pid, want))
            continue;
        if (n < max)
            pids[n] = pid;
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* SIGKILLs the children of `parent` (found by PPid in /proc/<pid>/stat). */
static void kill_children(pid_t parent)
{
    DIR *d = opendir("/proc");
    for (struct dirent *de; d && (de = readdir(d));) {
        pid_t pid = (pid_t)atoi(de->d_name);
        char path[64], buf[512];
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        char st;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == parent)
            kill(pid, SIGKILL);
    }
    if (d)
        closedir(d);
}

/* Kills every process whose environment holds MESH_CONFIG=<config>. */
static void kill_engines(const th_mesh *h)
{
    pid_t pids[512];
    int n = th_mesh_procs(h, pids, 512);
    for (int i = 0; i < n && i < 512; i++)
        kill(pids[i], SIGKILL);
}

void th_cleanup(th_mesh *h)
{
    if (!h->dir[0])
        return;
    if (h->meshd > 0) {
        kill_children(h->meshd); /* meshd itself when a wrapper (unshare) runs it */
        kill(h->meshd, SIGKILL);
        reap(h, 5000);
    }
    kill_engines(h);
    if (h->ready_fd >= 0)
        close(h->ready_fd);
    h->ready_fd = -1;
    char prefix[64], path[512];
    snprintf(prefix, sizeof(prefix), "mesh.%s.", h->name);
    DIR *d = opendir("/dev/shm");
    for (struct dirent *de; d && (de = readdir(d));)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    if (!getenv("MESH_TEST_KEEP")) {
        d = opendir(h->dir);
        for (struct dirent *de; d && (de = readdir(d));) {
            snprintf(path, sizeof(path), "%s/%s", h->dir, de->d_name);
            unlink(path);
        }
        if (d)
            closedir(d);
        rmdir(h->dir);
    }
    h->dir[0] = '\0';
}

void th_cleanup_all(void)
{
    for (int i = 0; i < TH_MAX; i++)
        if (registry[i]) {
            th_cleanup(registry[i]);
            registry[i] = NULL;
        }
}
