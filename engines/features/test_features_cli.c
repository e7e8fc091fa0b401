/* End-to-end test of mesh-features on a small CSV written here: rows compared
 * with hand-computed values; a bad row stops with its line number. */
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
    snprintf(bin, sizeof(bin), "%s/engines/features/mesh-features", root);
    cr_assert(access(bin, X_OK) == 0, "%s is not built", bin);
    strcpy(dir, "/tmp/test_features_cli.XXXXXX");
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

TestSuite(features_cli, .init = setup, .fini = teardown);

static void write_input(const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s missing", name);
    char *buf = calloc(1, 1 << 16);
    buf[fread(buf, 1, (1 << 16) - 1, f)] = '\0';
    fclose(f);
    return buf;
}

static int run_cli(void)
{
    char in[128], out[128], err[128];
    snprintf(in, sizeof(in), "%s/in.csv", dir);
    snprintf(out, sizeof(out), "%s/out.csv", dir);
    snprintf(err, sizeof(err), "%s/err.txt", dir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (freopen(err, "w", stderr) == NULL)
            _exit(127);
        execl(bin, bin, "--input", in, "--output", out, (char *)NULL);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Splits line number `row` (0 = header) of csv into fields. */
static int get_row(const char *csv, int row, char f[20][32])
{
    const char *p = csv;
    for (int i = 0; i < row && p; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (p == NULL || *p == '\0')
        return 0;
    int n = 0;
    while (n < 20) {
        size_t len = strcspn(p, ",\n");
        cr_assert(len < 32);
        memcpy(f[n], p, len);
        f[n++][len] = '\0';
        if (p[len] != ',')
            break;
        p += len + 1;
    }
    cr_assert_eq(n, 20, "row %d has %d fields", row, n);
    return 1;
}

Test(features_cli, hand_worked_rows)
{
    /* 1 s bars (default). X: 0.2 s 10 x100, 0.7 s 12 x300 | 1.5 s 11 x100 |
     * 2.0 s 13 x100. Y: 1.1 s 50 x10 | 2.2 s 51 x10.
     * Vectors in emission order:
     *  X bar [0,1) closed by the 1.5 s trade: ts 0.7 s, bars 1, trades 2,
     *    close 12, VWAP (10*100 + 12*300) / 400 = 4600 / 400 = 11.5
     *  X bar [1,2) closed by the 2.0 s trade: ts 1.5 s, bars 2, trades 3,
     *    close 11, VWAP (4600 + 1100) / 500 = 11.4, log return ln(11/12)
     *  Y bar [1,2) closed by the 2.2 s trade: ts 1.1 s, bars 1, VWAP 50
     *  end-of-input flush (symbols in order of first appearance):
     *  X bar [2,3): ts 2.0 s, close 13, VWAP (5700 + 1300) / 600 = 11.666..,
     *    log return ln(13/11)
     *  Y bar [2,3): ts 2.2 s, close 51, VWAP (500 + 510) / 20 = 50.5,
     *    log return ln(51/50)
     * Indicators needing 14+ bars stay empty. */
    write_input("ts_ns,symbol,price,size\n"
                "200000000,X,10,100\n"
                "700000000,X,12,300\n"
                "1100000000,Y,50,10\n"
                "1500000000,X,11,100\n"
                "2000000000,X,13,100\n"
                "2200000000,Y,51,10\n");
    cr_assert_eq(run_cli(), 0);
    char *csv = slurp("out.csv"), f[20][32];
    cr_assert(get_row(csv, 0, f));
    cr_assert_str_eq(f[0], "symbol");
    cr_assert_str_eq(f[16], "vwap");
    const char *sym[5] = {"X", "X", "Y", "X", "Y"};
    const char *ts[5] = {"700000000", "1500000000", "1100000000", "2000000000", "2200000000"};
    const int bars[5] = {1, 2, 1, 3, 2};
    const double close[5] = {12, 11, 50, 13, 51};
    const double vwap[5] = {11.5, 11.4, 50, 7000.0 / 600.0, 50.5};
    const double ret[5] = {NAN, log(11.0 / 12.0), NAN, log(13.0 / 11.0), log(51.0 / 50.0)};
    for (int i = 0; i < 5; i++) {
        cr_assert(get_row(csv, i + 1, f), "row %d missing:\n%s", i + 1, csv);
        cr_assert_str_eq(f[0], sym[i]);
        cr_assert_str_eq(f[1], ts[i]);
        cr_assert_eq(atoi(f[2]), bars[i]);
        cr_assert_float_eq(strtod(f[5], NULL), close[i], 0);
        cr_assert_float_eq(strtod(f[16], NULL), vwap[i], 1e-12, "row %d vwap %s", i + 1, f[16]);
        if (isnan(ret[i]))
            cr_assert_str_eq(f[17], "");
        else
            cr_assert_float_eq(strtod(f[17], NULL), ret[i], 1e-15);
        cr_assert_str_eq(f[6], "");  /* sma */
        cr_assert_str_eq(f[15], ""); /* atr */
    }
    cr_assert(!get_row(csv, 6, f), "extra rows:\n%s", csv);
    free(csv);
}

Test(features_cli, bad_row_stops_with_line_number)
{
    write_input("ts_ns,symbol,price,size\n"
                "200000000,X,10,100\n"
                "700000000,X,12,-3\n");
    cr_assert_eq(run_cli(), 1);
    char *err = slurp("err.txt");
    cr_assert(strstr(err, "in.csv:3:") != NULL, "stderr: %s", err);
    cr_assert(strstr(err, "size") != NULL, "stderr: %s", err);
    free(err);
}
