/* Paced feed: maps feed time to wall time as feed_origin + (now - start) *
 * speed, and hands out events whose feed time has been reached. */
#include "md_feed.h"

#include <stdlib.h>
#include <string.h>

#include "md_csv.h"
#include "mesh_error.h"
#include "mesh_log.h"

struct md_feed {
    md_feed_opts opts;
    md_synth *synth;
    md_csv *csv;
    md_event pending;
    int have_pending;
    int ended;
    uint64_t start_mono; /* monotonic ns of the first md_feed_next call */
    uint64_t origin_ts;  /* feed time of the first event */
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

int md_feed_next(md_feed *f, uint64_t now_ns, md_event *ev)
{
    int rc = feed_fill(f);
    if (rc != 1)
        return rc;
    if (f->start_mono == 0) {
        f->start_mono = now_ns;
        f->origin_ts = event_ts(&f->pending);
    }
    uint64_t due = md_feed_time(f, now_ns);
    /* A CSV timestamp that goes backwards is due at once (never stalls). */
    if (event_ts(&f->pending) > due)
        return 0;
    *ev = f->pending;
    f->have_pending = 0;
    if (ev->kind == MD_EVENT_TRADE)
        f->stats.trades++;
    else
        f->stats.quotes++;
    return 1;
}

void md_feed_stats_get(const md_feed *f, md_feed_stats *out)
{
    *out = f->stats;
}
