/* Test harness: meshd's share of the launch protocol (shm objects, config,
 * fork/exec with the MESH_* environment, fd 3 readiness pipe) for the
 * runtime's multi-process tests, with cleanup of every child and object. */
#include "rt_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus_ctl.h"
#include "bus_shm.h"
#include "mesh_clock.h"
#include "mesh_error.h"

int rt_mesh_init(rt_mesh *m, const char *tag)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "rt%s%d", tag, (int)getpid());
    snprintf(m->dir, sizeof(m->dir), "/tmp/mesh-rt-%s-XXXXXX", tag);
    if (!mkdtemp(m->dir))
        return mesh_err_from_errno(errno);
    snprintf(m->config, sizeof(m->config), "%s/mesh.yaml", m->dir);
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[600];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void rt_mesh_cleanup(rt_mesh *m)
{
    for (int i = 0; i < m->nchild; i++) {
        if (m->child[i] <= 0)
            continue;
        kill(m->child[i], SIGKILL);
        waitpid(m->child[i], NULL, 0);
        m->child[i] = 0;
    }
    m->nchild = 0;
    for (int i = 0; i < m->nshm; i++)
        bus_shm_unlink(m->shm[i]);
    m->nshm = 0;
    if (m->dir[0] && !getenv("RT_KEEP"))
        remove_dir(m->dir);
    m->dir[0] = '\0';
}

const char *rt_engine_bin(const char *name)
{
    static char names[16][64], paths[16][512];
    static int n;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return paths[i];
    if (n == 16)
        return "/nonexistent/rt_engine_bin-table-full";
    const char *root = getenv("MESH_BUILD_ROOT");
    snprintf(names[n], sizeof(names[0]), "%s", name);
    snprintf(paths[n], sizeof(paths[0]), "%s/tests/engines/%s", root ? root : ".", name);
    return paths[n++];
}

const char *rt_path(rt_mesh *m, const char *file)
{
    for (int i = 0; i < m->npaths; i++)
        if (strcmp(m->path_file[i], file) == 0)
            return m->path[i];
    if (m->npaths == RT_MAX_PATHS)
        return "/nonexistent/rt_path-table-full";
    int i = m->npaths++;
    snprintf(m->path_file[i], sizeof(m->path_file[0]), "%s", file);
    snprintf(m->path[i], sizeof(m->path[0]), "%s/%s", m->dir, file);
    return m->path[i];
}

int rt_mesh_write_config(rt_mesh *m, const char *body)
{
    FILE *f = fopen(m->config, "w");
    if (!f)
        return mesh_err_from_errno(errno);
    fprintf(f, "mesh:\n  name: %s\n  ring_bytes: 65536\n  stop_timeout_ms: 20000\n%s", m->name,
            body);
    return fclose(f) == 0 ? 0 : MESH_EIO;
}

const char *rt_ring_name(const rt_mesh *m, const char *from, const char *to)
{
    static char buf[2][128];
    static int k;
    char *b = buf[k++ & 1];
    bus_shm_name(b, sizeof(buf[0]), m->name, "ring", from, to);
    return b;
}

const char *rt_ctl_name(const rt_mesh *m, const char *engine)
{
    static char buf[2][128];
    static int k;
    char *b = buf[k++ & 1];
    bus_shm_name(b, sizeof(buf[0]), m->name, "ctl", engine, NULL);
    return b;
}

static int remember_shm(rt_mesh *m, const char *name, int rc)
{
    if (rc == 0 && m->nshm < RT_MAX_SHM)
        snprintf(m->shm[m->nshm++], sizeof(m->shm[0]), "%s", name);
    return rc;
}

int rt_mesh_create_ctl(rt_mesh *m, const char *engine)
{
    const char *name = rt_ctl_name(m, engine);
    int rc = remember_shm(m, name, bus_ctl_create(name));
    /* The engine's checkpoint object, if it makes one, goes with the
     * control block (as meshd does). */
    char state[128];
    if (rc == 0 && bus_shm_name(state, sizeof(state), m->name, "state", engine, NULL) == 0)
        remember_shm(m, state, 0);
    return rc;
}

