/* Line splitting of captured engine output and the prefixed re-emission. */
#include "sup_output.h"

#include "mesh_error.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

void sup_linebuf_reset(sup_linebuf *b)
{
    b->len = 0;
}

void sup_linebuf_feed(sup_linebuf *b, const char *data, size_t n, sup_line_fn fn, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        size_t room = SUP_LINE_MAX - b->len;
        if (take > room) { /* the line does not fit: emit a full piece */
            memcpy(b->buf + b->len, data, room);
            fn(arg, b->buf, SUP_LINE_MAX);
            b->len = 0;
            data += room;
            n -= room;
            continue;
        }
        memcpy(b->buf + b->len, data, take);
        b->len += take;
        if (!nl)
            return;
        fn(arg, b->buf, b->len);
        b->len = 0;
        data += take + 1;
        n -= take + 1;
    }
}

void sup_linebuf_flush(sup_linebuf *b, sup_line_fn fn, void *arg)
{
    if (b->len > 0)
        fn(arg, b->buf, b->len);
    b->len = 0;
}

int sup_output_emit(int fd, const char *name, const char *line, size_t len)
{
    struct iovec iov[5] = {
        {.iov_base = (void *)"[", .iov_len = 1},
        {.iov_base = (void *)name, .iov_len = strlen(name)},
        {.iov_base = (void *)"] ", .iov_len = 2},
        {.iov_base = (void *)line, .iov_len = len},
        {.iov_base = (void *)"\n", .iov_len = 1},
    };
    ssize_t want = (ssize_t)(iov[1].iov_len + len + 4);
    ssize_t w;
    do {
        w = writev(fd, iov, 5);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        return mesh_err_from_errno(errno);
    return w == want ? 0 : MESH_EIO;
}
