/* stderr logger: formats a whole line, then emits it with one write(2) so lines
 * from several threads never interleave. */
#include "mesh_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char log_component[64] = "mesh";
static enum mesh_log_level log_min = MESH_LOG_INFO;
static int (*log_writer)(void *arg, const char *line, size_t len);
static void *log_writer_arg;

void mesh_log_set_writer(int (*fn)(void *arg, const char *line, size_t len), void *arg)
{
    log_writer = fn;
    log_writer_arg = arg;
}

void mesh_log_init(const char *component, enum mesh_log_level min_level)
{
    snprintf(log_component, sizeof(log_component), "%s", component ? component : "mesh");
    log_min = min_level;
}

void mesh_log(enum mesh_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < log_min)
        return;
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s %s: ", names[level], log_component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    if (log_writer) {
        log_writer(log_writer_arg, line, len);
        return;
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
