/* Tests of the features engine: many symbols interleaved against naive
 * per-symbol recomputation, warm-up, bar alignment and flush, cadences, VWAP
 * sessions, annualisation, external bars, and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feat_engine.h"
#include "mesh_error.h"

#define SEC 1000000000ull

/* Captured vectors. */
typedef struct capture {
    feat_vector *v;
    size_t n, cap;
} capture;

static void on_emit(void *ctx, const feat_vector *v)
{
    capture *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        cr_assert(c->v != NULL);
    }
    c->v[c->n++] = *v;
}

static feat_engine *open_engine(feat_config *cfg, capture *cap)
{
    feat_engine *e = NULL;
    const char *why = NULL;
    cfg->emit = on_emit;
    cfg->emit_ctx = cap;
    int rc = feat_open(&e, cfg, &why);
    cr_assert_eq(rc, 0, "feat_open: %s (%s)", mesh_strerror(rc), why ? why : "");
    return e;
}

static uint64_t rng_state;

static double uniform(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double scale(void)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    return f > 0 ? f : 1.0;
}

/* ---- naive references over one symbol's bars (indices 0..k) ---- */

static double naive_mean(const double *x, int k, int n)
{
    double s = 0;
    for (int i = k - n + 1; i <= k; i++)
        s += x[i];
    return s / n;
}

static double naive_sd_pop(const double *x, int k, int n)
{
    double m = naive_mean(x, k, n), s = 0;
    for (int i = k - n + 1; i <= k; i++)
        s += (x[i] - m) * (x[i] - m);
    return sqrt(s / n);
}

/* Naive series of one symbol's indicators at every bar index, each from the
 * textbook recursion (EMA / Wilder) or a fresh window sum (SMA, Bollinger,
 * realised vol). ema12 / ema26 / line / signal / rsi / atr arrays of length bars. */
typedef struct naive_series {
    double *ema20, *ema12, *ema26, *line, *signal, *rsi, *atr;
} naive_series;

static void naive_ema_series(const double *x, int from, int len, int n, double *out)
{
    double a = 2.0 / (n + 1), e = 0;
    for (int i = from; i < len; i++) {
        if (i - from < n - 1) {
            e += x[i];
            continue;
        }
        if (i - from == n - 1)
            e = (e + x[i]) / n;
        else
            e = a * x[i] + (1 - a) * e;
        out[i] = e;
    }
}

static void naive_compute(const double *h, const double *l, const double *c, int len,
                          naive_series *ns)
{
    ns->ema20 = calloc(len, sizeof(double));
    ns->ema12 = calloc(len, sizeof(double));
    ns->ema26 = calloc(len, sizeof(double));
    ns->line = calloc(len, sizeof(double));
    ns->signal = calloc(len, sizeof(double));
    ns->rsi = calloc(len, sizeof(double));
    ns->atr = calloc(len, sizeof(double));
    naive_ema_series(c, 0, len, 20, ns->ema20);
    naive_ema_series(c, 0, len, 12, ns->ema12);
    naive_ema_series(c, 0, len, 26, ns->ema26);
    for (int i = 25; i < len; i++)
        ns->line[i] = ns->ema12[i] - ns->ema26[i];
    naive_ema_series(ns->line, 25, len, 9, ns->signal);
    double g = 0, lo = 0, a = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0) {
            double d = c[i] - c[i - 1], up = d > 0 ? d : 0, dn = d < 0 ? -d : 0;
            if (i <= 14) {
                g += up / 14;
                lo += dn / 14;
            } else {
                g = (g * 13 + up) / 14;
                lo = (lo * 13 + dn) / 14;
            }
        }
        ns->rsi[i] = lo == 0 ? (g == 0 ? 50 : 100) : 100 - 100 / (1 + g / lo);
        double tr = h[i] - l[i];
        if (i > 0)
            tr = fmax(tr, fmax(fabs(h[i] - c[i - 1]), fabs(l[i] - c[i - 1])));
        a = i < 14 ? a + tr / 14 : (a * 13 + tr) / 14;
        ns->atr[i] = a;
    }
}

