/* Features engine: symbol table + per-symbol indicator state + bar builder;
 * one allocation at open, none per update. */
#include "feat_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feat_ind.h"
#include "mesh_symtab.h"
#include "mesh_error.h"

/* Per-symbol state; ring buffers live in the engine's one double array. */
typedef struct feat_sym {
    uint64_t last_ts;
    uint64_t bars, trades, since_emit;
    /* internal bar under construction */
    int bar_open;
    uint64_t bar_id, bar_ts;
    double bar_high, bar_low, bar_close;
    double last_price, close;
    feat_win sma;
    feat_win bb;
    feat_ema ema;
    feat_rsi rsi;
    feat_macd macd;
    feat_atr atr;
    feat_vwap vwap;
    feat_rvol rvol;
} feat_sym;

struct feat_engine {
    feat_config cfg;
    double rvol_scale; /* sqrt(bars_per_year / rvol_window) */
    mesh_symtab *tab;
    feat_sym *syms;
    double *rings; /* per symbol: sma_period + bb_period + rvol_window */
};

void feat_config_default(feat_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_symbols = 1024;
    c->bar_ns = 1000000000ull;
    c->emit_every_trades = 0;
    c->sma_period = 20;
    c->ema_period = 20;
    c->rsi_period = 14;
    c->macd_fast = 12;
    c->macd_slow = 26;
    c->macd_signal = 9;
    c->bb_period = 20;
    c->bb_k = 2.0;
    c->atr_period = 14;
    c->rvol_window = 20;
    c->bars_per_year = 0.0;
    c->session_ns = 86400ull * 1000000000ull;
    c->session_offset_ns = 0;
}

/* Name of the first invalid field, or NULL. */
static const char *config_check(const feat_config *c)
{
    const uint32_t max_period = 1u << 20;
    if (c->max_symbols == 0 || c->max_symbols > (1u << 24))
        return "max_symbols must be in 1..16777216";
    if (c->sma_period == 0 || c->sma_period > max_period)
        return "sma_period must be in 1..1048576";
    if (c->ema_period == 0 || c->ema_period > max_period)
        return "ema_period must be in 1..1048576";
    if (c->rsi_period == 0 || c->rsi_period > max_period)
        return "rsi_period must be in 1..1048576";
    if (c->macd_fast == 0 || c->macd_slow == 0 || c->macd_signal == 0)
        return "macd_fast, macd_slow and macd_signal must be >= 1";
    if (c->macd_fast > max_period || c->macd_slow > max_period || c->macd_signal > max_period)
        return "macd periods must be <= 1048576";
    if (c->bb_period == 0 || c->bb_period > max_period)
        return "bb_period must be in 1..1048576";
    if (!(c->bb_k >= 0.0) || !isfinite(c->bb_k))
        return "bb_k must be finite and >= 0";
    if (c->atr_period == 0 || c->atr_period > max_period)
        return "atr_period must be in 1..1048576";
    if (c->rvol_window == 0 || c->rvol_window > max_period)
        return "rvol_window must be in 1..1048576";
    if (!(c->bars_per_year >= 0.0) || !isfinite(c->bars_per_year))
        return "bars_per_year must be finite and >= 0";
    if (c->session_ns == 0)
        return "session_ns must be > 0";
    return NULL;
}

static void sym_init(feat_engine *e, uint32_t slot)
{
    const feat_config *c = &e->cfg;
    feat_sym *s = &e->syms[slot];
    size_t per = (size_t)c->sma_period + c->bb_period + c->rvol_window;
    double *r = e->rings + per * slot;
    memset(s, 0, sizeof(*s));
    s->last_price = NAN;
    s->close = NAN;
    feat_win_init(&s->sma, r, c->sma_period);
    feat_win_init(&s->bb, r + c->sma_period, c->bb_period);
    feat_rvol_init(&s->rvol, r + c->sma_period + c->bb_period, c->rvol_window);
    feat_ema_init(&s->ema, c->ema_period);
    feat_rsi_init(&s->rsi, c->rsi_period);
    feat_macd_init(&s->macd, c->macd_fast, c->macd_slow, c->macd_signal);
    feat_atr_init(&s->atr, c->atr_period);
    feat_vwap_init(&s->vwap);
}

