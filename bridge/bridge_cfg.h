/* The bridge as seen from the mesh config: whether a mesh needs one, and the
 * engine entry meshd adds for it ("bridge", started first, supervised like
 * any engine) when the config does not list one itself. No nng here, so
 * meshd links it without the bridge's networking. */
#ifndef BRIDGE_CFG_H
#define BRIDGE_CFG_H

#include "mesh_config.h"

#include <stddef.h>

#define BRIDGE_ENGINE_NAME "bridge"      /* reserved engine name */
#define BRIDGE_BINARY_NAME "mesh-bridge" /* the daemon's executable */

/* 1 when the mesh needs a bridge: a route goes through a peer, or
 * mesh.listen is set. Pure. */
int bridge_cfg_needed(const mesh_config *cfg);

/* Index of the bridge engine in cfg->engines, or -1. */
int bridge_cfg_index(const mesh_config *cfg);

/* When cfg needs a bridge: adds an engine "bridge" running `binary` (unless
 * the config already has one, which is then used as written), makes every
 * engine at the local end of a peer route depend on it, and moves it to the
 * front of start_order. Defaults of the added entry: restart permanent,
 * heartbeat_timeout_ms 3000, ready_timeout_ms 10000, back-off 100..10000 ms,
 * intensity 5 in 30000 ms, escalation leave_down, mesh.stop_timeout_ms.
 * Returns 0 (also when there is nothing to do), MESH_ECONFIG with the reason
 * in err (no room for another engine or dependency, binary is NULL), or
 * MESH_ENOMEM. The added strings are freed by mesh_config_free. */
int bridge_cfg_inject(mesh_config *cfg, const char *binary, char *err, size_t errlen);

/* Finds the mesh-bridge executable: in search_path (colon-separated, may be
 * NULL), next to the running program, in ../bridge/ beside it (build tree),
 * then in $PATH. Returns 0 with the absolute path in out, or MESH_ENOENT. */
int bridge_cfg_find_binary(const char *search_path, char *out, size_t outlen);

#endif
