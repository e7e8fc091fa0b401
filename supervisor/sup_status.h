/* What meshd reports: the status and rings JSON replies and the Prometheus
 * text exposition, built from the engine table and the shared memory. */
#ifndef SUP_STATUS_H
#define SUP_STATUS_H

#include "sup_json.h"

struct sup_mesh;

/* Appends the members of the status reply (mesh, engines[]) to the open
 * object in j. Loop thread only. */
void sup_status_json(struct sup_mesh *m, sup_json *j);

/* Appends the members of the rings reply (rings[]) to the open object in j. */
void sup_status_rings_json(struct sup_mesh *m, sup_json *j);

/* Prometheus text format (version 0.0.4) of the same figures into a new
 * buffer (*out, *len; caller frees). Returns 0 or MESH_ENOMEM. */
int sup_status_prometheus(struct sup_mesh *m, char **out, size_t *len);

#endif
