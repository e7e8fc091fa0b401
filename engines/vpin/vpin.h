/* VPIN engine compute library (Easley, Lopez de Prado, O'Hara 2012): per-symbol
 * time bars, bulk volume classification with a causal rolling sigma, volume
 * buckets, rolling VPIN, its lognormal CDF and alert, and Kyle's lambda.
 * No bus dependency; the exact definitions are in README.md. */
#ifndef VPIN_H
#define VPIN_H

#include <stdint.h>

/* Noise floors (see README.md). sigma of the price changes counts as 0 when it
 * is <= VPIN_SIGMA_ROUNDOFF * DBL_EPSILON * |bar close|: each price's binary
 * form is off by <= DBL_EPSILON / 2 of it, so changes that are equal in
 * decimal (e.g. one tick each) differ by round-off of that size. No CDF is
 * fitted while the sd of ln VPIN is <= VPIN_LOG_SD_MIN. */
#define VPIN_SIGMA_ROUNDOFF 16.0
#define VPIN_LOG_SD_MIN     1e-9

typedef struct vpin_params {
    uint64_t bar_ns;         /* B: bar length, bars aligned to multiples since the
                              * epoch (default 60 s) */
    double bucket_volume;    /* V > 0 (default 10000) */
    uint32_t window;         /* n: buckets per VPIN (default 50) */
    uint32_t sigma_bars;     /* S: bar price changes dP in sigma, one per bar
                              * after the symbol's first, dP = 0 included
                              * (default 1000) */
    uint32_t min_sigma_bars; /* M: dP values needed before bucketing,
                              * 2 <= M <= S (default 30) */
    uint32_t cdf_window;     /* VPIN values in the lognormal fit; 0 = all
                              * history (default 0) */
    uint32_t cdf_min;        /* VPIN values needed before a CDF (>= 2, default 10) */
    double alert_threshold;  /* alert when CDF >= this (default 0.9) */
    uint32_t lambda_window;  /* bars in Kyle's lambda regression: every bar
                              * after the symbol's first (which only sets the
                              * reference price), dP = 0 included (>= 2,
                              * default 50) */
    uint32_t max_symbols;    /* symbol table capacity (default 1024) */
} vpin_params;

/* One completed volume bucket. Plain value type. Values whose flag is 0 are
 * NaN. */
typedef struct vpin_bucket {
    char symbol[16];
    uint64_t index;     /* bucket number for the symbol, from 0 */
    uint64_t end_ts_ns; /* time of the bar that completed the bucket */
    double buy_volume, sell_volume;
    double vpin;        /* sum of |sell - buy| over the last n buckets / (n V) */
    double cdf;         /* lognormal CDF of vpin under the fitted history */
    double lambda;      /* Kyle's lambda after the completing bar */
    uint8_t vpin_ready; /* index >= n - 1 */
    uint8_t cdf_ready;
    uint8_t alert;       /* cdf_ready and cdf >= alert_threshold */
    uint8_t alert_onset; /* alert now, no alert at the previous bucket */
    uint8_t lambda_ready;
} vpin_bucket;

/* Receives each completed bucket; valid only during the call. */
typedef void (*vpin_emit_fn)(void *ctx, const vpin_bucket *b);

/* Per-symbol snapshot. */
typedef struct vpin_symbol_stats {
    uint64_t trades, bars, bucketed_bars, buckets;
    uint64_t open_bar_id; /* ts / B of the open bar (valid if bar_open) */
    int bar_open;
    double sigma;  /* current sigma (NaN before 2 price changes) */
    double vpin;   /* last VPIN (NaN before the first full window) */
    double lambda; /* NaN when not ready */
} vpin_symbol_stats;

typedef struct vpin_engine vpin_engine;

/* Fills *p with the defaults above. */
void vpin_default_params(vpin_params *p);

/* Checks *p; returns 0 or MESH_EINVAL with *why (if why != NULL) a static
 * string naming the field. */
int vpin_params_check(const vpin_params *p, const char **why);

/* Creates an engine (copies *p); emit (may be NULL) gets every completed
 * bucket. Returns 0 and *out, MESH_EINVAL (see vpin_params_check) or
 * MESH_ENOMEM. All per-symbol memory is allocated here. Caller owns *out. */
int vpin_open(vpin_engine **out, const vpin_params *p, vpin_emit_fn emit, void *emit_ctx,
              const char **why);

/* Frees the engine. Accepts NULL. */
void vpin_close(vpin_engine *e);

/* Feeds one trade whose aggressor side is unknown: vpin_on_trade_side with
 * side 0 (Kyle's lambda signs it by the tick rule). */
int vpin_on_trade(vpin_engine *e, const char *symbol, uint64_t ts_ns, double price, double size);

/* Feeds one trade; side is its aggressor: > 0 buyer-initiated, < 0
 * seller-initiated, 0 unknown (signed by the tick rule for Kyle's lambda;
 * VPIN itself never uses the side, it classifies volume by BVC). A trade of a
 * later bar first closes the symbol's open bar (which may complete buckets,
 * emitted before this returns). Returns 0; MESH_EINVAL for a bad symbol or a
 * non-finite / non-positive price or size; MESH_ERANGE if ts_ns is before the
 * symbol's last trade or inside a bar vpin_flush already closed; MESH_ENOSPC
 * if the symbol table is full (state unchanged on every error). O(1) amortised
 * per trade plus O(log n) per completed bucket, no allocation. One thread. */
int vpin_on_trade_side(vpin_engine *e, const char *symbol, uint64_t ts_ns, double price,
                       double size, int side);

/* Closes every open bar whose interval [k B, (k+1) B) ended at or before
 * now_ns (UINT64_MAX: all, for end of input). Returns the number closed. */
int vpin_flush(vpin_engine *e, uint64_t now_ns);

/* Snapshot of symbol into *out: 0, MESH_ENOENT or MESH_EINVAL. */
int vpin_get(const vpin_engine *e, const char *symbol, vpin_symbol_stats *out);

/* Number of symbols seen. */
uint32_t vpin_symbols(const vpin_engine *e);

#endif
