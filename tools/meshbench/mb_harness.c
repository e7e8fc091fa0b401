/* meshbench harness: runs one case in two pinned roles (two forked processes,
 * or two threads of one forked process), bounds it in time, reaps and cleans. */
#include "mb.h"
#include "mb_atomic.h"
#include "mesh_clock.h"
#include "mesh_cpu.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB_KILL_GRACE_NS 5000000000ull /* parent kills this long after the roles' deadline */

int mb_fail(mb_case *c, int rc, const char *fmt, ...)
{
    if (mb_cas_32(&c->sh->err_claimed, 0, 1)) {
        const char *who = c->role < 0 ? "harness" : c->role == 0 ? "role A" : "role B";
        int n = snprintf(c->sh->err, MB_ERR_LEN, "%s: ", who);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->sh->err + n, MB_ERR_LEN - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* Release: the error text above is visible to whoever sees abort set; pairs
     * with the acquire load in mb_aborted / mb_spin_check (and the parent's
     * read after waitpid). */
    mb_store_rel_32(&c->sh->abort, 1);
    return rc;
}

bool mb_aborted(const mb_case *c)
{
    /* Acquire; pairs with the release store in mb_fail. */
    return mb_load_acq_32(&c->sh->abort) != 0;
}

int mb_spin_check(mb_case *c)
{
    if (c->yield)
        sched_yield();
    if (mb_aborted(c))
        return MESH_ECANCELED;
    if (mesh_now_ns() > c->deadline_ns)
        return mb_fail(c, MESH_ETIMEDOUT, "case deadline passed (see --timeout)");
    return 0;
}

static int pin_role(mb_case *c)
{
    int cpu = c->role == 0 ? c->opts->cpu_a : c->opts->cpu_b;
    int rc = mesh_cpu_pin(cpu);
    if (rc != 0)
        return mb_fail(c, rc, "cannot pin to cpu %d: %s", cpu, mesh_strerror(rc));
    return 0;
}

static void *thread_role_b(void *arg)
{
    mb_case *c = arg;
    int rc = pin_role(c);
    if (rc == 0)
        rc = mb_role_run(c);
    return (void *)(intptr_t)rc;
}

/* Threads mode: role B in a second thread, role A on the calling thread. */
static int run_threads(mb_case *a)
{
    mb_case b = *a;
    b.role = 1;
    a->role = 0;
    pthread_t th;
    int prc = pthread_create(&th, NULL, thread_role_b, &b);
    if (prc != 0)
        return mb_fail(a, mesh_err_from_errno(prc), "pthread_create failed");
    int rc = pin_role(a);
    if (rc == 0)
        rc = mb_role_run(a);
    void *brc = NULL;
    pthread_join(th, &brc);
    return rc != 0 ? rc : (int)(intptr_t)brc;
}

/* Forks one child running `role` (-1: both roles as threads). Never returns
 * in the child. Returns the pid or a negative code. */
static pid_t spawn_role(mb_case *c, int role, const sigset_t *child_mask)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid < 0 ? mesh_err_from_errno(errno) : pid;
    sigprocmask(SIG_SETMASK, child_mask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(3);
    int rc;
    if (role < 0) {
        rc = run_threads(c);
    } else {
        c->role = role;
        rc = pin_role(c);
        if (rc == 0)
            rc = mb_role_run(c);
    }
    _exit(rc == 0 ? 0 : 1);
}

static void kill_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
}

/* Reaps every exited child; a child that failed or died sets abort so that
 * its partner stops spinning. Returns how many are still running. */
static int reap(mb_case *c, pid_t *pids, int n, int *bad)
{
    int running = 0;
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        int st;
        pid_t r = waitpid(pids[i], &st, WNOHANG);
        if (r == 0) {
            running++;
            continue;
        }
        pids[i] = 0;
        if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (r > 0 && WIFSIGNALED(st))
                mb_fail(c, MESH_ECHILD, "process killed by signal %d", WTERMSIG(st));
            *bad = 1;
            mb_store_rel_32(&c->sh->abort, 1); /* pairs with mb_aborted's acquire */
        }
    }
    return running;
}

/* Waits for the children until they exit, the deadline passes (kills them)
 * or SIGINT/SIGTERM arrives (kills them, returns MESH_EINTR). */
static int wait_children(mb_case *c, pid_t *pids, int n, const sigset_t *waitset)
{
    int bad = 0, rc = 0;
    uint64_t kill_at = c->deadline_ns + MB_KILL_GRACE_NS;
    while (reap(c, pids, n, &bad) > 0) {
        uint64_t now = mesh_now_ns();
        if (now >= kill_at) {
            kill_all(pids, n);
            mb_fail(c, MESH_ETIMEDOUT, "killed after the case deadline");
            kill_at = UINT64_MAX;
            continue;
        }
        uint64_t left = kill_at == UINT64_MAX ? 1000000000ull : kill_at - now;
        struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
        int sig = sigtimedwait(waitset, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            kill_all(pids, n);
            rc = MESH_EINTR;
        }
    }
    if (rc == 0 && bad)
        rc = MESH_ECHILD;
    return rc;
}

