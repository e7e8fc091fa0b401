/* Engine runtime: the main loop every engine daemon runs. It attaches the
 * engine's rings and control block from the mesh config, polls and decodes
 * input, dispatches to handlers, publishes, runs timers, heartbeats, reports
 * readiness and drains on SIGTERM. A daemon is `return engine_main(&def, argc, argv);`. */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "mesh_config.h"

typedef struct engine engine;

/* What the runtime knows about one delivered record. */
typedef struct engine_msg_info {
    uint32_t type;    /* record type id (proto registry) */
    uint32_t len;     /* payload bytes */
    uint64_t seq;     /* per-ring sequence number of the record */
    const char *from; /* producer engine name (the route's `from`) */
    int input;        /* index of the input ring, 0 .. engine_input_count() - 1 */
    uint64_t recv_ns; /* mesh_now_ns() when the runtime picked the record up */
} engine_msg_info;

/* Handler for a decoded message. `msg` (and everything it points to) lives
 * in the runtime's decode arena and is valid only during the call. Return 0,
 * or a negative MESH_E* code: it is logged (rate-limited) and counted as a
 * handler error, and the engine keeps running. Runs on the engine thread. */
typedef int (*engine_handler_fn)(engine *e, const ProtobufCMessage *msg,
                                 const engine_msg_info *info);

/* Handler for undecoded records: `data` points into the ring and is valid
 * only during the call. Return as for engine_handler_fn. */
typedef int (*engine_raw_fn)(engine *e, const void *data, size_t len, const engine_msg_info *info);

/* Periodic callback. Return as for engine_handler_fn. */
typedef int (*engine_timer_fn)(engine *e);

typedef struct engine_handler {
    uint32_t type; /* type id the handler subscribes to */
    engine_handler_fn fn;
} engine_handler;

typedef struct engine_timer {
    uint32_t period_ms; /* > 0; first run one period after start */
    engine_timer_fn fn;
} engine_timer;

/* An engine's description. Static and read-only; the runtime keeps a pointer. */
typedef struct engine_def {
    const char *name;  /* for logs before the config names the engine */
    const char *usage; /* the engine's own options, printed by --help */
    /* Parses the engine's own argv (argv[0] = binary) and sets up state;
     * may publish. Return 0, or a negative MESH_E* code (MESH_EINVAL for bad
     * arguments) and the engine exits 2 without reporting ready. May be NULL. */
    int (*init)(engine *e, int argc, char **argv);
    const engine_handler *handlers; /* decoded handlers, one per type */
    size_t nhandlers;
    /* Receives records whose type has no decoded handler (any type id, even
     * unregistered ones). NULL = such records are counted as unknown and skipped. */
    engine_raw_fn raw;
    const engine_timer *timers;
    size_t ntimers;
    /* Called once after input is drained and before exit; may publish. May be NULL. */
    void (*shutdown)(engine *e);
} engine_def;

/* Runtime-side counters of this engine since it started (the control block
 * holds the shared subset that meshctl reads). */
typedef struct engine_counters {
    uint64_t msgs_in;        /* records handled by a handler */
    uint64_t bytes_in;       /* payload bytes of those records */
    uint64_t msgs_out;       /* records committed to output rings (one per ring) */
    uint64_t bytes_out;      /* payload bytes of those records */
    uint64_t malformed;      /* payloads that failed to decode (skipped) */
    uint64_t unknown_type;   /* records with no handler for their type (skipped) */
    uint64_t skipped_seen;   /* records skipped because seq <= last handled */
    uint64_t seq_gaps;       /* records missing from an input's sequence (drop routes) */
    uint64_t handler_errors; /* handlers and timers that returned an error */
    uint64_t drops;          /* records dropped by drop-policy routes */
    uint64_t full_waits;     /* publishes that found a wait-policy ring full */
    uint64_t unrouted;       /* publishes of a type no output route carries */
    uint64_t replay_skipped; /* records not committed again after a resume (engine_state_resume) */
    uint64_t state_saves;    /* snapshots saved (engine_state_save) */
} engine_counters;

/* Runs the engine: --help/-h prints def->usage plus the runtime's
 * environment variables and returns 0. Otherwise reads MESH_CONFIG,
 * MESH_ENGINE, MESH_GENERATION and MESH_READY_FD, attaches the control
 * block and rings, pins the thread, calls init, reports ready, loops until
 * SIGTERM/SIGINT or engine_stop, drains input, calls shutdown. Returns the
 * process exit code: 0 clean stop, 2 bad environment/config/arguments (the
 * message says what and where), 1 any other failure. Call once, from main. */
int engine_main(const engine_def *def, int argc, char **argv);

/* Encodes `msg` (of registered type `type`) straight into space claimed in
 * every output ring whose route carries `type` (encoded once, copied to the
 * others) and commits it; rings a sleeping consumer's doorbell. A full
 * wait-policy ring blocks (heartbeating; counted in full_waits); a full
 * drop-policy ring counts a drop. Returns 0 (also when dropped by policy or
 * when no route carries the type: counted as unrouted), MESH_EUNKNOWNTYPE /
 * MESH_EINVAL for a bad type or message, MESH_ETOOBIG when the encoding is
 * larger than a ring's largest record, MESH_ECLOSED when blocked on a full
 * ring past the drain deadline while stopping. Engine thread only; no
 * allocation. */
