/* meshbench output: run header, the human table or JSON lines, and the
 * derived ratios checked against the targets of the bus and off-host route
 * issues. */
#include "mb.h"
#include "mesh_cpu.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

/* Targets from the issues (see docs/PERFORMANCE.md). */
#define TARGET_RING_OVER_FLOOR 2.0  /* ring p50 <= 2x the floor p50 */
#define TARGET_NNG_OVER_RING   20.0 /* nng ipc p50 >= 20x the ring p50 */
#define TARGET_RING_64_MSGS    20e6 /* 64-byte messages per second */
#define TARGET_TRADE_P50_NS    400  /* protobuf trade end to end, p50 below */
#define TARGET_ROUTE_64_MSGS   1e6  /* nng bridge route, 64-byte messages per second */
#define RATIO_SIZE             64   /* payload the ratios compare at */

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            snprintf(out, cap, "%s", colon + 2);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}

static void loadavg(char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL)
        return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

void mb_report_header(const mb_opts *o)
{
    char model[128], load[64];
    struct utsname u;
    cpu_model(model, sizeof(model));
    loadavg(load, sizeof(load));
    if (uname(&u) != 0)
        snprintf(u.release, sizeof(u.release), "?");
    FILE *f = o->json ? stderr : stdout;
    fprintf(f, "# meshbench: %s, %d CPUs, Linux %s, load average %s\n", model, mesh_cpu_count(),
            u.release, load);
    fprintf(f, "# roles pinned: A (ping, producer) cpu %d, B (echo, consumer) cpu %d\n", o->cpu_a,
            o->cpu_b);
    if (mb_clock_ghz() > 0)
        fprintf(f, "# clock tsc %.3f GHz (calibrated), read cost %.1f ns; ", mb_clock_ghz(),
                mb_clock_read_cost_ns());
    else
        fprintf(f, "# clock CLOCK_MONOTONIC, read cost %.1f ns; ", mb_clock_read_cost_ns());
    fprintf(f, "latency = RTT/2 over %" PRIu64 " samples after %" PRIu64 " warm-up; ", o->samples,
            o->warmup);
    fprintf(f,
            "throughput: median of %u streams of up to %" PRIu64 " messages or %" PRIu64
            " ms; ring %zu bytes, streams publish every %u bytes\n",
            o->repeat, o->messages, o->budget_ms, o->ring_bytes, o->publish_batch);
    if (!o->json)
        printf("%-11s %6s %7s %7s %8s %9s %8s %8s %15s %8s %6s %7s\n", "transport", "bytes",
               "p50_ns", "p99_ns", "p999_ns", "max_ns", "samples", "Mmsg/s", "(min..max)", "MB/s",
               "floor", "preempt");
    fflush(f);
}

static void row_json(const mb_opts *o, const mb_result *r)
{
    printf("{\"transport\":\"%s\",\"payload_bytes\":%zu,\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
           ",\"p999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 ",\"samples\":%" PRIu64,
           r->transport, r->payload, r->p50, r->p99, r->p999, r->max, r->samples);
    if (r->msgs_per_s >= 0)
        printf(",\"msgs_per_s\":%.1f,\"bytes_per_s\":%.1f,\"messages\":%" PRIu64
               ",\"msgs_per_s_min\":%.1f,\"msgs_per_s_max\":%.1f,\"repeats\":%u",
               r->msgs_per_s, r->bytes_per_s, r->messages, r->msgs_min, r->msgs_max, r->repeats);
    else
        printf(",\"msgs_per_s\":null,\"bytes_per_s\":null,\"messages\":0");
    if (r->has_stamp)
        printf(",\"oneway_p50_ns\":%" PRIu64 ",\"oneway_p99_ns\":%" PRIu64
               ",\"oneway_p999_ns\":%" PRIu64 ",\"oneway_max_ns\":%" PRIu64
               ",\"oneway_samples\":%" PRIu64,
               r->st_p50, r->st_p99, r->st_p999, r->st_max, r->st_samples);
    printf(",\"floor_p50_ns\":%" PRIu64 ",\"preempted\":%" PRIu64
           ",\"cpu_a\":%d,\"cpu_b\":%d,\"clock\":\"%s\"}\n",
           r->floor_p50, r->preempt, o->cpu_a, o->cpu_b, mb_clock_name());
}

static void row_table(const mb_result *r)
{
    char mps[32] = "-", range[48] = "-", bps[32] = "-";
    if (r->msgs_per_s >= 0) {
        snprintf(mps, sizeof(mps), "%.3f", r->msgs_per_s / 1e6);
        snprintf(range, sizeof(range), "(%.3g..%.3g)", r->msgs_min / 1e6, r->msgs_max / 1e6);
        snprintf(bps, sizeof(bps), "%.1f", r->bytes_per_s / 1e6);
    }
    printf("%-11s %6zu %7" PRIu64 " %7" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8" PRIu64
           " %8s %15s %8s %6" PRIu64 " %7" PRIu64 "\n",
           r->transport, r->payload, r->p50, r->p99, r->p999, r->max, r->samples, mps, range, bps,
           r->floor_p50, r->preempt);
    if (r->has_stamp)
        printf("%-11s %6zu %7" PRIu64 " %7" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8s\n",
               "  stamped", r->payload, r->st_p50, r->st_p99, r->st_p999, r->st_max, r->st_samples,
               "-");
}

