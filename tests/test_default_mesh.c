/* End to end with the real engines: the default mesh of deploy/mesh.yaml
 * (synthetic market -> features, vpin -> monitor) runs under meshd and
 * publishes VPIN updates and feature vectors that meshctl can tail (the
 * vectors saying they come from 10 s bars); marketdata's CSV replay
 * reports bad rows with their line numbers and skips or stops as configured. */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

/* The engine binaries live in per-engine build folders. */
static void use_engine_binaries(th_mesh *h)
{
    char a[512], b[512], c[512], d[512], t[512];
    snprintf(h->bindir, sizeof(h->bindir), "%s:%s:%s:%s:%s",
             th_build_path("engines/marketdata", a, sizeof(a)),
             th_build_path("engines/features", b, sizeof(b)),
             th_build_path("engines/vpin", c, sizeof(c)),
             th_build_path("engines/monitor", d, sizeof(d)),
             th_build_path("tests/engines", t, sizeof(t)));
}

/* deploy/mesh.yaml from `engines:` on (the harness writes its own `mesh:`). */
static char *default_mesh_body(void)
{
    const char *root = getenv("MESH_SOURCE_ROOT");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/mesh.yaml", root ? root : ".");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    static char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *body = strstr(text, "\nengines:");
    cr_assert_not_null(body, "%s has no engines: section", path);
    return body + 1;
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long n = 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        n += ch == '\n';
    fclose(f);
    return n;
}

static int log_contains(const char *needle)
{
    FILE *f = fopen(H.log, "r");
    if (f == NULL)
        return 0;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

Test(default_mesh, runs_every_engine_and_publishes_vpin_that_meshctl_tails, .fini = fini,
     .timeout = 180)
{
    th_init(&H);
    use_engine_binaries(&H);
    th_write_config(&H, "", default_mesh_body());
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 60000), "mesh never ready (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st);
    static const char *const engines[] = {"marketdata", "features", "vpin", "monitor"};
    for (size_t i = 0; i < 4; i++) {
        const sup_jval *e = th_engine(st, engines[i]);
        cr_assert_not_null(e, "engine %s missing from status", engines[i]);
        cr_assert_str_eq(sup_jval_gstr(e, "state", ""), "ready", "%s", engines[i]);
    }
    sup_jval_free(st);

    /* The synthetic market reaches VPIN's warm-up within seconds (60x market
     * time): VPIN updates and feature vectors flow to the monitor. */
    th_cond vpin_out = {.engine = "vpin", .field = "msgs_out", .value = 20};
    cr_assert(th_wait_status(&H, th_cond_holds, &vpin_out, 90000), "no VPIN updates (log %s)",
              H.log);
    th_cond features_out = {.engine = "features", .field = "msgs_out", .value = 20};
    cr_assert(th_wait_status(&H, th_cond_holds, &features_out, 30000), "no feature vectors");
    th_cond monitor_in = {.engine = "monitor", .field = "msgs_in", .value = 40};
    cr_assert(th_wait_status(&H, th_cond_holds, &monitor_in, 30000), "monitor got nothing");

    /* meshctl tail decodes live VPIN updates to JSON without the engine's help. */
    char meshctl[512], out[65536], err[4096];
    th_build_path("tools/meshctl/meshctl", meshctl, sizeof(meshctl));
    char *argv[] = {meshctl,   "--socket", H.socket,    "tail",  "vpin",
                    "--count", "3",        "--timeout", "60000", NULL};
    cr_assert_eq(th_run(argv, out, sizeof(out), err, sizeof(err), 90000), 0, "tail: %s", err);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cr_assert(strstr(line, "\"type\":\"vpin\"") != NULL, "%s", line);
        char *v = strstr(line, "\"vpin\":");
        cr_assert_not_null(v, "%s", line);
        double vpin = strtod(v + 7, NULL);
        cr_assert(vpin >= 0.0 && vpin <= 1.0, "VPIN %g outside [0, 1]: %s", vpin, line);
    }
    cr_assert_eq(lines, 3);

    /* Feature vectors say what produced them: deploy/mesh.yaml runs features
     * with --bar-seconds 10 and the default cadence (a vector per bar). */
    char *fargv[] = {meshctl,   "--socket", H.socket,    "tail",  "features",
                     "--count", "2",        "--timeout", "60000", NULL};
    cr_assert_eq(th_run(fargv, out, sizeof(out), err, sizeof(err), 90000), 0, "tail: %s", err);
    lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cr_assert(strstr(line, "\"type\":\"features\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"source\":\"FEATURE_SOURCE_BAR\"") != NULL, "%s", line);
        cr_assert(strstr(line, "\"bar_interval_ns\":10000000000") != NULL, "%s", line);
    }
    cr_assert_eq(lines, 2);

    cr_assert_eq(th_stop(&H, 30000), 0, "meshd did not stop cleanly (log %s)", H.log);
    cr_assert_eq(th_shm_count(&H), 0, "shared memory left behind");
}

/* 3 good rows, a bad price on line 5, 2 more good rows. */
static const char replay_csv[] = "ts_ns,symbol,price,size\n"
                                 "1700000000000000000,AAA,10.00,100\n"
                                 "1700000000100000000,AAA,10.01,200\n"
                                 "1700000000200000000,BBB,20.00,300\n"
                                 "1700000000300000000,AAA,abc,100\n"
                                 "1700000000400000000,BBB,20.02,400\n"
                                 "1700000000500000000,AAA,10.02,500\n";

static void run_replay(const char *policy, long expect_trades, const char *expect_log)
{
    th_init(&H);
    use_engine_binaries(&H);
    char csv[400], body[2048];
    snprintf(csv, sizeof(csv), "%s/trades.csv", H.dir);
    FILE *f = fopen(csv, "w");
    cr_assert_not_null(f);
    fputs(replay_csv, f);
    fclose(f);
    snprintf(body, sizeof(body),
             "engines:\n"
             "  - name: marketdata\n"
             "    args: [--csv, @DIR@/trades.csv, --speed, '0', --csv-errors, %s]\n"
             "  - name: sink\n"
             "    binary: test-consumer\n"
             "    args: [--out, @DIR@/sink.out, --buffer-lines, '1']\n"
             "    depends_on: [marketdata]\n"
             "routes:\n"
             "  - {from: marketdata, to: sink, types: [trade]}\n",
             policy);
    th_write_config(&H, "", body);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 30000), "mesh never ready (log %s)", H.log);
    th_cond got = {.engine = "sink", .field = "msgs_in", .value = (double)expect_trades};
    cr_assert(th_wait_status(&H, th_cond_holds, &got, 30000), "sink got too few (log %s)", H.log);
    cr_assert_eq(th_stop(&H, 30000), 0);
    char out[400];
    snprintf(out, sizeof(out), "%s/sink.out", H.dir);
    cr_assert_eq(count_lines(out), expect_trades, "trades delivered");
    cr_assert(log_contains("trades.csv:5:"), "bad row's line not reported (log %s)", H.log);
    cr_assert(log_contains(expect_log), "'%s' not in log %s", expect_log, H.log);
}

Test(default_mesh, csv_replay_skips_a_bad_row_and_names_its_line, .fini = fini, .timeout = 90)
{
    run_replay("skip", 5, "(row skipped)");
}

Test(default_mesh, csv_replay_stops_at_a_bad_row_when_asked, .fini = fini, .timeout = 90)
{
    run_replay("stop", 3, "replay stopped");
}
