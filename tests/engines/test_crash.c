/* test-crash: runs normally, then after --crash-after-ms ends abnormally:
 * abort() (death by SIGABRT) by default, or exit(--exit-code). Used by the
 * supervisor's restart-policy tests. */
#include <getopt.h>
#include <stdlib.h>

#include "engine.h"
#include "mesh_error.h"
#include "mesh_log.h"
#include "test_engine_args.h"

static uint64_t crash_after_ms = 100;
static uint64_t exit_code;
static int use_exit; /* --exit-code given */
static uint64_t start_ns;

static const char usage[] =
    "usage: test-crash [--crash-after-ms N] [--exit-code C]\n"
    "  Runs (heartbeats) for N ms after becoming ready, then dies by SIGABRT, or,\n"
    "  with --exit-code, exits with status C (0 = a clean exit, for transient tests).\n"
    "  --crash-after-ms N   default 100\n"
    "  --exit-code C        0..255\n";

static int on_tick(engine *e)
{
    if (engine_now_ns(e) - start_ns < crash_after_ms * 1000000ull)
        return 0;
    if (use_exit) {
        mesh_info("exiting with code %llu", (unsigned long long)exit_code);
        exit((int)exit_code);
    }
    mesh_info("crashing now (abort)");
    abort();
}

static int init(engine *e, int argc, char **argv)
{
    static const struct option opts[] = {{"crash-after-ms", required_argument, 0, 'c'},
                                         {"exit-code", required_argument, 0, 'x'},
                                         {0, 0, 0, 0}};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c') {
            rc = test_arg_u64("--crash-after-ms", optarg, 0, 86400000, &crash_after_ms);
        } else if (c == 'x') {
            rc = test_arg_u64("--exit-code", optarg, 0, 255, &exit_code);
            use_exit = 1;
        } else {
            rc = MESH_EINVAL;
        }
    }
    if (rc == 0 && optind < argc)
        rc = test_arg_fail("argument", argv[optind], "unexpected");
    start_ns = engine_now_ns(e);
    return rc;
}

static const engine_timer timers[] = {{1, on_tick}};

static const engine_def def = {
    .name = "test-crash",
    .usage = usage,
    .init = init,
    .timers = timers,
    .ntimers = 1,
};

int main(int argc, char **argv)
{
    return engine_main(&def, argc, argv);
}
