/* mesh-marketdata checkpoints: the daemon's snapshot (message sequence,
 * events published, the bar flush about to happen, the feed and the bars),
 * saved through the engine runtime (engine_state_save), and the resume after
 * a kill: restore, repeat the flush and the events published after the
 * snapshot (the runtime skips what the rings already hold), continue.
 *
 * Why the flush is in the snapshot: trades and the bars they close follow
 * from the feed alone, but bars closed by the clock depend on when the tick
 * ran. A snapshot is therefore saved before every flush that closes a bar,
 * with the feed time it flushes to, so that between the last snapshot and
 * a kill there is at most that one flush and then events, all of which a
 * restart can repeat exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "md_daemon.h"
#include "md_ser.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#define MD_CKPT_TAG     MD_TAG('M', 'D', 'C', 'K')
#define MD_CKPT_VERSION 1u

/* Writes the snapshot into buf (cap bytes); 0 or MESH_ENOSPC with *len the
 * size needed, or a feed error (*why: md_feed_error). */
static int md_snapshot(uint64_t now_ns, uint64_t flush_to, void *buf, size_t cap, size_t *len,
                       const char **why)
{
    md_wr w;
    md_wr_init(&w, buf, cap);
    md_put_tag(&w, MD_CKPT_TAG, MD_CKPT_VERSION);
    md_put_u64(&w, md_state.seq);
    md_put_u64(&w, md_state.events);
    md_put_u64(&w, flush_to);
    md_put_u32(&w, (uint32_t)md_state.ended);
    md_put_u32(&w, (uint32_t)md_state.quotes);
    md_put_u64(&w, md_state.bar_ns);
    size_t at = md_blob_begin(&w), room, n = 0;
    unsigned char *here = md_wr_here(&w, &room);
    int rc = md_feed_save(md_state.feed, now_ns, here, room, &n);
    if (rc < 0 && rc != MESH_ENOSPC) {
        *why = md_feed_error(md_state.feed);
        return rc;
    }
    md_blob_end(&w, at, n);
    at = md_blob_begin(&w);
    here = md_wr_here(&w, &room);
    md_bars_save(md_state.bars, here, room, &n);
    md_blob_end(&w, at, n);
    return md_wr_end(&w, len);
}

/* Makes the snapshot buffer hold at least need bytes. */
static int md_ckpt_reserve(size_t need)
{
    if (need <= md_state.ckpt_cap)
        return 0;
    size_t cap = need + need / 2 + 256;
    unsigned char *p = realloc(md_state.ckpt, cap);
    if (!p)
        return MESH_ENOMEM;
    md_state.ckpt = p;
    md_state.ckpt_cap = cap;
    return 0;
}

/* Saves a snapshot; on error *why may say more than the code (a feed error). */
static int md_save(engine *e, uint64_t now_ns, uint64_t flush_to, const char **why)
{
    size_t len = 0;
    uint64_t t0 = mesh_now_ns();
    int rc = md_snapshot(now_ns, flush_to, md_state.ckpt, md_state.ckpt_cap, &len, why);
    if (rc == MESH_ENOSPC && (rc = md_ckpt_reserve(len)) == 0)
        rc = md_snapshot(now_ns, flush_to, md_state.ckpt, md_state.ckpt_cap, &len, why);
    if (rc == 0)
        rc = engine_state_save(e, md_state.ckpt, len);
    uint64_t dt = mesh_now_ns() - t0;
    md_state.ckpt_saves++;
    md_state.ckpt_ns += dt;
    md_state.ckpt_max_ns = dt > md_state.ckpt_max_ns ? dt : md_state.ckpt_max_ns;
    md_state.ckpt_len = len;
    return rc;
}

void md_checkpoint_report(void)
{
    if (!md_state.ckpt_saves)
        return;
    mesh_info("checkpoints: %llu saved, %zu bytes each (last), %.1f us mean, %.1f us longest",
              (unsigned long long)md_state.ckpt_saves, md_state.ckpt_len,
              (double)md_state.ckpt_ns / (double)md_state.ckpt_saves / 1e3,
              (double)md_state.ckpt_max_ns / 1e3);
}

void md_checkpoint(engine *e, uint64_t now_ns, uint64_t flush_to)
{
    if (!md_state.ckpt_ms || md_state.ckpt_off)
        return;
    int closing = flush_to != 0 && md_bars_next_end(md_state.bars) <= flush_to;
    int periodic = md_state.events != md_state.ckpt_events &&
                   now_ns - md_state.ckpt_last_ns >= (uint64_t)md_state.ckpt_ms * 1000000ull;
    if (!closing && !periodic && flush_to != UINT64_MAX)
        return;
    const char *why = "";
    int rc = md_save(e, now_ns, flush_to, &why);
    if (rc == 0) {
        md_state.ckpt_last_ns = now_ns;
        md_state.ckpt_events = md_state.events;
        return;
    }
    mesh_error("checkpoint not saved: %s%s%s: checkpoints are off for this run, and a restart "
               "will start a new market",
               mesh_strerror(rc), why[0] ? ": " : "", why);
    md_state.ckpt_off = 1;
    engine_state_drop(e);
}

