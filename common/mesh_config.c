/* Mesh config loader: reads the YAML file with libyaml's document API, fills
 * mesh_config section by section, then runs the cross-reference checks. */
#include "mesh_config_int.h"
#include "mesh_cpu.h"
#include "mesh_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS_DAY          86400000u /* upper bound of every *_ms setting */
#define MCFG_MAX_BINDIR 32
#define MCFG_MAX_CPU    8192 /* beyond any host: the bound when the mask is not checked */

static const char *const restart_names[] = {"permanent", "transient", "temporary"};
static const char *const escalation_names[] = {"leave_down", "stop_mesh"};
static const char *const strategy_names[] = {"one_for_one", "rest_for_one"};
static const char *const policy_names[] = {"wait", "drop"};
static const char *const wait_names[] = {"adaptive", "spin", "yield"};

/* "host:port" with a non-empty host (unless host_optional) and port 1..65535. */
static int host_port_ok(const char *s, int host_optional)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (!host_optional && colon == s) || colon[1] == '\0')
        return 0;
    if (s[0] == '[' && (colon == s || colon[-1] != ']'))
        return 0;
    long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return 0;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

/* An nng URL: tcp[46]://host:port, tls+tcp[46]://host:port, ipc://path,
 * abstract://name, inproc://name, ws[s]://host:port/path. */
static int url_ok(const char *s)
{
    static const char *const hp[] = {"tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6"};
    static const char *const any[] = {"ipc", "abstract", "inproc", "ws", "wss", "ws4", "ws6"};
    const char *sep = strstr(s, "://");
    if (!sep || sep[3] == '\0')
        return 0;
    size_t n = (size_t)(sep - s);
    for (size_t i = 0; i < sizeof(hp) / sizeof(hp[0]); i++)
        if (strlen(hp[i]) == n && !strncmp(s, hp[i], n))
            return host_port_ok(sep + 3, 1);
    for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
        if (strlen(any[i]) == n && !strncmp(s, any[i], n))
            return 1;
    return 0;
}

static void parse_url(mcfg_ctx *c, yaml_node_t *node, const char *what, char *dst, size_t cap)
{
    if (mcfg_str(c, node, what, dst, cap) < 0)
        return;
    if (dst[0] && !url_ok(dst))
        mcfg_err(c, node, "%s '%s' is not an nng URL (e.g. tcp://10.0.0.2:7400, ipc:///tmp/x.ipc)",
                 what, dst);
}

/* Directory `p` made absolute against the config's directory. */
static char *abs_dir(mcfg_ctx *c, const char *p)
{
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *out = malloc(n);
    if (!out) {
        c->nomem = 1;
        return NULL;
    }
    if (p[0] == '/')
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%s/%s", c->dir, p);
    return out;
}

static void parse_bin_path(mcfg_ctx *c, yaml_node_t *node)
{
    yaml_node_t *items[MCFG_MAX_BINDIR];
    int n = mcfg_list(c, node, "mesh.bin_path", 1, items, MCFG_MAX_BINDIR);
    if (n <= 0)
        return;
    c->bin_path = calloc((size_t)n, sizeof(char *));
    if (!c->bin_path) {
        c->nomem = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *d = mcfg_scalar(c, items[i], "mesh.bin_path entry", "a directory");
        if (!d)
            continue;
        if (!d[0]) {
            mcfg_err(c, items[i], "mesh.bin_path entry is empty");
            continue;
        }
        char *a = abs_dir(c, d);
        if (a)
            c->bin_path[c->nbin_path++] = a;
    }
}