int feat_open(feat_engine **out, const feat_config *cfg, const char **why)
{
    *out = NULL;
    const char *bad = config_check(cfg);
    if (why != NULL)
        *why = bad;
    if (bad != NULL)
        return MESH_EINVAL;
    feat_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return MESH_ENOMEM;
    e->cfg = *cfg;
    double bpy = cfg->bars_per_year;
    if (bpy == 0.0)
        bpy = cfg->bar_ns ? 252.0 * 23400.0 * 1e9 / (double)cfg->bar_ns : 252.0;
    e->cfg.bars_per_year = bpy;
    e->rvol_scale = sqrt(bpy / cfg->rvol_window);
    size_t per = (size_t)cfg->sma_period + cfg->bb_period + cfg->rvol_window;
    int rc = mesh_symtab_open(&e->tab, cfg->max_symbols);
    if (rc < 0)
        goto fail;
    rc = MESH_ENOMEM;
    e->syms = calloc(cfg->max_symbols, sizeof(*e->syms));
    if (e->syms == NULL)
        goto fail;
    e->rings = calloc(per * cfg->max_symbols, sizeof(*e->rings));
    if (e->rings == NULL)
        goto fail;
    *out = e;
    return 0;
fail:
    feat_close(e);
    return rc;
}

void feat_close(feat_engine *e)
{
    if (e == NULL)
        return;
    free(e->rings);
    free(e->syms);
    mesh_symtab_close(e->tab);
    free(e);
}

static void fill_vector(const feat_engine *e, uint32_t slot, uint64_t ts, feat_vector *v)
{
    const feat_sym *s = &e->syms[slot];
    uint32_t r = 0;
    memcpy(v->symbol, mesh_symtab_name(e->tab, slot), sizeof(v->symbol));
    v->ts_ns = ts;
    v->bars = s->bars;
    v->trades = s->trades;
    v->last_price = s->last_price;
    v->close = s->close;
    v->sma = feat_win_full(&s->sma) ? (r |= FEAT_READY_SMA, feat_win_mean(&s->sma)) : NAN;
    v->ema = feat_ema_ready(&s->ema) ? (r |= FEAT_READY_EMA, feat_ema_value(&s->ema)) : NAN;
    v->rsi = feat_rsi_ready(&s->rsi) ? (r |= FEAT_READY_RSI, feat_rsi_value(&s->rsi)) : NAN;
    v->macd = v->macd_signal = v->macd_hist = NAN;
    if (feat_macd_line_ready(&s->macd)) {
        r |= FEAT_READY_MACD;
        v->macd = feat_macd_line(&s->macd);
    }
    if (feat_macd_signal_ready(&s->macd)) {
        r |= FEAT_READY_MACD_SIGNAL;
        v->macd_signal = feat_macd_signal(&s->macd);
        v->macd_hist = v->macd - v->macd_signal;
    }
    v->bb_mid = v->bb_upper = v->bb_lower = NAN;
    if (feat_win_full(&s->bb)) {
        r |= FEAT_READY_BOLLINGER;
        double sd = sqrt(feat_win_var_pop(&s->bb));
        v->bb_mid = feat_win_mean(&s->bb);
        v->bb_upper = v->bb_mid + e->cfg.bb_k * sd;
        v->bb_lower = v->bb_mid - e->cfg.bb_k * sd;
    }
    v->atr = feat_atr_ready(&s->atr) ? (r |= FEAT_READY_ATR, feat_atr_value(&s->atr)) : NAN;
    v->vwap = feat_vwap_ready(&s->vwap) ? (r |= FEAT_READY_VWAP, feat_vwap_value(&s->vwap)) : NAN;
    v->log_return = NAN;
    if (feat_rvol_return_ready(&s->rvol)) {
        r |= FEAT_READY_RETURN;
        v->log_return = s->rvol.last_return;
    }
    v->rvol = v->rvol_annual = NAN;
    if (feat_rvol_ready(&s->rvol)) {
        r |= FEAT_READY_RVOL;
        v->rvol = feat_rvol_value(&s->rvol);
        v->rvol_annual = v->rvol * e->rvol_scale;
    }
    v->ready = r;
}

static void emit(const feat_engine *e, uint32_t slot, uint64_t ts)
{
    feat_vector v;
    if (e->cfg.emit == NULL)
        return;
    fill_vector(e, slot, ts, &v);
    e->cfg.emit(e->cfg.emit_ctx, &v);
}

