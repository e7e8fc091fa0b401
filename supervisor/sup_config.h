/* Loading the mesh config for meshd: the common loader with message type
 * names checked against the proto registry and binaries searched in the
 * given path. */
#ifndef SUP_CONFIG_H
#define SUP_CONFIG_H

#include "mesh_config.h"

#include <stddef.h>

#define SUP_CONFIG_ERRLEN 16384

/* Loads and validates `path`. Returns 0 and *out (mesh_config_free), or an
 * error with every problem, one "file:line:col: what" per line, in err.
 * search_path: colon-separated directories for binaries without a '/'
 * (may be NULL). A mesh with off-host routes or mesh.listen gets the engine
 * "bridge" (mesh-bridge, bridge/bridge_cfg.h) added, first in start order. */
int sup_config_load(mesh_config **out, const char *path, const char *search_path, char *err,
                    size_t errlen);

/* As sup_config_load for tools reading a running mesh's config (meshctl):
 * engine binaries are neither searched nor checked. */
int sup_config_load_for_tool(mesh_config **out, const char *path, char *err, size_t errlen);

/* Resolves a message type name through the proto registry: id >= 0, or
 * MESH_EUNKNOWNTYPE. (mesh_config_opts.type_lookup signature.) */
int sup_config_type_lookup(const char *name, void *arg);

#endif
