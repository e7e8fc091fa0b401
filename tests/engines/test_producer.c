/* test-producer: publishes a configurable number of sequenced messages
 * (trade or heartbeat, payload counter in the message's `seq` field) at a
 * configurable rate, then idles. Used by runtime and supervisor tests. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_codec.h"
#include "msg_registry.h"
#include "test_engine_args.h"

#define MAX_PER_TICK 4096 /* publishes per timer run, so the loop keeps heartbeating */

typedef struct producer {
    uint32_t type;      /* MSG_TYPE_TRADE or MSG_TYPE_HEARTBEAT */
    uint64_t count;     /* messages to publish */
    uint64_t first;     /* payload counter of the first message */
    uint64_t rate;      /* messages per second, 0 = as fast as possible */
    uint64_t sent;      /* published so far */
    uint64_t start_ns;  /* first timer run */
    int exit_when_done; /* engine_stop after the last message */
    int raw;            /* encode here, publish with engine_publish_raw */
    int checkpoint;     /* save `sent` after each tick, resume from it after a kill */
    char pad[4096];     /* filler carried in a string field, --pad bytes */
} producer;

static producer P;

static const char usage[] =
    "usage: test-producer [--type trade|heartbeat] [--count N] [--first N] [--rate N]\n"
    "                     [--pad BYTES] [--exit-when-done] [--raw] [--checkpoint]\n"
    "  Publishes N messages whose `seq` field counts first, first+1, ... (trade: also\n"
    "  trade_id; venue = the engine name), then idles (or stops with --exit-when-done).\n"
    "  --type T           message type (default trade)\n"
    "  --count N          messages to publish (default 1000)\n"
    "  --first N          payload counter of the first message (default 1)\n"
    "  --rate N           messages per second, 0 = as fast as the rings allow (default 0)\n"
    "  --pad BYTES        extra bytes per message in a string field (default 0, max 4000)\n"
    "  --exit-when-done   request a clean exit once everything is published\n"
    "  --raw              encode in the engine and publish bytes (engine_publish_raw)\n"
    "  --checkpoint       save the count published after each tick and mark progress\n"
    "                     after each message (engine_state_*); a restart (generation > 0)\n"
    "                     resumes: every counter reaches each consumer once\n";

/* Encodes here and hands the bytes to the runtime undecoded. */
static int publish_raw(engine *e, uint32_t type, const ProtobufCMessage *msg)
{
    static uint8_t buf[8192];
    int n = msg_encode(msg, buf, sizeof(buf));
    return n < 0 ? n : engine_publish_raw(e, type, buf, (size_t)n);
}

static int publish_one(engine *e, uint64_t counter)
{
    if (P.type == MSG_TYPE_HEARTBEAT) {
        Meshpb__Heartbeat hb = MESHPB__HEARTBEAT__INIT;
        hb.engine = (char *)engine_name(e);
        hb.ts_ns = mesh_wall_ns();
        hb.seq = counter;
        return P.raw ? publish_raw(e, MSG_TYPE_HEARTBEAT, &hb.base)
                     : engine_publish(e, MSG_TYPE_HEARTBEAT, &hb.base);
    }
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = P.pad[0] ? P.pad : (char *)"TEST";
    t.ts_ns = mesh_wall_ns();
    t.seq = counter;
    t.trade_id = counter;
    t.price = 100.0 + (double)(counter % 100) * 0.01;
    t.size = 1.0;
    t.venue = (char *)engine_name(e);
    return P.raw ? publish_raw(e, MSG_TYPE_TRADE, &t.base)
                 : engine_publish(e, MSG_TYPE_TRADE, &t.base);
}

/* Publishes the next counter and, with --checkpoint, marks it done. */
static int publish_next(engine *e)
{
    int rc = publish_one(e, P.first + P.sent);
    if (rc < 0) {
        mesh_error("publish of counter %llu failed: %s", (unsigned long long)(P.first + P.sent),
                   mesh_strerror(rc));
        return rc;
    }
    P.sent++;
    if (P.checkpoint)
        engine_state_mark(e, P.sent);
    return 0;
}