/* Applies one completed bar to the bar indicators, emitting with bar cadence. */
static void bar_apply(feat_engine *e, uint32_t slot, uint64_t ts, double h, double l, double c)
{
    feat_sym *s = &e->syms[slot];
    s->bars++;
    s->close = c;
    feat_win_push(&s->sma, c);
    feat_win_push(&s->bb, c);
    feat_ema_push(&s->ema, c);
    feat_rsi_push(&s->rsi, c);
    feat_macd_push(&s->macd, c);
    feat_atr_push(&s->atr, h, l, c);
    feat_rvol_push(&s->rvol, c);
    if (e->cfg.emit_every_trades == 0)
        emit(e, slot, ts);
}

static void bar_close(feat_engine *e, uint32_t slot)
{
    feat_sym *s = &e->syms[slot];
    s->bar_open = 0;
    bar_apply(e, slot, s->bar_ts, s->bar_high, s->bar_low, s->bar_close);
}

/* Slot for symbol (created and initialised if new), or a negative code. */
static int lookup(feat_engine *e, const char *symbol, uint64_t ts)
{
    int added;
    int slot = mesh_symtab_get(e->tab, symbol, 1, &added);
    if (slot < 0)
        return slot;
    if (added)
        sym_init(e, (uint32_t)slot);
    else if (ts < e->syms[slot].last_ts)
        return MESH_ERANGE;
    return slot;
}

static int positive(double x)
{
    return x > 0.0 && isfinite(x);
}

int feat_on_trade(feat_engine *e, const char *symbol, uint64_t ts_ns, double price, double size)
{
    if (!positive(price) || !positive(size))
        return MESH_EINVAL;
    int slot = lookup(e, symbol, ts_ns);
    if (slot < 0)
        return slot;
    feat_sym *s = &e->syms[slot];
    uint64_t id = e->cfg.bar_ns != 0 ? ts_ns / e->cfg.bar_ns : 0;
    if (e->cfg.bar_ns != 0 && s->bars > 0 && !s->bar_open && id <= s->bar_id)
        return MESH_ERANGE; /* its bar was already closed by feat_flush */
    s->last_ts = ts_ns;
    if (e->cfg.bar_ns != 0) {
        if (s->bar_open && id != s->bar_id)
            bar_close(e, (uint32_t)slot);
        if (!s->bar_open) {
            s->bar_open = 1;
            s->bar_id = id;
            s->bar_high = price;
            s->bar_low = price;
        }
        s->bar_high = price > s->bar_high ? price : s->bar_high;
        s->bar_low = price < s->bar_low ? price : s->bar_low;
        s->bar_close = price;
        s->bar_ts = ts_ns;
    }
    int64_t session = feat_session_id(ts_ns, e->cfg.session_ns, e->cfg.session_offset_ns);
    feat_vwap_push(&s->vwap, session, price, size);
    s->last_price = price;
    s->trades++;
    if (e->cfg.emit_every_trades != 0 && ++s->since_emit == e->cfg.emit_every_trades) {
        s->since_emit = 0;
        emit(e, (uint32_t)slot, ts_ns);
    }
    return 0;
}

int feat_on_bar(feat_engine *e, const char *symbol, uint64_t ts_ns, double high, double low,
                double close)
{
    if (e->cfg.bar_ns != 0)
        return MESH_ESTATE;
    if (!positive(high) || !positive(low) || !positive(close) || low > close || close > high)
        return MESH_EINVAL;
    int slot = lookup(e, symbol, ts_ns);
    if (slot < 0)
        return slot;
    e->syms[slot].last_ts = ts_ns;
    bar_apply(e, (uint32_t)slot, ts_ns, high, low, close);
    return 0;
}

int feat_flush(feat_engine *e, uint64_t now_ns)
{
    int closed = 0;
    if (e->cfg.bar_ns == 0)
        return 0;
    uint32_t n = mesh_symtab_count(e->tab);
    for (uint32_t i = 0; i < n; i++) {
        feat_sym *s = &e->syms[i];
        if (!s->bar_open)
            continue;
        /* the bar [id*B, (id+1)*B) has ended once now >= (id+1)*B */
        if (now_ns == UINT64_MAX || now_ns / e->cfg.bar_ns > s->bar_id) {
            bar_close(e, i);
            closed++;
        }
    }
    return closed;
}

int feat_get(const feat_engine *e, const char *symbol, feat_vector *out)
{
    int slot = mesh_symtab_get(e->tab, symbol, 0, NULL);
    if (slot < 0)
        return slot;
    fill_vector(e, (uint32_t)slot, e->syms[slot].last_ts, out);
    return 0;
}

uint32_t feat_symbols(const feat_engine *e)
{
    return mesh_symtab_count(e->tab);
}
