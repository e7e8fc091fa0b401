/* Fault tests with real processes: SIGKILL mid-stream (restart, nothing
 * lost), a hung engine (stale heartbeat: killed, restarted), a crash loop
 * (exponential back-off, then failed at the intensity limit), restart types,
 * rest_for_one vs one_for_one, escalation, and SIGKILL at the stop timeout. */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

static double field(th_mesh *h, const char *engine, const char *key)
{
    sup_jval *st = th_request(h, "status");
    double v = sup_jval_gnum(th_engine(st, engine), key, -1);
    sup_jval_free(st);
    return v;
}

/* Waits (bounded) until the consumer's --out file holds every counter
 * 1..n; returns the number of duplicate lines, -1 (logged) on timeout. */
static long wait_all_counters(const char *path, unsigned n, unsigned timeout_ms)
{
    unsigned missing = 0;
    long dups = th_wait_all_counters(path, n, timeout_ms, &missing);
    if (dups < 0)
        cr_log_error("counter %u (and maybe more) never arrived in %s", missing, path);
    return dups;
}

Test(meshd_faults, sigkill_mid_stream_restarts_and_loses_no_queued_message, .fini = fini,
     .timeout = 120)
{
    unsigned n = (unsigned)(20000 * th_scale());
    if (n < 2000)
        n = 2000;
    char body[2048], out[400];
    snprintf(body, sizeof(body),
             "engines:\n"
             "  - name: prod\n    binary: test-producer\n    args: [--count, '%u']\n"
             "  - name: cons\n    binary: test-consumer\n"
             "    args: [--out, @DIR@/cons.out, --slow-us, '50']\n"
             "    depends_on: [prod]\n    backoff_initial_ms: 50\n"
             "routes:\n  - from: prod\n    to: cons\n    types: [trade]\n    ring_bytes: 65536\n",
             n);
    th_init(&H);
    th_write_config(&H, "", body);
    snprintf(out, sizeof(out), "%s/cons.out", H.dir);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    th_cond mid = {.engine = "cons", .field = "msgs_in", .value = n / 4.0};
    cr_assert(th_wait_status(&H, th_cond_holds, &mid, 60000), "consumer never got going");
    pid_t victim = (pid_t)field(&H, "cons", "pid");
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    th_cond back = {.engine = "cons", .field = "restarts", .value = 1};
    cr_assert(th_wait_status(&H, th_cond_holds, &back, 30000), "consumer not restarted");
    long dups = wait_all_counters(out, n, 60000);
    cr_assert_geq(dups, 0, "messages were lost across the SIGKILL");
    /* The record being handled at the kill may be handled again (its
     * last-handled sequence was not recorded yet): at most one duplicate. */
    cr_assert_leq(dups, 1, "%ld duplicates", dups);
    sup_jval *st = th_request(&H, "status");
    const sup_jval *c = th_engine(st, "cons");
    cr_assert_str_eq(sup_jval_gstr(c, "state", ""), "ready");
    cr_assert_eq(sup_jval_gnum(sup_jval_get(c, "last_exit"), "signal", 0), (double)SIGKILL);
    cr_assert_neq(sup_jval_gnum(c, "pid", 0), (double)victim);
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshd_faults, stale_heartbeat_is_detected_killed_and_restarted, .fini = fini, .timeout = 90)
{
    th_init(&H);
    /* The first consumer run blocks for ever in the handler of message 50:
     * its heartbeat stops; the restarted one (generation 1) does not stall. */
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: prod\n    binary: test-producer\n    args: [--count, '200']\n"
                    "  - name: cons\n    binary: test-consumer\n"
                    "    args: [--out, @DIR@/cons.out, --stall-at, '50']\n"
                    "    depends_on: [prod]\n    heartbeat_timeout_ms: 400\n"
                    "routes:\n  - from: prod\n    to: cons\n    types: [trade]\n");
    th_start(&H, NULL);
    th_wait_ready(&H, 30000); /* may already be past: the stall comes at message 50 */
    th_cond killed = {.engine = "cons", .field = "restarts", .value = 1};
    cr_assert(th_wait_status(&H, th_cond_holds, &killed, 30000), "hang never detected");
    char out[400];
    snprintf(out, sizeof(out), "%s/cons.out", H.dir);
    cr_assert_eq(wait_all_counters(out, 200, 30000), 0, "each of the 200 handled exactly once");
    sup_jval *st = th_request(&H, "status");
    const sup_jval *c = th_engine(st, "cons");
    const sup_jval *ex = sup_jval_get(c, "last_exit");
    cr_assert_str_eq(sup_jval_gstr(ex, "reason", ""), "killed: heartbeat stale");
    cr_assert_eq(sup_jval_gnum(ex, "signal", 0), (double)SIGKILL);
    cr_assert_eq(sup_jval_gnum(c, "restarts", 0), 1.0);
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshd_faults, crash_loop_backs_off_exponentially_then_fails_at_the_limit, .fini = fini,
     .timeout = 90)
{
    th_init(&H);
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: ok\n    binary: test-producer\n    args: [--count, '1']\n"
                    "  - name: crasher\n    binary: test-crash\n"
                    "    args: [--crash-after-ms, '20']\n"
                    "    backoff_initial_ms: 200\n    backoff_max_ms: 100000\n"
                    "    intensity: {max_restarts: 4, period_ms: 600000}\n");
    th_start(&H, NULL);
    th_cond failed = {.engine = "crasher", .field = "state", .str = "failed"};
    cr_assert(th_wait_status(&H, th_cond_holds, &failed, 60000), "never reached failed");
    sup_jval *st = th_request(&H, "status");
    const sup_jval *c = th_engine(st, "crasher");
    /* 1 start + 4 restarts; the 5th crash is the 5th restart in the period > 4 */
    cr_assert_eq(sup_jval_gnum(c, "starts", 0), 5.0);
    cr_assert_eq(sup_jval_gnum(c, "restarts", 0), 4.0);
    cr_assert_eq(sup_jval_gnum(sup_jval_get(c, "last_exit"), "signal", 0), (double)SIGABRT);
    const sup_jval *hist = sup_jval_get(c, "restart_history");
    cr_assert_eq(sup_jval_len(hist), 4u);
    /* delays: 200, then doubling: 400, 800, 1600 */
    const double want[4] = {200, 400, 800, 1600};
    for (size_t k = 0; k < 4; k++) {
        const sup_jval *r = sup_jval_at(hist, k);
        double gap = sup_jval_gnum(r, "spawn_ms", 0) - sup_jval_gnum(r, "exit_ms", 0);
        cr_assert_eq(sup_jval_gnum(r, "delay_ms", 0), want[k]);
        /* never restarted earlier than the back-off; generous upper bound */
        cr_assert_geq(gap, want[k], "restart %zu after %.0f ms < %.0f", k, gap, want[k]);
        cr_assert_lt(gap, want[k] + 5000, "restart %zu after %.0f ms", k, gap);
    }
    /* the healthy engine was untouched */
    cr_assert_str_eq(sup_jval_gstr(th_engine(st, "ok"), "state", ""), "ready");
    cr_assert_str_eq(sup_jval_gstr(st, "state", ""), "degraded");
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshd_faults, transient_restarts_only_abnormal_exits, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: clean\n    binary: test-crash\n    restart: transient\n"
                    "    args: [--crash-after-ms, '30', --exit-code, '0']\n"
                    "  - name: dirty\n    binary: test-crash\n    restart: transient\n"
                    "    args: [--crash-after-ms, '30', --exit-code, '3']\n"
                    "    backoff_initial_ms: 50\n"
                    "  - name: temp\n    binary: test-crash\n    restart: temporary\n"
                    "    args: [--crash-after-ms, '30']\n");
    th_start(&H, NULL);
    th_cond dirty = {.engine = "dirty", .field = "restarts", .value = 2};
    cr_assert(th_wait_status(&H, th_cond_holds, &dirty, 30000), "exit 3 not restarted");
    th_cond clean = {.engine = "clean", .field = "state", .str = "down"};
    cr_assert(th_wait_status(&H, th_cond_holds, &clean, 30000));
    th_cond temp = {.engine = "temp", .field = "state", .str = "down"};
    cr_assert(th_wait_status(&H, th_cond_holds, &temp, 30000));
    sup_jval *st = th_request(&H, "status");
    cr_assert_eq(sup_jval_gnum(th_engine(st, "clean"), "restarts", -1), 0.0);
    cr_assert_eq(sup_jval_gnum(sup_jval_get(th_engine(st, "clean"), "last_exit"), "status", -1),
                 0.0);
    cr_assert_eq(sup_jval_gnum(th_engine(st, "temp"), "restarts", -1), 0.0);
    cr_assert_eq(sup_jval_gnum(sup_jval_get(th_engine(st, "temp"), "last_exit"), "signal", 0),
                 (double)SIGABRT);
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

