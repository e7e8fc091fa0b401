/* The synthetic market generator: Poisson arrivals, Heston mid prices, Pareto
 * sizes and informed-trading episodes (the model is described in md_synth.h). */
#include "md_synth.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md_ser.h"
#include "mesh_error.h"

#define MD_YEAR_S        (252.0 * 6.5 * 3600.0) /* trading seconds per year */
#define MD_DEFAULT_START 1704205800000000000ull /* 2024-01-02T14:30:00Z */
#define MD_NS_PER_S      1e9
#define MD_MINUTE_NS     (60ull * 1000000000ull)

/* Per-symbol state. */
typedef struct md_sym {
    double x;         /* log mid */
    double v;         /* variance, annualised (may go below 0: full truncation) */
    uint64_t last_ns; /* time the state was last advanced */
    md_synth_episode ep;
    char name[16];
} md_sym;

struct md_synth {
    uint64_t rng[4];   /* xoshiro256** state */
    uint64_t now_ns;   /* timestamp of the last event */
    double frac_ns;    /* fractional ns carried between inter-arrival times */
    double total_rate; /* trades + quotes per ns */
    double p_trade;    /* probability that an event is a trade */
    double sqrt_1mr2;  /* sqrt(1 - rho^2) */
    double inv_alpha;  /* 1 / size_alpha */
    md_synth_params p; /* copy; symbols and episodes point into syms */
    md_sym *syms;
    uint64_t fingerprint; /* of every parameter but start_ts_ns (snapshots) */
};

#define MD_SYNTH_TAG     MD_TAG('M', 'D', 'S', 'Y')
#define MD_SYNTH_VERSION 1u

/* splitmix64 (Steele, Lea, Flood 2014): seeds xoshiro and hashes episode ids. */
static uint64_t md_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t md_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna 2018). */
static inline uint64_t md_rand(md_synth *s)
{
    uint64_t *st = s->rng;
    uint64_t r = md_rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = md_rotl(st[3], 45);
    return r;
}

/* Uniform on (0, 1]: never 0, so log() is finite. */
static inline double md_unif_open0(md_synth *s)
{
    return (double)((md_rand(s) >> 11) + 1) * 0x1.0p-53;
}

