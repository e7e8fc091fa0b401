/* Paced feed: maps feed time to wall time as feed_origin + (now - start) *
 * speed, and hands out events whose feed time has been reached. */
#include "md_feed.h"

#include <stdlib.h>
#include <string.h>

#include "md_csv.h"
#include "md_ser.h"
#include "mesh_error.h"
#include "mesh_log.h"

#define MD_FEED_TAG     MD_TAG('M', 'D', 'F', 'D')
#define MD_FEED_VERSION 1u

struct md_feed {
    md_feed_opts opts;
    md_synth *synth;
    md_csv *csv;
    md_event pending;
    int have_pending;
    int ended;
    uint64_t start_mono; /* monotonic ns of the first md_feed_next call */
    uint64_t origin_ts;  /* feed time at start_mono */
    uint64_t resume_ts;  /* after a restore: feed time the clock starts from */
    uint64_t last_ts;    /* latest event time handed out */
    md_feed_stats stats;
};

int md_feed_open(md_feed **out, const md_feed_opts *opts)
{
    *out = NULL;
    md_feed *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return MESH_ENOMEM;
    f->opts = *opts;
    int rc;
    if (opts->kind == MD_FEED_SYNTHETIC) {
        char why[256];
        if (md_synth_params_check(&opts->synth, why, sizeof(why)) != 0) {
            mesh_error("bad synthetic feed parameter: %s", why);
            rc = MESH_EINVAL;
            goto fail;
        }
        rc = md_synth_open(&f->synth, &opts->synth);
    } else {
        rc = md_csv_open(&f->csv, opts->csv_path);
        if (rc != 0)
            mesh_error("cannot replay %s: %s", opts->csv_path, md_csv_error(NULL));
    }
    if (rc != 0)
        goto fail;
    *out = f;
    return 0;
fail:
    free(f);
    return rc;
}

void md_feed_close(md_feed *f)
{
    if (f == NULL)
        return;
    md_synth_close(f->synth);
    md_csv_close(f->csv);
    free(f);
}

/* Reads the next CSV trade into f->pending; 1, or MESH_ECLOSED at the end. */
static int feed_read_csv(md_feed *f)
{
    for (;;) {
        int rc = md_csv_next(f->csv, &f->pending.trade);
        if (rc == 1) {
            f->pending.kind = MD_EVENT_TRADE;
            f->pending.symbol_index = 0;
            return 1;
        }
        if (rc == 0) {
            mesh_info("replay of %s finished: %llu trades, %llu bad rows", f->opts.csv_path,
                      (unsigned long long)f->stats.trades, (unsigned long long)f->stats.bad_rows);
            return MESH_ECLOSED;
        }
        if (rc != MESH_ECSV) {
            mesh_error("reading %s: %s", f->opts.csv_path, mesh_strerror(rc));
            return rc;
        }
        f->stats.bad_rows++;
        if (f->opts.csv_policy == MD_CSV_STOP) {
            mesh_error("%s (replay stopped: --csv-errors stop)", md_csv_error(f->csv));
            return MESH_ECLOSED;
        }
        mesh_warn("%s (row skipped)", md_csv_error(f->csv));
    }
}

static int feed_fill(md_feed *f)
{
    if (f->have_pending)
        return 1;
    if (f->ended)
        return MESH_ECLOSED;
    int rc = f->synth ? md_synth_next(f->synth, &f->pending) : feed_read_csv(f);
    if (rc != 1) {
        f->ended = 1;
        return rc == 0 ? MESH_ECLOSED : rc;
    }
    f->have_pending = 1;
    return 1;
}

static uint64_t event_ts(const md_event *ev)
{
    return ev->kind == MD_EVENT_TRADE ? ev->trade.ts_ns : ev->quote.ts_ns;
}

uint64_t md_feed_time(const md_feed *f, uint64_t now_ns)
{
    if (f->start_mono == 0)
        return 0;
    if (f->opts.speed <= 0)
        return UINT64_MAX;
    double elapsed = (double)(now_ns - f->start_mono) * f->opts.speed;
    return f->origin_ts + (uint64_t)elapsed;
}

