/* VPIN engine tests: hand-worked cases (bucket splitting across bars, several
 * buckets from one bar, warm-up, sigma = 0, sigma window, bar alignment,
 * n-window VPIN) and a seeded multi-symbol run against a naive
 * implementation of the spec (buckets, VPIN, CDF, alert, Kyle's lambda). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"
#include "vpin.h"

#define SEC 1000000000ull
#define MS  1000000ull

typedef struct capture {
    vpin_bucket *b;
    size_t n, cap;
} capture;

static void on_bucket(void *ctx, const vpin_bucket *b)
{
    capture *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->b = realloc(c->b, c->cap * sizeof(*c->b));
        cr_assert(c->b != NULL);
    }
    c->b[c->n++] = *b;
}

/* The standard normal CDF by its closed form. */
static double phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

static vpin_engine *open_engine(const vpin_params *p, capture *cap)
{
    vpin_engine *e;
    const char *why = NULL;
    int rc = vpin_open(&e, p, on_bucket, cap, &why);
    cr_assert_eq(rc, 0, "vpin_open: %s", why ? why : mesh_strerror(rc));
    return e;
}

static void small_params(vpin_params *p)
{
    vpin_default_params(p);
    p->bar_ns = SEC;
    p->bucket_volume = 10;
    p->window = 2;
    p->sigma_bars = 1000;
    p->min_sigma_bars = 2;
}

