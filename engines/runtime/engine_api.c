/* Engine runtime: accessors for engines, stop requests and signal handling,
 * heartbeat and rate-limited warnings. */
#include <ck_pr.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

/* Signal number that asked for a stop, 0 = none. Written by on_signal, read by
 * the loop; both run on the engine thread (the handler interrupts it), so
 * ck_pr store/load only keep the compiler from caching or tearing the value:
 * the store in on_signal pairs with the load in engine_signalled. */
static int sig_stop;
/* Doorbell the handler rings; NULL before attach and after detach. */
static bus_doorbell *sig_db;

/* Async-signal-safe: one atomic store, then the doorbell ring (a fence, an
 * atomic increment and FUTEX_WAKE) so a loop about to sleep on the doorbell
 * wakes up at once instead of at its next timeout. */
static void on_signal(int sig)
{
    int saved = errno;
    ck_pr_store_int(&sig_stop, sig);
    bus_doorbell *db = ck_pr_load_ptr(&sig_db);
    if (db)
        bus_doorbell_notify(db);
    errno = saved;
}

void engine_signals_doorbell(bus_doorbell *db)
{
    /* Pairs with the ck_pr_load_ptr in on_signal (same thread). */
    ck_pr_store_ptr(&sig_db, db);
}

int engine_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR and the loop looks */
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return mesh_err_from_errno(errno);
    /* A closed stdout/stderr pipe (meshd gone) must not kill the engine. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int engine_signalled(void)
{
    return ck_pr_load_int(&sig_stop);
}

int engine_stop_requested(const engine *e)
{
    return e->stop || engine_signalled();
}

uint64_t engine_drain_deadline(engine *e, uint64_t now_ns)
{
    if (e->drain_deadline_ns == 0)
        e->drain_deadline_ns = now_ns + (uint64_t)e->drain_ms * 1000000ull;
    return e->drain_deadline_ns;
}

void engine_heartbeat(engine *e, uint64_t now_ns, int force)
{
    if (!force && now_ns < e->next_hb_ns)
        return;
    bus_ctl_heartbeat(e->ctl, now_ns);
    e->next_hb_ns = now_ns + e->hb_period_ns;
}

void engine_ratelog_warn(engine_ratelog *rl, uint64_t now_ns, const char *fmt, ...)
{
    if (rl->last_ns && now_ns - rl->last_ns < ENGINE_LOG_GAP_NS) {
        rl->suppressed++;
        return;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        mesh_warn("%s (and %llu more like it in the last second)", msg,
                  (unsigned long long)rl->suppressed);
    else
        mesh_warn("%s", msg);
    rl->last_ns = now_ns;
    rl->suppressed = 0;
}

const char *engine_name(const engine *e)
{
    return e->name;
}

const mesh_config *engine_config(const engine *e)
{
    return e->cfg;
}

const mesh_engine_cfg *engine_self(const engine *e)
{
    return e->self;
}

unsigned engine_generation(const engine *e)
{
    return e->generation;
}

void engine_set_user(engine *e, void *user)
{
    e->user = user;
}

void *engine_user(const engine *e)
{
    return e->user;
}

uint64_t engine_now_ns(const engine *e)
{
    return mesh_now_ns();
}

int engine_timer_set(engine *e, size_t i, uint32_t period_ms)
{
    return engine_sched_set(&e->sched, i, period_ms, mesh_now_ns());
}

void engine_stop(engine *e)
{
    e->stop = 1;
}

int engine_stopping(const engine *e)
{
    return engine_stop_requested(e);
}

int engine_input_count(const engine *e)
{
    return e->nin;
}

const char *engine_input_from(const engine *e, int i)
{
    return i >= 0 && i < e->nin ? e->in[i].from : NULL;
}

void engine_counters_get(const engine *e, engine_counters *out)
{
    *out = e->cnt;
}
