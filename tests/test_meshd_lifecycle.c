/* meshd lifecycle with real processes: dependency-ordered start with every
 * engine reported ready, graceful stop leaving no process, shm object or
 * socket behind, and bad configs refused (with their line) before anything
 * starts. */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

/* Written in reverse dependency order on purpose: the file order must not
 * matter. c depends on b, b on a; a -> b -> c carry trades. */
static const char chain[] = "engines:\n"
                            "  - name: c\n"
                            "    binary: test-consumer\n"
                            "    args: [--out, @DIR@/c.out]\n"
                            "    depends_on: [b]\n"
                            "  - name: b\n"
                            "    binary: test-consumer\n"
                            "    args: [--out, @DIR@/b.out]\n"
                            "    depends_on: [a]\n"
                            "  - name: a\n"
                            "    binary: test-producer\n"
                            "    args: [--count, '100']\n"
                            "routes:\n"
                            "  - from: a\n"
                            "    to: b\n"
                            "    types: [trade]\n";

Test(meshd_lifecycle, starts_in_dependency_order_and_reports_every_engine_ready, .fini = fini,
     .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000), "meshd never reported the mesh ready (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st);
    cr_assert_str_eq(sup_jval_gstr(st, "state", ""), "ready");
    const sup_jval *a = th_engine(st, "a"), *b = th_engine(st, "b"), *c = th_engine(st, "c");
    cr_assert(a && b && c);
    for (const sup_jval *const *e = (const sup_jval *const[]){a, b, c, NULL}; *e; e++) {
        cr_assert_str_eq(sup_jval_gstr(*e, "state", ""), "ready");
        cr_assert_gt(sup_jval_gnum(*e, "pid", 0), 0);
        cr_assert(th_alive((pid_t)sup_jval_gnum(*e, "pid", 0)));
    }
    /* Each engine was spawned only after its dependency reported ready. */
    cr_assert_geq(sup_jval_gnum(b, "spawn_ms", 0), sup_jval_gnum(a, "ready_ms", 1e18));
    cr_assert_geq(sup_jval_gnum(c, "spawn_ms", 0), sup_jval_gnum(b, "ready_ms", 1e18));
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 20000), 0);
}

Test(meshd_lifecycle, stop_leaves_no_process_no_shm_object_and_no_socket, .fini = fini,
     .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    /* 3 control blocks + 1 ring exist while it runs */
    cr_assert_eq(th_shm_count(&H), 4);
    cr_assert_eq(access(H.socket, F_OK), 0);
    sup_jval *st = th_request(&H, "status");
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] =
            (pid_t)sup_jval_gnum(sup_jval_at(sup_jval_get(st, "engines"), (size_t)i), "pid", 0);
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 20000), 0, "graceful stop exits 0");
    for (int i = 0; i < 3; i++)
        cr_assert_not(th_alive(pids[i]), "engine pid %d still alive", (int)pids[i]);
    cr_assert_eq(th_shm_count(&H), 0, "shared memory objects left in /dev/shm");
    cr_assert_neq(access(H.socket, F_OK), 0, "control socket left behind");
    /* The consumer drained its ring on SIGTERM: all 100 trades were handled. */
    unsigned counts[101] = {0};
    char path[400];
    snprintf(path, sizeof(path), "%s/b.out", H.dir);
    cr_assert_eq(th_read_counters(path, counts, 101), 100);
}

Test(meshd_lifecycle, keep_shm_leaves_the_objects_for_the_next_run, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, "--keep-shm");
    cr_assert(th_wait_ready(&H, 30000));
    cr_assert_eq(th_stop(&H, 20000), 0);
    cr_assert_eq(th_shm_count(&H), 4, "--keep-shm keeps rings and control blocks");
    th_start(&H, NULL); /* a second run re-creates them over the stale ones */
    cr_assert(th_wait_ready(&H, 30000));
    cr_assert_eq(th_stop(&H, 20000), 0);
    cr_assert_eq(th_shm_count(&H), 0);
}

/* A bad config, end to end through meshd: `meshd --check` exits 1, and so
 * does meshd started on it, before creating anything (no shared memory, no
 * socket); both name file:line and the problem. */