Test(vpin, hand_worked_buckets_split_across_bars_and_many_from_one_bar)
{
    /* B = 1 s, V = 10, n = 2, S = 1000, M = 2. Times are T0 + ms.
     *   bar0 [0,1 s):  100 ms p=100 q=5   -> reference price only (5 unused)
     *   bar1 [1,2 s):  1200 ms p=101 q=7  -> dP = +1; 1 change < M: not bucketed
     *   bar2 [2,3 s):  2500 ms p=100 q=4  -> dP = -1; changes {1, -1}: mean 0,
     *       sample var (1 + 1) / 1 = 2, sigma = sqrt 2; z2 = Phi(-1/sqrt 2)
     *       = Phi(-0.70711) = 0.239750 (table Phi(0.71) = .7611)
     *       bucket0 <- 4: buy 4 z2, sell 4 (1 - z2)
     *   bar3 [3,4 s):  3300 ms p=102 q=3, 3900 ms p=102 q=5 -> close 102, vol 8,
     *       dP = +2; {1, -1, 2}: mean 2/3, squares 1/9 + 25/9 + 16/9 = 42/9,
     *       var 42/9/2 = 7/3, sigma = 1.527525; z3 = Phi(2/1.527525)
     *       = Phi(1.309307) = 0.904785 (table Phi(1.31) = .9049)
     *       bucket0 <- 6 (complete at 3.9 s): buy0 = 4 z2 + 6 z3 = 6.387709,
     *       sell0 = 3.612291; bucket1 <- 2: buy 2 z3, sell 2 (1 - z3)
     *   bar4 [4,5 s):  4000 ms p=101 q=28 -> closed by the flush: dP = -1;
     *       {1, -1, 2, -1}: mean 1/4, squares .5625 + 1.5625 + 3.0625 + 1.5625
     *       = 6.75, var 6.75/3 = 2.25, sigma = 1.5; z4 = Phi(-2/3) = 0.252493
     *       (table Phi(0.67) = .7486); 28 = 8 (completes bucket1) + 10 + 10:
     *       buy1 = 2 z3 + 8 z4 = 3.829510, sell1 = 6.170490;
     *       buckets 2 and 3: buy 10 z4 = 2.524925, sell 7.475075, all at 4.0 s.
     * |sell - buy|: 2.775419, 2.340980, 4.950149, 4.950149.
     * VPIN (n = 2, nV = 20): bucket1 (2.775419 + 2.340980)/20 = 0.255820;
     * bucket2 (2.340980 + 4.950149)/20 = 0.364556; bucket3 = 9.900298/20
     * = 0.495015 (= 1 - 2 z4). Bars 0 and 1 volumes are unused: 4 + 8 + 28 =
     * 40 = exactly 4 buckets. */
    const uint64_t t0 = 1700000000ull * SEC;
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    vpin_engine *e = open_engine(&p, &cap);
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 100 * MS, 100, 5), 0);
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 1200 * MS, 101, 7), 0);
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 2500 * MS, 100, 4), 0);
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 3300 * MS, 102, 3), 0);
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 3900 * MS, 102, 5), 0);
    cr_assert_eq(cap.n, 0); /* bar3 is not known complete yet */
    cr_assert_eq(vpin_on_trade(e, "A", t0 + 4000 * MS, 101, 28), 0);
    cr_assert_eq(cap.n, 1);
    cr_assert_eq(vpin_flush(e, UINT64_MAX), 1);
    cr_assert_eq(cap.n, 4);

    double z2 = phi(-1 / sqrt(2.0)), z3 = phi(2 / sqrt(7.0 / 3.0)), z4 = phi(-2.0 / 3.0);
    cr_assert_float_eq(z2, 0.239750, 1e-6);
    cr_assert_float_eq(z3, 0.904785, 1e-6);
    cr_assert_float_eq(z4, 0.252493, 1e-6);
    const double buy[4] = {4 * z2 + 6 * z3, 2 * z3 + 8 * z4, 10 * z4, 10 * z4};
    const uint64_t end[4] = {t0 + 3900 * MS, t0 + 4000 * MS, t0 + 4000 * MS, t0 + 4000 * MS};
    for (int i = 0; i < 4; i++) {
        const vpin_bucket *b = &cap.b[i];
        cr_assert_str_eq(b->symbol, "A");
        cr_assert_eq(b->index, (uint64_t)i);
        cr_assert_eq(b->end_ts_ns, end[i], "bucket %d end", i);
        cr_assert_float_eq(b->buy_volume, buy[i], 1e-12, "bucket %d buy", i);
        cr_assert_float_eq(b->sell_volume, 10 - buy[i], 1e-12, "bucket %d sell", i);
        cr_assert_eq(b->vpin_ready, i >= 1);
    }
    cr_assert_float_eq(cap.b[0].buy_volume, 6.387709, 1e-6);
    cr_assert(isnan(cap.b[0].vpin));
    cr_assert_float_eq(cap.b[1].vpin, 0.255820, 1e-6);
    cr_assert_float_eq(cap.b[2].vpin, 0.364556, 1e-6);
    cr_assert_float_eq(cap.b[3].vpin, 0.495015, 1e-6);
    cr_assert_float_eq(cap.b[3].vpin, 1 - 2 * z4, 1e-12);
    vpin_symbol_stats st;
    cr_assert_eq(vpin_get(e, "A", &st), 0);
    cr_assert_eq(st.bars, 5);
    cr_assert_eq(st.bucketed_bars, 3);
    cr_assert_eq(st.buckets, 4);
    cr_assert_float_eq(st.sigma, 1.5, 1e-12);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, sigma_zero_gives_half_and_first_bar_only_sets_reference)
{
    /* Constant price 50: bar0 reference (its 25 unused); bar1 dP = 0, one
     * change < M = 2; bar2 dP = 0: changes {0, 0}, sigma = 0 -> z = 0.5, its
     * 10 fill bucket0 with buy 5, sell 5. */
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    vpin_engine *e = open_engine(&p, &cap);
    cr_assert_eq(vpin_on_trade(e, "Z", 0 * SEC, 50, 25), 0);
    cr_assert_eq(vpin_on_trade(e, "Z", 1 * SEC, 50, 10), 0);
    cr_assert_eq(vpin_on_trade(e, "Z", 2 * SEC, 50, 10), 0);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 1);
    cr_assert_float_eq(cap.b[0].buy_volume, 5, 0);
    cr_assert_float_eq(cap.b[0].sell_volume, 5, 0);
    cr_assert_eq(cap.b[0].end_ts_ns, 2 * SEC);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, warm_up_waits_for_min_sigma_bars)
{
    /* M = 3, V = 10, every bar has volume 10 and a price change: bar0 sets the
     * reference, bars 1 and 2 give 1 and 2 changes (< M: not bucketed), bars 3,
     * 4, 5 are bucketed: exactly 3 buckets, the first ending at bar 3 (3 s). */
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.min_sigma_bars = 3;
    vpin_engine *e = open_engine(&p, &cap);
    const double px[6] = {100, 101, 100.5, 102, 101, 103};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(vpin_on_trade(e, "W", (uint64_t)i * SEC, px[i], 10), 0);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 3);
    cr_assert_eq(cap.b[0].end_ts_ns, 3 * SEC);
    /* bar3: changes {1, -0.5, 1.5}: mean 2/3, squares 1/9 + 49/36 + 25/36 =
     * 78/36, var 39/36, sigma = 1.040833; z = Phi(1.5/1.040833) = Phi(1.441153)
     * = 0.925229 (table Phi(1.44) = .9251) */
    double z = phi(1.5 / sqrt(39.0 / 36.0));
    cr_assert_float_eq(z, 0.925229, 1e-6);
    cr_assert_float_eq(cap.b[0].buy_volume, 10 * z, 1e-12);
    vpin_symbol_stats st;
    vpin_get(e, "W", &st);
    cr_assert_eq(st.bucketed_bars, 3);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, sigma_uses_only_the_last_S_changes)
{
    /* S = 2, M = 2, V = 10, volume 10 per bar; closes 100, 101, 100, 101, 102:
     * changes +1 (not bucketed), -1: {+1, -1} sigma = sqrt 2, z = Phi(-0.70711)
     * = 0.239750; +1: {-1, +1} sigma = sqrt 2, z = 0.760250; +1: {+1, +1}
     * sigma = 0 -> z = 0.5 (over all four changes sigma would be > 0). */
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.sigma_bars = 2;
    vpin_engine *e = open_engine(&p, &cap);
    const double px[5] = {100, 101, 100, 101, 102};
    for (int i = 0; i < 5; i++)
        vpin_on_trade(e, "S", (uint64_t)i * SEC, px[i], 10);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 3);
    cr_assert_float_eq(cap.b[0].buy_volume, 2.39750, 1e-5);
    cr_assert_float_eq(cap.b[1].buy_volume, 7.60250, 1e-5);
    cr_assert_float_eq(cap.b[2].buy_volume, 5.0, 1e-12);
    /* VPIN (n = 2) at bucket2: (|10 - 2 * 7.6025| + 0) / 20 = 5.205/20 = 0.26025 */
    cr_assert_float_eq(cap.b[2].vpin, 0.26025, 1e-5);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, bars_align_to_multiples_of_B_since_the_epoch)
{
    /* B = 60 s; T0 = 1700000040 s = 28333334 * 60 s is a bar boundary. A first
     * trade at T0 + 30 s and one at T0 + 70 s are in different bars (the
     * boundary is T0 + 60 s), though only 40 s apart; T0 + 61 s and
     * T0 + 119.999999999 s share bar 28333335. */
    const uint64_t t0 = 1700000040ull * SEC;
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.bar_ns = 60 * SEC;
    vpin_engine *e = open_engine(&p, &cap);
    vpin_symbol_stats st;
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 30 * SEC, 10, 1), 0);
    vpin_get(e, "T", &st);
    cr_assert_eq(st.open_bar_id, 28333334);
    cr_assert_eq(st.bars, 0);
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 70 * SEC, 10, 1), 0);
    vpin_get(e, "T", &st);
    cr_assert_eq(st.bars, 1);
    cr_assert_eq(st.open_bar_id, 28333335);
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 119 * SEC + 999999999, 10, 1), 0);
    vpin_get(e, "T", &st);
    cr_assert_eq(st.bars, 1);
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 120 * SEC, 10, 1), 0);
    vpin_get(e, "T", &st);
    cr_assert_eq(st.bars, 2);
    /* bar [T0 + 120 s, T0 + 180 s) is open until T0 + 180 s */
    cr_assert_eq(vpin_flush(e, t0 + 180 * SEC - 1), 0);
    cr_assert_eq(vpin_flush(e, t0 + 180 * SEC), 1);
    vpin_get(e, "T", &st);
    cr_assert_eq(st.bars, 3);
    cr_assert_eq(st.bar_open, 0);
    /* a late trade inside the flushed bar is refused, the next bar accepted */
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 150 * SEC, 10, 1), MESH_ERANGE);
    cr_assert_eq(vpin_on_trade(e, "T", t0 + 180 * SEC, 10, 1), 0);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, bad_input_and_bad_params)
{
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.max_symbols = 1;
    vpin_engine *e = open_engine(&p, &cap);
    cr_assert_eq(vpin_on_trade(e, "A", 5, 0, 1), MESH_EINVAL);
    cr_assert_eq(vpin_on_trade(e, "A", 5, 1, -1), MESH_EINVAL);
    cr_assert_eq(vpin_on_trade(e, "A", 5, NAN, 1), MESH_EINVAL);
    cr_assert_eq(vpin_on_trade(e, "", 5, 1, 1), MESH_EINVAL);
    cr_assert_eq(vpin_on_trade(e, "A", 5, 1, 1), 0);
    cr_assert_eq(vpin_on_trade(e, "A", 4, 1, 1), MESH_ERANGE);
    cr_assert_eq(vpin_on_trade(e, "B", 5, 1, 1), MESH_ENOSPC);
    vpin_symbol_stats st;
    cr_assert_eq(vpin_get(e, "B", &st), MESH_ENOENT);
    cr_assert_eq(vpin_get(e, "A", &st), 0);
    cr_assert_eq(st.trades, 1);
    vpin_close(e);
    vpin_close(NULL);

    const char *why = NULL;
    small_params(&p);
    p.min_sigma_bars = 1;
    cr_assert_eq(vpin_open(&e, &p, NULL, NULL, &why), MESH_EINVAL);
    cr_assert_null(e);
    cr_assert(why && strstr(why, "min sigma"));
    small_params(&p);
    p.min_sigma_bars = 1001; /* > S */
    cr_assert_eq(vpin_params_check(&p, &why), MESH_EINVAL);
    small_params(&p);
    p.bucket_volume = 0;
    cr_assert_eq(vpin_params_check(&p, &why), MESH_EINVAL);
    cr_assert(strstr(why, "bucket volume"));
    small_params(&p);
    p.alert_threshold = 1.5;
    cr_assert_eq(vpin_params_check(&p, &why), MESH_EINVAL);
    small_params(&p);
    cr_assert_eq(vpin_params_check(&p, &why), 0);
    cr_assert_null(why);
}

