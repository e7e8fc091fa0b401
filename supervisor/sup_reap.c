/* Reaping orphans (meshd as PID 1 in a container, or as child subreaper):
 * peek at any zombie child with waitid(WNOWAIT) and reap it only when it is
 * not an engine process, which libuv reaps itself with waitpid(pid) and
 * reports through the exit callback. A zombie of ours found first stops the
 * scan; the scan runs again after that engine's exit callback. At the end of
 * a stop, every process still re-parented to meshd is killed and reaped. */
#include "sup_mesh.h"

#include "mesh_clock.h"
#include "mesh_log.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int is_engine_pid(const sup_mesh *m, pid_t pid)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (m->eng[s].in_use && m->eng[s].child.pid == pid)
            return 1;
    return 0;
}

int sup_reap_orphans(sup_mesh *m)
{
    int n = 0;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
            break; /* no children at all, or none exited */
        if (is_engine_pid(m, si.si_pid))
            break; /* libuv's: it will reap it and call the exit callback */
        int status;
        if (waitpid(si.si_pid, &status, WNOHANG) == si.si_pid) {
            n++;
            mesh_debug("reaped orphan pid %d", (int)si.si_pid);
        }
    }
    return n;
}

/* Parent pid and state letter of `pid` from /proc/<pid>/stat; 0 or -1. */
static int proc_parent(pid_t pid, pid_t *ppid, char *state)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    int pp;
    if (!rp || sscanf(rp + 1, " %c %d", state, &pp) != 2)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

/* Children of this process (of any of its threads: orphans are re-parented
 * to some thread of the subreaper), at most max. */
static int list_children(pid_t self, pid_t *out, char *states, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *de; d && n < max && (de = readdir(d));) {
        pid_t pid = (pid_t)atoi(de->d_name), ppid;
        char st;
        if (pid > 0 && proc_parent(pid, &ppid, &st) == 0 && ppid == self) {
            states[n] = st;
            out[n++] = pid;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* The pids sup_reap_descendants has sent SIGKILL, so that one that takes
 * long to die (e.g. in uninterruptible sleep) is warned about, signalled and
 * counted once, not at every 2 ms round. A pid leaves the set when we reap
 * it (only then can the number be reused). Full: a new pid is killed but not
 * remembered (warned about and counted again next round), which only a fork
 * storm reaches. */
typedef struct sigkilled {
    pid_t pid[1024];
    int n;
} sigkilled;

static int sigkilled_find(const sigkilled *k, pid_t pid)
{
    for (int i = 0; i < k->n; i++)
        if (k->pid[i] == pid)
            return i;
    return -1;
}

/* SIGKILLs `pid` (and its group, if it leads one) unless already done.
 * Returns 1 when it was signalled now, 0 when before. */
static int sigkill_once(sigkilled *k, pid_t pid)
{
    if (sigkilled_find(k, pid) >= 0)
        return 0;
    if (k->n < (int)(sizeof(k->pid) / sizeof(k->pid[0])))
        k->pid[k->n++] = pid;
    kill(-pid, SIGKILL); /* its group, if it leads one */
    if (kill(pid, SIGKILL) == 0)
        mesh_warn("pid %d (a descendant of an engine) is still running: SIGKILL", (int)pid);
    else
        mesh_warn("pid %d (a descendant of an engine) is still running; SIGKILL failed: %s",
                  (int)pid, strerror(errno));
    return 1;
}

int sup_reap_descendants(unsigned timeout_ms)
{
    const pid_t self = getpid();
    const uint64_t end = mesh_now_ns() + (uint64_t)timeout_ms * 1000000u;
    sigkilled k = {.n = 0}; /* 4 KiB on the stack */
    int killed = 0;
    for (;;) {
        pid_t kids[256];
        char states[256];
        int n = list_children(self, kids, states, 256);
        if (n == 0)
            return killed;
        for (int i = 0; i < n; i++)
            if (states[i] != 'Z')
                killed += sigkill_once(&k, kids[i]);
        for (int i = 0; i < n; i++) {
            int at = sigkilled_find(&k, kids[i]);
            if (waitpid(kids[i], NULL, WNOHANG) == kids[i] && at >= 0)
                k.pid[at] = k.pid[--k.n]; /* reaped: its number may be reused */
        }
        if (mesh_now_ns() > end) {
            mesh_error("%d descendant process(es) did not die within %u ms of SIGKILL", n,
                       timeout_ms);
            return killed;
        }
        struct timespec ts = {0, 2000000}; /* their children come to us once they die */
        nanosleep(&ts, NULL);
    }
}
