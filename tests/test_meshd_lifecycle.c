/* meshd lifecycle with real processes: dependency-ordered start with every
 * engine reported ready, graceful stop leaving no process, shm object or
 * socket behind, and bad configs refused (with their line) before anything
 * starts. */
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

/* --check on a bad config: exit 1 and the error names file:line. */
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
    th_cleanup(&H);
}

/* Line numbers: the harness header is 4 lines (mesh:, name, control_socket,
 * stop_timeout_ms), so the body starts at line 5. */
Test(meshd_lifecycle, check_refuses_bad_configs_with_their_line, .fini = fini, .timeout = 60)
{
    /* line 5 engines:, 6 - name, 7 binary, 8 colour (unknown key) */
    check_refused("engines:\n  - name: a\n    binary: test-producer\n    colour: red\n", 8,
                  "colour");
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
}

Test(meshd_lifecycle, bad_config_is_refused_before_anything_starts, .fini = fini, .timeout = 30)
{
    th_init(&H);
    th_write_config(&H, "", "engines:\n  - name: a\n    binary: test-producer\n    cpu: 4096\n");
    th_start(&H, NULL);
    cr_assert_not(th_wait_ready(&H, 20000));
    cr_assert_eq(th_wait_exit(&H, 20000), 1, "meshd exits 1 on a bad config");
    cr_assert_eq(th_shm_count(&H), 0, "nothing may be created for a bad config");
    cr_assert_neq(access(H.socket, F_OK), 0);
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
