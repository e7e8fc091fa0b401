/* Output capture: splits an engine's stdout/stderr byte stream into lines and
 * re-emits each one prefixed "[<engine>] " to meshd's stdout or stderr
 * through a sink that never blocks the event loop. Bounded: a line longer
 * than the line buffer is emitted in pieces (split, never lost); a final
 * unterminated line is emitted at end of stream; lines that do not fit in a
 * sink whose reader does not keep up are dropped, counted and reported. */
#ifndef SUP_OUTPUT_H
#define SUP_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SUP_LINE_MAX   4096         /* longest piece emitted as one line, newline excluded */
#define SUP_SINK_BYTES (256u << 10) /* what a sink holds while its reader is slow */

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

/* Where lines go: one of meshd's output descriptors. A pipe, FIFO or
 * terminal is written without blocking through a private non-blocking open
 * file description of it (other holders of the descriptor are unaffected);
 * a socket with MSG_DONTWAIT (the socket itself becomes non-blocking). Up
 * to SUP_SINK_BYTES are held back while the reader is slow and written when
 * libuv reports the descriptor writable; a line that does not fit is
 * dropped and counted, and once the backlog has drained a line
 * "warn meshd: N lines of engine output dropped (<label> not keeping up)"
 * says so (on a line of its own, after a newline if the reader was left
 * with part of a line). A regular file (or a descriptor that cannot be polled, e.g.
 * /dev/null) is written directly: it does not wait for a reader.
 * Caller-owned, used on the loop thread only; embed it where its address
 * stays put. */
typedef struct sup_sink {
    int is_open;
    int fd, wfd;          /* the target; the descriptor written (== fd, or our own) */
    int own_wfd;          /* wfd is ours to close */
    int nonblock;         /* writes may return EAGAIN: buffered and polled */
    int is_sock;          /* send(MSG_DONTWAIT | MSG_NOSIGNAL) */
    int broken;           /* write error other than EAGAIN (reader gone): drop all */
    const char *label;    /* "stdout" */
    struct sup_sink *to;  /* same target as another sink: everything goes there */
    size_t off, len;      /* pending bytes: buf[off, off + len) */
    int midline;          /* the reader got part of a line: the last byte written is not '\n' */
    uint64_t dropped;     /* engine lines dropped since the last summary */
    uint64_t dropped_log; /* meshd's own log lines dropped since the last summary */
    uint64_t dropped_total;
    int poll_open, polling;
    uv_poll_t poll;
    char buf[SUP_SINK_BYTES];
} sup_sink;

/* Prepares `s` to write to `fd` on `loop`; label names it in the summary
 * line. If `same` is not NULL and writes to the same file (pipe, terminal)
 * as fd, s forwards everything to it, so lines of both keep their order.
 * Returns 0 (falls back to direct writes when fd cannot be made
 * non-blocking or polled). */
int sup_sink_open(sup_sink *s, uv_loop_t *loop, int fd, const char *label, sup_sink *same);

/* Writes "[name] line\n" (one line; lines never interleave). Returns 0 (written
 * or queued), or MESH_EAGAIN when it was dropped (counted), or a write error
 * of a direct sink. */
int sup_sink_line(sup_sink *s, const char *name, const char *line, size_t len);

/* Writes `len` bytes of one whole log line (newline included) of meshd
 * itself, queued behind engine lines; dropped and counted like them. */
int sup_sink_log(sup_sink *s, const char *line, size_t len);

/* Flushes what is pending, waiting at most flush_ms for the reader (lines
 * still pending then are counted as dropped), writes the summary if lines
 * were dropped, and closes the poll handle and our descriptor (never fd).
 * Idempotent. */
void sup_sink_close(sup_sink *s, unsigned flush_ms);

#endif
