/* Tests of the marketdata snapshots used to resume after a kill: a generator,
 * bar builder, CSV reader or paced feed saved at event k and restored into a
 * freshly opened one produces exactly the events (bars, rows) that an
 * uninterrupted instance produces after event k; the paced clock continues
 * from the saved feed time; snapshots saved with other parameters, of a
 * changed file, or damaged are refused with a reason and change nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_bars.h"
#include "md_csv.h"
#include "md_feed.h"
#include "md_synth.h"
#include "mesh_error.h"

#define S  1000000000ull
#define MS 1000000ull

static int same_event(const md_event *a, const md_event *b)
{
    if (a->kind != b->kind || a->symbol_index != b->symbol_index)
        return 0;
    if (a->kind == MD_EVENT_TRADE)
        return a->trade.ts_ns == b->trade.ts_ns && !strcmp(a->trade.symbol, b->trade.symbol) &&
               a->trade.price == b->trade.price && a->trade.size == b->trade.size &&
               a->trade.aggressor == b->trade.aggressor;
    return a->quote.ts_ns == b->quote.ts_ns && !strcmp(a->quote.symbol, b->quote.symbol) &&
           a->quote.bid == b->quote.bid && a->quote.ask == b->quote.ask &&
           a->quote.bid_size == b->quote.bid_size && a->quote.ask_size == b->quote.ask_size;
}

static uint64_t ev_ts(const md_event *ev)
{
    return ev->kind == MD_EVENT_TRADE ? ev->trade.ts_ns : ev->quote.ts_ns;
}

/* Short episodes (first at 2 s, 3 s long, every 10 s, staggered 1 s) so the
 * compared stretches cross episode boundaries, which depend on start_ts_ns. */
static void params(md_synth_params *p, uint64_t seed)
{
    md_synth_default_params(p);
    p->seed = seed;
    p->n_symbols = 5;
    p->episode = (md_synth_episode){.first_ns = 2 * S, .len_ns = 3 * S, .period_ns = 10 * S};
    p->episode_stagger_ns = 1 * S;
}

static md_synth *synth_open(const md_synth_params *p)
{
    md_synth *s = NULL;
    cr_assert_eq(md_synth_open(&s, p), 0);
    return s;
}

static void next(md_synth *s, md_event *ev)
{
    cr_assert_eq(md_synth_next(s, ev), 1);
}

/* Saves s into a new malloc'ed buffer; *len its size. */
static void *synth_snapshot(const md_synth *s, size_t *len)
{
    cr_assert_eq(md_synth_save(s, NULL, 0, len), MESH_ENOSPC, "a NULL buffer measures");
    void *buf = malloc(*len);
    size_t got = 0;
    cr_assert_eq(md_synth_save(s, buf, *len - 1, &got), MESH_ENOSPC);
    cr_assert_eq(got, *len);
    cr_assert_eq(md_synth_save(s, buf, *len, &got), 0);
    cr_assert_eq(got, *len);
    return buf;
}

Test(md_resume, synth_restored_at_event_k_continues_the_uninterrupted_stream)
{
    md_synth_params p;
    params(&p, 42);
    const uint64_t ks[] = {0, 1, 2, 999, 60000}; /* 60000 events: 10 s of market */
    const int after = 40000;                     /* > 2 s of market: reaches the first episodes */
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        md_synth *ref = synth_open(&p), *a = synth_open(&p);
        md_event ev, er;
        for (uint64_t k = 0; k < ks[i]; k++) {
            next(a, &ev);
            next(ref, &er);
        }
        size_t len;
        void *snap = synth_snapshot(a, &len);
        md_synth_close(a); /* the process that saved is gone */
        md_synth_params q = p;
        q.start_ts_ns = p.start_ts_ns + 3600 * S; /* a restart opens at another wall time */
        md_synth *b = synth_open(&q);
        cr_assert_eq(md_synth_restore(b, snap, len), 0);
        int trades = 0, episodes = 0;
        for (int n = 0; n < after; n++) {
            next(b, &ev);
            next(ref, &er);
            cr_assert(same_event(&ev, &er), "k %llu: event %d after the restore differs",
                      (unsigned long long)ks[i], n);
            trades += ev.kind == MD_EVENT_TRADE;
            episodes += md_synth_in_episode(b, ev.symbol_index, ev_ts(&ev)) != 0;
        }
        cr_assert_gt(trades, 0);
        cr_assert_gt(episodes, 0, "premise: the compared stretch has episode events");
        md_synth_close(b);
        md_synth_close(ref);
        free(snap);
    }
}

