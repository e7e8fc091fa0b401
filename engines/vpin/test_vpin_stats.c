/* Tests of the VPIN numerical pieces: normal CDF against table values, rolling
 * variance / sum / OLS against hand calculations and two-pass recomputation;
 * the rolling sum of a window of zeros is exactly 0. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "vpin_stats.h"

static uint64_t rng_state;

static double uniform(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double scale(void)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    return f > 0 ? f : 1.0;
}

Test(phi, standard_normal_table_values)
{
    /* Standard normal table (4 dp): Phi(0) = .5000, Phi(1) = .8413,
     * Phi(1.96) = .9750, Phi(-1.645) = .0500, Phi(2.33) = .9901; Phi(3) = .99865 (5 dp) */
    cr_assert_float_eq(vpin_phi(0.0), 0.5, 1e-15);
    cr_assert_float_eq(vpin_phi(1.0), 0.8413, 5e-5);
    cr_assert_float_eq(vpin_phi(1.96), 0.9750, 5e-5);
    cr_assert_float_eq(vpin_phi(-1.645), 0.0500, 5e-5);
    cr_assert_float_eq(vpin_phi(2.33), 0.9901, 5e-5);
    cr_assert_float_eq(vpin_phi(3.0), 0.99865, 5e-6);
    /* far tail keeps relative precision (erfc, not 1 - erf): upper tail
     * probability Q(10) = 7.6198530e-24 */
    cr_assert(fabs(vpin_phi(-10.0) / 7.6198530e-24 - 1.0) < 1e-7, "%g", vpin_phi(-10.0));
    for (double x = -6; x <= 6; x += 0.37)
        cr_assert_float_eq(vpin_phi(x) + vpin_phi(-x), 1.0, 1e-15);
}

Test(rollvar, hand_example)
{
    /* w = 3 over 1, 2, 3: mean 2, sample variance (1 + 0 + 1) / 2 = 1;
     * push 4 -> {2, 3, 4}: mean 3, variance 1; push 10 -> {3, 4, 10}:
     * mean 17/3, deviations -8/3, -5/3, 13/3: (64 + 25 + 169) / 9 / 2 = 258/18 */
    double buf[3];
    vpin_rollvar v;
    vpin_rollvar_init(&v, buf, 3);
    vpin_rollvar_push(&v, 1);
    cr_assert_float_eq(vpin_rollvar_var(&v), 0.0, 0); /* one value: no variance */
    vpin_rollvar_push(&v, 2);
    vpin_rollvar_push(&v, 3);
    cr_assert_float_eq(vpin_rollvar_mean(&v), 2.0, 1e-15);
    cr_assert_float_eq(vpin_rollvar_var(&v), 1.0, 1e-15);
    vpin_rollvar_push(&v, 4);
    cr_assert_eq(vpin_rollvar_count(&v), 3);
    cr_assert_float_eq(vpin_rollvar_mean(&v), 3.0, 1e-15);
    cr_assert_float_eq(vpin_rollvar_var(&v), 1.0, 1e-14);
    vpin_rollvar_push(&v, 10);
    cr_assert_float_eq(vpin_rollvar_var(&v), 258.0 / 18.0, 1e-13);
}

/* Windowed and unbounded variance of a series far from 0 with tiny spread,
 * across many window wraps, against two-pass recomputation. */
Test(rollvar, matches_two_pass_recomputation)
{
    enum { W = 50 };
    int len = (int)(20000 * scale());
    double *x = malloc(sizeof(double) * len), buf[W];
    cr_assert(x != NULL);
    rng_state = 31;
    for (int i = 0; i < len; i++)
        x[i] = 1e3 + (uniform() - 0.5) + (i % 1000) * 1e-3;
    vpin_rollvar win, all;
    vpin_rollvar_init(&win, buf, W);
    vpin_rollvar_init(&all, NULL, 0);
    double total = 0;
    for (int k = 0; k < len; k++) {
        vpin_rollvar_push(&win, x[k]);
        vpin_rollvar_push(&all, x[k]);
        total += x[k];
        if (k < 1)
            continue;
        int lo = k + 1 >= W ? k + 1 - W : 0, n = k + 1 - lo;
        double m = 0, s = 0;
        for (int i = lo; i <= k; i++)
            m += x[i];
        m /= n;
        for (int i = lo; i <= k; i++)
            s += (x[i] - m) * (x[i] - m);
        double var = s / (n - 1);
        cr_assert(fabs(vpin_rollvar_var(&win) - var) <= 1e-9 * var, "k=%d: %.17g vs %.17g", k,
                  vpin_rollvar_var(&win), var);
        if (k % 997 == 0 || k == len - 1) {
            double ma = total / (k + 1), sa = 0;
            for (int i = 0; i <= k; i++)
                sa += (x[i] - ma) * (x[i] - ma);
            double va = sa / k;
            cr_assert(fabs(vpin_rollvar_var(&all) - va) <= 1e-9 * va, "all k=%d", k);
            cr_assert(fabs(vpin_rollvar_mean(&all) - ma) <= 1e-9, "mean k=%d", k);
        }
    }
    free(x);
}

