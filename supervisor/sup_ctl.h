/* The control socket: a Unix stream socket serving meshctl. Protocol (one
 * request per line, one JSON object per line in reply, in order):
 *   status | rings | start ENGINE | stop ENGINE | restart ENGINE | reload |
 *   stop-mesh | help
 * Every reply has "ok": true/false; failures carry "error": "what and why". */
#ifndef SUP_CTL_H
#define SUP_CTL_H

#include "sup_json.h"

#include <stddef.h>

struct sup_mesh;
typedef struct sup_ctl sup_ctl;

/* Listens on `path`. A stale socket file is replaced; a live one (another
 * meshd answers) is refused with MESH_EADDRINUSE. Returns 0 and *out, or an
 * error (logged). Loop thread only. */
int sup_ctl_open(sup_ctl **out, struct sup_mesh *m, const char *path);

/* Closes the server and every client, removes the socket file; the memory
 * is freed once libuv has closed the handles. Accepts NULL. */
void sup_ctl_close(sup_ctl *c);

/* Executes one request line (no newline) and writes the JSON reply into j.
 * Exposed for the metrics endpoint and tests of the dispatcher. */
void sup_ctl_execute(struct sup_mesh *m, const char *line, sup_json *j);

#endif
