/* mesh-marketdata's command line: each option's value is checked for what it
 * is (a whole number, a number in a range, a word from a list), and a bad one
 * is refused naming the option, never truncated or clamped. */
#include "md_opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"

#define NS_PER_S 1e9
#define SECS_MAX 1e9 /* durations in seconds: their ns fit in 64 bits */
#define NO_MAX   INFINITY

const char md_opts_usage[] =
    "mesh-marketdata: publishes trades, quotes and time bars.\n"
    "  --feed synthetic|csv     source (default synthetic: the built-in market)\n"
    "  --csv FILE               CSV to replay (columns ts_ns,symbol,price,size; header row)\n"
    "  --csv-errors skip|stop   a bad row is logged with its line and skipped (default) or ends "
    "the replay\n"
    "  --speed X                feed seconds per wall second (default 1; 0 = as fast as possible)\n"
    "  --rate N                 synthetic trades per feed second, all symbols (default 2000)\n"
    "  --quote-rate N           synthetic quotes per feed second (default 4000)\n"
    "  --no-quotes              do not publish quotes\n"
    "  --symbols N              synthetic symbols, 1..4096 (default 8)\n"
    "  --seed N                 synthetic seed, a whole number (default 1; same seed = same "
    "market)\n"
    "  --episode-first S        first informed-trading episode, feed seconds after start (default "
    "600)\n"
    "  --episode-len S          episode length in feed seconds (default 300)\n"
    "  --episode-period S       seconds between episode starts (default 1800)\n"
    "  --episode-stagger S      shift of each next symbol's schedule (default 180)\n"
    "  --informed F             share of trades on the informed side in an episode, 0.5..1 "
    "(default 0.88)\n"
    "  --episode-move M         log-price drift over one episode (default 0.005)\n"
    "  --bar-seconds B          time bar length (default 1; at least 0.001)\n"
    "  --start-ts NS            synthetic market's start, ns since the Unix epoch (default: "
    "now,\n"
    "                           whole seconds)\n"
    "  --checkpoint-ms N        save the feed and bars at most every N ms while publishing "
    "(and\n"
    "                           before bars close), so a restart continues the market; a "
    "whole\n"
    "                           number 0..3600000 (default 20; 0 = no checkpoints: a "
    "restart\n"
    "                           starts a new market)\n";

enum {
    OPT_FEED = 256,
    OPT_CSV,
    OPT_CSV_ERRORS,
    OPT_SPEED,
    OPT_RATE,
    OPT_QRATE,
    OPT_NOQ,
    OPT_SYMBOLS,
    OPT_SEED,
    OPT_EP_FIRST,
    OPT_EP_LEN,
    OPT_EP_PERIOD,
    OPT_EP_STAGGER,
    OPT_BAR,
    OPT_INFORMED,
    OPT_MOVE,
    OPT_START,
    OPT_CKPT
};

static const struct option md_options[] = {
    {"feed", required_argument, 0, OPT_FEED},
    {"csv", required_argument, 0, OPT_CSV},
    {"csv-errors", required_argument, 0, OPT_CSV_ERRORS},
    {"speed", required_argument, 0, OPT_SPEED},
    {"rate", required_argument, 0, OPT_RATE},
    {"quote-rate", required_argument, 0, OPT_QRATE},
    {"no-quotes", no_argument, 0, OPT_NOQ},
    {"symbols", required_argument, 0, OPT_SYMBOLS},
    {"seed", required_argument, 0, OPT_SEED},
    {"episode-first", required_argument, 0, OPT_EP_FIRST},
    {"episode-len", required_argument, 0, OPT_EP_LEN},
    {"episode-period", required_argument, 0, OPT_EP_PERIOD},
    {"episode-stagger", required_argument, 0, OPT_EP_STAGGER},
    {"bar-seconds", required_argument, 0, OPT_BAR},
    {"informed", required_argument, 0, OPT_INFORMED},
    {"episode-move", required_argument, 0, OPT_MOVE},
    {"start-ts", required_argument, 0, OPT_START},
    {"checkpoint-ms", required_argument, 0, OPT_CKPT},
    {0, 0, 0, 0},
};

/* The parse in progress: where errors go. */
typedef struct opt_ctx {
    char *err;
    size_t errlen;
} opt_ctx;

static int bad(opt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(opt_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (c->err && c->errlen)
        vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return MESH_EINVAL;
}

/* A finite number in [min, max] (max NO_MAX: no upper bound). */
static int opt_double(opt_ctx *c, const char *opt, const char *s, double min, double max,
                      double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        if (max == NO_MAX)
            return bad(c, "bad %s '%s': expected a number >= %g", opt, s, min);
        return bad(c, "bad %s '%s': expected a number in [%g, %g]", opt, s, min, max);
    }
    *out = v;
    return 0;
}

/* A whole number in min..max, in decimal digits only (no sign, no
 * fraction, no exponent: nothing is rounded or truncated). */