Test(rollsum, matches_naive)
{
    enum { W = 7, LEN = 1000 };
    double x[LEN], buf[2 * W];
    vpin_rollsum s;
    vpin_rollsum_init(&s, buf, W);
    rng_state = 32;
    for (int k = 0; k < LEN; k++) {
        x[k] = uniform() * 100;
        vpin_rollsum_push(&s, x[k]);
        cr_assert_eq(vpin_rollsum_full(&s), k >= W - 1);
        double want = 0;
        for (int i = (k >= W - 1 ? k - W + 1 : 0); i <= k; i++)
            want += x[i];
        /* non-negative terms: the tree (depth <= 4 for w = 7) is within 4 eps
         * of the true sum, the sequential sum within 6 eps */
        cr_assert(fabs(vpin_rollsum_value(&s) - want) <= 10 * DBL_EPSILON * want, "k=%d", k);
    }
}

Test(rollsum, window_of_zeros_sums_to_exactly_zero)
{
    /* w = 5: 0.1, 0.2, 0.3, then zeros. After the 8th push the window is
     * {0, 0, 0, 0, 0}: the sum must be exactly 0. A running sum that adds and
     * subtracts gets 0.1 + 0.2 + 0.3 = 0.6000000000000001 in binary, and
     * removing 0.1, 0.2, 0.3 from it leaves 1.1102230246251565e-16. */
    double buf[10];
    vpin_rollsum s;
    vpin_rollsum_init(&s, buf, 5);
    const double x[10] = {0.1, 0.2, 0.3, 0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 10; k++) {
        vpin_rollsum_push(&s, x[k]);
        if (k >= 7)
            cr_assert(vpin_rollsum_value(&s) == 0.0, "push %d: %.17g", k + 1,
                      vpin_rollsum_value(&s));
    }
    /* w = 1: the value itself; w = 3 (not a power of two): 1 + 2 + 4 = 7 */
    vpin_rollsum_init(&s, buf, 1);
    vpin_rollsum_push(&s, 2.5);
    cr_assert(vpin_rollsum_full(&s) && vpin_rollsum_value(&s) == 2.5);
    vpin_rollsum_push(&s, 0);
    cr_assert(vpin_rollsum_value(&s) == 0.0);
    vpin_rollsum_init(&s, buf, 3);
    vpin_rollsum_push(&s, 1);
    vpin_rollsum_push(&s, 2);
    cr_assert(!vpin_rollsum_full(&s) && vpin_rollsum_value(&s) == 3.0);
    vpin_rollsum_push(&s, 4);
    cr_assert(vpin_rollsum_full(&s) && vpin_rollsum_value(&s) == 7.0);
    vpin_rollsum_push(&s, 8); /* {2, 4, 8} */
    cr_assert(vpin_rollsum_value(&s) == 14.0);
}

Test(rollreg, hand_example)
{
    /* (1,2), (2,4), (3,6.5): mx = 2, my = 12.5/3; Sxx = 1 + 0 + 1 = 2;
     * Sxy = (-1)(2 - 12.5/3) + (1)(6.5 - 12.5/3) = 6.5 - 2 = 4.5 -> slope 2.25.
     * w = 3, push (4, 7): {(2,4), (3,6.5), (4,7)}: mx = 3, Sxx = 2,
     * Sxy = (-1)(4 - my) + (1)(7 - my) = 3 -> slope 1.5 */
    double buf[6], b = 0;
    vpin_rollreg r;
    vpin_rollreg_init(&r, buf, 3);
    vpin_rollreg_push(&r, 1, 2);
    cr_assert_eq(vpin_rollreg_slope(&r, &b), 0);
    vpin_rollreg_push(&r, 2, 4);
    vpin_rollreg_push(&r, 3, 6.5);
    cr_assert_eq(vpin_rollreg_slope(&r, &b), 1);
    cr_assert_float_eq(b, 2.25, 1e-14);
    vpin_rollreg_push(&r, 4, 7);
    cr_assert_eq(vpin_rollreg_count(&r), 3);
    cr_assert_eq(vpin_rollreg_slope(&r, &b), 1);
    cr_assert_float_eq(b, 1.5, 1e-14);
    /* constant x: Sxx = 0, no slope */
    vpin_rollreg_init(&r, buf, 3);
    vpin_rollreg_push(&r, 5, 1);
    vpin_rollreg_push(&r, 5, 2);
    cr_assert_eq(vpin_rollreg_slope(&r, &b), 0);
}

Test(rollreg, matches_two_pass_ols)
{
    enum { W = 40 };
    int len = (int)(5000 * scale());
    double *x = malloc(sizeof(double) * len), *y = malloc(sizeof(double) * len), buf[2 * W];
    cr_assert(x && y);
    rng_state = 33;
    vpin_rollreg r;
    vpin_rollreg_init(&r, buf, W);
    for (int k = 0; k < len; k++) {
        x[k] = (uniform() - 0.5) * 1e4;
        y[k] = 3e-5 * x[k] + (uniform() - 0.5) * 0.1 + 100;
        vpin_rollreg_push(&r, x[k], y[k]);
        if (k < 1)
            continue;
        int lo = k + 1 >= W ? k + 1 - W : 0, n = k + 1 - lo;
        double mx = 0, my = 0, sxx = 0, sxy = 0;
        for (int i = lo; i <= k; i++)
            mx += x[i], my += y[i];
        mx /= n, my /= n;
        for (int i = lo; i <= k; i++) {
            sxx += (x[i] - mx) * (x[i] - mx);
            sxy += (x[i] - mx) * (y[i] - my);
        }
        double b;
        cr_assert_eq(vpin_rollreg_slope(&r, &b), 1);
        cr_assert(fabs(b - sxy / sxx) <= 1e-9 * fabs(sxy / sxx) + 1e-12, "k=%d: %.17g vs %.17g", k,
                  b, sxy / sxx);
    }
    free(x);
    free(y);
}