Test(md_resume, synth_refuses_other_parameters_and_damaged_snapshots_unchanged)
{
    md_synth_params p, q;
    params(&p, 7);
    md_synth *a = synth_open(&p);
    md_event ev, ef;
    for (int k = 0; k < 100; k++)
        next(a, &ev);
    size_t len;
    unsigned char *snap = synth_snapshot(a, &len);
    md_synth_close(a);
    /* Every parameter that shapes the stream is part of the fingerprint. */
    const char *what[] = {"seed", "rate", "symbols", "names", "episodes"};
    for (int i = 0; i < 5; i++) {
        params(&q, 7);
        const char *names[5] = {"A", "B", "C", "D", "E"};
        if (i == 0)
            q.seed = 8;
        if (i == 1)
            q.trade_rate_hz = 2001;
        if (i == 2)
            q.n_symbols = 6;
        if (i == 3)
            q.symbols = names;
        if (i == 4)
            q.episode_stagger_ns = 2 * S;
        md_synth *b = synth_open(&q), *fresh = synth_open(&q);
        cr_assert_eq(md_synth_restore(b, snap, len), MESH_EINVAL, "%s changed", what[i]);
        next(b, &ev);
        next(fresh, &ef);
        cr_assert(same_event(&ev, &ef), "%s: a refused restore changed the generator", what[i]);
        md_synth_close(b);
        md_synth_close(fresh);
    }
    /* Every truncation is refused; so are a foreign tag and another version. */
    md_synth *b = synth_open(&p), *fresh = synth_open(&p);
    for (size_t n = 0; n < len; n++)
        cr_assert_lt(md_synth_restore(b, snap, n), 0, "truncated to %zu bytes", n);
    snap[0] ^= 1;
    cr_assert_eq(md_synth_restore(b, snap, len), MESH_EFOREIGN);
    snap[0] ^= 1;
    snap[4] = 9;
    cr_assert_eq(md_synth_restore(b, snap, len), MESH_EVERSION);
    snap[4] = 1;
    /* tag 8 + fingerprint 8 + start 8 + rng 32 + now 8 = 64: frac_ns = 2.0 is impossible */
    double bad = 2.0;
    memcpy(snap + 64, &bad, 8);
    cr_assert_eq(md_synth_restore(b, snap, len), MESH_ECORRUPT);
    next(b, &ev);
    next(fresh, &ef);
    cr_assert(same_event(&ev, &ef), "refused restores changed the generator");
    md_synth_close(b);
    md_synth_close(fresh);
    free(snap);
}

static md_trade trade_at(const char *sym, uint64_t ts, double px, double size)
{
    md_trade t = {.ts_ns = ts, .price = px, .size = size, .aggressor = 1};
    snprintf(t.symbol, sizeof t.symbol, "%s", sym);
    return t;
}

typedef struct sink {
    md_bar bars[4096];
    size_t n;
} sink;

static void collect(void *ctx, const md_bar *bar)
{
    sink *k = ctx;
    cr_assert_lt(k->n, 4096);
    k->bars[k->n++] = *bar;
}

static void add(md_bars *b, const md_trade *t, sink *k)
{
    md_bar closed;
    int rc = md_bars_add(b, t, &closed);
    cr_assert_geq(rc, 0);
    if (rc == 1)
        collect(k, &closed);
}

static int same_bar(const md_bar *a, const md_bar *b)
{
    return a->start_ts_ns == b->start_ts_ns && a->end_ts_ns == b->end_ts_ns &&
           a->last_trade_ts_ns == b->last_trade_ts_ns && !strcmp(a->symbol, b->symbol) &&
           a->open == b->open && a->high == b->high && a->low == b->low && a->close == b->close &&
           a->volume == b->volume && a->vwap == b->vwap && a->trades == b->trades;
}

