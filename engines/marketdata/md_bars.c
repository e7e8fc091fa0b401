/* Time bars: a dense array of per-symbol states in order of first appearance,
 * indexed by an open-addressing hash table on the 16-byte symbol. */
#include "md_bars.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "md_ser.h"
#include "mesh_error.h"

#define MD_BARS_TAG     MD_TAG('M', 'D', 'B', 'R')
#define MD_BARS_VERSION 1u

#define MD_BARS_EMPTY UINT32_MAX

typedef struct md_bar_state {
    md_bar bar;      /* the open bar (vwap filled when closed) */
    double pv;       /* sum of price * size in the open bar */
    uint64_t closed; /* end_ts_ns of the last bar emitted, 0 if none */
    bool open;
} md_bar_state;

struct md_bars {
    uint64_t bar_ns;
    md_bar_state *syms; /* n used of cap */
    uint32_t n, cap;
    uint32_t *slots; /* nslots (power of two) indices into syms, or MD_BARS_EMPTY */
    uint32_t nslots;
    /* The earliest end of an open bar (UINT64_MAX: none) and how many open
     * bars end then; kept up to date by every open and close, so the
     * daemon's per-tick question "does a bar close?" scans nothing. */
    uint64_t min_end;
    uint32_t min_count;
};

int md_bars_open(md_bars **out, uint64_t bar_ns)
{
    *out = NULL;
    if (bar_ns == 0)
        return MESH_EINVAL;
    md_bars *b = calloc(1, sizeof *b);
    if (!b)
        return MESH_ENOMEM;
    b->bar_ns = bar_ns;
    b->min_end = UINT64_MAX;
    b->nslots = 16;
    b->slots = malloc(b->nslots * sizeof *b->slots);
    if (!b->slots) {
        free(b);
        return MESH_ENOMEM;
    }
    memset(b->slots, 0xff, b->nslots * sizeof *b->slots);
    *out = b;
    return 0;
}

