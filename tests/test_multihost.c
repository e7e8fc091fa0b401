/* Two meshes (two meshd supervisors, different mesh names) joined by an
 * off-host route over nng TCP on loopback: test-producer on mesh A, the nng
 * bridge of each mesh, test-consumer on mesh B. Every message arrives once and
 * in order, also when B's bridge is killed mid-stream (wait policy: the link
 * reconnects and resends what B had not acknowledged); the bridge counters
 * agree with the producer's count; meshctl shows them (status, rings, JSON)
 * and the metrics endpoint exports them. */
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

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read
 * back, released): another process may take it before meshd binds it, so
 * start_pair retries with new ports when a listener reports it in use. */
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

/* 1 if meshd's log says a listener could not bind its port. */
static int log_says_in_use(const th_mesh *h)
{
    char line[1024];
    int found = 0;
    FILE *f = fopen(h->log, "r");
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, "in use") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Starts mesh h and waits until it is ready (1), or its log says a port was
 * taken (0: stopped again, the caller picks new ports). */
static int start_or_port_taken(th_mesh *h)
{
    unlink(h->log); /* meshd appends: a retry must not see the last attempt's lines */
    th_start(h, NULL);
    for (int i = 0; i < 300; i++) { /* bounded: 30 s */
        if (th_wait_ready(h, 100))
            return 1;
        if (log_says_in_use(h)) {
            th_stop(h, 30000);
            return 0;
        }
    }
    cr_assert_fail("mesh %s never ready (log %s)", h->name, h->log);
    return 0;
}

static int metrics_port;

static void start_pair(long count, long rate)
{
    th_init(&A);
    th_init(&B);
    use_binaries(&A);
    use_binaries(&B);
    for (int attempt = 0;; attempt++) {
        cr_assert_lt(attempt, 5, "no free ports after 5 attempts (log %s)", B.log);
        int port_b = free_port(), port_a = free_port();
        metrics_port = free_port();
        char mesh_b[256], body_a[1024], body_b[1024];
        snprintf(mesh_b, sizeof(mesh_b),
                 "  listen: tcp://127.0.0.1:%d\n  metrics_listen: 127.0.0.1:%d\n", port_b,
                 metrics_port);
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
        if (!start_or_port_taken(&B))
            continue;
        th_start(&A, NULL); /* A listens on nothing: its bridge only dials */
        cr_assert(th_wait_ready(&A, 30000), "mesh A never ready (log %s)", A.log);
        return;
    }
}

/* The one off-host route's bridge counters from a mesh's status (meshctl
 * status --json gets the same reply), or NULL; *st is the caller's. */
static const sup_jval *route_counters(th_mesh *h, sup_jval **st)
{
    *st = th_request(h, "status");
    cr_assert_not_null(*st, "no status from %s", h->name);
    const sup_jval *br = sup_jval_get(*st, "bridge");
    cr_assert(br && br->type == SUP_J_OBJ, "status of %s has no bridge counters", h->name);
    return sup_jval_at(sup_jval_get(br, "routes"), 0);
}

static double counter(th_mesh *h, const char *name)
{
    sup_jval *st;
    double v = sup_jval_gnum(route_counters(h, &st), name, -1);
    sup_jval_free(st);
    return v;
}

/* Wait route, n records produced once: nothing missing, and what A sent
 * for the first time is what B's ring received (when B's ring lived
 * through the test: with_received). */
static void check_counters(long n, int with_received)
{
    cr_assert_eq(counter(&B, "gaps"), 0, "gaps on a wait route");
    cr_assert_eq(counter(&B, "rejected"), 0);
    cr_assert_eq(counter(&A, "sent") - counter(&A, "resent"), (double)n,
                 "A sent %.0f (%.0f of them again), the producer %ld", counter(&A, "sent"),
                 counter(&A, "resent"), n);
    if (with_received)
        cr_assert_eq(counter(&B, "received"), (double)n, "B's ring received");
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
    check_counters(n, 1);
    cr_assert_eq(counter(&A, "reconnects"), 0, "nothing went away");
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
    /* B's ring and bridge state lived on: what A sent once is what it got */
    check_counters(n, 1);
    cr_assert_geq(counter(&A, "reconnects"), 1, "A never counted the reconnection");
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
    check_counters(n, 0); /* the new B's ring has only what came after the restart */
    cr_assert_geq(counter(&A, "reconnects"), 1, "A never counted the reconnection");
    stop_pair();
    check_all_once_in_order(out, n);
}

/* Runs meshctl --config <h's> a1 a2 into out; returns its exit code. */
static int meshctl(th_mesh *h, const char *a1, const char *a2, char *out, size_t len)
{
    char bin[512], err[4096];
    char *argv[6] = {(char *)th_build_path("tools/meshctl/meshctl", bin, sizeof(bin)),
                     "--config",
                     h->config,
                     (char *)a1,
                     (char *)a2,
                     NULL};
    setenv("MESH_SEARCH_PATH", h->bindir, 1); /* meshctl --config loads binaries too */
    return th_run(argv, out, len, err, sizeof(err), 30000);
}

