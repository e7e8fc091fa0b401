/* bench_synth: how many trades per second md_synth generates unthrottled.
 * Usage: bench_synth [trades (default 10000000)] [seed (default 1)] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "md_synth.h"
#include "mesh_clock.h"
#include "mesh_error.h"

int main(int argc, char **argv)
{
    uint64_t want = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    md_synth_params p;
    md_synth_default_params(&p);
    if (argc > 2)
        p.seed = strtoull(argv[2], NULL, 10);
    if (want == 0) {
        fprintf(stderr, "usage: bench_synth [trades > 0] [seed]\n");
        return 2;
    }
    md_synth *s;
    int rc = md_synth_open(&s, &p);
    if (rc < 0) {
        fprintf(stderr, "bench_synth: %s\n", mesh_strerror(rc));
        return 1;
    }
    md_event ev;
    uint64_t trades = 0, events = 0;
    double checksum = 0; /* keeps the work observable */
    uint64_t t0 = mesh_now_ns();
    while (trades < want) {
        if (md_synth_next(s, &ev) != 1)
            break;
        events++;
        if (ev.kind == MD_EVENT_TRADE) {
            trades++;
            checksum += ev.trade.price;
        }
    }
    double sec = (double)(mesh_now_ns() - t0) / 1e9;
    printf("bench_synth: %" PRIu64 " trades, %" PRIu64 " events (trades+quotes) in %.3f s\n",
           trades, events, sec);
    printf("bench_synth: %.2f M trades/s, %.2f M events/s, %.1f ns/event (checksum %.6g)\n",
           (double)trades / sec / 1e6, (double)events / sec / 1e6, sec * 1e9 / (double)events,
           checksum);
    md_synth_close(s);
    return 0;
}