/* FNV-1a over the zero-padded 16-byte symbol. */
static uint32_t md_bars_hash(const char key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* Slot holding key, or the empty slot where it would go. */
static uint32_t md_bars_probe(const md_bars *b, const char key[16])
{
    uint32_t mask = b->nslots - 1, i = md_bars_hash(key) & mask;
    while (b->slots[i] != MD_BARS_EMPTY && memcmp(b->syms[b->slots[i]].bar.symbol, key, 16) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Doubles the hash table (kept at most half full). */
static int md_bars_rehash(md_bars *b)
{
    uint32_t *old = b->slots, nold = b->nslots;
    uint32_t *ns = malloc(2 * (size_t)nold * sizeof *ns);
    if (!ns)
        return MESH_ENOMEM;
    memset(ns, 0xff, 2 * (size_t)nold * sizeof *ns);
    b->slots = ns;
    b->nslots = 2 * nold;
    for (uint32_t i = 0; i < nold; i++)
        if (old[i] != MD_BARS_EMPTY)
            b->slots[md_bars_probe(b, b->syms[old[i]].bar.symbol)] = old[i];
    free(old);
    return 0;
}

/* State for key, created if new; NULL if out of memory. */
static md_bar_state *md_bars_lookup(md_bars *b, const char key[16])
{
    uint32_t slot = md_bars_probe(b, key);
    if (b->slots[slot] != MD_BARS_EMPTY)
        return &b->syms[b->slots[slot]];
    if (b->n == UINT32_MAX - 1)
        return NULL;
    if (2 * ((uint64_t)b->n + 1) > b->nslots) {
        if (md_bars_rehash(b) < 0)
            return NULL;
        slot = md_bars_probe(b, key);
    }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 16;
        md_bar_state *ns = realloc(b->syms, cap * sizeof *ns);
        if (!ns)
            return NULL;
        b->syms = ns;
        b->cap = cap;
    }
    md_bar_state *st = &b->syms[b->n];
    memset(st, 0, sizeof *st);
    memcpy(st->bar.symbol, key, 16);
    b->slots[slot] = b->n++;
    return st;
}

/* Recomputes min_end and min_count from the open bars. */
static void md_bars_rescan(md_bars *b)
{
    b->min_end = UINT64_MAX;
    b->min_count = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const md_bar_state *st = &b->syms[i];
        if (!st->open || st->bar.end_ts_ns > b->min_end)
            continue;
        if (st->bar.end_ts_ns < b->min_end) {
            b->min_end = st->bar.end_ts_ns;
            b->min_count = 0;
        }
        b->min_count++;
    }
}

/* Closes the open bar of st: computes vwap and remembers its end. With
 * rescan, updates min_end (a rescan only when the last bar ending at
 * min_end closed: about once per bar length); md_bars_flush does its own. */
static void md_bars_finish(md_bars *b, md_bar_state *st, bool rescan)
{
    st->bar.vwap = st->pv / st->bar.volume;
    st->closed = st->bar.end_ts_ns;
    st->open = false;
    if (rescan && st->bar.end_ts_ns == b->min_end && --b->min_count == 0)
        md_bars_rescan(b);
}

/* Starts a bar at start with trade t as its first trade. */
static void md_bars_start(md_bars *b, md_bar_state *st, uint64_t start, const md_trade *t)
{
    md_bar *bar = &st->bar;
    bar->start_ts_ns = start;
    bar->end_ts_ns = start + b->bar_ns < start ? UINT64_MAX : start + b->bar_ns;
    bar->last_trade_ts_ns = t->ts_ns;
    bar->open = bar->high = bar->low = bar->close = t->price;
    bar->volume = t->size;
    bar->vwap = 0;
    bar->trades = 1;
    st->pv = t->price * t->size;
    st->open = true;
    if (bar->end_ts_ns < b->min_end) {
        b->min_end = bar->end_ts_ns;
        b->min_count = 0;
    }
    if (bar->end_ts_ns == b->min_end)
        b->min_count++;
}

/* Adds t to the open bar of st. */
static void md_bars_update(md_bar_state *st, const md_trade *t)
{
    md_bar *bar = &st->bar;
    if (t->price > bar->high)
        bar->high = t->price;
    if (t->price < bar->low)
        bar->low = t->price;
    bar->close = t->price;
    bar->volume += t->size;
    bar->trades++;
    if (t->ts_ns > bar->last_trade_ts_ns)
        bar->last_trade_ts_ns = t->ts_ns;
    st->pv += t->price * t->size;
}

int md_bars_add(md_bars *b, const md_trade *t, md_bar *closed)
{
    char key[16] = {0};
    size_t len = strnlen(t->symbol, sizeof t->symbol);
    if (len == 0 || len == sizeof t->symbol)
        return MESH_EINVAL;
    if (!(isfinite(t->price) && t->price > 0 && isfinite(t->size) && t->size > 0))
        return MESH_EINVAL;
    memcpy(key, t->symbol, len);
    md_bar_state *st = md_bars_lookup(b, key);
    if (!st)
        return MESH_ENOMEM;
    uint64_t start = t->ts_ns - t->ts_ns % b->bar_ns;
    if (t->ts_ns < st->closed || (st->open && start < st->bar.start_ts_ns))
        return MESH_ERANGE;
    if (st->open && start == st->bar.start_ts_ns) {
        md_bars_update(st, t);
        return 0;
    }
    int rc = 0;
    if (st->open) {
        md_bars_finish(b, st, true);
        *closed = st->bar;
        rc = 1;
    }
    md_bars_start(b, st, start, t);
    return rc;
}

size_t md_bars_flush(md_bars *b, uint64_t now_ns, md_bar_fn fn, void *ctx)
{
    size_t count = 0;
    if (b->min_end > now_ns)
        return 0; /* no open bar ends by now_ns */
    for (uint32_t i = 0; i < b->n; i++) {
        md_bar_state *st = &b->syms[i];
        if (!st->open || st->bar.end_ts_ns > now_ns)
            continue;
        md_bars_finish(b, st, false);
        fn(ctx, &st->bar);
        count++;
    }
    md_bars_rescan(b);
    return count;
}

uint64_t md_bars_next_end(const md_bars *b)
{
    return b->min_end;
}

static void md_bars_put_state(md_wr *w, const md_bar_state *st)
{
    const md_bar *bar = &st->bar;
    md_put(w, bar->symbol, sizeof(bar->symbol));
    md_put_u64(w, bar->start_ts_ns);
    md_put_u64(w, bar->end_ts_ns);
    md_put_u64(w, bar->last_trade_ts_ns);
    md_put_f64(w, bar->open);
    md_put_f64(w, bar->high);
    md_put_f64(w, bar->low);
    md_put_f64(w, bar->close);
    md_put_f64(w, bar->volume);
    md_put_f64(w, bar->vwap);
    md_put_u32(w, bar->trades);
    md_put_u32(w, st->open);
    md_put_f64(w, st->pv);
    md_put_u64(w, st->closed);
}

int md_bars_save(const md_bars *b, void *buf, size_t cap, size_t *len)
{
    md_wr w;
    md_wr_init(&w, buf, cap);
    md_put_tag(&w, MD_BARS_TAG, MD_BARS_VERSION);
    md_put_u64(&w, b->bar_ns);
    md_put_u32(&w, b->n);
    for (uint32_t i = 0; i < b->n; i++)
        md_bars_put_state(&w, &b->syms[i]);
    return md_wr_end(&w, len);
}

/* Reads one symbol's state; false when it could not be the state of an
 * aggregator of bar_ns (the symbol is checked by the caller). */
static bool md_bars_get_state(md_rd *r, uint64_t bar_ns, md_bar_state *st)
{
    md_bar *bar = &st->bar;
    md_get(r, bar->symbol, sizeof(bar->symbol));
    bar->start_ts_ns = md_get_u64(r);
    bar->end_ts_ns = md_get_u64(r);
    bar->last_trade_ts_ns = md_get_u64(r);
    bar->open = md_get_f64(r);
    bar->high = md_get_f64(r);
    bar->low = md_get_f64(r);
    bar->close = md_get_f64(r);
    bar->volume = md_get_f64(r);
    bar->vwap = md_get_f64(r);
    bar->trades = md_get_u32(r);
    uint32_t open = md_get_u32(r);
    st->pv = md_get_f64(r);
    st->closed = md_get_u64(r);
    st->open = open == 1;
    size_t len = strnlen(bar->symbol, sizeof(bar->symbol));
    if (r->bad || open > 1 || len == 0 || len == sizeof(bar->symbol))
        return false;
    for (size_t k = len; k < sizeof(bar->symbol); k++)
        if (bar->symbol[k] != '\0') /* keys are zero-padded */
            return false;
    if (!st->open)
        return true;
    uint64_t end =
        bar->start_ts_ns + bar_ns < bar->start_ts_ns ? UINT64_MAX : bar->start_ts_ns + bar_ns;
    return bar->start_ts_ns % bar_ns == 0 && bar->end_ts_ns == end && bar->trades >= 1 &&
           bar->last_trade_ts_ns >= bar->start_ts_ns && bar->last_trade_ts_ns < end &&
           bar->volume > 0 && isfinite(bar->volume) && isfinite(st->pv) && bar->low > 0 &&
           bar->low <= bar->high && isfinite(bar->high) && st->closed <= bar->start_ts_ns;
}

int md_bars_restore(md_bars *b, const void *buf, size_t len)
{
    md_rd r;
    md_rd_init(&r, buf, len);
    int rc = md_get_tag(&r, MD_BARS_TAG, MD_BARS_VERSION);
    if (rc < 0)
        return rc;
    uint64_t bar_ns = md_get_u64(&r);
    uint32_t n = md_get_u32(&r);
    if (r.bad)
        return MESH_ECORRUPT;
    if (bar_ns != b->bar_ns)
        return MESH_EINVAL;
    md_bars *t = NULL;
    if ((rc = md_bars_open(&t, bar_ns)) < 0)
        return rc;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        md_bar_state st;
        if (!md_bars_get_state(&r, bar_ns, &st)) {
            rc = MESH_ECORRUPT;
            break;
        }
        uint32_t had = t->n;
        md_bar_state *dst = md_bars_lookup(t, st.bar.symbol);
        if (!dst)
            rc = MESH_ENOMEM;
        else if (t->n == had)
            rc = MESH_ECORRUPT; /* the same symbol twice */
        else
            *dst = st;
    }
    if (rc == 0)
        rc = md_rd_end(&r);
    if (rc < 0) {
        md_bars_close(t);
        return rc;
    }
    md_bars_rescan(t);
    md_bars tmp = *b; /* swap the contents; b keeps its address */
    *b = *t;
    *t = tmp;
    md_bars_close(t);
    return 0;
}

void md_bars_close(md_bars *b)
{
    if (!b)
        return;
    free(b->syms);
    free(b->slots);
    free(b);
}