/* Sample standard deviation (n - 1 divisor) of x[0..n), two passes. */
static double sd_of(const double *x, int n)
{
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1));
}

Test(vpin, zero_vpin_is_exactly_zero_and_stays_out_of_the_lognormal_fit)
{
    /* B = 1 s, V = 10, n = 5, S = 1000, M = 2, CDF after 2 values; one trade
     * of 10 per bar, closes 100, 101, 98.5, 99.8, 98.4, then 98.2 for eight
     * bars (5 s .. 12 s), then 99.2 (13 s). Changes: +1 (bar1, not bucketed),
     * -2.5, +1.3, -1.4, -0.2 (buckets 0..3), 0 x 7 (buckets 4..10: z =
     * Phi(0) = 1/2 exactly, |sell - buy| = 0), +1 (bucket 11).
     * Bucket i <= 3: z_i = Phi(dP / sd of the first i + 2 changes):
     *   0.156211, 0.730834, 0.224515, 0.450387; |sell - buy| = 10 |2 z - 1| =
     *   6.875778, 4.616684, 5.509701, 0.992261.
     * VPIN (n V = 50): bucket4 = sum of all four / 50 = 0.359888, bucket5
     * 0.222373, bucket6 0.130039, bucket7 0.019845; buckets 8, 9, 10 hold only
     * zeros: VPIN exactly 0, kept out of the fit (ln 0 = -inf), CDF 0.
     * Bucket 11: sd of all 13 changes = 0.995438, z = Phi(1 / 0.995438) =
     * 0.842451, VPIN = |2 z - 1| / 5 = 0.136980; the fit holds ln VPIN of
     * buckets 4..7 and 11 only: mu = -2.094598, s = 1.100655, CDF = 0.538607.
     * (A running sum of |sell - buy| that subtracts leaving buckets gave
     * bucket 8 VPIN 5.3e-17, CDF 0.037; ln of it (-37.5) in the fit made
     * bucket 11's CDF 0.661.) */
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.window = 5;
    p.cdf_min = 2;
    vpin_engine *e = open_engine(&p, &cap);
    const double px[14] = {100,  101,  98.5, 99.8, 98.4, 98.2, 98.2,
                           98.2, 98.2, 98.2, 98.2, 98.2, 98.2, 99.2};
    for (int i = 0; i < 14; i++)
        cr_assert_eq(vpin_on_trade(e, "R", (uint64_t)i * SEC, px[i], 10), 0);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 12);
    const double dp[13] = {1, -2.5, 1.3, -1.4, -0.2, 0, 0, 0, 0, 0, 0, 0, 1};
    double imb[4], vpin[12] = {0};
    for (int i = 0; i < 4; i++)
        imb[i] = 10 * fabs(2 * phi(dp[i + 1] / sd_of(dp, i + 2)) - 1);
    cr_assert_float_eq(imb[0], 6.875778, 1e-6);
    cr_assert_float_eq(imb[3], 0.992261, 1e-6);
    for (int j = 4; j <= 7; j++)
        for (int i = j - 4; i <= 3; i++)
            vpin[j] += imb[i] / 50;
    vpin[11] = fabs(2 * phi(1 / sd_of(dp, 13)) - 1) / 5;
    cr_assert_float_eq(vpin[4], 0.359888, 1e-6);
    cr_assert_float_eq(vpin[11], 0.136980, 1e-6);
    for (int j = 4; j <= 11; j++) {
        cr_assert(cap.b[j].vpin_ready, "bucket %d", j);
        cr_assert_float_eq(cap.b[j].vpin, vpin[j], 1e-12, "bucket %d", j);
    }
    for (int j = 8; j <= 10; j++) {
        cr_assert(cap.b[j].vpin == 0.0, "bucket %d: VPIN %.17g, not exactly 0", j, cap.b[j].vpin);
        cr_assert(cap.b[j].cdf_ready && cap.b[j].cdf == 0.0, "bucket %d: cdf %g", j, cap.b[j].cdf);
        cr_assert_eq(cap.b[j].alert, 0);
    }
    double lg[5] = {log(vpin[4]), log(vpin[5]), log(vpin[6]), log(vpin[7]), log(vpin[11])};
    double mu = (lg[0] + lg[1] + lg[2] + lg[3] + lg[4]) / 5, sd = sd_of(lg, 5);
    cr_assert_float_eq(mu, -2.094598, 1e-6);
    cr_assert_float_eq(sd, 1.100655, 1e-6);
    cr_assert(cap.b[11].cdf_ready);
    cr_assert_float_eq(cap.b[11].cdf, phi((lg[4] - mu) / sd), 1e-9);
    cr_assert_float_eq(cap.b[11].cdf, 0.538607, 1e-6);
    free(cap.b);
    vpin_close(e);
}

