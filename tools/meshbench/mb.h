/* meshbench internals: options, the per-case state shared by the two timed
 * roles, the harness that forks and pins them, and the transport table. */
#ifndef MB_H
#define MB_H

#include "mesh_hist.h"

#include <ck_pr.h>

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_MAX_SIZES     16
#define MB_MIN_PAYLOAD   8u     /* every payload carries a 64-bit sequence number */
#define MB_MAX_PAYLOAD   65536u /* largest --sizes value accepted */
#define MB_CACHE_LINE    64
#define MB_ERR_LEN       256
#define MB_SPIN_CHECK    4095u  /* spins between abort/deadline checks (mask) */
#define MB_FLOOR_SAMPLES 10000u /* per-case floor: timed round trips (after as many warm-up) */

enum mb_clock_kind { MB_CLOCK_TSC, MB_CLOCK_MONO };

/* Command-line options, validated by mb_opts_parse. */
typedef struct mb_opts {
    uint64_t messages;  /* throughput: most messages streamed per repetition */
    uint64_t budget_ms; /* throughput: a repetition stops streaming after this */
    unsigned repeat;    /* throughput repetitions; the median rate is reported */
    uint64_t samples;   /* latency: timed round trips per case */
    uint64_t warmup;    /* latency: untimed round trips first */
    size_t sizes[MB_MAX_SIZES];
    unsigned nsizes;
    unsigned transports; /* bit i set: mb_transports[i] runs */
    int cpu_a, cpu_b;
    bool json;
    enum mb_clock_kind clock;
    size_t ring_bytes;      /* data capacity of each ring */
    uint32_t publish_batch; /* ring throughput: producer publish batch in bytes (0 = each commit) */
    unsigned timeout_s;     /* per case; 0 = derived from the counts */
} mb_opts;

#define MB_MAX_REPEAT 16
#define MB_SEQ_END    UINT64_MAX /* sequence number of the end-of-stream marker */

/* State of one case, in a MAP_SHARED anonymous mapping created by the parent
 * before fork (or used by two threads): barrier, abort flag, first error, the
 * throughput timestamps and the histograms the roles fill. */
typedef struct mb_shared {
    alignas(MB_CACHE_LINE) uint32_t arrive; /* barrier: +1 per role per barrier */
    uint32_t abort;       /* set (release) by a failing role; read (acquire) by spinners */
    uint32_t err_claimed; /* CAS 0->1 by the first role to report an error */
    char err[MB_ERR_LEN];
    /* producer: CLOCK_MONOTONIC before message 0 of each repetition */
    alignas(MB_CACHE_LINE) uint64_t t_start[MB_MAX_REPEAT];
    /* consumer: CLOCK_MONOTONIC after the end marker, messages counted before it */
    alignas(MB_CACHE_LINE) uint64_t t_end[MB_MAX_REPEAT];
    uint64_t received[MB_MAX_REPEAT];
    alignas(MB_CACHE_LINE) uint64_t preempt[2]; /* involuntary context switches, A and B */
    /* per-case floor: two lines 256 bytes apart (A writes ab, B writes ba) */
    alignas(256) uint64_t floor_ab;
    alignas(256) uint64_t floor_ba;
    alignas(256) mesh_hist floor;           /* role A: RTT/2 of the cache-line ping-pong, ns */
    alignas(MB_CACHE_LINE) mesh_hist lat;   /* role A: RTT/2 per timed round trip, ns */
    alignas(MB_CACHE_LINE) mesh_hist stamp; /* role B: now - stamp in message (trade), ns */
} mb_shared;

_Static_assert(offsetof(mb_shared, t_start) % MB_CACHE_LINE == 0, "t_start line-aligned");
_Static_assert(offsetof(mb_shared, t_end) - offsetof(mb_shared, t_start) >= MB_CACHE_LINE,
               "producer and consumer timestamps on separate lines");
_Static_assert(offsetof(mb_shared, floor_ba) - offsetof(mb_shared, floor_ab) == 256,
               "per-case floor lines 256 bytes apart");
_Static_assert(offsetof(mb_shared, lat) % MB_CACHE_LINE == 0, "lat histogram line-aligned");
_Static_assert(offsetof(mb_shared, stamp) % MB_CACHE_LINE == 0, "stamp histogram line-aligned");
_Static_assert(sizeof(mb_shared) % MB_CACHE_LINE == 0, "mb_shared is whole cache lines");

struct mb_transport;
typedef struct mb_ep mb_ep; /* one role's two channels: tx (A->B for A) and rx */

/* One (transport, payload size) measurement. */
typedef struct mb_case {
    const mb_opts *opts;
    const struct mb_transport *tr;
    size_t payload; /* bytes per message on the wire (trade: encoded size) */
    mb_shared *sh;
    char tag[64];           /* unique per case: names shm objects, ipc paths */
    void *setup_priv;       /* state the parent's setup hands to the roles via fork */
    struct mb_rings *rings; /* ring transports: the rings the roles open (mb_ring.h) */
    int role;               /* 0 = A (pinger, producer), 1 = B (echoer, consumer), -1 parent */
    bool yield;             /* both roles on one CPU: yield while spinning */
    uint64_t deadline_ns;   /* CLOCK_MONOTONIC; roles give up after it */
    mesh_hist *stamp;       /* non-NULL while B's recv should record stamped latency */
    uint32_t barriers;      /* barriers this role has passed */
} mb_case;

