/* POSIX shared-memory objects for the bus: mesh-scoped names, create
 * (supervisor, O_EXCL), attach (engines and tools, size checked), unlink. */
#ifndef BUS_SHM_H
#define BUS_SHM_H

#include <stddef.h>

#define BUS_SHM_PART_MAX 63 /* longest mesh / kind / engine name part */

typedef struct bus_shm bus_shm;

/* Writes "/mesh.<mesh>.<kind>.<a>[.<b>]" into buf (len bytes), e.g.
 * ("prod", "ring", "md", "vpin") -> "/mesh.prod.ring.md.vpin" and
 * ("prod", "ctl", "vpin", NULL) -> "/mesh.prod.ctl.vpin". Every part must be
 * 1..BUS_SHM_PART_MAX characters of [A-Za-z0-9_-]; b may be NULL. Returns 0,
 * MESH_EINVAL (bad or missing part; which part and character is logged) or
 * MESH_ENAMETOOLONG (does not fit in len or in NAME_MAX). Thread-safe. */
int bus_shm_name(char *buf, size_t len, const char *mesh, const char *kind, const char *a,
                 const char *b);

/* Creates the object `name` (exclusively: MESH_EEXIST if it exists) with
 * `size` zeroed bytes and maps it read-write. *out is owned by the caller
 * (bus_shm_close). The object persists after close until bus_shm_unlink. */
int bus_shm_create(bus_shm **out, const char *name, size_t size);

/* Attaches the existing object `name` (MESH_ENOENT if absent), mapping all of
 * it (size from fstat) read-write, or read-only when writable is 0. An object
 * smaller than min_size gives MESH_ECORRUPT (truncated). */
int bus_shm_attach(bus_shm **out, const char *name, size_t min_size, int writable);

/* Base address and size of the mapping. */
void *bus_shm_base(const bus_shm *s);
size_t bus_shm_size(const bus_shm *s);

/* Name the object was opened with. */
const char *bus_shm_get_name(const bus_shm *s);

/* Unmaps and frees the handle (the object stays). Accepts NULL. */
void bus_shm_close(bus_shm *s);

/* Removes the object's name (mappings stay valid). Returns 0 or MESH_ENOENT. */
int bus_shm_unlink(const char *name);

#endif