static uint64_t case_timeout_ns(const mb_opts *o, const mb_transport *tr)
{
    if (o->timeout_s != 0)
        return (uint64_t)o->timeout_s * 1000000000ull;
    /* Generous bound for a loaded machine: 200 us per round trip (more for
     * slow transports), twice the streaming budget per repetition, plus a
     * minute. */
    uint64_t rtt_ns = (tr->rtt_allow_us ? tr->rtt_allow_us : MB_RTT_ALLOW_US) * 1000ull;
    return 60000000000ull + (o->warmup + o->samples) * rtt_ns +
           (uint64_t)o->repeat * o->budget_ms * 2000000ull;
}

/* Forks the role processes and waits for them. */
static int run_forked(mb_case *c)
{
    sigset_t waitset, old;
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGCHLD);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGTERM);
    sigprocmask(SIG_BLOCK, &waitset, &old);
    fflush(stdout);
    fflush(stderr);
    pid_t pids[2] = {0, 0};
    int n = 0, rc = 0;
    bool threads = (c->tr->flags & MB_TR_THREADS) != 0;
    for (int role = threads ? -1 : 0; role < (threads ? 0 : 2); role++) {
        pid_t p = spawn_role(c, role, &old);
        if (p < 0) {
            rc = mb_fail(c, p, "fork failed: %s", mesh_strerror(p));
            break;
        }
        pids[n++] = p;
    }
    int wrc = wait_children(c, pids, n, &waitset);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc != 0 ? rc : wrc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, slowest and fastest repetition of the throughput phase. */
static void fill_tput(const mb_case *c, mb_result *r)
{
    const mb_shared *sh = c->sh;
    double rate[MB_MAX_REPEAT];
    uint64_t count[MB_MAX_REPEAT];
    unsigned n = 0;
    for (unsigned i = 0; i < c->opts->repeat; i++) {
        if (sh->t_end[i] <= sh->t_start[i] || sh->received[i] == 0)
            continue;
        rate[n] = (double)sh->received[i] * 1e9 / (double)(sh->t_end[i] - sh->t_start[i]);
        count[n++] = sh->received[i];
    }
    if (n == 0)
        return;
    double sorted[MB_MAX_REPEAT];
    memcpy(sorted, rate, n * sizeof(double));
    qsort(sorted, n, sizeof(double), cmp_double);
    r->msgs_per_s = sorted[n / 2];
    r->msgs_min = sorted[0];
    r->msgs_max = sorted[n - 1];
    r->bytes_per_s = r->msgs_per_s * (double)c->payload;
    r->repeats = n;
    for (unsigned i = 0; i < n; i++)
        if (rate[i] == r->msgs_per_s)
            r->messages = count[i];
}

static void fill_result(const mb_case *c, mb_result *r)
{
    const mb_shared *sh = c->sh;
    memset(r, 0, sizeof(*r));
    r->transport = c->tr->name;
    r->payload = c->payload;
    r->samples = sh->lat.count;
    r->p50 = mesh_hist_percentile(&sh->lat, 50.0);
    r->p99 = mesh_hist_percentile(&sh->lat, 99.0);
    r->p999 = mesh_hist_percentile(&sh->lat, 99.9);
    r->max = sh->lat.count ? sh->lat.max : 0;
    r->msgs_per_s = -1.0;
    r->bytes_per_s = -1.0;
    r->preempt = sh->preempt[0] + sh->preempt[1];
    r->floor_p50 = mesh_hist_percentile(&sh->floor, 50.0);
    if (!(c->tr->flags & MB_TR_NO_TPUT))
        fill_tput(c, r);
    if (sh->stamp.count != 0) {
        r->has_stamp = true;
        r->st_samples = sh->stamp.count;
        r->st_p50 = mesh_hist_percentile(&sh->stamp, 50.0);
        r->st_p99 = mesh_hist_percentile(&sh->stamp, 99.0);
        r->st_p999 = mesh_hist_percentile(&sh->stamp, 99.9);
        r->st_max = sh->stamp.max;
    }
}

int mb_run_case(const mb_opts *o, const mb_transport *tr, size_t payload, mb_result *res)
{
    static unsigned serial;
    mb_shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return mesh_err_from_errno(errno);
    mesh_hist_reset(&sh->lat);
    mesh_hist_reset(&sh->stamp);
    mesh_hist_reset(&sh->floor);
    sh->floor_ab = sh->floor_ba = UINT64_MAX;
    mb_case c = {.opts = o, .tr = tr, .payload = payload, .sh = sh, .role = -1};
    snprintf(c.tag, sizeof(c.tag), "meshbench-%d-%u", (int)getpid(), serial++);
    c.yield = o->cpu_a == o->cpu_b;
    int rc = tr->setup ? tr->setup(&c) : 0;
    if (rc != 0) {
        mesh_error("%s %zu B: setup: %s", tr->name, payload, mesh_strerror(rc));
        goto out_teardown; /* teardowns accept a partial setup */
    }
    c.deadline_ns = mesh_now_ns() + case_timeout_ns(o, tr);
    rc = run_forked(&c);
    if (rc != 0)
        mesh_error("%s %zu B: %s (%s)", tr->name, c.payload, sh->err[0] ? sh->err : "failed",
                   mesh_strerror(rc));
    else
        fill_result(&c, res);
out_teardown:
    if (tr->teardown)
        tr->teardown(&c);
    munmap(sh, sizeof(*sh));
    return rc;
}