static void parse_mesh(mcfg_ctx *c, yaml_node_t *node)
{
    static const char *const keys[] = {"name",    "ring_bytes", "control_socket",  "metrics_listen",
                                       "listen",  "strategy",   "stop_timeout_ms", "keep_shm",
                                       "bin_path"};
    enum { K_NAME, K_RING, K_SOCK, K_METRICS, K_LISTEN, K_STRAT, K_STOP, K_KEEP, K_BIN, K_N };
    _Static_assert(K_N == sizeof(keys) / sizeof(keys[0]), "mesh keys");
    mesh_config *cfg = c->cfg;
    yaml_node_t *v[K_N];
    if (mcfg_map(c, node, "'mesh'", keys, K_N, v) < 0)
        return;
    if (!v[K_NAME])
        mcfg_err(c, node, "missing required key 'name' in 'mesh'");
    else
        mcfg_name(c, v[K_NAME], "mesh.name", cfg->name);
    if (v[K_RING])
        mcfg_ring_bytes(c, v[K_RING], "mesh.ring_bytes", &cfg->ring_bytes);
    snprintf(cfg->control_socket, sizeof(cfg->control_socket), "/tmp/mesh-%s.sock", cfg->name);
    if (v[K_SOCK] &&
        mcfg_str(c, v[K_SOCK], "mesh.control_socket", cfg->control_socket,
                 sizeof(cfg->control_socket)) == 0 &&
        !cfg->control_socket[0])
        mcfg_err(c, v[K_SOCK], "mesh.control_socket is empty");
    if (v[K_METRICS] &&
        mcfg_str(c, v[K_METRICS], "mesh.metrics_listen", cfg->metrics_listen,
                 sizeof(cfg->metrics_listen)) == 0 &&
        cfg->metrics_listen[0] && !host_port_ok(cfg->metrics_listen, 0))
        mcfg_err(c, v[K_METRICS],
                 "mesh.metrics_listen '%s' must be host:port (e.g. 127.0.0.1:9464)",
                 cfg->metrics_listen);
    if (v[K_LISTEN])
        parse_url(c, v[K_LISTEN], "mesh.listen", cfg->listen, sizeof(cfg->listen));
    int e = 0;
    if (v[K_STRAT] && mcfg_enum(c, v[K_STRAT], "mesh.strategy", strategy_names, 2, &e) == 0)
        cfg->strategy = (enum mesh_strategy)e;
    if (v[K_STOP])
        mcfg_u32(c, v[K_STOP], "mesh.stop_timeout_ms", 0, MS_DAY, &cfg->stop_timeout_ms);
    if (v[K_KEEP])
        mcfg_bool(c, v[K_KEEP], "mesh.keep_shm", &cfg->keep_shm);
    if (v[K_BIN])
        parse_bin_path(c, v[K_BIN]);
}

static void parse_args(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t *node, const char *who)
{
    char what[96];
    snprintf(what, sizeof(what), "%s: 'args'", who);
    int n = 0;
    if (node) {
        if (node->type != YAML_SEQUENCE_NODE) {
            mcfg_err(c, node, "%s must be a list of strings, got %s", what, mcfg_kind(node));
            return;
        }
        n = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
    }
    e->argv = calloc((size_t)n + 2, sizeof(char *)); /* [0] = binary, set by the checks */
    if (!e->argv) {
        c->nomem = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        yaml_node_t *it = mcfg_node(c, node->data.sequence.items.start[i]);
        char item[128];
        snprintf(item, sizeof(item), "%s entry %d", what, i + 1);
        const char *s = mcfg_scalar(c, it, item, "a string");
        if ((e->argv[i + 1] = mcfg_strdup(c, s ? s : "")) == NULL)
            return; /* the NULL ends the list: nothing after it to free */
    }
}

