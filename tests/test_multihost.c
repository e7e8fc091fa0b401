/* Two meshes (two meshd supervisors, different mesh names) joined by an
 * off-host route over nng TCP on loopback: test-producer on mesh A, the nng
 * bridge of each mesh, test-consumer on mesh B. Every message arrives once and
 * in order, also when B's bridge is killed mid-stream (wait policy: the link
 * reconnects and resends what B had not acknowledged). */
#include "mesh_harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static th_mesh A, B;

static void fini(void)
{
    th_cleanup_all();
}

/* A free TCP port on 127.0.0.1 (bound to port 0, read back, released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void use_binaries(th_mesh *h)
{
    char t[512], b[512];
    snprintf(h->bindir, sizeof(h->bindir), "%s:%s", th_build_path("tests/engines", t, sizeof(t)),
             th_build_path("bridge", b, sizeof(b)));
}

/* Reads the consumer's "<producer> <seq> <counter>" lines: checks every
 * counter 1..n (test-producer counts from 1) arrived exactly once and in
 * increasing order. */
static void check_all_once_in_order(const char *path, long n)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no consumer output %s", path);
    char prod[64];
    unsigned long long seq, counter;
    long lines = 0;
    long long last = 0;
    while (fscanf(f, "%63s %llu %llu", prod, &seq, &counter) == 3) {
        cr_assert_eq((long long)counter, last + 1, "line %ld: counter %llu after %lld", lines + 1,
                     counter, last);
        last = (long long)counter;
        lines++;
    }
    fclose(f);
    cr_assert_eq(lines, n, "messages received");
}

static pid_t engine_pid(th_mesh *h, const char *name)
{
    sup_jval *st = th_request(h, "status");
    cr_assert_not_null(st);
    const sup_jval *e = th_engine(st, name);
    cr_assert_not_null(e, "no engine %s", name);
    pid_t pid = (pid_t)sup_jval_gnum(e, "pid", 0);
    sup_jval_free(st);
    return pid;
}

static void start_pair(long count, long rate)
{
    int port_b = free_port(), port_a = free_port();
    char mesh_b[256], body_a[1024], body_b[1024];
    th_init(&A);
    th_init(&B);
    use_binaries(&A);
    use_binaries(&B);
    snprintf(mesh_b, sizeof(mesh_b), "  listen: tcp://127.0.0.1:%d\n", port_b);
    snprintf(body_b, sizeof(body_b),
             "engines:\n"
             "  - {name: cons, binary: test-consumer, args: [--out, @DIR@/cons.out]}\n"
             "routes:\n"
             "  - {from: prod, to: cons, peer: a, types: [trade]}\n"
             "peers:\n"
             "  - {name: a, address: 'tcp://127.0.0.1:%d'}\n",
             port_a);
    snprintf(body_a, sizeof(body_a),
             "engines:\n"
             "  - name: prod\n"
             "    binary: test-producer\n"
             "    args: [--count, '%ld', --rate, '%ld']\n"
             "routes:\n"
             "  - {from: prod, to: cons, peer: b, types: [trade]}\n"
             "peers:\n"
             "  - {name: b, address: 'tcp://127.0.0.1:%d'}\n",
             count, rate, port_b);
    th_write_config(&B, mesh_b, body_b);
    th_write_config(&A, "", body_a);
    th_start(&B, NULL);
    cr_assert(th_wait_ready(&B, 30000), "mesh B never ready (log %s)", B.log);
    th_start(&A, NULL);
    cr_assert(th_wait_ready(&A, 30000), "mesh A never ready (log %s)", A.log);
}

static void stop_pair(void)
{
    cr_assert_eq(th_stop(&A, 30000), 0, "mesh A (log %s)", A.log);
    cr_assert_eq(th_stop(&B, 30000), 0, "mesh B (log %s)", B.log);
    cr_assert_eq(th_shm_count(&A) + th_shm_count(&B), 0, "shared memory left behind");
}

Test(multihost, every_message_crosses_two_meshes_once_and_in_order, .fini = fini, .timeout = 120)
{
    long n = (long)(20000 * th_scale()) + 100;
    start_pair(n, 0);
    th_cond done = {.engine = "cons", .field = "msgs_in", .value = (double)n};
    cr_assert(th_wait_status(&B, th_cond_holds, &done, 60000), "B got too few (logs %s %s)", A.log,
              B.log);
    char out[400];
    snprintf(out, sizeof(out), "%s/cons.out", B.dir);
    stop_pair();
    check_all_once_in_order(out, n);
}

Test(multihost, killing_the_receiving_bridge_mid_stream_loses_nothing, .fini = fini, .timeout = 180)
{
    long n = (long)(100000 * th_scale()) + 1000;
    start_pair(n, n / 8); /* about 8 s of stream */
    th_cond some = {.engine = "cons", .field = "msgs_in", .value = (double)n / 4};
    cr_assert(th_wait_status(&B, th_cond_holds, &some, 60000), "stream never got going");
    pid_t bridge = engine_pid(&B, "bridge");
    cr_assert_gt(bridge, 0);
    cr_assert_eq(kill(bridge, SIGKILL), 0);
    th_cond back = {.engine = "bridge", .field = "restarts", .value = 1};
    cr_assert(th_wait_status(&B, th_cond_holds, &back, 30000), "B's bridge not restarted");
    th_cond done = {.engine = "cons", .field = "msgs_in", .value = (double)n};
    cr_assert(th_wait_status(&B, th_cond_holds, &done, 90000), "B got too few (logs %s %s)", A.log,
              B.log);
    char out[400];
    snprintf(out, sizeof(out), "%s/cons.out", B.dir);
    stop_pair();
    check_all_once_in_order(out, n);
}

/* Counts the lines of a test-consumer --out file. */
static long out_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

Test(multihost, restarting_the_receiving_mesh_mid_stream_loses_nothing, .fini = fini,
     .timeout = 240)
{
    long n = (long)(100000 * th_scale()) + 1000;
    start_pair(n, n / 8); /* about 8 s of stream */
    th_cond some = {.engine = "cons", .field = "msgs_in", .value = (double)n / 4};
    cr_assert(th_wait_status(&B, th_cond_holds, &some, 60000), "stream never got going");
    /* meshd stops the consumer first (it drains), then the bridge, which
     * acknowledges what was consumed; the new mesh B has new rings and a new
     * bridge state, and A resends what B had not consumed */
    cr_assert_eq(th_stop(&B, 30000), 0, "mesh B (log %s)", B.log);
    th_start(&B, NULL);
    cr_assert(th_wait_ready(&B, 30000), "mesh B did not start again (log %s)", B.log);
    char out[400];
    snprintf(out, sizeof(out), "%s/cons.out", B.dir);
    for (int i = 0; i < 9000 && out_lines(out) < n; i++) /* bounded: 90 s */
        usleep(10000);
    stop_pair();
    check_all_once_in_order(out, n);
}
