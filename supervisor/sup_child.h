/* One engine process at a time: uv_spawn with stdout/stderr captured line by
 * line and fd 3 as the readiness pipe (MESH_READY_FD), exit and readiness
 * reported as callbacks on the loop thread. */
#ifndef SUP_CHILD_H
#define SUP_CHILD_H

#include "sup_output.h"

#include <stdint.h>
#include <uv.h>

typedef struct sup_child_ops {
    void (*on_ready)(void *arg);                            /* "ready\n" read on fd 3 */
    void (*on_exit)(void *arg, int64_t status, int signal); /* process reaped */
    void (*on_idle)(void *arg); /* every handle closed: a new spawn may start */
} sup_child_ops;

/* Caller-owned (embedded in the engine record so handle addresses are
 * stable). Fields are private to sup_child.c except `pid`. */
typedef struct sup_child {
    uv_process_t proc;
    uv_pipe_t out, err, rdy;
    sup_linebuf outbuf, errbuf;
    char rdybuf[32];
    size_t rdylen;
    int open_handles; /* handles not closed yet */
    int pid;          /* > 0 while the process exists (until reaped) */
    int pgid;         /* its process group (= pid: own session), 0 once cleaned up */
    int ready_seen;
    const char *name;              /* prefix for captured lines; must outlive the child */
    sup_sink *out_sink, *err_sink; /* where captured lines go (borrowed) */
    const sup_child_ops *ops;
    void *arg;
} sup_child;

/* Prepares an idle child. `name`, `out` and `err` are borrowed: its stdout
 * and stderr lines go to those sinks. */
void sup_child_init(sup_child *c, const char *name, const sup_child_ops *ops, void *arg,
                    sup_sink *out, sup_sink *err);

#define SUP_CHILD_CONFIG_FD 4 /* the child's fd of cfg_fd */

/* Spawns `file` with argv/env (NULL-terminated; copied by the kernel at exec,
 * so the caller may free them on return) in a new session, stdin from
 * /dev/null, stdout/stderr/fd 3 piped to us, and cfg_fd (when >= 0; still
 * the caller's) inherited as fd SUP_CHILD_CONFIG_FD. Requires
 * sup_child_idle(c). Returns 0 (the exit will be reported through
 * ops->on_exit), or a MESH_E* code: nothing runs, and ops->on_idle is
 * called once the handles are closed. */
int sup_child_spawn(sup_child *c, uv_loop_t *loop, const char *file, char **argv, char **env,
                    int cfg_fd);

/* Sends a signal to the live process and every member of its process group
 * (the engine's own children, unless they left it). Returns 0, MESH_ESRCH
 * when there is none, or the kill error. When the process exits, whatever
 * is left of its group gets SIGKILL before ops->on_exit. */
int sup_child_kill(sup_child *c, int sig);

/* 1 when no handle is open (no process, pipes closed). */
int sup_child_idle(const sup_child *c);

/* After the exit: reads what the pipes still hold without blocking, emits it,
 * and closes them (a grandchild holding them open cannot delay a restart).
 * ops->on_idle follows once everything is closed. No-op while the process
 * runs. */
void sup_child_release(sup_child *c);

#endif
