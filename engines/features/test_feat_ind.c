/* Tests of the single indicators against published tables, hand calculations
 * and naive O(n) recomputations from the definitions over seeded series. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "feat_ind.h"

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(void)
{
    return (double)(splitmix64() >> 11) * 0x1.0p-53;
}

/* A random-walk price series around start with steps in [-step, step). */
static void random_walk(double *x, int len, double start, double step, uint64_t seed)
{
    rng_state = seed;
    double p = start;
    for (int i = 0; i < len; i++) {
        p += (2.0 * uniform() - 1.0) * step;
        if (p < 1.0)
            p = 1.0;
        x[i] = p;
    }
}

static void assert_close(double got, double want, double rel, const char *what, int i)
{
    double tol = rel * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    cr_assert(fabs(got - want) <= tol, "%s at %d: got %.17g want %.17g", what, i, got, want);
}

/* StockCharts "Relative Strength Index" ChartSchool table (cs-rsi.xls, QQQQ
 * closes Dec 2009 - Feb 2010). The spreadsheet's closes carry 4 decimals; its
 * RSI column is printed with 2, so agreement within 0.005 is expected. */
static const double rsi_closes[33] = {44.3389, 44.0902, 44.1497, 43.6124, 44.2778, 44.8264, 45.0955,
                                      45.4245, 45.8433, 46.0826, 45.8931, 46.0328, 45.6140, 46.2820,
                                      46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439, 46.2122,
                                      46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783,
                                      44.2181, 44.5672, 43.4205, 42.6628, 43.1314};
static const double rsi_published[19] = {70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93,
                                         63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
                                         41.87, 45.46, 37.30, 33.08, 37.77};

Test(rsi, stockcharts_published_table)
{
    feat_rsi r;
    feat_rsi_init(&r, 14);
    for (int i = 0; i < 33; i++) {
        feat_rsi_push(&r, rsi_closes[i]);
        /* 15 closes = 14 changes are needed for the first value (row 15) */
        if (i < 14) {
            cr_assert(!feat_rsi_ready(&r), "ready after %d closes", i + 1);
            continue;
        }
        cr_assert(feat_rsi_ready(&r));
        double want = rsi_published[i - 14];
        cr_assert(fabs(feat_rsi_value(&r) - want) <= 0.0051, "close %d: RSI %.4f, table %.2f",
                  i + 1, feat_rsi_value(&r), want);
    }
    /* Table's first averages: gain 0.24, loss 0.10 (2 dp). By hand: gains of
     * changes 2..15 sum to 3.3374 -> 0.238386; losses sum to 1.3943 -> 0.099593. */
    feat_rsi first;
    feat_rsi_init(&first, 14);
    for (int i = 0; i < 15; i++)
        feat_rsi_push(&first, rsi_closes[i]);
    cr_assert_float_eq(first.avg_gain, 3.3374 / 14, 1e-12);
    cr_assert_float_eq(first.avg_loss, 1.3943 / 14, 1e-12);
}

Test(rsi, edge_cases_all_up_and_flat)
{
    feat_rsi r;
    feat_rsi_init(&r, 3);
    /* all gains: avg loss 0 -> RSI 100 by definition */
    for (int i = 0; i < 4; i++)
        feat_rsi_push(&r, 10.0 + i);
    cr_assert(feat_rsi_ready(&r));
    cr_assert_float_eq(feat_rsi_value(&r), 100.0, 1e-12);
    feat_rsi_init(&r, 3);
    for (int i = 0; i < 4; i++)
        feat_rsi_push(&r, 10.0);
    cr_assert_float_eq(feat_rsi_value(&r), 50.0, 1e-12);
    /* hand: closes 10, 12, 11, 14 (n = 3): gains 2, 0, 3 -> 5/3; losses 0, 1, 0
     * -> 1/3; RS = 5 -> RSI = 100 - 100/6 = 83.333...; next close 13: gain 0,
     * loss 1: avg gain (5/3*2 + 0)/3 = 10/9, avg loss (1/3*2 + 1)/3 = 5/9, RS = 2
     * -> RSI = 100 - 100/3 = 66.666... */
    feat_rsi_init(&r, 3);
    feat_rsi_push(&r, 10);
    feat_rsi_push(&r, 12);
    feat_rsi_push(&r, 11);
    cr_assert(!feat_rsi_ready(&r));
    feat_rsi_push(&r, 14);
    cr_assert_float_eq(feat_rsi_value(&r), 100.0 - 100.0 / 6.0, 1e-12);
    feat_rsi_push(&r, 13);
    cr_assert_float_eq(feat_rsi_value(&r), 100.0 - 100.0 / 3.0, 1e-12);
}

