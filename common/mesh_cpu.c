/* CPU pinning via pthread_setaffinity_np, and the CPUs this process may use
 * (its affinity mask: a container's cpuset or taskset may leave gaps). */
#include "mesh_cpu.h"
#include "mesh_error.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#define MESH_CPU_MAX_BITS 8192 /* mask size asked for: more CPUs than any host has */

int mesh_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Calls fn(cpu, arg) for each CPU of the calling thread's affinity mask.
 * Returns the number of such CPUs, or a MESH_E* code. */
static int for_each_allowed(void (*fn)(int cpu, void *arg), void *arg)
{
    cpu_set_t *set = CPU_ALLOC(MESH_CPU_MAX_BITS);
    if (!set)
        return MESH_ENOMEM;
    size_t size = CPU_ALLOC_SIZE(MESH_CPU_MAX_BITS);
    CPU_ZERO_S(size, set);
    int n = 0;
    if (sched_getaffinity(0, size, set) != 0) {
        n = mesh_err_from_errno(errno);
    } else {
        for (int cpu = 0; cpu < MESH_CPU_MAX_BITS; cpu++)
            if (CPU_ISSET_S((size_t)cpu, size, set)) {
                if (fn)
                    fn(cpu, arg);
                n++;
            }
    }
    CPU_FREE(set);
    return n;
}

typedef struct find_arg {
    int cpu, found;
} find_arg;

static void find_cpu(int cpu, void *arg)
{
    find_arg *f = arg;
    f->found |= cpu == f->cpu;
}

int mesh_cpu_allowed(int cpu)
{
    find_arg f = {.cpu = cpu, .found = 0};
    if (cpu < 0 || cpu >= MESH_CPU_MAX_BITS)
        return 0;
    int n = for_each_allowed(find_cpu, &f);
    return n < 0 ? n : f.found;
}

typedef struct list_arg {
    char *buf;
    size_t len, used;
    int first, last; /* the range being built, first = -1 none */
} list_arg;

static void list_flush(list_arg *l)
{
    if (l->first < 0 || l->used >= l->len)
        return;
    int w = l->first == l->last
                ? snprintf(l->buf + l->used, l->len - l->used, "%s%d", l->used ? "," : "", l->first)
                : snprintf(l->buf + l->used, l->len - l->used, "%s%d-%d", l->used ? "," : "",
                           l->first, l->last);
    l->used += w > 0 ? (size_t)w : 0;
    if (l->used >= l->len)
        l->used = l->len - 1;
}

static void list_cpu(int cpu, void *arg)
{
    list_arg *l = arg;
    if (l->first >= 0 && cpu == l->last + 1) {
        l->last = cpu;
        return;
    }
    list_flush(l);
    l->first = l->last = cpu;
}

int mesh_cpu_allowed_list(char *buf, size_t len)
{
    list_arg l = {.buf = buf, .len = len, .used = 0, .first = -1, .last = -1};
    if (len == 0)
        return MESH_EINVAL;
    buf[0] = '\0';
    int n = for_each_allowed(list_cpu, &l);
    list_flush(&l);
    return n;
}

int mesh_cpu_pin(int cpu)
{
    /* No check against the calling thread's mask: a thread pinned once may
     * be pinned elsewhere; the kernel refuses CPUs that do not exist or that
     * the cpuset excludes (EINVAL). */
    if (cpu < 0 || cpu >= MESH_CPU_MAX_BITS)
        return MESH_EINVAL;
    cpu_set_t *set = CPU_ALLOC(MESH_CPU_MAX_BITS);
    if (!set)
        return MESH_ENOMEM;
    size_t size = CPU_ALLOC_SIZE(MESH_CPU_MAX_BITS);
    CPU_ZERO_S(size, set);
    CPU_SET_S((size_t)cpu, size, set);
    int rc = pthread_setaffinity_np(pthread_self(), size, set);
    CPU_FREE(set);
    return rc == 0 ? 0 : mesh_err_from_errno(rc);
}