/* Hands the pending event out. */
static void feed_pop(md_feed *f, md_event *ev)
{
    *ev = f->pending;
    f->have_pending = 0;
    if (ev->kind == MD_EVENT_TRADE)
        f->stats.trades++;
    else
        f->stats.quotes++;
    if (event_ts(ev) > f->last_ts)
        f->last_ts = event_ts(ev);
}

int md_feed_next(md_feed *f, uint64_t now_ns, md_event *ev)
{
    int rc = feed_fill(f);
    if (rc != 1)
        return rc;
    if (f->start_mono == 0) {
        f->start_mono = now_ns;
        f->origin_ts = f->resume_ts ? f->resume_ts : event_ts(&f->pending);
    }
    uint64_t due = md_feed_time(f, now_ns);
    /* Due once its feed time is reached (events come in time order: md_csv
     * refuses a row older than the one before it). */
    if (event_ts(&f->pending) > due)
        return 0;
    feed_pop(f, ev);
    return 1;
}

int md_feed_take(md_feed *f, md_event *ev)
{
    int rc = feed_fill(f);
    if (rc != 1)
        return rc;
    feed_pop(f, ev);
    if (f->start_mono == 0 && event_ts(ev) > f->resume_ts)
        f->resume_ts = event_ts(ev);
    return 1;
}

uint64_t md_feed_position(const md_feed *f)
{
    return f->start_mono ? f->origin_ts : f->resume_ts;
}

static void put_event(md_wr *w, const md_event *ev)
{
    md_put_u32(w, ev->kind);
    md_put_u32(w, ev->symbol_index);
    if (ev->kind == MD_EVENT_TRADE) {
        md_put_u64(w, ev->trade.ts_ns);
        md_put(w, ev->trade.symbol, sizeof(ev->trade.symbol));
        md_put_f64(w, ev->trade.price);
        md_put_f64(w, ev->trade.size);
        md_put_u32(w, (uint32_t)(int32_t)ev->trade.aggressor);
    } else {
        md_put_u64(w, ev->quote.ts_ns);
        md_put(w, ev->quote.symbol, sizeof(ev->quote.symbol));
        md_put_f64(w, ev->quote.bid);
        md_put_f64(w, ev->quote.ask);
        md_put_f64(w, ev->quote.bid_size);
        md_put_f64(w, ev->quote.ask_size);
    }
}

/* Reads an event; 0 or MESH_ECORRUPT. */
static int get_event(md_rd *r, md_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = (md_event_kind)md_get_u32(r);
    ev->symbol_index = md_get_u32(r);
    if (ev->kind == MD_EVENT_TRADE) {
        ev->trade.ts_ns = md_get_u64(r);
        md_get(r, ev->trade.symbol, sizeof(ev->trade.symbol));
        ev->trade.price = md_get_f64(r);
        ev->trade.size = md_get_f64(r);
        int32_t a = (int32_t)md_get_u32(r);
        ev->trade.aggressor = (int8_t)(a > 0 ? 1 : a < 0 ? -1 : 0);
        ev->trade.symbol[sizeof(ev->trade.symbol) - 1] = '\0';
    } else if (ev->kind == MD_EVENT_QUOTE) {
        ev->quote.ts_ns = md_get_u64(r);
        md_get(r, ev->quote.symbol, sizeof(ev->quote.symbol));
        ev->quote.bid = md_get_f64(r);
        ev->quote.ask = md_get_f64(r);
        ev->quote.bid_size = md_get_f64(r);
        ev->quote.ask_size = md_get_f64(r);
        ev->quote.symbol[sizeof(ev->quote.symbol) - 1] = '\0';
    } else {
        return MESH_ECORRUPT;
    }
    return r->bad ? MESH_ECORRUPT : 0;
}

