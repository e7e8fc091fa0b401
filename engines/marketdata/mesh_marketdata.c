/* mesh-marketdata: the market-data engine daemon. Publishes normalised trades,
 * quotes and time bars from the built-in synthetic market (default) or a CSV
 * replay, paced against the wall clock. Checkpoints its feed and bars so a
 * restart after a kill continues the same market (md_ckpt.c). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "market.pb-c.h"
#include "md_daemon.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

#define MD_TICK_MS      2
#define MD_MAX_PER_TICK 100000 /* bounds one tick when running unthrottled */

md_daemon md_state;

static const char md_usage[] =
    "mesh-marketdata: publishes trades, quotes and time bars.\n"
    "  --feed synthetic|csv     source (default synthetic: the built-in market)\n"
    "  --csv FILE               CSV to replay (columns ts_ns,symbol,price,size; header row)\n"
    "  --csv-errors skip|stop   a bad row is logged with its line and skipped (default) or ends "
    "the replay\n"
    "  --speed X                feed seconds per wall second (default 1; 0 = as fast as possible)\n"
    "  --rate N                 synthetic trades per feed second, all symbols (default 2000)\n"
    "  --quote-rate N           synthetic quotes per feed second (default 4000)\n"
    "  --no-quotes              do not publish quotes\n"
    "  --symbols N              synthetic symbols (default 8)\n"
    "  --seed N                 synthetic seed (default 1; same seed = same market)\n"
    "  --episode-first S        first informed-trading episode, feed seconds after start (default "
    "600)\n"
    "  --episode-len S          episode length in feed seconds (default 300)\n"
    "  --episode-period S       seconds between episode starts (default 1800)\n"
    "  --episode-stagger S      shift of each next symbol's schedule (default 180)\n"
    "  --informed F             share of trades on the informed side in an episode (default 0.88)\n"
    "  --episode-move M         log-price drift over one episode (default 0.005)\n"
    "  --bar-seconds B          time bar length (default 1)\n"
    "  --start-ts NS            synthetic market's start, ns since the Unix epoch (default: "
    "now,\n"
    "                           whole seconds)\n"
    "  --checkpoint-ms N        save the feed and bars at most every N ms while publishing "
    "(and\n"
    "                           before bars close), so a restart continues the market "
    "(default\n"
    "                           20; 0 = no checkpoints: a restart starts a new market)\n";

static int parse_double(const char *s, const char *what, double min, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || v < min) {
        mesh_error("bad %s '%s': expected a number >= %g", what, s, min);
        return MESH_EINVAL;
    }
    *out = v;
    return 0;
}

/* A whole number of ns (exactly: a double would round past 2^53). */
static int parse_ns(const char *s, const char *what, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || *s < '0' || *s > '9') {
        mesh_error("bad %s '%s': expected ns since the Unix epoch (a whole number)", what, s);
        return MESH_EINVAL;
    }
    *out = v;
    return 0;
}

enum {
    OPT_FEED = 256,
    OPT_CSV,
    OPT_CSV_ERRORS,
    OPT_SPEED,
    OPT_RATE,
    OPT_QRATE,
    OPT_NOQ,
    OPT_SYMBOLS,
    OPT_SEED,
    OPT_EP_FIRST,
    OPT_EP_LEN,
    OPT_EP_PERIOD,
    OPT_EP_STAGGER,
    OPT_BAR,
    OPT_INFORMED,
    OPT_MOVE,
    OPT_START,
    OPT_CKPT
};

static const struct option md_options[] = {
    {"feed", required_argument, 0, OPT_FEED},
    {"csv", required_argument, 0, OPT_CSV},
    {"csv-errors", required_argument, 0, OPT_CSV_ERRORS},
    {"speed", required_argument, 0, OPT_SPEED},
    {"rate", required_argument, 0, OPT_RATE},
    {"quote-rate", required_argument, 0, OPT_QRATE},
    {"no-quotes", no_argument, 0, OPT_NOQ},
    {"symbols", required_argument, 0, OPT_SYMBOLS},
    {"seed", required_argument, 0, OPT_SEED},
    {"episode-first", required_argument, 0, OPT_EP_FIRST},
    {"episode-len", required_argument, 0, OPT_EP_LEN},
    {"episode-period", required_argument, 0, OPT_EP_PERIOD},
    {"episode-stagger", required_argument, 0, OPT_EP_STAGGER},
    {"bar-seconds", required_argument, 0, OPT_BAR},
    {"informed", required_argument, 0, OPT_INFORMED},
    {"episode-move", required_argument, 0, OPT_MOVE},
    {"start-ts", required_argument, 0, OPT_START},
    {"checkpoint-ms", required_argument, 0, OPT_CKPT},
    {0, 0, 0, 0},
};

