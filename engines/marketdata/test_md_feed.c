/* Tests for md_feed's pacing (the monotonic time is passed in, so they are
 * deterministic): at speed 1 a replayed event is released exactly when its
 * recorded offset from the first event has elapsed, at speed k at offset / k,
 * at speed 0 all at once; bad CSV rows are logged with their line numbers and
 * skipped, or end the replay, as configured; the synthetic feed obeys the same
 * clock. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_feed.h"
#include "mesh_error.h"

#define T0 1700000000000000000ull /* feed time of the first recorded event */
#define M0 5000000000ull          /* monotonic time of the first md_feed_next */

static char dir[64];
static char csv_path[128];
static char log_path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_md_feed_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(csv_path, sizeof csv_path, "%s/trades.csv", dir);
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
}

static void teardown(void)
{
    unlink(csv_path);
    unlink(log_path);
    rmdir(dir);
}

TestSuite(md_feed, .init = setup, .fini = teardown);

static void write_csv(const char *text)
{
    FILE *f = fopen(csv_path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Offsets (ns after T0) of the recorded trades in the replay tests; the
 * third and fourth share a timestamp. */
static const uint64_t offs[5] = {0, 1000, 2500, 2500, 1000000000};

/* Writes the five trades at T0 + offs[i]: symbol S, price 10 + i, size 100 + i. */
static void write_paced_csv(void)
{
    char text[1024] = "ts_ns,symbol,price,size\n", row[128];
    for (int i = 0; i < 5; i++) {
        snprintf(row, sizeof row, "%llu,S,%d,%d\n", (unsigned long long)(T0 + offs[i]), 10 + i,
                 100 + i);
        strcat(text, row);
    }
    write_csv(text);
}

static md_feed *open_csv(double speed, md_csv_policy policy)
{
    md_feed_opts o;
    memset(&o, 0, sizeof o);
    o.kind = MD_FEED_CSV;
    o.speed = speed;
    o.csv_path = csv_path;
    o.csv_policy = policy;
    md_feed *f = NULL;
    cr_assert_eq(md_feed_open(&f, &o), 0);
    return f;
}

/* md_feed_next at now must not release anything yet. */
static void expect_not_due(md_feed *f, uint64_t now)
{
    md_event ev;
    int rc = md_feed_next(f, now, &ev);
    cr_assert_eq(rc, 0, "now M0 + %lld: rc %d, expected nothing due", (long long)(now - M0), rc);
}

/* md_feed_next at now must release recorded trade i. */
static void expect_trade(md_feed *f, uint64_t now, int i)
{
    md_event ev;
    int rc = md_feed_next(f, now, &ev);
    cr_assert_eq(rc, 1, "now M0 + %lld: rc %d, expected trade %d", (long long)(now - M0), rc, i);
    cr_assert_eq(ev.kind, MD_EVENT_TRADE);
    cr_assert_eq(ev.trade.ts_ns, T0 + offs[i], "trade %d", i);
    cr_assert_str_eq(ev.trade.symbol, "S");
    cr_assert_eq(ev.trade.price, 10.0 + i);
    cr_assert_eq(ev.trade.size, 100.0 + i);
}

static void expect_end(md_feed *f, uint64_t now)
{
    md_event ev;
    cr_assert_eq(md_feed_next(f, now, &ev), MESH_ECLOSED);
    cr_assert_eq(md_feed_next(f, now + 1000000000ull, &ev), MESH_ECLOSED);
}

Test(md_feed, speed_one_releases_each_event_when_its_recorded_offset_has_elapsed)
{
    write_paced_csv();
    md_feed *f = open_csv(1.0, MD_CSV_SKIP);
    cr_assert_eq(md_feed_time(f, M0), 0, "no feed time before the first event");
    /* the first call starts the clock: trade 0 is due at once */
    expect_trade(f, M0, 0);
    cr_assert_eq(md_feed_time(f, M0), T0);
    cr_assert_eq(md_feed_time(f, M0 + 777), T0 + 777);
    expect_not_due(f, M0);
    expect_not_due(f, M0 + 999);
    expect_trade(f, M0 + 1000, 1);
    expect_not_due(f, M0 + 2499);
    expect_trade(f, M0 + 2500, 2);
    expect_trade(f, M0 + 2500, 3); /* same recorded time: same release time */
    expect_not_due(f, M0 + 2500);
    expect_not_due(f, M0 + 999999999);
    expect_trade(f, M0 + 1000000000, 4);
    expect_end(f, M0 + 1000000000);
    md_feed_stats st;
    md_feed_stats_get(f, &st);
    cr_assert_eq(st.trades, 5);
    cr_assert_eq(st.quotes, 0);
    cr_assert_eq(st.bad_rows, 0);
    md_feed_close(f);
}

Test(md_feed, late_calls_release_every_event_already_due_in_order)
{
    /* a caller that polls late gets the backlog at once, in recorded order */
    write_paced_csv();
    md_feed *f = open_csv(1.0, MD_CSV_SKIP);
    expect_trade(f, M0, 0);
    for (int i = 1; i < 4; i++)
        expect_trade(f, M0 + 5000, i);
    expect_not_due(f, M0 + 5000);
    expect_trade(f, M0 + 2000000000, 4);
    expect_end(f, M0 + 2000000000);
    md_feed_close(f);
}

Test(md_feed, speed_k_releases_each_event_at_its_offset_over_k)
{
    /* speed 2.5: offset d is due once (now - M0) * 2.5 >= d, i.e. at d / 2.5:
     * 1000 -> 400, 2500 -> 1000, 1e9 -> 4e8 (2.5 and these products are
     * exact in binary) */
    write_paced_csv();
    md_feed *f = open_csv(2.5, MD_CSV_SKIP);
    expect_trade(f, M0, 0);
    cr_assert_eq(md_feed_time(f, M0 + 400), T0 + 1000);
    expect_not_due(f, M0 + 399);
    expect_trade(f, M0 + 400, 1);
    expect_not_due(f, M0 + 999);
    expect_trade(f, M0 + 1000, 2);
    expect_trade(f, M0 + 1000, 3);
    expect_not_due(f, M0 + 399999999);
    expect_trade(f, M0 + 400000000, 4);
    expect_end(f, M0 + 400000000);
    md_feed_close(f);

    /* speed 0.5 (slower than recorded): offset d is due at 2 d */
    f = open_csv(0.5, MD_CSV_SKIP);
    expect_trade(f, M0, 0);
    expect_not_due(f, M0 + 1999);
    expect_trade(f, M0 + 2000, 1);
    expect_not_due(f, M0 + 4999);
    expect_trade(f, M0 + 5000, 2);
    expect_trade(f, M0 + 5000, 3);
    expect_not_due(f, M0 + 1999999999);
    expect_trade(f, M0 + 2000000000, 4);
    expect_end(f, M0 + 2000000000);
    md_feed_close(f);
}

Test(md_feed, speed_zero_releases_everything_at_once)
{
    write_paced_csv();
    md_feed *f = open_csv(0.0, MD_CSV_SKIP);
    for (int i = 0; i < 5; i++)
        expect_trade(f, M0, i);
    cr_assert_eq(md_feed_time(f, M0), UINT64_MAX, "as fast as possible: every bar may close");
    expect_end(f, M0);
    md_feed_close(f);
}

/* Runs fn with stderr (where mesh_log writes) sent to log_path; returns the
 * log text (caller frees). */
static char *with_captured_log(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    cr_assert(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    fn(arg);
    fflush(stderr);
    cr_assert(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    char *text = calloc(1, 1 << 16);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Lines: 1 header, 2 good (T0), 3 good (T0 + 1 s), 4 price not a number,
 * 5 good (T0 + 2 s), 6 four fields expected, 7 good (T0 + 3 s). */
static const char bad_csv[] = "ts_ns,symbol,price,size\n"
                              "1700000000000000000,S,10,100\n"
                              "1700000001000000000,S,11,101\n"
                              "1700000001500000000,S,abc,5\n"
                              "1700000002000000000,S,12,102\n"
                              "1700000002500000000,S,13\n"
                              "1700000003000000000,S,14,103\n";

typedef struct replay {
    md_csv_policy policy;
    double px[8];
    int n, end_rc;
    md_feed_stats st;
} replay;

/* Replays bad_csv as fast as possible until it ends; records the prices. */
static void replay_bad_csv(void *arg)
{
    replay *r = arg;
    md_feed *f = open_csv(0.0, r->policy);
    md_event ev;
    int rc;
    while ((rc = md_feed_next(f, M0, &ev)) == 1 && r->n < 8)
        r->px[r->n++] = ev.trade.price;
    r->end_rc = rc;
    md_feed_stats_get(f, &r->st);
    md_feed_close(f);
}

Test(md_feed, bad_rows_are_logged_with_their_line_and_skipped)
{
    write_csv(bad_csv);
    replay r = {.policy = MD_CSV_SKIP};
    char *log = with_captured_log(replay_bad_csv, &r);
    cr_assert_eq(r.end_rc, MESH_ECLOSED);
    cr_assert_eq(r.n, 4, "the four good rows, got %d", r.n);
    const double want[4] = {10, 11, 12, 14};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(r.px[i], want[i], "trade %d", i);
    cr_assert_eq(r.st.trades, 4);
    cr_assert_eq(r.st.bad_rows, 2);
    char where[192];
    snprintf(where, sizeof where, "%s:4: ", csv_path);
    cr_assert_not_null(strstr(log, where), "log lacks '%s':\n%s", where, log);
    cr_assert_not_null(strstr(log, "(row skipped)"), "%s", log);
    snprintf(where, sizeof where, "%s:6: ", csv_path);
    cr_assert_not_null(strstr(log, where), "log lacks '%s':\n%s", where, log);
    cr_assert_null(strstr(log, ":7: "), "%s", log);
    free(log);
}

Test(md_feed, a_bad_row_stops_the_replay_at_its_line)
{
    write_csv(bad_csv);
    replay r = {.policy = MD_CSV_STOP};
    char *log = with_captured_log(replay_bad_csv, &r);
    cr_assert_eq(r.end_rc, MESH_ECLOSED);
    cr_assert_eq(r.n, 2, "only the rows before line 4, got %d", r.n);
    cr_assert_eq(r.px[0], 10);
    cr_assert_eq(r.px[1], 11);
    cr_assert_eq(r.st.trades, 2);
    cr_assert_eq(r.st.bad_rows, 1);
    char where[192];
    snprintf(where, sizeof where, "%s:4: ", csv_path);
    cr_assert_not_null(strstr(log, where), "log lacks '%s':\n%s", where, log);
    cr_assert_not_null(strstr(log, "replay stopped"), "%s", log);
    cr_assert_null(strstr(log, ":6: "), "nothing read after the stop:\n%s", log);
    free(log);
}

Test(md_feed, unreadable_or_malformed_csv_fails_to_open)
{
    md_feed_opts o;
    memset(&o, 0, sizeof o);
    o.kind = MD_FEED_CSV;
    o.speed = 1;
    o.csv_path = "/nonexistent/trades.csv";
    static char sentinel;
    md_feed *f = (md_feed *)&sentinel; /* must be reset to NULL on failure */
    cr_assert_lt(md_feed_open(&f, &o), 0);
    cr_assert_null(f);
    write_csv("time,sym,px,qty\n1,S,1,1\n");
    o.csv_path = csv_path;
    cr_assert_eq(md_feed_open(&f, &o), MESH_ECSV);
    cr_assert_null(f);
}

Test(md_feed, synthetic_feed_releases_events_by_the_same_clock)
{
    /* Speed 10: at every poll (1 ms of monotonic time apart) the events handed
     * out have feed time <= T_first + 10 x elapsed, and the event the feed
     * holds back is later than that; over 2 s of monotonic time every event
     * of the first 20 feed seconds comes out. */
    md_feed_opts o;
    memset(&o, 0, sizeof o);
    o.kind = MD_FEED_SYNTHETIC;
    o.speed = 10;
    md_synth_default_params(&o.synth);
    o.synth.n_symbols = 2;
    o.synth.trade_rate_hz = 200;
    o.synth.quote_rate_hz = 100;
    md_feed *f = NULL;
    cr_assert_eq(md_feed_open(&f, &o), 0);
    md_event ev;
    cr_assert_eq(md_feed_next(f, M0, &ev), 1);
    uint64_t origin = ev.kind == MD_EVENT_TRADE ? ev.trade.ts_ns : ev.quote.ts_ns, last = origin;
    cr_assert_geq(origin, o.synth.start_ts_ns);
    long events = 1;
    int rc;
    for (uint64_t ms = 0; ms <= 2000; ms++) {
        uint64_t now = M0 + ms * 1000000ull, due = origin + ms * 10000000ull;
        cr_assert_eq(md_feed_time(f, now), due);
        while ((rc = md_feed_next(f, now, &ev)) == 1) {
            uint64_t ts = ev.kind == MD_EVENT_TRADE ? ev.trade.ts_ns : ev.quote.ts_ns;
            cr_assert(ts <= due, "event at +%llu ns released at feed +%llu ns",
                      (unsigned long long)(ts - origin), (unsigned long long)(due - origin));
            cr_assert_geq(ts, last);
            last = ts;
            events++;
        }
        cr_assert_eq(rc, 0, "nothing due is 0, not an error");
    }
    /* 20 feed seconds at 300 events/s: 6000 expected, Poisson sd ~77 */
    cr_assert(events > 5600 && events < 6400, "%ld events", events);
    md_feed_stats st;
    md_feed_stats_get(f, &st);
    cr_assert_eq((long)(st.trades + st.quotes), events);
    md_feed_close(f);
}
