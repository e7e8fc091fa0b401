/* Test harness for integration tests with real processes: writes a mesh
 * config into a private temporary directory, runs meshd (and meshctl) from
 * the build tree, talks to the control socket, and cleans up every process,
 * shared-memory object and file even when a test fails. */
#ifndef MESH_HARNESS_H
#define MESH_HARNESS_H

#include "sup_json.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct th_mesh {
    char name[32];    /* unique mesh name: scopes /dev/shm/mesh.<name>.* */
    char dir[64];     /* private temporary directory */
    char config[320]; /* <dir>/mesh.yaml */
    char socket[108]; /* <dir>/ctl.sock */
    char log[320];    /* meshd's stdout+stderr */
    char bindir[512]; /* build dir of the test engines */
    pid_t meshd;      /* 0 when not running */
    int ready_fd;     /* read end of meshd's --ready-fd pipe */
    int exit_status;  /* meshd's wait status once reaped (-1 before) */
    int out_fd;       /* >= 0: meshd's stdout instead of the log (set after th_init) */
} th_mesh;

/* Creates the directory and names; registers the mesh for th_cleanup_all. */
void th_init(th_mesh *h);

/* Path of a build-tree program, e.g. th_build_path("supervisor/meshd"). */
const char *th_build_path(const char *rel, char *buf, size_t len);

/* Scale factor from MESH_TEST_SCALE (default 1). */
double th_scale(void);

/* Writes the config: `body` is YAML after the mesh header; "@DIR@" in it is
 * replaced by the mesh's directory. The header sets name, control_socket,
 * stop_timeout_ms and `extra_mesh` (more `mesh:` keys, indented, or ""). */
void th_write_config(th_mesh *h, const char *extra_mesh, const char *body);

/* Starts meshd --foreground with --ready-fd; returns its pid. */
pid_t th_start(th_mesh *h, const char *extra_args);

/* Same, with meshd run by `wrapper` (a command line it is appended to, e.g.
 * "unshare --pid --fork --mount-proc"); the pid returned is the wrapper's,
 * and the wrapper must pass the --ready-fd descriptor and meshd's exit
 * status through. */
pid_t th_start_wrapped(th_mesh *h, const char *wrapper, const char *extra_args);

/* Waits until meshd reports the mesh ready (1) or exits / times out (0). */
int th_wait_ready(th_mesh *h, unsigned timeout_ms);

/* Sends one request; returns the parsed reply (caller frees) or NULL. */
sup_jval *th_request(th_mesh *h, const char *line);

/* The engine object named `name` in a status reply, or NULL. */
const sup_jval *th_engine(const sup_jval *status, const char *name);

/* Polls status every 20 ms until pred(status, arg) is true (returns 1) or
 * timeout_ms passes (returns 0). A bounded wait for a behaviour, not a timing
 * assertion. */
int th_wait_status(th_mesh *h, int (*pred)(const sup_jval *st, const void *arg), const void *arg,
                   unsigned timeout_ms);

/* Predicate arg for th_wait_status: engine `name` has field `field` >= value
 * (numbers) or == str (strings). */
typedef struct th_cond {
    const char *engine, *field, *str;
    double value;
} th_cond;
int th_cond_holds(const sup_jval *st, const void *arg);

/* Sends SIGTERM and waits up to timeout_ms; returns meshd's exit code, or -1
 * if it had to be killed / died by a signal. */
int th_stop(th_mesh *h, unsigned timeout_ms);

/* Waits for meshd to exit by itself; returns as th_stop. */
int th_wait_exit(th_mesh *h, unsigned timeout_ms);

/* Waits (bounded) until meshd's log (its first MiB) contains `phrase`:
 * 1, or 0 at the timeout. */
int th_wait_log(const th_mesh *h, const char *phrase, unsigned timeout_ms);

/* Number of /dev/shm objects of this mesh. */
int th_shm_count(const th_mesh *h);

/* 1 if the process exists (and is not a zombie). */
int th_alive(pid_t pid);

/* Runs a program (argv[0] a path) with stdout and stderr captured into
 * out/err (NUL-terminated, truncated to the sizes); returns its exit code,
 * or -1 if it timed out (killed) or died by a signal. */
int th_run(char *const argv[], char *out, size_t outlen, char *err, size_t errlen,
           unsigned timeout_ms);

/* Reads the payload counters from a test-consumer --out file into counts
 * (counts[c]++ for each line "<producer> <seq> <c>" with c < n). Returns the
 * number of lines read. */
long th_read_counters(const char *path, unsigned *counts, size_t n);

/* Waits (bounded) until a test-consumer --out file holds every payload
 * counter 1..n. Returns the number of surplus lines (duplicates), or -1 on
 * timeout with *missing = the smallest counter that never arrived. */
long th_wait_all_counters(const char *path, unsigned n, unsigned timeout_ms, unsigned *missing);

/* Live processes (not zombies) whose environment holds MESH_CONFIG=<config>:
 * the engines meshd started and everything they started in turn (meshd
 * itself excluded). Stores up to max pids; returns how many there are. */
int th_mesh_procs(const th_mesh *h, pid_t *pids, int max);

/* Kills meshd and every process started with this mesh's config (found by
 * MESH_CONFIG in /proc/<pid>/environ), removes its shm objects, socket and
 * directory. Safe to call twice. */
void th_cleanup(th_mesh *h);

/* th_cleanup for every mesh made by th_init in this process (Criterion .fini). */
void th_cleanup_all(void);

#endif
