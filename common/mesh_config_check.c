/* Config loader, second pass: resolves engine binaries and depends_on,
 * computes the start order (naming every dependency cycle) and expands routes. */
#include "mesh_config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PROBE_OK, PROBE_MISSING, PROBE_NOTREG, PROBE_NOEXEC };

/* What a binary search looked at, for the error message. */
typedef struct search_log {
    char dirs[1024]; /* "search_path (a:b), $PATH (c:d)" */
    size_t len;
    const char *group;     /* label of the open parenthesis, or NULL */
    char noexec[PATH_MAX]; /* first match that is not executable */
} search_log;

static int probe(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return PROBE_MISSING;
    if (!S_ISREG(st.st_mode))
        return PROBE_NOTREG;
    return access(path, X_OK) == 0 ? PROBE_OK : PROBE_NOEXEC;
}

/* Drops empty and "." components in place ("/a/./b//c" -> "/a/b/c"); ".."
 * stays, since only the file system can resolve it through symlinks. */
static void path_tidy(char *p)
{
    char *out = p, *in = p;
    int abs = *p == '/';
    if (abs)
        out++;
    while (*in) {
        while (*in == '/')
            in++;
        char *end = strchr(in, '/');
        size_t n = end ? (size_t)(end - in) : strlen(in);
        if (n && !(n == 1 && in[0] == '.')) {
            if (out > p + abs)
                *out++ = '/';
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    if (out == p)
        *out++ = '.';
    *out = '\0';
}

/* dir (dlen bytes; relative to base, empty = base itself) + "/" + name. */
static char *join(mcfg_ctx *c, const char *base, const char *dir, size_t dlen, const char *name)
{
    int rel = dlen == 0 || dir[0] != '/';
    size_t n = (rel ? strlen(base) + 1 : 0) + dlen + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) {
        c->nomem = 1;
        return NULL;
    }
    if (rel && dlen)
        snprintf(p, n, "%s/%.*s/%s", base, (int)dlen, dir, name);
    else if (rel)
        snprintf(p, n, "%s/%s", base, name);
    else
        snprintf(p, n, "%.*s/%s", (int)dlen, dir, name);
    path_tidy(p);
    return p;
}

static void log_add(search_log *s, const char *fmt, const char *a, size_t alen)
{
    if (s->len + 1 >= sizeof(s->dirs))
        return;
    int n = snprintf(s->dirs + s->len, sizeof(s->dirs) - s->len, fmt, (int)alen, a);
    if (n > 0)
        s->len += (size_t)n;
    if (s->len >= sizeof(s->dirs))
        s->len = sizeof(s->dirs) - 1;
}

/* Logs one searched directory under its group label ("$PATH"). */
static void log_dir(search_log *s, const char *label, const char *dir, size_t dlen)
{
    if (s->group != label) {
        if (s->group)
            log_add(s, "%.*s), ", "", 0);
        log_add(s, "%.*s (", label, strlen(label));
        s->group = label;
    } else {
        log_add(s, "%.*s:", "", 0);
    }
    log_add(s, "%.*s", dlen ? dir : ".", dlen ? dlen : 1);
}

/* Looks for `name` in each directory of the colon-separated `list`. */
static char *search_list(mcfg_ctx *c, const char *list, const char *label, const char *name,
                         search_log *s)
{
    char cwd[PATH_MAX];
    if (!list)
        return NULL;
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    for (const char *p = list;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char *cand = join(c, cwd, p, n, name);
        if (cand) {
            int r = probe(cand);
            if (r == PROBE_OK)
                return cand;
            if (r == PROBE_NOEXEC && !s->noexec[0])
                snprintf(s->noexec, sizeof(s->noexec), "%s", cand);
            free(cand);
        }
        log_dir(s, label, p, n);
        if (!colon)
            return NULL;
        p = colon + 1;
    }
}

static char *search_binary(mcfg_ctx *c, const char *name, search_log *s)
{
    const char *sp = c->opts ? c->opts->search_path : NULL;
    static const char lsp[] = "search_path", lbin[] = "bin_path", lpath[] = "$PATH";
    char *found = search_list(c, sp, lsp, name, s);
    for (int i = 0; !found && i < c->nbin_path; i++)
        found = search_list(c, c->bin_path[i], lbin, name, s);
    if (!found)
        found = search_list(c, getenv("PATH"), lpath, name, s);
    if (s->group)
        log_add(s, "%.*s)", "", 0);
    return found;
}

/* "engine 'x'" or, when the name is missing or invalid, "engines[i]". */
static const char *who_engine(mcfg_ctx *c, int i, char *buf, size_t cap)
{
    if (c->cfg->engines[i].name[0])
        snprintf(buf, cap, "engine '%s'", c->cfg->engines[i].name);
    else
        snprintf(buf, cap, "engines[%d]", i);
    return buf;
}

static void resolve_binary(mcfg_ctx *c, int i)
{
    mesh_engine_cfg *e = &c->cfg->engines[i];
    mcfg_engine_src *src = &c->esrc[i];
    char dflt[MESH_NAME_MAX + 8], what[96], who[64];
    const char *raw = dflt;
    who_engine(c, i, who, sizeof(who));
    yaml_node_t *at = src->binary ? src->binary : src->name;
    snprintf(what, sizeof(what), "%s: 'binary'", who);
    if (src->binary && !(raw = mcfg_scalar(c, src->binary, what, "a file name or path")))
        return;
    if (!src->binary && !src->name)
        return; /* no name, no default: already reported */
    snprintf(dflt, sizeof(dflt), "mesh-%s", e->name);
    if (!raw[0]) {
        mcfg_err(c, at, "%s: 'binary' is empty", who);
        return;
    }
    char *path = NULL;
    search_log s = {.len = 0};
    if (c->opts && c->opts->no_binary_check) {
        if (!(path = mcfg_strdup(c, raw)))
            return;
    } else if (strchr(raw, '/')) {
        if (!(path = join(c, c->dir, raw, strlen(raw), "")))
            return;
        int r = probe(path);
        if (r != PROBE_OK) {
            mcfg_err(c, at, "%s: binary '%s' %s (looked at %s)", who, raw,
                     r == PROBE_MISSING  ? "not found"
                     : r == PROBE_NOTREG ? "is not a regular file"
                                         : "is not executable",
                     path);
            free(path);
            return;
        }
    } else if (!(path = search_binary(c, raw, &s))) {
        mcfg_err(c, at, "%s: binary '%s' not found; searched %s%s%s%s", who, raw,
                 s.len ? s.dirs : "nowhere (no search_path, bin_path or $PATH)",
                 s.noexec[0] ? " (found " : "", s.noexec,
                 s.noexec[0] ? " but it is not executable)" : "");
        return;
    }
    e->binary = path;
    if (e->argv)
        e->argv[0] = mcfg_strdup(c, path);
}

static int engine_names(const mesh_config *cfg, const char **names)
{
    for (int i = 0; i < cfg->nengines; i++)
        names[i] = cfg->engines[i].name;
    return cfg->nengines;
}

static void unknown_engine(mcfg_ctx *c, yaml_node_t *at, const char *prefix, const char *name,
                           const char *hint)
{
    const char *names[MESH_CFG_MAX_ENGINES];
    int n = engine_names(c->cfg, names);
    const char *near = mcfg_closest(name, names, n);
    if (near)
        mcfg_err(c, at, "%s unknown engine '%s' (did you mean '%s'?)", prefix, name, near);
    else
        mcfg_err(c, at, "%s unknown engine '%s'%s", prefix, name, hint);
}

static void resolve_depends(mcfg_ctx *c, int i)
{
    mesh_engine_cfg *e = &c->cfg->engines[i];
    mcfg_engine_src *src = &c->esrc[i];
    yaml_node_t *items[MESH_CFG_MAX_ENGINES];
    char what[80], who[64];
    who_engine(c, i, who, sizeof(who));
    snprintf(what, sizeof(what), "%s: 'depends_on'", who);
    int n = src->depends ? mcfg_list(c, src->depends, what, 1, items, MESH_CFG_MAX_ENGINES) : 0;
    for (int k = 0; k < n; k++) {
        char name[MESH_NAME_MAX], prefix[96];
        if (mcfg_name(c, items[k], what, name) < 0)
            continue;
        int d = mesh_config_engine_index(c->cfg, name);
        if (d < 0) {
            snprintf(prefix, sizeof(prefix), "%s depends on", who);
            unknown_engine(c, items[k], prefix, name, "");
            continue;
        }
        int dup = 0;
        for (int j = 0; j < e->ndeps; j++)
            dup |= e->deps[j] == d;
        if (dup) {
            mcfg_err(c, items[k], "%s: depends_on lists '%s' twice", who, name);
            continue;
        }
        src->dep_nodes[e->ndeps] = items[k];
        e->deps[e->ndeps++] = d;
    }
}

/* Depth-first search over unstarted engines; each back edge closes a cycle,
 * reported at the depends_on entry of its first engine. */
static void find_cycles(mcfg_ctx *c, int u, int *color, int *stack, int depth)
{
    const mesh_config *cfg = c->cfg;
    color[u] = 1;
    stack[depth] = u;
    for (int k = 0; k < cfg->engines[u].ndeps; k++) {
        int v = cfg->engines[u].deps[k];
        if (color[v] == 0) {
            find_cycles(c, v, color, stack, depth + 1);
            continue;
        }
        if (color[v] != 1)
            continue;
        int from = depth;
        while (stack[from] != v)
            from--;
        char text[MESH_CFG_MAX_ENGINES * (MESH_NAME_MAX + 4) + 8];
        size_t pos = 0;
        for (int s = from; s <= depth; s++)
            pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "%s -> ",
                                    cfg->engines[stack[s]].name);
        snprintf(text + pos, sizeof(text) - pos, "%s", cfg->engines[v].name);
        int next = from < depth ? stack[from + 1] : v, at = 0;
        while (cfg->engines[v].deps[at] != next)
            at++;
        mcfg_err(c, c->esrc[v].dep_nodes[at], "dependency cycle: %s", text);
    }
    color[u] = 2;
}