static void naive_free(naive_series *ns)
{
    free(ns->ema20), free(ns->ema12), free(ns->ema26), free(ns->line);
    free(ns->signal), free(ns->rsi), free(ns->atr);
}

static void assert_near(double got, double want, double rel, const char *what, const char *sym,
                        int k)
{
    double tol = rel * fmax(1.0, fabs(want));
    cr_assert(fabs(got - want) <= tol, "%s %s bar %d: got %.17g want %.17g", sym, what, k, got,
              want);
}

/* Bars of one symbol rebuilt by the test from its trades. */
typedef struct sym_ref {
    double *h, *l, *c;
    uint64_t *bar_id;
    int bars;
    /* trades for VWAP: */
    uint64_t *ts;
    double *px, *sz;
    int trades;
} sym_ref;

static void check_vector(const feat_vector *v, const sym_ref *r, const naive_series *ns,
                         uint64_t session_ns)
{
    int b = (int)v->bars, k = b - 1;
    cr_assert(b >= 1 && b <= r->bars, "%s: bars %d", v->symbol, b);
    assert_near(v->close, r->c[k], 0, "close", v->symbol, k);
    cr_assert_eq(!!(v->ready & FEAT_READY_SMA), b >= 20);
    cr_assert_eq(!!(v->ready & FEAT_READY_EMA), b >= 20);
    cr_assert_eq(!!(v->ready & FEAT_READY_RSI), b >= 15);
    cr_assert_eq(!!(v->ready & FEAT_READY_MACD), b >= 26);
    cr_assert_eq(!!(v->ready & FEAT_READY_MACD_SIGNAL), b >= 34);
    cr_assert_eq(!!(v->ready & FEAT_READY_BOLLINGER), b >= 20);
    cr_assert_eq(!!(v->ready & FEAT_READY_ATR), b >= 14);
    cr_assert_eq(!!(v->ready & FEAT_READY_RVOL), b >= 21);
    cr_assert_eq(!!(v->ready & FEAT_READY_RETURN), b >= 2);
    if (b >= 20) {
        assert_near(v->sma, naive_mean(r->c, k, 20), 1e-12, "sma", v->symbol, k);
        assert_near(v->ema, ns->ema20[k], 1e-12, "ema", v->symbol, k);
        double mid = naive_mean(r->c, k, 20), sd = naive_sd_pop(r->c, k, 20);
        assert_near(v->bb_upper, mid + 2 * sd, 1e-10, "bb_upper", v->symbol, k);
        assert_near(v->bb_lower, mid - 2 * sd, 1e-10, "bb_lower", v->symbol, k);
    } else {
        cr_assert(isnan(v->sma) && isnan(v->ema) && isnan(v->bb_mid));
    }
    if (b >= 15)
        assert_near(v->rsi, ns->rsi[k], 1e-9, "rsi", v->symbol, k);
    if (b >= 14)
        assert_near(v->atr, ns->atr[k], 1e-12, "atr", v->symbol, k);
    if (b >= 26)
        assert_near(v->macd, ns->line[k], 1e-10, "macd", v->symbol, k);
    if (b >= 34) {
        assert_near(v->macd_signal, ns->signal[k], 1e-10, "signal", v->symbol, k);
        assert_near(v->macd_hist, ns->line[k] - ns->signal[k], 1e-10, "hist", v->symbol, k);
    }
    if (b >= 2)
        assert_near(v->log_return, log(r->c[k] / r->c[k - 1]), 1e-13, "return", v->symbol, k);
    if (b >= 21) {
        double s = 0;
        for (int i = k - 19; i <= k; i++)
            s += log(r->c[i] / r->c[i - 1]) * log(r->c[i] / r->c[i - 1]);
        assert_near(v->rvol, sqrt(s), 1e-10, "rvol", v->symbol, k);
    }
    /* VWAP over the trades up to v->ts_ns in its session */
    double pv = 0, vol = 0;
    for (int i = 0; i < r->trades && r->ts[i] <= v->ts_ns; i++) {
        if (r->ts[i] / session_ns != v->ts_ns / session_ns)
            continue;
        pv += r->px[i] * r->sz[i];
        vol += r->sz[i];
    }
    cr_assert(v->ready & FEAT_READY_VWAP);
    assert_near(v->vwap, pv / vol, 1e-12, "vwap", v->symbol, k);
}

