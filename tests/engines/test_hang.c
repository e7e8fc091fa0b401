/* test-hang: runs normally (heartbeating), then after --hang-after-ms blocks
 * forever inside a timer callback, so its heartbeat goes stale and only
 * SIGKILL ends it. Used by the supervisor's hang-detection tests. */
#include <errno.h>
#include <getopt.h>
#include <time.h>

#include "engine.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "test_engine_args.h"

static uint64_t hang_after_ms = 1000;
static uint64_t start_ns;
static int spin; /* --spin: burn CPU while hung instead of sleeping */

static const char usage[] =
    "usage: test-hang [--hang-after-ms N] [--spin]\n"
    "  Behaves (heartbeats) for N ms after start, then blocks forever in a timer\n"
    "  callback: the heartbeat stops and SIGTERM is no longer honoured.\n"
    "  --hang-after-ms N   default 1000\n"
    "  --spin              busy-loop while hung (default: sleep)\n";

static int on_tick(engine *e)
{
    uint64_t now = engine_now_ns(e);
    if (now - start_ns < hang_after_ms * 1000000ull)
        return 0;
    mesh_info("hanging now (after %llu ms)", (unsigned long long)hang_after_ms);
    for (;;) {
        if (spin)
            continue;
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int init(engine *e, int argc, char **argv)
{
    static const struct option opts[] = {
        {"hang-after-ms", required_argument, 0, 'h'}, {"spin", no_argument, 0, 's'}, {0, 0, 0, 0}};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h')
            rc = test_arg_u64("--hang-after-ms", optarg, 0, 86400000, &hang_after_ms);
        else if (c == 's')
            spin = 1;
        else
            rc = MESH_EINVAL;
    }
    if (rc == 0 && optind < argc)
        rc = test_arg_fail("argument", argv[optind], "unexpected");
    start_ns = engine_now_ns(e);
    return rc;
}

static const engine_timer timers[] = {{5, on_tick}};

static const engine_def def = {
    .name = "test-hang",
    .usage = usage,
    .init = init,
    .timers = timers,
    .ntimers = 1,
};

int main(int argc, char **argv)
{
    return engine_main(&def, argc, argv);
}
