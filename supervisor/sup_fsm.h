/* The per-engine supervision state machine: one transition function over
 * (state, event) that updates the record and returns the actions the caller
 * must carry out (spawn, signal, arm a timer). Pure: no I/O, no clock, no
 * allocation, so every restart rule is unit-tested without processes. */
#ifndef SUP_FSM_H
#define SUP_FSM_H

#include "mesh_config.h"

#include <stdint.h>

enum sup_state {
    SUP_DOWN,     /* not running and not wanted (initial; stopped; temporary exited) */
    SUP_PENDING,  /* wanted up, waiting for its dependencies to be ready */
    SUP_STARTING, /* spawned, waiting for the readiness notification */
    SUP_READY,    /* running and ready; heartbeat watched */
    SUP_STOPPING, /* SIGTERM sent, waiting for the exit (SIGKILL at the stop timeout) */
    SUP_BACKOFF,  /* exited, restart timer running */
    SUP_FAILED,   /* gave up: restart intensity exceeded; down until started by hand */
    SUP_NSTATES
};

enum sup_event {
    SUP_EV_START,        /* operator or mesh: bring it up */
    SUP_EV_LAUNCH,       /* scheduler: dependencies are ready, spawn now */
    SUP_EV_SPAWN_FAILED, /* the spawn itself failed (exec error) */
    SUP_EV_READY,        /* readiness notified on MESH_READY_FD */
    SUP_EV_EXIT,         /* process exited (status / signal in the arg) */
    SUP_EV_HB_STALE,     /* heartbeat older than heartbeat_timeout_ms */
    SUP_EV_STOP,         /* operator or mesh: bring it down */
    SUP_EV_RESTART,      /* operator (or rest_for_one): stop, then start again */
    SUP_EV_TIMER,        /* the engine's timer fired: ready timeout (starting), stop
                          * timeout (stopping) or back-off elapsed (backoff) */
    SUP_NEVENTS
};

/* Actions, a bit set returned by sup_fsm_step. */
enum {
    SUP_ACT_SPAWN = 1 << 0,      /* spawn the engine process */
    SUP_ACT_TERM = 1 << 1,       /* send SIGTERM */
    SUP_ACT_KILL = 1 << 2,       /* send SIGKILL */
    SUP_ACT_TIMER = 1 << 3,      /* (re)arm the engine's timer for fsm.timer_ms */
    SUP_ACT_TIMER_STOP = 1 << 4, /* cancel the engine's timer */
    SUP_ACT_RESTARTING = 1 << 5, /* an unexpected exit will be restarted (rest_for_one) */
    SUP_ACT_FAILED = 1 << 6,     /* intensity exceeded: apply the escalation */
    SUP_ACT_CHANGED = 1 << 7,    /* state changed: re-run the scheduler */
};

/* Why the last run ended (beyond its exit status). */
enum sup_reason {
    SUP_REASON_NONE,
    SUP_REASON_EXITED,        /* exited by itself */
    SUP_REASON_STOPPED,       /* stopped on request (SIGTERM) */
    SUP_REASON_STOP_TIMEOUT,  /* did not stop in stop_timeout_ms: SIGKILL */
    SUP_REASON_HEARTBEAT,     /* heartbeat stale: SIGKILL */
    SUP_REASON_READY_TIMEOUT, /* not ready in ready_timeout_ms: SIGKILL */
    SUP_REASON_SPAWN_FAILED,  /* could not be executed */
};

/* Restart policy, copied from the engine's config entry. */
typedef struct sup_policy {
    enum mesh_restart restart;
    enum mesh_escalation escalation;
    uint32_t heartbeat_timeout_ms;
    uint32_t ready_timeout_ms;
    uint32_t backoff_initial_ms;
    uint32_t backoff_max_ms;
    uint32_t intensity_max;
    uint32_t intensity_period_ms;
    uint32_t stop_timeout_ms;
} sup_policy;

/* One restart time per allowed restart, plus the one that exceeds the limit.
 * The config refuses max_restarts above MESH_CFG_MAX_RESTARTS; a policy built
 * by hand with more is counted as MESH_CFG_MAX_RESTARTS. */
#define SUP_INTENSITY_SLOTS (MESH_CFG_MAX_RESTARTS + 1)
_Static_assert(SUP_INTENSITY_SLOTS > MESH_CFG_MAX_RESTARTS, "a slot per allowed restart");
#define SUP_HISTORY 16 /* restarts kept for status */

/* One automatic restart: when the run ended, the back-off chosen, and when
 * the new process was spawned (0 = not yet). Times in the caller's ms clock. */
typedef struct sup_restart_rec {
    uint64_t exit_ms;
    uint32_t delay_ms;
    uint64_t spawn_ms;
} sup_restart_rec;

/* Per-engine record. Embedded by the caller; fields are readable, written
 * only through the functions below. */
typedef struct sup_fsm {
    enum sup_state state;
    sup_policy pol;
    int want_up;         /* target: keep it running */
    int restart_pending; /* a stop in progress is followed by a start */
    int kill_sent;       /* SIGKILL sent for `kill_reason`, waiting for the exit */
    enum sup_reason kill_reason;
    uint32_t backoff_ms; /* delay before the next automatic restart */
    uint32_t timer_ms;   /* output of SUP_ACT_TIMER */
    uint64_t spawn_ms, ready_ms, exit_ms;
    unsigned starts;   /* processes spawned (MESH_GENERATION of the next one) */
    unsigned restarts; /* automatic restarts scheduled */
    int last_status;   /* exit code of the last run (-1 none) */
    int last_signal;   /* terminating signal of the last run (0 none) */
    enum sup_reason last_reason;
    unsigned nint; /* restart times inside the intensity window */
    uint64_t int_ms[SUP_INTENSITY_SLOTS];
    unsigned nhist; /* total restarts recorded; history[(nhist-1) % SUP_HISTORY] is the latest */
    sup_restart_rec history[SUP_HISTORY];
} sup_fsm;

/* Resets the record to SUP_DOWN with policy `pol`. */
void sup_fsm_init(sup_fsm *f, const sup_policy *pol);

/* Copies a policy out of an engine's config entry. */
void sup_policy_from_cfg(sup_policy *pol, const mesh_engine_cfg *cfg);

/* Replaces the policy (reload); the current state and history stay. */
void sup_fsm_set_policy(sup_fsm *f, const sup_policy *pol);

/* Applies one event at time now_ms (a monotonic ms clock). For SUP_EV_EXIT,
 * status is the exit code and sig the terminating signal (0 if none); other
 * events ignore them. Returns the SUP_ACT_* bits to carry out, in the order
 * TIMER_STOP, KILL/TERM, SPAWN, TIMER. Events that do not apply in the
 * current state return 0 and change nothing. */
unsigned sup_fsm_step(sup_fsm *f, enum sup_event ev, uint64_t now_ms, int status, int sig);

/* Clears the wish to run (no restart after the next exit) without signalling:
 * a mesh-wide stop then stops engines one at a time. */
void sup_fsm_unwant(sup_fsm *f);

/* Engine is up or coming up (a process exists). */
int sup_fsm_running(const sup_fsm *f);

/* The back-off resets to backoff_initial_ms once a run stayed ready this
 * long: max(backoff_max_ms, 1000). */
uint32_t sup_fsm_stable_ms(const sup_policy *pol);

/* Names ("ready", "heartbeat"), never NULL. */
const char *sup_state_name(enum sup_state s);
const char *sup_event_name(enum sup_event e);
const char *sup_reason_name(enum sup_reason r);

#endif
