/* mesh-features: offline feature vectors over a trade CSV with the same engine
 * code as the live daemon; one output row per emitted vector. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feat_engine.h"
#include "feat_offline.h"
#include "md_csv.h"
#include "mesh_error.h"

#define PROGRESS_EVERY        (1u << 20)
#define MAX_REPORTED_BAD_ROWS 100

const char feat_offline_usage[] =
    "usage: mesh-features --input trades.csv --output features.csv [options]\n"
    "\n"
    "Reads trades (CSV header ts_ns,symbol,price,size) and writes one row per\n"
    "feature vector ('-' as output is stdout):\n"
    "  symbol,ts_ns,bars,trades,last_price,close,sma,ema,rsi,macd,macd_signal,\n"
    "  macd_hist,bb_mid,bb_upper,bb_lower,atr,vwap,log_return,rvol,rvol_annual\n"
    "Values still warming up are empty. Definitions: engines/features/README.md.\n"
    "\n"
    "options:\n"
    "  --bar-seconds B             bar length, aligned to multiples of B since the\n"
    "                              epoch (default 1)\n"
    "  --every-trades N            a vector every N trades of a symbol instead of\n"
    "                              one per closed bar (default 0 = per bar)\n"
    "  --session-seconds L         VWAP session length (default 86400)\n"
    "  --session-offset-seconds O  sessions start O s past multiples of L (default 0)\n"
    "  --bars-per-year P           realised vol annualisation (default 252*23400/B)\n"
    "  --max-symbols N             symbol table capacity (default 1024)\n"
    "  --bad-rows stop|skip        on a malformed CSV row: stop (default) or report\n"
    "                              it and continue\n"
    "  --help                      this text\n";

typedef struct cli {
    const char *input, *output;
    int skip_bad;
    feat_config cfg;
} cli;

typedef struct out_ctx {
    FILE *f;
    uint64_t rows;
    int write_error;
} out_ctx;

/* Appends ",value" (empty when not ready) to line. */
static void field(char *line, size_t cap, uint32_t ready, uint32_t bit, double v)
{
    size_t n = strlen(line);
    if (ready & bit)
        snprintf(line + n, cap - n, ",%.17g", v);
    else
        snprintf(line + n, cap - n, ",");
}

static void write_vector(void *ctx, const feat_vector *v)
{
    out_ctx *o = ctx;
    char line[1024];
    uint32_t r = v->ready;
    snprintf(line, sizeof(line), "%s,%llu,%llu,%llu", v->symbol, (unsigned long long)v->ts_ns,
             (unsigned long long)v->bars, (unsigned long long)v->trades);
    field(line, sizeof(line), isnan(v->last_price) ? 0 : 1, 1, v->last_price);
    field(line, sizeof(line), isnan(v->close) ? 0 : 1, 1, v->close);
    field(line, sizeof(line), r, FEAT_READY_SMA, v->sma);
    field(line, sizeof(line), r, FEAT_READY_EMA, v->ema);
    field(line, sizeof(line), r, FEAT_READY_RSI, v->rsi);
    field(line, sizeof(line), r, FEAT_READY_MACD, v->macd);
    field(line, sizeof(line), r, FEAT_READY_MACD_SIGNAL, v->macd_signal);
    field(line, sizeof(line), r, FEAT_READY_MACD_SIGNAL, v->macd_hist);
    field(line, sizeof(line), r, FEAT_READY_BOLLINGER, v->bb_mid);
    field(line, sizeof(line), r, FEAT_READY_BOLLINGER, v->bb_upper);
    field(line, sizeof(line), r, FEAT_READY_BOLLINGER, v->bb_lower);
    field(line, sizeof(line), r, FEAT_READY_ATR, v->atr);
    field(line, sizeof(line), r, FEAT_READY_VWAP, v->vwap);
    field(line, sizeof(line), r, FEAT_READY_RETURN, v->log_return);
    field(line, sizeof(line), r, FEAT_READY_RVOL, v->rvol);
    field(line, sizeof(line), r, FEAT_READY_RVOL, v->rvol_annual);
    if (fprintf(o->f, "%s\n", line) < 0)
        o->write_error = 1;
    o->rows++;
}