static int env_key_ok(const char *k)
{
    if (!((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
        return 0;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

static void parse_env(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t *node, const char *who)
{
    if (node->type != YAML_MAPPING_NODE) {
        mcfg_err(c, node, "%s: 'env' must be a mapping of NAME: value, got %s", who,
                 mcfg_kind(node));
        return;
    }
    yaml_node_pair_t *p0 = node->data.mapping.pairs.start;
    int n = (int)(node->data.mapping.pairs.top - p0);
    e->env = calloc((size_t)n + 1, sizeof(char *));
    if (!e->env) {
        c->nomem = 1;
        return;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        yaml_node_t *key = mcfg_node(c, p0[i].key), *val = mcfg_node(c, p0[i].value);
        const char *ks = mcfg_scalar(c, key, "env key", "a variable name");
        const char *vs = mcfg_is_null(val) ? "" : mcfg_scalar(c, val, "env value", "a string");
        if (!ks || !vs)
            continue;
        if (!env_key_ok(ks)) {
            mcfg_err(c, key, "%s: env name '%s' is not valid (letters, digits, _; not first digit)",
                     who, ks);
            continue;
        }
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) {
            yaml_node_t *kj = mcfg_node(c, p0[j].key);
            dup = kj && kj->type == YAML_SCALAR_NODE && !strcmp((char *)kj->data.scalar.value, ks);
            if (dup)
                mcfg_err(c, key, "%s: duplicate env name '%s' (first at line %zu)", who, ks,
                         kj->start_mark.line + 1);
        }
        if (dup)
            continue;
        size_t len = strlen(ks) + strlen(vs) + 2;
        if ((e->env[k] = malloc(len)) == NULL) {
            c->nomem = 1;
            return;
        }
        snprintf(e->env[k++], len, "%s=%s", ks, vs);
    }
}

static void parse_intensity(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t *node, const char *who)
{
    static const char *const keys[] = {"max_restarts", "period_ms"};
    yaml_node_t *v[2];
    char what[96];
    snprintf(what, sizeof(what), "%s: 'intensity'", who);
    if (mcfg_map(c, node, what, keys, 2, v) < 0)
        return;
    snprintf(what, sizeof(what), "%s: intensity.max_restarts", who);
    if (v[0])
        mcfg_u32(c, v[0], what, 0, MESH_CFG_MAX_RESTARTS, &e->intensity_max);
    snprintf(what, sizeof(what), "%s: intensity.period_ms", who);
    if (v[1])
        mcfg_u32(c, v[1], what, 1, MS_DAY, &e->intensity_period_ms);
}

static void engine_defaults(const mesh_config *cfg, mesh_engine_cfg *e, yaml_node_t *entry)
{
    e->cpu = -1;
    e->restart = MESH_RESTART_PERMANENT;
    e->escalation = MESH_ESCALATE_LEAVE_DOWN;
    e->wait = MESH_WAIT_ADAPTIVE;
    e->heartbeat_timeout_ms = 3000;
    e->ready_timeout_ms = 10000;
    e->backoff_initial_ms = 100;
    e->backoff_max_ms = 10000;
    e->intensity_max = 5;
    e->intensity_period_ms = 30000;
    e->stop_timeout_ms = cfg->stop_timeout_ms;
    e->line = (int)entry->start_mark.line + 1;
}

/* `cpu`: a CPU this process may run on (its affinity mask, which taskset or
 * a container's cpuset may restrict, with gaps). Tools and engines, which do
 * not pin anything from here (no_binary_check), check only the range. */
static void parse_cpu(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t *node, const char *who)
{
    char what[96], allowed[256];
    long long cpu;
    snprintf(what, sizeof(what), "%s: 'cpu'", who);
    if (mcfg_int(c, node, what, &cpu) < 0)
        return;
    int check = !(c->opts && c->opts->no_binary_check);
    if (mesh_cpu_allowed_list(allowed, sizeof(allowed)) < 0)
        snprintf(allowed, sizeof(allowed), "unknown");
    /* 1 in the mask (or not checked), 0 not in it, < 0 the mask is unreadable */
    int in_mask = check && cpu >= 0 && cpu < MCFG_MAX_CPU ? mesh_cpu_allowed((int)cpu) : 1;
    if (cpu < 0)
        mcfg_err(c, node,
                 "%s: cpu %lld is negative; this process may run on CPUs %s (omit 'cpu' to "
                 "leave the engine unpinned)",
                 who, cpu, allowed);
    else if (in_mask < 0)
        mcfg_err(c, node, "%s: cpu %lld: cannot read the affinity mask: %s", who, cpu,
                 mesh_strerror(in_mask));
    else if (cpu >= MCFG_MAX_CPU || in_mask != 1)
        mcfg_err(c, node,
                 "%s: cpu %lld is not available: this process may run on CPUs %s only "
                 "(its affinity mask; %d online)",
                 who, cpu, allowed, mesh_cpu_count());
    else
        e->cpu = (int)cpu;
}

/* Timeouts and back-off: the u32 settings of one engine entry. */
static void parse_engine_times(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t **v, int first,
                               const char *who)
{
    static const struct {
        const char *key;
        uint32_t min;
        size_t off;
    } t[] = {
        {"heartbeat_timeout_ms", 0, offsetof(mesh_engine_cfg, heartbeat_timeout_ms)},
        {"ready_timeout_ms", 1, offsetof(mesh_engine_cfg, ready_timeout_ms)},
        {"backoff_initial_ms", 1, offsetof(mesh_engine_cfg, backoff_initial_ms)},
        {"backoff_max_ms", 1, offsetof(mesh_engine_cfg, backoff_max_ms)},
        {"stop_timeout_ms", 0, offsetof(mesh_engine_cfg, stop_timeout_ms)},
    };
    int bad_backoff = 0;
    for (int i = 0; i < 5; i++) {
        char what[96];
        snprintf(what, sizeof(what), "%s: '%s'", who, t[i].key);
        if (v[first + i] &&
            mcfg_u32(c, v[first + i], what, t[i].min, MS_DAY, (uint32_t *)((char *)e + t[i].off)))
            bad_backoff |= (i == 2 || i == 3);
    }
    if (!bad_backoff && e->backoff_max_ms < e->backoff_initial_ms)
        mcfg_err(c, v[first + 3] ? v[first + 3] : v[first + 2],
                 "%s: backoff_max_ms (%u) is below backoff_initial_ms (%u)", who,
                 (unsigned)e->backoff_max_ms, (unsigned)e->backoff_initial_ms);
}

/* `name` of engine idx: required and unique. On success `who` becomes
 * "engine '<name>'" for later messages. */
static void parse_engine_name(mcfg_ctx *c, int idx, yaml_node_t *entry, yaml_node_t *node,
                              char *who, size_t wholen)
{
    mesh_config *cfg = c->cfg;
    mesh_engine_cfg *e = &cfg->engines[idx];
    if (!node) {
        mcfg_err(c, entry, "missing required key 'name' in engine entry");
        return;
    }
    if (mcfg_name(c, node, "engine name", e->name) != 0)
        return;
    snprintf(who, wholen, "engine '%s'", e->name);
    c->esrc[idx].name = node;
    for (int j = 0; j < idx; j++)
        if (c->esrc[j].name && !strcmp(cfg->engines[j].name, e->name)) {
            mcfg_err(c, node, "duplicate engine name '%s' (first at line %d)", e->name,
                     cfg->engines[j].line);
            c->esrc[idx].name = NULL;
            return;
        }
}

/* `restart`, `escalation` and `wait` (each may be NULL: default kept). */
static void parse_engine_enums(mcfg_ctx *c, mesh_engine_cfg *e, yaml_node_t *restart,
                               yaml_node_t *esc, yaml_node_t *wait, const char *who)
{
    char what[96];
    int x;
    snprintf(what, sizeof(what), "%s: 'restart'", who);
    if (restart && mcfg_enum(c, restart, what, restart_names, 3, &x) == 0)
        e->restart = (enum mesh_restart)x;
    snprintf(what, sizeof(what), "%s: 'escalation'", who);
    if (esc && mcfg_enum(c, esc, what, escalation_names, 2, &x) == 0)
        e->escalation = (enum mesh_escalation)x;
    snprintf(what, sizeof(what), "%s: 'wait'", who);
    if (wait && mcfg_enum(c, wait, what, wait_names, 3, &x) == 0)
        e->wait = (enum mesh_wait)x;
}

static void parse_engine(mcfg_ctx *c, int idx, yaml_node_t *node)
{
    static const char *const keys[] = {"name",
                                       "binary",
                                       "args",
                                       "cpu",
                                       "restart",
                                       "depends_on",
                                       "intensity",
                                       "escalation",
                                       "wait",
                                       "env",
                                       "heartbeat_timeout_ms",
                                       "ready_timeout_ms",
                                       "backoff_initial_ms",
                                       "backoff_max_ms",
                                       "stop_timeout_ms"};
    enum { K_NAME, K_BIN, K_ARGS, K_CPU, K_RESTART, K_DEPS, K_INT, K_ESC, K_WAIT, K_ENV, K_TIMES };
    yaml_node_t *v[15];
    mesh_engine_cfg *e = &c->cfg->engines[idx];
    mcfg_engine_src *src = &c->esrc[idx];
    char who[64];
    snprintf(who, sizeof(who), "engines[%d]", idx);
    src->entry = node;
    engine_defaults(c->cfg, e, node);
    if (mcfg_map(c, node, "engine entry", keys, 15, v) < 0)
        return;
    parse_engine_name(c, idx, node, v[K_NAME], who, sizeof(who));
    src->binary = v[K_BIN];
    src->depends = v[K_DEPS];
    parse_args(c, e, v[K_ARGS], who);
    if (v[K_CPU])
        parse_cpu(c, e, v[K_CPU], who);
    parse_engine_enums(c, e, v[K_RESTART], v[K_ESC], v[K_WAIT], who);
    if (v[K_INT])
        parse_intensity(c, e, v[K_INT], who);
    if (v[K_ENV])
        parse_env(c, e, v[K_ENV], who);
    else if ((e->env = calloc(1, sizeof(char *))) == NULL) /* always a list, maybe empty */
        c->nomem = 1;
    parse_engine_times(c, e, v, K_TIMES, who);
}

/* Type names: like engine names, plus '.' ("meshpb.Trade"). */
static int type_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MESH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char one[2] = {s[i] == '.' ? '_' : s[i], '\0'};
        if (!mcfg_name_ok(one))
            return 0;
    }
    return 1;
}

/* `types:` of a route: names, looked up with opts->type_lookup when given. */
static void parse_types(mcfg_ctx *c, mesh_route_cfg *r, yaml_node_t *entry, yaml_node_t *node,
                        const char *who)
{
    yaml_node_t *items[MESH_CFG_MAX_TYPES];
    char what[96];
    snprintf(what, sizeof(what), "%s: 'types'", who);
    int n = node ? mcfg_list(c, node, what, 1, items, MESH_CFG_MAX_TYPES) : 0;
    if (n < 0)
        return;
    if (n == 0) {
        mcfg_err(c, node ? node : entry,
                 "%s has no types: list the message types it carries (types: [trade, bar])", who);
        return;
    }
    for (int i = 0; i < n; i++) {
        char name[MESH_NAME_MAX];
        const char *t = mcfg_scalar(c, items[i], what, "a list of type names");
        if (!t)
            continue;
        if (!type_name_ok(t)) {
            mcfg_err(c, items[i],
                     "message type '%s' is not a valid type name: use 1 to %d "
                     "characters from A-Z a-z 0-9 _ - .",
                     t, MESH_NAME_MAX - 1);
            continue;
        }
        memcpy(name, t, strlen(t) + 1);
        int dup = 0;
        for (int j = 0; j < r->ntypes; j++)
            dup |= !strcmp(r->type_names[j], name);
        if (dup) {
            mcfg_err(c, items[i], "%s: message type '%s' is listed twice", who, name);
            continue;
        }
        int id = -1;
        const mesh_config_opts *o = c->opts;
        if (o && o->type_lookup && (id = o->type_lookup(name, o->type_lookup_arg)) < 0) {
            mcfg_err(c, items[i], "%s: unknown message type '%s'", who, name);
            continue;
        }
        memcpy(r->type_names[r->ntypes], name, sizeof(name));
        r->types[r->ntypes++] = id;
    }
}

static void parse_route(mcfg_ctx *c, int idx, yaml_node_t *node)
{
    static const char *const keys[] = {"from", "to", "types", "ring_bytes", "policy", "peer"};
    enum { K_FROM, K_TO, K_TYPES, K_RING, K_POLICY, K_PEER, K_N };
    yaml_node_t *v[K_N];
    mcfg_route_src *src = &c->rsrc[idx];
    mesh_route_cfg *r = &src->tmpl;
    int nerr = c->nerr;
    char who[80];
    snprintf(who, sizeof(who), "routes[%d]", idx);
    src->entry = node;
    r->line = (int)node->start_mark.line + 1;
    r->ring_bytes = c->cfg->ring_bytes;
    r->from_engine = r->to_engine = r->peer = -1;
    if (mcfg_map(c, node, "route entry", keys, K_N, v) < 0)
        return;
    if (!v[K_FROM])
        mcfg_err(c, node, "missing required key 'from' in route entry");
    else if (mcfg_name(c, v[K_FROM], "route 'from'", r->from) == 0) {
        src->from = v[K_FROM];
        snprintf(who, sizeof(who), "route from '%s'", r->from);
    }
    if (!v[K_TO])
        mcfg_err(c, node, "missing required key 'to' in route entry");
    src->to = v[K_TO];
    src->peer = v[K_PEER];
    parse_types(c, r, node, v[K_TYPES], who);
    char what[96];
    snprintf(what, sizeof(what), "%s: 'ring_bytes'", who);
    if (v[K_RING])
        mcfg_ring_bytes(c, v[K_RING], what, &r->ring_bytes);
    int x;
    snprintf(what, sizeof(what), "%s: 'policy'", who);
    if (v[K_POLICY] && mcfg_enum(c, v[K_POLICY], what, policy_names, 2, &x) == 0)
        r->policy = (enum mesh_policy)x;
    src->ok = c->nerr == nerr;
}

static void parse_peer(mcfg_ctx *c, int idx, yaml_node_t *node)
{
    static const char *const keys[] = {"name", "address"};
    yaml_node_t *v[2];
    mesh_peer_cfg *p = &c->cfg->peers[idx];
    p->line = (int)node->start_mark.line + 1;
    if (mcfg_map(c, node, "peer entry", keys, 2, v) < 0)
        return;
    if (!v[0])
        mcfg_err(c, node, "missing required key 'name' in peer entry");
    else if (mcfg_name(c, v[0], "peer name", p->name) == 0)
        for (int j = 0; j < idx; j++)
            if (!strcmp(c->cfg->peers[j].name, p->name)) {
                mcfg_err(c, v[0], "duplicate peer name '%s' (first at line %d)", p->name,
                         c->cfg->peers[j].line);
                break;
            }
    if (!v[1])
        mcfg_err(c, node, "missing required key 'address' in peer entry");
    else
        parse_url(c, v[1], "peer address", p->address, sizeof(p->address));
    if (v[1] && p->address[0] == '\0')
        mcfg_err(c, v[1], "peer address is empty");
}

/* Calls fn for each entry of the top-level list `node`, at most max. */
static int parse_list(mcfg_ctx *c, yaml_node_t *node, const char *what, int max,
                      void (*fn)(mcfg_ctx *, int, yaml_node_t *))
{
    if (node->type != YAML_SEQUENCE_NODE) {
        mcfg_err(c, node, "'%s' must be a list (lines starting with '- '), got %s", what,
                 mcfg_kind(node));
        return 0;
    }
    int n = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *entry = mcfg_node(c, *it);
        if (n == max) {
            mcfg_err(c, entry, "too many %s (at most %d)", what, max);
            break;
        }
        fn(c, n++, entry);
    }
    return n;
}