static int on_tick(engine *e)
{
    uint64_t now = engine_now_ns(e);
    if (P.start_ns == 0) /* a resumed run goes on at the rate from where it was */
        P.start_ns = now - (P.rate ? (uint64_t)((double)P.sent * 1e9 / (double)P.rate) : 0);
    uint64_t before = P.sent;
    uint64_t target = P.count;
    if (P.rate > 0) {
        /* messages due after (now - start) ns at `rate` per second, the first at once */
        double due = (double)(now - P.start_ns) * 1e-9 * (double)P.rate + 1.0;
        if (due < (double)target)
            target = (uint64_t)due;
    }
    for (int n = 0; P.sent < target && n < MAX_PER_TICK && !engine_stopping(e); n++) {
        int rc = publish_next(e);
        if (rc < 0)
            return rc;
    }
    if (P.checkpoint && P.sent != before) {
        int rc = engine_state_save(e, &P.sent, sizeof(P.sent));
        if (rc < 0)
            mesh_warn("checkpoint at %llu not saved: %s", (unsigned long long)P.sent,
                      mesh_strerror(rc));
    }
    if (P.sent == P.count) {
        if (P.exit_when_done)
            engine_stop(e);
        else
            engine_timer_set(e, 0, 0); /* done: idle without timer wakeups */
    }
    return 0;
}

/* --checkpoint after a restart: continue from the snapshot, replaying the
 * counters the killed run published after it (the runtime skips what the
 * rings already have), then the one it may have been publishing. */
static int resume(engine *e)
{
    uint64_t sent = 0;
    size_t len = 0;
    int rc = engine_state_load(e, &sent, sizeof(sent), &len);
    if (rc == MESH_ENOENT)
        return 0;
    if (rc < 0 || len != sizeof(sent) || sent > P.count) {
        mesh_warn("snapshot not usable (%s, %zu bytes): starting from the first counter",
                  rc < 0 ? mesh_strerror(rc) : "bad content", len);
        return 0;
    }
    if ((rc = engine_state_resume(e)) < 0)
        return rc;
    P.sent = sent;
    uint64_t progress = engine_state_progress(e);
    while (P.sent < progress && P.sent < P.count && (rc = publish_next(e)) == 0)
        ;
    if (rc == 0 && engine_state_replaying(e) && P.sent < P.count)
        rc = publish_next(e); /* the one in flight at the kill */
    if (rc == 0 && engine_state_replaying(e))
        engine_state_replay_end(e);
    mesh_info("resumed at counter %llu (snapshot at %llu, progress %llu)",
              (unsigned long long)(P.first + P.sent), (unsigned long long)sent,
              (unsigned long long)progress);
    return rc;
}

static int init(engine *e, int argc, char **argv)
{
    static const struct option opts[] = {{"type", required_argument, 0, 't'},
                                         {"count", required_argument, 0, 'c'},
                                         {"first", required_argument, 0, 'f'},
                                         {"rate", required_argument, 0, 'r'},
                                         {"pad", required_argument, 0, 'p'},
                                         {"exit-when-done", no_argument, 0, 'x'},
                                         {"raw", no_argument, 0, 'w'},
                                         {"checkpoint", no_argument, 0, 'k'},
                                         {0, 0, 0, 0}};
    P.type = MSG_TYPE_TRADE;
    P.count = 1000;
    P.first = 1;
    uint64_t pad = 0;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (strcmp(optarg, "trade") == 0)
                P.type = MSG_TYPE_TRADE;
            else if (strcmp(optarg, "heartbeat") == 0)
                P.type = MSG_TYPE_HEARTBEAT;
            else
                rc = test_arg_fail("--type", optarg, "expected trade or heartbeat");
            break;
        case 'c':
            rc = test_arg_u64("--count", optarg, 0, UINT64_MAX / 2, &P.count);
            break;
        case 'f':
            rc = test_arg_u64("--first", optarg, 0, UINT64_MAX / 2, &P.first);
            break;
        case 'r':
            rc = test_arg_u64("--rate", optarg, 0, 100000000, &P.rate);
            break;
        case 'p':
            rc = test_arg_u64("--pad", optarg, 0, 4000, &pad);
            break;
        case 'x':
            P.exit_when_done = 1;
            break;
        case 'w':
            P.raw = 1;
            break;
        case 'k':
            P.checkpoint = 1;
            break;
        default:
            rc = MESH_EINVAL;
            break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = test_arg_fail("argument", argv[optind], "unexpected");
    memset(P.pad, 0, sizeof(P.pad));
    if (pad > 0)
        memset(P.pad, 'x', pad);
    if (rc == 0 && P.checkpoint)
        rc = resume(e);
    if (rc == 0)
        mesh_info("publishing %llu %s messages from counter %llu at %s",
                  (unsigned long long)P.count, msg_type_name(P.type), (unsigned long long)P.first,
                  P.rate ? "a fixed rate" : "full speed");
    return rc;
}

static const engine_timer timers[] = {{1, on_tick}};

static const engine_def def = {
    .name = "test-producer",
    .usage = usage,
    .init = init,
    .timers = timers,
    .ntimers = sizeof(timers) / sizeof(timers[0]),
};

int main(int argc, char **argv)
{
    return engine_main(&def, argc, argv);
}