/* Naive Wilder RSI of closes[0..k] from the definition. */
static double naive_rsi(const double *c, int k, int n)
{
    double g = 0, l = 0;
    for (int i = 1; i <= n; i++) {
        double d = c[i] - c[i - 1];
        g += d > 0 ? d : 0;
        l += d < 0 ? -d : 0;
    }
    g /= n;
    l /= n;
    for (int i = n + 1; i <= k; i++) {
        double d = c[i] - c[i - 1];
        g = (g * (n - 1) + (d > 0 ? d : 0)) / n;
        l = (l * (n - 1) + (d < 0 ? -d : 0)) / n;
    }
    return l == 0 ? (g == 0 ? 50 : 100) : 100 - 100 / (1 + g / l);
}

Test(rsi, matches_naive_recomputation)
{
    enum { LEN = 400 };
    double c[LEN];
    random_walk(c, LEN, 100.0, 1.0, 11);
    feat_rsi r;
    feat_rsi_init(&r, 14);
    for (int k = 0; k < LEN; k++) {
        feat_rsi_push(&r, c[k]);
        cr_assert_eq(feat_rsi_ready(&r), k >= 14);
        if (k >= 14)
            assert_close(feat_rsi_value(&r), naive_rsi(c, k, 14), 1e-9, "rsi", k);
    }
}

/* Naive EMA of x[0..k]: SMA of the first n, then the recursion. */
static double naive_ema(const double *x, int k, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    double e = s / n, a = 2.0 / (n + 1);
    for (int i = n; i <= k; i++)
        e = a * x[i] + (1 - a) * e;
    return e;
}

Test(ema, hand_example_and_warm_up)
{
    /* n = 3: alpha = 2/4 = 0.5. Seed = (1+2+3)/3 = 2; push 4: 2 + 0.5*(4-2) = 3;
     * push 10: 3 + 0.5*(10-3) = 6.5. */
    feat_ema e;
    feat_ema_init(&e, 3);
    cr_assert_float_eq(e.alpha, 0.5, 1e-15);
    feat_ema_push(&e, 1);
    feat_ema_push(&e, 2);
    cr_assert(!feat_ema_ready(&e));
    feat_ema_push(&e, 3);
    cr_assert(feat_ema_ready(&e));
    cr_assert_float_eq(feat_ema_value(&e), 2.0, 1e-15);
    feat_ema_push(&e, 4);
    cr_assert_float_eq(feat_ema_value(&e), 3.0, 1e-15);
    feat_ema_push(&e, 10);
    cr_assert_float_eq(feat_ema_value(&e), 6.5, 1e-15);
}

Test(ema, matches_naive_recomputation)
{
    enum { LEN = 300 };
    double x[LEN];
    random_walk(x, LEN, 50.0, 0.5, 12);
    feat_ema e;
    feat_ema_init(&e, 20);
    for (int k = 0; k < LEN; k++) {
        feat_ema_push(&e, x[k]);
        cr_assert_eq(feat_ema_ready(&e), k >= 19);
        if (k >= 19)
            assert_close(feat_ema_value(&e), naive_ema(x, k, 20), 1e-12, "ema", k);
    }
}

Test(macd, matches_naive_recomputation)
{
    enum { LEN = 300 };
    double x[LEN], line[LEN];
    random_walk(x, LEN, 80.0, 0.7, 13);
    feat_macd m;
    feat_macd_init(&m, 12, 26, 9);
    for (int k = 0; k < LEN; k++) {
        feat_macd_push(&m, x[k]);
        /* the line exists from close 26 (k = 25), the signal 8 closes later */
        cr_assert_eq(feat_macd_line_ready(&m), k >= 25, "line ready at k=%d", k);
        cr_assert_eq(feat_macd_signal_ready(&m), k >= 33, "signal ready at k=%d", k);
        if (k < 25)
            continue;
        line[k] = naive_ema(x, k, 12) - naive_ema(x, k, 26);
        assert_close(feat_macd_line(&m), line[k], 1e-10, "macd", k);
        if (k >= 33) {
            double sig = naive_ema(line + 25, k - 25, 9);
            assert_close(feat_macd_signal(&m), sig, 1e-10, "signal", k);
        }
    }
}

