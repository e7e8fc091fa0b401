/* Processes started by engines never outlive them: an engine's own children
 * share its process group, which meshd signals as a whole and SIGKILLs once
 * the engine itself exited (stop, restart, heartbeat kill); descendants that
 * left the group are killed when the mesh stops (meshd is their subreaper). */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

/* A shell engine with a child that ignores SIGTERM (so only the SIGKILL of
 * what is left of the group ends it), its pid written to kid.<generation>;
 * `extra` may start more. It reports ready and waits. */
static void write_shell_engine(const char *policy, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "engines:\n"
             "  - name: sh\n    binary: /bin/sh\n%s"
             "    args: [-c, '(trap \"\" TERM; exec sleep 777) & echo $! > "
             "@DIR@/kid.$MESH_GENERATION; %s echo ready >&3; exec 3>&-; wait']\n",
             policy, extra);
    th_write_config(&H, "", body);
}

/* The pid in <dir>/<file>, waiting (bounded) for the engine to write it. */
static pid_t pid_in(const char *file)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", H.dir, file);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0)
            return (pid_t)pid;
        usleep(10000);
    }
    return 0;
}

static pid_t kid_pid(int gen)
{
    char file[32];
    snprintf(file, sizeof(file), "kid.%d", gen);
    return pid_in(file);
}

/* Waits (bounded, 10 s) until exactly `want` processes of the mesh run. */
static int procs_become(int want)
{
    pid_t pids[64];
    int n = -1;
    for (int i = 0; i < 500; i++) {
        n = th_mesh_procs(&H, pids, 64);
        if (n == want)
            return n;
        usleep(20000);
    }
    for (int i = 0; i < n && i < 64; i++)
        cr_log_error("still running: pid %d", (int)pids[i]);
    return n;
}

Test(meshd_descendants, stop_leaves_no_child_of_an_engine_running, .fini = fini, .timeout = 60)
{
    th_init(&H);
    /* plus a child that leaves the group (setsid; it writes its pid once out
     * of it): only the final sweep of meshd's re-parented descendants can
     * end it */
    write_shell_engine("    heartbeat_timeout_ms: 0\n",
                       "setsid sh -c \"echo \\$\\$ > @DIR@/escaped; exec sleep 778\" &");
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000), "never ready (log %s)", H.log);
    cr_assert_gt(kid_pid(0), 0, "the engine's child never started");
    pid_t escaped = pid_in("escaped");
    cr_assert_gt(escaped, 0, "the setsid child never started");
    cr_assert_eq(getsid(escaped), escaped, "the setsid child has a session of its own");
    cr_assert_eq(procs_become(3), 3, "sh, its child and the setsid child should run");
    cr_assert_eq(th_stop(&H, 30000), 0);
    cr_assert_eq(procs_become(0), 0, "processes of the mesh survived the stop");
}

Test(meshd_descendants, restart_leaves_no_child_of_the_previous_run, .fini = fini, .timeout = 60)
{
    th_init(&H);
    write_shell_engine("    heartbeat_timeout_ms: 0\n", "");
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000), "never ready (log %s)", H.log);
    pid_t first = kid_pid(0);
    cr_assert_gt(first, 0);
    sup_jval *r = th_request(&H, "restart sh");
    cr_assert(r && sup_jval_gbool(r, "ok", 0));
    sup_jval_free(r);
    th_cond again = {.engine = "sh", .field = "starts", .value = 2};
    cr_assert(th_wait_status(&H, th_cond_holds, &again, 20000));
    th_cond ready = {.engine = "sh", .field = "state", .str = "ready"};
    cr_assert(th_wait_status(&H, th_cond_holds, &ready, 20000));
    cr_assert_gt(kid_pid(1), 0, "the second run's child never started");
    cr_assert_eq(procs_become(2), 2, "only the second run (sh and its child) should run");
    cr_assert_not(th_alive(first), "the first run's child %d survived the restart", (int)first);
    cr_assert_eq(th_stop(&H, 30000), 0);
    cr_assert_eq(procs_become(0), 0);
}

Test(meshd_descendants, heartbeat_kill_leaves_no_child_of_the_engine, .fini = fini, .timeout = 60)
{
    th_init(&H);
    /* A shell engine never heartbeats: killed 300 ms after its readiness.
     * The long back-off keeps it down afterwards. */
    write_shell_engine("    heartbeat_timeout_ms: 300\n    backoff_initial_ms: 600000\n"
                       "    backoff_max_ms: 600000\n",
                       "");
    th_start(&H, NULL);
    pid_t kid = kid_pid(0);
    cr_assert_gt(kid, 0);
    th_cond killed = {.engine = "sh", .field = "state", .str = "backoff"};
    cr_assert(th_wait_status(&H, th_cond_holds, &killed, 20000), "never killed (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_str_eq(sup_jval_gstr(sup_jval_get(th_engine(st, "sh"), "last_exit"), "reason", ""),
                     "killed: heartbeat stale");
    sup_jval_free(st);
    cr_assert_eq(procs_become(0), 0, "the engine's child survived the heartbeat kill");
    cr_assert_not(th_alive(kid));
    cr_assert_eq(th_stop(&H, 30000), 0);
}