/* a (producer) <- b <- c: b depends on a, c on b; x depends on nothing but
 * is listed last, so the start order is a, b, c, x. */
static const char trio[] = "engines:\n"
                           "  - name: a\n    binary: test-producer\n    args: [--count, '10']\n"
                           "  - name: b\n    binary: test-consumer\n"
                           "    args: [--out, @DIR@/b.out]\n    depends_on: [a]\n"
                           "    backoff_initial_ms: 50\n"
                           "  - name: c\n    binary: test-consumer\n"
                           "    args: [--out, @DIR@/c.out]\n    depends_on: [b]\n"
                           "  - name: x\n    binary: test-producer\n    args: [--count, '1']\n"
                           "routes:\n  - from: a\n    to: b\n    types: [trade]\n";

static void kill_b_and_wait(void)
{
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    pid_t b = (pid_t)field(&H, "b", "pid");
    cr_assert_eq(kill(b, SIGKILL), 0);
    th_cond back = {.engine = "b", .field = "restarts", .value = 1};
    cr_assert(th_wait_status(&H, th_cond_holds, &back, 30000));
}

static int all_ready(const sup_jval *st, const void *arg)
{
    (void)arg;
    return sup_jval_gbool(st, "ready", 0);
}

/* Erlang/OTP rest_for_one: the engines started after the failed one (c, a
 * dependent, and x, which depends on nothing) restart with it; a, started
 * before it, is left alone. */
