/* meshbench command line: defaults, parsing and validation; every error
 * names the flag and the offending item. */
#include "mb.h"
#include "mesh_cpu.h"
#include "mesh_error.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t default_sizes[] = {16, 64, 256, 1024, 4096};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: meshbench [options]\n"
        "Cross-process latency (RTT/2 of a ping-pong) and throughput (one-way stream)\n"
        "of the shared-memory ring against baselines; see docs/PERFORMANCE.md.\n\n"
        "  --messages N     most messages streamed per throughput repetition (default 5000000)\n"
        "  --budget-ms T    a repetition stops streaming after T ms (default 1000)\n"
        "  --repeat R       throughput repetitions, median reported, 1..16 (default 3)\n"
        "  --samples N      timed round trips per latency case (default 100000)\n"
        "  --warmup N       untimed round trips before them (default samples/10, >= 1000)\n"
        "  --sizes LIST     payload bytes, comma-separated, %u..%u (default 16,64,256,1024,4096)\n"
        "  --transports L   comma-separated subset of the list below, or 'all' (default)\n"
        "  --cpus A,B       CPUs for role A (pinger/producer) and B (echo/consumer), default 0,1\n"
        "  --clock K        tsc (calibrated against CLOCK_MONOTONIC, default) or mono\n"
        "  --ring-bytes N   data capacity of each ring, power of two (default 1048576);\n"
        "                   nng-route's bridge keeps up to half of it unacknowledged\n"
        "  --publish-batch B  ring and nng-route streams publish the head every B bytes\n"
        "                   of records (default 16384; 0 = every commit); latency\n"
        "                   ping-pongs always publish every commit\n"
        "  --timeout S      seconds allowed per case before it is killed (default: from counts)\n"
        "  --json           one JSON object per result line on stdout\n"
        "  --help           this text\n\ntransports:\n",
        MB_MIN_PAYLOAD, MB_MAX_PAYLOAD);
    for (unsigned i = 0; i < mb_ntransports; i++)
        fprintf(f, "  %-12s %s\n", mb_transports[i]->name, mb_transports[i]->what);
}

static int bad(const char *flag, const char *fmt, const char *item)
{
    fprintf(stderr, "meshbench: %s: ", flag);
    fprintf(stderr, fmt, item);
    fprintf(stderr, " (see --help)\n");
    return MESH_EINVAL;
}

/* Whole-string unsigned decimal in [lo, hi]. */
static int parse_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return bad(flag, "'%s' is not a non-negative integer", s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return bad(flag, "'%s' is not a non-negative integer", s);
    if (v < lo || v > hi) {
        fprintf(stderr, "meshbench: %s: %s is out of range [%" PRIu64 ", %" PRIu64 "]\n", flag, s,
                lo, hi);
        return MESH_ERANGE;
    }
    *out = v;
    return 0;
}

static int parse_sizes(mb_opts *o, const char *arg)
{
    char buf[512];
    if (strlen(arg) >= sizeof(buf) || arg[0] == '\0')
        return bad("--sizes", "'%s' is empty or too long", arg);
    strcpy(buf, arg);
    o->nsizes = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->nsizes == MB_MAX_SIZES)
            return bad("--sizes", "more than 16 sizes in '%s'", arg);
        uint64_t v;
        int rc = parse_u64("--sizes", t, MB_MIN_PAYLOAD, MB_MAX_PAYLOAD, &v);
        if (rc != 0)
            return rc;
        o->sizes[o->nsizes++] = (size_t)v;
    }
    return o->nsizes ? 0 : bad("--sizes", "no size in '%s'", arg);
}

static int parse_transports(mb_opts *o, const char *arg)
{
    char buf[512];
    if (strlen(arg) >= sizeof(buf) || arg[0] == '\0')
        return bad("--transports", "'%s' is empty or too long", arg);
    strcpy(buf, arg);
    o->transports = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "all") == 0) {
            o->transports = (1u << mb_ntransports) - 1;
            continue;
        }
        unsigned i = 0;
        while (i < mb_ntransports && strcmp(t, mb_transports[i]->name) != 0)
            i++;
        if (i == mb_ntransports)
            return bad("--transports", "unknown transport '%s'", t);
        o->transports |= 1u << i;
    }
    return o->transports ? 0 : bad("--transports", "no transport in '%s'", arg);
}

static int parse_cpus(mb_opts *o, const char *arg)
{
    char buf[64];
    const char *comma = strchr(arg, ',');
    if (comma == NULL || strlen(arg) >= sizeof(buf))
        return bad("--cpus", "'%s' is not of the form A,B", arg);
    memcpy(buf, arg, (size_t)(comma - arg));
    buf[comma - arg] = '\0';
    uint64_t a, b, top = (uint64_t)mesh_cpu_count() - 1;
    int rc = parse_u64("--cpus", buf, 0, top, &a);
    if (rc == 0)
        rc = parse_u64("--cpus", comma + 1, 0, top, &b);
    if (rc != 0)
        return rc;
    o->cpu_a = (int)a;
    o->cpu_b = (int)b;
    return 0;
}