/* Feeds closes px[0..n) (one trade of 10 per 1 s bar) with S = 2, M = 2,
 * V = 10, n = 1 and checks that every bucket has buy = sell = 5, VPIN 0. */
static void check_equal_changes_give_half(const char *sym, const double *px, int n)
{
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.window = 1;
    p.sigma_bars = 2;
    vpin_engine *e = open_engine(&p, &cap);
    for (int i = 0; i < n; i++)
        cr_assert_eq(vpin_on_trade(e, sym, (uint64_t)i * SEC, px[i], 10), 0);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, (size_t)n - 2, "%s: %zu buckets", sym, cap.n);
    for (size_t j = 0; j < cap.n; j++) {
        cr_assert(cap.b[j].buy_volume == 5.0 && cap.b[j].sell_volume == 5.0,
                  "%s bucket %zu: buy %.17g sell %.17g (z must be 1/2)", sym, j,
                  cap.b[j].buy_volume, cap.b[j].sell_volume);
        cr_assert(cap.b[j].vpin == 0.0, "%s bucket %zu: VPIN %g", sym, j, cap.b[j].vpin);
    }
    free(cap.b);
    vpin_close(e);
}

Test(vpin, equal_price_changes_at_high_prices_have_sigma_zero)
{
    /* Prices 100000.00 rising 0.01 a bar, and 1000000.0000 rising 0.0001: in
     * decimal every change is the same, so sigma = 0 and z = 1/2. In binary
     * the changes differ by round-off of about ulp(100000) = 1.5e-11 (ulp(1e6)
     * = 1.2e-10): sigma ~1e-11 against a mean change of 0.01 (ratio 1e-9), so
     * a floor relative to the mean change let Phi(dP / 1e-11) = 0 or 1 through
     * (VPIN 1, 1, 0, 1). The floor is 16 DBL_EPSILON |close| = 3.6e-10 at
     * 100000 and 3.6e-9 at 1e6. */
    const double btc[6] = {100000.00, 100000.01, 100000.02, 100000.03, 100000.04, 100000.05};
    check_equal_changes_give_half("BTC", btc, 6);
    const double big[10] = {1000000.0000, 1000000.0001, 1000000.0002, 1000000.0003, 1000000.0004,
                            1000000.0005, 1000000.0006, 1000000.0007, 1000000.0008, 1000000.0009};
    check_equal_changes_give_half("BIG", big, 10);
    /* ... while a one-tick difference at that price is a real sigma: closes
     * 100000.00, .01, .02, .04: bar3 changes {0.01, 0.02} (S = 2): sd =
     * 0.01 / sqrt 2, z = Phi(0.02 sqrt 2 / 0.01) = Phi(2 sqrt 2) = 0.997661
     * (table Phi(2.83) = .99767) */
    vpin_params p;
    capture cap = {0};
    small_params(&p);
    p.window = 1;
    p.sigma_bars = 2;
    vpin_engine *e = open_engine(&p, &cap);
    const double px[4] = {100000.00, 100000.01, 100000.02, 100000.04};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(vpin_on_trade(e, "BTC", (uint64_t)i * SEC, px[i], 10), 0);
    vpin_flush(e, UINT64_MAX);
    cr_assert_eq(cap.n, 2);
    cr_assert_float_eq(cap.b[0].buy_volume, 5.0, 0);
    cr_assert_float_eq(cap.b[1].buy_volume, 10 * phi(2 * sqrt(2.0)), 1e-6);
    cr_assert_float_eq(cap.b[1].buy_volume, 9.97661, 1e-5);
    free(cap.b);
    vpin_close(e);
}

