/* Tests for md_synth: determinism per seed, Poisson trade counts, Pareto sizes,
 * the episode schedule, one-sided flow and drift in episodes, quote sanity,
 * the diffusion's annualised variance, and parameter checking. Statistical
 * bounds are 5 standard deviations of the quantity under the documented model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md_synth.h"
#include "mesh_error.h"

#define S      1000000000ull
#define YEAR_S (252.0 * 6.5 * 3600.0)

/* Workload multiplier from MESH_TEST_SCALE (sanitizer builds use 0.1). */
static double scale(void)
{
    const char *e = getenv("MESH_TEST_SCALE");
    double x = e ? atof(e) : 1.0;
    return x > 0 ? x : 1.0;
}

static md_synth *open_or_fail(const md_synth_params *p)
{
    md_synth *s = NULL;
    char why[128];
    cr_assert_eq(md_synth_params_check(p, why, sizeof why), 0, "%s", why);
    cr_assert_eq(md_synth_open(&s, p), 0);
    return s;
}

static void next_ok(md_synth *s, md_event *ev)
{
    cr_assert_eq(md_synth_next(s, ev), 1);
}

static uint64_t ev_ts(const md_event *ev)
{
    return ev->kind == MD_EVENT_TRADE ? ev->trade.ts_ns : ev->quote.ts_ns;
}

static bool same_event(const md_event *a, const md_event *b)
{
    if (a->kind != b->kind || a->symbol_index != b->symbol_index)
        return false;
    if (a->kind == MD_EVENT_TRADE)
        return a->trade.ts_ns == b->trade.ts_ns && !strcmp(a->trade.symbol, b->trade.symbol) &&
               a->trade.price == b->trade.price && a->trade.size == b->trade.size &&
               a->trade.aggressor == b->trade.aggressor;
    return a->quote.ts_ns == b->quote.ts_ns && !strcmp(a->quote.symbol, b->quote.symbol) &&
           a->quote.bid == b->quote.bid && a->quote.ask == b->quote.ask &&
           a->quote.bid_size == b->quote.bid_size && a->quote.ask_size == b->quote.ask_size;
}

Test(md_synth, same_seed_same_stream_different_seed_different)
{
    md_synth_params p;
    md_synth_default_params(&p);
    p.seed = 42;
    md_synth *a = open_or_fail(&p), *b = open_or_fail(&p);
    p.seed = 43;
    md_synth *c = open_or_fail(&p);
    md_event ea, eb, ec;
    int n = (int)(200000 * scale()), differ = 0;
    for (int i = 0; i < n; i++) {
        next_ok(a, &ea);
        next_ok(b, &eb);
        next_ok(c, &ec);
        cr_assert(same_event(&ea, &eb), "seed 42 streams differ at event %d", i);
        differ += !same_event(&ea, &ec);
    }
    /* Two independent continuous-time streams share an event (same ns, symbol,
     * kind, price, size) with negligible probability. */
    cr_assert_geq(differ, n - 10, "seeds 42 and 43 agree on %d of %d events", n - differ, n);
    md_synth_close(a);
    md_synth_close(b);
    md_synth_close(c);
}

/* Trades in [start, start + T) ~ Poisson(rate * T): mean = variance = rate * T.
 * Each symbol's count ~ Poisson(rate * T / n). The quote count likewise. And
 * the counts in m windows of 0.1 s have sample variance ~ mu (index of
 * dispersion 1), with sd(s^2) ~ sqrt((mu + 2 mu^2) / m) for Poisson(mu). */
Test(md_synth, trade_count_matches_poisson_rate, .timeout = 120)
{
    md_synth_params p;
    md_synth_default_params(&p);
    p.seed = 7;
    p.trade_rate_hz = 2000;
    p.quote_rate_hz = 1000;
    double T = 300 * scale(); /* simulated seconds */
    uint64_t end = p.start_ts_ns + (uint64_t)(T * S);
    int m = (int)(T * 10);
    uint64_t *win = calloc((size_t)m, sizeof *win);
    uint64_t trades = 0, quotes = 0, per_sym[8] = {0}, last = p.start_ts_ns;
    md_synth *s = open_or_fail(&p);
    md_event ev;
    for (;;) {
        next_ok(s, &ev);
        uint64_t ts = ev_ts(&ev);
        cr_assert_geq(ts, last, "timestamps go backwards");
        last = ts;
        if (ts >= end)
            break;
        if (ev.kind == MD_EVENT_TRADE) {
            trades++;
            per_sym[ev.symbol_index]++;
            win[(ts - p.start_ts_ns) / (S / 10)]++;
        } else {
            quotes++;
        }
    }
    double mu = p.trade_rate_hz * T;
    cr_assert_leq(fabs((double)trades - mu), 5 * sqrt(mu), "%llu trades, expected %.0f",
                  (unsigned long long)trades, mu);
    double muq = p.quote_rate_hz * T;
    cr_assert_leq(fabs((double)quotes - muq), 5 * sqrt(muq));
    for (int i = 0; i < 8; i++)
        cr_assert_leq(fabs((double)per_sym[i] - mu / 8), 5 * sqrt(mu / 8), "symbol %d", i);
    double mw = p.trade_rate_hz / 10, sum = 0, sq = 0;
    for (int i = 0; i < m; i++)
        sum += (double)win[i];
    for (int i = 0; i < m; i++)
        sq += ((double)win[i] - sum / m) * ((double)win[i] - sum / m);
    double var = sq / (m - 1);
    cr_assert_leq(fabs(var - mw), 5 * sqrt((mw + 2 * mw * mw) / m), "window variance %.1f", var);
    free(win);
    md_synth_close(s);
}

