/* Single technical indicators (see feat_ind.h and README.md for definitions). */
#include "feat_ind.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

void feat_win_init(feat_win *w, double *buf, uint32_t n)
{
    assert(buf != NULL && n >= 1);
    w->buf = buf;
    w->n = n;
    w->count = 0;
    w->head = 0;
    w->shift = 0.0;
    w->s1 = 0.0;
    w->s2 = 0.0;
}

/* Exact two-pass recomputation: shift = mean of the window (computed around
 * the first value, so identical values give exactly 0 spread), sums around it. */
static void win_recompute(feat_win *w)
{
    double k0 = w->buf[0], dsum = 0.0;
    for (uint32_t i = 0; i < w->count; i++)
        dsum += w->buf[i] - k0;
    double k = k0 + dsum / w->count;
    double s1 = 0.0, s2 = 0.0;
    for (uint32_t i = 0; i < w->count; i++) {
        double d = w->buf[i] - k;
        s1 += d;
        s2 += d * d;
    }
    w->shift = k;
    w->s1 = s1;
    w->s2 = s2;
}

void feat_win_push(feat_win *w, double x)
{
    if (w->count == 0)
        w->shift = x;
    if (w->count == w->n) {
        double old = w->buf[w->head] - w->shift;
        w->s1 -= old;
        w->s2 -= old * old;
    } else {
        w->count++;
    }
    double d = x - w->shift;
    w->s1 += d;
    w->s2 += d * d;
    w->buf[w->head] = x;
    if (++w->head == w->n) {
        w->head = 0;
        win_recompute(w);
    }
}

int feat_win_full(const feat_win *w)
{
    return w->count == w->n;
}

double feat_win_sum(const feat_win *w)
{
    return w->s1 + (double)w->count * w->shift;
}

double feat_win_mean(const feat_win *w)
{
    if (w->count == 0)
        return 0.0;
    return w->shift + w->s1 / w->count;
}

double feat_win_var_pop(const feat_win *w)
{
    if (w->count == 0)
        return 0.0;
    double m = w->s1 / w->count;
    double v = w->s2 / w->count - m * m;
    return v > 0.0 ? v : 0.0;
}

void feat_ema_init(feat_ema *e, uint32_t n)
{
    assert(n >= 1);
    e->n = n;
    e->count = 0;
    e->alpha = 2.0 / (n + 1.0);
    e->value = 0.0;
}

void feat_ema_push(feat_ema *e, double x)
{
    if (e->count < e->n) {
        e->value += x;
        if (++e->count == e->n)
            e->value /= e->n;
        return;
    }
    e->value += e->alpha * (x - e->value);
}

int feat_ema_ready(const feat_ema *e)
{
    return e->count >= e->n;
}

double feat_ema_value(const feat_ema *e)
{
    return e->value;
}

void feat_rsi_init(feat_rsi *r, uint32_t n)
{
    assert(n >= 1);
    r->n = n;
    r->changes = 0;
    r->has_prev = 0;
    r->prev = 0.0;
    r->avg_gain = 0.0;
    r->avg_loss = 0.0;
}

void feat_rsi_push(feat_rsi *r, double close)
{
    if (!r->has_prev) {
        r->has_prev = 1;
        r->prev = close;
        return;
    }
    double ch = close - r->prev;
    double gain = ch > 0.0 ? ch : 0.0;
    double loss = ch < 0.0 ? -ch : 0.0;
    r->prev = close;
    if (r->changes < r->n) {
        r->avg_gain += gain;
        r->avg_loss += loss;
        if (++r->changes == r->n) {
            r->avg_gain /= r->n;
            r->avg_loss /= r->n;
        }
        return;
    }
    r->avg_gain = (r->avg_gain * (r->n - 1) + gain) / r->n;
    r->avg_loss = (r->avg_loss * (r->n - 1) + loss) / r->n;
}

int feat_rsi_ready(const feat_rsi *r)
{
    return r->changes >= r->n;
}

double feat_rsi_value(const feat_rsi *r)
{
    if (r->avg_loss == 0.0)
        return r->avg_gain == 0.0 ? 50.0 : 100.0;
    return 100.0 - 100.0 / (1.0 + r->avg_gain / r->avg_loss);
}