/* Parses a whole-string finite number in (lo, hi] (or [lo, hi] if closed). */
static int parse_num(const char *opt, const char *s, double lo, int closed, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || (!closed && v == lo) ||
        v > hi) {
        fprintf(stderr, "mesh-features: %s: '%s' is not a number in %s%g, %g]\n", opt, s,
                closed ? "[" : "(", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Seconds (> 0 unless zero_ok) to ns, or -1. */
static int parse_seconds(const char *opt, const char *s, int zero_ok, uint64_t *out)
{
    double d;
    if (parse_num(opt, s, 0.0, zero_ok, 1e9, &d) < 0)
        return -1;
    *out = (uint64_t)llround(d * 1e9);
    if (*out == 0 && !zero_ok) {
        fprintf(stderr, "mesh-features: %s: '%s' is below 1 ns\n", opt, s);
        return -1;
    }
    return 0;
}

enum {
    OPT_BAR = 256,
    OPT_EVERY,
    OPT_SESSION,
    OPT_OFFSET,
    OPT_BPY,
    OPT_MAXSYM,
    OPT_BADROWS,
};

static const struct option options[] = {
    {"input", required_argument, NULL, 'i'},
    {"output", required_argument, NULL, 'o'},
    {"bar-seconds", required_argument, NULL, OPT_BAR},
    {"every-trades", required_argument, NULL, OPT_EVERY},
    {"session-seconds", required_argument, NULL, OPT_SESSION},
    {"session-offset-seconds", required_argument, NULL, OPT_OFFSET},
    {"bars-per-year", required_argument, NULL, OPT_BPY},
    {"max-symbols", required_argument, NULL, OPT_MAXSYM},
    {"bad-rows", required_argument, NULL, OPT_BADROWS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int apply_option(cli *c, int opt, const char *arg)
{
    double d;
    switch (opt) {
    case 'i':
        c->input = arg;
        return 0;
    case 'o':
        c->output = arg;
        return 0;
    case OPT_BAR:
        return parse_seconds("--bar-seconds", arg, 0, &c->cfg.bar_ns);
    case OPT_EVERY:
        if (parse_num("--every-trades", arg, 0, 1, 1e9, &d) < 0 || d != floor(d)) {
            fprintf(stderr, "mesh-features: --every-trades: '%s' must be an integer\n", arg);
            return -1;
        }
        c->cfg.emit_every_trades = (uint32_t)d;
        return 0;
    case OPT_SESSION:
        return parse_seconds("--session-seconds", arg, 0, &c->cfg.session_ns);
    case OPT_OFFSET:
        return parse_seconds("--session-offset-seconds", arg, 1, &c->cfg.session_offset_ns);
    case OPT_BPY:
        return parse_num("--bars-per-year", arg, 0, 0, 1e15, &c->cfg.bars_per_year);
    case OPT_MAXSYM:
        if (parse_num("--max-symbols", arg, 1, 1, 16777216, &d) < 0 || d != floor(d)) {
            fprintf(stderr, "mesh-features: --max-symbols: '%s' must be an integer\n", arg);
            return -1;
        }
        c->cfg.max_symbols = (uint32_t)d;
        return 0;
    case OPT_BADROWS:
        if (strcmp(arg, "stop") == 0 || strcmp(arg, "skip") == 0) {
            c->skip_bad = arg[1] == 'k';
            return 0;
        }
        fprintf(stderr, "mesh-features: --bad-rows: '%s' is not 'stop' or 'skip'\n", arg);
        return -1;
    default:
        return -1;
    }
}

/* Parses argv. Returns 0, 1 for --help, -1 on a usage error. need_io:
 * --input and --output are required (offline) or refused (live engine). */
static int parse_args(cli *c, int argc, char **argv, int need_io)
{
    int opt;
    memset(c, 0, sizeof(*c));
    feat_config_default(&c->cfg);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":i:o:h", options, NULL)) != -1) {
        if (opt == 'h')
            return 1;
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "mesh-features: %s '%s'\n",
                    opt == ':' ? "missing value for" : "unknown option", argv[optind - 1]);
            return -1;
        }
        if (apply_option(c, opt, optarg) < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "mesh-features: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (need_io && (c->input == NULL || c->output == NULL)) {
        fprintf(stderr, "mesh-features: --input and --output are required\n");
        return -1;
    }
    if (!need_io && (c->input != NULL || c->output != NULL)) {
        fprintf(stderr, "mesh-features: --input/--output select offline mode; not allowed here\n");
        return -1;
    }
    return 0;
}