/* Applies one option to *o; returns 0 or MESH_EINVAL (logged). */
static int md_apply_option(int c, const char *arg, md_feed_opts *o, double *bar_s, int *quotes)
{
    double v = 0;
    int rc = 0;
    switch (c) {
    case OPT_FEED:
        if (strcmp(arg, "synthetic") == 0)
            o->kind = MD_FEED_SYNTHETIC;
        else if (strcmp(arg, "csv") == 0)
            o->kind = MD_FEED_CSV;
        else {
            mesh_error("bad --feed '%s': expected synthetic or csv", arg);
            rc = MESH_EINVAL;
        }
        return rc;
    case OPT_CSV:
        o->kind = MD_FEED_CSV;
        o->csv_path = arg;
        return 0;
    case OPT_CSV_ERRORS:
        if (strcmp(arg, "skip") != 0 && strcmp(arg, "stop") != 0) {
            mesh_error("bad --csv-errors '%s': expected skip or stop", arg);
            return MESH_EINVAL;
        }
        o->csv_policy = strcmp(arg, "stop") == 0 ? MD_CSV_STOP : MD_CSV_SKIP;
        return 0;
    case OPT_NOQ:
        *quotes = 0;
        return 0;
    case OPT_START:
        return parse_ns(arg, "--start-ts", &o->synth.start_ts_ns);
    case OPT_SPEED:
        return parse_double(arg, "--speed", 0, &o->speed);
    case OPT_RATE:
        return parse_double(arg, "--rate", 1e-9, &o->synth.trade_rate_hz);
    case OPT_QRATE:
        return parse_double(arg, "--quote-rate", 0, &o->synth.quote_rate_hz);
    case OPT_BAR:
        return parse_double(arg, "--bar-seconds", 1e-3, bar_s);
    case OPT_INFORMED:
        return parse_double(arg, "--informed", 0.5, &o->synth.informed_fraction);
    case OPT_MOVE:
        return parse_double(arg, "--episode-move", 0, &o->synth.episode_move);
    }
    if ((rc = parse_double(arg, "option value", 0, &v)) != 0)
        return rc;
    switch (c) {
    case OPT_SYMBOLS:
        o->synth.n_symbols = (uint32_t)v;
        break;
    case OPT_SEED:
        o->synth.seed = (uint64_t)v;
        break;
    case OPT_EP_FIRST:
        o->synth.episode.first_ns = (uint64_t)(v * 1e9);
        break;
    case OPT_EP_LEN:
        o->synth.episode.len_ns = (uint64_t)(v * 1e9);
        break;
    case OPT_EP_PERIOD:
        o->synth.episode.period_ns = (uint64_t)(v * 1e9);
        break;
    case OPT_EP_STAGGER:
        o->synth.episode_stagger_ns = (uint64_t)(v * 1e9);
        break;
    case OPT_CKPT:
        if (v > 3600000) {
            mesh_error("bad --checkpoint-ms '%s': expected 0..3600000", arg);
            return MESH_EINVAL;
        }
        md_state.ckpt_ms = (uint32_t)v;
        break;
    default:
        return MESH_EINVAL;
    }
    return 0;
}

static int md_init(engine *e, int argc, char **argv)
{
    md_feed_opts o;
    memset(&o, 0, sizeof(o));
    o.kind = MD_FEED_SYNTHETIC;
    o.speed = 1;
    md_synth_default_params(&o.synth);
    o.synth.start_ts_ns = mesh_wall_ns() / 1000000000ull * 1000000000ull;
    md_state.ckpt_ms = MD_CKPT_MS_DEFAULT;
    double bar_s = 1;
    int quotes = 1, c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", md_options, NULL)) != -1) {
        if (c == '?' || (rc = md_apply_option(c, optarg, &o, &bar_s, &quotes)) != 0)
            return MESH_EINVAL;
    }
    if (optind < argc) {
        mesh_error("unexpected argument '%s' (see --help)", argv[optind]);
        return MESH_EINVAL;
    }
    if (o.kind == MD_FEED_CSV && o.csv_path == NULL) {
        mesh_error("--feed csv needs --csv FILE");
        return MESH_EINVAL;
    }
    md_state.bar_ns = (uint64_t)(bar_s * 1e9);
    md_state.quotes = quotes;
    md_state.venue = o.kind == MD_FEED_CSV ? "csv" : "synthetic";
    md_state.opts = o;
    if ((rc = md_feed_open(&md_state.feed, &o)) != 0)
        return rc;
    if ((rc = md_bars_open(&md_state.bars, md_state.bar_ns)) != 0)
        return rc;
    mesh_info("feed %s at speed %g, bars of %g s, checkpoints %s", md_state.venue, o.speed, bar_s,
              md_state.ckpt_ms ? "on" : "off");
    return md_resume(e);
}

