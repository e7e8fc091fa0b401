/* CPU pinning for the calling thread, and the CPUs it may be pinned to. */
#ifndef MESH_CPU_H
#define MESH_CPU_H

#include <stddef.h>

/* Pins the calling thread to `cpu` (0-based). Returns 0, MESH_EINVAL when the
 * CPU does not exist or the process's cpuset excludes it, or a mapped system
 * error. (The config loader checks `cpu` against the affinity mask before
 * anything starts: mesh_cpu_allowed.) */
int mesh_cpu_pin(int cpu);

/* Number of CPUs online. */
int mesh_cpu_count(void);

/* 1 when `cpu` is in the calling thread's affinity mask (sched_getaffinity),
 * 0 when not, or a MESH_E* code. Thread-safe. */
int mesh_cpu_allowed(int cpu);

/* Writes the calling thread's affinity mask as a list ("0-3,6") into buf
 * (truncated to len). Returns how many CPUs it holds, or a MESH_E* code.
 * Thread-safe. */
int mesh_cpu_allowed_list(char *buf, size_t len);

#endif