/* Start order: repeatedly the first engine in file order whose dependencies
 * have all started. Whatever never becomes startable sits on or behind a cycle. */
static void start_order(mcfg_ctx *c)
{
    mesh_config *cfg = c->cfg;
    int started[MESH_CFG_MAX_ENGINES] = {0}, count = 0;
    while (count < cfg->nengines) {
        int pick = -1;
        for (int i = 0; i < cfg->nengines && pick < 0; i++) {
            int ready = !started[i];
            for (int k = 0; ready && k < cfg->engines[i].ndeps; k++)
                ready = started[cfg->engines[i].deps[k]];
            if (ready)
                pick = i;
        }
        if (pick < 0)
            break;
        started[pick] = 1;
        cfg->start_order[count++] = pick;
    }
    if (count == cfg->nengines)
        return;
    int color[MESH_CFG_MAX_ENGINES], stack[MESH_CFG_MAX_ENGINES];
    for (int i = 0; i < cfg->nengines; i++)
        color[i] = started[i] ? 2 : 0;
    for (int i = 0; i < cfg->nengines; i++)
        if (color[i] == 0)
            find_cycles(c, i, color, stack, 0);
}

static int peer_index(const mesh_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->npeers; i++)
        if (!strcmp(cfg->peers[i].name, name))
            return i;
    return -1;
}

