/* Logging to stderr, one line per call: "<level> <component>: message".
 * The supervisor prefixes each captured line with the engine's name. */
#ifndef MESH_LOG_H
#define MESH_LOG_H

#include <stddef.h>

enum mesh_log_level { MESH_LOG_DEBUG, MESH_LOG_INFO, MESH_LOG_WARN, MESH_LOG_ERROR };

/* Sets the component name printed on each line (copied) and the minimum level.
 * Call once at start-up, before other threads log. */
void mesh_log_init(const char *component, enum mesh_log_level min_level);

/* Writes one line (a trailing newline is added). Thread-safe: one write(2). */
void mesh_log(enum mesh_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends every later line (newline included) to fn instead of write(2) on
 * stderr; fn NULL restores stderr. For a single-threaded program that must
 * never block on its stderr (meshd's event loop): not safe while other
 * threads log. */
void mesh_log_set_writer(int (*fn)(void *arg, const char *line, size_t len), void *arg);

#define mesh_debug(...) mesh_log(MESH_LOG_DEBUG, __VA_ARGS__)
#define mesh_info(...)  mesh_log(MESH_LOG_INFO, __VA_ARGS__)
#define mesh_warn(...)  mesh_log(MESH_LOG_WARN, __VA_ARGS__)
#define mesh_error(...) mesh_log(MESH_LOG_ERROR, __VA_ARGS__)

#endif
