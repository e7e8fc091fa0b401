/* End to end: marketdata SIGKILLed mid-stream under meshd resumes its market.
 * The synthetic market runs 60x faster than the wall clock (or a CSV file is
 * replayed 100x faster) into features, vpin and a recording consumer; after
 * each kill meshd restarts marketdata, which restores its checkpoint. The
 * consumer's trades must be exactly the uninterrupted stream (independent
 * references: md_synth run straight through in this process, or the rows of
 * the CSV file the test wrote), with no trade duplicated or missing and
 * market time never going back; every bar must equal the one computed here
 * from the reference trades, once; features and vpin reject nothing. */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "md_synth.h"

#define S     1000000000ull
#define T0    1704205800000000000ull /* 2024-01-02T14:30:00Z: --start-ts */
#define KILLS 3

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

static void use_engine_binaries(th_mesh *h)
{
    char a[512], b[512], c[512], t[512];
    snprintf(h->bindir, sizeof(h->bindir), "%s:%s:%s:%s",
             th_build_path("engines/marketdata", a, sizeof(a)),
             th_build_path("engines/features", b, sizeof(b)),
             th_build_path("engines/vpin", c, sizeof(c)),
             th_build_path("tests/engines", t, sizeof(t)));
}

/* The market: 100 trades and 50 quotes per market second over 4 symbols,
 * 1 s bars; at speed 60 that is 6000 trades per wall second. */
static const char synth_body[] =
    "engines:\n"
    "  - name: marketdata\n"
    "    args: [--speed, '60', --rate, '100', --quote-rate, '50', --symbols, '4', --seed, '7',\n"
    "           --start-ts, '1704205800000000000', --bar-seconds, '1', --episode-first, '60',\n"
    "           --episode-len, '120', --episode-period, '300', --episode-stagger, '30']\n"
    "    restart: permanent\n"
    "    backoff_initial_ms: 50\n"
    "    heartbeat_timeout_ms: 5000\n"
    "  - name: features\n"
    "    args: [--bar-seconds, '1']\n"
    "    depends_on: [marketdata]\n"
    "  - name: vpin\n"
    "    args: [--bar-seconds, '1', --bucket-volume, '20000', --window, '10']\n"
    "    depends_on: [marketdata]\n"
    "  - name: sink\n"
    "    binary: test-consumer\n"
    "    args: [--out, '@DIR@/sink.out', --detail]\n"
    "    depends_on: [marketdata]\n"
    "routes:\n"
    "  - {from: marketdata, to: [features, vpin], types: [trade]}\n"
    "  - {from: marketdata, to: sink, types: [trade, bar], ring_bytes: 4MiB}\n";

/* The same market as the daemon's options above, for the reference. */
static void market_params(md_synth_params *p)
{
    md_synth_default_params(p);
    p->seed = 7;
    p->start_ts_ns = T0;
    p->n_symbols = 4;
    p->trade_rate_hz = 100;
    p->quote_rate_hz = 50;
    p->episode = (md_synth_episode){.first_ns = 60 * S, .len_ns = 120 * S, .period_ns = 300 * S};
    p->episode_stagger_ns = 30 * S;
}

typedef struct rec {
    char kind; /* 'T' or 'B' */
    uint64_t seq, counter;
    char symbol[16];
    uint64_t ts, end; /* trade ts / bar start and end */
    double price, size, open, high, low, close, volume;
    int aggressor;
    uint64_t trades;
} rec;

static rec *read_sink(const char *path, long *n)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    size_t cap = 1 << 16;
    rec *r = malloc(cap * sizeof(*r));
    char line[512], from[64];
    *n = 0;
    while (fgets(line, sizeof(line), f)) {
        if ((size_t)*n == cap)
            r = realloc(r, (cap *= 2) * sizeof(*r));
        rec *x = &r[(*n)++];
        memset(x, 0, sizeof(*x));
        unsigned long long seq, counter, a, b, c;
        int k = sscanf(line, "%63s %llu %llu %c %15s %llu", from, &seq, &counter, &x->kind,
                       x->symbol, &a);
        cr_assert_eq(k, 6, "line %ld: %s", *n, line);
        x->seq = seq;
        x->counter = counter;
        x->ts = a;
        if (x->kind == 'T') {
            k = sscanf(line, "%*s %*s %*s %*s %*s %*s %lf %lf %d", &x->price, &x->size,
                       &x->aggressor);
            cr_assert_eq(k, 3, "line %ld: %s", *n, line);
        } else {
            k = sscanf(line, "%*s %*s %*s %*s %*s %*s %llu %lf %lf %lf %lf %lf %llu", &b, &x->open,
                       &x->high, &x->low, &x->close, &x->volume, &c);
            cr_assert_eq(k, 7, "line %ld: %s", *n, line);
            x->end = b;
            x->trades = c;
        }
    }
    fclose(f);
    return r;
}

