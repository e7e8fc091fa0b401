/* mesh-vpin: offline VPIN over a trade CSV with the same engine code as the
 * live daemon; one output row per bucket that has a full window. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_csv.h"
#include "mesh_error.h"
#include "vpin.h"
#include "vpin_offline.h"

#define PROGRESS_EVERY        (1u << 20)
#define MAX_REPORTED_BAD_ROWS 100

const char vpin_offline_usage[] =
    "usage: mesh-vpin --input trades.csv --output vpin.csv [options]\n"
    "\n"
    "Reads trades (CSV header ts_ns,symbol,price,size) and writes one row per\n"
    "completed volume bucket that has a full VPIN window:\n"
    "  symbol,bucket,end_ts_ns,buy_volume,sell_volume,vpin,cdf,alert,kyle_lambda\n"
    "(cdf and kyle_lambda are empty until ready; '-' as output is stdout).\n"
    "kyle_lambda regresses bar price changes on bar order flow signed by the\n"
    "tick rule (the CSV has no aggressor side).\n"
    "\n"
    "options:\n"
    "  --bar-seconds B       time bar length in seconds, bars aligned to multiples\n"
    "                        of B since the epoch (default 60)\n"
    "  --bucket-volume V     volume per bucket (default 10000)\n"
    "  --window n            buckets per VPIN value (default 50)\n"
    "  --sigma-bars S        price changes in the rolling sigma (default 1000)\n"
    "  --min-sigma-bars M    price changes needed before bucketing (default 30)\n"
    "  --cdf-window W        VPIN values in the lognormal CDF fit, 0 = all (default 0)\n"
    "  --cdf-min K           VPIN values needed before a CDF (default 10)\n"
    "  --alert-threshold P   alert when CDF >= P (default 0.9)\n"
    "  --lambda-window L     bars in Kyle's lambda regression (default 50)\n"
    "  --max-symbols N       symbol table capacity (default 1024)\n"
    "  --bad-rows stop|skip  on a malformed CSV row: stop with an error (default)\n"
    "                        or report it and continue\n"
    "  --help                this text\n";

typedef struct cli {
    const char *input, *output;
    int skip_bad;
    vpin_params p;
} cli;

typedef struct out_ctx {
    FILE *f;
    uint64_t rows, buckets;
    int write_error;
} out_ctx;

static void write_bucket(void *ctx, const vpin_bucket *b)
{
    out_ctx *o = ctx;
    o->buckets++;
    if (!b->vpin_ready)
        return;
    char cdf[32] = "", lambda[32] = "";
    if (b->cdf_ready)
        snprintf(cdf, sizeof(cdf), "%.17g", b->cdf);
    if (b->lambda_ready)
        snprintf(lambda, sizeof(lambda), "%.17g", b->lambda);
    if (fprintf(o->f, "%s,%llu,%llu,%.17g,%.17g,%.17g,%s,%d,%s\n", b->symbol,
                (unsigned long long)b->index, (unsigned long long)b->end_ts_ns, b->buy_volume,
                b->sell_volume, b->vpin, cdf, b->alert, lambda) < 0)
        o->write_error = 1;
    o->rows++;
}

/* Parses a whole-string unsigned integer in [lo, hi]; 0 or -1. */
static int parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "mesh-vpin: %s: '%s' is not an integer in %u..%u\n", opt, s, lo, hi);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Parses a whole-string finite number in [lo, hi] (lo excluded if open). */
static int parse_num(const char *opt, const char *s, double lo, int open, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || (open && v == lo) ||
        v > hi) {
        fprintf(stderr, "mesh-vpin: %s: '%s' is not a number in %s%g, %g]\n", opt, s,
                open ? "(" : "[", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

enum {
    OPT_INPUT = 'i',
    OPT_OUTPUT = 'o',
    OPT_HELP = 'h',
    OPT_BAR = 256,
    OPT_BUCKET,
    OPT_WINDOW,
    OPT_SIGMA,
    OPT_MINSIGMA,
    OPT_CDFWIN,
    OPT_CDFMIN,
    OPT_ALERT,
    OPT_LAMBDA,
    OPT_MAXSYM,
    OPT_BADROWS,
};

static const struct option options[] = {
    {"input", required_argument, NULL, OPT_INPUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"bar-seconds", required_argument, NULL, OPT_BAR},
    {"bucket-volume", required_argument, NULL, OPT_BUCKET},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"sigma-bars", required_argument, NULL, OPT_SIGMA},
    {"min-sigma-bars", required_argument, NULL, OPT_MINSIGMA},
    {"cdf-window", required_argument, NULL, OPT_CDFWIN},
    {"cdf-min", required_argument, NULL, OPT_CDFMIN},
    {"alert-threshold", required_argument, NULL, OPT_ALERT},
    {"lambda-window", required_argument, NULL, OPT_LAMBDA},
    {"max-symbols", required_argument, NULL, OPT_MAXSYM},
    {"bad-rows", required_argument, NULL, OPT_BADROWS},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One option into *c; 0, -1 on a bad value. */
static int apply_option(cli *c, int opt, const char *arg)
{
    const uint32_t big = 1u << 24;
    double d;
    vpin_params *p = &c->p;
    switch (opt) {
    case OPT_INPUT:
        c->input = arg;
        return 0;
    case OPT_OUTPUT:
        c->output = arg;
        return 0;
    case OPT_BAR:
        if (parse_num("--bar-seconds", arg, 0.0, 1, 1e9, &d) < 0)
            return -1;
        p->bar_ns = (uint64_t)llround(d * 1e9);
        if (p->bar_ns == 0) {
            fprintf(stderr, "mesh-vpin: --bar-seconds: '%s' is below 1 ns\n", arg);
            return -1;
        }
        return 0;
    case OPT_BUCKET:
        return parse_num("--bucket-volume", arg, 0.0, 1, 1e300, &p->bucket_volume);
    case OPT_WINDOW:
        return parse_u32("--window", arg, 1, big, &p->window);
    case OPT_SIGMA:
        return parse_u32("--sigma-bars", arg, 2, big, &p->sigma_bars);
    case OPT_MINSIGMA:
        return parse_u32("--min-sigma-bars", arg, 2, big, &p->min_sigma_bars);
    case OPT_CDFWIN:
        return parse_u32("--cdf-window", arg, 0, big, &p->cdf_window);
    case OPT_CDFMIN:
        return parse_u32("--cdf-min", arg, 2, big, &p->cdf_min);
    case OPT_ALERT:
        return parse_num("--alert-threshold", arg, 0.0, 0, 1.0, &p->alert_threshold);
    case OPT_LAMBDA:
        return parse_u32("--lambda-window", arg, 2, big, &p->lambda_window);
    case OPT_MAXSYM:
        return parse_u32("--max-symbols", arg, 1, big, &p->max_symbols);
    case OPT_BADROWS:
        if (strcmp(arg, "stop") == 0 || strcmp(arg, "skip") == 0) {
            c->skip_bad = arg[1] == 'k';
            return 0;
        }
        fprintf(stderr, "mesh-vpin: --bad-rows: '%s' is not 'stop' or 'skip'\n", arg);
        return -1;
    default:
        return -1;
    }
}

/* Parses argv into *c. Returns 0, 1 for --help, -1 on a usage error.
 * need_io: --input and --output are required (offline) or refused (live). */
static int parse_args(cli *c, int argc, char **argv, int need_io)
{
    int opt;
    memset(c, 0, sizeof(*c));
    vpin_default_params(&c->p);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":i:o:h", options, NULL)) != -1) {
        if (opt == OPT_HELP)
            return 1;
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "mesh-vpin: %s '%s'\n",
                    opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return -1;
        }
        if (apply_option(c, opt, optarg) < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "mesh-vpin: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (need_io && (c->input == NULL || c->output == NULL)) {
        fprintf(stderr, "mesh-vpin: --input and --output are required\n");
        return -1;
    }
    if (!need_io && (c->input != NULL || c->output != NULL)) {
        fprintf(stderr, "mesh-vpin: --input/--output select offline mode; not allowed here\n");
        return -1;
    }
    const char *why;
    if (vpin_params_check(&c->p, &why) < 0) {
        fprintf(stderr, "mesh-vpin: %s\n", why);
        return -1;
    }
    return 0;
}