Test(meshd_faults, rest_for_one_restarts_the_engines_started_after_the_failed_one, .fini = fini,
     .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "  strategy: rest_for_one\n", trio);
    kill_b_and_wait();
    th_cond c2 = {.engine = "c", .field = "starts", .value = 2};
    cr_assert(th_wait_status(&H, th_cond_holds, &c2, 30000), "c was not restarted");
    th_cond x2 = {.engine = "x", .field = "starts", .value = 2};
    cr_assert(th_wait_status(&H, th_cond_holds, &x2, 30000),
              "x (after b in start order, not a dependent) was not restarted");
    cr_assert(th_wait_status(&H, all_ready, NULL, 30000));
    sup_jval *st = th_request(&H, "status");
    const sup_jval *a = th_engine(st, "a"), *b = th_engine(st, "b"), *c = th_engine(st, "c");
    cr_assert_eq(sup_jval_gnum(a, "starts", 0), 1.0, "a (before b) is left alone");
    cr_assert_eq(sup_jval_gnum(b, "starts", 0), 2.0);
    cr_assert_eq(sup_jval_gnum(c, "starts", 0), 2.0);
    cr_assert_str_eq(sup_jval_gstr(sup_jval_get(c, "last_exit"), "reason", ""), "stopped",
                     "c was stopped by meshd (SIGTERM), not crashed");
    cr_assert_eq(sup_jval_gnum(c, "restarts", -1), 0.0, "a group restart is not c's failure");
    /* c started again only once b was ready again */
    cr_assert_geq(sup_jval_gnum(c, "spawn_ms", 0), sup_jval_gnum(b, "ready_ms", 1e18));
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshd_faults, one_for_one_restarts_only_the_failed_engine, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "", trio);
    kill_b_and_wait();
    cr_assert(th_wait_status(&H, all_ready, NULL, 30000));
    sup_jval *st = th_request(&H, "status");
    cr_assert_eq(sup_jval_gnum(th_engine(st, "a"), "starts", 0), 1.0);
    cr_assert_eq(sup_jval_gnum(th_engine(st, "b"), "starts", 0), 2.0);
    cr_assert_eq(sup_jval_gnum(th_engine(st, "c"), "starts", 0), 1.0);
    cr_assert_eq(sup_jval_gnum(th_engine(st, "x"), "starts", 0), 1.0);
    sup_jval_free(st);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshd_faults, escalation_stop_mesh_stops_everything_and_exits_1, .fini = fini, .timeout = 60)
{
    th_init(&H);
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: ok\n    binary: test-producer\n    args: [--count, '1']\n"
                    "  - name: bad\n    binary: test-crash\n    args: [--crash-after-ms, '50']\n"
                    "    depends_on: [ok]\n    escalation: stop_mesh\n"
                    "    intensity: {max_restarts: 0, period_ms: 10000}\n");
    th_start(&H, NULL);
    cr_assert_eq(th_wait_exit(&H, 30000), 1, "meshd exits 1 when an engine escalates");
    cr_assert_eq(th_shm_count(&H), 0);
    cr_assert_neq(access(H.socket, F_OK), 0);
}

