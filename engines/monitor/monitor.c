/* mesh-monitor: a console engine for people watching a mesh. Subscribes to
 * VPIN updates and feature vectors and prints one table per period: per
 * symbol the latest price, RSI, VWAP, realised volatility, VPIN, its CDF and
 * whether a toxicity alert is on. Its input rings are also what
 * `meshctl tail vpin|features` reads. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.pb-c.h"
#include "engine.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_registry.h"

#define MON_MAX_SYMBOLS 64

typedef struct mon_symbol {
    char name[16];
    double price, rsi, vwap, rvol;
    double vpin, cdf;
    int rsi_ready, vwap_ready, rvol_ready, vpin_ready, alert;
    uint64_t buckets;
} mon_symbol;

typedef struct mon_state {
    mon_symbol sym[MON_MAX_SYMBOLS];
    int nsym;
    uint64_t overflow; /* updates for symbols past MON_MAX_SYMBOLS (not shown) */
} mon_state;

static mon_state mon;

/* Entry for `symbol`, created on first sight; NULL when the table is full. */
static mon_symbol *mon_find(const char *symbol)
{
    for (int i = 0; i < mon.nsym; i++)
        if (strcmp(mon.sym[i].name, symbol) == 0)
            return &mon.sym[i];
    if (mon.nsym == MON_MAX_SYMBOLS) {
        mon.overflow++;
        return NULL;
    }
    mon_symbol *s = &mon.sym[mon.nsym++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", symbol);
    return s;
}

static int mon_on_vpin(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    const Meshpb__VpinUpdate *v = (const Meshpb__VpinUpdate *)msg;
    mon_symbol *s = mon_find(v->symbol);
    if (s == NULL)
        return 0;
    s->vpin = v->vpin;
    s->cdf = v->vpin_cdf;
    s->vpin_ready = v->ready;
    s->alert = v->alert;
    s->buckets = v->bucket_index + 1;
    return 0;
}

static int mon_on_features(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    const Meshpb__FeatureVector *f = (const Meshpb__FeatureVector *)msg;
    mon_symbol *s = mon_find(f->symbol);
    if (s == NULL)
        return 0;
    s->price = f->price;
    s->rsi = f->rsi;
    s->rsi_ready = f->rsi_ready;
    s->vwap = f->vwap;
    s->vwap_ready = f->vwap_ready;
    s->rvol = f->realized_vol;
    s->rvol_ready = f->vol_ready;
    return 0;
}

/* Formats v into buf, or "-" while not ready. */
static const char *mon_num(char *buf, size_t len, int ready, const char *fmt, double v)
{
    if (!ready)
        return "-";
    snprintf(buf, len, fmt, v);
    return buf;
}

static int mon_print(engine *e)
{
    if (mon.nsym == 0)
        return 0;
    mesh_info("%-8s %10s %6s %10s %8s %6s %6s %8s", "SYMBOL", "PRICE", "RSI", "VWAP", "RVOL",
              "VPIN", "CDF", "");
    for (int i = 0; i < mon.nsym; i++) {
        const mon_symbol *s = &mon.sym[i];
        char p[32], r[32], w[32], v[32], q[32], c[32];
        mesh_info("%-8s %10s %6s %10s %8s %6s %6s %8s", s->name,
                  mon_num(p, sizeof(p), s->price > 0, "%.2f", s->price),
                  mon_num(r, sizeof(r), s->rsi_ready, "%.1f", s->rsi),
                  mon_num(w, sizeof(w), s->vwap_ready, "%.2f", s->vwap),
                  mon_num(q, sizeof(q), s->rvol_ready, "%.5f", s->rvol),
                  mon_num(v, sizeof(v), s->vpin_ready, "%.3f", s->vpin),
                  mon_num(c, sizeof(c), s->vpin_ready, "%.3f", s->cdf), s->alert ? "ALERT" : "");
    }
    if (mon.overflow)
        mesh_warn("%llu updates for symbols beyond the first %d were not shown",
                  (unsigned long long)mon.overflow, MON_MAX_SYMBOLS);
    return 0;
}

static const engine_handler mon_handlers[] = {
    {MSG_TYPE_VPIN, mon_on_vpin},
    {MSG_TYPE_FEATURES, mon_on_features},
};

static engine_timer mon_timers[] = {{2000, mon_print}};

static int mon_init(engine *e, int argc, char **argv)
{
    static const struct option opts[] = {{"period-ms", required_argument, 0, 'p'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        long v = c == 'p' ? strtol(optarg, &end, 10) : 0;
        if (c != 'p' || *end != '\0' || v < 100 || v > 3600000) {
            mesh_error("bad option (see --help): --period-ms takes 100..3600000");
            return MESH_EINVAL;
        }
        mon_timers[0].period_ms = (uint32_t)v;
    }
    return 0;
}

static const engine_def mon_def = {
    .name = "monitor",
    .usage = "mesh-monitor: prints a per-symbol table of the latest features and VPIN.\n"
             "  --period-ms N   print every N ms (default 2000)\n",
    .init = mon_init,
    .handlers = mon_handlers,
    .nhandlers = 2,
    .timers = mon_timers,
    .ntimers = 1,
};

int main(int argc, char **argv)
{
    return engine_main(&mon_def, argc, argv);
}
