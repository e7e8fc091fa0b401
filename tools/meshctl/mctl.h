/* meshctl internals: the control-socket client and the subcommands. */
#ifndef MCTL_H
#define MCTL_H

#include "sup_json.h"

#include <stddef.h>

typedef struct mctl {
    const char *config;  /* --config FILE, or NULL */
    char socket[108];    /* resolved control socket path */
    int json;            /* --json */
    unsigned timeout_ms; /* reply timeout */
} mctl;

/* Sends one request line and reads one reply line into *reply (caller
 * frees). Returns 0, or prints what went wrong and what to do (e.g. "is
 * meshd running?") to stderr and returns a MESH_E* code. If `fd_out` is not
 * NULL the connection stays open and its fd is handed back. */
int mctl_request(const mctl *c, const char *line, char **reply, int *fd_out);

/* Parses a reply; on a malformed one prints it and returns MESH_EPROTO.
 * A reply with "ok": false prints its "error" and returns MESH_EINVAL. */
int mctl_parse_reply(const char *reply, sup_jval **out);

/* Subcommands; each returns the process exit status. */
int mctl_status(const mctl *c);
int mctl_rings(const mctl *c, unsigned interval_ms);
int mctl_tail(const mctl *c, const char *type, long count, unsigned timeout_ms);

/* Formats a duration in ms as "850ms", "12.3s", "4m05s", "2h03m". */
void mctl_fmt_ms(char *buf, size_t len, double ms);

#endif
