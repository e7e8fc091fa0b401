/* Internal state of the engine runtime, shared by its source files (main,
 * loop, publish). Not for engines: they see the opaque `engine`. */
#ifndef ENGINE_INT_H
#define ENGINE_INT_H

#include <limits.h>
#include <stdint.h>

#include "bus_ctl.h"
#include "bus_ring.h"
#include "bus_wait.h"
#include "engine.h"
#include "engine_ckpt.h"
#include "engine_plan.h"
#include "engine_sched.h"
#include "msg_arena.h"

#define ENGINE_BATCH      64  /* records taken from one input per pass, released at once */
#define ENGINE_SHM_NAME   256 /* bus_shm_name buffers */
#define ENGINE_LOG_GAP_NS 1000000000ull /* at most one warning per kind per second */

typedef struct engine_input {
    bus_ring *ring;
    const char *from;    /* producer engine name (config) */
    unsigned slot;       /* control-block slot of the last handled seq */
    uint64_t last_seq;   /* mirror of that slot */
    uint64_t drain_head; /* producer position when draining started */
    int drained;         /* everything up to drain_head was taken */
    int disabled;        /* a corrupt record stopped this input */
    char shm[ENGINE_SHM_NAME];
} engine_input;

typedef struct engine_output {
    bus_ring *ring;
    const char *to;      /* consumer engine name (config) */
    int drop;            /* route policy is drop */
    uint32_t max_record; /* largest payload the ring accepts */
    bus_ctl *peer_ctl;   /* consumer's control block (its doorbell) */
    char shm[ENGINE_SHM_NAME];
} engine_output;

/* The engine's checkpoint state (engine_state.c). */
typedef struct engine_state_rt {
    engine_ckpt ck;
    int loaded;         /* engine_state_load found a snapshot in this run */
    int adopted;        /* this run owns the object's history (resumed, marked or saved) */
    uint64_t prev_mark; /* progress word the previous run left (after a load) */
    uint64_t nskip;     /* records still to skip, all outputs */
    uint64_t skip[ENGINE_MAX_OUTPUTS]; /* per output: records the previous run committed */
    engine_ckpt_meta meta;             /* the loaded snapshot's, then scratch for saves */
} engine_state_rt;

/* Rate limit for one kind of warning. */
typedef struct engine_ratelog {
    uint64_t last_ns;
    uint64_t suppressed;
} engine_ratelog;

struct engine {
    const engine_def *def;
    mesh_config *cfg;
    const mesh_engine_cfg *self;
    char name[MESH_NAME_MAX];
    unsigned generation;
    void *user;

    engine_plan plan;
    int nin, nout;
    engine_input in[ENGINE_MAX_INPUTS];
    engine_output out[ENGINE_MAX_OUTPUTS];
    int next_in; /* round-robin start of the next pass */

    bus_ctl *ctl;
    bus_doorbell *db;
    bus_wait_cfg wait;
    int idle; /* the last wait timed out with no input: sleep at once next time */
    msg_arena *arena;
    engine_handler_fn handler[ENGINE_TYPE_TABLE]; /* dispatch by type id */

    engine_sched sched;
    uint64_t hb_period_ns, next_hb_ns;
    uint32_t drain_ms;
    uint64_t drain_deadline_ns; /* 0 until a stop is noticed */
    int draining;               /* the loop took its drain snapshot */
    int stop;                   /* engine_stop() was called */
    int ready_fd;               /* MESH_READY_FD, -1 once used or absent */

    engine_state_rt st;

    engine_counters cnt;
    engine_ratelog log_malformed, log_unknown, log_handler, log_gap, log_publish;
};

/* Set by the SIGTERM/SIGINT handler; read by the loop (same thread). */
int engine_signalled(void);

/* Installs the SIGTERM/SIGINT handlers (which set the flag and ring the
 * doorbell given to engine_signals_doorbell, if any) and ignores SIGPIPE.
 * Returns 0 or a mapped errno code. */
int engine_signals_install(void);

/* The engine's own doorbell, rung by the signal handler so a sleeping loop
 * wakes at once. Set once, before the loop runs. */
void engine_signals_doorbell(bus_doorbell *db);

/* True when a stop was requested by a signal or engine_stop. */
int engine_stop_requested(const engine *e);

/* Deadline of the drain, fixed the first time it is asked for after a stop
 * request (now_ns + drain_ms). */
uint64_t engine_drain_deadline(engine *e, uint64_t now_ns);

/* Writes the heartbeat when due (or always with force). */
void engine_heartbeat(engine *e, uint64_t now_ns, int force);

/* Names the engine's state object and, on a first start (generation 0),
 * removes one an earlier mesh run left: a snapshot only ever describes this
 * mesh run. Returns 0 or an error (logged). */
int engine_state_setup(engine *e);

/* Unmaps the state object (it stays for the next start). */
void engine_state_teardown(engine *e);

/* Publishing side of a resume: 1 if output i must skip this record (the
 * previous run committed it after the snapshot), counting it. */
static inline int engine_state_skip(engine *e, int i)
{
    if (e->st.nskip == 0 || e->st.skip[i] == 0)
        return 0;
    e->st.skip[i]--;
    e->st.nskip--;
    e->cnt.replay_skipped++;
    return 1;
}

/* Runs the loop until a stop is requested and input is drained. Returns 0. */
int engine_loop_run(engine *e);

/* Logs a warning unless one of this kind went out in the last second; counts
 * the suppressed ones and reports them with the next. */
void engine_ratelog_warn(engine_ratelog *rl, uint64_t now_ns, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
