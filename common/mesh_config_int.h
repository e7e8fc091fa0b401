/* Internals shared by the config loader's files (mesh_config*.c): the load
 * context, error reporting and typed readers of libyaml document nodes. */
#ifndef MESH_CONFIG_INT_H
#define MESH_CONFIG_INT_H

#include "mesh_config.h"

#include <limits.h>
#include <stddef.h>
#include <yaml.h>

/* YAML nodes of one engine entry, kept for the cross-reference pass. */
typedef struct mcfg_engine_src {
    yaml_node_t *entry;                           /* the entry's mapping */
    yaml_node_t *name;                            /* NULL when missing or invalid */
    yaml_node_t *binary;                          /* NULL = default "mesh-<name>" */
    yaml_node_t *depends;                         /* scalar, sequence or NULL */
    yaml_node_t *dep_nodes[MESH_CFG_MAX_ENGINES]; /* node naming deps[k] */
} mcfg_engine_src;

/* One `routes:` entry before its `to` list is expanded. */
typedef struct mcfg_route_src {
    mesh_route_cfg tmpl; /* from, ring_bytes, policy, types, line */
    yaml_node_t *entry;  /* the entry's mapping */
    yaml_node_t *from;   /* NULL when missing or invalid */
    yaml_node_t *to;     /* scalar, sequence or NULL */
    yaml_node_t *peer;   /* NULL = local route */
    int ok;              /* 0 when the entry itself had errors */
} mcfg_route_src;

#define MCFG_MAX_MSGS 500

typedef struct mcfg_ctx {
    const char *path;   /* name used in messages */
    char dir[PATH_MAX]; /* absolute directory relative paths start from */
    yaml_document_t *doc;
    const mesh_config_opts *opts;
    mesh_config *cfg;
    char *err; /* caller's buffer, may be NULL */
    size_t errlen;
    int nerr;  /* problems found */
    int nmsgs; /* problems kept in msgs (at most MCFG_MAX_MSGS) */
    struct mcfg_msg {
        size_t line, col; /* 1-based */
        int seq;          /* report order, to sort stably */
        char *text;       /* whole "file:line:col: ..." line */
    } * msgs;
    int nomem;
    char **bin_path; /* resolved `mesh.bin_path` directories */
    int nbin_path;
    mcfg_engine_src esrc[MESH_CFG_MAX_ENGINES];
    int nrsrc;
    mcfg_route_src rsrc[MESH_CFG_MAX_ROUTES];
} mcfg_ctx;

/* Appends "path:line:col: message\n" for the node's position (node may be
 * NULL: position 1:1) to the error buffer and counts the error. */
void mcfg_err(mcfg_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same with an explicit libyaml mark (0-based line/column). */
void mcfg_err_at(mcfg_ctx *c, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the kept problems, sorted by position, one per line into the
 * caller's buffer (truncated to fit), and frees them. */
void mcfg_flush(mcfg_ctx *c);

/* "a list", "a mapping", "a string" -- for wrong-type messages. */
const char *mcfg_kind(const yaml_node_t *node);

/* 1 for an empty plain scalar, "~" or "null": the key counts as not given. */
int mcfg_is_null(const yaml_node_t *node);

/* Node at `index` of the document (libyaml indices start at 1). */
yaml_node_t *mcfg_node(mcfg_ctx *c, int index);

/* Walks mapping `map` against `keys` (nkeys entries). vals[k] receives the
 * value node of keys[k], or NULL when absent or null. Reports a non-mapping,
 * unknown keys (with a suggestion or the allowed list) and duplicates.
 * Returns 0, or -1 when `map` is not a mapping. */
int mcfg_map(mcfg_ctx *c, yaml_node_t *map, const char *what, const char *const *keys, int nkeys,
             yaml_node_t **vals);

/* The scalar's text, or NULL after reporting that `what` must be `expect`. */
const char *mcfg_scalar(mcfg_ctx *c, yaml_node_t *node, const char *what, const char *expect);

/* Copies a scalar string of at most cap-1 bytes into dst. 0 or -1 (reported). */
int mcfg_str(mcfg_ctx *c, yaml_node_t *node, const char *what, char *dst, size_t cap);

/* A name: [A-Za-z0-9_-]{1,MESH_NAME_MAX-1}. 0 or -1 (reported). */
int mcfg_name(mcfg_ctx *c, yaml_node_t *node, const char *what, char dst[MESH_NAME_MAX]);

/* 1 when s is a valid name. */
int mcfg_name_ok(const char *s);

/* A decimal integer. 0 or -1 (reported). */
int mcfg_int(mcfg_ctx *c, yaml_node_t *node, const char *what, long long *out);

/* An integer in [min, max]. 0 or -1 (reported). */
int mcfg_u32(mcfg_ctx *c, yaml_node_t *node, const char *what, uint32_t min, uint32_t max,
             uint32_t *out);

/* A ring size: bytes, or with a KiB/MiB/GiB suffix; power of two in
 * [4096, 1 GiB]. 0 or -1 (reported). */
int mcfg_ring_bytes(mcfg_ctx *c, yaml_node_t *node, const char *what, uint32_t *out);

/* true/false, yes/no, on/off. 0 or -1 (reported). */
int mcfg_bool(mcfg_ctx *c, yaml_node_t *node, const char *what, int *out);

/* One of names[0..n-1]; *out = its index. 0 or -1 (reported, listing names). */
int mcfg_enum(mcfg_ctx *c, yaml_node_t *node, const char *what, const char *const *names, int n,
              int *out);

/* Items of a sequence (or of a lone scalar when allow_scalar) into items[],
 * at most max. Returns the count, or -1 (reported). */
int mcfg_list(mcfg_ctx *c, yaml_node_t *node, const char *what, int allow_scalar,
              yaml_node_t **items, int max);

/* Closest of cands[0..n-1] to s within a small edit distance, or NULL. */
const char *mcfg_closest(const char *s, const char *const *cands, int n);

/* strdup that records an allocation failure in c. */
char *mcfg_strdup(mcfg_ctx *c, const char *s);

/* Cross-reference pass: binaries, depends_on, cycles, start order, routes. */
void mcfg_check(mcfg_ctx *c);

#endif
