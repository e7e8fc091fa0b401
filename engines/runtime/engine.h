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

#endif
