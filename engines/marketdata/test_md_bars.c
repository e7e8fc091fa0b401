/* Tests for md_bars: bar alignment, OHLC/volume/vwap by hand, empty intervals,
 * time-driven flush, late and invalid trades, many symbols. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md_bars.h"
#include "mesh_error.h"

#define S  1000000000ull
#define T0 (1704205800ull * S) /* 2024-01-02T14:30:00Z; 1704205800 = 60 * 28403430 */

static md_trade tr(const char *sym, uint64_t ts, double px, double size)
{
    md_trade t = {.ts_ns = ts, .price = px, .size = size};
    snprintf(t.symbol, sizeof t.symbol, "%s", sym);
    return t;
}

typedef struct sink {
    md_bar bars[2048];
    size_t n;
} sink;

static void collect(void *ctx, const md_bar *bar)
{
    sink *k = ctx;
    cr_assert_lt(k->n, 2048);
    k->bars[k->n++] = *bar;
}

static void expect_bar(const md_bar *b, const char *sym, uint64_t start, double o, double h,
                       double l, double c, double vol, double vwap, uint32_t n, uint64_t last)
{
    cr_assert_str_eq(b->symbol, sym);
    cr_assert_eq(b->start_ts_ns, start);
    cr_assert_eq(b->end_ts_ns, start + 60 * S);
    cr_assert_eq(b->open, o);
    cr_assert_eq(b->high, h);
    cr_assert_eq(b->low, l);
    cr_assert_eq(b->close, c);
    cr_assert_eq(b->volume, vol);
    cr_assert_float_eq(b->vwap, vwap, 1e-9);
    cr_assert_eq(b->trades, n);
    cr_assert_eq(b->last_trade_ts_ns, last);
}

/* Hand-worked one-minute bars:
 *  AAA 14:30:05 10.0 x100, 14:30:20 10.5 x200, 14:30:59.999999999 9.8 x100
 *      -> bar [14:30, 14:31): O 10 H 10.5 L 9.8 C 9.8, V 400,
 *         vwap = (10*100 + 10.5*200 + 9.8*100) / 400 = (1000 + 2100 + 980) / 400 = 10.2
 *  AAA 14:31:00 10.2 x50 (closes the first bar), 14:33:20 10.4 x150 (closes
 *      [14:31, 14:32): 10.2 x50; [14:32, 14:33) had no trade -> no bar)
 *  BBB 14:30:30 50 x10, 14:31:01 51 x30 (closes BBB [14:30, 14:31): 50 x10) */
Test(md_bars, hand_worked_minute_bars_cross_boundaries)
{
    md_bars *b;
    md_bar bar;
    sink k = {.n = 0};
    cr_assert_eq(md_bars_open(&b, 60 * S), 0);
    cr_assert_eq(md_bars_add(b, &(md_trade){0}, &bar), MESH_EINVAL);
    md_trade t1 = tr("AAA", T0 + 5 * S, 10.0, 100), t2 = tr("AAA", T0 + 20 * S, 10.5, 200);
    md_trade t3 = tr("BBB", T0 + 30 * S, 50.0, 10), t4 = tr("AAA", T0 + 60 * S - 1, 9.8, 100);
    cr_assert_eq(md_bars_add(b, &t1, &bar), 0);
    cr_assert_eq(md_bars_add(b, &t2, &bar), 0);
    cr_assert_eq(md_bars_add(b, &t3, &bar), 0);
    cr_assert_eq(md_bars_add(b, &t4, &bar), 0);

    md_trade t5 = tr("AAA", T0 + 60 * S, 10.2, 50);
    cr_assert_eq(md_bars_add(b, &t5, &bar), 1);
    expect_bar(&bar, "AAA", T0, 10.0, 10.5, 9.8, 9.8, 400, 10.2, 3, T0 + 60 * S - 1);

    md_trade t6 = tr("BBB", T0 + 61 * S, 51.0, 30);
    cr_assert_eq(md_bars_add(b, &t6, &bar), 1);
    expect_bar(&bar, "BBB", T0, 50, 50, 50, 50, 10, 50, 1, T0 + 30 * S);

    md_trade t7 = tr("AAA", T0 + 200 * S, 10.4, 150);
    cr_assert_eq(md_bars_add(b, &t7, &bar), 1);
    expect_bar(&bar, "AAA", T0 + 60 * S, 10.2, 10.2, 10.2, 10.2, 50, 10.2, 1, T0 + 60 * S);

    /* Open now: AAA [14:33, 14:34) and BBB [14:31, 14:32). */
    cr_assert_eq(md_bars_flush(b, T0 + 120 * S - 1, collect, &k), 0);
    cr_assert_eq(md_bars_flush(b, T0 + 120 * S, collect, &k), 1);
    expect_bar(&k.bars[0], "BBB", T0 + 60 * S, 51, 51, 51, 51, 30, 51, 1, T0 + 61 * S);
    cr_assert_eq(md_bars_flush(b, T0 + 240 * S - 1, collect, &k), 0);
    cr_assert_eq(md_bars_flush(b, T0 + 240 * S, collect, &k), 1);
    expect_bar(&k.bars[1], "AAA", T0 + 180 * S, 10.4, 10.4, 10.4, 10.4, 150, 10.4, 1, T0 + 200 * S);
    cr_assert_eq(md_bars_flush(b, UINT64_MAX, collect, &k), 0, "nothing left open");
    md_bars_close(b);
}

