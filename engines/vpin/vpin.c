/* VPIN engine: symbol table, per-symbol bar builder, BVC, volume buckets,
 * rolling VPIN, lognormal CDF and Kyle's lambda (definitions: README.md). */
#include "vpin.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"
#include "vpin_stats.h"
#include "mesh_symtab.h"

typedef struct vpin_sym {
    uint64_t last_ts, trades, bars, bucketed_bars, buckets;
    int bar_open, has_ref, alert;
    int tick_sign; /* tick rule: sign of the last price change, 0 before one */
    uint64_t bar_id, bar_ts;
    double bar_close, bar_volume;
    double bar_flow;        /* signed volume of the open bar (aggressor or tick rule) */
    double ref;             /* previous bar's close */
    double fill, buy, sell; /* bucket under construction */
    double last_vpin;
    vpin_rollvar sigma; /* price changes, window S */
    vpin_rollsum imb;   /* |sell - buy| of the last n buckets */
    vpin_rollvar logv;  /* ln VPIN history for the CDF fit */
    vpin_rollreg kyle;  /* (signed order flow, price change) per bar */
} vpin_sym;

struct vpin_engine {
    vpin_params p;
    vpin_emit_fn emit;
    void *emit_ctx;
    mesh_symtab *tab;
    vpin_sym *syms;
    double *rings; /* per symbol: S + 2 n + cdf_window + 2 * lambda_window */
    size_t ring_per_sym;
};

void vpin_default_params(vpin_params *p)
{
    memset(p, 0, sizeof(*p));
    p->bar_ns = 60ull * 1000000000ull;
    p->bucket_volume = 10000.0;
    p->window = 50;
    p->sigma_bars = 1000;
    p->min_sigma_bars = 30;
    p->cdf_window = 0;
    p->cdf_min = 10;
    p->alert_threshold = 0.9;
    p->lambda_window = 50;
    p->max_symbols = 1024;
}

int vpin_params_check(const vpin_params *p, const char **why)
{
    const uint32_t big = 1u << 24;
    const char *bad = NULL;
    if (p->bar_ns == 0)
        bad = "bar length must be > 0";
    else if (!(p->bucket_volume > 0.0) || !isfinite(p->bucket_volume))
        bad = "bucket volume must be finite and > 0";
    else if (p->window == 0 || p->window > big)
        bad = "window must be in 1..16777216";
    else if (p->sigma_bars < 2 || p->sigma_bars > big)
        bad = "sigma bars must be in 2..16777216";
    else if (p->min_sigma_bars < 2 || p->min_sigma_bars > p->sigma_bars)
        bad = "min sigma bars must be in 2..sigma bars";
    else if (p->cdf_window > big || (p->cdf_window != 0 && p->cdf_window < 2))
        bad = "cdf window must be 0 (all history) or in 2..16777216";
    else if (p->cdf_min < 2 || (p->cdf_window != 0 && p->cdf_min > p->cdf_window))
        bad = "cdf min must be >= 2 and <= cdf window";
    else if (!(p->alert_threshold >= 0.0 && p->alert_threshold <= 1.0))
        bad = "alert threshold must be in [0, 1]";
    else if (p->lambda_window < 2 || p->lambda_window > big)
        bad = "lambda window must be in 2..16777216";
    else if (p->max_symbols == 0 || p->max_symbols > big)
        bad = "max symbols must be in 1..16777216";
    if (why != NULL)
        *why = bad;
    return bad ? MESH_EINVAL : 0;
}

int vpin_open(vpin_engine **out, const vpin_params *p, vpin_emit_fn emit, void *emit_ctx,
              const char **why)
{
    *out = NULL;
    int rc = vpin_params_check(p, why);
    if (rc < 0)
        return rc;
    vpin_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return MESH_ENOMEM;
    e->p = *p;
    e->emit = emit;
    e->emit_ctx = emit_ctx;
    e->ring_per_sym = (size_t)p->sigma_bars + 2 * (size_t)p->window + p->cdf_window +
                      2 * (size_t)p->lambda_window;
    rc = mesh_symtab_open(&e->tab, p->max_symbols);
    if (rc < 0)
        goto fail;
    rc = MESH_ENOMEM;
    e->syms = calloc(p->max_symbols, sizeof(*e->syms));
    if (e->syms == NULL)
        goto fail;
    e->rings = calloc(e->ring_per_sym * p->max_symbols, sizeof(*e->rings));
    if (e->rings == NULL)
        goto fail;
    *out = e;
    return 0;
fail:
    vpin_close(e);
    return rc;
}