/* Sizes: integers in [size_min, size_max]; P(size >= s) = (size_min / s)^alpha
 * for integer s, so P(size >= 400) = (100 / 400)^1.5 = 0.125 and
 * P(size >= 10000) = (1/100)^1.5 = 0.001. Binomial 5-sigma bounds. */
Test(md_synth, sizes_are_positive_integers_with_pareto_tail)
{
    md_synth_params p;
    md_synth_default_params(&p);
    p.seed = 11;
    md_synth *s = open_or_fail(&p);
    md_event ev;
    int n = (int)(400000 * scale()), ge400 = 0, ge10k = 0;
    for (int i = 0; i < n;) {
        next_ok(s, &ev);
        if (ev.kind != MD_EVENT_TRADE)
            continue;
        double z = ev.trade.size;
        cr_assert(z >= 100 && z <= 1e6 && z == floor(z), "size %g", z);
        cr_assert(ev.trade.price > 0);
        cr_assert(ev.trade.aggressor == 1 || ev.trade.aggressor == -1);
        ge400 += z >= 400;
        ge10k += z >= 10000;
        i++;
    }
    double p1 = 0.125, p2 = 0.001;
    cr_assert_leq(fabs(ge400 - n * p1), 5 * sqrt(n * p1 * (1 - p1)), "%d >= 400 of %d", ge400, n);
    cr_assert_leq(fabs(ge10k - n * p2), 5 * sqrt(n * p2 * (1 - p2)), "%d >= 1e4 of %d", ge10k, n);
    md_synth_close(s);
}

/* Episode schedule worked by hand: first 10 s, len 20 s, period 60 s, stagger
 * 5 s, so symbol 2 starts at 20 s: active in [20, 40), [80, 100), ... */
static void short_episodes(md_synth_params *p)
{
    md_synth_default_params(p);
    p->episode = (md_synth_episode){.first_ns = 10 * S, .len_ns = 20 * S, .period_ns = 60 * S};
    p->episode_stagger_ns = 5 * S;
}

Test(md_synth, episode_schedule)
{
    md_synth_params p;
    short_episodes(&p);
    md_synth *s = open_or_fail(&p);
    uint64_t t0 = p.start_ts_ns;
    cr_assert_eq(md_synth_in_episode(s, 2, t0 + 20 * S - 1), 0);
    int d = md_synth_in_episode(s, 2, t0 + 20 * S);
    cr_assert(d == 1 || d == -1);
    cr_assert_eq(md_synth_in_episode(s, 2, t0 + 40 * S - 1), d, "same episode, same side");
    cr_assert_eq(md_synth_in_episode(s, 2, t0 + 40 * S), 0);
    cr_assert_eq(md_synth_in_episode(s, 2, t0 + 80 * S - 1), 0);
    cr_assert_neq(md_synth_in_episode(s, 2, t0 + 80 * S), 0);
    cr_assert_eq(md_synth_in_episode(s, 0, t0 + 10 * S), md_synth_in_episode(s, 0, t0 + 29 * S));
    cr_assert_eq(md_synth_in_episode(s, 0, t0 + 30 * S), 0);
    cr_assert_eq(md_synth_in_episode(s, 8, t0 + 20 * S), 0, "no symbol 8");
    cr_assert_eq(md_synth_in_episode(s, 2, t0 - 1), 0, "before the start");
    /* Both directions occur: 8 symbols x 200 episodes all one side has
     * probability 2^-1599. */
    int buys = 0, sells = 0;
    for (uint32_t i = 0; i < 8; i++)
        for (uint64_t k = 0; k < 200; k++) {
            int e = md_synth_in_episode(s, i, t0 + (10 + 5 * i + 60 * k) * S);
            buys += e == 1;
            sells += e == -1;
        }
    cr_assert_eq(buys + sells, 1600);
    cr_assert_gt(buys, 0);
    cr_assert_gt(sells, 0);
    md_synth_close(s);
    /* Per-symbol schedules override the default one. */
    md_synth_episode eps[2] = {{.first_ns = 0, .len_ns = S, .period_ns = 0}, {0}};
    p.n_symbols = 2;
    p.episodes = eps;
    s = open_or_fail(&p);
    cr_assert_neq(md_synth_in_episode(s, 0, t0), 0);
    cr_assert_eq(md_synth_in_episode(s, 0, t0 + S), 0);
    cr_assert_eq(md_synth_in_episode(s, 0, t0 + 61 * S), 0, "period 0: a single episode");
    cr_assert_eq(md_synth_in_episode(s, 1, t0 + 20 * S), 0, "len 0: no episodes");
    md_synth_close(s);
}

