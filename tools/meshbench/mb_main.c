/* meshbench: latency and throughput of the shared-memory ring between two
 * pinned processes, beside the hardware floor, Unix sockets, nng and the
 * nng bridge route. */
#include "mb.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

const mb_transport *const mb_transports[] = {
    &mb_tr_floor,    &mb_tr_ring,    &mb_tr_trade,      &mb_tr_uds,
    &mb_tr_uds_spin, &mb_tr_nng_ipc, &mb_tr_nng_inproc, &mb_tr_nng_route,
};
const unsigned mb_ntransports = sizeof(mb_transports) / sizeof(mb_transports[0]);

#define MB_MAX_RESULTS (sizeof(mb_transports) / sizeof(mb_transports[0]) * MB_MAX_SIZES)

/* Runs every selected (transport, size) case in table order. Returns 0, 1 if
 * some case failed, or 130 when interrupted. */
static int run_all(const mb_opts *o, mb_result *rs, unsigned *n)
{
    int status = 0;
    for (unsigned t = 0; t < mb_ntransports; t++) {
        if (!(o->transports & (1u << t)))
            continue;
        const mb_transport *tr = mb_transports[t];
        unsigned nsz = (tr->flags & MB_TR_ONE_SIZE) ? 1 : o->nsizes;
        for (unsigned s = 0; s < nsz; s++) {
            size_t size = (tr->flags & MB_TR_ONE_SIZE) ? 0 : o->sizes[s];
            int rc = mb_run_case(o, tr, size, &rs[*n]);
            if (rc == MESH_EINTR)
                return 130;
            if (rc != 0) {
                status = 1;
                continue;
            }
            mb_report_row(o, &rs[*n]);
            (*n)++;
        }
    }
    return status;
}

int main(int argc, char **argv)
{
    static mb_result results[MB_MAX_RESULTS];
    mb_opts o;
    mesh_log_init("meshbench", MESH_LOG_INFO);
    int rc = mb_opts_parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    rc = mb_clock_init(o.clock);
    if (rc != 0) {
        fprintf(stderr, "meshbench: --clock: the TSC is not available here; use --clock mono\n");
        return 2;
    }
    /* A dead ipc peer must give an error return, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    mb_report_header(&o);
    unsigned n = 0;
    int status = run_all(&o, results, &n);
    mb_report_ratios(&o, results, n);
    if (status == 130)
        fprintf(stderr, "meshbench: interrupted\n");
    else if (status != 0)
        fprintf(stderr, "meshbench: some cases failed (see above)\n");
    return status;
}