int rt_mesh_create_ring(rt_mesh *m, const char *from, const char *to, uint64_t capacity,
                        enum bus_ring_policy policy)
{
    const char *name = rt_ring_name(m, from, to);
    return remember_shm(m, name, bus_ring_create(name, capacity, 0, policy));
}

/* In the child: environment, fds, then exec. Never returns. */
static void child_exec(rt_mesh *m, const char *engine, unsigned generation, int ready_wr,
                       const char *extra_env, char *const argv[])
{
    char gen[32], log[600];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(gen, sizeof(gen), "%u", generation);
    setenv("MESH_CONFIG", m->config, 1);
    setenv("MESH_ENGINE", engine, 1);
    setenv("MESH_GENERATION", gen, 1);
    unsetenv("MESH_READY_FD");
    if (ready_wr >= 0) {
        if (ready_wr != 3 && (dup2(ready_wr, 3) < 0 || close(ready_wr) < 0))
            _exit(126);
        setenv("MESH_READY_FD", "3", 1);
    }
    if (extra_env)
        putenv((char *)extra_env);
    snprintf(log, sizeof(log), "%s/%s.log", m->dir, engine);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2 && fd != 3)
            close(fd);
    }
    execv(argv[0], argv);
    _exit(127);
}

pid_t rt_spawn(rt_mesh *m, const char *engine, unsigned generation, int *ready_rd,
               const char *extra_env, char *const argv[])
{
    int p[2] = {-1, -1};
    if (m->nchild == RT_MAX_CHILD)
        return MESH_EMFILE;
    /* Keep the pipe off fds 0..3 so dup2 onto 3 cannot clobber its other end. */
    if (ready_rd) {
        int raw[2];
        if (pipe(raw) < 0)
            return mesh_err_from_errno(errno);
        p[0] = fcntl(raw[0], F_DUPFD_CLOEXEC, 10);
        p[1] = fcntl(raw[1], F_DUPFD, 10);
        close(raw[0]);
        close(raw[1]);
    }
    pid_t pid = fork();
    if (pid < 0)
        return mesh_err_from_errno(errno);
    if (pid == 0) {
        if (p[0] >= 0)
            close(p[0]);
        child_exec(m, engine, generation, p[1], extra_env, argv);
    }
    m->child[m->nchild++] = pid;
    if (ready_rd) {
        close(p[1]);
        *ready_rd = p[0];
    }
    return pid;
}

int rt_read_ready(int fd, int timeout_ms)
{
    char buf[64];
    size_t len = 0;
    uint64_t deadline = mesh_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        uint64_t now = mesh_now_ns();
        if (now >= deadline) {
            close(fd);
            return MESH_ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len >= sizeof(buf) - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    return strcmp(buf, "ready\n") == 0;
}

void rt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int rt_wait_exit(rt_mesh *m, pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            for (int i = 0; i < m->nchild; i++)
                if (m->child[i] == pid)
                    m->child[i] = 0;
            return 0;
        }
        if (waited >= timeout_ms)
            return MESH_ETIMEDOUT;
        rt_sleep_ms(5);
    }
}

long rt_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

long rt_wait_lines(const char *path, long n, int timeout_ms)
{
    long have = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        have = rt_count_lines(path);
        if (have >= n)
            break;
        rt_sleep_ms(10);
    }
    return have;
}

long rt_read_lines(const char *path, rt_line *out, long max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long n = 0;
    char line[256];
    while (n < max && fgets(line, sizeof(line), f)) {
        unsigned long long seq, counter;
        if (sscanf(line, "%31s %llu %llu", out[n].from, &seq, &counter) != 3) {
            n = -1;
            break;
        }
        out[n].seq = seq;
        out[n].counter = counter;
        n++;
    }
    fclose(f);
    return n;
}

const char *rt_slurp(const char *path)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

int rt_file_contains(const char *path, const char *needle)
{
    return strstr(rt_slurp(path), needle) != NULL;
}

long rt_scaled(long n, long min)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double k = s ? atof(s) : 1.0;
    long v = (long)((double)n * (k > 0 ? k : 1.0));
    return v < min ? min : v;
}
