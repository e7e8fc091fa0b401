/* A paced market feed for the marketdata daemon: the synthetic market or a
 * CSV replay, released against the monotonic clock at a speed multiple. No
 * bus dependency, so it is testable on its own. */
#ifndef MD_FEED_H
#define MD_FEED_H

#include <stdint.h>

#include "md_synth.h"
#include "md_types.h"

typedef enum md_feed_kind { MD_FEED_SYNTHETIC, MD_FEED_CSV } md_feed_kind;
typedef enum md_csv_policy { MD_CSV_SKIP, MD_CSV_STOP } md_csv_policy;

typedef struct md_feed_opts {
    md_feed_kind kind;
    double speed;             /* feed seconds per wall second; 0 = as fast as possible */
    md_synth_params synth;    /* for MD_FEED_SYNTHETIC */
    const char *csv_path;     /* for MD_FEED_CSV */
    md_csv_policy csv_policy; /* what a bad CSV row does */
} md_feed_opts;

typedef struct md_feed md_feed;

/* Counters of a feed. */
typedef struct md_feed_stats {
    uint64_t trades, quotes;
    uint64_t bad_rows; /* CSV rows rejected (each logged with its line) */
} md_feed_stats;

/* Opens the feed; the pacing clock starts at the first md_feed_next call.
 * Returns 0 and *out (caller frees with md_feed_close), or a MESH_E code with
 * the reason logged (bad synthetic parameters, unreadable or malformed CSV). */
int md_feed_open(md_feed **out, const md_feed_opts *opts);

/* Frees the feed; accepts NULL. */
void md_feed_close(md_feed *f);

/* Next event due at monotonic time now_ns. Returns 1 with *ev, 0 when the
 * next event is not due yet, MESH_ECLOSED at the end of a CSV replay (and
 * after a bad row under MD_CSV_STOP), or another MESH_E code on a read error.
 * Single thread. */
int md_feed_next(md_feed *f, uint64_t now_ns, md_event *ev);

/* Feed time (ns since epoch) that corresponds to monotonic now_ns: bars are
 * closed against it. 0 before the first event. */
uint64_t md_feed_time(const md_feed *f, uint64_t now_ns);

/* Copies the counters into *out. */
void md_feed_stats_get(const md_feed *f, md_feed_stats *out);

#endif