Test(md_resume, bars_restored_mid_stream_emit_what_an_uninterrupted_builder_emits)
{
    md_synth_params p;
    params(&p, 3);
    p.quote_rate_hz = 0;
    p.trade_rate_hz = 50; /* 10 trades/s per symbol: quiet symbols close by flush */
    const int n = 4000, ks[] = {0, 1, 777, 2500};
    static md_trade trades[4000];
    md_synth *s = synth_open(&p);
    for (int i = 0; i < n; i++) {
        md_event ev;
        next(s, &ev);
        trades[i] = ev.trade;
    }
    md_synth_close(s);
    for (size_t c = 0; c < sizeof(ks) / sizeof(ks[0]); c++) {
        static sink ref, got;
        ref.n = got.n = 0;
        md_bars *r = NULL, *a = NULL, *b = NULL;
        cr_assert_eq(md_bars_open(&r, S), 0);
        cr_assert_eq(md_bars_open(&a, S), 0);
        cr_assert_eq(md_bars_open(&b, S), 0);
        /* the uninterrupted builder, flushed every 7th trade at that trade's time */
        for (int i = 0; i < n; i++) {
            add(r, &trades[i], &ref);
            if (i % 7 == 6)
                md_bars_flush(r, trades[i].ts_ns, collect, &ref);
        }
        sink *k = &got;
        for (int i = 0; i < ks[c]; i++) {
            add(a, &trades[i], k);
            if (i % 7 == 6)
                md_bars_flush(a, trades[i].ts_ns, collect, k);
        }
        size_t len = 0;
        cr_assert_eq(md_bars_save(a, NULL, 0, &len), MESH_ENOSPC);
        void *snap = malloc(len);
        cr_assert_eq(md_bars_save(a, snap, len, &len), 0);
        md_bars_close(a);
        cr_assert_eq(md_bars_restore(b, snap, len), 0);
        for (int i = ks[c]; i < n; i++) {
            add(b, &trades[i], k);
            if (i % 7 == 6)
                md_bars_flush(b, trades[i].ts_ns, collect, k);
        }
        md_bars_flush(r, UINT64_MAX, collect, &ref);
        md_bars_flush(b, UINT64_MAX, collect, k);
        cr_assert_gt(ref.n, 50);
        cr_assert_eq(got.n, ref.n, "k %d: %zu bars, uninterrupted %zu", ks[c], got.n, ref.n);
        for (size_t i = 0; i < ref.n; i++)
            cr_assert(same_bar(&got.bars[i], &ref.bars[i]), "k %d: bar %zu differs", ks[c], i);
        md_bars_close(b);
        md_bars_close(r);
        free(snap);
    }
}

Test(md_resume, bars_next_end_and_refused_snapshots)
{
    md_bars *b = NULL, *o = NULL;
    sink k = {.n = 0};
    cr_assert_eq(md_bars_open(&b, 10), 0);
    cr_assert_eq(md_bars_next_end(b), UINT64_MAX, "no open bar");
    md_trade ta = trade_at("A", 5, 10.0, 1), tb = trade_at("B", 13, 20.0, 2);
    add(b, &ta, &k);
    add(b, &tb, &k);
    cr_assert_eq(md_bars_next_end(b), 10, "A's bar [0, 10) ends first");
    cr_assert_eq(md_bars_flush(b, 10, collect, &k), 1);
    cr_assert_eq(md_bars_next_end(b), 20, "then B's [10, 20)");
    unsigned char snap[1024];
    size_t len = 0;
    cr_assert_eq(md_bars_save(b, snap, sizeof(snap), &len), 0);
    cr_assert_eq(md_bars_open(&o, 20), 0);
    cr_assert_eq(md_bars_restore(o, snap, len), MESH_EINVAL, "another bar length");
    md_bars_close(o);
    cr_assert_eq(md_bars_open(&o, 10), 0);
    for (size_t n = 0; n < len; n++)
        cr_assert_lt(md_bars_restore(o, snap, n), 0, "truncated to %zu bytes", n);
    /* tag 8 + bar_ns 8 + count 4 = 20, then 112 bytes per symbol: renaming
     * the second symbol "A" makes it a duplicate */
    snap[20 + 112] = 'A';
    cr_assert_eq(md_bars_restore(o, snap, len), MESH_ECORRUPT);
    snap[20 + 112] = 'B';
    /* B's open bar moved off the 10 ns grid is impossible */
    uint64_t start = 11;
    memcpy(snap + 20 + 112 + 16, &start, 8);
    cr_assert_eq(md_bars_restore(o, snap, len), MESH_ECORRUPT);
    cr_assert_eq(md_bars_next_end(o), UINT64_MAX, "refused restores left it empty");
    md_bars_close(o);
    md_bars_close(b);
}

/* ---- CSV reader and paced feed ---- */