static void check_refused(const char *yaml, int line, const char *phrase)
{
    th_init(&H);
    th_write_config(&H, "", yaml);
    char meshd[512], out[8192], err[8192], want[512];
    char *argv[] = {(char *)th_build_path("supervisor/meshd", meshd, sizeof(meshd)),
                    "--check",
                    "--config",
                    H.config,
                    "--bin-path",
                    H.bindir,
                    NULL};
    int rc = th_run(argv, out, sizeof(out), err, sizeof(err), 20000);
    cr_assert_eq(rc, 1, "meshd --check accepted a bad config:\n%s", yaml);
    snprintf(want, sizeof(want), "%s:%d:", H.config, line);
    cr_assert(strstr(err, want), "no '%s' in:\n%s", want, err);
    cr_assert(strstr(err, phrase), "no '%s' in:\n%s", phrase, err);
    th_start(&H, NULL);
    cr_assert_eq(th_wait_exit(&H, 20000), 1, "meshd exits 1 on a bad config:\n%s", yaml);
    cr_assert_eq(th_shm_count(&H), 0, "nothing may be created for a bad config");
    cr_assert_neq(access(H.socket, F_OK), 0, "no control socket for a bad config");
    static char log[16384];
    FILE *f = fopen(H.log, "r");
    cr_assert_not_null(f);
    log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
    fclose(f);
    cr_assert(strstr(log, want) && strstr(log, phrase), "no '%s' and '%s' in meshd's log:\n%s",
              want, phrase, log);
    th_cleanup(&H);
}

/* Line numbers: the harness header is 4 lines (mesh:, name, control_socket,
 * stop_timeout_ms), so the body starts at line 5. Every bad-config case of
 * issue 3: unknown key, missing binary, dependency cycle, route to an unknown
 * engine, duplicate names, bad CPU number (plus a bad enum and type). */
Test(meshd_lifecycle, bad_configs_are_refused_with_their_line_before_anything_starts, .fini = fini,
     .timeout = 120)
{
    /* line 5 engines:, 6 - name, 7 binary, 8 colour (unknown key) */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n    colour: red\n", 8,
                  "unknown key 'colour'");
    /* 5 engines:, 6 a, 7 binary, 8 depends_on: [b], 9 b, 10 binary, 11 depends_on: [a] */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n    depends_on: [b]\n"
                  "  - name: b\n    binary: test-producer\n    depends_on: [a]\n",
                  8, "cycle");
    /* 5 engines:, 6 - name: a, 7 binary: no-such-engine */
    check_refused("engines:\n  - name: a\n    binary: no-such-engine\n", 7, "no-such-engine");
    /* 5 engines:, 6 a, 7 binary, 8 restart: sometimes */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n    restart: sometimes\n", 8,
                  "permanent");
    /* routes at line 8; `types: [nonsense]` at line 11 */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n"
                  "routes:\n  - from: a\n    to: a2\n    types: [nonsense]\n",
                  11, "nonsense");
    /* 8 routes:, 9 - from: a, 10 to: nobody, 11 types */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n"
                  "routes:\n  - from: a\n    to: nobody\n    types: [trade]\n",
                  10, "unknown engine 'nobody'");
    /* 6 - name: a, 7 binary, 8 - name: a (again), 9 binary */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n"
                  "  - name: a\n    binary: test-consumer\n",
                  8, "duplicate engine name 'a' (first at line 6)");
    /* 6 - name: a, 7 binary, 8 cpu: 4096 */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n    cpu: 4096\n", 8,
                  "cpu 4096 is not available");
}

/* The lowest and highest CPU this process may run on; returns how many. */
static int mask_bounds(int *lo, int *hi)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    *lo = *hi = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            *lo = *lo < 0 ? c : *lo;
            *hi = c;
        }
    return CPU_COUNT(&set);
}

/* meshd restricted to its highest CPU (taskset, a container's cpuset)
 * refuses an engine pinned to another one, though that CPU exists. */
Test(meshd_lifecycle, cpu_outside_meshd_affinity_mask_is_refused, .fini = fini, .timeout = 60)
{
    int lo, hi;
    if (mask_bounds(&lo, &hi) < 2)
        cr_skip_test("needs a process allowed on 2 CPUs or more to build a mask with a gap");
    cpu_set_t all, only;
    cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
    CPU_ZERO(&only);
    CPU_SET(hi, &only);
    char yaml[256], phrase[128];
    snprintf(yaml, sizeof(yaml), "engines:\n  - name: a\n    binary: test-producer\n    cpu: %d\n",
             lo);
    snprintf(phrase, sizeof(phrase),
             "cpu %d is not available: this process may run on CPUs %d only", lo, hi);
    cr_assert_eq(sched_setaffinity(0, sizeof(only), &only), 0); /* meshd inherits it */
    check_refused(yaml, 8, phrase);
    cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
}

/* An engine with `cpu` really runs pinned: its Cpus_allowed_list (the
 * kernel's view, /proc/<pid>/status) is that one CPU. */
