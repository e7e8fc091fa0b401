/* Output capture: splits an engine's stdout/stderr byte stream into lines and
 * re-emits each one prefixed "[<engine>] ". Bounded: a line longer than the
 * buffer is emitted in pieces (split, never lost); a final unterminated line
 * is emitted at end of stream. */
#ifndef SUP_OUTPUT_H
#define SUP_OUTPUT_H

#include <stddef.h>

#define SUP_LINE_MAX 4096 /* longest piece emitted as one line, newline excluded */

typedef struct sup_linebuf {
    size_t len;
    char buf[SUP_LINE_MAX];
} sup_linebuf;

/* Receives one line (no newline; not NUL-terminated). */
typedef void (*sup_line_fn)(void *arg, const char *line, size_t len);

/* Empties the buffer. */
void sup_linebuf_reset(sup_linebuf *b);

/* Appends n bytes; calls fn for every complete line and for every
 * SUP_LINE_MAX bytes without a newline. No allocation. */
void sup_linebuf_feed(sup_linebuf *b, const char *data, size_t n, sup_line_fn fn, void *arg);

/* End of stream: emits a pending partial line, if any, and empties the buffer. */
void sup_linebuf_flush(sup_linebuf *b, sup_line_fn fn, void *arg);

/* Writes "[name] line\n" to fd with one writev (lines from several engines
 * never interleave). Returns 0 or a MESH_E* code (the caller has nowhere to
 * report it but may count it). */
int sup_output_emit(int fd, const char *name, const char *line, size_t len);

#endif
