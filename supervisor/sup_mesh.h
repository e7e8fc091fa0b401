/* The supervised mesh: the engine table, the dependency-ordered scheduler,
 * restart strategies (one_for_one, rest_for_one), heartbeat watch, graceful
 * stop, reload. Everything runs on one libuv loop thread; these structures
 * are internal to meshd (shared by its files), never used concurrently. */
#ifndef SUP_MESH_H
#define SUP_MESH_H

#include "bus_ctl.h"
#include "mesh_config.h"
#include "sup_child.h"
#include "sup_fsm.h"
#include "sup_shm.h"

#include <limits.h>
#include <stdint.h>
#include <uv.h>

/* Slots: every engine of the config, plus removed ones still stopping after a reload. */
#define SUP_MAX_SLOTS (2 * MESH_CFG_MAX_ENGINES)

struct sup_mesh;
struct sup_ctl;
struct sup_metrics;

typedef struct sup_engine {
    int in_use;
    char name[MESH_NAME_MAX];
    int cfg_index; /* index into mesh->cfg->engines, -1 once removed by a reload */
    sup_fsm fsm;
    sup_child child;
    uv_timer_t timer;   /* ready timeout, stop timeout, back-off */
    bus_ctl *ctl;       /* read-write handle on the engine's control block */
    int group_stop;     /* rest_for_one: waiting for its turn to be stopped (reverse order) */
    int hold_for;       /* slot that must be ready before this one starts again, -1 none */
    uint64_t ready_ns;  /* mesh_now_ns() at the readiness notification */
    uint32_t run_hb_ms; /* heartbeat_timeout_ms the running process was started with:
                         * its heartbeat period follows it until it restarts */
    struct sup_mesh *mesh;
} sup_engine;

typedef struct sup_opts {
    const char *config_path; /* as given on the command line */
    int keep_shm;            /* --keep-shm (or mesh.keep_shm) */
    const char *search_path; /* extra binary search directories (MESH_BIN_PATH) */
    int out_fd, err_fd;      /* where captured engine output (and meshd's log) goes */
    int ready_fd;            /* >= 0: "ready\n" written and closed when the mesh is first ready */
} sup_opts;

typedef struct sup_mesh {
    uv_loop_t *loop;
    sup_opts opts;
    char config_path[PATH_MAX]; /* absolute */
    mesh_config *cfg;
    int cfg_fd; /* sealed memfd with the text of cfg, passed to engines as fd 4; -1 none */
    int keep_shm;
    sup_engine eng[SUP_MAX_SLOTS];
    int slot_of[MESH_CFG_MAX_ENGINES]; /* cfg engine index -> slot */
    int order[MESH_CFG_MAX_ENGINES];   /* slots in start order */
    int norder;
    sup_rings rings;
    uv_timer_t hb_timer;
    uint32_t hb_interval_ms;
    uv_signal_t sig_term, sig_int, sig_hup, sig_chld;
    struct sup_ctl *ctl;
    struct sup_metrics *metrics;
    int stopping;
    int exit_code;
    int in_schedule, dirty;
    int all_ready;     /* every wanted engine is ready */
    int ever_ready;    /* "mesh ready" was reported at least once */
    uint64_t start_ms; /* uv_now() when meshd started; status times are relative to it */
    uint64_t ready_ms; /* first time all were ready, relative to start_ms */
    uint64_t reloads;
    sup_sink out, err; /* non-blocking writers to out_fd / err_fd (meshd's log: err) */
} sup_mesh;

/* Loads and validates the config, creates the shared memory, the control
 * socket and the metrics endpoint, installs the signal handlers, and starts
 * the engines in dependency order. Returns 0, or an error after undoing
 * everything (messages already logged: config errors with file:line). */
int sup_mesh_start(sup_mesh *m, uv_loop_t *loop, const sup_opts *opts);

/* Starts a graceful stop: engines in reverse start order get SIGTERM, then
 * SIGKILL after their stop_timeout_ms; then shared memory (unless keep_shm)
 * and the control socket are removed and every handle is closed, so uv_run
 * returns. exit_code becomes meshd's exit status. Idempotent. */
void sup_mesh_stop(sup_mesh *m, const char *why, int exit_code);

/* Operator commands. Return 0 or MESH_ENOENT (no such engine), MESH_ESTATE
 * (mesh stopping / already in that state; msg says why). */
int sup_mesh_start_engine(sup_mesh *m, const char *name, char *msg, size_t msglen);
int sup_mesh_stop_engine(sup_mesh *m, const char *name, char *msg, size_t msglen);
int sup_mesh_restart_engine(sup_mesh *m, const char *name, char *msg, size_t msglen);

/* Re-reads the config file and applies what is safe (see docs in
 * sup_reload.c). Returns 0 with a summary in msg, or an error with the
 * reason in msg; on error nothing changed. */
int sup_mesh_reload(sup_mesh *m, char *msg, size_t msglen);

/* Milliseconds since meshd started (the time base of status output). */
uint64_t sup_mesh_now_ms(const sup_mesh *m);

/* The engine named `name`, or NULL. */
sup_engine *sup_mesh_find(sup_mesh *m, const char *name);

/* Re-runs the scheduler (launch pending engines whose dependencies are
 * ready, progress stops, report "mesh ready"). Reentrancy-safe. */
void sup_mesh_kick(sup_mesh *m);

/* Applies one state-machine event to an engine and carries out its actions. */
void sup_mesh_event(sup_engine *e, enum sup_event ev, int status, int sig);

/* Internal, shared between sup_mesh.c and sup_reload.c: slot bookkeeping. */
int sup_mesh_slot_new(sup_mesh *m, const mesh_config *cfg, int cfg_index);
void sup_mesh_slot_free(sup_engine *e);
void sup_mesh_rebuild_order(sup_mesh *m);
void sup_mesh_hb_rearm(sup_mesh *m);

/* Reaps orphaned processes re-parented to meshd (PID 1 or subreaper) without
 * touching the engine processes libuv waits for. Returns how many. */
int sup_reap_orphans(sup_mesh *m);

/* End of a stop, once no engine runs: SIGKILLs every process still
 * re-parented to meshd (descendants of engines that left their engine's
 * process group) and reaps it, repeating for their own children, for at most
 * timeout_ms. Each process is warned about, signalled and counted once,
 * however long it takes to die. Returns how many processes it sent SIGKILL.
 * Not for use while engines run (it would reap libuv's children). */
int sup_reap_descendants(unsigned timeout_ms);

#endif