/* A transport plugs in through this table. open/close/send/recv run in the
 * role's process or thread; setup/teardown in the parent. send and recv wait
 * (spin or block) until done, returning MESH_ECANCELED when the case aborts. */
typedef struct mb_transport {
    const char *name;
    const char *what;
    unsigned flags;
    unsigned rtt_allow_us;    /* case timeout allowance per round trip (0: MB_RTT_ALLOW_US) */
    int (*setup)(mb_case *c); /* teardown runs even when setup fails half-way */
    void (*teardown)(mb_case *c);
    int (*open)(mb_case *c, mb_ep **out);
    void (*close)(mb_ep *ep);
    int (*send)(mb_ep *ep, const uint8_t *buf, size_t len);
    int (*recv)(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len);
    /* Optional: the producer enters (on = 1) and leaves (on = 0, which must
     * flush) one-directional streaming, e.g. to batch the ring's publication. */
    int (*stream)(mb_ep *ep, int on);
} mb_transport;

#define MB_RTT_ALLOW_US 200u /* default per-round-trip timeout allowance (see --timeout) */

#define MB_TR_THREADS  0x1u /* both roles are threads of one process */
#define MB_TR_NO_TPUT  0x2u /* no throughput phase (the cache-line floor) */
#define MB_TR_ONE_SIZE 0x4u /* runs once, payload fixed by setup, not per --sizes */

extern const mb_transport mb_tr_floor, mb_tr_ring, mb_tr_uds, mb_tr_uds_spin, mb_tr_nng_ipc,
    mb_tr_nng_inproc, mb_tr_trade, mb_tr_nng_route;
extern const mb_transport *const mb_transports[];
extern const unsigned mb_ntransports;

/* Result of one case, in ns and per second (msgs_per_s < 0: not measured). */
typedef struct mb_result {
    const char *transport;
    size_t payload;
    uint64_t samples, p50, p99, p999, max;
    double msgs_per_s, bytes_per_s; /* median over the repetitions */
    double msgs_min, msgs_max;      /* slowest and fastest repetition */
    uint64_t messages;              /* streamed in the median repetition */
    unsigned repeats;
    uint64_t preempt;   /* involuntary context switches of the timed roles */
    uint64_t floor_p50; /* cache-line floor measured by the same roles just before */
    bool has_stamp;     /* trade: one-way stamped latency below */
    uint64_t st_p50, st_p99, st_p999, st_max, st_samples;
} mb_result;

/* --- mb_opts.c --- */

/* Parses argv into *o (defaults first). Returns 0, 1 when --help was printed,
 * or MESH_EINVAL after printing "meshbench: <flag>: <what is wrong>" to stderr. */
int mb_opts_parse(mb_opts *o, int argc, char **argv);

/* --- mb_clock.c --- */

/* Selects and calibrates the sample clock (TSC against CLOCK_MONOTONIC over
 * 2 x 50 ms windows that must agree). Call once in the parent before forking. Returns 0 or
 * MESH_ENOSYS when the TSC was requested but is unavailable. */
int mb_clock_init(enum mb_clock_kind kind);

/* Raw clock reading (TSC ticks or ns), and a difference converted to ns. */
uint64_t mb_ticks(void);
uint64_t mb_ticks_to_ns(uint64_t ticks);

/* Calibrated TSC frequency in GHz (0 when the clock is CLOCK_MONOTONIC), and
 * the median cost of one back-to-back reading in ns. */
double mb_clock_ghz(void);
double mb_clock_read_cost_ns(void);
const char *mb_clock_name(void);

/* --- mb_harness.c --- */

/* Runs one case: setup, fork (or one child with two threads), pin role A to
 * cpu_a and B to cpu_b, latency then throughput, reap, teardown. Fills *res.
 * Returns 0 or a negative code after printing the failing role's error. */
int mb_run_case(const mb_opts *o, const mb_transport *tr, size_t payload, mb_result *res);

/* Records the first error of a case (later ones are dropped) and sets abort.
 * Callable from either role. Returns rc, so `return mb_fail(c, rc, ...)`. */
int mb_fail(mb_case *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Slow path of a spin loop: every MB_SPIN_CHECK spins checks abort and the
 * deadline. Returns 0 to keep spinning or MESH_ECANCELED. */
int mb_spin_check(mb_case *c);

/* Keeps a spin loop polite and bounded: call once per unsuccessful poll. */
static inline int mb_spin(mb_case *c, uint32_t *n)
{
    if ((++*n & MB_SPIN_CHECK) != 0 && !c->yield) {
        ck_pr_stall();
        return 0;
    }
    return mb_spin_check(c);
}

/* True once the case is aborted (acquire; pairs with mb_fail's release). */
bool mb_aborted(const mb_case *c);

/* --- mb_loops.c --- */

/* The role bodies, identical for every transport: ping-pong latency (A times,
 * B echoes), then one-directional streaming (A produces, B counts). */
int mb_role_run(mb_case *c);

/* --- mb_report.c --- */

/* Human table (header once, one row per result) or one JSON object per line. */
void mb_report_header(const mb_opts *o);
void mb_report_row(const mb_opts *o, const mb_result *r);

/* Derived ratio lines and target verdicts (stdout for the table, stderr with
 * --json so stdout stays pure JSON lines). */
void mb_report_ratios(const mb_opts *o, const mb_result *rs, unsigned n);

#endif