/* Kyle's lambda of symbol sym after feeding trades and closing every bar. */
typedef struct side_trade {
    uint64_t ts_ms;
    double px, q;
    int side;
} side_trade;

static int lambda_of(const side_trade *t, int n, double *lambda)
{
    vpin_params p;
    small_params(&p);
    p.bucket_volume = 1e9; /* no buckets needed: lambda is read by vpin_get */
    vpin_engine *e = open_engine(&p, NULL);
    for (int i = 0; i < n; i++)
        cr_assert_eq(vpin_on_trade_side(e, "K", t[i].ts_ms * MS, t[i].px, t[i].q, t[i].side), 0);
    vpin_flush(e, UINT64_MAX);
    vpin_symbol_stats st;
    cr_assert_eq(vpin_get(e, "K", &st), 0);
    vpin_close(e);
    *lambda = st.lambda;
    return !isnan(st.lambda);
}

Test(vpin, kyle_lambda_regresses_price_change_on_aggressor_signed_flow)
{
    /* B = 1 s. Bar0 (ref only): 10.0 buy 10. Bar1: 10.2 buy 30, 10.5 sell 10
     * (an uptick sold: the aggressor side wins over the tick rule) -> q = +20,
     * dP = +0.5. Bar2: 10.4 sell 6, 10.3 sell 4 -> q = -10, dP = -0.2. Bar3:
     * 11.2 buy 40 -> q = +40, dP = +0.9. Bar4: 11.3 buy 5, 11.3 sell 5 ->
     * q = 0, dP = +0.1. Means q 12.5, dP 0.325; deviations q 7.5, -22.5, 27.5,
     * -12.5 and dP 0.175, -0.525, 0.575, -0.225: Sxx = 56.25 + 506.25 +
     * 756.25 + 156.25 = 1475, Sxy = 1.3125 + 11.8125 + 15.8125 + 2.8125 =
     * 31.75: lambda = 31.75 / 1475 = 127 / 5900 = 0.0215254. (Signed by the
     * tick rule instead, bar1 would be +40.) */
    const side_trade t[] = {{0, 10.0, 10, 1},    {1000, 10.2, 30, 1}, {1500, 10.5, 10, -1},
                            {2000, 10.4, 6, -1}, {2500, 10.3, 4, -1}, {3000, 11.2, 40, 1},
                            {4000, 11.3, 5, 1},  {4500, 11.3, 5, -1}};
    double lambda;
    cr_assert(lambda_of(t, 8, &lambda));
    cr_assert_float_eq(lambda, 127.0 / 5900.0, 1e-12);
}