Test(features, interleaved_symbols_match_naive_recomputation)
{
    enum { NSYM = 20 };
    int ntrades = (int)(40000 * scale());
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.session_ns = 300 * SEC; /* several VWAP resets during the run */
    feat_engine *e = open_engine(&cfg, &cap);
    sym_ref ref[NSYM];
    double px[NSYM];
    char names[NSYM][16];
    for (int s = 0; s < NSYM; s++) {
        memset(&ref[s], 0, sizeof(ref[s]));
        ref[s].h = calloc(ntrades, sizeof(double));
        ref[s].l = calloc(ntrades, sizeof(double));
        ref[s].c = calloc(ntrades, sizeof(double));
        ref[s].bar_id = calloc(ntrades, sizeof(uint64_t));
        ref[s].ts = calloc(ntrades, sizeof(uint64_t));
        ref[s].px = calloc(ntrades, sizeof(double));
        ref[s].sz = calloc(ntrades, sizeof(double));
        px[s] = 50 + s;
        snprintf(names[s], sizeof(names[s]), "SYM%02d", s);
    }
    rng_state = 21;
    uint64_t ts = 1700000000ull * SEC;
    for (int t = 0; t < ntrades; t++) {
        ts += (uint64_t)(uniform() * 50e6); /* mean 25 ms between trades */
        int s = (int)(uniform() * NSYM);
        px[s] = fmax(1.0, px[s] + (uniform() - 0.5) * 0.2);
        double size = 1 + floor(uniform() * 100);
        cr_assert_eq(feat_on_trade(e, names[s], ts, px[s], size), 0);
        sym_ref *r = &ref[s];
        uint64_t id = ts / SEC;
        if (r->bars == 0 || r->bar_id[r->bars - 1] != id) {
            r->bar_id[r->bars] = id;
            r->h[r->bars] = r->l[r->bars] = px[s];
            r->bars++;
        }
        int k = r->bars - 1;
        r->h[k] = fmax(r->h[k], px[s]);
        r->l[k] = fmin(r->l[k], px[s]);
        r->c[k] = px[s];
        r->ts[r->trades] = ts;
        r->px[r->trades] = px[s];
        r->sz[r->trades++] = size;
    }
    cr_assert_eq(feat_flush(e, UINT64_MAX), NSYM);
    /* one vector per bar, every bar of every symbol */
    size_t total_bars = 0;
    for (int s = 0; s < NSYM; s++)
        total_bars += ref[s].bars;
    cr_assert_eq(cap.n, total_bars);
    naive_series ns[NSYM];
    for (int s = 0; s < NSYM; s++)
        naive_compute(ref[s].h, ref[s].l, ref[s].c, ref[s].bars, &ns[s]);
    for (size_t i = 0; i < cap.n; i++) {
        int s = atoi(cap.v[i].symbol + 3);
        check_vector(&cap.v[i], &ref[s], &ns[s], cfg.session_ns);
    }
    for (int s = 0; s < NSYM; s++)
        naive_free(&ns[s]);
    cr_assert_eq(feat_symbols(e), NSYM);
    for (int s = 0; s < NSYM; s++) {
        free(ref[s].h), free(ref[s].l), free(ref[s].c), free(ref[s].bar_id);
        free(ref[s].ts), free(ref[s].px), free(ref[s].sz);
    }
    free(cap.v);
    feat_close(e);
}

Test(features, warm_up_ready_bits_by_bar_count)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    feat_engine *e = open_engine(&cfg, &cap);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(feat_on_trade(e, "A", (uint64_t)i * SEC, 100 + (i % 7), 10), 0);
    feat_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 40);
    for (int b = 1; b <= 40; b++) {
        uint32_t want = FEAT_READY_VWAP;
        want |= b >= 2 ? FEAT_READY_RETURN : 0;
        want |= b >= 14 ? FEAT_READY_ATR : 0;
        want |= b >= 15 ? FEAT_READY_RSI : 0;
        want |= b >= 20 ? FEAT_READY_SMA | FEAT_READY_EMA | FEAT_READY_BOLLINGER : 0;
        want |= b >= 21 ? FEAT_READY_RVOL : 0;
        want |= b >= 26 ? FEAT_READY_MACD : 0;
        want |= b >= 34 ? FEAT_READY_MACD_SIGNAL : 0;
        cr_assert_eq(cap.v[b - 1].ready, want, "bar %d: ready %#x want %#x", b, cap.v[b - 1].ready,
                     want);
    }
    cr_assert_eq(cap.v[39].ready, (uint32_t)FEAT_READY_ALL);
    free(cap.v);
    feat_close(e);
}

