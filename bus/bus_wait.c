/* Wait strategies and the doorbell eventcount: a consumer that found all its
 * inputs empty spins, yields, then sleeps in FUTEX_WAIT on a shared word that
 * producers bump and FUTEX_WAKE only when the consumer said it sleeps. */
#include "bus_wait.h"
#include "bus_atomic.h"
#include "mesh_clock.h"
#include "mesh_error.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Shared-memory ABI (inside the control block, BUS_CTL_VERSION). */
_Static_assert(sizeof(bus_doorbell) == 128, "doorbell is one 128-byte line");
_Static_assert(_Alignof(bus_doorbell) == 8, "doorbell alignment");
_Static_assert(offsetof(bus_doorbell, seq) == 0, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, sleeping) == 4, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, sleeps) == 8, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, wakes) == 16, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, timeouts) == 24, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, pad) == 32, "doorbell layout");
_Static_assert(offsetof(bus_doorbell, seq) % 4 == 0, "futex word is 4-aligned");

#define WAIT_NAP_MIN_US 16u
#define WAIT_NAP_MAX_US 1000u

static const bus_wait_cfg wait_default = {
    .kind = BUS_WAIT_ADAPTIVE,
    .spin = 2000,
    .yield = 16,
};

void bus_wait_cfg_default(bus_wait_cfg *cfg)
{
    *cfg = wait_default;
}

int bus_wait_kind_parse(const char *s, enum bus_wait_kind *kind)
{
    static const struct {
        const char *name;
        enum bus_wait_kind kind;
    } names[] = {
        {"adaptive", BUS_WAIT_ADAPTIVE},
        {"spin", BUS_WAIT_SPIN},
        {"yield", BUS_WAIT_YIELD},
    };
    for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *kind = names[i].kind;
            return 0;
        }
    }
    return MESH_EINVAL;
}

void bus_doorbell_init(bus_doorbell *db)
{
    memset(db, 0, sizeof(*db));
}

void bus_doorbell_reset(bus_doorbell *db)
{
    /* Relaxed: no one sleeps on db now (the contract), so there is no wakeup
     * to lose; it pairs with nothing. The next doorbell_sleep sets the flag
     * again with its full fence. */
    bus_store_32(&db->sleeping, 0);
}

/* Shared (not PRIVATE) futex: waiter and wakers are different processes. */
static long wait_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

int bus_doorbell_notify(bus_doorbell *db)
{
    /* Full fence: the caller's release store of the ring head must be visible
     * before we load `sleeping`. Pairs with the full fence in doorbell_sleep
     * between its store of `sleeping` and its re-check of the rings: at least
     * one side sees the other's store (Dekker), so no wakeup is lost. */
    bus_fence_full();
    if (bus_load_32(&db->sleeping) == 0)
        return 0;
    /* Atomic RMW (several producers may ring at once). The futex word itself
     * needs no ordering: FUTEX_WAIT compares it in the kernel, atomically
     * with going to sleep. */
    bus_inc_32(&db->seq);
    wait_futex(&db->seq, FUTEX_WAKE, INT_MAX, NULL);
    return 1;
}

static void ns_to_timespec(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* One eventcount sleep: returns when rung, on timeout, or at once when the
 * re-check finds input. The consumer thread is the only writer of sleeping,
 * sleeps and wakes. */
static void doorbell_sleep(bus_doorbell *db, bus_wait_ready_fn ready, void *arg, uint64_t deadline)
{
    /* Relaxed: seq is read before the re-check (ordered by the fence below),
     * so a ring after it changes seq and FUTEX_WAIT returns at once. */
    uint32_t seq = bus_load_32(&db->seq);
    bus_store_32(&db->sleeping, 1);
    /* Full fence: our `sleeping` store before the re-check loads of the rings'
     * heads. Pairs with the full fence in bus_doorbell_notify. */
    bus_fence_full();
    if (!ready(arg)) {
        uint64_t now = mesh_now_ns();
        struct timespec ts;
        ns_to_timespec(deadline > now ? deadline - now : 0, &ts);
        bus_add_64(&db->sleeps, 1);
        /* Sleeps only while seq still equals the value read before the
         * re-check: a ring in between makes FUTEX_WAIT return at once. */
        long rc = wait_futex(&db->seq, FUTEX_WAIT, seq, &ts);
        if (bus_load_32(&db->seq) != seq)
            bus_add_64(&db->wakes, 1);
        else if (rc != 0 && errno == ETIMEDOUT)
            bus_add_64(&db->timeouts, 1);
    }
    /* Relaxed: a producer that still reads 1 rings once for nothing. */
    bus_store_32(&db->sleeping, 0);
}

static void wait_nap(uint32_t us)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000};
    nanosleep(&ts, NULL);
}

static uint64_t wait_deadline(uint64_t timeout_ns)
{
    uint64_t now = mesh_now_ns();
    return timeout_ns >= UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* Spin phase: `spins` polls (forever for SPIN), clock checked every 256. */
static int wait_spin(const bus_wait_cfg *cfg, bus_wait_ready_fn ready, void *arg, uint64_t deadline)
{
    for (uint32_t i = 0; cfg->kind == BUS_WAIT_SPIN || i < cfg->spin; i++) {
        if (ready(arg))
            return 0;
        if ((i & 255u) == 255u && mesh_now_ns() >= deadline)
            return MESH_ETIMEDOUT;
        ck_pr_stall();
    }
    return MESH_EAGAIN;
}

int bus_wait_idle(const bus_wait_cfg *cfg, bus_doorbell *db, bus_wait_ready_fn ready, void *arg,
                  uint64_t timeout_ns)
{
    if (cfg == NULL)
        cfg = &wait_default;
    uint64_t deadline = wait_deadline(timeout_ns);
    int rc = wait_spin(cfg, ready, arg, deadline);
    if (rc != MESH_EAGAIN)
        return rc;
    uint32_t nap = WAIT_NAP_MIN_US;
    for (uint32_t round = 0;; round++) {
        if (ready(arg))
            return 0;
        if (mesh_now_ns() >= deadline)
            return MESH_ETIMEDOUT;
        if (cfg->kind == BUS_WAIT_YIELD || round < cfg->yield) {
            sched_yield();
        } else if (db != NULL) {
            doorbell_sleep(db, ready, arg, deadline);
        } else {
            wait_nap(nap);
            nap = nap * 2 > WAIT_NAP_MAX_US ? WAIT_NAP_MAX_US : nap * 2;
        }
    }
}

void bus_backoff_init(bus_backoff *b, const bus_wait_cfg *cfg)
{
    b->cfg = cfg ? cfg : &wait_default;
    b->round = 0;
    b->nap_us = WAIT_NAP_MIN_US;
}

void bus_backoff_step(bus_backoff *b)
{
    const bus_wait_cfg *cfg = b->cfg;
    if (cfg->kind == BUS_WAIT_SPIN || b->round < cfg->spin) {
        b->round++;
        ck_pr_stall();
    } else if (cfg->kind == BUS_WAIT_YIELD || b->round < cfg->spin + cfg->yield) {
        b->round++;
        sched_yield();
    } else {
        wait_nap(b->nap_us);
        b->nap_us = b->nap_us * 2 > WAIT_NAP_MAX_US ? WAIT_NAP_MAX_US : b->nap_us * 2;
    }
}