static void parse_top(mcfg_ctx *c, yaml_node_t *root)
{
    static const char *const keys[] = {"mesh", "engines", "routes", "peers"};
    yaml_node_t *v[4];
    if (root->type != YAML_MAPPING_NODE) {
        mcfg_err(c, root,
                 "the top level must be a mapping with keys 'mesh', 'engines', 'routes', "
                 "'peers'; got %s",
                 mcfg_kind(root));
        return;
    }
    if (mcfg_map(c, root, "the top level", keys, 4, v) < 0)
        return;
    if (v[0])
        parse_mesh(c, v[0]);
    else
        mcfg_err(c, root, "missing required key 'mesh' at the top level");
    if (v[3])
        c->cfg->npeers = parse_list(c, v[3], "peers", MESH_CFG_MAX_PEERS, parse_peer);
    if (v[1])
        c->cfg->nengines = parse_list(c, v[1], "engines", MESH_CFG_MAX_ENGINES, parse_engine);
    if (!v[1] || (v[1]->type == YAML_SEQUENCE_NODE && c->cfg->nengines == 0))
        mcfg_err(c, v[1] ? v[1] : root, "'engines' must list at least one engine");
    if (v[2])
        c->nrsrc = parse_list(c, v[2], "routes", MESH_CFG_MAX_ROUTES, parse_route);
    mcfg_check(c);
}

