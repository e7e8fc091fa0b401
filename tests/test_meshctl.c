/* meshctl against a running mesh: status (table and JSON), rings, tail,
 * start/stop/restart, reload (safe changes applied, route changes refused),
 * stop-mesh, and a clear error when no meshd is there. */
#include "mesh_harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_mesh H;
static char out[1 << 16], err[1 << 14];

static void fini(void)
{
    th_cleanup_all();
}

/* Runs meshctl --socket <ours> args...; returns its exit code. */
static int meshctl(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    char bin[512];
    char *argv[10] = {(char *)th_build_path("tools/meshctl/meshctl", bin, sizeof(bin)), "--config",
                      H.config};
    int n = 3;
    for (const char *const *a = (const char *const[]){a1, a2, a3, a4, a5}; n < 8 && *a; a++)
        argv[n++] = (char *)*a;
    argv[n] = NULL;
    return th_run(argv, out, sizeof(out), err, sizeof(err), 30000);
}

/* Producer at 2000 msg/s into a deliberately slow consumer, so the ring
 * always holds a backlog for rings and tail to see. */
static const char flow[] = "engines:\n"
                           "  - name: prod\n    binary: test-producer\n"
                           "    args: [--count, '100000', --rate, '2000']\n"
                           "  - name: cons\n    binary: test-consumer\n"
                           "    args: [--out, @DIR@/cons.out, --slow-us, '2000']\n"
                           "    depends_on: [prod]\n"
                           "routes:\n  - from: prod\n    to: cons\n    types: [trade]\n";

static void start_flow(void)
{
    th_init(&H);
    /* meshctl --config loads the config, binaries included, as meshd does */
    setenv("MESH_SEARCH_PATH", H.bindir, 1);
    th_write_config(&H, "", flow);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
}

Test(meshctl, status_lists_every_engine_as_table_and_json, .fini = fini, .timeout = 60)
{
    start_flow();
    cr_assert_eq(meshctl("status", NULL, NULL, NULL, NULL), 0, "%s", err);
    cr_assert(strstr(out, "ENGINE"), "%s", out);
    cr_assert(strstr(out, "prod") && strstr(out, "cons"), "%s", out);
    cr_assert(strstr(out, "ready"), "%s", out);
    cr_assert_eq(meshctl("status", "--json", NULL, NULL, NULL), 0);
    sup_jval *v = NULL;
    cr_assert_eq(sup_jval_parse(&v, out, strlen(out), NULL, 0), 0, "%s", out);
    cr_assert_eq(sup_jval_len(sup_jval_get(v, "engines")), 2u);
    cr_assert_gt(sup_jval_gnum(th_engine(v, "cons"), "pid", 0), 0);
    sup_jval_free(v);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshctl, rings_shows_traffic_and_a_rate, .fini = fini, .timeout = 60)
{
    start_flow();
    cr_assert_eq(meshctl("rings", NULL, NULL, NULL, NULL), 0, "%s", err);
    cr_assert(strstr(out, "prod -> cons"), "%s", out);
    cr_assert_eq(meshctl("rings", "--json", "--interval", "500", NULL), 0, "%s", err);
    sup_jval *v = NULL;
    cr_assert_eq(sup_jval_parse(&v, out, strlen(out), NULL, 0), 0, "%s", out);
    const sup_jval *r = sup_jval_at(sup_jval_get(v, "rings"), 0);
    cr_assert_str_eq(sup_jval_gstr(r, "from", ""), "prod");
    cr_assert_gt(sup_jval_gnum(r, "messages", 0), 0);
    /* the producer runs at 2000/s: any positive rate shows it was measured */
    cr_assert_gt(sup_jval_gnum(r, "rate", 0), 0);
    cr_assert_gt(sup_jval_gnum(r, "capacity", 0), 0);
    sup_jval_free(v);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshctl, tail_prints_live_messages_as_json, .fini = fini, .timeout = 60)
{
    start_flow();
    cr_assert_eq(meshctl("tail", "trade", "--count", "3", NULL), 0, "%s", err);
    int lines = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        sup_jval *v = NULL;
        cr_assert_eq(sup_jval_parse(&v, l, strlen(l), NULL, 0), 0, "not JSON: %s", l);
        cr_assert_str_eq(sup_jval_gstr(v, "type", ""), "trade");
        cr_assert_str_eq(sup_jval_gstr(v, "venue", ""), "prod", "test-producer sets venue");
        cr_assert_gt(sup_jval_gnum(v, "seq", 0), 0);
        sup_jval_free(v);
        lines++;
    }
    cr_assert_eq(lines, 3);
    cr_assert_eq(meshctl("tail", "nosuchtype", NULL, NULL, NULL), 2);
    cr_assert(strstr(err, "unknown message type"), "%s", err);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