/* The `peer:` of a route: -1 when absent; -2 when named but not usable. */
static int route_peer(mcfg_ctx *c, mcfg_route_src *s, const char *who)
{
    char name[MESH_NAME_MAX], what[96];
    if (!s->peer)
        return -1;
    snprintf(what, sizeof(what), "%s: 'peer'", who);
    if (mcfg_name(c, s->peer, what, name) < 0)
        return -2;
    int p = peer_index(c->cfg, name);
    if (p >= 0)
        return p;
    const char *names[MESH_CFG_MAX_PEERS];
    for (int i = 0; i < c->cfg->npeers; i++)
        names[i] = c->cfg->peers[i].name;
    const char *near = mcfg_closest(name, names, c->cfg->npeers);
    mcfg_err(c, s->peer, "%s: peer '%s' is not defined in 'peers'%s%s%s", who, name,
             near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    return -2;
}

/* Checks one expanded route (from s, consumer named by node `at`). */
static void check_route(mcfg_ctx *c, mcfg_route_src *s, mesh_route_cfg *r, yaml_node_t *at,
                        const char *who)
{
    if (!s->peer) {
        if (r->to_engine < 0)
            unknown_engine(c, at, "route to", r->to, " (add 'peer:' if it runs on another host)");
        else if (s->from && !strcmp(r->from, r->to))
            mcfg_err(c, at, "%s: a route from engine '%s' to itself is not allowed", who, r->from);
        return;
    }
    if (!s->from)
        return;
    if (r->from_engine >= 0 && r->to_engine >= 0)
        mcfg_err(c, at,
                 "%s to '%s' via peer: both are local engines; exactly one side of a peer route "
                 "must run on the peer",
                 who, r->to);
    else if (r->from_engine < 0 && r->to_engine < 0)
        mcfg_err(c, at,
                 "%s to '%s' via peer: neither is a local engine; exactly one side of a peer "
                 "route must be listed in 'engines'",
                 who, r->to);
    else if (r->to_engine >= 0 && !c->cfg->listen[0])
        mcfg_err(c, at,
                 "%s to '%s' via peer: an inbound off-host route needs mesh.listen (the nng "
                 "address the peer's bridge dials, e.g. tcp://0.0.0.0:7400)",
                 who, r->to);
}

static void expand_route(mcfg_ctx *c, mcfg_route_src *s)
{
    mesh_config *cfg = c->cfg;
    yaml_node_t *items[MESH_CFG_MAX_ENGINES];
    char who[64];
    snprintf(who, sizeof(who), "route from '%s'", s->tmpl.from);
    int peer = route_peer(c, s, who);
    if (s->from && !s->peer && mesh_config_engine_index(cfg, s->tmpl.from) < 0)
        unknown_engine(c, s->from, "route from", s->tmpl.from,
                       " (add 'peer:' if it runs on another host)");
    char what[96];
    snprintf(what, sizeof(what), "%s: 'to'", who);
    int n = s->to ? mcfg_list(c, s->to, what, 1, items, MESH_CFG_MAX_ENGINES) : 0;
    if (s->to && n == 0)
        mcfg_err(c, s->to, "%s: 'to' lists no engine", who);
    for (int k = 0; k < n; k++) {
        mesh_route_cfg r = s->tmpl;
        if (mcfg_name(c, items[k], what, r.to) < 0)
            continue;
        r.from_engine = s->from ? mesh_config_engine_index(cfg, r.from) : -1;
        r.to_engine = mesh_config_engine_index(cfg, r.to);
        r.peer = peer >= 0 ? peer : -1;
        check_route(c, s, &r, items[k], who);
        int dup = -1;
        for (int j = 0; j < cfg->nroutes && dup < 0 && s->from; j++)
            if (!strcmp(cfg->routes[j].from, r.from) && !strcmp(cfg->routes[j].to, r.to))
                dup = j;
        if (dup >= 0) {
            mcfg_err(c, items[k], "duplicate route from '%s' to '%s' (first at line %d)", r.from,
                     r.to, cfg->routes[dup].line);
            continue;
        }
        if (cfg->nroutes == MESH_CFG_MAX_ROUTES) {
            mcfg_err(c, items[k], "too many routes (at most %d after expanding 'to' lists)",
                     MESH_CFG_MAX_ROUTES);
            return;
        }
        cfg->routes[cfg->nroutes++] = r;
    }
}

void mcfg_check(mcfg_ctx *c)
{
    mesh_config *cfg = c->cfg;
    for (int i = 0; i < cfg->nengines; i++)
        if (c->esrc[i].entry && c->esrc[i].entry->type == YAML_MAPPING_NODE)
            resolve_binary(c, i);
    for (int i = 0; i < cfg->nengines; i++)
        if (c->esrc[i].entry && c->esrc[i].entry->type == YAML_MAPPING_NODE)
            resolve_depends(c, i);
    start_order(c);
    for (int i = 0; i < c->nrsrc; i++)
        if (c->rsrc[i].entry && c->rsrc[i].entry->type == YAML_MAPPING_NODE)
            expand_route(c, &c->rsrc[i]);
}