static void yaml_problem(mcfg_ctx *c, yaml_parser_t *p)
{
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) { /* reader errors carry an offset only */
        mcfg_err_at(c, m, "cannot read the file: %s (at byte %zu)",
                    p->problem ? p->problem : "error", p->problem_offset);
    } else if (p->error == YAML_MEMORY_ERROR) {
        c->nomem = 1;
    } else {
        if (p->context)
            mcfg_err_at(c, m, "YAML syntax error: %s (%s started at line %zu)",
                        p->problem ? p->problem : "error", p->context, p->context_mark.line + 1);
        else
            mcfg_err_at(c, m, "YAML syntax error: %s", p->problem ? p->problem : "error");
    }
}

/* Parses the already-opened parser input into c->cfg. */
static void load_document(mcfg_ctx *c, yaml_parser_t *parser)
{
    yaml_document_t doc, extra;
    if (!yaml_parser_load(parser, &doc)) {
        yaml_problem(c, parser);
        return;
    }
    c->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        yaml_mark_t zero = {0, 0, 0};
        mcfg_err_at(c, zero, "the file is empty: expected a mapping with 'mesh' and 'engines'");
    } else {
        parse_top(c, root);
        if (!yaml_parser_load(parser, &extra)) {
            yaml_problem(c, parser);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2)
                mcfg_err(c, r2, "only one YAML document is allowed (found a second one)");
            yaml_document_delete(&extra);
        }
    }
    c->doc = NULL;
    yaml_document_delete(&doc);
}

