/* meshbench role bodies, shared by every transport so that the figures are
 * comparable: ping-pong latency (RTT/2), then one-directional streaming. */
#include "mb.h"
#include "mb_atomic.h"
#include "mesh_clock.h"
#include "mesh_error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Both roles arrive; returns once the other has too (barrier k completes
 * when the shared count reaches 2k). The increment is a full barrier: writes
 * before it (e.g. t_start) are visible to the other role once its acquire
 * load below sees the count, which pairs with it. */
static int barrier(mb_case *c)
{
    uint32_t want = 2 * ++c->barriers;
    mb_inc_32(&c->sh->arrive);
    uint32_t n = 0;
    while (mb_load_acq_32(&c->sh->arrive) < want) {
        int rc = mb_spin(c, &n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static inline void put_seq(uint8_t *buf, uint64_t seq)
{
    memcpy(buf, &seq, sizeof(seq));
}

static inline uint64_t get_seq(const uint8_t *buf)
{
    uint64_t seq;
    memcpy(&seq, buf, sizeof(seq));
    return seq;
}

/* Checks one received message: length (not for transports that size their
 * own messages) and sequence number. */
static int check_msg(mb_case *c, const char *what, uint64_t want, const uint8_t *buf, size_t got)
{
    bool sized = !(c->tr->flags & MB_TR_ONE_SIZE);
    if (sized && got != c->payload)
        return mb_fail(c, MESH_EPROTO, "%s message %llu: %zu bytes, expected %zu", what,
                       (unsigned long long)want, got, c->payload);
    if (get_seq(buf) != want)
        return mb_fail(c, MESH_EPROTO, "%s: sequence %llu, expected %llu (lost or reordered)", what,
                       (unsigned long long)get_seq(buf), (unsigned long long)want);
    return 0;
}

/* Role A: send, wait for the echo, record (t1 - t0) / 2 after the warm-up. */
static int lat_ping(mb_case *c, mb_ep *ep, uint8_t *buf, size_t cap)
{
    const mb_transport *t = c->tr;
    uint64_t warm = c->opts->warmup, total = warm + c->opts->samples;
    for (uint64_t i = 0; i < total; i++) {
        size_t got = 0;
        put_seq(buf, i);
        uint64_t t0 = mb_ticks();
        int rc = t->send(ep, buf, c->payload);
        if (rc == 0)
            rc = t->recv(ep, buf, cap, &got);
        uint64_t t1 = mb_ticks();
        if (rc != 0)
            return mb_fail(c, rc, "round trip %llu: %s", (unsigned long long)i, mesh_strerror(rc));
        rc = check_msg(c, "echo", i, buf, got);
        if (rc != 0)
            return rc;
        if (i >= warm)
            mesh_hist_record(&c->sh->lat, (mb_ticks_to_ns(t1 - t0) + 1) / 2);
    }
    return 0;
}

/* Role B: receive each ping and send it straight back. */
static int lat_echo(mb_case *c, mb_ep *ep, uint8_t *buf, size_t cap)
{
    const mb_transport *t = c->tr;
    uint64_t warm = c->opts->warmup, total = warm + c->opts->samples;
    for (uint64_t i = 0; i < total; i++) {
        size_t got = 0;
        c->stamp = i >= warm ? &c->sh->stamp : NULL;
        int rc = t->recv(ep, buf, cap, &got);
        if (rc == 0)
            rc = check_msg(c, "ping", i, buf, got);
        if (rc == 0)
            rc = t->send(ep, buf, got);
        if (rc != 0)
            return rc == MESH_EPROTO
                       ? rc
                       : mb_fail(c, rc, "echo %llu: %s", (unsigned long long)i, mesh_strerror(rc));
    }
    c->stamp = NULL;
    return 0;
}

/* Role A: stream up to N messages as fast as the transport accepts them,
 * stopping early when the time budget is spent, then the end marker. */
static int tput_produce(mb_case *c, mb_ep *ep, uint8_t *buf, unsigned rep)
{
    uint64_t n = c->opts->messages, budget = c->opts->budget_ms * 1000000ull;
    int rc = c->tr->stream ? c->tr->stream(ep, 1) : 0;
    if (rc != 0)
        return mb_fail(c, rc, "stream start: %s", mesh_strerror(rc));
    uint64_t t0 = mesh_now_ns();
    mb_store_rel_64(&c->sh->t_start[rep], t0);
    for (uint64_t i = 0; i <= n; i++) {
        bool end = i == n || ((i & 1023) == 1023 && mesh_now_ns() - t0 > budget);
        put_seq(buf, end ? MB_SEQ_END : i);
        rc = c->tr->send(ep, buf, c->payload);
        if (rc != 0)
            return mb_fail(c, rc, "stream send %llu: %s", (unsigned long long)i, mesh_strerror(rc));
        if (end)
            break;
    }
    rc = c->tr->stream ? c->tr->stream(ep, 0) : 0; /* flushes the end marker */
    return rc == 0 ? 0 : mb_fail(c, rc, "stream end: %s", mesh_strerror(rc));
}

/* Role B: receive and check messages until the end marker, then stamp the
 * end time and the count. */
static int tput_consume(mb_case *c, mb_ep *ep, uint8_t *buf, size_t cap, unsigned rep)
{
    for (uint64_t i = 0;; i++) {
        size_t got = 0;
        int rc = c->tr->recv(ep, buf, cap, &got);
        if (rc != 0)
            return mb_fail(c, rc, "stream recv %llu: %s", (unsigned long long)i, mesh_strerror(rc));
        if (get_seq(buf) == MB_SEQ_END) {
            mb_store_rel_64(&c->sh->t_end[rep], mesh_now_ns());
            mb_store_rel_64(&c->sh->received[rep], i);
            return 0;
        }
        rc = check_msg(c, "stream", i, buf, got);
        if (rc != 0)
            return rc;
    }
}

/* Waits until *line holds v (acquire; pairs with the other role's release
 * store in case_floor). */
static int floor_wait(mb_case *c, const uint64_t *line, uint64_t v)
{
    uint32_t n = 0;
    while (mb_load_acq_64(line) != v) {
        int rc = mb_spin(c, &n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The hardware floor between these two pinned roles, measured right before
 * the case (the placement of virtual CPUs can change between cases): a
 * cache-line ping-pong, RTT/2 into sh->floor. */
static int case_floor(mb_case *c)
{
    mb_shared *sh = c->sh;
    for (uint64_t i = 0; i < 2 * MB_FLOOR_SAMPLES; i++) {
        int rc;
        if (c->role == 0) {
            uint64_t t0 = mb_ticks();
            mb_store_rel_64(&sh->floor_ab, i); /* pairs with floor_wait in B */
            rc = floor_wait(c, &sh->floor_ba, i);
            uint64_t t1 = mb_ticks();
            if (rc == 0 && i >= MB_FLOOR_SAMPLES)
                mesh_hist_record(&sh->floor, (mb_ticks_to_ns(t1 - t0) + 1) / 2);
        } else {
            rc = floor_wait(c, &sh->floor_ab, i);
            mb_store_rel_64(&sh->floor_ba, i); /* pairs with floor_wait in A */
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int run_phases(mb_case *c, mb_ep *ep, uint8_t *buf, size_t cap)
{
    int rc = barrier(c);
    if (rc == 0)
        rc = case_floor(c);
    if (rc == 0)
        rc = c->role == 0 ? lat_ping(c, ep, buf, cap) : lat_echo(c, ep, buf, cap);
    unsigned reps = (c->tr->flags & MB_TR_NO_TPUT) ? 0 : c->opts->repeat;
    for (unsigned r = 0; r < reps && rc == 0; r++) {
        rc = barrier(c);
        if (rc == 0)
            rc = c->role == 0 ? tput_produce(c, ep, buf, r) : tput_consume(c, ep, buf, cap, r);
    }
    if (rc == 0)
        rc = barrier(c);
    return rc;
}

int mb_role_run(mb_case *c)
{
    /* Room for the largest payload plus slack for transports that size their
     * own messages; the pattern byte makes every payload byte defined. */
    size_t cap =
        (c->payload + 2 * MB_CACHE_LINE + MB_CACHE_LINE - 1) & ~(size_t)(MB_CACHE_LINE - 1);
    uint8_t *buf = aligned_alloc(MB_CACHE_LINE, cap);
    if (buf == NULL)
        return mb_fail(c, MESH_ENOMEM, "no memory for a %zu-byte buffer", cap);
    memset(buf, 0xa5, cap);
    mb_ep *ep = NULL;
    int rc = c->tr->open(c, &ep);
    if (rc != 0) {
        rc = mb_fail(c, rc, "%s open: %s", c->tr->name, mesh_strerror(rc));
        goto out_buf;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    rc = run_phases(c, ep, buf, cap);
    getrusage(RUSAGE_THREAD, &ru1);
    mb_store_rel_64(&c->sh->preempt[c->role], (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw));
    c->tr->close(ep);
out_buf:
    free(buf);
    return rc;
}
