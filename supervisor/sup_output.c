/* Line splitting of captured engine output and its prefixed re-emission
 * through sinks that never block the event loop (bounded backlog, drops
 * counted and reported). */
#include "sup_output.h"

#include "mesh_clock.h"
#include "mesh_error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* ---- sinks ----------------------------------------------------------- */

static int same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int sup_sink_open(sup_sink *s, uv_loop_t *loop, int fd, const char *label, sup_sink *same)
{
    memset(s, 0, offsetof(sup_sink, buf)); /* the buffer needs no clearing */
    s->fd = s->wfd = fd;
    s->label = label;
    s->is_open = 1;
    struct stat st;
    if (same && same->is_open && same_file(fd, same->fd)) {
        s->to = same->to ? same->to : same;
        return 0;
    }
    if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode))
        return 0; /* a file never waits for a reader: direct */
    if (S_ISSOCK(st.st_mode)) {
        /* A socket cannot be reopened: send(MSG_DONTWAIT) on it; uv_poll_init
         * below also sets O_NONBLOCK on the description (a socket given to
         * meshd, e.g. journald's stream, is normally its alone). */
        s->is_sock = 1;
    } else {
        /* A FIFO or terminal reopened: O_NONBLOCK on a description of our own,
         * not on the one we share with our parent and its other children. */
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (w < 0)
            return 0;
        s->wfd = w;
        s->own_wfd = 1;
    }
    if (uv_poll_init(loop, &s->poll, s->wfd) != 0) { /* e.g. /dev/null: cannot block anyway */
        if (s->own_wfd)
            close(s->wfd);
        s->wfd = fd;
        s->own_wfd = s->is_sock = 0;
        return 0;
    }
    s->poll.data = s;
    s->poll_open = 1;
    s->nonblock = 1;
    return 0;
}

static ssize_t raw_write(sup_sink *s, const struct iovec *iov, int n)
{
    ssize_t w;
    do {
        if (s->is_sock) {
            struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
            w = sendmsg(s->wfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            w = writev(s->wfd, iov, n);
        }
    } while (w < 0 && errno == EINTR);
    return w;
}

/* Blocking write of the whole line (regular files). */
static int write_direct(sup_sink *s, struct iovec *iov, int n)
{
    for (;;) {
        ssize_t w = raw_write(s, iov, n);
        if (w < 0)
            return mesh_err_from_errno(errno);
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n == 0)
            return 0;
        iov->iov_base = (char *)iov->iov_base + w;
        iov->iov_len -= (size_t)w;
    }
}

/* Notes whether the reader now holds part of a line: the last of the w
 * bytes just written from iov is not a newline. */
static void note_written(sup_sink *s, const struct iovec *iov, size_t w)
{
    if (w == 0)
        return;
    while (w > iov->iov_len) {
        w -= iov->iov_len;
        iov++;
    }
    s->midline = ((const char *)iov->iov_base)[w - 1] != '\n';
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

static void on_writable(uv_poll_t *p, int status, int events);

static void poll_writable(sup_sink *s, int on)
{
    if (on && !s->polling)
        uv_poll_start(&s->poll, UV_WRITABLE, on_writable);
    else if (!on && s->polling)
        uv_poll_stop(&s->poll);
    s->polling = on;
}

/* Replaces the backlog (written or given up) with the summary of what was
 * dropped, on a line of its own: after a newline if the reader was left
 * with part of a line. */
static void queue_summary(sup_sink *s)
{
    int n;
    const char *nl = s->midline ? "\n" : "";
    if (s->dropped_log)
        n = snprintf(s->buf, sizeof(s->buf),
                     "%swarn meshd: %llu lines of engine output and %llu of meshd's log dropped "
                     "(%s not keeping up)\n",
                     nl, (unsigned long long)s->dropped, (unsigned long long)s->dropped_log,
                     s->label);
    else
        n = snprintf(s->buf, sizeof(s->buf),
                     "%swarn meshd: %llu lines of engine output dropped (%s not keeping up)\n", nl,
                     (unsigned long long)s->dropped, s->label);
    s->dropped_total += s->dropped + s->dropped_log;
    s->dropped = s->dropped_log = 0;
    s->off = 0;
    s->len = (size_t)n;
}

/* The reader is gone (EPIPE, ...): what is pending is lost, and counted. */
static void set_broken(sup_sink *s)
{
    s->broken = 1;
    s->dropped_total += count_lines(s->buf + s->off, s->len);
    s->off = s->len = 0;
    poll_writable(s, 0);
}

/* Writes what is pending until the reader would block; after a backlog
 * with drops has drained, writes the summary. */
static void flush(sup_sink *s)
{
    while (!s->broken) {
        while (s->len > 0) {
            struct iovec iov = {.iov_base = s->buf + s->off, .iov_len = s->len};
            ssize_t w = raw_write(s, &iov, 1);
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                poll_writable(s, 1);
                return;
            }
            if (w < 0) {
                set_broken(s);
                return;
            }
            note_written(s, &iov, (size_t)w);
            s->off += (size_t)w;
            s->len -= (size_t)w;
        }
        s->off = 0;
        if (!s->dropped && !s->dropped_log)
            break;
        queue_summary(s);
    }
    poll_writable(s, 0);
}