Test(meshd_faults, engine_ignoring_sigterm_is_killed_at_its_stop_timeout, .fini = fini,
     .timeout = 60)
{
    th_init(&H);
    /* test-hang stops honouring SIGTERM after 100 ms; hang detection off. */
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: stuck\n    binary: test-hang\n    args: [--hang-after-ms, '100']\n"
                    "    heartbeat_timeout_ms: 0\n    stop_timeout_ms: 500\n");
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    pid_t pid = (pid_t)field(&H, "stuck", "pid");
    usleep(300000); /* let it hang: behaviour under test, not a timing check */
    cr_assert_eq(th_stop(&H, 30000), 0);
    cr_assert_not(th_alive(pid));
    cr_assert_eq(th_shm_count(&H), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 'SIGKILL (killed: stop timeout)' '%s'", H.log);
    cr_assert_eq(system(cmd), 0, "no stop-timeout SIGKILL in %s", H.log);
}

/* An idle test-producer started with heartbeat_timeout_ms 4000 heartbeats
 * every 250 ms (timeout / 4, capped at 250). A reload lowering the timeout
 * to 200 ms must not judge that process by 200 ms (it would look stale
 * every 250 ms): the new value applies from its next start (period 50 ms). */
Test(meshd_faults, lowering_the_heartbeat_timeout_by_reload_spares_the_running_engine, .fini = fini,
     .timeout = 60)
{
    static const char cfg[] = "engines:\n"
                              "  - name: idle\n    binary: test-producer\n"
                              "    args: [--count, '1']\n    heartbeat_timeout_ms: %s\n";
    char body[512];
    th_init(&H);
    snprintf(body, sizeof(body), cfg, "4000");
    th_write_config(&H, "", body);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    pid_t pid = (pid_t)field(&H, "idle", "pid");
    snprintf(body, sizeof(body), cfg, "200");
    th_write_config(&H, "", body);
    sup_jval *r = th_request(&H, "reload");
    cr_assert(r && sup_jval_gbool(r, "ok", 0), "reload refused");
    sup_jval_free(r);
    usleep(1500000); /* six of its heartbeat periods: behaviour under test, not timing */
    cr_assert_eq(field(&H, "idle", "restarts"), 0.0, "the running engine was killed (log %s)",
                 H.log);
    cr_assert_eq(field(&H, "idle", "pid"), (double)pid);
    r = th_request(&H, "restart idle");
    cr_assert(r && sup_jval_gbool(r, "ok", 0));
    sup_jval_free(r);
    th_cond again = {.engine = "idle", .field = "starts", .value = 2};
    cr_assert(th_wait_status(&H, th_cond_holds, &again, 20000));
    th_cond ready = {.engine = "idle", .field = "state", .str = "ready"};
    cr_assert(th_wait_status(&H, th_cond_holds, &ready, 20000));
    cr_assert_eq(th_stop(&H, 30000), 0);
}

