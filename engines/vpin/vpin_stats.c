/* Normal CDF, rolling variance, rolling sum (summation tree) and rolling OLS
 * (see vpin_stats.h). */
#include "vpin_stats.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

double vpin_phi(double x)
{
    return 0.5 * erfc(-x * M_SQRT1_2);
}

void vpin_rollvar_init(vpin_rollvar *v, double *buf, uint32_t w)
{
    assert(w == 0 || buf != NULL);
    v->buf = buf;
    v->w = w;
    v->head = 0;
    v->count = 0;
    v->mean = 0.0;
    v->m2 = 0.0;
    v->m2_peak = 0.0;
}

/* Two-pass mean and sum of squared deviations of a full window, shifted by
 * the first value so that identical values give exactly 0. */
static void rollvar_recompute(vpin_rollvar *v)
{
    double k = v->buf[0], sum = 0.0, m2 = 0.0;
    for (uint32_t i = 0; i < v->w; i++)
        sum += v->buf[i] - k;
    double dmean = sum / v->w;
    for (uint32_t i = 0; i < v->w; i++) {
        double d = v->buf[i] - k - dmean;
        m2 += d * d;
    }
    v->mean = k + dmean;
    v->m2 = m2;
    v->m2_peak = m2;
}

void vpin_rollvar_push(vpin_rollvar *v, double x)
{
    int sliding = v->w != 0 && v->count == v->w;
    if (!sliding) {
        /* Welford add */
        v->count++;
        double d = x - v->mean;
        v->mean += d / (double)v->count;
        v->m2 += d * (x - v->mean);
    } else {
        /* replace the oldest value y by x, count fixed at w */
        double y = v->buf[v->head];
        double old_mean = v->mean;
        v->mean += (x - y) / (double)v->w;
        v->m2 += (x - y) * (x - v->mean + y - old_mean);
    }
    if (v->m2 < 0.0)
        v->m2 = 0.0;
    if (v->m2 > v->m2_peak)
        v->m2_peak = v->m2;
    if (v->w == 0)
        return;
    v->buf[v->head] = x;
    if (++v->head == v->w)
        v->head = 0;
    /* exact recomputation every w pushes, and whenever removals have cancelled
     * M2 down to a millionth of its peak (only digits of noise would remain) */
    if (v->count == v->w && (v->head == 0 || (sliding && v->m2 < 1e-6 * v->m2_peak)))
        rollvar_recompute(v);
}

uint64_t vpin_rollvar_count(const vpin_rollvar *v)
{
    return v->count;
}

double vpin_rollvar_mean(const vpin_rollvar *v)
{
    return v->mean;
}

double vpin_rollvar_var(const vpin_rollvar *v)
{
    if (v->count < 2)
        return 0.0;
    return v->m2 / (double)(v->count - 1);
}

void vpin_rollsum_init(vpin_rollsum *s, double *buf, uint32_t w)
{
    assert(buf != NULL && w >= 1);
    s->buf = buf;
    s->w = w;
    s->count = 0;
    s->head = 0;
    memset(buf, 0, 2 * (size_t)w * sizeof(*buf));
}

void vpin_rollsum_push(vpin_rollsum *s, double x)
{
    if (s->count < s->w)
        s->count++;
    uint32_t k = s->w + s->head;
    s->buf[k] = x;
    for (k /= 2; k > 0; k /= 2)
        s->buf[k] = s->buf[2 * k] + s->buf[2 * k + 1];
    if (++s->head == s->w)
        s->head = 0;
}

int vpin_rollsum_full(const vpin_rollsum *s)
{
    return s->count == s->w;
}

double vpin_rollsum_value(const vpin_rollsum *s)
{
    return s->buf[1]; /* w = 1: the only leaf is node 1 */
}

void vpin_rollreg_init(vpin_rollreg *r, double *buf, uint32_t w)
{
    assert(buf != NULL && w >= 2);
    r->buf = buf;
    r->w = w;
    r->count = 0;
    r->head = 0;
    r->mx = r->my = r->sxx = r->sxy = r->sxx_peak = 0.0;
}

/* Two-pass means and co-moments of a full window (shifted by the first pair,
 * so constant data gives exactly 0). */
static void rollreg_recompute(vpin_rollreg *r)
{
    double kx = r->buf[0], ky = r->buf[1];
    double sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0;
    for (uint32_t i = 0; i < r->w; i++) {
        sx += r->buf[2 * i] - kx;
        sy += r->buf[2 * i + 1] - ky;
    }
    double dx = sx / r->w, dy = sy / r->w;
    for (uint32_t i = 0; i < r->w; i++) {
        double ex = r->buf[2 * i] - kx - dx;
        sxx += ex * ex;
        sxy += ex * (r->buf[2 * i + 1] - ky - dy);
    }
    r->mx = kx + dx;
    r->my = ky + dy;
    r->sxx = sxx;
    r->sxy = sxy;
    r->sxx_peak = sxx;
}

void vpin_rollreg_push(vpin_rollreg *r, double x, double y)
{
    int sliding = r->count == r->w;
    if (sliding) {
        /* Welford remove of the oldest pair (ox, oy): n -> n - 1 */
        double ox = r->buf[2 * r->head], oy = r->buf[2 * r->head + 1];
        double n = r->count;
        double mx = (n * r->mx - ox) / (n - 1.0);
        double my = (n * r->my - oy) / (n - 1.0);
        r->sxx -= (ox - mx) * (ox - r->mx);
        r->sxy -= (ox - mx) * (oy - r->my);
        r->mx = mx;
        r->my = my;
        r->count--;
    }
    /* Welford add: C += (x - old mean x) * (y - new mean y) */
    r->count++;
    double dx = x - r->mx;
    r->mx += dx / r->count;
    r->my += (y - r->my) / r->count;
    r->sxx += dx * (x - r->mx);
    r->sxy += dx * (y - r->my);
    if (r->sxx < 0.0)
        r->sxx = 0.0;
    if (r->sxx > r->sxx_peak)
        r->sxx_peak = r->sxx;
    r->buf[2 * r->head] = x;
    r->buf[2 * r->head + 1] = y;
    if (++r->head == r->w)
        r->head = 0;
    /* exact every w pushes, and when removals cancelled Sxx below 1e-6 of its
     * peak */
    if (r->count == r->w && (r->head == 0 || (sliding && r->sxx < 1e-6 * r->sxx_peak)))
        rollreg_recompute(r);
}

uint32_t vpin_rollreg_count(const vpin_rollreg *r)
{
    return r->count;
}

int vpin_rollreg_slope(const vpin_rollreg *r, double *slope)
{
    if (r->count < 2 || !(r->sxx > 0.0))
        return 0;
    *slope = r->sxy / r->sxx;
    return 1;
}