Test(vpin, kyle_lambda_can_be_negative)
{
    /* Buying while the price falls: bar0 ref 20.0; bar1 19.0 buy 10 -> (+10,
     * -1); bar2 20.0 sell 10 -> (-10, +1); bar3 18.5 buy 20 -> (+20, -1.5).
     * Means q 20/3, dP -1/2; deviations q 10/3, -50/3, 40/3 and dP -1/2,
     * 3/2, -1: Sxx = (100 + 2500 + 1600) / 9 = 4200/9, Sxy = (-5 - 75 - 40) /
     * 3 = -40: lambda = -40 * 9 / 4200 = -3/35 = -0.0857143. Under BVC the
     * signed volume has the sign of dP, so such a regression could not be
     * negative. */
    const side_trade t[] = {
        {0, 20.0, 10, 1}, {1000, 19.0, 10, 1}, {2000, 20.0, 10, -1}, {3000, 18.5, 20, 1}};
    double lambda;
    cr_assert(lambda_of(t, 4, &lambda));
    cr_assert_float_eq(lambda, -3.0 / 35.0, 1e-12);
    /* The same trades without sides: the tick rule signs 19.0 -, 20.0 +,
     * 18.5 -: pairs (-10, -1), (+10, +1), (-20, -1.5). Means q -20/3, dP
     * -1/2; deviations q -10/3, 50/3, -40/3 (dP as above): Sxy = (5 + 75 +
     * 40) / 3 = 40, lambda = +3/35. */
    side_trade u[4];
    for (int i = 0; i < 4; i++) {
        u[i] = t[i];
        u[i].side = 0;
    }
    cr_assert(lambda_of(u, 4, &lambda));
    cr_assert_float_eq(lambda, 3.0 / 35.0, 1e-12);
}

/* ---- naive implementation of the spec, for the randomized comparison ---- */

typedef struct ntrade {
    uint64_t ts;
    double px, q;
} ntrade;

/* Sample mean / variance of x[lo..hi) by two passes over x - x[lo] (so
 * identical values give exactly 0). */
static void two_pass(const double *x, int lo, int hi, double *mean, double *var)
{
    double m = 0, s = 0;
    for (int i = lo; i < hi; i++)
        m += x[i] - x[lo];
    m /= hi - lo;
    for (int i = lo; i < hi; i++)
        s += (x[i] - x[lo] - m) * (x[i] - x[lo] - m);
    *mean = x[lo] + m;
    *var = hi - lo > 1 ? s / (hi - lo - 1) : 0;
}

