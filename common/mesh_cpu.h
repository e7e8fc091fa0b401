/* CPU pinning for the calling thread. */
#ifndef MESH_CPU_H
#define MESH_CPU_H

/* Pins the calling thread to `cpu` (0-based). Returns 0, MESH_EINVAL when the
 * CPU does not exist on this machine, or a mapped system error. */
int mesh_cpu_pin(int cpu);

/* Number of CPUs online. */
int mesh_cpu_count(void);

#endif
