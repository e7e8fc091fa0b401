/* Unit tests of output capture: lines split at newlines across feeds, long
 * lines split at SUP_LINE_MAX without losing a byte, the tail flushed; and
 * the non-blocking sinks: a reader that does not keep up costs whole lines,
 * counted and reported, never a blocked write, and the descriptor meshd
 * shares with its parent stays blocking. */
#include "sup_output.h"

#include "mesh_error.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sink {
    int n;
    size_t len[16];
    char text[16][SUP_LINE_MAX + 1];
} sink;

static void collect(void *arg, const char *line, size_t len)
{
    sink *s = arg;
    cr_assert_lt(s->n, 16);
    memcpy(s->text[s->n], line, len);
    s->text[s->n][len] = '\0';
    s->len[s->n++] = len;
}

static sup_linebuf lb;

Test(sup_output, lines_are_reassembled_across_feeds)
{
    sink s = {0};
    sup_linebuf_reset(&lb);
    sup_linebuf_feed(&lb, "hel", 3, collect, &s);
    cr_assert_eq(s.n, 0);
    sup_linebuf_feed(&lb, "lo\nwor", 6, collect, &s);
    sup_linebuf_feed(&lb, "ld\n\nlast", 8, collect, &s);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.text[0], "hello");
    cr_assert_str_eq(s.text[1], "world");
    cr_assert_str_eq(s.text[2], "", "an empty line stays a line");
    sup_linebuf_flush(&lb, collect, &s);
    cr_assert_eq(s.n, 4);
    cr_assert_str_eq(s.text[3], "last", "the unterminated tail is emitted at end of stream");
    sup_linebuf_flush(&lb, collect, &s);
    cr_assert_eq(s.n, 4, "nothing more to flush");
}

Test(sup_output, long_line_is_split_not_lost)
{
    /* SUP_LINE_MAX + 10 'x' then "\n": one full piece, then 10 bytes. */
    size_t n = SUP_LINE_MAX + 10;
    char *buf = malloc(n + 1);
    memset(buf, 'x', n);
    buf[n] = '\n';
    sink s = {0};
    sup_linebuf_reset(&lb);
    sup_linebuf_feed(&lb, buf, n + 1, collect, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.len[0], (size_t)SUP_LINE_MAX);
    cr_assert_eq(s.len[1], 10u);
    free(buf);
}

Test(sup_output, line_of_exactly_the_bound_is_one_line)
{
    char *buf = malloc(SUP_LINE_MAX + 1);
    memset(buf, 'y', SUP_LINE_MAX);
    buf[SUP_LINE_MAX] = '\n';
    sink s = {0};
    sup_linebuf_reset(&lb);
    /* fed in two parts: the full buffer, then the newline alone */
    sup_linebuf_feed(&lb, buf, SUP_LINE_MAX, collect, &s);
    cr_assert_eq(s.n, 0, "a full buffer waits: the newline may come next");
    sup_linebuf_feed(&lb, buf + SUP_LINE_MAX, 1, collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.len[0], (size_t)SUP_LINE_MAX);
    free(buf);
}

/* A pipe as meshd's stdout often is: blocking, its write end shared with
 * whoever started meshd. Only the test's read end is non-blocking (its own
 * open file description), so reading never waits. */
static void shared_pipe(int p[2])
{
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
}

/* The sink writes through a non-blocking description of its own; the
 * shared one stays blocking for its other holders. */
static void expect_private_nonblocking(const sup_sink *sk, int shared)
{
    cr_assert_eq(fcntl(shared, F_GETFL) & O_NONBLOCK, 0, "the shared descriptor stays blocking");
    cr_assert_neq(sk->wfd, shared);
    cr_assert_neq(fcntl(sk->wfd, F_GETFL) & O_NONBLOCK, 0, "meshd's own copy does not block");
}

/* Reads what the pipe holds now (non-blocking) into buf at *used. */
static void read_some(int fd, char *buf, size_t cap, size_t *used)
{
    ssize_t r;
    while (*used < cap - 1 && (r = read(fd, buf + *used, cap - 1 - *used)) > 0)
        *used += (size_t)r;
    buf[*used] = '\0';
}

Test(sup_output, line_is_prefixed_with_the_engine_name)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    shared_pipe(p);
    static sup_sink sk;
    cr_assert_eq(sup_sink_open(&sk, &loop, p[1], "pipe", NULL), 0);
    expect_private_nonblocking(&sk, p[1]);
    cr_assert_eq(sup_sink_line(&sk, "vpin", "bucket 7 done", 13), 0);
    char got[64] = {0};
    size_t used = 0;
    read_some(p[0], got, sizeof(got), &used);
    cr_assert_eq(used, 21u); /* "[vpin] " 7 + 13 + "\n" 1 */
    cr_assert_str_eq(got, "[vpin] bucket 7 done\n");
    sup_sink_close(&sk, 100);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    close(p[0]);
    close(p[1]);
}

/* Nobody reads the pipe while 40000 numbered lines are written: the first
 * ones fill the pipe and the sink's backlog, every later one is dropped
 * (MESH_EAGAIN, never a blocked write: the pipe's shared description is
 * blocking, so a write through it would hang the test into its timeout). Once the reader drains it,
 * the backlog arrives whole and in order, followed by one summary line whose count equals the gap
 * the reader sees (40000 minus the lines received). */
