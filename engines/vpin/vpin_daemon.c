/* mesh-vpin: the VPIN engine. Live (under meshd): consumes trades, publishes a
 * VpinUpdate per completed volume bucket and logs toxicity alerts. Offline
 * (--input/--output): the same engine code over a trades CSV. */
#include <stdio.h>
#include <string.h>

#include "analytics.pb-c.h"
#include "engine.h"
#include "market.pb-c.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_hist.h"
#include "mesh_log.h"
#include "msg_registry.h"
#include "vpin.h"
#include "vpin_offline.h"

#define VPIN_REPORT_MS 5000

typedef struct vpin_daemon {
    vpin_engine *vpin;
    vpin_params params;
    engine *eng;
    uint64_t market_now; /* latest trade time seen (all symbols) */
    uint64_t seq, buckets, alerts, rejected;
    mesh_hist feed_latency; /* marketdata publish -> this handler, wall-clock ns */
} vpin_daemon;

static vpin_daemon vd;

static void vpin_publish(void *ctx, const vpin_bucket *b)
{
    vd.buckets++;
    if (!b->vpin_ready)
        return;
    Meshpb__VpinUpdate m = MESHPB__VPIN_UPDATE__INIT;
    m.symbol = (char *)b->symbol;
    m.ts_ns = mesh_wall_ns();
    m.seq = ++vd.seq;
    m.bucket_index = b->index;
    m.bucket_end_ts_ns = b->end_ts_ns;
    m.bucket_volume = vd.params.bucket_volume;
    m.buy_volume = b->buy_volume;
    m.sell_volume = b->sell_volume;
    m.vpin = b->vpin;
    m.vpin_cdf = b->cdf_ready ? b->cdf : 0;
    m.alert = b->alert != 0;
    m.alert_threshold = vd.params.alert_threshold;
    m.window_buckets = vd.params.window;
    m.kyle_lambda = b->lambda_ready ? b->lambda : 0;
    m.ready = 1;
    if (b->alert_onset) {
        vd.alerts++;
        mesh_warn("TOXICITY ALERT %s: vpin %.3f, cdf %.3f >= %.2f (bucket %llu)", b->symbol,
                  b->vpin, b->cdf, vd.params.alert_threshold, (unsigned long long)b->index);
    }
    int rc = engine_publish(vd.eng, MSG_TYPE_VPIN, &m.base);
    if (rc != 0)
        mesh_warn("vpin update for %s not published: %s", b->symbol, mesh_strerror(rc));
}

static int vpin_on_trade_msg(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    const Meshpb__Trade *t = (const Meshpb__Trade *)msg;
    uint64_t wall = mesh_wall_ns();
    if (t->recv_ts_ns != 0 && wall >= t->recv_ts_ns)
        mesh_hist_record(&vd.feed_latency, wall - t->recv_ts_ns);
    int side = t->aggressor == MESHPB__SIDE__SIDE_BUY    ? 1
               : t->aggressor == MESHPB__SIDE__SIDE_SELL ? -1
                                                         : 0; /* unknown: tick rule */
    int rc = vpin_on_trade_side(vd.vpin, t->symbol, t->ts_ns, t->price, t->size, side);
    if (rc != 0) {
        /* Counted and skipped: a late or invalid trade must not stop the engine. */
        vd.rejected++;
        return rc;
    }
    if (t->ts_ns > vd.market_now)
        vd.market_now = t->ts_ns;
    return 0;
}

/* Closes bars of quiet symbols once the market (latest trade of any symbol)
 * has moved past their end, so their buckets do not wait for their next trade. */
static int vpin_flush_timer(engine *e)
{
    if (vd.market_now != 0)
        vpin_flush(vd.vpin, vd.market_now - vd.market_now % vd.params.bar_ns);
    return 0;
}

static int vpin_report_timer(engine *e)
{
    mesh_info("symbols %u, buckets %llu, alerts %llu, rejected trades %llu, "
              "feed latency p50 %llu ns p99 %llu ns (n=%llu)",
              vpin_symbols(vd.vpin), (unsigned long long)vd.buckets, (unsigned long long)vd.alerts,
              (unsigned long long)vd.rejected,
              (unsigned long long)mesh_hist_percentile(&vd.feed_latency, 50),
              (unsigned long long)mesh_hist_percentile(&vd.feed_latency, 99),
              (unsigned long long)vd.feed_latency.count);
    return 0;
}

static int vpin_init(engine *e, int argc, char **argv)
{
    vd.eng = e;
    mesh_hist_reset(&vd.feed_latency);
    if (vpin_cli_params(argc, argv, &vd.params) != 0)
        return MESH_EINVAL;
    const char *why = NULL;
    int rc = vpin_open(&vd.vpin, &vd.params, vpin_publish, NULL, &why);
    if (rc != 0) {
        mesh_error("cannot start VPIN: %s", why ? why : mesh_strerror(rc));
        return rc;
    }
    mesh_info("VPIN: bars %.3f s, bucket volume %g, window %u, sigma bars %u (min %u), "
              "alert at CDF >= %.2f",
              (double)vd.params.bar_ns / 1e9, vd.params.bucket_volume, vd.params.window,
              vd.params.sigma_bars, vd.params.min_sigma_bars, vd.params.alert_threshold);
    return 0;
}

static void vpin_shutdown(engine *e)
{
    if (vd.vpin == NULL)
        return;
    vpin_report_timer(e);
    vpin_close(vd.vpin);
    vd.vpin = NULL;
}

static const engine_handler vpin_handlers[] = {{MSG_TYPE_TRADE, vpin_on_trade_msg}};
static const engine_timer vpin_timers[] = {{200, vpin_flush_timer},
                                           {VPIN_REPORT_MS, vpin_report_timer}};

static const engine_def vpin_def = {
    .name = "vpin",
    .usage = "mesh-vpin: VPIN (Easley, Lopez de Prado, O'Hara 2012) per symbol.\n"
             "Live engine: consumes trades, publishes one VpinUpdate per completed bucket\n"
             "once the window is full, and logs an alert when CDF(VPIN) crosses the\n"
             "threshold. It takes the VPIN options listed below (not --input/--output).\n\n"
             "Offline mode (no mesh needed):\n",
    .init = vpin_init,
    .handlers = vpin_handlers,
    .nhandlers = 1,
    .timers = vpin_timers,
    .ntimers = 2,
    .shutdown = vpin_shutdown,
};

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 || strncmp(argv[i], "--input=", 8) == 0 ||
            strcmp(argv[i], "-i") == 0)
            return vpin_offline_main(argc, argv);
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            /* Both modes' options, then the runtime's own --help text. */
            static engine_def help_def;
            help_def = vpin_def;
            help_def.usage = vpin_offline_usage;
            fputs(vpin_def.usage, stdout);
            return engine_main(&help_def, argc, argv);
        }
    }
    return engine_main(&vpin_def, argc, argv);
}