Test(features, bars_aligned_to_epoch_multiples_and_flush)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.atr_period = 1; /* ATR = true range of the last bar */
    feat_engine *e = open_engine(&cfg, &cap);
    /* 0.999999999 s is in bar [0, 1 s); 1.0 s starts bar [1 s, 2 s) */
    cr_assert_eq(feat_on_trade(e, "X", SEC - 1, 11, 1), 0);
    cr_assert_eq(cap.n, 0);
    cr_assert_eq(feat_on_trade(e, "X", SEC, 10, 1), 0);
    cr_assert_eq(cap.n, 1);
    cr_assert_eq(cap.v[0].ts_ns, SEC - 1);
    cr_assert_float_eq(cap.v[0].close, 11, 0);
    cr_assert_eq(cap.v[0].bars, 1);
    cr_assert_float_eq(cap.v[0].atr, 0, 0); /* one-trade first bar: h - l = 0 */
    cr_assert_eq(feat_on_trade(e, "X", SEC + SEC / 2, 12, 1), 0);
    cr_assert_eq(feat_on_trade(e, "X", 2 * SEC, 12.5, 1), 0);
    cr_assert_eq(cap.n, 2);
    /* bar [1, 2): h 12, l 10, c 12, prev close 11: TR = max(2, 1, 1) = 2 */
    cr_assert_float_eq(cap.v[1].close, 12, 0);
    cr_assert_eq(cap.v[1].ts_ns, SEC + SEC / 2);
    cr_assert_float_eq(cap.v[1].atr, 2, 1e-15);
    /* log return of bar 2: ln(12 / 11) */
    cr_assert_float_eq(cap.v[1].log_return, log(12.0 / 11.0), 1e-15);
    /* bar [2, 3) has not ended at 3 s - 1 ns; it has at 3 s */
    cr_assert_eq(feat_flush(e, 3 * SEC - 1), 0);
    cr_assert_eq(feat_flush(e, 3 * SEC), 1);
    cr_assert_eq(cap.n, 3);
    cr_assert_float_eq(cap.v[2].close, 12.5, 0);
    /* a late trade in the flushed bar is refused, a later one accepted */
    cr_assert_eq(feat_on_trade(e, "X", 2 * SEC + 5, 13, 1), MESH_ERANGE);
    cr_assert_eq(feat_on_trade(e, "X", 3 * SEC, 13, 1), 0);
    /* a trade before the symbol's last one is refused */
    cr_assert_eq(feat_on_trade(e, "X", 3 * SEC - 1, 13, 1), MESH_ERANGE);
    free(cap.v);
    feat_close(e);
}

Test(features, trade_cadence_every_n_trades)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.emit_every_trades = 3;
    feat_engine *e = open_engine(&cfg, &cap);
    const double p[7] = {10, 11, 12, 13, 14, 15, 16};
    const double q[7] = {1, 2, 3, 4, 5, 6, 7};
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(feat_on_trade(e, "A", (uint64_t)i * SEC / 10, p[i], q[i]), 0);
        cr_assert_eq(feat_on_trade(e, "B", (uint64_t)i * SEC / 10, 1, 1), 0);
    }
    /* A: vectors after its 3rd and 6th trades; B likewise, interleaved */
    cr_assert_eq(cap.n, 4);
    cr_assert_str_eq(cap.v[0].symbol, "A");
    cr_assert_str_eq(cap.v[1].symbol, "B");
    cr_assert_eq(cap.v[0].trades, 3);
    cr_assert_eq(cap.v[2].trades, 6);
    cr_assert_eq(cap.v[2].ts_ns, 5 * SEC / 10);
    /* VWAP after 3: (10*1 + 11*2 + 12*3) / 6 = 68 / 6 = 11.333...;
     * after 6: (68 + 13*4 + 14*5 + 15*6) / 21 = (68 + 52 + 70 + 90) / 21
     * = 280 / 21 = 13.333... */
    cr_assert_float_eq(cap.v[0].vwap, 68.0 / 6.0, 1e-12);
    cr_assert_float_eq(cap.v[2].vwap, 280.0 / 21.0, 1e-12);
    cr_assert_float_eq(cap.v[2].last_price, 15, 0);
    /* no bar has closed (all trades in [0, 1 s)): bar values not ready */
    cr_assert_eq(cap.v[2].bars, 0);
    cr_assert(isnan(cap.v[2].close));
    free(cap.v);
    feat_close(e);
}

