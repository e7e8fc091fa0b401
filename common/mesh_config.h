/* The mesh config: one YAML file describing a mesh (engines, routes, peers,
 * supervision policy), loaded and fully validated before anything starts.
 * Schema and defaults: docs/CONFIG.md. */
#ifndef MESH_CONFIG_H
#define MESH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define MESH_NAME_MAX        32 /* names: [A-Za-z0-9_-], 1..31 chars */
#define MESH_CFG_MAX_ENGINES 64
#define MESH_CFG_MAX_ROUTES  256
#define MESH_CFG_MAX_PEERS   16
#define MESH_CFG_MAX_TYPES   32 /* message types per route */
/* intensity.max_restarts: the supervisor keeps the time of each restart in
 * the window, in a table sized for this many (no growth at run time). */
#define MESH_CFG_MAX_RESTARTS 255

/* The largest config file mesh_config_read_text reads (meshd, and
 * mesh_config_load), so the largest snapshot meshd passes to an engine
 * (MESH_CONFIG_FD; mesh_config_load_given refuses a larger one): far above
 * any mesh config (64 engines). MESH_CONFIG_MAX_TEXT says it in messages. */
#define MESH_CONFIG_MAX_BYTES (4u << 20)
#define MESH_CONFIG_MAX_TEXT  "4 MiB"

/* The engine that carries off-host routes over nng (meshd adds it): the
 * local end of such a route exchanges records with it through a ring. */
#define MESH_BRIDGE_ENGINE "bridge"

enum mesh_restart { MESH_RESTART_PERMANENT, MESH_RESTART_TRANSIENT, MESH_RESTART_TEMPORARY };
enum mesh_escalation { MESH_ESCALATE_LEAVE_DOWN, MESH_ESCALATE_STOP_MESH };
enum mesh_strategy { MESH_STRATEGY_ONE_FOR_ONE, MESH_STRATEGY_REST_FOR_ONE };
enum mesh_policy { MESH_POLICY_WAIT, MESH_POLICY_DROP };
enum mesh_wait { MESH_WAIT_ADAPTIVE, MESH_WAIT_SPIN, MESH_WAIT_YIELD };

typedef struct mesh_engine_cfg {
    char name[MESH_NAME_MAX];
    char *binary; /* resolved absolute path of an existing executable */
    char **argv;  /* NULL-terminated; argv[0] == binary; then `args` */
    char **env;   /* NULL-terminated "KEY=VALUE" added to the environment */
    int cpu;      /* CPU to pin the engine thread to, -1 = not pinned */
    enum mesh_restart restart;
    enum mesh_escalation escalation;
    enum mesh_wait wait;
    uint32_t heartbeat_timeout_ms; /* 0 = no hang detection */
    uint32_t ready_timeout_ms;     /* start -> ready flag, else kill and count a failure */
    uint32_t backoff_initial_ms;   /* first restart delay; doubles per restart */
    uint32_t backoff_max_ms;       /* cap of the delay */
    uint32_t intensity_max;        /* more than this many restarts ... */
    uint32_t intensity_period_ms;  /* ... within this period => failed + escalation */
    uint32_t stop_timeout_ms;      /* SIGTERM -> SIGKILL */
    int ndeps;
    int deps[MESH_CFG_MAX_ENGINES]; /* indices into mesh_config.engines */
    int line;                       /* line of the engine's entry in the file */
} mesh_engine_cfg;

/* One directed route = one ring (or one nng link when `peer` >= 0). A YAML
 * route with `to: [a, b]` expands to one mesh_route_cfg per consumer. */
typedef struct mesh_route_cfg {
    char from[MESH_NAME_MAX]; /* producer engine name */
    char to[MESH_NAME_MAX];   /* consumer engine name */
    int from_engine;          /* index into engines, -1 when it runs on `peer` */
    int to_engine;            /* index into engines, -1 when it runs on `peer` */
    int peer;                 /* index into peers, -1 for a local route */
    uint32_t ring_bytes;      /* power of two */
    enum mesh_policy policy;
    int ntypes;
    int types[MESH_CFG_MAX_TYPES]; /* ids from the type lookup (-1 if none given) */
    char type_names[MESH_CFG_MAX_TYPES][MESH_NAME_MAX];
    int line;
} mesh_route_cfg;

typedef struct mesh_peer_cfg {
    char name[MESH_NAME_MAX];
    char address[128]; /* nng URL, e.g. tcp://10.0.0.2:7400 */
    int line;
} mesh_peer_cfg;