void vpin_close(vpin_engine *e)
{
    if (e == NULL)
        return;
    free(e->rings);
    free(e->syms);
    mesh_symtab_close(e->tab);
    free(e);
}

static void sym_init(vpin_engine *e, uint32_t slot)
{
    const vpin_params *p = &e->p;
    vpin_sym *s = &e->syms[slot];
    double *r = e->rings + e->ring_per_sym * slot;
    memset(s, 0, sizeof(*s));
    s->last_vpin = NAN;
    vpin_rollvar_init(&s->sigma, r, p->sigma_bars);
    r += p->sigma_bars;
    vpin_rollsum_init(&s->imb, r, p->window);
    r += 2 * (size_t)p->window;
    vpin_rollvar_init(&s->logv, p->cdf_window ? r : NULL, p->cdf_window);
    r += p->cdf_window;
    vpin_rollreg_init(&s->kyle, r, p->lambda_window);
}

/* Completes the symbol's current bucket: VPIN, CDF, alert, emission. */
static void bucket_complete(vpin_engine *e, uint32_t slot)
{
    vpin_sym *s = &e->syms[slot];
    vpin_bucket b;
    memcpy(b.symbol, mesh_symtab_name(e->tab, slot), sizeof(b.symbol));
    b.index = s->buckets++;
    b.end_ts_ns = s->bar_ts;
    b.buy_volume = s->buy;
    b.sell_volume = s->sell;
    vpin_rollsum_push(&s->imb, fabs(s->sell - s->buy));
    s->fill = s->buy = s->sell = 0.0;
    b.vpin = b.cdf = b.lambda = NAN;
    b.vpin_ready = (uint8_t)vpin_rollsum_full(&s->imb);
    b.cdf_ready = b.alert = b.lambda_ready = 0;
    if (b.vpin_ready) {
        /* a tree sum of non-negative terms: exactly 0 when all are 0 */
        b.vpin = vpin_rollsum_value(&s->imb) / (e->p.window * e->p.bucket_volume);
        s->last_vpin = b.vpin;
        /* ln 0 = -inf: VPIN = 0 stays out of the lognormal fit, its CDF is 0 */
        if (b.vpin > 0.0)
            vpin_rollvar_push(&s->logv, log(b.vpin));
        double sd = sqrt(vpin_rollvar_var(&s->logv));
        /* a spread of ln VPIN at round-off level (identical VPINs computed
         * along different summation paths) is no distribution to fit */
        if (vpin_rollvar_count(&s->logv) >= e->p.cdf_min && sd > VPIN_LOG_SD_MIN) {
            b.cdf_ready = 1;
            b.cdf = b.vpin > 0.0 ? vpin_phi((log(b.vpin) - vpin_rollvar_mean(&s->logv)) / sd) : 0.0;
            b.alert = b.cdf >= e->p.alert_threshold;
        }
    }
    b.alert_onset = b.alert && !s->alert;
    s->alert = b.alert;
    b.lambda_ready = (uint8_t)vpin_rollreg_slope(&s->kyle, &b.lambda);
    if (!b.lambda_ready)
        b.lambda = NAN;
    if (e->emit != NULL)
        e->emit(e->emit_ctx, &b);
}

/* Pours volume with buy fraction z into buckets of size V, in order. */
static void bucket_fill(vpin_engine *e, uint32_t slot, double volume, double z)
{
    vpin_sym *s = &e->syms[slot];
    const double v = e->p.bucket_volume;
    while (volume > 0.0) {
        double room = v - s->fill;
        int complete = volume >= room;
        double piece = complete ? room : volume;
        s->buy += piece * z;
        s->sell += piece * (1.0 - z);
        s->fill += piece;
        volume = complete ? volume - room : 0.0;
        if (complete)
            bucket_complete(e, slot);
    }
}