Test(features, vwap_resets_at_configured_session_boundary)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.emit_every_trades = 1;
    cfg.session_ns = 3600 * SEC;        /* hourly sessions ... */
    cfg.session_offset_ns = 1800 * SEC; /* ... starting at hh:30 */
    feat_engine *e = open_engine(&cfg, &cap);
    cr_assert_eq(feat_on_trade(e, "A", 1799 * SEC, 10, 100), 0); /* session -1 */
    cr_assert_eq(feat_on_trade(e, "A", 1800 * SEC, 20, 100), 0); /* session 0 */
    cr_assert_eq(feat_on_trade(e, "A", 5399 * SEC, 30, 300), 0); /* session 0 */
    cr_assert_eq(feat_on_trade(e, "A", 5400 * SEC, 40, 1), 0);   /* session 1 */
    cr_assert_eq(cap.n, 4);
    cr_assert_float_eq(cap.v[0].vwap, 10, 1e-12);
    cr_assert_float_eq(cap.v[1].vwap, 20, 1e-12);
    /* (20*100 + 30*300) / 400 = 11000 / 400 = 27.5 */
    cr_assert_float_eq(cap.v[2].vwap, 27.5, 1e-12);
    cr_assert_float_eq(cap.v[3].vwap, 40, 1e-12);
    free(cap.v);
    feat_close(e);
}

Test(features, realised_vol_annualisation)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.rvol_window = 2;
    feat_engine *e = open_engine(&cfg, &cap);
    /* 1 s bars closing at 100, 110, 99: RV = sqrt(ln(1.1)^2 + ln(0.9)^2)
     * = 0.14207346; default bars/year = 252 days * 23400 s / 1 s = 5896800;
     * annualised = RV * sqrt(5896800 / 2) = RV * 1717.0905 */
    feat_on_trade(e, "A", 0, 100, 1);
    feat_on_trade(e, "A", SEC, 110, 1);
    feat_on_trade(e, "A", 2 * SEC, 99, 1);
    feat_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 3);
    double rv = sqrt(log(1.1) * log(1.1) + log(0.9) * log(0.9));
    cr_assert_float_eq(cap.v[2].rvol, 0.1420734621, 1e-10);
    cr_assert_float_eq(cap.v[2].rvol_annual, rv * sqrt(252.0 * 23400.0 / 2.0), 1e-9);
    cr_assert_float_eq(sqrt(252.0 * 23400.0 / 2.0), 1717.0905, 1e-4);
    free(cap.v);
    feat_close(e);
}

Test(features, external_bars_rsi_published_table)
{
    /* StockCharts cs-rsi.xls closes fed as bars (h = l = c): RSI(14) on the
     * 15th bar is 70.53 and on the 33rd 37.77 (table, 2 dp). */
    static const double c[33] = {44.3389, 44.0902, 44.1497, 43.6124, 44.2778, 44.8264, 45.0955,
                                 45.4245, 45.8433, 46.0826, 45.8931, 46.0328, 45.6140, 46.2820,
                                 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439, 46.2122,
                                 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783,
                                 44.2181, 44.5672, 43.4205, 42.6628, 43.1314};
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.bar_ns = 0;
    feat_engine *e = open_engine(&cfg, &cap);
    cr_assert_eq(feat_on_trade(e, "QQQQ", 0, 44, 10), 0); /* trades still feed VWAP */
    for (int i = 0; i < 33; i++)
        cr_assert_eq(feat_on_bar(e, "QQQQ", (uint64_t)(i + 1) * 86400 * SEC, c[i], c[i], c[i]), 0);
    cr_assert_eq(cap.n, 33);
    cr_assert(!(cap.v[13].ready & FEAT_READY_RSI));
    cr_assert(fabs(cap.v[14].rsi - 70.53) <= 0.0051, "rsi %f", cap.v[14].rsi);
    cr_assert(fabs(cap.v[32].rsi - 37.77) <= 0.0051, "rsi %f", cap.v[32].rsi);
    cr_assert_eq(feat_flush(e, UINT64_MAX), 0);
    free(cap.v);
    feat_close(e);
}