Test(md_bars, late_trades_are_refused_and_change_nothing)
{
    md_bars *b;
    md_bar bar;
    sink k = {.n = 0};
    cr_assert_eq(md_bars_open(&b, 60 * S), 0);
    md_trade a = tr("AAA", T0 + 70 * S, 20, 1), late = tr("AAA", T0 + 59 * S, 99, 1);
    cr_assert_eq(md_bars_add(b, &a, &bar), 0);
    cr_assert_eq(md_bars_add(b, &late, &bar), MESH_ERANGE, "older than the open bar");
    /* Inside the open bar, earlier than the last trade: accepted. */
    md_trade early = tr("AAA", T0 + 65 * S, 19, 3);
    cr_assert_eq(md_bars_add(b, &early, &bar), 0);
    cr_assert_eq(md_bars_flush(b, T0 + 120 * S, collect, &k), 1);
    /* vwap = (20*1 + 19*3) / 4 = 77 / 4 = 19.25; close follows arrival order. */
    expect_bar(&k.bars[0], "AAA", T0 + 60 * S, 20, 20, 19, 19, 4, 19.25, 2, T0 + 70 * S);
    md_trade after_flush = tr("AAA", T0 + 119 * S, 5, 1);
    cr_assert_eq(md_bars_add(b, &after_flush, &bar), MESH_ERANGE, "its bar was emitted");
    cr_assert_eq(md_bars_flush(b, UINT64_MAX, collect, &k), 0);
    md_bars_close(b);
}

Test(md_bars, invalid_trades_and_length)
{
    md_bars *b = (md_bars *)1;
    md_bar bar;
    cr_assert_eq(md_bars_open(&b, 0), MESH_EINVAL);
    cr_assert_null(b);
    cr_assert_eq(md_bars_open(&b, S), 0);
    md_trade t = tr("AAA", T0, 0.0, 1);
    cr_assert_eq(md_bars_add(b, &t, &bar), MESH_EINVAL, "price 0");
    t = tr("AAA", T0, 1.0, -1);
    cr_assert_eq(md_bars_add(b, &t, &bar), MESH_EINVAL, "negative size");
    t = tr("AAA", T0, NAN, 1);
    cr_assert_eq(md_bars_add(b, &t, &bar), MESH_EINVAL, "NaN price");
    t = tr("AAA", T0, 1, 1);
    memset(t.symbol, 'X', sizeof t.symbol);
    cr_assert_eq(md_bars_add(b, &t, &bar), MESH_EINVAL, "unterminated symbol");
    md_bars_close(b);
    md_bars_close(NULL);
}

/* 1000 symbols, one trade each: every bar comes out once, in order of first
 * appearance, with its own values (exercises hash-table growth). */
Test(md_bars, many_symbols_in_order_of_appearance)
{
    md_bars *b;
    md_bar bar;
    static sink k;
    char sym[16];
    cr_assert_eq(md_bars_open(&b, 60 * S), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(sym, sizeof sym, "S%d", (i * 7919) % 1000);
        md_trade t = tr(sym, T0 + (uint64_t)i, 1.0 + i, 1 + i);
        cr_assert_eq(md_bars_add(b, &t, &bar), 0);
    }
    cr_assert_eq(md_bars_flush(b, UINT64_MAX, collect, &k), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(sym, sizeof sym, "S%d", (i * 7919) % 1000);
        expect_bar(&k.bars[i], sym, T0, 1.0 + i, 1.0 + i, 1.0 + i, 1.0 + i, 1 + i, 1.0 + i, 1,
                   T0 + (uint64_t)i);
    }
    md_bars_close(b);
}

/* md_bars_next_end is kept up to date as bars open and close rather than
 * scanned: after every trade, flush and restore it must equal the earliest
 * end among the open bars of a model kept here (a symbol's bar opens with
 * its first trade in an interval, ending at the next multiple of the bar
 * length; it closes on a later trade or a flush past its end). Trades of 8
 * symbols move forward in random steps, so the earliest-ending bars close
 * one by one, in a mix of both ways. */
Test(md_bars, next_end_follows_every_open_and_close)
{
    enum { NSYM = 8, BAR = 10 };
    md_bars *b;
    cr_assert_eq(md_bars_open(&b, BAR), 0);
    uint64_t end[NSYM], ts = 1000;
    int open[NSYM] = {0};
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (int step = 0; step < 20000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int sym = (int)(x % NSYM);
        if (x % 97 == 0) { /* a flush to the current time */
            sink *k = calloc(1, sizeof(*k));
            md_bars_flush(b, ts, collect, k);
            for (int i = 0; i < NSYM; i++)
                if (open[i] && end[i] <= ts)
                    open[i] = 0;
            free(k);
        } else {
            ts += (x >> 20) % 4; /* 0..3 ns on: bars of 10 ns fill in a few trades */
            char name[8];
            snprintf(name, sizeof(name), "S%d", sym);
            md_trade t = tr(name, ts, 10, 1);
            md_bar closed;
            cr_assert_geq(md_bars_add(b, &t, &closed), 0);
            uint64_t e = ts - ts % BAR + BAR;
            open[sym] = 1;
            end[sym] = e;
        }
        if (step % 5000 == 4999) { /* a restored copy answers the same */
            unsigned char buf[4096];
            size_t len = 0;
            md_bars *c;
            cr_assert_eq(md_bars_save(b, buf, sizeof(buf), &len), 0);
            cr_assert_eq(md_bars_open(&c, BAR), 0);
            cr_assert_eq(md_bars_restore(c, buf, len), 0);
            cr_assert_eq(md_bars_next_end(c), md_bars_next_end(b));
            md_bars_close(c);
        }
        uint64_t want = UINT64_MAX;
        for (int i = 0; i < NSYM; i++)
            if (open[i] && end[i] < want)
                want = end[i];
        cr_assert_eq(md_bars_next_end(b), want, "step %d", step);
    }
    md_bars_close(b);
}