/* Recomputes the buckets of one symbol from its trades; returns the count. */
static int naive_buckets(const ntrade *t, int nt, const vpin_params *p, vpin_bucket *out)
{
    int nb = 0, nbars = 0, ndp = 0, nimb = 0, nlog = 0, nreg = 0;
    double *close = calloc(nt, sizeof(double)), *vol = calloc(nt, sizeof(double));
    double *dps = calloc(nt, sizeof(double)), *imb = calloc(nt * 4 + 8, sizeof(double));
    double *logs = calloc(nt * 4 + 8, sizeof(double)), *rq = calloc(nt, sizeof(double));
    double *rdp = calloc(nt, sizeof(double)), *flow = calloc(nt, sizeof(double));
    uint64_t *bts = calloc(nt, sizeof(uint64_t));
    int tick = 0;                  /* tick rule: sign of the last price change */
    for (int i = 0; i < nt; i++) { /* bars */
        if (i == 0 || t[i].ts / p->bar_ns != t[i - 1].ts / p->bar_ns)
            nbars++;
        if (i > 0 && t[i].px != t[i - 1].px)
            tick = t[i].px > t[i - 1].px ? 1 : -1;
        close[nbars - 1] = t[i].px;
        vol[nbars - 1] += t[i].q;
        flow[nbars - 1] += tick * t[i].q;
        bts[nbars - 1] = t[i].ts;
    }
    double fill = 0, buy = 0, sell = 0;
    for (int k = 1; k < nbars; k++) {
        double dp = close[k] - close[k - 1], mean, var;
        /* Kyle: every bar with a price change, signed flow by the tick rule */
        rq[nreg] = flow[k];
        rdp[nreg++] = dp;
        double lambda = NAN;
        int rlo = nreg > (int)p->lambda_window ? nreg - (int)p->lambda_window : 0;
        if (nreg - rlo >= 2) {
            double mx, vx, my, vy, sxy = 0;
            two_pass(rq, rlo, nreg, &mx, &vx);
            two_pass(rdp, rlo, nreg, &my, &vy);
            for (int i = rlo; i < nreg; i++)
                sxy += (rq[i] - mx) * (rdp[i] - my);
            if (vx > 0)
                lambda = sxy / (vx * (nreg - rlo - 1));
        }
        dps[ndp++] = dp;
        if (ndp < (int)p->min_sigma_bars)
            continue;
        int lo = ndp > (int)p->sigma_bars ? ndp - (int)p->sigma_bars : 0;
        two_pass(dps, lo, ndp, &mean, &var);
        double z =
            sqrt(var) > VPIN_SIGMA_ROUNDOFF * DBL_EPSILON * close[k] ? phi(dp / sqrt(var)) : 0.5;
        double left = vol[k];
        while (left > 0) {
            double piece = fmin(left, p->bucket_volume - fill);
            buy += piece * z;
            sell += piece * (1 - z);
            fill += piece;
            left -= piece;
            if (fill < p->bucket_volume)
                break;
            vpin_bucket *b = &out[nb];
            memset(b, 0, sizeof(*b));
            b->index = nb++;
            b->end_ts_ns = bts[k];
            b->buy_volume = buy;
            b->sell_volume = sell;
            b->lambda = lambda;
            b->lambda_ready = !isnan(lambda);
            imb[nimb++] = fabs(sell - buy);
            fill = buy = sell = 0;
            b->vpin = b->cdf = NAN;
            if (nimb < (int)p->window)
                continue;
            double s = 0;
            for (int i = nimb - (int)p->window; i < nimb; i++)
                s += imb[i];
            b->vpin_ready = 1;
            b->vpin = s / (p->window * p->bucket_volume);
            if (b->vpin > 0)
                logs[nlog++] = log(b->vpin);
            int llo = p->cdf_window && nlog > (int)p->cdf_window ? nlog - (int)p->cdf_window : 0;
            double lm, lv;
            if (nlog - llo >= (int)p->cdf_min) {
                two_pass(logs, llo, nlog, &lm, &lv);
                if (sqrt(lv) > VPIN_LOG_SD_MIN) {
                    b->cdf_ready = 1;
                    b->cdf = b->vpin > 0 ? phi((log(b->vpin) - lm) / sqrt(lv)) : 0;
                    b->alert = b->cdf >= p->alert_threshold;
                }
            }
        }
    }
    free(close), free(vol), free(dps), free(imb), free(logs), free(rq), free(rdp), free(bts);
    free(flow);
    return nb;
}

/* flat: symbols D and E hold their price still for 400 of every 800 trades
 * (dP = 0 bars: z = 1/2 exactly, windows of zero imbalance, VPIN = 0). */