/* Runs the loader over `len` bytes of text; messages name `name`, relative
 * paths start from the absolute directory `dir`. */
static int load_common(mesh_config **out, const char *text, size_t len, const char *name,
                       const char *dir, const mesh_config_opts *opts, char *err, unsigned errlen)
{
    int rc = MESH_ENOMEM;
    yaml_parser_t parser;
    mcfg_ctx *c = calloc(1, sizeof(*c));
    mesh_config *cfg = calloc(1, sizeof(*cfg));
    if (!c || !cfg)
        goto out_free;
    c->path = name;
    c->opts = opts;
    c->cfg = cfg;
    c->err = err;
    c->errlen = errlen;
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    snprintf(cfg->path, sizeof(cfg->path), "%s", name);
    cfg->ring_bytes = 1u << 20;
    cfg->stop_timeout_ms = 5000;
    if (!yaml_parser_initialize(&parser))
        goto out_free;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    load_document(c, &parser);
    yaml_parser_delete(&parser);
    rc = c->nomem ? MESH_ENOMEM : c->nerr ? MESH_ECONFIG : 0;
out_free:
    if (c) {
        mcfg_flush(c);
        for (int i = 0; i < c->nbin_path; i++)
            free(c->bin_path[i]);
        free(c->bin_path);
    }
    free(c);
    if (rc == 0)
        *out = cfg;
    else
        mesh_config_free(cfg);
    return rc;
}