Test(features, bad_input_is_refused_without_state_change)
{
    feat_config cfg;
    capture cap = {0};
    feat_config_default(&cfg);
    cfg.max_symbols = 2;
    cfg.emit_every_trades = 1;
    feat_engine *e = open_engine(&cfg, &cap);
    cr_assert_eq(feat_on_trade(e, "A", 10, NAN, 1), MESH_EINVAL);
    cr_assert_eq(feat_on_trade(e, "A", 10, INFINITY, 1), MESH_EINVAL);
    cr_assert_eq(feat_on_trade(e, "A", 10, -1, 1), MESH_EINVAL);
    cr_assert_eq(feat_on_trade(e, "A", 10, 1, 0), MESH_EINVAL);
    cr_assert_eq(feat_on_trade(e, "", 10, 1, 1), MESH_EINVAL);
    cr_assert_eq(feat_on_trade(e, "0123456789ABCDEF", 10, 1, 1), MESH_EINVAL); /* 16 chars */
    cr_assert_eq(feat_symbols(e), 0);
    cr_assert_eq(cap.n, 0);
    cr_assert_eq(feat_on_trade(e, "0123456789ABCDE", 10, 1, 1), 0); /* 15 chars */
    cr_assert_eq(feat_on_trade(e, "B", 10, 1, 1), 0);
    cr_assert_eq(feat_on_trade(e, "C", 10, 1, 1), MESH_ENOSPC);
    cr_assert_eq(feat_on_bar(e, "B", 20, 2, 1, 1.5), MESH_ESTATE);
    feat_vector v;
    cr_assert_eq(feat_get(e, "C", &v), MESH_ENOENT);
    cr_assert_eq(feat_get(e, "B", &v), 0);
    cr_assert_eq(v.trades, 1);
    cr_assert_float_eq(v.last_price, 1, 0);
    free(cap.v);
    feat_close(e);

    feat_config_default(&cfg);
    cfg.bar_ns = 0;
    cr_assert_eq(feat_open(&e, &cfg, NULL), 0);
    cr_assert_eq(feat_on_bar(e, "A", 1, 1, 2, 1.5), MESH_EINVAL); /* low > high */
    cr_assert_eq(feat_on_bar(e, "A", 1, 2, 1, 2.5), MESH_EINVAL); /* close > high */
    cr_assert_eq(feat_on_bar(e, "A", 5, 2, 1, 1.5), 0);
    cr_assert_eq(feat_on_bar(e, "A", 4, 2, 1, 1.5), MESH_ERANGE);
    feat_close(e);
    feat_close(NULL);
}

Test(features, bad_config_names_the_field)
{
    feat_config cfg;
    feat_engine *e = (feat_engine *)&cfg;
    const char *why = NULL;
    feat_config_default(&cfg);
    cfg.rsi_period = 0;
    cr_assert_eq(feat_open(&e, &cfg, &why), MESH_EINVAL);
    cr_assert_null(e);
    cr_assert(why != NULL && strstr(why, "rsi_period") != NULL);
    feat_config_default(&cfg);
    cfg.session_ns = 0;
    cr_assert_eq(feat_open(&e, &cfg, &why), MESH_EINVAL);
    cr_assert(strstr(why, "session_ns") != NULL);
    feat_config_default(&cfg);
    cfg.bb_k = NAN;
    cr_assert_eq(feat_open(&e, &cfg, &why), MESH_EINVAL);
    cr_assert(strstr(why, "bb_k") != NULL);
}