int md_feed_save(const md_feed *f, uint64_t now_ns, void *buf, size_t cap, size_t *len)
{
    uint64_t feed_ts = f->start_mono && f->opts.speed > 0 ? md_feed_time(f, now_ns) : 0;
    if (feed_ts < f->last_ts || feed_ts < f->resume_ts)
        feed_ts = f->last_ts > f->resume_ts ? f->last_ts : f->resume_ts;
    md_wr w;
    md_wr_init(&w, buf, cap);
    md_put_tag(&w, MD_FEED_TAG, MD_FEED_VERSION);
    md_put_u32(&w, f->opts.kind);
    md_put_u32(&w, (uint32_t)f->ended);
    md_put_u64(&w, feed_ts);
    md_put_u64(&w, f->last_ts);
    md_put_u64(&w, f->stats.trades);
    md_put_u64(&w, f->stats.quotes);
    md_put_u64(&w, f->stats.bad_rows);
    md_put_u32(&w, (uint32_t)f->have_pending);
    if (f->have_pending)
        put_event(&w, &f->pending);
    size_t at = md_blob_begin(&w), room, n = 0;
    unsigned char *here = md_wr_here(&w, &room);
    int rc =
        f->synth ? md_synth_save(f->synth, here, room, &n) : md_csv_save(f->csv, here, room, &n);
    if (rc < 0 && rc != MESH_ENOSPC)
        return rc;
    md_blob_end(&w, at, n);
    return md_wr_end(&w, len);
}

/* Logs why a snapshot could not be restored and returns rc. */
static int restore_fail(const md_feed *f, int rc, const char *why)
{
    mesh_warn("feed snapshot not restored: %s (%s)", why, mesh_strerror(rc));
    return rc;
}

int md_feed_restore(md_feed *f, const void *buf, size_t len)
{
    md_rd r;
    md_rd_init(&r, buf, len);
    int rc = md_get_tag(&r, MD_FEED_TAG, MD_FEED_VERSION);
    if (rc < 0)
        return restore_fail(f, rc, "not a feed snapshot of this version");
    md_feed t = *f;
    uint32_t kind = md_get_u32(&r), ended = md_get_u32(&r);
    uint64_t feed_ts = md_get_u64(&r);
    t.last_ts = md_get_u64(&r);
    t.stats.trades = md_get_u64(&r);
    t.stats.quotes = md_get_u64(&r);
    t.stats.bad_rows = md_get_u64(&r);
    uint32_t pending = md_get_u32(&r);
    if (r.bad || ended > 1 || pending > 1 || (pending && get_event(&r, &t.pending) < 0))
        return restore_fail(f, MESH_ECORRUPT, "truncated or malformed");
    if (kind != (uint32_t)f->opts.kind)
        return restore_fail(f, MESH_EINVAL, "saved by the other kind of feed (synthetic / csv)");
    size_t n = 0;
    const void *src = md_get_blob(&r, &n);
    if ((rc = md_rd_end(&r)) < 0)
        return restore_fail(f, rc, "truncated or malformed");
    rc = f->synth ? md_synth_restore(f->synth, src, n) : md_csv_restore(f->csv, src, n);
    if (rc < 0)
        return restore_fail(
            f, rc,
            f->synth ? (rc == MESH_EINVAL ? "the synthetic market's parameters "
                                            "(seed, rates, symbols, model, "
                                            "episodes) changed"
                                          : "bad synthetic market state")
                     : (rc == MESH_EINVAL ? md_csv_error(f->csv) : "bad CSV reader position"));
    t.have_pending = (int)pending;
    t.ended = (int)ended;
    t.start_mono = 0;
    t.origin_ts = 0;
    t.resume_ts = feed_ts;
    *f = t;
    return 0;
}

const char *md_feed_error(const md_feed *f)
{
    return f->csv ? md_csv_error(f->csv) : "";
}

void md_feed_stats_get(const md_feed *f, md_feed_stats *out)
{
    *out = f->stats;
}