int mesh_config_parse(mesh_config **out, const char *text, size_t len, const char *name,
                      const char *base_dir, const mesh_config_opts *opts, char *err,
                      unsigned errlen)
{
    char cwd[PATH_MAX], dir[PATH_MAX];
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!name)
        name = "<config>";
    if (strlen(name) >= sizeof((*out)->path)) { /* mesh_config.path would cut it */
        if (err && errlen)
            snprintf(err, errlen, "%s:0:0: the config's name is longer than %zu bytes: %s\n", name,
                     sizeof((*out)->path) - 1, mesh_strerror(MESH_ENAMETOOLONG));
        return MESH_ENAMETOOLONG;
    }
    if (!base_dir || base_dir[0] != '/') { /* paths handed out must be absolute */
        if (!getcwd(cwd, sizeof(cwd)))
            return mesh_err_from_errno(errno);
        if (base_dir && (size_t)snprintf(dir, sizeof(dir), "%s/%s", cwd, base_dir) >= sizeof(dir))
            return MESH_ENAMETOOLONG;
        base_dir = base_dir ? dir : cwd;
    }
    return load_common(out, text, len, name, base_dir, opts, err, errlen);
}

void mesh_config_free(mesh_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nengines; i++) {
        mesh_engine_cfg *e = &cfg->engines[i];
        free(e->binary);
        for (char **a = e->argv; a && (a == e->argv || *a); a++)
            free(*a);
        free(e->argv);
        for (char **v = e->env; v && *v; v++)
            free(*v);
        free(e->env);
    }
    free(cfg);
}

int mesh_config_engine_index(const mesh_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nengines; i++)
        if (!strcmp(cfg->engines[i].name, name))
            return i;
    return -1;
}

static int strv_same(char *const *a, char *const *b)
{
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b))
            return 0;
    return *a == *b;
}

int mesh_config_engine_same(const mesh_engine_cfg *a, const mesh_engine_cfg *b)
{
    if (a->cpu != b->cpu || !a->binary != !b->binary)
        return 0;
    if (a->binary && strcmp(a->binary, b->binary))
        return 0;
    return strv_same(a->argv, b->argv) && strv_same(a->env, b->env);
}