static void set_defaults(mb_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->messages = 5000000;
    o->budget_ms = 1000;
    o->repeat = 3;
    o->samples = 100000;
    memcpy(o->sizes, default_sizes, sizeof(default_sizes));
    o->nsizes = sizeof(default_sizes) / sizeof(default_sizes[0]);
    o->transports = (1u << mb_ntransports) - 1;
    o->cpu_a = 0;
    o->cpu_b = mesh_cpu_count() > 1 ? 1 : 0;
    o->clock = MB_CLOCK_TSC;
    o->ring_bytes = 1u << 20;
    o->publish_batch = 16384;
}

enum {
    OPT_MESSAGES = 1000,
    OPT_SAMPLES,
    OPT_WARMUP,
    OPT_SIZES,
    OPT_TRANSPORTS,
    OPT_CPUS,
    OPT_CLOCK,
    OPT_RING,
    OPT_PUBLISH,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_HELP,
    OPT_BUDGET,
    OPT_REPEAT
};

static const struct option long_opts[] = {
    {"messages", required_argument, NULL, OPT_MESSAGES},
    {"budget-ms", required_argument, NULL, OPT_BUDGET},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"sizes", required_argument, NULL, OPT_SIZES},
    {"transports", required_argument, NULL, OPT_TRANSPORTS},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"clock", required_argument, NULL, OPT_CLOCK},
    {"ring-bytes", required_argument, NULL, OPT_RING},
    {"publish-batch", required_argument, NULL, OPT_PUBLISH},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_one(mb_opts *o, int opt, const char *arg, bool *warm_set)
{
    uint64_t v = 0;
    int rc = 0;
    switch (opt) {
    case OPT_MESSAGES:
        return parse_u64("--messages", arg, 1, UINT64_C(1) << 40, &o->messages);
    case OPT_BUDGET:
        return parse_u64("--budget-ms", arg, 1, 3600000, &o->budget_ms);
    case OPT_REPEAT:
        rc = parse_u64("--repeat", arg, 1, MB_MAX_REPEAT, &v);
        o->repeat = (unsigned)v;
        return rc;
    case OPT_SAMPLES:
        return parse_u64("--samples", arg, 1, UINT64_C(1) << 40, &o->samples);
    case OPT_WARMUP:
        *warm_set = true;
        return parse_u64("--warmup", arg, 0, UINT64_C(1) << 40, &o->warmup);
    case OPT_SIZES:
        return parse_sizes(o, arg);
    case OPT_TRANSPORTS:
        return parse_transports(o, arg);
    case OPT_CPUS:
        return parse_cpus(o, arg);
    case OPT_CLOCK:
        if (strcmp(arg, "tsc") != 0 && strcmp(arg, "mono") != 0)
            return bad("--clock", "'%s' is neither tsc nor mono", arg);
        o->clock = arg[0] == 't' ? MB_CLOCK_TSC : MB_CLOCK_MONO;
        return 0;
    case OPT_RING:
        rc = parse_u64("--ring-bytes", arg, 4096, UINT64_C(1) << 30, &v);
        if (rc == 0 && (v & (v - 1)) != 0)
            return bad("--ring-bytes", "%s is not a power of two", arg);
        o->ring_bytes = (size_t)v;
        return rc;
    case OPT_PUBLISH:
        rc = parse_u64("--publish-batch", arg, 0, UINT32_MAX, &v);
        o->publish_batch = (uint32_t)v;
        return rc;
    case OPT_TIMEOUT:
        rc = parse_u64("--timeout", arg, 1, 86400, &v);
        o->timeout_s = (unsigned)v;
        return rc;
    case OPT_JSON:
        o->json = true;
        return 0;
    default:
        return MESH_EINVAL;
    }
}

int mb_opts_parse(mb_opts *o, int argc, char **argv)
{
    set_defaults(o);
    bool warm_set = false;
    opterr = 0;
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "", long_opts, NULL);
        if (opt == -1)
            break;
        if (opt == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (opt == '?' || opt == ':') {
            const char *a = argv[optind - 1];
            return bad(a ? a : "?", "%s", "unknown option or missing value");
        }
        int rc = parse_one(o, opt, optarg, &warm_set);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return bad(argv[optind], "%s", "unexpected argument");
    if (!warm_set)
        o->warmup = o->samples / 10 > 1000 ? o->samples / 10 : 1000;
    return 0;
}
