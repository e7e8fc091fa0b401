/* CPU pinning via pthread_setaffinity_np. */
#include "mesh_cpu.h"
#include "mesh_error.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

int mesh_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int mesh_cpu_pin(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE || cpu >= mesh_cpu_count())
        return MESH_EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    return rc == 0 ? 0 : mesh_err_from_errno(rc);
}