int engine_publish(engine *e, uint32_t type, const ProtobufCMessage *msg);

/* As engine_publish, for already encoded bytes (not validated). */
int engine_publish_raw(engine *e, uint32_t type, const void *data, size_t len);

/* Name of the engine in the mesh config (before that: def->name). */
const char *engine_name(const engine *e);

/* The loaded mesh config and this engine's entry in it; owned by the runtime,
 * valid until engine_main returns. */
const mesh_config *engine_config(const engine *e);
const mesh_engine_cfg *engine_self(const engine *e);

/* MESH_GENERATION: how many times this engine was started before (0 first). */
unsigned engine_generation(const engine *e);

/* Opaque pointer for the engine's own state; the runtime never touches it. */
void engine_set_user(engine *e, void *user);
void *engine_user(const engine *e);

/* Monotonic clock (mesh_now_ns), for handlers and timers. */
uint64_t engine_now_ns(const engine *e);

/* Gives timer i of engine_def.timers a new period (ms), the next run one
 * period from now; 0 pauses it. Returns 0 or MESH_EINVAL (no such timer).
 * Engine thread (init, handlers, timers). */
int engine_timer_set(engine *e, size_t i, uint32_t period_ms);

/* Requests a clean exit: input is drained, shutdown runs, engine_main
 * returns 0. Callable from handlers, timers and init. */
void engine_stop(engine *e);

/* 1 once a stop was requested (signal or engine_stop), else 0. */
int engine_stopping(const engine *e);

/* Number of input rings, and the producer name of input i (NULL when out of range). */
int engine_input_count(const engine *e);
const char *engine_input_from(const engine *e, int i);

/* Copies the runtime counters into *out. Engine thread only. */
void engine_counters_get(const engine *e, engine_counters *out);

/* Checkpoints (engine_state.c). An engine that must not start over after a
 * kill saves its state now and then, marks its progress after each unit of
 * work, and on a restart loads the last snapshot, resumes from it and
 * replays deterministically up to the progress word. The state lives in the
 * shm object "/mesh.<mesh>.state.<engine>", created on the first save,
 * double-buffered (a kill at any point leaves the previous snapshot valid),
 * validated on load, removed by meshd when the mesh stops (unless keep_shm)
 * and by the engine itself on a first start (generation 0): a snapshot only
 * ever comes from an earlier run of the same engine in the same mesh run.
 * All of them: engine thread only (init, handlers, timers, shutdown). */

/* Saves len bytes (at most 256 MiB, copied) as the engine's snapshot, with
 * the current progress word and the position of every output ring (so a
 * resume knows what was published after it). Returns 0, MESH_ESTATE while
 * a resume is still replaying (engine_state_replaying), MESH_EINVAL for a
 * bad length, or a system error (the object then holds no snapshot a
 * restart could trust, if it could be reached). No allocation once the
 * object is large enough; cost: a copy and a checksum of len bytes. */
int engine_state_save(engine *e, const void *data, size_t len);

/* Loads the last snapshot an earlier run of this engine saved: copies it
 * into buf (cap bytes) and its length into *len. Returns 0; MESH_ENOENT when
 * there is none (always at generation 0); MESH_EMSGSIZE when cap is too small
 * (*len = the size needed: call again); MESH_EFOREIGN / MESH_EVERSION /
 * MESH_ECORRUPT when the object does not validate (a warning says why; the
 * engine starts without a snapshot). Does not commit the engine to it: see
 * engine_state_resume. */
int engine_state_load(engine *e, void *buf, size_t cap, size_t *len);

/* The progress word the earlier run left (its last engine_state_mark, which
 * may be past the snapshot's): how far to replay. 0 before a load. */
uint64_t engine_state_progress(const engine *e);

/* Continues from the loaded snapshot. From the output rings' positions
 * saved with it, the runtime knows how many records the earlier run
 * committed to each ring after the snapshot; the engine's next publishes
 * to that ring, up to that count, are not committed again (counted in
 * replay_skipped). So an engine that replays the same publishes in the same
 * order from the snapshot delivers each record once, also the one it was
 * publishing when killed (the count is the ring's sequence numbers given
 * out since the snapshot, exact because a publish cut short by the kill is
 * rolled back when the ring is attached again). Call after a successful load and before publishing
 * or marking anything (a mark first starts a new history). Returns 0 (a warning when the rings are
 * not those of the snapshot: nothing is skipped then), or MESH_ESTATE (nothing loaded, or something
 * was already published). */
int engine_state_resume(engine *e);

/* 1 while records of the earlier run are still to be skipped by the next
 * publishes after engine_state_resume, else 0. */
int engine_state_replaying(const engine *e);

/* Ends a replay early: publishes are committed again from now on. Returns
 * how many records were still expected (a warning names them: the replay
 * did not reproduce what the earlier run published). */
uint64_t engine_state_replay_end(engine *e);

/* Drops the stored snapshot (a restart then finds none and starts afresh):
 * for an engine that can no longer save one that matches what it did.
 * Returns 0 (also when there is none) or a system error. */
int engine_state_drop(engine *e);

/* Sets the progress word (the engine's own count of work done, e.g. events
 * published), stored where a restart finds it. One store; no system call
 * except once per run: the first mark of a run that did not resume drops
 * any snapshot of an earlier run (its history is no longer this one's). */
void engine_state_mark(engine *e, uint64_t progress);

#endif
