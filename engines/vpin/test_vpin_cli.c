/* End-to-end tests of mesh-vpin: a small CSV written here, rows compared with
 * hand-computed values; bad rows reported with their line numbers (stop and
 * skip modes); usage errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char bin[4096];

static void setup(void)
{
    const char *root = getenv("MESH_BUILD_ROOT");
    cr_assert(root != NULL, "MESH_BUILD_ROOT is not set (run through meson test)");
    snprintf(bin, sizeof(bin), "%s/engines/vpin/mesh-vpin", root);
    cr_assert(access(bin, X_OK) == 0, "%s is not built", bin);
    strcpy(dir, "/tmp/test_vpin_cli.XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
}

static void teardown(void)
{
    char path[128];
    const char *names[] = {"in.csv", "out.csv", "err.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

TestSuite(vpin_cli, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs mesh-vpin with extra args (NULL-terminated) after --input/--output;
 * stderr goes to err.txt. Returns the exit status. */
static int run_cli(const char *const *extra)
{
    char in[128], out[128], err[128];
    snprintf(in, sizeof(in), "%s/in.csv", dir);
    snprintf(out, sizeof(out), "%s/out.csv", dir);
    snprintf(err, sizeof(err), "%s/err.txt", dir);
    const char *argv[32] = {bin, "--input", in, "--output", out};
    int argc = 5;
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (freopen(err, "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "mesh-vpin died");
    return WEXITSTATUS(status);
}

/* The trades of test_vpin.c's hand-worked case for A (T0 = 1700000000 s),
 * interleaved with B trading at a constant price. */
static const char *good_rows[] = {
    "1700000000100000000,A,100,5\n", "1700000000500000000,B,20,1\n",
    "1700000001200000000,A,101,7\n", "1700000001500000000,B,20,10\n",
    "1700000002500000000,A,100,4\n", "1700000002600000000,B,20,10\n",
    "1700000003300000000,A,102,3\n", "1700000003500000000,B,20,10\n",
    "1700000003900000000,A,102,5\n", "1700000004000000000,A,101,28\n",
};

static void write_trades(const char *bad_row, int bad_before)
{
    char text[4096] = "ts_ns,symbol,price,size\n";
    for (int i = 0; i < 10; i++) {
        if (bad_row && i == bad_before)
            strcat(text, bad_row);
        strcat(text, good_rows[i]);
    }
    write_file("in.csv", text);
}

static const char *const hand_args[] = {
    "--bar-seconds",    "1", "--bucket-volume", "10",   "--window", "2",
    "--min-sigma-bars", "2", "--sigma-bars",    "1000", NULL};

/* Finds the row "sym,bucket,..." and splits its 9 fields. */
static int find_row(char *csv, const char *sym, int bucket, char fields[9][64])
{
    char key[32];
    snprintf(key, sizeof(key), "\n%s,%d,", sym, bucket);
    char *p = strstr(csv, key);
    if (p == NULL)
        return 0;
    p++;
    for (int i = 0; i < 9; i++) {
        size_t n = strcspn(p, ",\n");
        cr_assert(n < 64);
        memcpy(fields[i], p, n);
        fields[i][n] = '\0';
        p += n + (p[n] == ',' ? 1 : 0);
        if (i < 8)
            cr_assert(p[-1] == ',', "row %s,%d has fewer than 9 fields", sym, bucket);
    }
    return 1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static double phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* Checks out.csv against the hand-worked values (see test_vpin.c):
 * A: z2 = Phi(-1/sqrt 2), z3 = Phi(2/sqrt(7/3)), z4 = Phi(-2/3); buckets
 *    1..3 full-window rows, end 4.0 s, buy 2 z3 + 8 z4 / 10 z4 / 10 z4,
 *    VPIN 0.255820 / 0.364556 / 0.495015.
 *    Kyle's lambda after the last bar: the CSV has no aggressor side, so each
 *    trade is signed by the tick rule (sign of price minus the last different
 *    price): 100 (first trade: 0), 101 (+), 100 (-), 102 (+), 102 (zero tick:
 *    +, as the last change), 101 (-). Per bar (signed flow q, dP) over every
 *    bar with a dP: bar1 (+7, +1), bar2 (-4, -1), bar3 (+3 + 5 = +8, +2),
 *    bar4 (-28, -1). Means q -17/4, dP 1/4; deviations q 11.25, 0.25, 12.25,
 *    -23.75 and dP 0.75, -1.25, 1.75, -1.25: Sxx = 126.5625 + 0.0625 +
 *    150.0625 + 564.0625 = 840.75, Sxy = 8.4375 - 0.3125 + 21.4375 + 29.6875
 *    = 59.25: lambda = 59.25 / 840.75 = 79 / 1121 = 0.0704728.
 * B: constant price, z = 0.5: bucket0 (2.6 s, not a full window) and bucket1
 *    (3.5 s): buy 5, sell 5, VPIN 0; no lambda (no price change, so the tick
 *    rule signs nothing: all q = 0). */
static void check_hand_output(void)
{
    char *csv = read_file("out.csv"), f[9][64];
    cr_assert(csv != NULL);
    const char *header =
        "symbol,bucket,end_ts_ns,buy_volume,sell_volume,vpin,cdf,alert,kyle_lambda\n";
    cr_assert(strncmp(csv, header, strlen(header)) == 0, "header: %.80s", csv);
    cr_assert_eq(count_lines(csv), 5, "rows:\n%s", csv); /* header + A1..3 + B1 */
    cr_assert(!find_row(csv, "A", 0, f), "bucket 0 has no full window");
    double z3 = phi(2 / sqrt(7.0 / 3.0)), z4 = phi(-2.0 / 3.0);
    const double buy[4] = {0, 2 * z3 + 8 * z4, 10 * z4, 10 * z4};
    const double vpin[4] = {0, 0.255820, 0.364556, 0.495015};
    for (int k = 1; k <= 3; k++) {
        cr_assert(find_row(csv, "A", k, f), "row A,%d missing:\n%s", k, csv);
        cr_assert_str_eq(f[2], "1700000004000000000");
        cr_assert_float_eq(strtod(f[3], NULL), buy[k], 1e-12);
        cr_assert_float_eq(strtod(f[4], NULL), 10 - buy[k], 1e-12);
        cr_assert_float_eq(strtod(f[5], NULL), vpin[k], 1e-6);
        cr_assert_str_eq(f[6], "", "cdf needs 10 values by default");
        cr_assert_str_eq(f[7], "0");
        cr_assert_float_eq(strtod(f[8], NULL), 79.0 / 1121.0, 1e-15);
    }
    cr_assert(find_row(csv, "B", 1, f), "row B,1 missing:\n%s", csv);
    cr_assert_str_eq(f[2], "1700000003500000000");
    cr_assert_str_eq(f[3], "5");
    cr_assert_str_eq(f[4], "5");
    cr_assert_str_eq(f[5], "0");
    cr_assert_str_eq(f[8], "");
    free(csv);
}

Test(vpin_cli, hand_worked_csv_end_to_end)
{
    write_trades(NULL, 0);
    cr_assert_eq(run_cli(hand_args), 0);
    check_hand_output();
}

Test(vpin_cli, bad_row_stops_with_its_line_number)
{
    /* header = line 1, good rows 2..4, the bad row is line 5 */
    write_trades("1700000001300000000,A,abc,5\n", 3);
    cr_assert_eq(run_cli(hand_args), 1);
    char *err = read_file("err.txt");
    cr_assert(strstr(err, "in.csv:5:") != NULL, "stderr: %s", err);
    cr_assert(strstr(err, "price") != NULL, "stderr: %s", err);
    free(err);
}

Test(vpin_cli, bad_rows_skipped_are_reported_and_the_rest_processed)
{
    /* line 5: price not a number; skipped, the output equals the clean run */
    write_trades("1700000001300000000,A,abc,5\n", 3);
    const char *args[16];
    int n = 0;
    for (; hand_args[n]; n++)
        args[n] = hand_args[n];
    args[n++] = "--bad-rows";
    args[n++] = "skip";
    args[n] = NULL;
    cr_assert_eq(run_cli(args), 0);
    char *err = read_file("err.txt");
    cr_assert(strstr(err, "in.csv:5:") != NULL, "stderr: %s", err);
    cr_assert(strstr(err, "1 bad rows skipped") != NULL, "stderr: %s", err);
    free(err);
    check_hand_output();

    /* line 7: a timestamp going backwards is a bad row too */
    write_trades("1700000000000000001,B,20,1\n", 5);
    cr_assert_eq(run_cli(args), 0);
    err = read_file("err.txt");
    cr_assert(strstr(err, "in.csv:7:") != NULL, "stderr: %s", err);
    free(err);
    check_hand_output();
}

Test(vpin_cli, usage_errors_and_help)
{
    write_trades(NULL, 0);
    const char *bad_window[] = {"--window", "0", NULL};
    cr_assert_eq(run_cli(bad_window), 2);
    char *err = read_file("err.txt");
    cr_assert(strstr(err, "--window") != NULL, "stderr: %s", err);
    free(err);
    const char *bad_num[] = {"--bucket-volume", "12x", NULL};
    cr_assert_eq(run_cli(bad_num), 2);
    const char *bad_mode[] = {"--bad-rows", "maybe", NULL};
    cr_assert_eq(run_cli(bad_mode), 2);
    const char *m_over_s[] = {"--sigma-bars", "10", "--min-sigma-bars", "11", NULL};
    cr_assert_eq(run_cli(m_over_s), 2);
    const char *help[] = {"--help", NULL};
    cr_assert_eq(run_cli(help), 0);
    write_file("in.csv", "a,b\n1,2\n");
    cr_assert_eq(run_cli(NULL), 1);
    err = read_file("err.txt");
    cr_assert(strstr(err, "in.csv:1:") != NULL, "stderr: %s", err);
    free(err);
}
