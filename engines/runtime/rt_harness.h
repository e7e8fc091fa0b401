/* Test harness for the runtime's multi-process tests: plays meshd's part
 * without meshd (creates the shm objects, writes a config, fork/execs test
 * engines with the MESH_* environment) and cleans everything up. */
#ifndef RT_HARNESS_H
#define RT_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "bus_ring.h"

#define RT_MAX_SHM   32
#define RT_MAX_CHILD 16
#define RT_MAX_PATHS 32

typedef struct rt_mesh {
    char name[32];    /* unique mesh name (scopes the shm objects) */
    char dir[256];    /* private temp dir: config, outputs, logs */
    char config[320]; /* absolute config path */
    int nshm;
    char shm[RT_MAX_SHM][128]; /* objects to unlink */
    int nchild;
    pid_t child[RT_MAX_CHILD]; /* children not yet reaped */
    int npaths;
    char path_file[RT_MAX_PATHS][64];
    char path[RT_MAX_PATHS][320]; /* rt_path results, stable for the test */
} rt_mesh;

/* Sets up a mesh named after tag + pid with a fresh temp dir. Returns 0 or an error. */
int rt_mesh_init(rt_mesh *m, const char *tag);

/* Kills (SIGKILL) and reaps every child still running, unlinks every shm
 * object created, removes the temp dir's files. Safe to call twice. */
void rt_mesh_cleanup(rt_mesh *m);

/* Absolute path of a test engine binary in the build tree (stable pointer). */
const char *rt_engine_bin(const char *name);

/* "<dir>/<file>"; the pointer stays valid (and the same for the same file)
 * until rt_mesh_cleanup. At most RT_MAX_PATHS distinct files. */
const char *rt_path(rt_mesh *m, const char *file);

/* Writes the config: "mesh: {name: <name>, ...}" then `body` (engines, routes). */
int rt_mesh_write_config(rt_mesh *m, const char *body);

/* meshd's part: create an engine control block / a ring for route from -> to.
 * Cleanup also removes the engine's checkpoint object, as meshd does. */
int rt_mesh_create_ctl(rt_mesh *m, const char *engine);
int rt_mesh_create_ring(rt_mesh *m, const char *from, const char *to, uint64_t capacity,
                        enum bus_ring_policy policy);

/* Shm name of a route's ring / an engine's control block. */
const char *rt_ring_name(const rt_mesh *m, const char *from, const char *to);
const char *rt_ctl_name(const rt_mesh *m, const char *engine);

/* Starts engine `engine` of the config: execs argv[0] (an absolute path) with
 * MESH_CONFIG, MESH_ENGINE, MESH_GENERATION=generation, MESH_READY_FD=3 when
 * ready_rd is not NULL (*ready_rd = read end), stdout+stderr appended to
 * rt_path(m, "<engine>.log"). The child dies with the test (PDEATHSIG).
 * extra_env: NULL or a "KEY=VALUE" string. Returns the pid or a negative code. */
pid_t rt_spawn(rt_mesh *m, const char *engine, unsigned generation, int *ready_rd,
               const char *extra_env, char *const argv[]);

/* Reads the readiness pipe to EOF (bounded by timeout_ms); returns 1 when
 * exactly "ready\n" arrived, 0 when it closed without it, MESH_ETIMEDOUT. Closes fd. */
int rt_read_ready(int fd, int timeout_ms);

/* Waits up to timeout_ms for pid to exit; returns 0 with *status, or
 * MESH_ETIMEDOUT (the child is left running for cleanup to kill). */
int rt_wait_exit(rt_mesh *m, pid_t pid, int timeout_ms, int *status);

/* Number of complete lines in a file (0 if missing). */
long rt_count_lines(const char *path);

/* Waits up to timeout_ms until the file has at least n lines; returns the count. */
long rt_wait_lines(const char *path, long n, int timeout_ms);

/* One line of test-consumer output. */
typedef struct rt_line {
    char from[32];
    uint64_t seq;
    uint64_t counter;
} rt_line;

/* Reads up to max lines; returns how many (malformed lines give -1). */
long rt_read_lines(const char *path, rt_line *out, long max);

/* The file's first 1 MiB as a string (static buffer; "" if missing). */
const char *rt_slurp(const char *path);

/* 1 if the file contains the substring. */
int rt_file_contains(const char *path, const char *needle);

/* MESH_TEST_SCALE applied to n (at least min). */
long rt_scaled(long n, long min);

/* Sleeps ms milliseconds. */
void rt_sleep_ms(int ms);

#endif
