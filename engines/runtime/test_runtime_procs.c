/* Multi-process runtime scenarios without Criterion (which cannot start
 * under ThreadSanitizer), for the 'concurrency' suite: sanitizer-built test
 * engines exchange messages over real rings (delivery with back-pressure,
 * fan-out, kill -9 and restart, drain on SIGTERM); any sanitizer report makes
 * an engine exit non-zero, which fails the scenario. Exit 0 = all passed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_harness.h"

#define WAIT_MS 120000

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static const char *engine_yaml(const char *name, const char *bin)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof(buf[0]),
             "  - name: %s\n    binary: %s\n    heartbeat_timeout_ms: 2000\n"
             "    stop_timeout_ms: 60000\n",
             name, rt_engine_bin(bin));
    return b;
}

static int setup_mesh(rt_mesh *m, int two_consumers, uint64_t ring)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "engines:\n%s%s%sroutes:\n  - from: prod\n    to: %s\n"
             "    types: [trade]\n",
             engine_yaml("prod", "test-producer"), engine_yaml("c1", "test-consumer"),
             two_consumers ? engine_yaml("c2", "test-consumer") : "",
             two_consumers ? "[c1, c2]" : "c1");
    CHECK(rt_mesh_write_config(m, body) == 0, "config");
    CHECK(rt_mesh_create_ctl(m, "prod") == 0 && rt_mesh_create_ctl(m, "c1") == 0, "ctl");
    CHECK(rt_mesh_create_ring(m, "prod", "c1", ring, BUS_RING_POLICY_WAIT) == 0, "ring");
    if (two_consumers) {
        CHECK(rt_mesh_create_ctl(m, "c2") == 0, "ctl c2");
        CHECK(rt_mesh_create_ring(m, "prod", "c2", ring, BUS_RING_POLICY_WAIT) == 0, "ring c2");
    }
    return 0;
}

static pid_t start(rt_mesh *m, const char *engine, unsigned gen, char *const argv[])
{
    int rd = -1;
    pid_t pid = rt_spawn(m, engine, gen, &rd, NULL, argv);
    if (pid <= 0 || rt_read_ready(rd, WAIT_MS) != 1) {
        char log[80];
        snprintf(log, sizeof(log), "%s.log", engine);
        fprintf(stderr, "%s did not report ready; log:\n%s\n", engine, rt_slurp(rt_path(m, log)));
        return -1;
    }
    return pid;
}

static int exit_code(rt_mesh *m, pid_t pid, int sig)
{
    int st = 0;
    if (sig)
        kill(pid, sig);
    if (rt_wait_exit(m, pid, WAIT_MS, &st) < 0)
        return -1000;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* Exactly counters 1..n in order, seq == counter. */
static int lines_ok(const char *out, long n)
{
    static rt_line lines[100000];
    long got = rt_read_lines(out, lines, 100000);
    CHECK(got == n, "%s: %ld lines, expected %ld", out, got, n);
    for (long i = 0; i < n; i++)
        CHECK(lines[i].counter == (uint64_t)i + 1 && lines[i].seq == (uint64_t)i + 1,
              "%s line %ld: seq %llu counter %llu", out, i + 1, (unsigned long long)lines[i].seq,
              (unsigned long long)lines[i].counter);
    return 0;
}

static int scenario_fan_out(rt_mesh *m)
{
    long n = rt_scaled(5000, 500);
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    if (setup_mesh(m, 1, 8192) < 0)
        return -1;
    const char *o1 = rt_path(m, "c1.out"), *o2 = rt_path(m, "c2.out");
    char *a1[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)o1, NULL};
    char *a2[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)o2, NULL};
    char *ap[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--exit-when-done",
                  NULL};
    pid_t c1 = start(m, "c1", 0, a1), c2 = start(m, "c2", 0, a2);
    CHECK(c1 > 0 && c2 > 0, "consumers");
    pid_t p = start(m, "prod", 0, ap);
    CHECK(p > 0, "producer");
    CHECK(exit_code(m, p, 0) == 0, "producer exit");
    CHECK(rt_wait_lines(o1, n, WAIT_MS) == n && rt_wait_lines(o2, n, WAIT_MS) == n, "lines");
    CHECK(exit_code(m, c1, SIGTERM) == 0 && exit_code(m, c2, SIGTERM) == 0, "consumer exits");
    return lines_ok(o1, n) < 0 ? -1 : lines_ok(o2, n);
}

static int scenario_kill_restart(rt_mesh *m)
{
    long n = rt_scaled(3000, 600);
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    if (setup_mesh(m, 0, 4096) < 0)
        return -1;
    const char *out = rt_path(m, "c1.out");
    char *a0[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--stall-at", "300", NULL};
    char *a1[] = {(char *)rt_engine_bin("test-consumer"), "--out", (char *)out, NULL};
    char *ap[] = {(char *)rt_engine_bin("test-producer"), "--count", count, "--exit-when-done",
                  NULL};
    pid_t c = start(m, "c1", 0, a0);
    pid_t p = start(m, "prod", 0, ap);
    CHECK(c > 0 && p > 0, "start");
    CHECK(rt_wait_lines(out, 299, WAIT_MS) == 299, "stall point");
    CHECK(exit_code(m, c, SIGKILL) == -SIGKILL, "kill -9");
    c = start(m, "c1", 1, a1);
    CHECK(c > 0, "restart");
    CHECK(exit_code(m, p, 0) == 0, "producer exit");
    CHECK(rt_wait_lines(out, n, WAIT_MS) == n, "lines");
    CHECK(exit_code(m, c, SIGTERM) == 0, "consumer exit");
    return lines_ok(out, n);
}

static int scenario_drain(rt_mesh *m)
{
    if (setup_mesh(m, 0, 65536) < 0)
        return -1;
    const char *out = rt_path(m, "c1.out");
    char *ac[] = {
        (char *)rt_engine_bin("test-consumer"), "--out", (char *)out, "--slow-us", "2000", NULL};
    char *ap[] = {(char *)rt_engine_bin("test-producer"), "--count", "200", "--exit-when-done",
                  NULL};
    pid_t c = start(m, "c1", 0, ac);
    pid_t p = start(m, "prod", 0, ap);
    CHECK(c > 0 && p > 0, "start");
    CHECK(exit_code(m, p, 0) == 0, "producer exit");
    CHECK(exit_code(m, c, SIGTERM) == 0, "consumer drained and exited 0");
    return lines_ok(out, 200);
}

static void run(const char *name, int (*fn)(rt_mesh *))
{
    rt_mesh m;
    if (rt_mesh_init(&m, "p") < 0) {
        fprintf(stderr, "FAIL %s: no temp dir\n", name);
        failures++;
        return;
    }
    int rc = fn(&m);
    if (rc < 0) {
        failures++;
        fprintf(stderr, "FAIL %s (files kept in %s)\n", name, m.dir);
        setenv("RT_KEEP", "1", 1);
    } else {
        printf("ok   %s\n", name);
    }
    rt_mesh_cleanup(&m);
    unsetenv("RT_KEEP");
}

int main(void)
{
    run("fan_out_with_back_pressure", scenario_fan_out);
    run("kill9_then_restart_exactly_once", scenario_kill_restart);
    run("sigterm_drains_input", scenario_drain);
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