typedef struct ep_track {
    double first_px, last_px;
    uint64_t id; /* episode start + 1, 0 = none */
    int dir;
} ep_track;

/* Calm: P(buy) = 1/2. Episodes: P(aggressor == direction) = informed_fraction
 * = 0.88. Binomial 5-sigma bounds. Drift: over an episode the log price moves
 * d * episode_move = d * 0.005 on average; the per-episode noise is at most
 * sqrt(v * 20 s / YEAR_S) with v well under 0.2 (sd 8.2e-4) plus two half
 * spreads (~1e-4 each), so the mean over >= 60 episodes lies within
 * 0.005 +- 5 * 1e-3 / sqrt(60) = 0.005 +- 6.5e-4. */
Test(md_synth, episodes_make_flow_one_sided_and_drift, .timeout = 120)
{
    md_synth_params p;
    short_episodes(&p);
    p.seed = 5;
    p.quote_rate_hz = 100;
    double T = 600; /* not scaled: 9 complete episodes per symbol, 72 in all */
    uint64_t end = p.start_ts_ns + (uint64_t)(T * S);
    uint64_t calm = 0, calm_buy = 0, inf = 0, inf_with = 0;
    ep_track tr[8] = {{0}};
    double drift_sum = 0;
    int episodes = 0;
    md_synth *s = open_or_fail(&p);
    md_event ev;
    for (;;) {
        next_ok(s, &ev);
        if (ev_ts(&ev) >= end)
            break;
        if (ev.kind != MD_EVENT_TRADE)
            continue;
        uint32_t i = ev.symbol_index;
        uint64_t rel = ev.trade.ts_ns - p.start_ts_ns, first = (10 + 5 * i) * S;
        int d = md_synth_in_episode(s, i, ev.trade.ts_ns);
        if (!d) {
            calm++;
            calm_buy += ev.trade.aggressor == 1;
            continue;
        }
        inf++;
        inf_with += ev.trade.aggressor == d;
        uint64_t id = (rel - first) / (60 * S) + 1;
        if (tr[i].id != id) {
            if (tr[i].id) {
                drift_sum += tr[i].dir * log(tr[i].last_px / tr[i].first_px);
                episodes++;
            }
            tr[i] = (ep_track){ev.trade.price, ev.trade.price, id, d};
        }
        tr[i].last_px = ev.trade.price;
    }
    md_synth_close(s);
    cr_assert_leq(fabs((double)calm_buy - calm * 0.5), 5 * sqrt(calm * 0.25), "calm buys %llu/%llu",
                  (unsigned long long)calm_buy, (unsigned long long)calm);
    double q = p.informed_fraction;
    cr_assert_leq(fabs((double)inf_with - inf * q), 5 * sqrt(inf * q * (1 - q)),
                  "informed-side trades %llu/%llu", (unsigned long long)inf_with,
                  (unsigned long long)inf);
    cr_assert_geq(episodes, 60, "only %d complete episodes", episodes);
    double mean = drift_sum / episodes;
    cr_assert_leq(fabs(mean - p.episode_move), 5 * 1e-3 / sqrt(episodes), "mean drift %g", mean);
}