void mb_report_row(const mb_opts *o, const mb_result *r)
{
    if (o->json)
        row_json(o, r);
    else
        row_table(r);
    fflush(stdout);
}

/* The result for `name` at `size` (0: any size). */
static const mb_result *find(const mb_result *rs, unsigned n, const char *name, size_t size)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(rs[i].transport, name) == 0 && (size == 0 || rs[i].payload == size))
            return &rs[i];
    return NULL;
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

/* ring p50 over the floor measured by the same processes just before the
 * ring case (the floor row's own value is shown beside it). */
static void ratio_floor(FILE *f, const mb_result *ring, const mb_result *fl)
{
    if (ring == NULL || ring->floor_p50 == 0) {
        fprintf(f, "# ratio ring p50 / floor p50 (64 B): n/a (needs ring at 64 B)\n");
        return;
    }
    double x = (double)ring->p50 / (double)ring->floor_p50;
    fprintf(f,
            "# ratio ring p50 / floor p50 (64 B): %" PRIu64 " / %" PRIu64
            " = %.2f (target <= %.0f: %s); floor measured just before the ring case, floor row "
            "p50 %" PRIu64 "\n",
            ring->p50, ring->floor_p50, x, TARGET_RING_OVER_FLOOR,
            verdict(x <= TARGET_RING_OVER_FLOOR), fl ? fl->p50 : 0);
}

/* The nng bridge route (off-host routes issue): throughput target, and its
 * latency beside the ring's from the same run. */
static void ratio_route(FILE *f, const mb_result *route, const mb_result *ring)
{
    if (route == NULL) {
        fprintf(f, "# nng-route 64 B: n/a (needs nng-route at 64 B)\n");
        return;
    }
    if (route->msgs_per_s >= 0)
        fprintf(f, "# nng-route 64 B throughput: %.2f M msgs/s, %.0f MB/s (target >= %.0f M: %s)\n",
                route->msgs_per_s / 1e6, route->bytes_per_s / 1e6, TARGET_ROUTE_64_MSGS / 1e6,
                verdict(route->msgs_per_s >= TARGET_ROUTE_64_MSGS));
    if (ring && ring->p50 > 0)
        fprintf(f,
                "# ratio nng-route p50 / ring p50 (64 B, RTT/2): %" PRIu64 " / %" PRIu64
                " = %.0f; nng-route p99 %" PRIu64 ", p99.9 %" PRIu64 " ns\n",
                route->p50, ring->p50, (double)route->p50 / (double)ring->p50, route->p99,
                route->p999);
    else
        fprintf(f, "# ratio nng-route p50 / ring p50 (64 B): n/a (needs ring at 64 B)\n");
    if (route->has_stamp)
        fprintf(f,
                "# nng-route 64 B one-way stamped: p50 %" PRIu64 ", p99 %" PRIu64 ", p99.9 %" PRIu64
                ", max %" PRIu64 " ns\n",
                route->st_p50, route->st_p99, route->st_p999, route->st_max);
}

static void ratio_lines(FILE *f, const mb_result *rs, unsigned n)
{
    const mb_result *ring = find(rs, n, "ring", RATIO_SIZE);
    const mb_result *ipc = find(rs, n, "nng-ipc", RATIO_SIZE);
    const mb_result *tr = find(rs, n, "trade", 0);
    ratio_floor(f, ring, find(rs, n, "floor", 0));
    if (ipc && ring && ring->p50 > 0) {
        double x = (double)ipc->p50 / (double)ring->p50;
        fprintf(f,
                "# ratio nng-ipc p50 / ring p50 (64 B): %" PRIu64 " / %" PRIu64
                " = %.1f (target >= %.0f: %s)\n",
                ipc->p50, ring->p50, x, TARGET_NNG_OVER_RING, verdict(x >= TARGET_NNG_OVER_RING));
    } else {
        fprintf(f, "# ratio nng-ipc p50 / ring p50 (64 B): n/a (needs nng-ipc and ring at 64 B)\n");
    }
    if (ring && ring->msgs_per_s >= 0)
        fprintf(f, "# ring 64 B throughput: %.2f M msgs/s, %.0f MB/s (target >= %.0f M: %s)\n",
                ring->msgs_per_s / 1e6, ring->bytes_per_s / 1e6, TARGET_RING_64_MSGS / 1e6,
                verdict(ring->msgs_per_s >= TARGET_RING_64_MSGS));
    else
        fprintf(f, "# ring 64 B throughput: n/a (needs ring at 64 B)\n");
    if (tr)
        fprintf(f,
                "# trade end to end p50: %" PRIu64 " ns RTT/2, %" PRIu64
                " ns one-way stamped (target < %d: %s)\n",
                tr->p50, tr->st_p50, TARGET_TRADE_P50_NS,
                verdict(tr->p50 < TARGET_TRADE_P50_NS && tr->st_p50 < TARGET_TRADE_P50_NS));
    else
        fprintf(f, "# trade end to end p50: n/a (needs trade)\n");
    ratio_route(f, find(rs, n, "nng-route", RATIO_SIZE), ring);
}

void mb_report_ratios(const mb_opts *o, const mb_result *rs, unsigned n)
{
    FILE *f = o->json ? stderr : stdout;
    ratio_lines(f, rs, n);
    fflush(f);
}
