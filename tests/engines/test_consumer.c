/* test-consumer: appends one line "<producer> <ring seq> <payload counter>"
 * per received trade or heartbeat to the --out file, so tests can check that
 * nothing was lost, duplicated or reordered. Optional slow handler and a
 * deterministic stall point for kill tests. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "msg_codec.h"
#include "msg_registry.h"
#include "test_engine_args.h"

typedef struct consumer {
    int fd;            /* --out, O_APPEND */
    char buf[1 << 16]; /* pending lines (--buffer-lines > 1) */
    size_t used;
    uint64_t
        buffer_lines;  /* lines per write(2); 1 = every line written before the handler returns */
    uint64_t pending;  /* lines in buf */
    uint64_t slow_us;  /* sleep per message */
    uint64_t stall_at; /* counter at which generation 0 blocks forever (0 = never) */
    uint64_t handled;
    msg_arena *arena; /* --raw: the engine decodes records itself */
    int detail;       /* --detail: trade and bar fields on each line */
} consumer;

static consumer C = {.fd = -1};

static const char usage[] =
    "usage: test-consumer --out FILE [--slow-us N] [--buffer-lines N] [--stall-at COUNTER]\n"
    "                     [--raw] [--detail]\n"
    "  Appends \"<producer> <ring seq> <payload counter>\\n\" to FILE for every trade, bar or\n"
    "  heartbeat received (payload counter = the message's `seq` field).\n"
    "  --out FILE          output file, created if missing, appended to\n"
    "  --slow-us N         sleep N microseconds in each handler call (default 0)\n"
    "  --buffer-lines N    write lines in batches of N, flushed every 10 ms and at exit\n"
    "                      (default 1: each line is written before its handler returns)\n"
    "  --stall-at COUNTER  first start only (MESH_GENERATION=0): block forever, before\n"
    "                      writing, in the handler of the message with this counter\n"
    "  --raw               take undecoded records (the runtime's raw handler) and decode\n"
    "                      them here; other types count as handler errors\n"
    "  --detail            append the message's fields: for a trade \"T <symbol> <ts_ns>\n"
    "                      <price> <size> <aggressor>\", for a bar \"B <symbol> <start_ts_ns>\n"
    "                      <ts_ns> <open> <high> <low> <close> <volume> <trade_count>\"\n"
    "                      (numbers as %.17g; bars are recorded with or without it)\n";

