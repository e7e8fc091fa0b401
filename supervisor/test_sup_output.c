/* Unit tests of output capture: lines split at newlines across feeds, long
 * lines split at SUP_LINE_MAX without losing a byte, the tail flushed. */
#include "sup_output.h"

#include <criterion/criterion.h>
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

Test(sup_output, emit_prefixes_the_engine_name)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(sup_output_emit(p[1], "vpin", "bucket 7 done", 13), 0);
    char got[64] = {0};
    ssize_t r = read(p[0], got, sizeof(got) - 1);
    cr_assert_eq(r, 21); /* "[vpin] " 7 + 13 + "\n" 1 */
    cr_assert_str_eq(got, "[vpin] bucket 7 done\n");
    close(p[0]);
    close(p[1]);
}