static int md_publish_trade(engine *e, const md_trade *t)
{
    Meshpb__Trade m = MESHPB__TRADE__INIT;
    m.symbol = (char *)t->symbol;
    m.ts_ns = t->ts_ns;
    m.seq = ++md_state.seq;
    m.price = t->price;
    m.size = t->size;
    m.aggressor = t->aggressor > 0   ? MESHPB__SIDE__SIDE_BUY
                  : t->aggressor < 0 ? MESHPB__SIDE__SIDE_SELL
                                     : MESHPB__SIDE__SIDE_UNSPECIFIED;
    m.venue = (char *)md_state.venue;
    m.trade_id = md_state.seq;
    m.recv_ts_ns = mesh_wall_ns(); /* publish time: consumers measure feed latency from it */
    return engine_publish(e, MSG_TYPE_TRADE, &m.base);
}

static int md_publish_quote(engine *e, const md_quote *q)
{
    Meshpb__Quote m = MESHPB__QUOTE__INIT;
    m.symbol = (char *)q->symbol;
    m.ts_ns = q->ts_ns;
    m.seq = ++md_state.seq;
    m.bid_price = q->bid;
    m.bid_size = q->bid_size;
    m.ask_price = q->ask;
    m.ask_size = q->ask_size;
    m.venue = (char *)md_state.venue;
    m.recv_ts_ns = mesh_wall_ns();
    return engine_publish(e, MSG_TYPE_QUOTE, &m.base);
}

void md_publish_bar(void *ctx, const md_bar *b)
{
    Meshpb__Bar m = MESHPB__BAR__INIT;
    m.symbol = (char *)b->symbol;
    m.ts_ns = b->end_ts_ns;
    m.seq = ++md_state.seq;
    m.start_ts_ns = b->start_ts_ns;
    m.interval_ns = md_state.bar_ns;
    m.open = b->open;
    m.high = b->high;
    m.low = b->low;
    m.close = b->close;
    m.volume = b->volume;
    m.vwap = b->vwap;
    m.trade_count = b->trades;
    int rc = engine_publish((engine *)ctx, MSG_TYPE_BAR, &m.base);
    if (rc != 0)
        mesh_warn("bar %s not published: %s", b->symbol, mesh_strerror(rc));
}

static int md_on_event(engine *e, const md_event *ev)
{
    if (ev->kind == MD_EVENT_QUOTE)
        return md_state.quotes ? md_publish_quote(e, &ev->quote) : 0;
    md_bar closed;
    int rc = md_bars_add(md_state.bars, &ev->trade, &closed);
    if (rc == 1)
        md_publish_bar(e, &closed);
    else if (rc < 0)
        mesh_warn("trade %s at %llu not in a bar: %s", ev->trade.symbol,
                  (unsigned long long)ev->trade.ts_ns, mesh_strerror(rc));
    return md_publish_trade(e, &ev->trade);
}

int md_handle_event(engine *e, const md_event *ev)
{
    int rc = md_on_event(e, ev);
    if (rc != 0)
        return rc;
    md_state.events++; /* fully published: a restart replays up to here */
    if (md_state.ckpt_ms)
        engine_state_mark(e, md_state.events);
    return 0;
}

/* Publishes every event due now, checkpoints, then closes bars whose
 * interval ended (the checkpoint records up to where, so a restart closes
 * the same bars: see md_ckpt.c). */
static int md_tick(engine *e)
{
    if (md_state.ended)
        return 0;
    uint64_t now = engine_now_ns(e);
    md_event ev;
    int rc = 0;
    for (int n = 0; n < MD_MAX_PER_TICK && !engine_stopping(e); n++) {
        rc = md_feed_next(md_state.feed, now, &ev);
        if (rc != 1)
            break;
        if ((rc = md_handle_event(e, &ev)) != 0)
            return rc;
    }
    uint64_t flush_to = 0;
    if (rc == MESH_ECLOSED) {
        md_state.ended = 1;
        flush_to = UINT64_MAX;
    } else {
        uint64_t feed_now = md_feed_time(md_state.feed, now);
        if (feed_now != 0 && feed_now != UINT64_MAX)
            flush_to = feed_now;
    }
    md_checkpoint(e, now, flush_to);
    if (flush_to)
        md_bars_flush(md_state.bars, flush_to, md_publish_bar, e);
    if (md_state.ended)
        mesh_info("feed ended; engine stays up (idle) until stopped");
    return rc < 0 && rc != MESH_ECLOSED ? rc : 0;
}

static void md_shutdown(engine *e)
{
    if (md_state.feed == NULL)
        return;
    md_feed_stats st;
    md_feed_stats_get(md_state.feed, &st);
    mesh_info("published %llu trades, %llu quotes; %llu bad CSV rows",
              (unsigned long long)st.trades, (unsigned long long)st.quotes,
              (unsigned long long)st.bad_rows);
    md_checkpoint_report();
    md_bars_close(md_state.bars);
    md_feed_close(md_state.feed);
    free(md_state.ckpt);
}

static const engine_timer md_timers[] = {{MD_TICK_MS, md_tick}};

static const engine_def md_def = {
    .name = "marketdata",
    .usage = md_usage,
    .init = md_init,
    .timers = md_timers,
    .ntimers = 1,
    .shutdown = md_shutdown,
};

int main(int argc, char **argv)
{
    return engine_main(&md_def, argc, argv);
}