typedef struct run_stats {
    uint64_t rows, bad_rows;
} run_stats;

static void progress(const run_stats *st, const out_ctx *o, int final)
{
    fprintf(stderr, "\rmesh-vpin: %llu rows, %llu buckets, %llu bad rows%s",
            (unsigned long long)st->rows, (unsigned long long)o->buckets,
            (unsigned long long)st->bad_rows, final ? "\n" : "");
}

/* Handles one rejected row: reports it; returns 0 to go on, -1 to stop. */
static int bad_row(const cli *c, run_stats *st, const char *msg)
{
    st->bad_rows++;
    if (!c->skip_bad) {
        fprintf(stderr, "mesh-vpin: %s (stopping; --bad-rows skip to continue)\n", msg);
        return -1;
    }
    if (st->bad_rows <= MAX_REPORTED_BAD_ROWS)
        fprintf(stderr, "mesh-vpin: skipped %s\n", msg);
    if (st->bad_rows == MAX_REPORTED_BAD_ROWS)
        fprintf(stderr, "mesh-vpin: further bad rows are counted, not listed\n");
    return 0;
}

/* Streams the CSV through the engine. Returns 0 or -1 (error reported). */
static int run(const cli *c, md_csv *r, vpin_engine *e, out_ctx *o, run_stats *st)
{
    int tty = isatty(STDERR_FILENO);
    md_trade t;
    char msg[512];
    for (;;) {
        int rc = md_csv_next(r, &t);
        if (rc == 0)
            break;
        st->rows++;
        if (tty && st->rows % PROGRESS_EVERY == 0)
            progress(st, o, 0);
        if (rc == MESH_ECSV) {
            if (bad_row(c, st, md_csv_error(r)) < 0)
                return -1;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "mesh-vpin: %s: %s\n", c->input, mesh_strerror(rc));
            return -1;
        }
        rc = vpin_on_trade(e, t.symbol, t.ts_ns, t.price, t.size);
        if (rc == MESH_ENOSPC) {
            fprintf(stderr, "mesh-vpin: %s:%llu: more than %u symbols (raise --max-symbols)\n",
                    c->input, (unsigned long long)md_csv_line(r), c->p.max_symbols);
            return -1;
        }
        if (rc < 0) {
            snprintf(msg, sizeof(msg), "%s:%llu: trade refused for symbol '%s': %s", c->input,
                     (unsigned long long)md_csv_line(r), t.symbol,
                     rc == MESH_ERANGE ? "timestamp before the symbol's previous trade"
                                       : mesh_strerror(rc));
            if (bad_row(c, st, msg) < 0)
                return -1;
        }
    }
    vpin_flush(e, UINT64_MAX);
    if (tty)
        progress(st, o, 1);
    return 0;
}