Test(meshd_lifecycle, engine_with_cpu_is_pinned_to_it, .fini = fini, .timeout = 60)
{
    int lo, hi;
    mask_bounds(&lo, &hi);
    cr_assert_geq(lo, 0);
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "engines:\n  - name: a\n    binary: test-producer\n    args: [--count, '1']\n"
             "    cpu: %d\n",
             lo);
    th_init(&H);
    th_write_config(&H, "", yaml);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000), "never ready (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    int pid = (int)sup_jval_gnum(th_engine(st, "a"), "pid", 0);
    sup_jval_free(st);
    cr_assert_gt(pid, 0);
    char path[64], line[256], want[64], got[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Cpus_allowed_list: %63s", got) == 1)
            break;
    fclose(f);
    snprintf(want, sizeof(want), "%d", lo);
    cr_assert_str_eq(got, want, "engine pid %d runs on CPUs %s, not %s", pid, got, want);
    cr_assert_eq(th_stop(&H, 20000), 0);
}

Test(meshd_lifecycle, second_meshd_on_the_same_socket_is_refused, .fini = fini, .timeout = 60)
{
    static th_mesh second;
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    th_init(&second);
    th_write_config(&second, "", "engines:\n  - name: a\n    binary: test-producer\n");
    /* same socket path as the first mesh */
    FILE *f = fopen(second.config, "w");
    fprintf(f,
            "mesh:\n  name: %s\n  control_socket: %s\nengines:\n  - name: a\n"
            "    binary: test-producer\n",
            second.name, H.socket);
    fclose(f);
    th_start(&second, NULL);
    cr_assert_eq(th_wait_exit(&second, 20000), 1);
    cr_assert_eq(th_shm_count(&second), 0);
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st, "the first meshd still answers");
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 20000), 0);
}

Test(meshd_lifecycle, orphans_of_engines_are_reaped, .fini = fini, .timeout = 60)
{
    th_init(&H);
    /* A shell "engine" that reports ready, then leaves an orphan: the inner
     * subshell exits at once, so `sleep 0.3` is re-parented to meshd (child
     * subreaper; PID 1 in a container) and must be reaped when it exits. */
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: sh\n    binary: /bin/sh\n    heartbeat_timeout_ms: 0\n"
                    "    args: [-c, '( sleep 0.3 & echo $! > @DIR@/orphan.pid ); "
                    "echo ready >&3; exec 3>&-; exec sleep 600']\n");
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    char path[400], proc[64];
    snprintf(path, sizeof(path), "%s/orphan.pid", H.dir);
    int pid = 0;
    for (int i = 0; i < 200 && pid <= 0; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        usleep(10000);
    }
    cr_assert_gt(pid, 0, "the orphan's pid was never written");
    snprintf(proc, sizeof(proc), "/proc/%d", pid);
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) { /* bounded: 10 s */
        gone = access(proc, F_OK) != 0;      /* a zombie would still be listed */
        usleep(20000);
    }
    cr_assert(gone, "orphan %d left as a zombie", pid);
    cr_assert_eq(th_stop(&H, 20000), 0);
}

Test(meshd_lifecycle, sigint_is_a_graceful_stop_too, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    kill(H.meshd, SIGINT);
    cr_assert_eq(th_wait_exit(&H, 20000), 0);
    cr_assert_eq(th_shm_count(&H), 0);
}

/* SIGHUP re-reads the config as the `reload` command does: an added engine
 * is started; a refused change (a route) is logged and the mesh keeps
 * running on the config it had. */
Test(meshd_lifecycle, sighup_reloads_the_config, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", chain);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    char body[2048];
    const char *routes = strstr(chain, "routes:");
    snprintf(body, sizeof(body), "%.*s  - name: d\n    binary: test-producer\n%s",
             (int)(routes - chain), chain, routes);
    th_write_config(&H, "", body);
    cr_assert_eq(kill(H.meshd, SIGHUP), 0);
    th_cond d_ready = {.engine = "d", .field = "state", .str = "ready"};
    cr_assert(th_wait_status(&H, th_cond_holds, &d_ready, 20000), "SIGHUP did not add d (log %s)",
              H.log);
    cr_assert(th_wait_log(&H, "SIGHUP: reloaded: added d", 10000));
    char *types = strstr(body, "types: [trade]");
    cr_assert_not_null(types);
    memcpy(types, "types: [quote]", 14); /* a route change: refused */
    th_write_config(&H, "", body);
    cr_assert_eq(kill(H.meshd, SIGHUP), 0);
    cr_assert(th_wait_log(&H, "SIGHUP: reload refused, still running the old config", 10000),
              "no refusal in %s", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st, "meshd still answers");
    cr_assert_str_eq(sup_jval_gstr(st, "state", ""), "ready");
    cr_assert_str_eq(sup_jval_gstr(th_engine(st, "d"), "state", ""), "ready");
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 20000), 0);
}
