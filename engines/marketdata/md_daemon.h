/* State of the mesh-marketdata daemon, shared by its main file
 * (mesh_marketdata.c: options, publishing, the timer) and its checkpoints
 * (md_ckpt.c: snapshot, restore and replay). Not a library header. */
#ifndef MD_DAEMON_H
#define MD_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "md_bars.h"
#include "md_feed.h"

typedef struct md_daemon {
    md_feed *feed;
    md_bars *bars;
    md_feed_opts opts; /* what the feed was opened with (reopened if a restore fails) */
    uint64_t bar_ns;
    int quotes;
    const char *venue;
    uint64_t seq;    /* message sequence: Trade/Quote/Bar .seq and Trade.trade_id */
    uint64_t events; /* feed events fully published: the progress word */
    int ended;
    uint32_t ckpt_ms;      /* checkpoint interval while publishing; 0 = none */
    int ckpt_off;          /* checkpoints failed: off for this run */
    uint64_t ckpt_last_ns; /* monotonic time of the last snapshot */
    uint64_t ckpt_events;  /* events at the last snapshot */
    unsigned char *ckpt;   /* snapshot buffer */
    size_t ckpt_cap;
    uint64_t ckpt_saves;           /* snapshots saved by this run */
    uint64_t ckpt_ns, ckpt_max_ns; /* time spent saving them: total, longest */
    size_t ckpt_len;               /* size of the last one */
} md_daemon;

extern md_daemon md_state;

/* Publishes one feed event (and the bar it closes, if any), then counts it
 * in md_state.events and marks that progress. Returns 0 or the publish
 * error. Engine thread. */
int md_handle_event(engine *e, const md_event *ev);

/* md_bar_fn publishing a closed bar; ctx is the engine. */
void md_publish_bar(void *ctx, const md_bar *b);

/* At the end of a tick, before bars are flushed to flush_to (0 = no flush,
 * UINT64_MAX = the feed ended): saves a snapshot when bars are about to
 * close, when the feed just ended, or when events were published and
 * ckpt_ms passed since the last one. A failed save turns checkpoints off
 * for the run and drops the stored snapshot (a restart then starts a new
 * market rather than replaying a wrong past). */
void md_checkpoint(engine *e, uint64_t now_ns, uint64_t flush_to);

/* Logs how many snapshots this run saved and what they cost. */
void md_checkpoint_report(void);

/* In init, after the feed and bars are open: on a restart (generation > 0)
 * with a usable snapshot, restores the feed, bars and counters, repeats the
 * bar flush that followed the snapshot and the events published after it
 * (the runtime does not publish again what the rings already have), and
 * leaves the pacing clock to continue from there. Without one, starts a new
 * market (logged). Returns 0 or a publish error. */
int md_resume(engine *e);

#endif