static int flush_lines(void)
{
    size_t off = 0;
    while (off < C.used) {
        ssize_t w = write(C.fd, C.buf + off, C.used - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            mesh_error("write to --out failed: %s", strerror(errno));
            return mesh_err_from_errno(errno);
        }
        off += (size_t)w;
    }
    C.used = 0;
    C.pending = 0;
    return 0;
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* --detail: the message's own fields after the common ones. */
static int describe(const ProtobufCMessage *msg, char *buf, size_t len)
{
    if (!C.detail || !msg)
        return snprintf(buf, len, "\n");
    if (msg->descriptor == &meshpb__trade__descriptor) {
        const Meshpb__Trade *t = (const Meshpb__Trade *)msg;
        return snprintf(buf, len, " T %s %llu %.17g %.17g %d\n", t->symbol,
                        (unsigned long long)t->ts_ns, t->price, t->size, (int)t->aggressor);
    }
    if (msg->descriptor == &meshpb__bar__descriptor) {
        const Meshpb__Bar *b = (const Meshpb__Bar *)msg;
        return snprintf(buf, len, " B %s %llu %llu %.17g %.17g %.17g %.17g %.17g %llu\n", b->symbol,
                        (unsigned long long)b->start_ts_ns, (unsigned long long)b->ts_ns, b->open,
                        b->high, b->low, b->close, b->volume, (unsigned long long)b->trade_count);
    }
    return snprintf(buf, len, "\n");
}

static int record(engine *e, uint64_t counter, const engine_msg_info *info,
                  const ProtobufCMessage *msg)
{
    if (C.stall_at && counter == C.stall_at && engine_generation(e) == 0) {
        mesh_info("stalling forever at counter %llu (seq %llu)", (unsigned long long)counter,
                  (unsigned long long)info->seq);
        for (;;)
            sleep_us(1000000);
    }
    if (C.slow_us)
        sleep_us(C.slow_us);
    if (sizeof(C.buf) - C.used < 512 && flush_lines() < 0)
        return MESH_EIO;
    int n = snprintf(C.buf + C.used, sizeof(C.buf) - C.used, "%s %llu %llu", info->from,
                     (unsigned long long)info->seq, (unsigned long long)counter);
    C.used += (size_t)n;
    n = describe(msg, C.buf + C.used, sizeof(C.buf) - C.used);
    C.used += (size_t)n < sizeof(C.buf) - C.used ? (size_t)n : sizeof(C.buf) - C.used - 1;
    C.pending++;
    C.handled++;
    return C.pending >= C.buffer_lines ? flush_lines() : 0;
}

static int on_trade(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    return record(e, ((const Meshpb__Trade *)msg)->seq, info, msg);
}

static int on_heartbeat(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    return record(e, ((const Meshpb__Heartbeat *)msg)->seq, info, msg);
}

static int on_bar(engine *e, const ProtobufCMessage *msg, const engine_msg_info *info)
{
    return record(e, ((const Meshpb__Bar *)msg)->seq, info, msg);
}

static int on_raw(engine *e, const void *data, size_t len, const engine_msg_info *info)
{
    ProtobufCMessage *msg = NULL;
    int rc = msg_decode(info->type, data, len, C.arena, &msg);
    if (rc < 0)
        return rc;
    if (info->type == MSG_TYPE_TRADE)
        return on_trade(e, msg, info);
    if (info->type == MSG_TYPE_HEARTBEAT)
        return on_heartbeat(e, msg, info);
    if (info->type == MSG_TYPE_BAR)
        return on_bar(e, msg, info);
    return MESH_EUNKNOWNTYPE;
}

static int on_flush(engine *e)
{
    return C.pending ? flush_lines() : 0;
}

static int init(engine *e, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"slow-us", required_argument, 0, 's'},
                                         {"buffer-lines", required_argument, 0, 'b'},
                                         {"stall-at", required_argument, 0, 'a'},
                                         {"raw", no_argument, 0, 'r'},
                                         {"detail", no_argument, 0, 'd'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    int c, rc = 0;
    C.buffer_lines = 1;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 's':
            rc = test_arg_u64("--slow-us", optarg, 0, 10000000, &C.slow_us);
            break;
        case 'b':
            rc = test_arg_u64("--buffer-lines", optarg, 1, 100000, &C.buffer_lines);
            break;
        case 'a':
            rc = test_arg_u64("--stall-at", optarg, 1, UINT64_MAX, &C.stall_at);
            break;
        case 'r':
            rc = msg_arena_open(&C.arena, MSG_ARENA_DEFAULT_SIZE);
            break;
        case 'd':
            C.detail = 1;
            break;
        default:
            rc = MESH_EINVAL;
            break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = test_arg_fail("argument", argv[optind], "unexpected");
    if (rc == 0 && !out)
        rc = test_arg_fail("--out", "", "is required");
    if (rc < 0) {
        msg_arena_close(C.arena);
        C.arena = NULL;
        return rc;
    }
    if (C.buffer_lines == 1)
        engine_timer_set(e, 0, 0); /* nothing to flush: no wakeups when idle */
    C.fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (C.fd < 0) {
        mesh_error("--out '%s': cannot open: %s", out, strerror(errno));
        return mesh_err_from_errno(errno);
    }
    return 0;
}

static void shutdown_consumer(engine *e)
{
    flush_lines();
    mesh_info("handled %llu messages", (unsigned long long)C.handled);
    if (C.fd >= 0)
        close(C.fd);
    C.fd = -1;
    msg_arena_close(C.arena);
    C.arena = NULL;
}

static const engine_handler handlers[] = {
    {MSG_TYPE_TRADE, on_trade},
    {MSG_TYPE_HEARTBEAT, on_heartbeat},
    {MSG_TYPE_BAR, on_bar},
};
static const engine_timer timers[] = {{10, on_flush}};

static const engine_def def = {
    .name = "test-consumer",
    .usage = usage,
    .init = init,
    .handlers = handlers,
    .nhandlers = sizeof(handlers) / sizeof(handlers[0]),
    .timers = timers,
    .ntimers = sizeof(timers) / sizeof(timers[0]),
    .shutdown = shutdown_consumer,
};

/* --raw: no decoded handlers, everything goes to the raw handler. */
static const engine_def def_raw = {
    .name = "test-consumer",
    .usage = usage,
    .init = init,
    .raw = on_raw,
    .timers = timers,
    .ntimers = sizeof(timers) / sizeof(timers[0]),
    .shutdown = shutdown_consumer,
};

int main(int argc, char **argv)
{
    int raw = 0;
    for (int i = 1; i < argc; i++)
        raw |= strcmp(argv[i], "--raw") == 0;
    return engine_main(raw ? &def_raw : &def, argc, argv);
}