Test(sup_output, slow_reader_never_blocks_drops_whole_lines_and_says_how_many, .timeout = 20)
{
    enum { N = 40000 };
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    shared_pipe(p);
    static sup_sink sk;
    cr_assert_eq(sup_sink_open(&sk, &loop, p[1], "pipe", NULL), 0);
    expect_private_nonblocking(&sk, p[1]);
    int refused = 0;
    for (int i = 1; i <= N; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %06d", i);
        int rc = sup_sink_line(&sk, "e", line, (size_t)n);
        cr_assert(rc == 0 || rc == MESH_EAGAIN, "line %d: %d", i, rc);
        refused += rc == MESH_EAGAIN;
    }
    cr_assert_gt(refused, 0, "the pipe and the backlog cannot hold 40000 lines");
    static char got[1 << 20];
    size_t used = 0;
    for (int k = 0; k < 10000 && !strstr(got, "dropped"); k++) {
        read_some(p[0], got, sizeof(got), &used);
        uv_run(&loop, UV_RUN_NOWAIT); /* writable: the sink flushes */
    }
    int expect = 1, received = 0;
    unsigned long long said = 0;
    for (char *l = strtok(got, "\n"); l; l = strtok(NULL, "\n")) {
        int num;
        if (sscanf(l, "[e] line %d", &num) == 1) {
            cr_assert_eq(num, expect, "line %d arrived where %d was due", num, expect);
            expect++;
            received++;
        } else {
            cr_assert_eq(sscanf(l,
                                "warn meshd: %llu lines of engine output dropped (pipe not "
                                "keeping up)",
                                &said),
                         1, "unexpected line '%s'", l);
            cr_assert_null(strtok(NULL, "\n"), "the summary comes last");
            break;
        }
    }
    cr_assert_eq(said, (unsigned long long)(N - received), "summary %llu, gap %d", said,
                 N - received);
    cr_assert_eq(said, (unsigned long long)refused);
    sup_sink_close(&sk, 100);
    cr_assert_eq(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0, "still blocking after close");
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    close(p[0]);
    close(p[1]);
}

/* stdout and stderr on one pipe (2>&1): the second sink forwards to the
 * first, so lines keep the order they were emitted in. */
Test(sup_output, two_sinks_on_one_pipe_keep_the_order)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    shared_pipe(p);
    int p2 = dup(p[1]);
    static sup_sink out, err;
    sup_sink_open(&out, &loop, p[1], "stdout", NULL);
    sup_sink_open(&err, &loop, p2, "stderr", &out);
    cr_assert_eq(err.to, &out);
    expect_private_nonblocking(&out, p[1]);
    sup_sink_line(&out, "a", "1", 1);
    sup_sink_line(&err, "b", "2", 1);
    sup_sink_log(&err, "info meshd: 3\n", 14);
    char got[128] = {0};
    size_t used = 0;
    read_some(p[0], got, sizeof(got), &used);
    cr_assert_str_eq(got, "[a] 1\n[b] 2\ninfo meshd: 3\n");
    sup_sink_close(&err, 100);
    sup_sink_close(&out, 100);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    close(p[0]);
    close(p[1]);
    close(p2);
}

/* A reader that stops taking data in the middle of a line, until meshd
 * closes: the summary of what is lost starts on a line of its own.
 * Deterministic with Linux pipe accounting: a pipe of two 4 KiB pages;
 * lines of 4101 bytes ("[e] " + 4096 + "\n") are above PIPE_BUF, so they
 * may be written in part. The first fills page 1 and 5 bytes of page 2; the
 * second adds 5 bytes to page 2 and stops (no free page): half a line. Its
 * remaining 4096 bytes (an all-or-nothing write) never fit; the summary,
 * ~70 bytes, fits in page 2. */
Test(sup_output, summary_at_close_starts_a_new_line_after_half_a_line, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    shared_pipe(p);
    cr_assert_eq(fcntl(p[1], F_SETPIPE_SZ, 8192), 8192);
    static sup_sink sk;
    cr_assert_eq(sup_sink_open(&sk, &loop, p[1], "pipe", NULL), 0);
    static char line[SUP_LINE_MAX];
    memset(line, 'x', sizeof(line));
    cr_assert_eq(sup_sink_line(&sk, "e", line, sizeof(line)), 0);
    cr_assert_eq(sk.len, 0u, "the first line went out whole");
    cr_assert_eq(sup_sink_line(&sk, "e", line, sizeof(line)), 0);
    cr_assert(sk.len > 0 && sk.len < 4101, "half of the second line went out (%zu pending)",
              sk.len);
    sup_sink_close(&sk, 50); /* nobody reads: times out with the rest pending */
    static char got[3 * 4101];
    size_t used = 0;
    read_some(p[0], got, sizeof(got), &used);
    const char *warn = strstr(got, "warn meshd:");
    cr_assert_not_null(warn, "the summary was written");
    cr_assert_eq(warn[-1], '\n', "the summary starts a line: '%.20s'", warn - 10);
    cr_assert_str_eq(warn, "warn meshd: 1 lines of engine output dropped (pipe not keeping up)\n");
    size_t half = (size_t)(warn - 1 - got) - 4101; /* bytes of the second line received */
    cr_assert(half > 0 && half < 4101, "%zu", half);
    cr_assert(!memcmp(got + 4101, "[e] ", half < 4 ? half : 4));
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    close(p[0]);
    close(p[1]);
}
