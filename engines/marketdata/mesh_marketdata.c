/* mesh-marketdata: the market-data engine daemon. Publishes normalised trades,
 * quotes and time bars from the built-in synthetic market (default) or a CSV
 * replay, paced against the wall clock. Checkpoints its feed and bars so a
 * restart after a kill continues the same market (md_ckpt.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "market.pb-c.h"
#include "md_daemon.h"
#include "md_opts.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

#define MD_TICK_MS      2
#define MD_MAX_PER_TICK 100000 /* bounds one tick when running unthrottled */

md_daemon md_state;

static int md_init(engine *e, int argc, char **argv)
{
    md_opts o;
    char err[256];
    int rc;
    md_opts_default(&o, mesh_wall_ns() / 1000000000ull * 1000000000ull);
    if (md_opts_parse(&o, argc, argv, err, sizeof(err)) != 0) {
        mesh_error("%s", err);
        return MESH_EINVAL;
    }
    md_state.ckpt_ms = o.ckpt_ms;
    md_state.bar_ns = o.bar_ns;
    md_state.quotes = o.quotes;
    md_state.venue = o.feed.kind == MD_FEED_CSV ? "csv" : "synthetic";
    md_state.opts = o.feed;
    if ((rc = md_feed_open(&md_state.feed, &o.feed)) != 0)
        return rc;
    if ((rc = md_bars_open(&md_state.bars, md_state.bar_ns)) != 0)
        return rc;
    mesh_info("feed %s at speed %g, bars of %g s, checkpoints %s", md_state.venue, o.feed.speed,
              o.bar_s, md_state.ckpt_ms ? "on" : "off");
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
    .usage = md_opts_usage,
    .init = md_init,
    .timers = md_timers,
    .ntimers = 1,
    .shutdown = md_shutdown,
};

int main(int argc, char **argv)
{
    return engine_main(&md_def, argc, argv);
}