int feat_cli_config(int argc, char **argv, feat_config *cfg)
{
    cli c;
    optind = 1;
    if (parse_args(&c, argc, argv, 0) != 0)
        return -1;
    *cfg = c.cfg;
    return 0;
}

/* Reports a rejected row; 0 to continue, -1 to stop. */
static int bad_row(const cli *c, uint64_t *bad, const char *msg)
{
    ++*bad;
    if (!c->skip_bad) {
        fprintf(stderr, "mesh-features: %s (stopping; --bad-rows skip to continue)\n", msg);
        return -1;
    }
    if (*bad <= MAX_REPORTED_BAD_ROWS)
        fprintf(stderr, "mesh-features: skipped %s\n", msg);
    return 0;
}

static int run(const cli *c, md_csv *r, feat_engine *e, const out_ctx *o, uint64_t *bad)
{
    int tty = isatty(STDERR_FILENO);
    uint64_t rows = 0;
    md_trade t;
    char msg[512];
    for (;;) {
        int rc = md_csv_next(r, &t);
        if (rc == 0)
            break;
        if (tty && ++rows % PROGRESS_EVERY == 0)
            fprintf(stderr, "\rmesh-features: %llu rows, %llu vectors", (unsigned long long)rows,
                    (unsigned long long)o->rows);
        if (rc == MESH_ECSV) {
            if (bad_row(c, bad, md_csv_error(r)) < 0)
                return -1;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "mesh-features: %s: %s\n", c->input, mesh_strerror(rc));
            return -1;
        }
        rc = feat_on_trade(e, t.symbol, t.ts_ns, t.price, t.size);
        if (rc == MESH_ENOSPC) {
            fprintf(stderr, "mesh-features: %s:%llu: more than %u symbols (--max-symbols)\n",
                    c->input, (unsigned long long)md_csv_line(r), c->cfg.max_symbols);
            return -1;
        }
        if (rc < 0) {
            snprintf(msg, sizeof(msg), "%s:%llu: trade refused for symbol '%s': %s", c->input,
                     (unsigned long long)md_csv_line(r), t.symbol, mesh_strerror(rc));
            if (bad_row(c, bad, msg) < 0)
                return -1;
        }
    }
    feat_flush(e, UINT64_MAX);
    if (tty)
        fprintf(stderr, "\rmesh-features: %llu rows, %llu vectors\n", (unsigned long long)rows,
                (unsigned long long)o->rows);
    return 0;
}

int feat_offline_main(int argc, char **argv)
{
    cli c;
    int rc = parse_args(&c, argc, argv, 1);
    if (rc != 0) {
        fputs(feat_offline_usage, rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    int status = 1;
    uint64_t bad = 0;
    md_csv *r = NULL;
    feat_engine *e = NULL;
    out_ctx o = {0};
    const char *why = NULL;
    c.cfg.emit = write_vector;
    c.cfg.emit_ctx = &o;
    rc = feat_open(&e, &c.cfg, &why);
    if (rc < 0) {
        fprintf(stderr, "mesh-features: %s\n", why ? why : mesh_strerror(rc));
        return 2;
    }
    rc = md_csv_open(&r, c.input);
    if (rc < 0) {
        const char *err = md_csv_error(NULL);
        fprintf(stderr, "mesh-features: %s\n", err && *err ? err : mesh_strerror(rc));
        goto out;
    }
    o.f = strcmp(c.output, "-") == 0 ? stdout : fopen(c.output, "w");
    if (o.f == NULL) {
        fprintf(stderr, "mesh-features: %s: %s\n", c.output, strerror(errno));
        goto out;
    }
    fputs("symbol,ts_ns,bars,trades,last_price,close,sma,ema,rsi,macd,macd_signal,macd_hist,"
          "bb_mid,bb_upper,bb_lower,atr,vwap,log_return,rvol,rvol_annual\n",
          o.f);
    if (run(&c, r, e, &o, &bad) == 0)
        status = 0;
    if (c.skip_bad && bad > 0)
        fprintf(stderr, "mesh-features: %llu bad rows skipped\n", (unsigned long long)bad);
out:
    if (o.f != NULL && o.f != stdout && fclose(o.f) != 0)
        o.write_error = 1;
    if (o.f == stdout && fflush(stdout) != 0)
        o.write_error = 1;
    if (o.write_error) {
        fprintf(stderr, "mesh-features: %s: write failed\n", c.output);
        status = 1;
    }
    md_csv_close(r);
    feat_close(e);
    return status;
}
