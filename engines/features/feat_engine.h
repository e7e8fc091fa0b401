/* Features engine compute library: per-symbol incremental indicators (SMA,
 * EMA, RSI, MACD, Bollinger, ATR, session VWAP, realised volatility, log
 * returns) fed by trades and bars, emitting a feature vector per symbol at a
 * configurable cadence. No bus dependency; definitions are in README.md. */
#ifndef FEAT_ENGINE_H
#define FEAT_ENGINE_H

#include <stdint.h>

/* Bits of feat_vector.ready: a value whose bit is clear is still warming up
 * (and is NaN in the vector). */
enum feat_ready_bits {
    FEAT_READY_SMA = 1u << 0,
    FEAT_READY_EMA = 1u << 1,
    FEAT_READY_RSI = 1u << 2,
    FEAT_READY_MACD = 1u << 3,        /* macd line */
    FEAT_READY_MACD_SIGNAL = 1u << 4, /* signal and histogram */
    FEAT_READY_BOLLINGER = 1u << 5,
    FEAT_READY_ATR = 1u << 6,
    FEAT_READY_VWAP = 1u << 7,
    FEAT_READY_RVOL = 1u << 8,   /* rvol and rvol_annual */
    FEAT_READY_RETURN = 1u << 9, /* log_return */
    FEAT_READY_ALL = (1u << 10) - 1,
};

/* One symbol's features at one moment. Plain value type. */
typedef struct feat_vector {
    char symbol[16];
    uint64_t ts_ns;    /* time of the last input reflected (trade or bar time) */
    uint64_t bars;     /* bars seen for the symbol */
    uint64_t trades;   /* trades seen for the symbol */
    uint32_t ready;    /* FEAT_READY_* bits */
    double last_price; /* last trade price (NaN before the first trade) */
    double close;      /* last bar close (NaN before the first bar) */
    double sma, ema, rsi;
    double macd, macd_signal, macd_hist;
    double bb_mid, bb_upper, bb_lower;
    double atr;
    double vwap;
    double log_return;  /* ln(close / previous close) */
    double rvol;        /* sqrt(sum of squared log returns over the window) */
    double rvol_annual; /* rvol * sqrt(bars_per_year / window) */
} feat_vector;

/* Receives each emitted vector; the vector is valid only during the call. */
typedef void (*feat_emit_fn)(void *ctx, const feat_vector *v);

typedef struct feat_config {
    uint32_t max_symbols; /* table capacity (default 1024) */
    /* Time bars built from trades, aligned to multiples of bar_ns since the
     * epoch (default 1 s). 0: bars come only from feat_on_bar. */
    uint64_t bar_ns;
    /* Cadence: 0 = one vector per closed bar; N > 0 = one vector every N
     * trades of the symbol (default 0). */
    uint32_t emit_every_trades;
    uint32_t sma_period;        /* default 20 */
    uint32_t ema_period;        /* default 20 */
    uint32_t rsi_period;        /* default 14 */
    uint32_t macd_fast;         /* default 12 */
    uint32_t macd_slow;         /* default 26 */
    uint32_t macd_signal;       /* default 9 */
    uint32_t bb_period;         /* default 20 */
    double bb_k;                /* default 2 (population standard deviations) */
    uint32_t atr_period;        /* default 14 */
    uint32_t rvol_window;       /* returns in the realised volatility (default 20) */
    double bars_per_year;       /* annualisation; 0 = 252 * 23400 s / bar length
                                 * (or 252 when bar_ns = 0) */
    uint64_t session_ns;        /* VWAP session length (default 86400 s) */
    uint64_t session_offset_ns; /* session start past each multiple (default 0) */
    feat_emit_fn emit;          /* may be NULL: nothing is emitted */
    void *emit_ctx;
} feat_config;

typedef struct feat_engine feat_engine;

/* Fills *c with the defaults above. */
void feat_config_default(feat_config *c);

/* Creates an engine (copies *cfg). Returns 0 and *out, MESH_EINVAL naming the
 * bad field in *why (if why != NULL; a static string), or MESH_ENOMEM. All
 * per-symbol memory is allocated here. The caller owns the engine. */
int feat_open(feat_engine **out, const feat_config *cfg, const char **why);

/* Frees the engine. Accepts NULL. */
void feat_close(feat_engine *e);

/* Feeds one trade. With internal bars, a trade of a later bar first closes the
 * symbol's open bar (updating the bar indicators and, with bar cadence,
 * emitting a vector) and then joins the VWAP and the new bar. Returns 0;
 * MESH_EINVAL for a bad symbol or a non-finite / non-positive price or size
 * (state unchanged); MESH_ERANGE if ts_ns is before the symbol's last input
 * or falls in a bar feat_flush already closed (state unchanged);
 * MESH_ENOSPC if the symbol table is full. O(1); no allocation. One thread. */
int feat_on_trade(feat_engine *e, const char *symbol, uint64_t ts_ns, double price, double size);

/* Feeds one completed bar (only when bar_ns = 0, else MESH_ESTATE): updates
 * the bar indicators and, with bar cadence, emits. Needs low <= close <= high
 * and all positive and finite (else MESH_EINVAL). Other returns as
 * feat_on_trade. */
int feat_on_bar(feat_engine *e, const char *symbol, uint64_t ts_ns, double high, double low,
                double close);

/* Closes every internal bar whose interval ended at or before now_ns (pass
 * UINT64_MAX at end of input), emitting as a trade-closed bar would. Returns
 * the number of bars closed. O(symbols). */
int feat_flush(feat_engine *e, uint64_t now_ns);

/* Current features of symbol into *out. Returns 0 or MESH_ENOENT / EINVAL. */
int feat_get(const feat_engine *e, const char *symbol, feat_vector *out);

/* Number of symbols seen. */
uint32_t feat_symbols(const feat_engine *e);

#endif
