/* Loading the mesh config for meshd: the common loader with message type
 * names checked against the proto registry and binaries searched in the
 * given path; and the sealed snapshot of the accepted config for engines. */
#ifndef SUP_CONFIG_H
#define SUP_CONFIG_H

#include "mesh_config.h"

#include <stddef.h>

#define SUP_CONFIG_ERRLEN 16384

/* Loads and validates `path`. Returns 0 and *out (mesh_config_free), or an
 * error with every problem, one "file:line:col: what" per line, in err.
 * search_path: colon-separated directories for binaries without a '/'
 * (may be NULL). A mesh with off-host routes or mesh.listen gets the engine
 * "bridge" (mesh-bridge, bridge/bridge_cfg.h) added, first in start order.
 * When text_out is not NULL it receives the exact bytes parsed (caller
 * frees; NUL-terminated) and len_out their length: what a snapshot of this
 * config must hold, whatever happens to the file afterwards. */
int sup_config_load(mesh_config **out, const char *path, const char *search_path, char **text_out,
                    size_t *len_out, char *err, size_t errlen);

/* The immutable copy of the config meshd runs, handed to engines: a memfd
 * holding `len` bytes of `text`, sealed against any change (write, grow,
 * shrink, further seals), close-on-exec in meshd. Returns 0 and the fd in
 * *fd_out (caller closes), or a MESH_E* code. Engines get it as fd 4
 * (MESH_CONFIG_FD) and must read it with pread: the file offset is shared. */
int sup_config_snapshot(const char *text, size_t len, int *fd_out);

/* As sup_config_load for tools reading a running mesh's config (meshctl):
 * engine binaries are neither searched nor checked. */
int sup_config_load_for_tool(mesh_config **out, const char *path, char *err, size_t errlen);

/* Resolves a message type name through the proto registry: id >= 0, or
 * MESH_EUNKNOWNTYPE. (mesh_config_opts.type_lookup signature.) */
int sup_config_type_lookup(const char *name, void *arg);

#endif