void feat_macd_init(feat_macd *m, uint32_t fast, uint32_t slow, uint32_t signal)
{
    feat_ema_init(&m->fast, fast);
    feat_ema_init(&m->slow, slow);
    feat_ema_init(&m->signal, signal);
    m->line = 0.0;
}

void feat_macd_push(feat_macd *m, double close)
{
    feat_ema_push(&m->fast, close);
    feat_ema_push(&m->slow, close);
    if (feat_ema_ready(&m->fast) && feat_ema_ready(&m->slow)) {
        m->line = feat_ema_value(&m->fast) - feat_ema_value(&m->slow);
        feat_ema_push(&m->signal, m->line);
    }
}

int feat_macd_line_ready(const feat_macd *m)
{
    return feat_ema_ready(&m->fast) && feat_ema_ready(&m->slow);
}

int feat_macd_signal_ready(const feat_macd *m)
{
    return feat_ema_ready(&m->signal);
}

double feat_macd_line(const feat_macd *m)
{
    return m->line;
}

double feat_macd_signal(const feat_macd *m)
{
    return feat_ema_value(&m->signal);
}

void feat_atr_init(feat_atr *a, uint32_t n)
{
    assert(n >= 1);
    a->n = n;
    a->count = 0;
    a->has_prev = 0;
    a->prev_close = 0.0;
    a->value = 0.0;
}

void feat_atr_push(feat_atr *a, double high, double low, double close)
{
    double tr = high - low;
    if (a->has_prev) {
        double up = fabs(high - a->prev_close);
        double dn = fabs(low - a->prev_close);
        if (up > tr)
            tr = up;
        if (dn > tr)
            tr = dn;
    }
    a->has_prev = 1;
    a->prev_close = close;
    if (a->count < a->n) {
        a->value += tr;
        if (++a->count == a->n)
            a->value /= a->n;
        return;
    }
    a->value = (a->value * (a->n - 1) + tr) / a->n;
}

int feat_atr_ready(const feat_atr *a)
{
    return a->count >= a->n;
}

double feat_atr_value(const feat_atr *a)
{
    return a->value;
}

void feat_vwap_init(feat_vwap *v)
{
    v->has_session = 0;
    v->session = 0;
    v->pv = 0.0;
    v->v = 0.0;
}

void feat_vwap_push(feat_vwap *v, int64_t session, double price, double size)
{
    if (!v->has_session || session != v->session) {
        v->has_session = 1;
        v->session = session;
        v->pv = 0.0;
        v->v = 0.0;
    }
    v->pv += price * size;
    v->v += size;
}

int feat_vwap_ready(const feat_vwap *v)
{
    return v->has_session && v->v > 0.0;
}

double feat_vwap_value(const feat_vwap *v)
{
    return v->pv / v->v;
}

int64_t feat_session_id(uint64_t ts_ns, uint64_t session_ns, uint64_t offset_ns)
{
    assert(session_ns > 0);
    offset_ns %= session_ns;
    if (ts_ns >= offset_ns)
        return (int64_t)((ts_ns - offset_ns) / session_ns);
    return -1; /* before the first boundary after the epoch */
}

void feat_rvol_init(feat_rvol *r, double *buf, uint32_t n)
{
    feat_win_init(&r->sq, buf, n);
    r->has_prev = 0;
    r->prev = 0.0;
    r->last_return = 0.0;
}

void feat_rvol_push(feat_rvol *r, double close)
{
    if (r->has_prev) {
        double ret = log(close / r->prev);
        r->last_return = ret;
        feat_win_push(&r->sq, ret * ret);
    }
    r->has_prev = 1;
    r->prev = close;
}

int feat_rvol_return_ready(const feat_rvol *r)
{
    return r->sq.count > 0;
}

int feat_rvol_ready(const feat_rvol *r)
{
    return feat_win_full(&r->sq);
}

double feat_rvol_value(const feat_rvol *r)
{
    double s = feat_win_sum(&r->sq);
    return s > 0.0 ? sqrt(s) : 0.0;
}