static void on_writable(uv_poll_t *p, int status, int events)
{
    sup_sink *s = p->data;
    (void)events;
    if (status < 0)
        set_broken(s);
    else
        flush(s);
}

/* Queues iov[0..n) (`total` bytes, of which `done` were written already). */
static int enqueue(sup_sink *s, const struct iovec *iov, int n, size_t total, size_t done,
                   int is_log)
{
    if (s->len + (total - done) > sizeof(s->buf)) {
        if (is_log)
            s->dropped_log++;
        else
            s->dropped++;
        return MESH_EAGAIN;
    }
    if (s->off + s->len + (total - done) > sizeof(s->buf)) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    char *dst = s->buf + s->off + s->len;
    for (int i = 0; i < n; i++) {
        size_t l = iov[i].iov_len;
        const char *src = iov[i].iov_base;
        size_t skip = done < l ? done : l;
        done -= skip;
        memcpy(dst, src + skip, l - skip);
        dst += l - skip;
        s->len += l - skip;
    }
    poll_writable(s, 1);
    return 0;
}

/* One whole line in iov[0..n): written at once when nothing is pending and
 * the reader takes it, else queued (the rest of a partial write included),
 * else dropped. */
static int put(sup_sink *s, struct iovec *iov, int n, int is_log)
{
    if (s->to)
        s = s->to;
    if (!s->nonblock)
        return write_direct(s, iov, n);
    if (s->broken) {
        s->dropped_total++;
        return MESH_EPIPE;
    }
    size_t total = 0, done = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (s->len == 0) {
        ssize_t w = raw_write(s, iov, n);
        if (w > 0)
            note_written(s, iov, (size_t)w);
        if (w >= 0 && (size_t)w == total)
            return 0;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            set_broken(s);
            s->dropped_total++;
            return mesh_err_from_errno(errno);
        }
        done = w > 0 ? (size_t)w : 0; /* the rest fits: the buffer is empty */
    }
    return enqueue(s, iov, n, total, done, is_log);
}

int sup_sink_line(sup_sink *s, const char *name, const char *line, size_t len)
{
    struct iovec iov[5] = {
        {.iov_base = (void *)"[", .iov_len = 1},
        {.iov_base = (void *)name, .iov_len = strlen(name)},
        {.iov_base = (void *)"] ", .iov_len = 2},
        {.iov_base = (void *)line, .iov_len = len},
        {.iov_base = (void *)"\n", .iov_len = 1},
    };
    return put(s, iov, 5, 0);
}

int sup_sink_log(sup_sink *s, const char *line, size_t len)
{
    struct iovec iov = {.iov_base = (void *)line, .iov_len = len};
    return put(s, &iov, 1, 1);
}

void sup_sink_close(sup_sink *s, unsigned flush_ms)
{
    if (!s->is_open)
        return;
    s->is_open = 0;
    if (s->nonblock && !s->broken) {
        uint64_t end = mesh_now_ns() + (uint64_t)flush_ms * 1000000u;
        for (;;) {
            flush(s);
            uint64_t now = mesh_now_ns();
            if (s->len == 0 || s->broken || now >= end)
                break;
            struct pollfd pf = {.fd = s->wfd, .events = POLLOUT};
            poll(&pf, 1, (int)((end - now) / 1000000u) + 1);
        }
        if (s->len > 0) { /* the reader never caught up: say what is lost, if it fits */
            s->dropped += count_lines(s->buf + s->off, s->len);
            queue_summary(s);
            struct iovec iov = {.iov_base = s->buf, .iov_len = s->len};
            ssize_t w = raw_write(s, &iov, 1);
            (void)w;
            s->len = 0;
        }
    }
    if (s->poll_open)
        uv_close((uv_handle_t *)&s->poll, NULL); /* stops it; the fd may close now */
    s->poll_open = s->polling = 0;
    if (s->own_wfd)
        close(s->wfd);
    s->own_wfd = s->nonblock = 0;
    s->wfd = s->fd;
    s->to = NULL;
}