static char dir[64], path[128];

static void csv_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_md_resume_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/trades.csv", dir);
}

static void csv_teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* Header, then n rows (CRLF every 3rd line; a bad row every 1000th), about
 * 40 bytes each: 40000 rows pass the reader's 1 MiB block. */
static void write_csv(int n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fprintf(f, "ts_ns,symbol,price,size\n");
    for (int i = 0; i < n; i++) {
        if (i % 1000 == 999)
            fprintf(f, "%d,BAD,abc,1\n", 1000 + i);
        else
            fprintf(f, "%llu,SYM%d,%d.%02d,%d%s", 1700000000000000000ull + (uint64_t)i * 1000,
                    i % 7, 100 + i % 50, i % 100, 1 + i % 900, i % 3 ? "\n" : "\r\n");
    }
    cr_assert_eq(fclose(f), 0);
}

/* One md_csv_next result, comparable. */
typedef struct row {
    int rc;
    uint64_t line;
    md_trade t;
    char err[160];
} row;

static void read_row(md_csv *r, row *out)
{
    memset(out, 0, sizeof(*out));
    out->rc = md_csv_next(r, &out->t);
    out->line = md_csv_line(r);
    snprintf(out->err, sizeof(out->err), "%s", md_csv_error(r));
}

static int same_row(const row *a, const row *b)
{
    return a->rc == b->rc && a->line == b->line && !strcmp(a->err, b->err) &&
           (a->rc != 1 || (a->t.ts_ns == b->t.ts_ns && !strcmp(a->t.symbol, b->t.symbol) &&
                           a->t.price == b->t.price && a->t.size == b->t.size));
}

Test(md_resume, csv_position_restored_reads_the_rows_an_uninterrupted_reader_reads,
     .init = csv_setup, .fini = csv_teardown)
{
    const int n = 40000, ks[] = {0, 1, 998, 999, 26000, 39999, 40000};
    write_csv(n);
    for (size_t c = 0; c < sizeof(ks) / sizeof(ks[0]); c++) {
        md_csv *ref = NULL, *a = NULL, *b = NULL;
        row x, y;
        cr_assert_eq(md_csv_open(&ref, path), 0);
        cr_assert_eq(md_csv_open(&a, path), 0);
        for (int i = 0; i < ks[c]; i++) {
            read_row(a, &x);
            read_row(ref, &y);
        }
        unsigned char snap[256];
        size_t len = 0;
        cr_assert_eq(md_csv_save(a, snap, sizeof(snap), &len), 0);
        md_csv_close(a);
        cr_assert_eq(md_csv_open(&b, path), 0);
        cr_assert_eq(md_csv_restore(b, snap, len), 0, "%s", md_csv_error(b));
        int rows = 0;
        do {
            read_row(b, &x);
            read_row(ref, &y);
            cr_assert(same_row(&x, &y), "k %d: row %d after the restore: rc %d line %llu (%s)",
                      ks[c], rows, x.rc, (unsigned long long)x.line, x.err);
            rows++;
        } while (y.rc != 0);
        cr_assert_eq(rows, n - ks[c] + 1, "every row up to the end of file");
        md_csv_close(b);
        md_csv_close(ref);
    }
}

