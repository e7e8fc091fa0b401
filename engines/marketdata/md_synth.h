/* The built-in synthetic market: a deterministic (per seed) stream of trades and
 * quotes for many symbols, with stochastic volatility and informed-trading episodes.
 *
 * Model (all randomness from one xoshiro256** generator seeded by splitmix64):
 *  - Arrivals: trades and quotes are independent Poisson processes with aggregate
 *    rates trade_rate_hz and quote_rate_hz in simulated time; each event picks
 *    its symbol uniformly, so each symbol sees Poisson(rate / n_symbols).
 *    Inter-arrival times are exponential; timestamps are integer ns (the
 *    fractional ns are carried, so the count over [start, start + T) is exactly
 *    Poisson(rate * T)).
 *  - Mid price: Heston stochastic volatility, annualised parameters (a year is
 *    252 days of 6.5 hours), discretised at each event of the symbol with
 *    full-truncation Euler (Lord, Koekkoek, van Dijk 2010), v+ = max(v, 0):
 *      x += (mu - v+/2) dt + sqrt(v+ dt) z1          (x = log mid)
 *      v += kappa (theta - v+) dt + xi sqrt(v+ dt) (rho z1 + sqrt(1-rho^2) z2)
 *    mu is 0 outside episodes.
 *  - Quotes: spread = max(tick, mid * spread_bps * 1e-4 * sqrt(v+ / theta));
 *    bid = mid - spread/2 rounded down to the tick, ask = mid + spread/2 rounded
 *    up (so bid < ask always, bid >= tick); quote sizes are round lots of 100
 *    times 1 + a geometric count with mean 4.
 *  - Trades: the aggressor buys with probability 1/2 (calm) and hits the ask,
 *    or sells and hits the bid. Sizes are integer Pareto: floor(size_min *
 *    U^(-1/size_alpha)), U uniform on (0, 1], clipped to size_max; so for an
 *    integer s in [size_min, size_max], P(size >= s) = (size_min / s)^size_alpha.
 *  - Episodes: symbol i has episodes [first + k*period, first + k*period + len)
 *    (times relative to start_ts_ns, k = 0, 1, ...; period 0 = one episode).
 *    Episode k has a direction d = +1 or -1 drawn from a hash of (seed, i, k).
 *    During it P(aggressor == d) = informed_fraction and the log mid drifts by
 *    d * episode_move over the episode (mu = d * episode_move / len).
 */
#ifndef MD_SYNTH_H
#define MD_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "md_types.h"

#define MD_SYNTH_MAX_SYMBOLS 4096

/* One symbol's episode schedule; times in ns, first relative to start_ts_ns. */
typedef struct md_synth_episode {
    uint64_t first_ns;  /* start of episode 0 */
    uint64_t len_ns;    /* 0 = no episodes */
    uint64_t period_ns; /* 0 = a single episode; else >= len_ns */
} md_synth_episode;

/* Parameters; fill with md_synth_default_params() and change what you need. */
typedef struct md_synth_params {
    uint64_t seed;
    uint64_t start_ts_ns;             /* timestamp of the stream's origin, ns since Unix epoch */
    uint32_t n_symbols;               /* 1..MD_SYNTH_MAX_SYMBOLS */
    const char *const *symbols;       /* n_symbols names (<= 15 chars), or NULL for SYM00.. */
    double trade_rate_hz;             /* aggregate trades per simulated second, > 0 */
    double quote_rate_hz;             /* aggregate quotes per simulated second, >= 0 */
    double initial_price;             /* > 0: every symbol starts there; 0: log-uniform [20, 500] */
    double tick;                      /* price grid, > 0 */
    double theta;                     /* long-run variance (annualised), > 0 (0.04 = 20% vol) */
    double kappa;                     /* mean reversion speed per year, >= 0 */
    double xi;                        /* vol of variance (annualised), >= 0 */
    double rho;                       /* correlation of price and variance shocks, [-1, 1] */
    double v0;                        /* initial variance, >= 0 */
    double spread_bps;                /* quoted spread in bps when v = theta, >= 0 */
    double size_min;                  /* Pareto scale, integer >= 1 */
    double size_alpha;                /* Pareto tail exponent, > 0 */
    double size_max;                  /* clip, integer >= size_min */
    md_synth_episode episode;         /* default schedule for every symbol ... */
    uint64_t episode_stagger_ns;      /* ... with symbol i's first_ns shifted by i * this */
    const md_synth_episode *episodes; /* n_symbols per-symbol schedules, or NULL */
    double informed_fraction;         /* P(aggressor == episode direction), [0.5, 1] */
    double episode_move;              /* log-price drift over one episode, >= 0 */
} md_synth_params;

typedef struct md_synth md_synth;

/* Fills *p with the defaults: seed 1, start 2024-01-02T14:30:00Z, 8 symbols,
 * 2000 trades/s and 4000 quotes/s aggregate, tick 0.01, theta = v0 = 0.04,
 * kappa 2520/yr, xi 8, rho -0.5, spread 2 bps, Pareto sizes (100, 1.5, 1e6),
 * episodes of 5 min every 30 min starting at 10 min, staggered 3 min per
 * symbol, informed_fraction 0.88, episode_move 0.005. Thread-safe. */
void md_synth_default_params(md_synth_params *p);

/* Checks every field. Returns 0, or MESH_EINVAL with why = "field: reason"
 * (truncated to why_len; why may be NULL). Thread-safe. */
int md_synth_params_check(const md_synth_params *p, char *why, size_t why_len);

/* Creates a generator (params and symbol names are copied). Returns 0 and *out,
 * MESH_EINVAL for bad params (see md_synth_params_check), MESH_ENOMEM. The
 * caller owns *out. A generator must not be used by two threads at once. */
int md_synth_open(md_synth **out, const md_synth_params *p);

/* Produces the next event in timestamp order (non-decreasing). Returns 1, or
 * MESH_ERANGE once simulated time would pass UINT64_MAX ns. No allocation. */
int md_synth_next(md_synth *s, md_event *ev);

/* Episode state of symbol symbol_index at ts_ns: +1 (buy episode), -1 (sell
 * episode) or 0 (calm, or bad index). Pure function of the params and seed. */
int md_synth_in_episode(const md_synth *s, uint32_t symbol_index, uint64_t ts_ns);

/* Number of symbols, and the name of symbol i (NULL if out of range); the
 * string is owned by the generator. */
uint32_t md_synth_symbol_count(const md_synth *s);
const char *md_synth_symbol(const md_synth *s, uint32_t i);

/* Writes a snapshot of the generator (RNG state, clock, every symbol's log
 * mid, variance and last update, the stream's start time, and a fingerprint
 * of the other parameters) into buf as a flat versioned byte buffer; buf may
 * be NULL with cap 0 to measure. *len = the snapshot's size. Returns 0, or
 * MESH_ENOSPC when cap is too small (nothing usable written). No allocation. */
int md_synth_save(const md_synth *s, void *buf, size_t cap, size_t *len);

/* Restores a snapshot into s, which must have been opened with the same
 * parameters except start_ts_ns (the snapshot's is used). The events that
 * follow are then exactly those the saved generator would have produced
 * next. Returns 0; MESH_EFOREIGN (not a generator snapshot), MESH_EVERSION
 * (other layout version), MESH_ECORRUPT (truncated, or impossible values),
 * MESH_EINVAL (saved by a generator with other parameters). On error s is
 * unchanged. */
int md_synth_restore(md_synth *s, const void *buf, size_t len);

/* Frees the generator. Accepts NULL. */
void md_synth_close(md_synth *s);

#endif