Test(window, sma_hand_example)
{
    /* n = 3 over 1, 2, 3, 4, 5: means (1+2+3)/3 = 2, then 3, then 4 */
    double buf[3];
    feat_win w;
    feat_win_init(&w, buf, 3);
    feat_win_push(&w, 1);
    feat_win_push(&w, 2);
    cr_assert(!feat_win_full(&w));
    feat_win_push(&w, 3);
    cr_assert(feat_win_full(&w));
    cr_assert_float_eq(feat_win_mean(&w), 2.0, 1e-15);
    feat_win_push(&w, 4);
    cr_assert_float_eq(feat_win_mean(&w), 3.0, 1e-15);
    feat_win_push(&w, 5);
    cr_assert_float_eq(feat_win_mean(&w), 4.0, 1e-15);
    cr_assert_float_eq(feat_win_sum(&w), 12.0, 1e-15);
}

Test(window, bollinger_hand_example_population)
{
    /* n = 4 over 1, 2, 3, 4: mean 2.5; population variance
     * (1.5^2 + 0.5^2 + 0.5^2 + 1.5^2) / 4 = 5 / 4 = 1.25 (the sample variance
     * would be 5/3). Bands at k = 2: 2.5 +- 2*sqrt(1.25) = 2.5 +- 2.2360680. */
    double buf[4];
    feat_win w;
    feat_win_init(&w, buf, 4);
    for (int i = 1; i <= 4; i++)
        feat_win_push(&w, i);
    cr_assert_float_eq(feat_win_var_pop(&w), 1.25, 1e-14);
    cr_assert_float_eq(feat_win_mean(&w) + 2 * sqrt(feat_win_var_pop(&w)), 4.7360679774997898,
                       1e-12);
}

/* Random series far from 0 with small spread (cancellation-prone), many
 * window wraps: mean and population variance against two-pass recomputation. */
Test(window, matches_two_pass_over_long_series)
{
    enum { N = 20 };
    const char *sc = getenv("MESH_TEST_SCALE");
    int len = (int)(200000 * (sc ? atof(sc) : 1.0));
    double *x = malloc(sizeof(double) * len);
    cr_assert(x != NULL);
    random_walk(x, len, 1.0e6, 0.01, 14);
    double buf[N];
    feat_win w;
    feat_win_init(&w, buf, N);
    for (int k = 0; k < len; k++) {
        feat_win_push(&w, x[k]);
        int lo = k + 1 >= N ? k + 1 - N : 0, cnt = k + 1 - lo;
        double m = 0, v = 0;
        for (int i = lo; i <= k; i++)
            m += x[i];
        m /= cnt;
        for (int i = lo; i <= k; i++)
            v += (x[i] - m) * (x[i] - m);
        v /= cnt;
        assert_close(feat_win_mean(&w), m, 1e-13, "mean", k);
        /* variance ~1e-4 on values ~1e6: absolute error must stay tiny */
        cr_assert(fabs(feat_win_var_pop(&w) - v) <= 1e-9 * (v > 1e-6 ? v : 1e-6) + 1e-12,
                  "var at %d: %.17g vs %.17g", k, feat_win_var_pop(&w), v);
    }
    free(x);
}

Test(atr, hand_example)
{
    /* n = 3, bars (h, l, c):
     *   (10, 8, 9)        first bar: TR = h - l = 2
     *   (11, 9.5, 10.5)   TR = max(1.5, |11-9| = 2, |9.5-9| = 0.5) = 2
     *   (10.2, 9.8, 10)   TR = max(0.4, |10.2-10.5| = 0.3, |9.8-10.5| = 0.7) = 0.7
     *                     first ATR = (2 + 2 + 0.7) / 3 = 4.7/3 = 1.5666667
     *   (13, 10, 12)      TR = max(3, |13-10| = 3, 0) = 3; ATR = (4.7/3*2 + 3)/3
     *                     = 2.0444444
     *   (9, 8.5, 8.8)     gap down: TR = max(0.5, |9-12| = 3, |8.5-12| = 3.5) = 3.5
     *                     ATR = (2.0444444*2 + 3.5)/3 = 2.5296296 */
    feat_atr a;
    feat_atr_init(&a, 3);
    feat_atr_push(&a, 10, 8, 9);
    feat_atr_push(&a, 11, 9.5, 10.5);
    cr_assert(!feat_atr_ready(&a));
    feat_atr_push(&a, 10.2, 9.8, 10);
    cr_assert(feat_atr_ready(&a));
    cr_assert_float_eq(feat_atr_value(&a), 4.7 / 3, 1e-12);
    feat_atr_push(&a, 13, 10, 12);
    double atr4 = (4.7 / 3 * 2 + 3) / 3;
    cr_assert_float_eq(feat_atr_value(&a), atr4, 1e-12);
    cr_assert_float_eq(atr4, 2.0444444444444444, 1e-12);
    feat_atr_push(&a, 9, 8.5, 8.8);
    cr_assert_float_eq(feat_atr_value(&a), (atr4 * 2 + 3.5) / 3, 1e-12);
    cr_assert_float_eq(feat_atr_value(&a), 2.5296296296296296, 1e-12);
}