typedef struct mesh_config {
    char path[512];           /* the file it was loaded from */
    char name[MESH_NAME_MAX]; /* mesh name: scopes shm object names */
    char control_socket[108]; /* Unix socket path for meshctl */
    char metrics_listen[64];  /* "127.0.0.1:9464", empty = off */
    char listen[128];         /* nng URL remote peers connect to, empty = none */
    uint32_t ring_bytes;      /* default ring capacity */
    uint32_t stop_timeout_ms; /* default per-engine stop timeout */
    enum mesh_strategy strategy;
    int keep_shm; /* keep shared memory objects after stop */
    int nengines;
    mesh_engine_cfg engines[MESH_CFG_MAX_ENGINES]; /* in file order */
    int nroutes;
    mesh_route_cfg routes[MESH_CFG_MAX_ROUTES];
    int npeers;
    mesh_peer_cfg peers[MESH_CFG_MAX_PEERS];
    int start_order[MESH_CFG_MAX_ENGINES]; /* engine indices, dependencies first */
} mesh_config;

typedef struct mesh_config_opts {
    /* Colon-separated directories searched for engine binaries named without
     * a '/', before the config's own `bin_path` and $PATH. May be NULL. */
    const char *search_path;
    /* Resolves a message type name to its id (>= 0) or a negative code for an
     * unknown name. NULL = type names are kept, not checked (ids = -1). */
    int (*type_lookup)(const char *name, void *arg);
    void *type_lookup_arg;
    /* Nonzero: binaries are not looked up or checked (`binary` is kept as
     * written). For tools that read a running mesh's config, not run it. */
    int no_binary_check;
} mesh_config_opts;

/* Loads and validates `path` (read whole by mesh_config_read_text). On
 * success returns 0 and hands a new config to *out (caller frees with
 * mesh_config_free). On failure returns MESH_ECONFIG (or a code of
 * mesh_config_read_text when the file cannot be read), leaves *out NULL, and
 * writes every problem found, one per line as "file:line:col: what is
 * wrong", into err (truncated to errlen). Thread-safe (no global state). */
int mesh_config_load(mesh_config **out, const char *path, const mesh_config_opts *opts, char *err,
                     unsigned errlen);

/* Reads the whole regular file `path` into *text (NUL-terminated after *len
 * bytes; the caller frees it) and the directory holding it (absolute,
 * symlinks resolved) into dir (PATH_MAX bytes). Returns 0, or leaves *text
 * NULL, writes "path:0:0: what: reason" into err (truncated to errlen; err
 * may be NULL) and returns MESH_ENAMETOOLONG (path does not fit
 * mesh_config.path), a system code (cannot open), MESH_EINVAL (not a regular
 * file, or larger than MESH_CONFIG_MAX_BYTES) or MESH_EIO (its size changed
 * while it was read: it is being written). Thread-safe. */
int mesh_config_read_text(const char *path, char **text, size_t *len, char *dir, char *err,
                          unsigned errlen);

/* Same as mesh_config_load for a config held in memory (e.g. an embedded
 * default): `text` is `len` bytes of YAML, `name` labels error lines (NULL =
 * "<config>"), relative paths start from `base_dir` (NULL = the current
 * directory). Same ownership, errors and thread-safety as mesh_config_load;
 * MESH_ENAMETOOLONG when `name` does not fit mesh_config.path. */
int mesh_config_parse(mesh_config **out, const char *text, size_t len, const char *name,
                      const char *base_dir, const mesh_config_opts *opts, char *err,
                      unsigned errlen);

/* Loads the config meshd gave a process it started: when snapshot_fd (the
 * MESH_CONFIG_FD environment value) is set, the sealed copy behind that fd,
 * parsed as if it were `path` (for messages and relative paths); once read,
 * the fd is closed and MESH_CONFIG_FD is unset (so the caller's children do
 * not inherit either). Else the file `path`. Returns and fills as
 * mesh_config_load; MESH_EBADF (fd left alone) when snapshot_fd is not an
 * open memfd sealed against write, grow and shrink as meshd seals it,
 * MESH_EINVAL when it holds more than MESH_CONFIG_MAX_BYTES. Changes the
 * environment: call before starting threads. */
int mesh_config_load_given(mesh_config **out, const char *path, const char *snapshot_fd,
                           const mesh_config_opts *opts, char *err, unsigned errlen);

/* Frees a config from mesh_config_load or mesh_config_parse; accepts NULL. */
void mesh_config_free(mesh_config *cfg);

/* Index of the engine called `name`, or -1. */
int mesh_config_engine_index(const mesh_config *cfg, const char *name);

/* 1 when two engine entries would run the same process the same way (binary,
 * argv, env, cpu) -- used by reload to decide what must restart. */
int mesh_config_engine_same(const mesh_engine_cfg *a, const mesh_engine_cfg *b);

#endif
