/* Config loader helpers: error lines with file:line:col, and typed readers of
 * libyaml document nodes (strings, names, integers, sizes, booleans, enums). */
#include "mesh_config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MCFG_LINE_MAX 2048

static void err_vline(mcfg_ctx *c, yaml_mark_t mark, const char *fmt, va_list ap)
{
    char line[MCFG_LINE_MAX];
    int n = snprintf(line, sizeof(line), "%s:%zu:%zu: ", c->path, mark.line + 1, mark.column + 1);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    c->nerr++;
    if (c->nmsgs == MCFG_MAX_MSGS)
        return;
    if (!c->msgs) {
        c->msgs = calloc(MCFG_MAX_MSGS, sizeof(*c->msgs));
        if (!c->msgs) {
            c->nomem = 1;
            return;
        }
    }
    struct mcfg_msg *m = &c->msgs[c->nmsgs];
    m->text = strdup(line);
    if (!m->text) {
        c->nomem = 1;
        return;
    }
    m->line = mark.line + 1;
    m->col = mark.column + 1;
    m->seq = c->nmsgs++;
}

static int msg_cmp(const void *pa, const void *pb)
{
    const struct mcfg_msg *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq - b->seq;
}

/* Appends s and a newline to the caller's buffer; cuts it ("...") at the end. */
static void err_append(mcfg_ctx *c, size_t *pos, const char *s)
{
    size_t len = strlen(s), room = c->errlen - *pos; /* room >= 1 */
    if (room <= 1)
        return;
    if (len + 1 >= room) {
        len = room - 1;
        memcpy(c->err + *pos, s, len);
        if (len >= 3)
            memcpy(c->err + *pos + len - 3, "...", 3);
    } else {
        memcpy(c->err + *pos, s, len);
        c->err[*pos + len++] = '\n';
    }
    *pos += len;
    c->err[*pos] = '\0';
}

void mcfg_flush(mcfg_ctx *c)
{
    size_t pos = 0;
    if (c->err && c->errlen)
        c->err[0] = '\0';
    if (c->msgs)
        qsort(c->msgs, (size_t)c->nmsgs, sizeof(*c->msgs), msg_cmp);
    for (int i = 0; i < c->nmsgs; i++) {
        if (c->err && c->errlen)
            err_append(c, &pos, c->msgs[i].text);
        free(c->msgs[i].text);
    }
    if (c->nerr > c->nmsgs && c->err && c->errlen) {
        char more[96];
        snprintf(more, sizeof(more), "%s: ... and %d more problems", c->path, c->nerr - c->nmsgs);
        err_append(c, &pos, more);
    }
    free(c->msgs);
    c->msgs = NULL;
    c->nmsgs = 0;
}

void mcfg_err_at(mcfg_ctx *c, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vline(c, mark, fmt, ap);
    va_end(ap);
}

void mcfg_err(mcfg_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    yaml_mark_t mark = {0, 0, 0};
    if (node)
        mark = node->start_mark;
    va_list ap;
    va_start(ap, fmt);
    err_vline(c, mark, fmt, ap);
    va_end(ap);
}

const char *mcfg_kind(const yaml_node_t *node)
{
    if (!node)
        return "nothing";
    switch (node->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SCALAR_NODE:
        return mcfg_is_null(node) ? "an empty value" : "a string";
    default:
        return "an empty node";
    }
}