int vpin_cli_params(int argc, char **argv, vpin_params *p)
{
    cli c;
    optind = 1;
    if (parse_args(&c, argc, argv, 0) != 0)
        return -1;
    *p = c.p;
    return 0;
}

int vpin_offline_main(int argc, char **argv)
{
    cli c;
    int rc = parse_args(&c, argc, argv, 1);
    if (rc != 0) {
        fputs(vpin_offline_usage, rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    int status = 1;
    md_csv *r = NULL;
    vpin_engine *e = NULL;
    out_ctx o = {0};
    run_stats st = {0};
    rc = md_csv_open(&r, c.input);
    if (rc < 0) {
        const char *why = md_csv_error(NULL);
        fprintf(stderr, "mesh-vpin: %s\n", why && *why ? why : mesh_strerror(rc));
        goto out;
    }
    o.f = strcmp(c.output, "-") == 0 ? stdout : fopen(c.output, "w");
    if (o.f == NULL) {
        fprintf(stderr, "mesh-vpin: %s: %s\n", c.output, strerror(errno));
        goto out;
    }
    const char *why;
    rc = vpin_open(&e, &c.p, write_bucket, &o, &why);
    if (rc < 0) {
        fprintf(stderr, "mesh-vpin: %s\n", why ? why : mesh_strerror(rc));
        goto out;
    }
    fputs("symbol,bucket,end_ts_ns,buy_volume,sell_volume,vpin,cdf,alert,kyle_lambda\n", o.f);
    if (run(&c, r, e, &o, &st) == 0)
        status = 0;
    if (c.skip_bad && st.bad_rows > 0)
        fprintf(stderr, "mesh-vpin: %llu bad rows skipped\n", (unsigned long long)st.bad_rows);
out:
    if (o.f != NULL && o.f != stdout && fclose(o.f) != 0)
        o.write_error = 1;
    if (o.f == stdout && fflush(stdout) != 0)
        o.write_error = 1;
    if (o.write_error) {
        fprintf(stderr, "mesh-vpin: %s: write failed\n", c.output);
        status = 1;
    }
    vpin_close(e);
    md_csv_close(r);
    return status;
}
