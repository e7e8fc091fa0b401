/* mesh-synth: writes the synthetic market's trades to a CSV file
 * (ts_ns,symbol,price,size) for a seed, as N trades or a simulated duration. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_synth.h"
#include "mesh_clock.h"
#include "mesh_error.h"

typedef struct synth_opts {
    md_synth_params p;
    uint64_t trades;      /* stop after this many trades (0 = use duration) */
    uint64_t duration_ns; /* stop at start + duration (0 = use trades) */
    const char *out;      /* NULL or "-" = stdout */
    bool quiet;
} synth_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mesh-synth [options]\n"
            "Writes trades of the built-in synthetic market as CSV (ts_ns,symbol,price,size).\n"
            "The stream is deterministic for a seed; quotes are generated but not written.\n\n"
            "  -n, --trades N        number of trades to write (default 100000)\n"
            "  -d, --duration SEC    write the trades of SEC simulated seconds instead\n"
            "  -s, --seed N          seed (default 1)\n"
            "  -S, --symbols N       number of symbols (default 8)\n"
            "  -r, --rate HZ         aggregate trade rate per simulated second (default 2000)\n"
            "      --start-ns NS     timestamp of the first instant (default 2024-01-02T14:30Z)\n"
            "      --price P         start every symbol at P (default: log-uniform 20..500)\n"
            "      --informed F      fraction of trades on the informed side in episodes (0.88)\n"
            "      --episode-len SEC episode length (default 300; 0 = no episodes)\n"
            "      --episode-period SEC  time between episode starts (default 1800)\n"
            "  -o, --output FILE     write to FILE (default: standard output)\n"
            "  -q, --quiet           no progress on stderr\n"
            "  -h, --help            this text\n"
            "Progress is shown on stderr when it is a terminal.\n");
}

/* Parses an unsigned integer option; prints the error and returns false if bad. */
static bool opt_u64(const char *name, const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "mesh-synth: --%s '%s' is not an unsigned integer\n", name, s);
        return false;
    }
    *v = x;
    return true;
}

/* Parses a finite non-negative number option. */
static bool opt_num(const char *name, const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x) || x < 0) {
        fprintf(stderr, "mesh-synth: --%s '%s' is not a finite number >= 0\n", name, s);
        return false;
    }
    *v = x;
    return true;
}

enum { OPT_START = 256, OPT_PRICE, OPT_INFORMED, OPT_EPLEN, OPT_EPPERIOD };

/* Applies one option to o; returns false after printing an error. */
static bool apply_opt(synth_opts *o, int c, const char *arg)
{
    uint64_t u = 0;
    double d = 0;
    switch (c) {
    case 'n':
        return opt_u64("trades", arg, &o->trades) && (o->duration_ns = 0, true);
    case 'd':
        if (!opt_num("duration", arg, &d))
            return false;
        o->duration_ns = (uint64_t)llround(d * 1e9);
        o->trades = 0;
        return true;
    case 's':
        return opt_u64("seed", arg, &o->p.seed);
    case 'S':
        if (!opt_u64("symbols", arg, &u))
            return false;
        o->p.n_symbols = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return true;
    case 'r':
        return opt_num("rate", arg, &o->p.trade_rate_hz);
    case OPT_START:
        return opt_u64("start-ns", arg, &o->p.start_ts_ns);
    case OPT_PRICE:
        return opt_num("price", arg, &o->p.initial_price);
    case OPT_INFORMED:
        return opt_num("informed", arg, &o->p.informed_fraction);
    case OPT_EPLEN:
        if (!opt_num("episode-len", arg, &d))
            return false;
        o->p.episode.len_ns = (uint64_t)llround(d * 1e9);
        return true;
    case OPT_EPPERIOD:
        if (!opt_num("episode-period", arg, &d))
            return false;
        o->p.episode.period_ns = (uint64_t)llround(d * 1e9);
        return true;
    case 'o':
        o->out = arg;
        return true;
    case 'q':
        o->quiet = true;
        return true;
    default:
        return false;
    }
}