/* pid of marketdata in a status reply. */
static int md_pid(void)
{
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st);
    int pid = (int)sup_jval_gnum(th_engine(st, "marketdata"), "pid", 0);
    sup_jval_free(st);
    return pid;
}

/* Predicate: marketdata is ready again with a pid other than *arg. */
static int restarted(const sup_jval *st, const void *arg)
{
    const sup_jval *e = th_engine(st, "marketdata");
    return e && strcmp(sup_jval_gstr(e, "state", ""), "ready") == 0 &&
           (int)sup_jval_gnum(e, "pid", 0) != *(const int *)arg && sup_jval_gnum(e, "pid", 0) > 0;
}

static long lines_in(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;)
        n += ch == '\n';
    if (f)
        fclose(f);
    return n;
}

static void wait_lines(const char *path, long n)
{
    for (int i = 0; i < 6000 && lines_in(path) < n; i++) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_geq(lines_in(path), n, "the sink has fewer than %ld lines (log %s)", n, H.log);
}

/* Features and vpin handled trades after the last restart and rejected none
 * (a rejected trade is a handler error). */
static void check_consumers_rejected_nothing(void)
{
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st);
    const char *names[] = {"features", "vpin"};
    for (int i = 0; i < 2; i++) {
        const sup_jval *e = th_engine(st, names[i]);
        cr_assert_gt(sup_jval_gnum(e, "msgs_in", 0), 0, "%s got nothing", names[i]);
        cr_assert_eq(sup_jval_gnum(e, "handler_errors", -1), 0,
                     "%s rejected trades after marketdata restarts (log %s)", names[i], H.log);
    }
    sup_jval_free(st);
}

/* Compares the sink's trades with the reference stream ref[0..nref) and
 * checks the ring and message sequences. Returns the number of trades. */
static long check_trades(const rec *r, long n, const md_trade *ref, long nref)
{
    long t = 0;
    uint64_t last_counter = 0, last_seq = 0;
    struct {
        char symbol[16];
        uint64_t ts;
    } last_ts[8];
    int nsym = 0;
    for (long i = 0; i < n; i++) {
        cr_assert_gt(r[i].seq, last_seq, "line %ld: ring seq %llu not after %llu", i + 1,
                     (unsigned long long)r[i].seq, (unsigned long long)last_seq);
        cr_assert_gt(r[i].counter, last_counter, "line %ld: message seq goes back", i + 1);
        last_seq = r[i].seq;
        last_counter = r[i].counter;
        if (r[i].kind != 'T')
            continue;
        int k = 0; /* per symbol, market time only moves forward */
        while (k < nsym && strcmp(last_ts[k].symbol, r[i].symbol) != 0)
            k++;
        if (k == nsym) {
            cr_assert_lt(nsym, 8);
            snprintf(last_ts[nsym++].symbol, 16, "%s", r[i].symbol);
        } else {
            cr_assert_gt(r[i].ts, last_ts[k].ts, "line %ld: %s at %llu, not after %llu", i + 1,
                         r[i].symbol, (unsigned long long)r[i].ts,
                         (unsigned long long)last_ts[k].ts);
        }
        last_ts[k].ts = r[i].ts;
        cr_assert_lt(t, nref, "more trades than the reference has");
        const md_trade *x = &ref[t];
        int side = x->aggressor > 0 ? 1 : x->aggressor < 0 ? 2 : 0; /* meshpb Side */
        cr_assert(strcmp(r[i].symbol, x->symbol) == 0 && r[i].ts == x->ts_ns &&
                      r[i].price == x->price && r[i].size == x->size && r[i].aggressor == side,
                  "trade %ld (line %ld) is %s %llu %.17g x %.17g, the uninterrupted market's is "
                  "%s %llu %.17g x %.17g: duplicated, missing or restarted",
                  t + 1, i + 1, r[i].symbol, (unsigned long long)r[i].ts, r[i].price, r[i].size,
                  x->symbol, (unsigned long long)x->ts_ns, x->price, x->size);
        t++;
    }
    /* Each kill may cost at most one ring sequence number (a kill inside a
     * commit's last two stores), never a record. */
    cr_assert_leq(last_seq, (uint64_t)n + KILLS, "ring seqs %llu for %ld records",
                  (unsigned long long)last_seq, n);
    return t;
}