/* The table row of the off-host route: its numbers after "prod -> cons  peer dir link". */
static int table_row(const char *out, const char *dir, double *v, int nv)
{
    const char *p = strstr(out, "OFF-HOST ROUTE");
    p = p ? strstr(p, "prod -> cons") : NULL;
    char peer[32], d[8], link[8];
    if (!p || sscanf(p, "prod -> cons %31s %7s %7s", peer, d, link) != 3 || strcmp(d, dir) != 0)
        return 0;
    p = strstr(p, link) + strlen(link);
    for (int i = 0; i < nv; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p)
            return 0;
        p = end;
    }
    return strcmp(link, "up") == 0;
}

Test(multihost, meshctl_and_metrics_show_the_bridge_counters, .fini = fini, .timeout = 120)
{
    long n = 3000; /* the producer's count: the figures below are checked against it */
    start_pair(n, 0);
    th_cond done = {.engine = "cons", .field = "msgs_in", .value = (double)n};
    cr_assert(th_wait_status(&B, th_cond_holds, &done, 60000), "B got too few (log %s)", B.log);
    static char out[1 << 16];
    /* status table: SENT RECEIVED GAPS RECONNECTS DROPS REJECTED BAD FRAMES RESENT */
    double v[8];
    cr_assert_eq(meshctl(&B, "status", NULL, out, sizeof(out)), 0, "%s", out);
    cr_assert(table_row(out, "in", v, 8), "no inbound row in:\n%s", out);
    cr_assert_eq(v[1], (double)n, "RECEIVED\n%s", out);
    cr_assert(v[2] == 0 && v[4] == 0 && v[5] == 0 && v[6] == 0, "gaps/drops/rejected/bad\n%s", out);
    cr_assert(strstr(out, "bridge: ") && strstr(out, " 0 bad frame(s) before a route was known"),
              "%s", out);
    cr_assert_eq(meshctl(&A, "status", NULL, out, sizeof(out)), 0, "%s", out);
    cr_assert(table_row(out, "out", v, 8), "no outbound row in:\n%s", out);
    cr_assert_eq(v[0] - v[7], (double)n, "SENT - RESENT\n%s", out);
    /* status --json */
    cr_assert_eq(meshctl(&B, "status", "--json", out, sizeof(out)), 0);
    sup_jval *j = NULL;
    cr_assert_eq(sup_jval_parse(&j, out, strlen(out), NULL, 0), 0, "%s", out);
    const sup_jval *br = sup_jval_get(j, "bridge"), *r = sup_jval_at(sup_jval_get(br, "routes"), 0);
    cr_assert_eq(sup_jval_gnum(br, "bad_frames", -1), 0);
    cr_assert_eq(sup_jval_gnum(br, "hello_refused", -1), 0);
    cr_assert_str_eq(sup_jval_gstr(r, "direction", ""), "in");
    cr_assert_eq(sup_jval_gnum(r, "received", -1), (double)n);
    cr_assert_eq(sup_jval_gnum(r, "rejected", -1), 0);
    sup_jval_free(j);
    /* rings: the same row with REJECTED; JSON with the bridge-wide counters */
    cr_assert_eq(meshctl(&B, "rings", NULL, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "REJECTED"), "%s", out);
    cr_assert(table_row(out, "in", v, 8) && v[1] == (double)n, "%s", out);
    cr_assert_eq(meshctl(&B, "rings", "--json", out, sizeof(out)), 0);
    cr_assert_eq(sup_jval_parse(&j, out, strlen(out), NULL, 0), 0, "%s", out);
    cr_assert_eq(sup_jval_gnum(sup_jval_get(j, "bridge"), "bad_frames", -1), 0, "%s", out);
    r = sup_jval_get(sup_jval_at(sup_jval_get(j, "rings"), 0), "bridge");
    cr_assert_eq(sup_jval_gnum(r, "received", -1), (double)n, "%s", out);
    sup_jval_free(j);
    /* Prometheus */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)metrics_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert_eq(write(s, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    size_t got = 0;
    ssize_t k;
    while (got < sizeof(out) - 1 && (k = read(s, out + got, sizeof(out) - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(s);
    char want[256];
    snprintf(want, sizeof(want),
             "mesh_bridge_received_total{from=\"prod\",to=\"cons\",peer=\"a\",direction=\"in\"} "
             "%ld\n",
             n);
    cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
    cr_assert(strstr(out, "mesh_bridge_gaps_total{from=\"prod\",to=\"cons\",peer=\"a\","
                          "direction=\"in\"} 0\n"),
              "%s", out);
    cr_assert(strstr(out, "mesh_bridge_unrouted_bad_frames_total 0\n"), "%s", out);
    stop_pair();
}