/* Quotes: on the tick grid, tick <= bid < ask, sizes positive round lots. */
Test(md_synth, quotes_have_bid_below_ask)
{
    md_synth_params p;
    md_synth_default_params(&p);
    p.seed = 3;
    p.initial_price = 0.02; /* two ticks: exercises the lower clamp */
    p.n_symbols = 3;
    md_synth *s = open_or_fail(&p);
    md_event ev;
    int n = (int)(200000 * scale());
    for (int k = 0; k < n;) {
        next_ok(s, &ev);
        if (ev.kind != MD_EVENT_QUOTE)
            continue;
        const md_quote *q = &ev.quote;
        cr_assert_lt(q->bid, q->ask, "quote %d: bid %.17g ask %.17g", k, q->bid, q->ask);
        cr_assert_geq(q->bid, p.tick * (1 - 1e-12));
        cr_assert_leq(fabs(q->bid / p.tick - round(q->bid / p.tick)), 1e-6);
        cr_assert_leq(fabs(q->ask / p.tick - round(q->ask / p.tick)), 1e-6);
        cr_assert(q->bid_size >= 100 && fmod(q->bid_size, 100) == 0);
        cr_assert(q->ask_size >= 100 && fmod(q->ask_size, 100) == 0);
        cr_assert_str_eq(q->symbol, md_synth_symbol(s, ev.symbol_index));
        k++;
    }
    cr_assert_str_eq(md_synth_symbol(s, 0), "SYM00");
    cr_assert_null(md_synth_symbol(s, 3));
    md_synth_close(s);
}

/* With xi = 0 the variance stays theta and log mid increments are N(-theta dt/2,
 * theta dt), dt in years. Quadratic variation: sum of r^2 over [0, T] has mean
 * theta * T_y (T_y = T / YEAR_S, per symbol) and, with exponential gaps,
 * sd = 2 theta T_y / sqrt(m) for m increments. A near-zero tick and spread make
 * the quote mid equal to the model mid to ~1e-11. */
Test(md_synth, diffusion_variance_is_annualised_theta)
{
    md_synth_params p;
    md_synth_default_params(&p);
    const char *names[] = {"AA", "BB"};
    p.seed = 9;
    p.n_symbols = 2;
    p.symbols = names;
    p.xi = 0;
    p.theta = p.v0 = 0.09; /* 30% vol */
    p.tick = 1e-9;
    p.spread_bps = 0;
    p.initial_price = 100;
    p.episode.len_ns = 0;
    p.trade_rate_hz = 10;
    p.quote_rate_hz = 2000;
    double T = 200 * scale();
    uint64_t end = p.start_ts_ns + (uint64_t)(T * S);
    double last[2] = {log(100), log(100)}, qv = 0;
    long m = 0;
    md_synth *s = open_or_fail(&p);
    cr_assert_str_eq(md_synth_symbol(s, 1), "BB");
    md_event ev;
    for (;;) {
        next_ok(s, &ev);
        if (ev_ts(&ev) >= end)
            break;
        if (ev.kind != MD_EVENT_QUOTE)
            continue;
        double x = log(0.5 * (ev.quote.bid + ev.quote.ask));
        qv += (x - last[ev.symbol_index]) * (x - last[ev.symbol_index]);
        last[ev.symbol_index] = x;
        m++;
    }
    md_synth_close(s);
    double expect = p.theta * (T / YEAR_S) * 2; /* two symbols */
    cr_assert_leq(fabs(qv - expect), 5 * 2 * expect / sqrt((double)m), "qv %g expected %g (m %ld)",
                  qv, expect, m);
}

static void expect_invalid(md_synth_params *p, const char *field)
{
    char why[128];
    md_synth *s = (md_synth *)1;
    cr_assert_eq(md_synth_params_check(p, why, sizeof why), MESH_EINVAL, "%s accepted", field);
    cr_assert_eq(strncmp(why, field, strlen(field)), 0, "'%s' does not name %s", why, field);
    cr_assert_eq(md_synth_open(&s, p), MESH_EINVAL);
    cr_assert_null(s);
    md_synth_default_params(p);
}

Test(md_synth, bad_params_name_the_field)
{
    md_synth_params p;
    const char *bad_names[] = {"OK", "WAY_TOO_LONG_NAME"};
    md_synth_default_params(&p);
    p.n_symbols = 0;
    expect_invalid(&p, "n_symbols");
    p.n_symbols = 2;
    p.symbols = bad_names;
    expect_invalid(&p, "symbols");
    p.trade_rate_hz = 0;
    expect_invalid(&p, "trade_rate_hz");
    p.quote_rate_hz = NAN;
    expect_invalid(&p, "quote_rate_hz");
    p.rho = 1.5;
    expect_invalid(&p, "rho");
    p.theta = 0;
    expect_invalid(&p, "theta");
    p.size_min = 1.5;
    expect_invalid(&p, "size_min");
    p.size_max = 50;
    expect_invalid(&p, "size_max");
    p.informed_fraction = 0.3;
    expect_invalid(&p, "informed_fraction");
    p.tick = -1;
    expect_invalid(&p, "tick");
    p.episode.period_ns = p.episode.len_ns - 1;
    expect_invalid(&p, "episode");
    md_synth_close(NULL);
}