/* Closes the symbol's open bar: price change, lambda, sigma, BVC, buckets. */
static void bar_close(vpin_engine *e, uint32_t slot)
{
    vpin_sym *s = &e->syms[slot];
    s->bar_open = 0;
    s->bars++;
    if (!s->has_ref) { /* first bar: reference price only */
        s->has_ref = 1;
        s->ref = s->bar_close;
        return;
    }
    double dp = s->bar_close - s->ref;
    s->ref = s->bar_close;
    vpin_rollreg_push(&s->kyle, s->bar_flow, dp);
    vpin_rollvar_push(&s->sigma, dp);
    if (vpin_rollvar_count(&s->sigma) < e->p.min_sigma_bars)
        return;
    double sd = sqrt(vpin_rollvar_var(&s->sigma));
    /* changes equal up to the round-off of the prices' binary form (e.g. one
     * tick each) have sigma 0 */
    if (sd <= VPIN_SIGMA_ROUNDOFF * DBL_EPSILON * s->bar_close)
        sd = 0.0;
    double z = sd > 0.0 ? vpin_phi(dp / sd) : 0.5;
    s->bucketed_bars++;
    bucket_fill(e, slot, s->bar_volume, z);
}

static int positive(double x)
{
    return x > 0.0 && isfinite(x);
}

/* Sign of a trade for Kyle's lambda: its aggressor side when known, else the
 * tick rule (sign of price minus the last different price; updated on every
 * trade so it is current whenever a side is missing). */
static int trade_sign(vpin_sym *s, int added, double price, int side)
{
    /* branch-free: the direction of a price change is a coin flip per trade */
    int tick = (price > s->bar_close) - (price < s->bar_close);
    if (!added)
        s->tick_sign = tick != 0 ? tick : s->tick_sign;
    return side != 0 ? (side > 0) - (side < 0) : s->tick_sign;
}

int vpin_on_trade(vpin_engine *e, const char *symbol, uint64_t ts_ns, double price, double size)
{
    return vpin_on_trade_side(e, symbol, ts_ns, price, size, 0);
}

int vpin_on_trade_side(vpin_engine *e, const char *symbol, uint64_t ts_ns, double price,
                       double size, int side)
{
    if (!positive(price) || !positive(size))
        return MESH_EINVAL;
    int added;
    int slot = mesh_symtab_get(e->tab, symbol, 1, &added);
    if (slot < 0)
        return slot;
    vpin_sym *s = &e->syms[slot];
    if (added)
        sym_init(e, (uint32_t)slot);
    uint64_t id = ts_ns / e->p.bar_ns;
    if (!added && (ts_ns < s->last_ts || (!s->bar_open && id <= s->bar_id)))
        return MESH_ERANGE; /* backwards, or inside a bar vpin_flush closed */
    int sign = trade_sign(s, added, price, side);
    if (s->bar_open && id != s->bar_id)
        bar_close(e, (uint32_t)slot);
    if (!s->bar_open) {
        s->bar_open = 1;
        s->bar_id = id;
        s->bar_volume = 0.0;
        s->bar_flow = 0.0;
    }
    s->bar_volume += size;
    s->bar_flow += sign * size;
    s->bar_close = price;
    s->bar_ts = ts_ns;
    s->last_ts = ts_ns;
    s->trades++;
    return 0;
}

int vpin_flush(vpin_engine *e, uint64_t now_ns)
{
    int closed = 0;
    uint32_t n = mesh_symtab_count(e->tab);
    for (uint32_t i = 0; i < n; i++) {
        vpin_sym *s = &e->syms[i];
        /* bar [id B, (id+1) B) has ended once now >= (id+1) B */
        if (s->bar_open && (now_ns == UINT64_MAX || now_ns / e->p.bar_ns > s->bar_id)) {
            bar_close(e, i);
            closed++;
        }
    }
    return closed;
}

int vpin_get(const vpin_engine *e, const char *symbol, vpin_symbol_stats *out)
{
    int slot = mesh_symtab_get(e->tab, symbol, 0, NULL);
    if (slot < 0)
        return slot;
    const vpin_sym *s = &e->syms[slot];
    memset(out, 0, sizeof(*out));
    out->trades = s->trades;
    out->bars = s->bars;
    out->bucketed_bars = s->bucketed_bars;
    out->buckets = s->buckets;
    out->bar_open = s->bar_open;
    out->open_bar_id = s->bar_id;
    out->sigma = vpin_rollvar_count(&s->sigma) >= 2 ? sqrt(vpin_rollvar_var(&s->sigma)) : NAN;
    out->vpin = s->last_vpin;
    if (!vpin_rollreg_slope(&s->kyle, &out->lambda))
        out->lambda = NAN;
    return 0;
}

uint32_t vpin_symbols(const vpin_engine *e)
{
    return mesh_symtab_count(e->tab);
}
