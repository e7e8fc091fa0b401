/* Tests for the mesh-synth tool: its CSV reads back cleanly with md_csv and
 * holds exactly the trades md_synth generates for the same seed; options. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "md_csv.h"
#include "md_synth.h"
#include "mesh_error.h"

static char dir[64], out[128], tool[1024];

static void setup(void)
{
    const char *root = getenv("MESH_BUILD_ROOT");
    cr_assert_not_null(root, "MESH_BUILD_ROOT is not set (run through meson test)");
    snprintf(tool, sizeof tool, "%s/engines/marketdata/mesh-synth", root);
    snprintf(dir, sizeof dir, "/tmp/test_mesh_synth_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/trades.csv", dir);
}

static void teardown(void)
{
    unlink(out);
    rmdir(dir);
}

TestSuite(mesh_synth, .init = setup, .fini = teardown);

/* Runs the tool with args (shell words, no quoting needed); returns its exit code. */
static int run_tool(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", tool, args);
    int st = system(cmd);
    cr_assert(st != -1 && WIFEXITED(st), "could not run %s", cmd);
    return WEXITSTATUS(st);
}

/* Next trade of s (quotes skipped). */
static void next_trade(md_synth *s, md_trade *t)
{
    md_event ev;
    do
        cr_assert_eq(md_synth_next(s, &ev), 1);
    while (ev.kind != MD_EVENT_TRADE);
    *t = ev.trade;
}

/* Compares the file with md_synth's trades for seed 5 (default params); the
 * file prints prices with 2 decimals (tick 0.01), so compare in cents. Stops at
 * end of file and returns the number of rows. */
static long compare_with_generator(uint64_t *last_ts)
{
    md_synth_params p;
    md_synth_default_params(&p);
    p.seed = 5;
    md_synth *s;
    md_csv *r;
    md_trade a, b;
    long rows = 0;
    int rc;
    cr_assert_eq(md_synth_open(&s, &p), 0);
    cr_assert_eq(md_csv_open(&r, out), 0, "%s", md_csv_error(NULL));
    while ((rc = md_csv_next(r, &a)) == 1) {
        next_trade(s, &b);
        rows++;
        if (a.ts_ns != b.ts_ns || strcmp(a.symbol, b.symbol) || a.size != b.size ||
            llround(a.price * 100) != llround(b.price * 100))
            cr_assert_fail("row %ld: file %llu %s %.2f %g, generator %llu %s %.2f %g", rows,
                           (unsigned long long)a.ts_ns, a.symbol, a.price, a.size,
                           (unsigned long long)b.ts_ns, b.symbol, b.price, b.size);
        *last_ts = a.ts_ns;
    }
    cr_assert_eq(rc, 0, "%s", md_csv_error(r));
    /* The generator's next trade is the first one the file left out. */
    next_trade(s, &b);
    *last_ts = b.ts_ns;
    md_csv_close(r);
    md_synth_close(s);
    return rows;
}

Test(mesh_synth, csv_holds_the_generator_trades)
{
    char args[256];
    uint64_t next_ts = 0;
    snprintf(args, sizeof args, "-n 20000 -s 5 -q -o '%s'", out);
    cr_assert_eq(run_tool(args), 0);
    cr_assert_eq(compare_with_generator(&next_ts), 20000);
}

/* --duration 5 writes exactly the trades with ts < start + 5 s. */
Test(mesh_synth, duration_mode_stops_at_the_end_time)
{
    char args[256];
    uint64_t next_ts = 0;
    md_synth_params p;
    md_synth_default_params(&p);
    snprintf(args, sizeof args, "--duration 5 --seed 5 -o '%s'", out);
    cr_assert_eq(run_tool(args), 0);
    long rows = compare_with_generator(&next_ts);
    /* 5 s at 2000 trades/s: Poisson(10000), 5 sigma = 500. */
    cr_assert_leq(labs(rows - 10000), 500, "%ld rows", rows);
    cr_assert_geq(next_ts, p.start_ts_ns + 5000000000ull, "a trade before the end was left out");
}

Test(mesh_synth, options)
{
    cr_assert_eq(run_tool("--help"), 0);
    cr_assert_eq(run_tool("--bogus"), 2);
    cr_assert_eq(run_tool("--trades abc"), 2);
    cr_assert_eq(run_tool("--rate 0 -n 1"), 2, "rate must be > 0");
    cr_assert_eq(run_tool("--informed 0.2 -n 1"), 2);
    cr_assert_eq(run_tool("-n 1 -o /nonexistent-dir/x.csv"), 1);
}