/* tail observes a live stream (5000 trades at 2000/s) without touching the
 * consumer: the consumer still gets every trade once, in order. */
Test(meshctl, tail_does_not_disturb_the_consumer, .fini = fini, .timeout = 90)
{
    enum { N = 5000 };
    char body[1024];
    th_init(&H);
    setenv("MESH_SEARCH_PATH", H.bindir, 1);
    snprintf(body, sizeof(body),
             "engines:\n"
             "  - name: prod\n    binary: test-producer\n    args: [--count, '%d', --rate, "
             "'2000']\n"
             "  - name: cons\n    binary: test-consumer\n    args: [--out, @DIR@/cons.out]\n"
             "    depends_on: [prod]\n"
             "routes:\n  - from: prod\n    to: cons\n    types: [trade]\n",
             N);
    th_write_config(&H, "", body);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    /* runs while the producer publishes; it may fall behind (and say so) */
    meshctl("tail", "trade", "--count", "2000", "--timeout=10000");
    int shown = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
        shown += strstr(l, "\"venue\":\"prod\"") != NULL;
    cr_assert_gt(shown, 0, "tail showed no trade: %s", err);
    char path[400];
    unsigned missing = 0;
    snprintf(path, sizeof(path), "%s/cons.out", H.dir);
    cr_assert_eq(th_wait_all_counters(path, N, 30000, &missing), 0,
                 "trade %u missing or duplicated at the consumer", missing);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char prod[64];
    unsigned long long seq, c, want = 1;
    while (fscanf(f, "%63s %llu %llu", prod, &seq, &c) == 3) {
        cr_assert_eq(c, want, "trade %llu arrived where %llu was due", c, want);
        cr_assert_eq(seq, want, "ring seq %llu where %llu was due", seq, want);
        want++;
    }
    fclose(f);
    cr_assert_eq(want, (unsigned long long)N + 1);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

static int state_is(const char *engine, const char *state)
{
    th_cond c = {.engine = engine, .field = "state", .str = state};
    return th_wait_status(&H, th_cond_holds, &c, 20000);
}

Test(meshctl, stop_start_and_restart_an_engine, .fini = fini, .timeout = 90)
{
    start_flow();
    cr_assert_eq(meshctl("stop", "cons", NULL, NULL, NULL), 0, "%s", err);
    cr_assert(state_is("cons", "down"));
    cr_assert_eq(meshctl("stop", "cons", NULL, NULL, NULL), 1, "stopping a down engine");
    cr_assert(strstr(err, "already down"), "%s", err);
    cr_assert_eq(meshctl("start", "cons", NULL, NULL, NULL), 0, "%s", err);
    cr_assert(state_is("cons", "ready"));
    cr_assert_eq(meshctl("restart", "cons", NULL, NULL, NULL), 0, "%s", err);
    th_cond two = {.engine = "cons", .field = "starts", .value = 3};
    cr_assert(th_wait_status(&H, th_cond_holds, &two, 20000));
    cr_assert(state_is("cons", "ready"));
    cr_assert_eq(meshctl("start", "nobody", NULL, NULL, NULL), 1);
    cr_assert(strstr(err, "no engine named 'nobody'"), "%s", err);
    cr_assert_eq(meshctl("stop-mesh", NULL, NULL, NULL, NULL), 0, "%s", err);
    cr_assert(strstr(out, "mesh stopped"), "%s", out);
    cr_assert_eq(th_wait_exit(&H, 30000), 0);
    cr_assert_eq(th_shm_count(&H), 0);
}

Test(meshctl, reload_applies_safe_changes_and_refuses_route_changes, .fini = fini, .timeout = 90)
{
    start_flow();
    /* add an engine without routes: started */
    char body[2048];
    snprintf(body, sizeof(body), "%s", flow);
    char *routes = strstr(body, "routes:");
    char tail_part[512];
    snprintf(tail_part, sizeof(tail_part), "%s", routes);
    snprintf(routes, sizeof(body) - (size_t)(routes - body),
             "  - name: extra\n    binary: test-producer\n    args: [--count, '1']\n%s", tail_part);
    th_write_config(&H, "", body);
    cr_assert_eq(meshctl("reload", NULL, NULL, NULL, NULL), 0, "%s", err);
    cr_assert(strstr(out, "added extra"), "%s", out);
    cr_assert(state_is("extra", "ready"));
    /* change the route's ring size: refused, the mesh keeps running as it was */
    char *ring = strstr(body, "types: [trade]");
    cr_assert_not_null(ring);
    snprintf(ring, sizeof(body) - (size_t)(ring - body), "types: [trade]\n    ring_bytes: 8192\n");
    th_write_config(&H, "", body);
    cr_assert_eq(meshctl("reload", NULL, NULL, NULL, NULL), 1);
    cr_assert(strstr(err, "rings cannot change"), "%s", err);
    cr_assert(state_is("extra", "ready"));
    cr_assert(state_is("cons", "ready"));
    cr_assert_eq(th_stop(&H, 30000), 0);
}

/* The consumer (2 ms per trade: 2000 take 4 s) is stopped early, the small
 * ring filling behind it; the file then loses the route (reload refused:
 * meshd keeps the old config). The consumer started again must run the
 * config meshd runs, not the file: it still has its input and receives all
 * 2000 trades, each once. */
Test(meshctl, refused_reload_never_reaches_a_restarted_engine, .fini = fini, .timeout = 90)
{
    static const char cfg[] = "engines:\n"
                              "  - name: prod\n    binary: test-producer\n"
                              "    args: [--count, '2000']\n"
                              "  - name: cons\n    binary: test-consumer\n"
                              "    args: [--out, @DIR@/cons.out, --slow-us, '2000']\n"
                              "    depends_on: [prod]\n";
    char body[1024], path[400];
    th_init(&H);
    setenv("MESH_SEARCH_PATH", H.bindir, 1);
    snprintf(body, sizeof(body),
             "%sroutes:\n  - from: prod\n    to: cons\n    types: [trade]\n"
             "    ring_bytes: 4096\n",
             cfg);
    th_write_config(&H, "", body);
    snprintf(path, sizeof(path), "%s/cons.out", H.dir);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    cr_assert_eq(meshctl("stop", "cons", NULL, NULL, NULL), 0, "%s", err);
    cr_assert(state_is("cons", "down"));
    unsigned counts[2001] = {0};
    cr_assert_lt(th_read_counters(path, counts, 2001), 2000, "the rest must come after the start");
    th_write_config(&H, "", cfg); /* the route is gone from the file */
    cr_assert_eq(meshctl("reload", NULL, NULL, NULL, NULL), 1, "a removed route must be refused");
    cr_assert(strstr(err, "removed"), "%s", err);
    cr_assert_eq(meshctl("start", "cons", NULL, NULL, NULL), 0, "%s", err);
    cr_assert(state_is("cons", "ready"));
    unsigned missing = 0;
    long dups = th_wait_all_counters(path, 2000, 30000, &missing);
    cr_assert_geq(dups, 0, "trade %u never reached the restarted consumer (log %s)", missing,
                  H.log);
    cr_assert_eq(dups, 0, "%ld duplicates", dups);
    cr_assert_eq(th_stop(&H, 30000), 0);
}

Test(meshctl, says_what_to_do_when_meshd_is_not_running, .timeout = 30)
{
    char bin[512];
    char *argv[] = {(char *)th_build_path("tools/meshctl/meshctl", bin, sizeof(bin)), "--socket",
                    "/tmp/no-such-mesh.sock", "status", NULL};
    cr_assert_eq(th_run(argv, out, sizeof(out), err, sizeof(err), 10000), 1);
    cr_assert(strstr(err, "/tmp/no-such-mesh.sock"), "%s", err);
    cr_assert(strstr(err, "is meshd running?"), "%s", err);
    char *usage[] = {argv[0], "frobnicate", NULL};
    cr_assert_eq(th_run(usage, out, sizeof(out), err, sizeof(err), 10000), 2);
}

Test(meshctl, metrics_endpoint_serves_prometheus_text, .fini = fini, .timeout = 60)
{
    /* a free port: bind to 0, read it back, release it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    char extra[128];
    snprintf(extra, sizeof(extra), "  metrics_listen: 127.0.0.1:%d\n", ntohs(sa.sin_port));
    th_init(&H);
    setenv("MESH_SEARCH_PATH", H.bindir, 1);
    th_write_config(&H, extra, flow);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000));
    s = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert_eq(write(s, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(s, out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(s);
    cr_assert(strncmp(out, "HTTP/1.0 200 OK", 15) == 0, "%s", out);
    cr_assert(strstr(out, "mesh_engine_state{engine=\"cons\",state=\"ready\"} 1"), "%s", out);
    cr_assert(strstr(out, "mesh_ring_messages_total{from=\"prod\",to=\"cons\"}"), "%s", out);
    cr_assert(strstr(out, "mesh_engine_handler_latency_seconds{engine=\"cons\",quantile=\"0.99\"}"),
              "%s", out);
    cr_assert_eq(th_stop(&H, 30000), 0);
}