static int opt_uint(opt_ctx *c, const char *opt, const char *s, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || *s < '0' || *s > '9' || v < min || v > max)
        return bad(c, "bad %s '%s': expected a whole number %llu..%llu", opt, s,
                   (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

/* Seconds (fractions allowed) as ns. */
static int opt_secs(opt_ctx *c, const char *opt, const char *s, uint64_t *ns)
{
    double v = 0;
    int rc = opt_double(c, opt, s, 0, SECS_MAX, &v);
    if (rc == 0)
        *ns = (uint64_t)llround(v * NS_PER_S);
    return rc;
}

/* --feed, --csv-errors (a word from a list) and --csv (a path). */
static int opt_word(opt_ctx *c, int code, const char *arg, md_opts *o)
{
    if (code == OPT_FEED) {
        if (strcmp(arg, "synthetic") != 0 && strcmp(arg, "csv") != 0)
            return bad(c, "bad --feed '%s': expected synthetic or csv", arg);
        o->feed.kind = strcmp(arg, "csv") == 0 ? MD_FEED_CSV : MD_FEED_SYNTHETIC;
        return 0;
    }
    if (code == OPT_CSV_ERRORS) {
        if (strcmp(arg, "skip") != 0 && strcmp(arg, "stop") != 0)
            return bad(c, "bad --csv-errors '%s': expected skip or stop", arg);
        o->feed.csv_policy = strcmp(arg, "stop") == 0 ? MD_CSV_STOP : MD_CSV_SKIP;
        return 0;
    }
    o->feed.kind = MD_FEED_CSV; /* OPT_CSV */
    o->feed.csv_path = arg;
    return 0;
}

/* Applies one option (its long name: opt) to *o. */
static int opt_apply(opt_ctx *c, int code, const char *opt, const char *arg, md_opts *o)
{
    md_synth_params *p = &o->feed.synth;
    uint64_t u = 0;
    int rc;
    switch (code) {
    case OPT_FEED:
    case OPT_CSV:
    case OPT_CSV_ERRORS:
        return opt_word(c, code, arg, o);
    case OPT_NOQ:
        o->quotes = 0;
        return 0;
    case OPT_START:
        return opt_uint(c, opt, arg, 0, UINT64_MAX, &p->start_ts_ns);
    case OPT_SPEED:
        return opt_double(c, opt, arg, 0, NO_MAX, &o->feed.speed);
    case OPT_RATE:
        return opt_double(c, opt, arg, 1e-9, NO_MAX, &p->trade_rate_hz);
    case OPT_QRATE:
        return opt_double(c, opt, arg, 0, NO_MAX, &p->quote_rate_hz);
    case OPT_BAR:
        if ((rc = opt_double(c, opt, arg, 1e-3, SECS_MAX, &o->bar_s)) == 0)
            o->bar_ns = (uint64_t)llround(o->bar_s * NS_PER_S);
        return rc;
    case OPT_INFORMED:
        return opt_double(c, opt, arg, 0.5, 1, &p->informed_fraction);
    case OPT_MOVE:
        return opt_double(c, opt, arg, 0, NO_MAX, &p->episode_move);
    case OPT_SEED:
        return opt_uint(c, opt, arg, 0, UINT64_MAX, &p->seed);
    case OPT_EP_FIRST:
        return opt_secs(c, opt, arg, &p->episode.first_ns);
    case OPT_EP_LEN:
        return opt_secs(c, opt, arg, &p->episode.len_ns);
    case OPT_EP_PERIOD:
        return opt_secs(c, opt, arg, &p->episode.period_ns);
    case OPT_EP_STAGGER:
        return opt_secs(c, opt, arg, &p->episode_stagger_ns);
    case OPT_SYMBOLS:
        if ((rc = opt_uint(c, opt, arg, 1, MD_SYNTH_MAX_SYMBOLS, &u)) == 0)
            p->n_symbols = (uint32_t)u;
        return rc;
    case OPT_CKPT:
        if ((rc = opt_uint(c, opt, arg, 0, MD_CKPT_MS_MAX, &u)) == 0)
            o->ckpt_ms = (uint32_t)u;
        return rc;
    }
    return bad(c, "option %s not handled", opt);
}

void md_opts_default(md_opts *o, uint64_t start_ts_ns)
{
    memset(o, 0, sizeof(*o));
    o->feed.kind = MD_FEED_SYNTHETIC;
    o->feed.speed = 1;
    md_synth_default_params(&o->feed.synth);
    o->feed.synth.start_ts_ns = start_ts_ns;
    o->bar_s = 1;
    o->bar_ns = 1000000000ull;
    o->quotes = 1;
    o->ckpt_ms = MD_CKPT_MS_DEFAULT;
}

int md_opts_parse(md_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    opt_ctx c = {err, errlen};
    int code, idx = 0;
    optind = 0; /* glibc: start over, whatever an earlier parse left */
    while ((code = getopt_long(argc, argv, "", md_options, &idx)) != -1) {
        if (code == '?')
            return bad(&c, "bad option '%s': unknown, or its value is missing (see --help)",
                       argv[optind - 1]);
        char opt[32];
        snprintf(opt, sizeof(opt), "--%s", md_options[idx].name);
        int rc = opt_apply(&c, code, opt, optarg, o);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return bad(&c, "unexpected argument '%s' (see --help)", argv[optind]);
    if (o->feed.kind == MD_FEED_CSV && o->feed.csv_path == NULL)
        return bad(&c, "--feed csv needs --csv FILE");
    return 0;
}