/* Uniform on [0, 1). */
static inline double md_unif(md_synth *s)
{
    return (double)(md_rand(s) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) by Lemire's multiply-shift (bias < n / 2^64). */
static inline uint32_t md_below(md_synth *s, uint32_t n)
{
    return (uint32_t)(((unsigned __int128)md_rand(s) * n) >> 64);
}

/* Two independent standard normals (Box-Muller). */
static inline void md_normal2(md_synth *s, double *z1, double *z2)
{
    double r = sqrt(-2.0 * log(md_unif_open0(s)));
    double a = 2.0 * M_PI * md_unif(s);
    *z1 = r * cos(a);
    *z2 = r * sin(a);
}

void md_synth_default_params(md_synth_params *p)
{
    *p = (md_synth_params){
        .seed = 1,
        .start_ts_ns = MD_DEFAULT_START,
        .n_symbols = 8,
        .symbols = NULL,
        .trade_rate_hz = 2000.0,
        .quote_rate_hz = 4000.0,
        .initial_price = 0.0,
        .tick = 0.01,
        .theta = 0.04,
        .kappa = 2520.0,
        .xi = 8.0,
        .rho = -0.5,
        .v0 = 0.04,
        .spread_bps = 2.0,
        .size_min = 100.0,
        .size_alpha = 1.5,
        .size_max = 1e6,
        .episode = {.first_ns = 10 * MD_MINUTE_NS,
                    .len_ns = 5 * MD_MINUTE_NS,
                    .period_ns = 30 * MD_MINUTE_NS},
        .episode_stagger_ns = 3 * MD_MINUTE_NS,
        .episodes = NULL,
        .informed_fraction = 0.88,
        .episode_move = 0.005,
    };
}

/* Formats "field: reason" into why and returns MESH_EINVAL. */
static int md_bad(char *why, size_t why_len, const char *field, const char *reason)
{
    if (why && why_len > 0)
        snprintf(why, why_len, "%s: %s", field, reason);
    return MESH_EINVAL;
}

static bool md_is_int(double x)
{
    return isfinite(x) && x == floor(x);
}

/* Checks one episode schedule; field names the schedule in messages. */
static int md_check_episode(const md_synth_episode *e, const char *field, char *why, size_t n)
{
    if (e->len_ns > 0 && e->period_ns > 0 && e->period_ns < e->len_ns)
        return md_bad(why, n, field, "period_ns must be 0 or >= len_ns");
    return 0;
}

/* Checks the names, if given: 1..15 printable non-space ASCII bytes, no comma. */
static int md_check_symbols(const md_synth_params *p, char *why, size_t n)
{
    if (!p->symbols)
        return 0;
    for (uint32_t i = 0; i < p->n_symbols; i++) {
        const char *nm = p->symbols[i];
        size_t len = nm ? strlen(nm) : 0;
        if (len == 0 || len > MD_SYMBOL_MAX)
            return md_bad(why, n, "symbols", "each name must have 1..15 characters");
        for (size_t k = 0; k < len; k++)
            if (nm[k] <= 0x20 || nm[k] >= 0x7f || nm[k] == ',' || nm[k] == '"')
                return md_bad(why, n, "symbols", "names must be printable, no space/comma/quote");
    }
    return 0;
}

/* Checks the numeric model parameters. */
static int md_check_model(const md_synth_params *p, char *why, size_t n)
{
    if (!(isfinite(p->trade_rate_hz) && p->trade_rate_hz > 0))
        return md_bad(why, n, "trade_rate_hz", "must be finite and > 0");
    if (!(isfinite(p->quote_rate_hz) && p->quote_rate_hz >= 0))
        return md_bad(why, n, "quote_rate_hz", "must be finite and >= 0");
    if (!(isfinite(p->initial_price) && p->initial_price >= 0))
        return md_bad(why, n, "initial_price", "must be finite and >= 0");
    if (!(isfinite(p->tick) && p->tick > 0))
        return md_bad(why, n, "tick", "must be finite and > 0");
    if (!(isfinite(p->theta) && p->theta > 0))
        return md_bad(why, n, "theta", "must be finite and > 0");
    if (!(isfinite(p->kappa) && p->kappa >= 0))
        return md_bad(why, n, "kappa", "must be finite and >= 0");
    if (!(isfinite(p->xi) && p->xi >= 0))
        return md_bad(why, n, "xi", "must be finite and >= 0");
    if (!(p->rho >= -1 && p->rho <= 1))
        return md_bad(why, n, "rho", "must be in [-1, 1]");
    if (!(isfinite(p->v0) && p->v0 >= 0))
        return md_bad(why, n, "v0", "must be finite and >= 0");
    if (!(isfinite(p->spread_bps) && p->spread_bps >= 0))
        return md_bad(why, n, "spread_bps", "must be finite and >= 0");
    if (!(md_is_int(p->size_min) && p->size_min >= 1))
        return md_bad(why, n, "size_min", "must be an integer >= 1");
    if (!(isfinite(p->size_alpha) && p->size_alpha > 0))
        return md_bad(why, n, "size_alpha", "must be finite and > 0");
    if (!(md_is_int(p->size_max) && p->size_max >= p->size_min && p->size_max <= 0x1p53))
        return md_bad(why, n, "size_max", "must be an integer in [size_min, 2^53]");
    if (!(p->informed_fraction >= 0.5 && p->informed_fraction <= 1))
        return md_bad(why, n, "informed_fraction", "must be in [0.5, 1]");
    if (!(isfinite(p->episode_move) && p->episode_move >= 0))
        return md_bad(why, n, "episode_move", "must be finite and >= 0");
    return 0;
}

int md_synth_params_check(const md_synth_params *p, char *why, size_t why_len)
{
    int rc;
    if (why && why_len > 0)
        why[0] = '\0';
    if (p->n_symbols < 1 || p->n_symbols > MD_SYNTH_MAX_SYMBOLS)
        return md_bad(why, why_len, "n_symbols", "must be in 1..4096");
    if ((rc = md_check_symbols(p, why, why_len)) < 0)
        return rc;
    if ((rc = md_check_model(p, why, why_len)) < 0)
        return rc;
    if ((rc = md_check_episode(&p->episode, "episode", why, why_len)) < 0)
        return rc;
    if (p->episodes)
        for (uint32_t i = 0; i < p->n_symbols; i++)
            if ((rc = md_check_episode(&p->episodes[i], "episodes[]", why, why_len)) < 0)
                return rc;
    return 0;
}

/* Sets up symbol i: name, schedule, starting price and variance. */
static void md_sym_init(md_synth *s, uint32_t i)
{
    const md_synth_params *p = &s->p;
    md_sym *y = &s->syms[i];
    if (p->symbols)
        snprintf(y->name, sizeof y->name, "%s", p->symbols[i]);
    else
        snprintf(y->name, sizeof y->name, p->n_symbols <= 100 ? "SYM%02u" : "SYM%u", i);
    if (p->episodes) {
        y->ep = p->episodes[i];
    } else {
        y->ep = p->episode;
        y->ep.first_ns += (uint64_t)i * p->episode_stagger_ns;
    }
    double px = p->initial_price;
    if (px == 0) /* log-uniform on [20, 500], on the tick grid */
        px = round(20.0 * exp(log(25.0) * md_unif(s)) / p->tick) * p->tick;
    if (px < p->tick)
        px = p->tick;
    y->x = log(px);
    y->v = p->v0;
    y->last_ns = p->start_ts_ns;
}

/* Hash of every parameter that shapes the stream except start_ts_ns:
 * seed, model, rates, and each symbol's name and episode schedule. */
static uint64_t md_synth_fingerprint(const md_synth *s)
{
    const md_synth_params *p = &s->p;
    const double v[] = {p->trade_rate_hz,
                        p->quote_rate_hz,
                        p->initial_price,
                        p->tick,
                        p->theta,
                        p->kappa,
                        p->xi,
                        p->rho,
                        p->v0,
                        p->spread_bps,
                        p->size_min,
                        p->size_alpha,
                        p->size_max,
                        p->informed_fraction,
                        p->episode_move};
    uint64_t h = md_fnv64(MD_FNV_INIT, &p->seed, sizeof(p->seed));
    h = md_fnv64(h, &p->n_symbols, sizeof(p->n_symbols));
    h = md_fnv64(h, v, sizeof(v));
    for (uint32_t i = 0; i < p->n_symbols; i++) {
        const md_sym *y = &s->syms[i];
        h = md_fnv64(h, y->name, sizeof(y->name));
        h = md_fnv64(h, &y->ep, sizeof(y->ep));
    }
    return h;
}

int md_synth_open(md_synth **out, const md_synth_params *p)
{
    int rc;
    *out = NULL;
    rc = md_synth_params_check(p, NULL, 0);
    if (rc < 0)
        return rc;
    md_synth *s = calloc(1, sizeof *s);
    if (!s)
        return MESH_ENOMEM;
    s->syms = calloc(p->n_symbols, sizeof *s->syms);
    if (!s->syms) {
        free(s);
        return MESH_ENOMEM;
    }
    s->p = *p;
    uint64_t sm = p->seed;
    for (int k = 0; k < 4; k++)
        s->rng[k] = md_splitmix64(&sm);
    s->now_ns = p->start_ts_ns;
    s->total_rate = (p->trade_rate_hz + p->quote_rate_hz) / MD_NS_PER_S;
    s->p_trade = p->trade_rate_hz / (p->trade_rate_hz + p->quote_rate_hz);
    s->sqrt_1mr2 = sqrt(1.0 - p->rho * p->rho);
    s->inv_alpha = 1.0 / p->size_alpha;
    for (uint32_t i = 0; i < p->n_symbols; i++)
        md_sym_init(s, i);
    s->p.symbols = NULL; /* names now live in syms[] */
    s->p.episodes = NULL;
    s->fingerprint = md_synth_fingerprint(s);
    *out = s;
    return 0;
}

/* Direction (+1 / -1) of episode k of symbol i: a hash of (seed, i, k). */
static int md_episode_dir(const md_synth *s, uint32_t i, uint64_t k)
{
    uint64_t h = s->p.seed ^ 0x6a09e667f3bcc909ull;
    h = md_splitmix64(&h) ^ i;
    h = md_splitmix64(&h) ^ k;
    return (md_splitmix64(&h) >> 63) ? 1 : -1;
}

int md_synth_in_episode(const md_synth *s, uint32_t symbol_index, uint64_t ts_ns)
{
    if (symbol_index >= s->p.n_symbols)
        return 0;
    const md_synth_episode *e = &s->syms[symbol_index].ep;
    if (e->len_ns == 0 || ts_ns < s->p.start_ts_ns)
        return 0;
    uint64_t t = ts_ns - s->p.start_ts_ns;
    if (t < e->first_ns)
        return 0;
    t -= e->first_ns;
    uint64_t k = 0;
    if (e->period_ns > 0) {
        k = t / e->period_ns;
        t -= k * e->period_ns;
    }
    if (t >= e->len_ns)
        return 0;
    return md_episode_dir(s, symbol_index, k);
}

/* Advances symbol i's mid and variance to s->now_ns; dir is its episode state. */
static void md_sym_advance(md_synth *s, uint32_t i, int dir)
{
    md_sym *y = &s->syms[i];
    const md_synth_params *p = &s->p;
    double dt_s = (double)(s->now_ns - y->last_ns) / MD_NS_PER_S;
    y->last_ns = s->now_ns;
    if (dt_s <= 0)
        return;
    double dt = dt_s / MD_YEAR_S, z1, z2;
    double vp = y->v > 0 ? y->v : 0;
    double sq = sqrt(vp * dt);
    double mu = dir ? dir * p->episode_move / ((double)y->ep.len_ns / MD_NS_PER_S) : 0;
    md_normal2(s, &z1, &z2);
    y->x += mu * dt_s - 0.5 * vp * dt + sq * z1;
    y->v += p->kappa * (p->theta - vp) * dt + p->xi * sq * (p->rho * z1 + s->sqrt_1mr2 * z2);
}

/* Current bid and ask of symbol i on the tick grid: bid >= tick, ask > bid. */
static void md_sym_quote(const md_synth *s, uint32_t i, double *bid, double *ask)
{
    const md_sym *y = &s->syms[i];
    double tick = s->p.tick, mid = exp(y->x);
    double vp = y->v > 0 ? y->v : 0;
    double spread = mid * s->p.spread_bps * 1e-4 * sqrt(vp / s->p.theta);
    if (spread < tick)
        spread = tick;
    double b = floor((mid - 0.5 * spread) / tick);
    double a = ceil((mid + 0.5 * spread) / tick);
    if (b < 1)
        b = 1;
    if (a <= b)
        a = b + 1;
    *bid = b * tick;
    *ask = a * tick;
}

/* Round-lot quote size: 100 * (1 + geometric count with mean 4). */
static double md_quote_size(md_synth *s)
{
    return 100.0 * (1.0 + floor(-log(md_unif_open0(s)) / log(1.25)));
}

/* Fills a trade of symbol i at s->now_ns. */
static void md_make_trade(md_synth *s, uint32_t i, int dir, md_trade *t)
{
    const md_synth_params *p = &s->p;
    double bid, ask, buy_p = 0.5;
    if (dir)
        buy_p = dir > 0 ? p->informed_fraction : 1.0 - p->informed_fraction;
    md_sym_quote(s, i, &bid, &ask);
    t->ts_ns = s->now_ns;
    memcpy(t->symbol, s->syms[i].name, sizeof t->symbol);
    t->aggressor = md_unif(s) < buy_p ? 1 : -1;
    t->price = t->aggressor > 0 ? ask : bid;
    double size = floor(p->size_min * exp(-log(md_unif_open0(s)) * s->inv_alpha));
    t->size = size > p->size_max ? p->size_max : size;
}

int md_synth_next(md_synth *s, md_event *ev)
{
    double gap = -log(md_unif_open0(s)) / s->total_rate + s->frac_ns;
    if (!(gap < (double)(UINT64_MAX - s->now_ns)))
        return MESH_ERANGE;
    uint64_t whole = (uint64_t)gap;
    s->frac_ns = gap - (double)whole;
    s->now_ns += whole;

    bool trade = md_unif(s) < s->p_trade;
    uint32_t i = md_below(s, s->p.n_symbols);
    int dir = md_synth_in_episode(s, i, s->now_ns);
    md_sym_advance(s, i, dir);
    ev->symbol_index = i;
    if (trade) {
        ev->kind = MD_EVENT_TRADE;
        md_make_trade(s, i, dir, &ev->trade);
        return 1;
    }
    md_quote *q = &ev->quote;
    ev->kind = MD_EVENT_QUOTE;
    q->ts_ns = s->now_ns;
    memcpy(q->symbol, s->syms[i].name, sizeof q->symbol);
    md_sym_quote(s, i, &q->bid, &q->ask);
    q->bid_size = md_quote_size(s);
    q->ask_size = md_quote_size(s);
    return 1;
}

uint32_t md_synth_symbol_count(const md_synth *s)
{
    return s->p.n_symbols;
}

const char *md_synth_symbol(const md_synth *s, uint32_t i)
{
    return i < s->p.n_symbols ? s->syms[i].name : NULL;
}

int md_synth_save(const md_synth *s, void *buf, size_t cap, size_t *len)
{
    md_wr w;
    md_wr_init(&w, buf, cap);
    md_put_tag(&w, MD_SYNTH_TAG, MD_SYNTH_VERSION);
    md_put_u64(&w, s->fingerprint);
    md_put_u64(&w, s->p.start_ts_ns);
    for (int k = 0; k < 4; k++)
        md_put_u64(&w, s->rng[k]);
    md_put_u64(&w, s->now_ns);
    md_put_f64(&w, s->frac_ns);
    md_put_u32(&w, s->p.n_symbols);
    for (uint32_t i = 0; i < s->p.n_symbols; i++) {
        md_put_f64(&w, s->syms[i].x);
        md_put_f64(&w, s->syms[i].v);
        md_put_u64(&w, s->syms[i].last_ns);
    }
    return md_wr_end(&w, len);
}

/* Checks the restored values a generator can have reached. */
static bool md_synth_state_ok(uint64_t start, uint64_t now, double frac, const uint64_t rng[4])
{
    return now >= start && frac >= 0 && frac < 1 && (rng[0] | rng[1] | rng[2] | rng[3]) != 0;
}

int md_synth_restore(md_synth *s, const void *buf, size_t len)
{
    md_rd r;
    md_rd_init(&r, buf, len);
    int rc = md_get_tag(&r, MD_SYNTH_TAG, MD_SYNTH_VERSION);
    if (rc < 0)
        return rc;
    if (md_get_u64(&r) != s->fingerprint)
        return r.bad ? MESH_ECORRUPT : MESH_EINVAL;
    uint64_t start = md_get_u64(&r), rng[4], now;
    for (int k = 0; k < 4; k++)
        rng[k] = md_get_u64(&r);
    now = md_get_u64(&r);
    double frac = md_get_f64(&r);
    if (md_get_u32(&r) != s->p.n_symbols || !md_synth_state_ok(start, now, frac, rng))
        return MESH_ECORRUPT;
    size_t first = r.pos;
    for (uint32_t i = 0; i < s->p.n_symbols; i++) { /* validate before changing anything */
        double x = md_get_f64(&r), v = md_get_f64(&r);
        uint64_t last = md_get_u64(&r);
        if (!isfinite(x) || !isfinite(v) || last < start || last > now)
            return MESH_ECORRUPT;
    }
    if ((rc = md_rd_end(&r)) < 0)
        return rc;
    r.pos = first;
    for (uint32_t i = 0; i < s->p.n_symbols; i++) {
        s->syms[i].x = md_get_f64(&r);
        s->syms[i].v = md_get_f64(&r);
        s->syms[i].last_ns = md_get_u64(&r);
    }
    memcpy(s->rng, rng, sizeof(rng));
    s->now_ns = now;
    s->frac_ns = frac;
    s->p.start_ts_ns = start;
    return 0;
}

void md_synth_close(md_synth *s)
{
    if (!s)
        return;
    free(s->syms);
    free(s);
}
