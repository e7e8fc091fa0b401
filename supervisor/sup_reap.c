/* Reaping orphans (meshd as PID 1 in a container, or as child subreaper):
 * peek at any zombie child with waitid(WNOWAIT) and reap it only when it is
 * not an engine process, which libuv reaps itself with waitpid(pid) and
 * reports through the exit callback. A zombie of ours found first stops the
 * scan; the scan runs again after that engine's exit callback. */
#include "sup_mesh.h"

#include "mesh_log.h"

#include <string.h>
#include <sys/wait.h>

static int is_engine_pid(const sup_mesh *m, pid_t pid)
{
    for (int s = 0; s < SUP_MAX_SLOTS; s++)
        if (m->eng[s].in_use && m->eng[s].child.pid == pid)
            return 1;
    return 0;
}

int sup_reap_orphans(sup_mesh *m)
{
    int n = 0;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
            break; /* no children at all, or none exited */
        if (is_engine_pid(m, si.si_pid))
            break; /* libuv's: it will reap it and call the exit callback */
        int status;
        if (waitpid(si.si_pid, &status, WNOHANG) == si.si_pid) {
            n++;
            mesh_debug("reaped orphan pid %d", (int)si.si_pid);
        }
    }
    return n;
}
