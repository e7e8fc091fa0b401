/* Single technical indicators, O(1) per update, no allocation: rolling window
 * statistics, SMA, EMA, Wilder RSI, MACD, Bollinger bands, Wilder ATR, session
 * VWAP and realised volatility. Definitions and warm-up rules: README.md. */
#ifndef FEAT_IND_H
#define FEAT_IND_H

#include <stdint.h>

/* These structs are public because the features engine embeds one of each per
 * symbol; treat the fields as private. None is thread-safe: one writer, and no
 * reader while it writes. */

/* Rolling window over the last n values: sum, mean and population variance in
 * O(1) per push. Values are accumulated as (x - shift) with shift reset to the
 * window's exact mean each time the ring wraps (every n pushes), when the sums
 * are also recomputed exactly: round-off drift is bounded by n updates and
 * the variance does not suffer from the cancellation of sum(x^2) - n*mean^2. */
typedef struct feat_win {
    double *buf;    /* n slots, owned by the caller */
    uint32_t n;     /* window length */
    uint32_t count; /* values held, <= n */
    uint32_t head;  /* slot the next value goes to */
    double shift;   /* K in the sums below */
    double s1, s2;  /* sum of (x - K), sum of (x - K)^2 over the window */
} feat_win;

/* Prepares an empty window of n >= 1 values over caller-owned buf[n]. */
void feat_win_init(feat_win *w, double *buf, uint32_t n);

/* Adds x, evicting the oldest value once n are held. */
void feat_win_push(feat_win *w, double x);

/* 1 once the window holds n values, else 0. */
int feat_win_full(const feat_win *w);

/* Sum / mean / population variance (divisor count) of the values held; 0 for
 * an empty window. The variance is clamped at 0. */
double feat_win_sum(const feat_win *w);
double feat_win_mean(const feat_win *w);
double feat_win_var_pop(const feat_win *w);

/* Exponential moving average with alpha = 2 / (n + 1), seeded with the simple
 * mean of the first n values: not ready before the n-th value. */
typedef struct feat_ema {
    uint32_t n, count;
    double alpha;
    double value; /* running seed sum during warm-up, then the EMA */
} feat_ema;

/* Prepares an EMA of period n >= 1. */
void feat_ema_init(feat_ema *e, uint32_t n);

/* Adds one value. */
void feat_ema_push(feat_ema *e, double x);

/* 1 once n values were pushed. */
int feat_ema_ready(const feat_ema *e);

/* The EMA; meaningful only when ready. */
double feat_ema_value(const feat_ema *e);

/* Wilder's RSI of period n over closes: the first average gain / loss is the
 * simple mean of the first n changes, then avg = (avg * (n - 1) + x) / n.
 * Ready after n changes (n + 1 closes). */
typedef struct feat_rsi {
    uint32_t n, changes;
    int has_prev;
    double prev;
    double avg_gain, avg_loss; /* sums during warm-up */
} feat_rsi;

/* Prepares an RSI of period n >= 1. */
void feat_rsi_init(feat_rsi *r, uint32_t n);

/* Adds one close (the first only sets the reference). */
void feat_rsi_push(feat_rsi *r, double close);

/* 1 once n changes were seen. */
int feat_rsi_ready(const feat_rsi *r);

/* 100 - 100 / (1 + avg_gain / avg_loss); 100 when avg_loss = 0 < avg_gain;
 * 50 when both averages are 0. Meaningful only when ready. */
double feat_rsi_value(const feat_rsi *r);

/* MACD(fast, slow, signal): line = EMA_fast - EMA_slow (each EMA seeded with
 * its own SMA), signal = EMA_signal of the line (seeded with the SMA of its
 * first `signal` values), histogram = line - signal. The line is ready with
 * the slow EMA (close number `slow`); the signal `signal - 1` closes later. */
typedef struct feat_macd {
    feat_ema fast, slow, signal;
    double line;
} feat_macd;

/* Prepares MACD(fast, slow, signal), periods >= 1. */
void feat_macd_init(feat_macd *m, uint32_t fast, uint32_t slow, uint32_t signal);

/* Adds one close. */
void feat_macd_push(feat_macd *m, double close);

/* 1 once the line (both EMAs ready) / the signal exists. */
int feat_macd_line_ready(const feat_macd *m);
int feat_macd_signal_ready(const feat_macd *m);

/* The line / the signal; meaningful only when ready. */
double feat_macd_line(const feat_macd *m);
double feat_macd_signal(const feat_macd *m);

/* Wilder's ATR of period n on bars. True range = max(h - l, |h - prev close|,
 * |l - prev close|), and h - l for a symbol's first bar. First ATR = simple
 * mean of the first n true ranges, then Wilder smoothing. Ready at bar n. */
typedef struct feat_atr {
    uint32_t n, count;
    int has_prev;
    double prev_close;
    double value; /* running sum during warm-up */
} feat_atr;

/* Prepares an ATR of period n >= 1. */
void feat_atr_init(feat_atr *a, uint32_t n);

/* Adds one bar (high >= low). */
void feat_atr_push(feat_atr *a, double high, double low, double close);

/* 1 once n bars were seen. */
int feat_atr_ready(const feat_atr *a);

/* The ATR; meaningful only when ready. */
double feat_atr_value(const feat_atr *a);

/* Session VWAP: sum(price * size) / sum(size) over the trades of the current
 * session; a trade of a different session id starts a new one. */
typedef struct feat_vwap {
    int has_session;
    int64_t session;
    double pv, v;
} feat_vwap;

/* Prepares an empty VWAP (no session yet). */
void feat_vwap_init(feat_vwap *v);

/* Adds a trade of session id `session` (a new id restarts the sums). */
void feat_vwap_push(feat_vwap *v, int64_t session, double price, double size);

/* 1 once the current session holds a trade with size > 0. */
int feat_vwap_ready(const feat_vwap *v);

/* The session VWAP; meaningful only when ready. */
double feat_vwap_value(const feat_vwap *v);

/* Session id of ts_ns for sessions of length session_ns starting at offset_ns
 * past each multiple of session_ns since the epoch: floor((ts - offset) / len). */
int64_t feat_session_id(uint64_t ts_ns, uint64_t session_ns, uint64_t offset_ns);

/* Log return and realised volatility over closes: r = ln(c / prev c); RV =
 * sqrt(sum of r^2 over the last n returns). Ready after n returns. */
typedef struct feat_rvol {
    feat_win sq; /* squared log returns */
    int has_prev;
    double prev;
    double last_return;
} feat_rvol;

/* Prepares over caller-owned buf[n] (n >= 1). */
void feat_rvol_init(feat_rvol *r, double *buf, uint32_t n);

/* Adds one close (the first only sets the reference). */
void feat_rvol_push(feat_rvol *r, double close);

/* 1 once a log return exists (last_return holds it) / once n returns exist. */
int feat_rvol_return_ready(const feat_rvol *r);
int feat_rvol_ready(const feat_rvol *r);

/* sqrt(sum of the last n squared log returns); meaningful only when ready. */
double feat_rvol_value(const feat_rvol *r);

#endif