int mcfg_is_null(const yaml_node_t *node)
{
    if (!node || node->type != YAML_SCALAR_NODE)
        return 0;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

yaml_node_t *mcfg_node(mcfg_ctx *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

char *mcfg_strdup(mcfg_ctx *c, const char *s)
{
    char *p = strdup(s);
    if (!p)
        c->nomem = 1;
    return p;
}

/* Levenshtein distance of two short strings (longer ones count as far). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *mcfg_closest(const char *s, const char *const *cands, int n)
{
    const char *best = NULL;
    int bestd = 3; /* suggest only within two edits ... */
    for (int i = 0; i < n; i++) {
        int d = edit_distance(s, cands[i]);
        size_t len = strlen(s) > strlen(cands[i]) ? strlen(s) : strlen(cands[i]);
        if (d < bestd && (size_t)d < len) { /* ... and not a complete rewrite */
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

static void unknown_key(mcfg_ctx *c, yaml_node_t *key, const char *what, const char *const *keys,
                        int nkeys)
{
    const char *k = (const char *)key->data.scalar.value;
    const char *near = mcfg_closest(k, keys, nkeys);
    if (near) {
        mcfg_err(c, key, "unknown key '%s' in %s (did you mean '%s'?)", k, what, near);
        return;
    }
    char list[512];
    size_t pos = 0;
    list[0] = '\0';
    for (int i = 0; i < nkeys && pos < sizeof(list); i++)
        pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? ", " : "", keys[i]);
    mcfg_err(c, key, "unknown key '%s' in %s; allowed keys: %s", k, what, list);
}

int mcfg_map(mcfg_ctx *c, yaml_node_t *map, const char *what, const char *const *keys, int nkeys,
             yaml_node_t **vals)
{
    yaml_node_t *seen[32] = {0};
    for (int k = 0; k < nkeys; k++)
        vals[k] = NULL;
    if (!map || map->type != YAML_MAPPING_NODE) {
        mcfg_err(c, map, "%s must be a mapping (key: value lines), got %s", what, mcfg_kind(map));
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = mcfg_node(c, p->key), *val = mcfg_node(c, p->value);
        if (!key || key->type != YAML_SCALAR_NODE) {
            mcfg_err(c, key, "keys in %s must be plain names, got %s", what, mcfg_kind(key));
            continue;
        }
        int k = 0;
        while (k < nkeys && strcmp(keys[k], (const char *)key->data.scalar.value) != 0)
            k++;
        if (k == nkeys) {
            unknown_key(c, key, what, keys, nkeys);
            continue;
        }
        if (k < 32 && seen[k]) {
            mcfg_err(c, key, "duplicate key '%s' in %s (first at line %zu)", keys[k], what,
                     seen[k]->start_mark.line + 1);
            continue;
        }
        if (k < 32)
            seen[k] = key;
        vals[k] = mcfg_is_null(val) ? NULL : val;
    }
    return 0;
}

const char *mcfg_scalar(mcfg_ctx *c, yaml_node_t *node, const char *what, const char *expect)
{
    if (!node || node->type != YAML_SCALAR_NODE) {
        mcfg_err(c, node, "%s must be %s, got %s", what, expect, mcfg_kind(node));
        return NULL;
    }
    const char *v = (const char *)node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length) {
        mcfg_err(c, node, "%s contains a NUL character", what);
        return NULL;
    }
    return v;
}

int mcfg_str(mcfg_ctx *c, yaml_node_t *node, const char *what, char *dst, size_t cap)
{
    const char *v = mcfg_scalar(c, node, what, "a string");
    if (!v)
        return -1;
    if (strlen(v) >= cap) {
        mcfg_err(c, node, "%s is too long (%zu bytes, at most %zu)", what, strlen(v), cap - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int mcfg_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MESH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int mcfg_name(mcfg_ctx *c, yaml_node_t *node, const char *what, char dst[MESH_NAME_MAX])
{
    const char *v = mcfg_scalar(c, node, what, "a name");
    if (!v)
        return -1;
    if (!mcfg_name_ok(v)) {
        mcfg_err(c, node,
                 "%s '%s' is not a valid name: use 1 to %d characters from A-Z a-z 0-9 _ -", what,
                 v, MESH_NAME_MAX - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int mcfg_int(mcfg_ctx *c, yaml_node_t *node, const char *what, long long *out)
{
    const char *v = mcfg_scalar(c, node, what, "an integer");
    if (!v)
        return -1;
    const char *d = v + (v[0] == '-');
    int digits = d[0] != '\0';
    for (const char *p = d; *p; p++)
        digits &= (*p >= '0' && *p <= '9');
    if (!digits) {
        mcfg_err(c, node, "%s must be an integer, got '%s'", what, v);
        return -1;
    }
    errno = 0;
    long long x = strtoll(v, NULL, 10);
    if (errno == ERANGE) {
        mcfg_err(c, node, "%s: %s is out of range", what, v);
        return -1;
    }
    *out = x;
    return 0;
}

int mcfg_u32(mcfg_ctx *c, yaml_node_t *node, const char *what, uint32_t min, uint32_t max,
             uint32_t *out)
{
    long long x;
    if (mcfg_int(c, node, what, &x) < 0)
        return -1;
    if (x < 0) {
        mcfg_err(c, node, "%s must not be negative, got %lld", what, x);
        return -1;
    }
    if (x < (long long)min || x > (long long)max) {
        mcfg_err(c, node, "%s is %lld, out of range (allowed %u..%u)", what, x, (unsigned)min,
                 (unsigned)max);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

int mcfg_ring_bytes(mcfg_ctx *c, yaml_node_t *node, const char *what, uint32_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
    const char *v = mcfg_scalar(c, node, what, "a size in bytes");
    if (!v)
        return -1;
    char *end = NULL;
    unsigned long long x = 0;
    errno = 0;
    if (v[0] >= '0' && v[0] <= '9')
        x = strtoull(v, &end, 10);
    unsigned shift = 0;
    int ok = end && end != v && errno == 0;
    if (ok && *end) {
        ok = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (!strcmp(end, units[i].suffix)) {
                shift = units[i].shift;
                ok = 1;
            }
    }
    if (!ok) {
        mcfg_err(c, node, "%s must be a size in bytes (e.g. 1048576 or 1MiB), got '%s'", what, v);
        return -1;
    }
    if (x > (1ull << 30) || (x << shift) < 4096 || (x << shift) > (1ull << 30)) {
        mcfg_err(c, node, "%s %s is out of range (allowed 4096..1073741824, i.e. 4KiB..1GiB)", what,
                 v);
        return -1;
    }
    x <<= shift;
    if (x & (x - 1)) {
        mcfg_err(c, node, "%s %s is not a power of two", what, v);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

int mcfg_bool(mcfg_ctx *c, yaml_node_t *node, const char *what, int *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const char *v = mcfg_scalar(c, node, what, "true or false");
    if (!v)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
            *out = !strcasecmp(v, yes[i]);
            return 0;
        }
    }
    mcfg_err(c, node, "%s must be true or false, got '%s'", what, v);
    return -1;
}

int mcfg_enum(mcfg_ctx *c, yaml_node_t *node, const char *what, const char *const *names, int n,
              int *out)
{
    char list[256];
    size_t pos = 0;
    list[0] = '\0';
    for (int i = 0; i < n && pos < sizeof(list); i++)
        pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? ", " : "", names[i]);
    if (!node || node->type != YAML_SCALAR_NODE) {
        mcfg_err(c, node, "%s must be one of %s, got %s", what, list, mcfg_kind(node));
        return -1;
    }
    const char *v = mcfg_scalar(c, node, what, "a word");
    if (!v)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(v, names[i])) {
            *out = i;
            return 0;
        }
    }
    mcfg_err(c, node, "%s '%s' is not allowed; allowed values: %s", what, v, list);
    return -1;
}

int mcfg_list(mcfg_ctx *c, yaml_node_t *node, const char *what, int allow_scalar,
              yaml_node_t **items, int max)
{
    if (node && node->type == YAML_SCALAR_NODE && allow_scalar) {
        items[0] = node;
        return 1;
    }
    if (!node || node->type != YAML_SEQUENCE_NODE) {
        mcfg_err(c, node, "%s must be %s, got %s", what,
                 allow_scalar ? "a name or a list" : "a list", mcfg_kind(node));
        return -1;
    }
    int n = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        if (n == max) {
            mcfg_err(c, mcfg_node(c, *it), "%s has too many entries (at most %d)", what, max);
            return -1;
        }
        items[n++] = mcfg_node(c, *it);
    }
    return n;
}