/* Loads the snapshot into md_state.ckpt; *len = its size. */
static int md_load(engine *e, size_t *len)
{
    int rc = engine_state_load(e, md_state.ckpt, md_state.ckpt_cap, len);
    if (rc == MESH_EMSGSIZE && (rc = md_ckpt_reserve(*len)) == 0)
        rc = engine_state_load(e, md_state.ckpt, md_state.ckpt_cap, len);
    return rc;
}

/* Restores md_state from the snapshot; *flush_to = the flush that followed
 * it. On error the feed and bars may be half restored: the caller reopens. */
static int md_restore(const void *buf, size_t len, uint64_t *flush_to)
{
    md_rd r;
    md_rd_init(&r, buf, len);
    int rc = md_get_tag(&r, MD_CKPT_TAG, MD_CKPT_VERSION);
    if (rc < 0) {
        mesh_warn("snapshot is not a marketdata snapshot of this version");
        return rc;
    }
    uint64_t seq = md_get_u64(&r), events = md_get_u64(&r);
    *flush_to = md_get_u64(&r);
    uint32_t ended = md_get_u32(&r), quotes = md_get_u32(&r);
    uint64_t bar_ns = md_get_u64(&r);
    size_t nf = 0, nb = 0;
    const void *feed = md_get_blob(&r, &nf), *bars = md_get_blob(&r, &nb);
    if ((rc = md_rd_end(&r)) < 0 || ended > 1) {
        mesh_warn("snapshot is truncated or malformed");
        return MESH_ECORRUPT;
    }
    if (quotes != (uint32_t)md_state.quotes || bar_ns != md_state.bar_ns) {
        mesh_warn("snapshot was saved with other options (--no-quotes or --bar-seconds changed)");
        return MESH_EINVAL;
    }
    if ((rc = md_feed_restore(md_state.feed, feed, nf)) < 0)
        return rc; /* logged by md_feed_restore */
    if ((rc = md_bars_restore(md_state.bars, bars, nb)) < 0) {
        mesh_warn("snapshot's bars not restored: %s", mesh_strerror(rc));
        return rc;
    }
    md_state.seq = seq;
    md_state.events = events;
    md_state.ended = (int)ended;
    return 0;
}

/* After a failed restore: the feed and bars as the options make them. */
static int md_reopen(void)
{
    md_feed_close(md_state.feed);
    md_bars_close(md_state.bars);
    md_state.feed = NULL;
    md_state.bars = NULL;
    int rc = md_feed_open(&md_state.feed, &md_state.opts);
    return rc == 0 ? md_bars_open(&md_state.bars, md_state.bar_ns) : rc;
}

/* "2024-01-02T14:30:00.123Z" for ns since the epoch. */
static const char *md_iso(uint64_t ns, char *buf, size_t len)
{
    time_t sec = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000ull % 1000));
    return buf;
}

/* Repeats what followed the snapshot: the flush, the events up to the
 * progress word, and the event being published at the kill if the rings
 * show the earlier run had published part of it. */
static int md_replay(engine *e, uint64_t flush_to)
{
    uint64_t from = md_state.events, progress = engine_state_progress(e);
    md_event ev;
    int rc = 0;
    if (flush_to)
        md_bars_flush(md_state.bars, flush_to, md_publish_bar, e);
    while (!md_state.ended && md_state.events < progress &&
           (rc = md_feed_take(md_state.feed, &ev)) == 1)
        if ((rc = md_handle_event(e, &ev)) != 0)
            return rc;
    if (!md_state.ended && rc >= 0 && engine_state_replaying(e) &&
        (rc = md_feed_take(md_state.feed, &ev)) == 1 && (rc = md_handle_event(e, &ev)) != 0)
        return rc;
    if (rc < 0 && rc != MESH_ECLOSED)
        return rc;
    if (engine_state_replaying(e))
        engine_state_replay_end(e); /* warns: the replay did not match */
    char t[40];
    mesh_info("resumed the market at %s: %llu event(s) after the snapshot repeated, message seq "
              "goes on from %llu",
              md_iso(md_feed_position(md_state.feed), t, sizeof(t)),
              (unsigned long long)(md_state.events - from), (unsigned long long)md_state.seq + 1);
    md_state.ckpt_events = md_state.events;
    return 0;
}

int md_resume(engine *e)
{
    if (!md_state.ckpt_ms || engine_generation(e) == 0)
        return 0;
    size_t len = 0;
    uint64_t flush_to = 0;
    int rc = md_load(e, &len);
    if (rc == 0 && (rc = md_restore(md_state.ckpt, len, &flush_to)) < 0) {
        int ro = md_reopen();
        if (ro < 0)
            return ro;
    }
    if (rc < 0) {
        mesh_warn("restart (generation %u) without a usable snapshot (%s): starting a new market",
                  engine_generation(e), mesh_strerror(rc));
        return 0;
    }
    if ((rc = engine_state_resume(e)) < 0)
        return rc;
    return md_replay(e, flush_to);
}