/* meshd's stdout is a pipe nobody reads for a while, and an engine prints
 * 20000 lines of 100 bytes to it (far more than the pipe and meshd's
 * backlog hold). Supervision must go on meanwhile: a hung engine is
 * detected, killed and restarted, and the control socket answers. When the
 * reader comes, it gets whole lines and a count of those dropped that
 * matches what is missing. */
Test(meshd_faults, unread_stdout_does_not_stall_supervision, .fini = fini, .timeout = 120)
{
    enum { N = 20000 };
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    th_init(&H);
    H.out_fd = p[1];
    char body[1024];
    snprintf(body, sizeof(body),
             "engines:\n"
             "  - name: spew\n    binary: /bin/sh\n    heartbeat_timeout_ms: 0\n"
             "    args: [-c, 'echo ready >&3; exec 3>&-; i=1; while [ $i -le %d ]; do "
             "echo \"line $i %090d\"; i=$((i+1)); done; exec sleep 600']\n"
             "  - name: hung\n    binary: test-hang\n    args: [--hang-after-ms, '1000']\n"
             "    heartbeat_timeout_ms: 400\n    backoff_initial_ms: 60000\n"
             "    backoff_max_ms: 60000\n",
             N, 0);
    th_write_config(&H, "", body);
    th_start(&H, NULL);
    close(p[1]);
    cr_assert(th_wait_ready(&H, 30000), "never ready (log %s)", H.log);
    th_cond killed = {.engine = "hung", .field = "restarts", .value = 1};
    cr_assert(th_wait_status(&H, th_cond_holds, &killed, 30000),
              "the hang was not handled while stdout was not read (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_str_eq(sup_jval_gstr(sup_jval_get(th_engine(st, "hung"), "last_exit"), "reason", ""),
                     "killed: heartbeat stale");
    sup_jval_free(st);
    /* now read: whole lines in order, then the summary of what was dropped */
    static char got[4 << 20];
    size_t used = 0;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (int k = 0; k < 1000 && !strstr(got, "not keeping up"); k++) {
        ssize_t r;
        while (used < sizeof(got) - 1 && (r = read(p[0], got + used, sizeof(got) - 1 - used)) > 0)
            used += (size_t)r;
        got[used] = '\0';
        usleep(10000);
    }
    char *summary = strstr(got, "warn meshd: ");
    cr_assert_not_null(summary, "no summary of dropped lines on stdout");
    unsigned long long said = 0;
    cr_assert_eq(sscanf(summary,
                        "warn meshd: %llu lines of engine output dropped (stdout not keeping up)",
                        &said),
                 1, "%.200s", summary);
    *summary = '\0';
    long received = 0, last = 0;
    for (char *l = strtok(got, "\n"); l; l = strtok(NULL, "\n")) {
        long num;
        cr_assert_eq(sscanf(l, "[spew] line %ld", &num), 1, "not a whole line: '%.120s'", l);
        cr_assert_gt(num, last, "out of order: %ld after %ld", num, last);
        const char *pad = strrchr(l, ' ');
        cr_assert_eq(strlen(pad + 1), 90u, "not a whole line: '%.120s'", l); /* %090d */
        last = num;
        received++;
    }
    cr_assert_gt(said, 0u);
    cr_assert_eq((long)said + received, N, "dropped %llu + received %ld != %d", said, received, N);
    close(p[0]);
    cr_assert_eq(th_stop(&H, 30000), 0);
}