/* Parses argv; returns 0 to run, 1 after --help, 2 on a usage error. */
static int parse_args(synth_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trades", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 's'},
        {"symbols", required_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {"start-ns", required_argument, NULL, OPT_START},
        {"price", required_argument, NULL, OPT_PRICE},
        {"informed", required_argument, NULL, OPT_INFORMED},
        {"episode-len", required_argument, NULL, OPT_EPLEN},
        {"episode-period", required_argument, NULL, OPT_EPPERIOD},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    md_synth_default_params(&o->p);
    o->trades = 100000;
    int c;
    while ((c = getopt_long(argc, argv, "n:d:s:S:r:o:qh", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == '?' || !apply_opt(o, c, optarg)) {
            fprintf(stderr, "Try 'mesh-synth --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mesh-synth: unexpected argument '%s'\nTry 'mesh-synth --help'.\n",
                argv[optind]);
        return 2;
    }
    return 0;
}

/* Appends the decimal digits of v to p; returns the new end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Formats one row "ts,symbol,price,size\n" into line; price printed with dec
 * decimals (scale = 10^dec). Returns the length. */
static size_t format_row(char *line, const md_trade *t, int dec, double scale)
{
    char *p = put_u64(line, t->ts_ns);
    *p++ = ',';
    size_t sl = strlen(t->symbol);
    memcpy(p, t->symbol, sl);
    p += sl;
    *p++ = ',';
    uint64_t fixed = (uint64_t)llround(t->price * scale), unit = (uint64_t)llround(scale);
    p = put_u64(p, fixed / unit);
    if (dec > 0) {
        char frac[24];
        uint64_t f = fixed % unit;
        *p++ = '.';
        for (int k = dec - 1; k >= 0; k--, f /= 10)
            frac[k] = (char)('0' + f % 10);
        memcpy(p, frac, (size_t)dec);
        p += dec;
    }
    *p++ = ',';
    p = put_u64(p, (uint64_t)t->size);
    *p++ = '\n';
    return (size_t)(p - line);
}

/* Decimals needed to print multiples of tick exactly (up to 9). */
static int tick_decimals(double tick)
{
    int d = 0;
    double scale = 1;
    while (d < 9 && fabs(tick * scale - round(tick * scale)) > 1e-9 * tick * scale)
        d++, scale *= 10;
    return d;
}

/* Prints progress on stderr at most every 0.25 s of wall time. */
static void progress(const synth_opts *o, uint64_t written, uint64_t sim_ns, uint64_t *next)
{
    uint64_t now = mesh_now_ns();
    if (now < *next)
        return;
    *next = now + 250000000ull;
    if (o->trades)
        fprintf(stderr, "\rmesh-synth: %" PRIu64 " / %" PRIu64 " trades (%.0f%%)", written,
                o->trades, 100.0 * (double)written / (double)o->trades);
    else
        fprintf(stderr, "\rmesh-synth: %" PRIu64 " trades, %.0f / %.0f s simulated (%.0f%%)",
                written, (double)sim_ns / 1e9, (double)o->duration_ns / 1e9,
                100.0 * (double)sim_ns / (double)o->duration_ns);
}

/* Generates and writes the trades. Returns 0 or a MESH_E* code (message printed). */
static int run(const synth_opts *o, md_synth *s, FILE *f)
{
    md_event ev;
    char line[128];
    int dec = tick_decimals(o->p.tick);
    double scale = pow(10, dec);
    bool show = !o->quiet && isatty(STDERR_FILENO);
    uint64_t written = 0, next = 0;
    uint64_t end = o->p.start_ts_ns + o->duration_ns;
    if (end < o->p.start_ts_ns)
        end = UINT64_MAX;
    fputs("ts_ns,symbol,price,size\n", f);
    while (o->trades ? written < o->trades : true) {
        int rc = md_synth_next(s, &ev);
        if (rc < 0) {
            fprintf(stderr, "mesh-synth: generator stopped: %s\n", mesh_strerror(rc));
            return rc;
        }
        uint64_t ts = ev.kind == MD_EVENT_TRADE ? ev.trade.ts_ns : ev.quote.ts_ns;
        if (!o->trades && ts >= end)
            break;
        if (ev.kind != MD_EVENT_TRADE)
            continue;
        fwrite(line, 1, format_row(line, &ev.trade, dec, scale), f);
        if ((++written & 0xffff) == 0 && show)
            progress(o, written, ts - o->p.start_ts_ns, &next);
    }
    if (show)
        fprintf(stderr, "\rmesh-synth: %" PRIu64 " trades written%30s\n", written, "");
    return 0;
}

int main(int argc, char **argv)
{
    synth_opts o = {0};
    char why[256];
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!o.trades && !o.duration_ns) {
        fprintf(stderr, "mesh-synth: nothing to write (--trades 0 or --duration 0)\n");
        return 2;
    }
    if (md_synth_params_check(&o.p, why, sizeof why) < 0) {
        fprintf(stderr, "mesh-synth: bad parameter %s\n", why);
        return 2;
    }
    md_synth *s = NULL;
    rc = md_synth_open(&s, &o.p);
    if (rc < 0) {
        fprintf(stderr, "mesh-synth: %s\n", mesh_strerror(rc));
        return 1;
    }
    FILE *f = stdout;
    if (o.out && strcmp(o.out, "-") != 0 && !(f = fopen(o.out, "w"))) {
        fprintf(stderr, "mesh-synth: cannot create %s: %s\n", o.out, strerror(errno));
        md_synth_close(s);
        return 1;
    }
    static char obuf[1 << 16];
    setvbuf(f, obuf, _IOFBF, sizeof obuf);
    rc = run(&o, s, f);
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "mesh-synth: write error: %s\n", strerror(errno));
        rc = rc ? rc : MESH_EIO;
    }
    if (f != stdout)
        fclose(f);
    md_synth_close(s);
    return rc < 0 ? 1 : 0;
}
