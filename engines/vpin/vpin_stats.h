/* Numerical pieces of the VPIN engine: the standard normal CDF, a rolling
 * (or unbounded) sample variance and a rolling OLS slope (O(1) per update with
 * periodic exact recomputation to bound round-off), and a rolling sum kept as
 * a pairwise summation tree (O(log w) per update, no subtraction). */
#ifndef VPIN_STATS_H
#define VPIN_STATS_H

#include <stdint.h>

/* Standard normal CDF: 0.5 * erfc(-x / sqrt(2)). Thread-safe. */
double vpin_phi(double x);

/* The structs below are public so the engine can embed them per symbol; treat
 * their fields as private. Buffers are owned by the caller. One writer, no
 * concurrent reader. */

/* Mean and sample variance of the last w values (w = 0: of every value ever
 * pushed, by Welford's method, no buffer). A full window slides with the
 * Welford replace update; every w pushes the window is recomputed exactly by
 * two passes, so round-off cannot accumulate beyond w updates; it is also
 * recomputed when removals have cancelled M2 to below 1e-6 of its peak since
 * the last recomputation (a wide window sliding into a tight one), which
 * keeps the relative error of the variance near 1e-10 (amortised O(1): each
 * such collapse needs the values that made the peak to leave the window). */
typedef struct vpin_rollvar {
    double *buf;    /* w slots (NULL when w = 0) */
    uint32_t w;     /* window, 0 = unbounded */
    uint32_t head;  /* next slot */
    uint64_t count; /* values in the window */
    double mean, m2;
    double m2_peak; /* largest m2 since the last exact recomputation */
} vpin_rollvar;

/* Prepares an empty window over buf[w] (buf may be NULL when w = 0). */
void vpin_rollvar_init(vpin_rollvar *v, double *buf, uint32_t w);

/* Adds x (evicting the oldest value of a full window). */
void vpin_rollvar_push(vpin_rollvar *v, double x);

/* Values held. */
uint64_t vpin_rollvar_count(const vpin_rollvar *v);

/* Mean of the values held (0 if none). */
double vpin_rollvar_mean(const vpin_rollvar *v);

/* Sample variance (divisor count - 1) of the values held, >= 0; 0 when fewer
 * than two values are held. */
double vpin_rollvar_var(const vpin_rollvar *v);

/* Sum of the last w values as a pairwise summation tree over the window:
 * buf[w + i] holds slot i, buf[k] = buf[2k] + buf[2k + 1] for 1 <= k < w, so
 * buf[1] is the sum of the window (buf[0] unused). A push rewrites one leaf and
 * the at most ceil(log2(2w)) sums above it; nothing is ever subtracted, so the
 * sum is a function of the values in the window alone: a window of zeros sums
 * to exactly 0, and for non-negative values the relative error is at most
 * ceil(log2(2w)) * DBL_EPSILON (a running sum with subtraction keeps an
 * absolute residue of the values that left, e.g. 5e-17 for a true 0). */
typedef struct vpin_rollsum {
    double *buf; /* 2 * w slots */
    uint32_t w, count, head;
} vpin_rollsum;

/* Prepares an empty window of w >= 1 values over buf[2 * w] (zeroed here). */
void vpin_rollsum_init(vpin_rollsum *s, double *buf, uint32_t w);

/* Adds x (evicting the oldest value of a full window). O(log w). */
void vpin_rollsum_push(vpin_rollsum *s, double x);

/* 1 once w values are held. */
int vpin_rollsum_full(const vpin_rollsum *s);

/* Sum of the values held. */
double vpin_rollsum_value(const vpin_rollsum *s);

/* Ordinary least squares y = a + b x over the last w pairs: running means and
 * co-moments Sxx, Sxy updated by Welford add / remove, exact recomputation
 * every w pushes and when Sxx collapses below 1e-6 of its peak (as above). */
typedef struct vpin_rollreg {
    double *buf; /* 2 * w slots: x, y interleaved */
    uint32_t w, count, head;
    double mx, my, sxx, sxy;
    double sxx_peak; /* largest sxx since the last exact recomputation */
} vpin_rollreg;

/* Prepares an empty regression window of w >= 2 pairs over buf[2 * w]. */
void vpin_rollreg_init(vpin_rollreg *r, double *buf, uint32_t w);

/* Adds the pair (x, y), evicting the oldest pair of a full window. */
void vpin_rollreg_push(vpin_rollreg *r, double x, double y);

/* Pairs held. */
uint32_t vpin_rollreg_count(const vpin_rollreg *r);

/* Slope b = Sxy / Sxx into *slope; returns 1, or 0 (no slope) when fewer
 * than 2 pairs are held or Sxx is 0. */
int vpin_rollreg_slope(const vpin_rollreg *r, double *slope);

#endif
