/* A paced market feed for the marketdata daemon: the synthetic market or a
 * CSV replay, released against the monotonic clock at a speed multiple. No
 * bus dependency, so it is testable on its own. */
#ifndef MD_FEED_H
#define MD_FEED_H

#include <stddef.h>
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

/* Why the last md_feed_save (or CSV row) failed, for logs: the CSV reader's
 * message (md_csv_error: file, offset or line, reason); "" for the
 * synthetic market, which has no such failure. */
const char *md_feed_error(const md_feed *f);

/* Copies the counters into *out. */
void md_feed_stats_get(const md_feed *f, md_feed_stats *out);

/* Next event regardless of pacing (replaying what a killed run published).
 * Returns as md_feed_next, never 0. Before the clock starts (the first
 * md_feed_next), the clock will then start from this event's time if that
 * is later than where it would have. Single thread. */
int md_feed_take(md_feed *f, md_event *ev);

/* Writes a snapshot of the feed at monotonic time now_ns (its source's
 * state: generator or reader position; the event read ahead; counters; the
 * feed time reached) into buf as a flat versioned byte buffer; buf may be
 * NULL with cap 0 to measure. *len = its size. Returns 0, MESH_ENOSPC, or
 * MESH_EIO (CSV file unreadable). */
int md_feed_save(const md_feed *f, uint64_t now_ns, void *buf, size_t cap, size_t *len);

/* Restores a snapshot into a feed just opened with the same options (for
 * the synthetic market: the same parameters except start_ts_ns; for CSV:
 * the same file, unchanged up to the saved position). The events that follow
 * are those the saved feed would have produced, and the clock resumes from
 * the saved feed time at the first md_feed_next (no jump back, no burst).
 * Returns 0, or MESH_EFOREIGN / MESH_EVERSION / MESH_ECORRUPT / MESH_EINVAL
 * with the reason logged; on error the feed is unchanged. */
int md_feed_restore(md_feed *f, const void *buf, size_t len);

/* Feed time the clock starts from at the next md_feed_next after a restore
 * (0 when it starts at the first event); once running, md_feed_time. */
uint64_t md_feed_position(const md_feed *f);

#endif