/* Every bar received equals the one computed from the reference trades of
 * its symbol and second, and comes once; every second that ended well
 * before the last trade received has its bars. */
static void check_bars(const rec *r, long n, const md_trade *ref, long ntrades, int nsym)
{
    long bars = 0;
    for (long i = 0; i < n; i++) {
        if (r[i].kind != 'B')
            continue;
        bars++;
        for (long j = 0; j < i; j++)
            cr_assert(
                !(r[j].kind == 'B' && r[j].ts == r[i].ts && !strcmp(r[j].symbol, r[i].symbol)),
                "bar %s at %llu twice (lines %ld and %ld)", r[i].symbol,
                (unsigned long long)r[i].ts, j + 1, i + 1);
        cr_assert_eq(r[i].end, r[i].ts + S);
        double o = 0, h = -INFINITY, l = INFINITY, c = 0, v = 0;
        uint64_t k = 0;
        for (long j = 0; j < ntrades; j++) {
            const md_trade *x = &ref[j];
            if (strcmp(x->symbol, r[i].symbol) || x->ts_ns < r[i].ts || x->ts_ns >= r[i].end)
                continue;
            o = k++ ? o : x->price;
            h = fmax(h, x->price);
            l = fmin(l, x->price);
            c = x->price;
            v += x->size;
        }
        cr_assert(k == r[i].trades && o == r[i].open && h == r[i].high && l == r[i].low &&
                      c == r[i].close && fabs(v - r[i].volume) <= 1e-9 * v,
                  "bar %s at %llu (line %ld): %llu trades O %g H %g L %g C %g V %g, reference "
                  "%llu trades O %g H %g L %g C %g V %g",
                  r[i].symbol, (unsigned long long)r[i].ts, i + 1, (unsigned long long)r[i].trades,
                  r[i].open, r[i].high, r[i].low, r[i].close, r[i].volume, (unsigned long long)k, o,
                  h, l, c, v);
    }
    /* Completeness: seconds ending 30 market seconds (under half a wall
     * second) before the last trade received were closed by then. Every
     * symbol trades in every second (synthetic: 25 trades per second and
     * symbol, P(none) = e^-25; CSV: by construction). */
    uint64_t last = ref[ntrades - 1].ts_ns, first = ref[0].ts_ns;
    long want = 0;
    for (uint64_t sec = first / S * S; sec + S + 30 * S <= last; sec += S)
        want += nsym;
    cr_assert_geq(bars, want, "%ld bars, expected at least %ld", bars, want);
}

/* Runs the mesh of H (th_init done), kills marketdata KILLS times (each after `step` more
 * sink lines), checks features and vpin, stops, and returns the sink's
 * records (*n of them). */
static rec *run_with_kills(const char *body, long step, long *n)
{
    use_engine_binaries(&H);
    th_write_config(&H, "", body);
    th_start(&H, NULL);
    cr_assert(th_wait_ready(&H, 60000), "mesh never ready (log %s)", H.log);
    char out[400];
    snprintf(out, sizeof(out), "%s/sink.out", H.dir);
    for (int k = 1; k <= KILLS; k++) {
        wait_lines(out, step * k);
        int pid = md_pid();
        cr_assert_gt(pid, 0);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        cr_assert(th_wait_status(&H, restarted, &pid, 60000), "marketdata not back (log %s)",
                  H.log);
    }
    wait_lines(out, step * (KILLS + 1));
    check_consumers_rejected_nothing();
    cr_assert_eq(th_stop(&H, 30000), 0, "meshd did not stop cleanly (log %s)", H.log);
    cr_assert_eq(th_shm_count(&H), 0, "shared memory left behind (the state object?)");
    FILE *lf = fopen(H.log, "r");
    static char text[1 << 22];
    size_t tl = lf ? fread(text, 1, sizeof(text) - 1, lf) : 0;
    if (lf)
        fclose(lf);
    text[tl] = '\0';
    int resumed = 0;
    for (const char *p = text; (p = strstr(p, "resumed the market at")); p++)
        resumed++;
    cr_assert_eq(resumed, KILLS, "%d resumes logged (log %s)", resumed, H.log);
    cr_assert_null(strstr(text, "without a usable snapshot"), "log %s", H.log);
    return read_sink(out, n);
}