Test(md_resume, csv_restore_refuses_a_changed_file_but_accepts_an_appended_one, .init = csv_setup,
     .fini = csv_teardown)
{
    write_csv(100);
    md_csv *a = NULL, *b = NULL;
    row x;
    cr_assert_eq(md_csv_open(&a, path), 0);
    for (int i = 0; i < 50; i++)
        read_row(a, &x);
    unsigned char snap[256];
    size_t len = 0;
    cr_assert_eq(md_csv_save(a, snap, sizeof(snap), &len), 0);
    md_csv_close(a);
    FILE *f = fopen(path, "ab"); /* appended rows: the saved prefix is intact */
    fprintf(f, "1700000000999000000,NEW,1.5,3\n");
    fclose(f);
    cr_assert_eq(md_csv_open(&b, path), 0);
    cr_assert_eq(md_csv_restore(b, snap, len), 0);
    for (int i = 0; i < 51; i++) /* rows 50..99, then the new one */
        read_row(b, &x);
    cr_assert(x.rc == 1 && !strcmp(x.t.symbol, "NEW"), "the appended row comes last");
    md_csv_close(b);
    write_csv(40); /* rewritten: 40 rows end before the saved position */
    cr_assert_eq(md_csv_open(&b, path), 0);
    cr_assert_eq(md_csv_restore(b, snap, len), MESH_EINVAL);
    cr_assert(strstr(md_csv_error(b), "the file changed"), "%s", md_csv_error(b));
    read_row(b, &x);
    cr_assert_eq(x.line, 2, "a refused restore left the reader at the first row");
    md_csv_close(b);
    write_csv(100);
    f = fopen(path, "r+b"); /* same length, one byte before the position differs */
    fseek(f, 30, SEEK_SET);
    fputc('9', f);
    fclose(f);
    cr_assert_eq(md_csv_open(&b, path), 0);
    cr_assert_eq(md_csv_restore(b, snap, len), 0, "bytes more than 256 before are not checked");
    md_csv_close(b);
    write_csv(100);
    uint64_t offset;
    memcpy(&offset, snap + 8, 8); /* the snapshot: tag (8 bytes), then the offset */
    f = fopen(path, "r+b");
    fseek(f, (long)offset - 2, SEEK_SET); /* the end of the last row read before it */
    fputc('7', f);
    fclose(f);
    cr_assert_eq(md_csv_open(&b, path), 0);
    cr_assert_eq(md_csv_restore(b, snap, len), MESH_EINVAL, "a changed row before the position");
    md_csv_close(b);
}

/* A header of 24 bytes and five rows of 28 bytes each. */
static void write_small_csv(void)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fprintf(f, "ts_ns,symbol,price,size\n");
    for (int i = 1; i <= 5; i++)
        fprintf(f, "170000000000000000%d,A,1.5,2\n", i);
    cr_assert_eq(ftell(f), 24 + 5 * 28);
    cr_assert_eq(fclose(f), 0);
}

Test(md_resume, a_csv_position_that_cannot_be_saved_names_the_file_and_offset, .init = csv_setup,
     .fini = csv_teardown)
{
    write_small_csv();
    md_csv *r = NULL;
    row x;
    cr_assert_eq(md_csv_open(&r, path), 0);
    for (int i = 0; i < 3; i++)
        read_row(r, &x);
    cr_assert_eq(truncate(path, 50), 0); /* the bytes before the position are gone */
    unsigned char snap[256];
    size_t len = 0;
    cr_assert_eq(md_csv_save(r, snap, sizeof(snap), &len), MESH_EIO);
    char want[300];
    /* the next row starts after the header and three rows: 24 + 3 * 28 */
    snprintf(want, sizeof(want),
             "%s: position not saved: cannot read the 108 bytes before offset 108 (after line 4)",
             path);
    cr_assert(strstr(md_csv_error(r), want) != NULL, "'%s' lacks '%s'", md_csv_error(r), want);
    cr_assert(strstr(md_csv_error(r), "shorter") != NULL, "%s", md_csv_error(r));
    md_csv_close(r);
    /* the daemon's path: the feed passes the reader's reason on */
    write_small_csv();
    md_feed_opts o;
    memset(&o, 0, sizeof(o));
    o.kind = MD_FEED_CSV;
    o.csv_path = path;
    md_feed *f = NULL;
    md_event ev;
    cr_assert_eq(md_feed_open(&f, &o), 0);
    cr_assert_eq(md_feed_take(f, &ev), 1);
    cr_assert_str_eq(md_feed_error(f), "");
    cr_assert_eq(truncate(path, 10), 0);
    cr_assert_eq(md_feed_save(f, 1, snap, sizeof(snap), &len), MESH_EIO);
    snprintf(want, sizeof(want), "%s: position not saved", path);
    cr_assert(strstr(md_feed_error(f), want) != NULL, "'%s' lacks '%s'", md_feed_error(f), want);
    cr_assert(strstr(md_feed_error(f), "before offset ") != NULL, "%s", md_feed_error(f));
    md_feed_close(f);
}

/* Opens a feed; for the synthetic one, start_ts_ns is the only difference a
 * restart makes. */
static md_feed *feed_open(md_feed_kind kind, double speed, uint64_t start)
{
    md_feed_opts o;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    o.speed = speed;
    params(&o.synth, 11);
    o.synth.start_ts_ns = start;
    o.csv_path = path;
    md_feed *f = NULL;
    cr_assert_eq(md_feed_open(&f, &o), 0);
    return f;
}