Test(atr, matches_naive_recomputation)
{
    enum { LEN = 300, N = 14 };
    double c[LEN], h[LEN], l[LEN], tr[LEN];
    random_walk(c, LEN, 30.0, 0.4, 15);
    for (int i = 0; i < LEN; i++) {
        h[i] = c[i] + uniform() * 0.5;
        l[i] = c[i] - uniform() * 0.5;
    }
    feat_atr a;
    feat_atr_init(&a, N);
    for (int k = 0; k < LEN; k++) {
        feat_atr_push(&a, h[k], l[k], c[k]);
        tr[k] = h[k] - l[k];
        if (k > 0) {
            tr[k] = fmax(tr[k], fabs(h[k] - c[k - 1]));
            tr[k] = fmax(tr[k], fabs(l[k] - c[k - 1]));
        }
        cr_assert_eq(feat_atr_ready(&a), k >= N - 1);
        if (k < N - 1)
            continue;
        double v = 0;
        for (int i = 0; i < N; i++)
            v += tr[i];
        v /= N;
        for (int i = N; i <= k; i++)
            v = (v * (N - 1) + tr[i]) / N;
        assert_close(feat_atr_value(&a), v, 1e-12, "atr", k);
    }
}

Test(vwap, session_reset)
{
    /* sessions of 10 s starting 5 s past each multiple of 10 s:
     * id(ts) = floor((ts - 5 s) / 10 s); ts < 5 s is before the first one. */
    const uint64_t s = 1000000000ull;
    cr_assert_eq(feat_session_id(4 * s, 10 * s, 5 * s), -1);
    cr_assert_eq(feat_session_id(5 * s, 10 * s, 5 * s), 0);
    cr_assert_eq(feat_session_id(15 * s - 1, 10 * s, 5 * s), 0);
    cr_assert_eq(feat_session_id(15 * s, 10 * s, 5 * s), 1);
    feat_vwap v;
    feat_vwap_init(&v);
    cr_assert(!feat_vwap_ready(&v));
    /* session 0: (10 * 100 + 11 * 300) / 400 = 4300 / 400 = 10.75 */
    feat_vwap_push(&v, 0, 10, 100);
    feat_vwap_push(&v, 0, 11, 300);
    cr_assert(feat_vwap_ready(&v));
    cr_assert_float_eq(feat_vwap_value(&v), 10.75, 1e-12);
    /* session 1 starts afresh: (20 * 1 + 22 * 3) / 4 = 86 / 4 = 21.5 */
    feat_vwap_push(&v, 1, 20, 1);
    cr_assert_float_eq(feat_vwap_value(&v), 20.0, 1e-12);
    feat_vwap_push(&v, 1, 22, 3);
    cr_assert_float_eq(feat_vwap_value(&v), 21.5, 1e-12);
}

Test(rvol, hand_example_and_naive)
{
    /* n = 2, closes 100, 110, 99: r1 = ln(1.1) = 0.0953102, r2 = ln(0.9) =
     * -0.1053605; RV = sqrt(r1^2 + r2^2) = sqrt(0.00908403 + 0.01110084)
     * = sqrt(0.02018487) = 0.1420735 */
    double buf[2];
    feat_rvol r;
    feat_rvol_init(&r, buf, 2);
    feat_rvol_push(&r, 100);
    cr_assert(!feat_rvol_return_ready(&r));
    feat_rvol_push(&r, 110);
    cr_assert(feat_rvol_return_ready(&r));
    cr_assert(!feat_rvol_ready(&r));
    cr_assert_float_eq(r.last_return, log(1.1), 1e-15);
    feat_rvol_push(&r, 99);
    cr_assert(feat_rvol_ready(&r));
    cr_assert_float_eq(feat_rvol_value(&r), 0.1420735, 1e-7);

    enum { LEN = 500, N = 30 };
    double c[LEN], buf2[N];
    random_walk(c, LEN, 20.0, 0.3, 16);
    feat_rvol_init(&r, buf2, N);
    for (int k = 0; k < LEN; k++) {
        feat_rvol_push(&r, c[k]);
        cr_assert_eq(feat_rvol_ready(&r), k >= N);
        if (k < N)
            continue;
        double s = 0;
        for (int i = k - N + 1; i <= k; i++) {
            double lr = log(c[i] / c[i - 1]);
            s += lr * lr;
        }
        assert_close(feat_rvol_value(&r), sqrt(s), 1e-10, "rvol", k);
        assert_close(r.last_return, log(c[k] / c[k - 1]), 1e-15, "return", k);
    }
}