static void compare_random_run(const vpin_params *p, uint64_t seed, int flat)
{
    enum { NSYM = 5 };
    const int ntrades = 12000; /* small and fixed: enough buckets for every window */
    capture cap = {0};
    vpin_engine *e = open_engine(p, &cap);
    ntrade *tr[NSYM];
    int nt[NSYM] = {0};
    double px[NSYM];
    uint64_t state = seed, ts = 1700000000ull * SEC;
    for (int s = 0; s < NSYM; s++) {
        tr[s] = calloc(ntrades, sizeof(ntrade));
        px[s] = 20 + 10 * s;
    }
    for (int i = 0; i < ntrades; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull; /* LCG (Knuth) */
        int s = (int)((state >> 33) % NSYM);
        ts += (state >> 40) % (400 * MS);
        double u = (double)((state >> 11) & 0xFFFFF) / 0x100000; /* [0, 1) */
        /* a drift in the first symbols' prices ties signed volume to dP */
        if (!flat || s < 3 || (i / 400) % 2 == 0)
            px[s] = fmax(1.0, px[s] + 0.05 * (u - 0.5) + (s < 2 ? 0.004 : 0));
        double q = (double)(1 + (state >> 20) % 300);
        cr_assert_eq(vpin_on_trade(e, (char[]){(char)('A' + s), 0}, ts, px[s], q), 0);
        tr[s][nt[s]++] = (ntrade){ts, px[s], q};
    }
    vpin_flush(e, UINT64_MAX);
    size_t seen = 0, zeros = 0;
    for (int s = 0; s < NSYM; s++) {
        vpin_bucket *want = calloc(ntrades * 4 + 8, sizeof(vpin_bucket));
        int nb = naive_buckets(tr[s], nt[s], p, want), j = 0;
        for (size_t i = 0; i < cap.n; i++) {
            const vpin_bucket *got = &cap.b[i];
            if (got->symbol[0] != 'A' + s)
                continue;
            cr_assert(j < nb, "symbol %c: extra bucket %llu", 'A' + s,
                      (unsigned long long)got->index);
            const vpin_bucket *w = &want[j++];
            zeros += w->vpin_ready && w->vpin == 0.0;
            cr_assert_eq(got->index, w->index);
            cr_assert_eq(got->end_ts_ns, w->end_ts_ns, "%c bucket %llu end", 'A' + s,
                         (unsigned long long)w->index);
            cr_assert_float_eq(got->buy_volume, w->buy_volume, 1e-9 * p->bucket_volume);
            cr_assert_float_eq(got->sell_volume, w->sell_volume, 1e-9 * p->bucket_volume);
            cr_assert_eq(got->vpin_ready, w->vpin_ready);
            if (w->vpin_ready)
                cr_assert_float_eq(got->vpin, w->vpin, 1e-9, "%c vpin %llu", 'A' + s,
                                   (unsigned long long)w->index);
            if (w->vpin_ready && w->vpin == 0.0)
                cr_assert(got->vpin == 0.0, "%c vpin %llu: %.17g, not exactly 0", 'A' + s,
                          (unsigned long long)w->index, got->vpin);
            cr_assert_eq(got->cdf_ready, w->cdf_ready, "%c cdf_ready %llu", 'A' + s,
                         (unsigned long long)w->index);
            if (w->cdf_ready) {
                cr_assert_float_eq(got->cdf, w->cdf, 1e-7, "%c cdf %llu", 'A' + s,
                                   (unsigned long long)w->index);
                if (fabs(w->cdf - p->alert_threshold) > 1e-7)
                    cr_assert_eq(got->alert, w->alert);
            }
            cr_assert_eq(got->lambda_ready, w->lambda_ready);
            if (w->lambda_ready)
                cr_assert(fabs(got->lambda - w->lambda) <= 1e-7 * fabs(w->lambda) + 1e-15,
                          "%c lambda %llu: %g vs %g", 'A' + s, (unsigned long long)w->index,
                          got->lambda, w->lambda);
        }
        cr_assert_eq(j, nb, "symbol %c: %d buckets, want %d", 'A' + s, j, nb);
        seen += (size_t)nb;
        free(want);
        free(tr[s]);
    }
    cr_assert_eq(seen, cap.n);
    cr_assert(seen > 200, "too few buckets (%zu) to exercise the windows", seen);
    cr_assert(!flat || zeros > 20, "only %zu zero VPINs", zeros);
    free(cap.b);
    vpin_close(e);
}

Test(vpin, random_symbols_match_naive_spec_all_history_cdf)
{
    vpin_params p;
    vpin_default_params(&p);
    p.bar_ns = 2 * SEC;
    p.bucket_volume = 1500;
    p.window = 6;
    p.sigma_bars = 25;
    p.min_sigma_bars = 5;
    p.cdf_min = 4;
    p.lambda_window = 12;
    compare_random_run(&p, 41, 0);
}

Test(vpin, random_symbols_match_naive_spec_windowed_cdf)
{
    vpin_params p;
    vpin_default_params(&p);
    p.bar_ns = 3 * SEC;
    p.bucket_volume = 700;
    p.window = 4;
    p.sigma_bars = 40;
    p.min_sigma_bars = 3;
    p.cdf_window = 15;
    p.cdf_min = 6;
    p.alert_threshold = 0.8;
    p.lambda_window = 7;
    compare_random_run(&p, 42, 0);
}

Test(vpin, random_symbols_with_flat_stretches_match_naive_spec)
{
    /* Windows of buckets with no imbalance at all: VPIN must be exactly 0
     * (the naive sum over the window is), kept out of the lognormal fit, and
     * the CDFs that follow must match a fit over the positive VPINs only. */
    vpin_params p;
    vpin_default_params(&p);
    p.bar_ns = 2 * SEC;
    p.bucket_volume = 600;
    p.window = 8;
    p.sigma_bars = 30;
    p.min_sigma_bars = 4;
    p.cdf_min = 4;
    p.lambda_window = 10;
    compare_random_run(&p, 43, 1);
}