static long scaled_step(void)
{
    long step = (long)(3000 * th_scale());
    return step < 500 ? 500 : step;
}

Test(md_restart, killed_synthetic_market_resumes_without_duplicates_gaps_or_going_back,
     .fini = fini, .timeout = 300)
{
    long step = scaled_step(), n = 0;
    th_init(&H);
    rec *r = run_with_kills(synth_body, step, &n);
    /* The reference: the same market generated straight through. */
    md_synth_params p;
    market_params(&p);
    md_synth *s = NULL;
    cr_assert_eq(md_synth_open(&s, &p), 0);
    md_trade *ref = malloc((size_t)n * sizeof(*ref));
    for (long i = 0; i < n;) {
        md_event ev;
        cr_assert_eq(md_synth_next(s, &ev), 1);
        if (ev.kind == MD_EVENT_TRADE)
            ref[i++] = ev.trade;
    }
    md_synth_close(s);
    long trades = check_trades(r, n, ref, n);
    cr_assert_geq(trades, step * (KILLS + 1) * 9 / 10);
    check_bars(r, n, ref, trades, 4);
    /* Market time went on from the start across the restarts: at 100
     * trades per market second the last trade is about trades / 100 s in;
     * half that is more than 5 sigma (Poisson) below for 500+ trades. */
    cr_assert_gt(ref[trades - 1].ts_ns, T0 + (uint64_t)trades * S / 200);
    free(ref);
    free(r);
}

/* CSV row i: 10 ms apart, 3 symbols in turn, prices and sizes cycling. */
static void csv_row(long i, char *line, size_t len)
{
    snprintf(line, len, "%llu,S%ld,%ld.%02ld,%ld\n", T0 + (unsigned long long)i * 10000000ull,
             i % 3, 100 + i % 7, i % 37, 1 + i % 500);
}

Test(md_restart, killed_csv_replay_resumes_at_its_row, .fini = fini, .timeout = 300)
{
    const long rows = 60000; /* 600 market seconds: 6 wall seconds at speed 100 */
    long step = scaled_step(), n = 0;
    char line[128], body[2048], path[400];
    th_init(&H);
    snprintf(path, sizeof(path), "%s/trades.csv", H.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("ts_ns,symbol,price,size\n", f);
    for (long i = 0; i < rows; i++) {
        csv_row(i, line, sizeof(line));
        fputs(line, f);
    }
    fclose(f);
    snprintf(body, sizeof(body), "%s",
             strstr(synth_body, "engines:")); /* same mesh, marketdata args below */
    char *args = strstr(body, "    args: [--speed, '60'");
    char *end = strstr(args, "    restart:");
    char rest[1800];
    snprintf(rest, sizeof(rest), "%s", end);
    snprintf(args, sizeof(body) - (size_t)(args - body),
             "    args: [--csv, '@DIR@/trades.csv', --speed, '100', --bar-seconds, '1']\n%s", rest);
    rec *r = run_with_kills(body, step, &n);
    /* The reference: the rows as written, parsed by the C library. */
    md_trade *ref = malloc((size_t)rows * sizeof(*ref));
    for (long i = 0; i < rows; i++) {
        csv_row(i, line, sizeof(line));
        unsigned long long ts;
        long sz;
        cr_assert_eq(sscanf(line, "%llu,%15[^,],%lf,%ld", &ts, ref[i].symbol, &ref[i].price, &sz),
                     4);
        ref[i].ts_ns = ts;
        ref[i].size = (double)sz;
        ref[i].aggressor = 0;
    }
    long trades = check_trades(r, n, ref, rows);
    cr_assert_geq(trades, step * (KILLS + 1) * 9 / 10);
    check_bars(r, n, ref, trades, 3);
    free(ref);
    free(r);
}
