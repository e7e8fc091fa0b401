/* mesh-features: the features engine. Live (under meshd): consumes trades,
 * builds its own time bars and publishes a FeatureVector per symbol at the
 * configured cadence. Offline (--input/--output): the same code over a CSV. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analytics.pb-c.h"
#include "engine.h"
#include "feat_engine.h"
#include "feat_offline.h"
#include "market.pb-c.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

typedef struct feat_daemon {
    feat_engine *feat;
    feat_config cfg;
    engine *eng;
    uint64_t market_now; /* latest trade time seen (all symbols) */
    uint64_t seq, vectors, rejected;
} feat_daemon;

static feat_daemon fd_state;

/* NaN (warming up) goes on the wire as 0 with its ready flag false. */
static double wire(double v)
{
    return isfinite(v) ? v : 0;
}

static void feat_publish(void *ctx, const feat_vector *v)
{
    Meshpb__FeatureVector m = MESHPB__FEATURE_VECTOR__INIT;
    m.symbol = (char *)v->symbol;
    m.ts_ns = v->ts_ns;
    m.seq = ++fd_state.seq;
    m.price = wire(isfinite(v->close) ? v->close : v->last_price);
    m.sma = wire(v->sma);
    m.ema = wire(v->ema);
    m.rsi = wire(v->rsi);
    m.macd = wire(v->macd);
    m.macd_signal = wire(v->macd_signal);
    m.macd_hist = wire(v->macd_hist);
    m.bb_upper = wire(v->bb_upper);
    m.bb_middle = wire(v->bb_mid);
    m.bb_lower = wire(v->bb_lower);
    m.atr = wire(v->atr);
    m.vwap = wire(v->vwap);
    m.realized_vol = wire(v->rvol);
    m.log_return = wire(v->log_return);
    m.sma_ready = (v->ready & FEAT_READY_SMA) != 0;
    m.ema_ready = (v->ready & FEAT_READY_EMA) != 0;
    m.rsi_ready = (v->ready & FEAT_READY_RSI) != 0;
    m.macd_ready = (v->ready & FEAT_READY_MACD_SIGNAL) != 0;
    m.bb_ready = (v->ready & FEAT_READY_BOLLINGER) != 0;
    m.atr_ready = (v->ready & FEAT_READY_ATR) != 0;
    m.vwap_ready = (v->ready & FEAT_READY_VWAP) != 0;
    m.vol_ready = (v->ready & FEAT_READY_RVOL) != 0;
    m.return_ready = (v->ready & FEAT_READY_RETURN) != 0;
    m.source = fd_state.cfg.emit_every_trades ? MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_TRADE
                                              : MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_BAR;
    m.bar_interval_ns = fd_state.cfg.bar_ns;
    fd_state.vectors++;
    int rc = engine_publish(fd_state.eng, MSG_TYPE_FEATURES, &m.base);
    if (rc != 0)
        mesh_warn("feature vector for %s not published: %s", v->symbol, mesh_strerror(rc));
}

static int feat_on_trade_msg(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    const Meshpb__Trade *t = (const Meshpb__Trade *)msg;
    int rc = feat_on_trade(fd_state.feat, t->symbol, t->ts_ns, t->price, t->size);
    if (rc != 0) {
        fd_state.rejected++; /* counted and skipped; the engine keeps running */
        return rc;
    }
    if (t->ts_ns > fd_state.market_now)
        fd_state.market_now = t->ts_ns;
    return 0;
}

/* Closes bars of quiet symbols once the market has moved past their end. */
static int feat_flush_timer(engine *e)
{
    if (fd_state.market_now != 0 && fd_state.cfg.bar_ns != 0)
        feat_flush(fd_state.feat, fd_state.market_now - fd_state.market_now % fd_state.cfg.bar_ns);
    return 0;
}

static int feat_report_timer(engine *e)
{
    mesh_info("symbols %u, feature vectors %llu, rejected trades %llu", feat_symbols(fd_state.feat),
              (unsigned long long)fd_state.vectors, (unsigned long long)fd_state.rejected);
    return 0;
}

static int feat_init(engine *e, int argc, char **argv)
{
    fd_state.eng = e;
    if (feat_cli_config(argc, argv, &fd_state.cfg) != 0)
        return MESH_EINVAL;
    fd_state.cfg.emit = feat_publish;
    const char *why = NULL;
    int rc = feat_open(&fd_state.feat, &fd_state.cfg, &why);
    if (rc != 0) {
        mesh_error("cannot start features: %s", why ? why : mesh_strerror(rc));
        return rc;
    }
    mesh_info("features: bars %.3f s, %s", (double)fd_state.cfg.bar_ns / 1e9,
              fd_state.cfg.emit_every_trades ? "a vector every N trades" : "a vector per bar");
    return 0;
}

static void feat_shutdown(engine *e)
{
    if (fd_state.feat == NULL)
        return;
    feat_report_timer(e);
    feat_close(fd_state.feat);
    fd_state.feat = NULL;
}

static const engine_handler feat_handlers[] = {{MSG_TYPE_TRADE, feat_on_trade_msg}};
static const engine_timer feat_timers[] = {{200, feat_flush_timer}, {5000, feat_report_timer}};

static const engine_def feat_def = {
    .name = "features",
    .usage = "mesh-features: incremental indicators per symbol (SMA, EMA, RSI, MACD,\n"
             "Bollinger, ATR, VWAP, realised volatility, log returns).\n"
             "Live engine: consumes trades, builds time bars and publishes FeatureVector\n"
             "messages. It takes the options listed below (not --input/--output).\n\n"
             "Offline mode (no mesh needed):\n",
    .init = feat_init,
    .handlers = feat_handlers,
    .nhandlers = 1,
    .timers = feat_timers,
    .ntimers = 2,
    .shutdown = feat_shutdown,
};

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 || strncmp(argv[i], "--input=", 8) == 0 ||
            strcmp(argv[i], "-i") == 0)
            return feat_offline_main(argc, argv);
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            /* Both modes' options, then the runtime's own --help text. */
            static engine_def help_def;
            help_def = feat_def;
            help_def.usage = feat_offline_usage;
            fputs(feat_def.usage, stdout);
            return engine_main(&help_def, argc, argv);
        }
    }
    return engine_main(&feat_def, argc, argv);
}