static void *feed_snapshot(const md_feed *f, uint64_t now, size_t *len)
{
    cr_assert_eq(md_feed_save(f, now, NULL, 0, len), MESH_ENOSPC);
    void *buf = malloc(*len);
    cr_assert_eq(md_feed_save(f, now, buf, *len, len), 0);
    return buf;
}

Test(md_resume, feed_restored_continues_the_events_of_both_kinds, .init = csv_setup,
     .fini = csv_teardown)
{
    write_csv(5000);
    const md_feed_kind kinds[] = {MD_FEED_SYNTHETIC, MD_FEED_CSV};
    for (int c = 0; c < 2; c++) {
        uint64_t t0 = 1704205800ull * S;
        md_feed *ref = feed_open(kinds[c], 0, t0), *a = feed_open(kinds[c], 0, t0);
        md_event ev, er;
        for (int k = 0; k < 1234; k++) {
            cr_assert_eq(md_feed_next(a, 1, &ev), 1); /* speed 0: everything is due */
            cr_assert_eq(md_feed_next(ref, 1, &er), 1);
        }
        size_t len;
        void *snap = feed_snapshot(a, 1, &len);
        md_feed_close(a);
        md_feed *b = feed_open(kinds[c], 0, t0 + 99 * S);
        md_feed *other = feed_open(kinds[1 - c], 0, t0);
        cr_assert_eq(md_feed_restore(other, snap, len), MESH_EINVAL, "the other kind of feed");
        md_feed_close(other);
        cr_assert_eq(md_feed_restore(b, snap, len), 0);
        /* take (replay) a few, then paced next: the same stream either way */
        for (int k = 0; k < 3000; k++) {
            int rb = k < 100 ? md_feed_take(b, &ev) : md_feed_next(b, 1, &ev);
            int rr = md_feed_next(ref, 1, &er);
            cr_assert_eq(rb, rr, "kind %d, event %d: %d vs %d", c, k, rb, rr);
            if (rr != 1)
                break;
            cr_assert(same_event(&ev, &er), "kind %d: event %d after the restore differs", c, k);
        }
        md_feed_stats sb, sr;
        md_feed_stats_get(b, &sb);
        md_feed_stats_get(ref, &sr);
        cr_assert(sb.trades == sr.trades && sb.quotes == sr.quotes && sb.bad_rows == sr.bad_rows,
                  "counters carry over");
        md_feed_close(b);
        md_feed_close(ref);
        free(snap);
    }
}

Test(md_resume, paced_clock_continues_from_the_saved_feed_time)
{
    /* Speed 60: 1 ms of monotonic time is 60 ms of market time. */
    uint64_t t0 = 1704205800ull * S, mono = 5 * S;
    md_feed *a = feed_open(MD_FEED_SYNTHETIC, 60, t0);
    md_event ev;
    cr_assert_eq(md_feed_next(a, mono, &ev), 1); /* the clock starts at the first event */
    uint64_t origin = ev_ts(&ev);
    while (md_feed_next(a, mono + 500 * MS, &ev) == 1)
        ;
    uint64_t saved_at = md_feed_time(a, mono + 500 * MS);
    cr_assert_eq(saved_at, origin + 30 * S, "500 ms x 60 = 30 s of market time");
    size_t len;
    void *snap = feed_snapshot(a, mono + 500 * MS, &len);
    md_feed_close(a);
    /* Restarted after 20 s of downtime, with a new wall-clock start. */
    md_feed *b = feed_open(MD_FEED_SYNTHETIC, 60, t0 + 3600 * S);
    cr_assert_eq(md_feed_restore(b, snap, len), 0);
    cr_assert_eq(md_feed_position(b), saved_at);
    uint64_t later = mono + 20500 * MS;
    int n = 0;
    while (md_feed_next(b, later, &ev) == 1)
        n++;
    cr_assert_eq(n, 0, "nothing is due at the saved feed time (no burst)");
    cr_assert_eq(md_feed_time(b, later), saved_at, "no jump back (and no jump ahead)");
    cr_assert_eq(md_feed_time(b, later + 1 * MS), saved_at + 60 * MS);
    cr_assert_eq(md_feed_next(b, later + 100 * MS, &ev), 1);
    uint64_t ts = ev_ts(&ev);
    cr_assert(ts > saved_at && ts <= saved_at + 6 * S, "the next event follows the saved time");
    md_feed_close(b);
    free(snap);
}
