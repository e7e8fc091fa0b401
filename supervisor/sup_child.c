/* Child process handling on libuv: spawn with pipes, read output and the
 * readiness line, signal the engine's process group, report the exit (after
 * killing what is left of the group), close every handle before a respawn. */
#include "sup_child.h"

#include "mesh_error.h"
#include "mesh_log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int uv_to_mesh(int uverr)
{
    return mesh_err_from_errno(-uverr);
}

void sup_child_init(sup_child *c, const char *name, const sup_child_ops *ops, void *arg,
                    sup_sink *out, sup_sink *err)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->ops = ops;
    c->arg = arg;
    c->out_sink = out;
    c->err_sink = err;
}

int sup_child_idle(const sup_child *c)
{
    return c->open_handles == 0;
}

static void on_close(uv_handle_t *h)
{
    sup_child *c = h->data;
    if (--c->open_handles == 0 && c->ops->on_idle)
        c->ops->on_idle(c->arg);
}

static void close_handle(sup_child *c, uv_handle_t *h)
{
    if (!uv_is_closing(h) && h->data == c)
        uv_close(h, on_close);
}

static void emit_out(void *arg, const char *line, size_t len)
{
    sup_child *c = arg;
    sup_sink_line(c->out_sink, c->name, line, len);
}

static void emit_err(void *arg, const char *line, size_t len)
{
    sup_child *c = arg;
    sup_sink_line(c->err_sink, c->name, line, len);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char scratch[16384]; /* single loop thread: one read at a time */
    (void)h;
    (void)hint;
    buf->base = scratch;
    buf->len = sizeof(scratch);
}

static void feed(sup_child *c, uv_stream_t *s, const char *data, size_t n)
{
    if (s == (uv_stream_t *)&c->out) {
        sup_linebuf_feed(&c->outbuf, data, n, emit_out, c);
    } else if (s == (uv_stream_t *)&c->err) {
        sup_linebuf_feed(&c->errbuf, data, n, emit_err, c);
    } else if (!c->ready_seen) {
        size_t room = sizeof(c->rdybuf) - c->rdylen;
        size_t take = n < room ? n : room;
        memcpy(c->rdybuf + c->rdylen, data, take);
        c->rdylen += take;
        if (memchr(c->rdybuf, '\n', c->rdylen)) {
            c->ready_seen = 1;
            /* s6: the newline is the notification; we stop reading here. */
            close_handle(c, (uv_handle_t *)&c->rdy);
            if (c->pid > 0 && c->ops->on_ready)
                c->ops->on_ready(c->arg);
        } else if (c->rdylen == sizeof(c->rdybuf)) {
            mesh_warn("%s: no newline in the first %zu bytes on MESH_READY_FD: ignored", c->name,
                      c->rdylen);
            c->rdylen = 0;
        }
    }
}

static void stream_done(sup_child *c, uv_stream_t *s)
{
    if (s == (uv_stream_t *)&c->out)
        sup_linebuf_flush(&c->outbuf, emit_out, c);
    else if (s == (uv_stream_t *)&c->err)
        sup_linebuf_flush(&c->errbuf, emit_err, c);
    close_handle(c, (uv_handle_t *)s);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sup_child *c = s->data;
    if (nread > 0)
        feed(c, s, buf->base, (size_t)nread);
    else if (nread < 0)
        stream_done(c, s); /* UV_EOF or an error: either way this stream is over */
}

/* The engine's process group outlives its leader while a member runs (the
 * kernel does not reuse the number meanwhile): SIGKILL whatever is left, so
 * no child of the engine survives its run. */
static void kill_leftovers(sup_child *c)
{
    if (c->pgid <= 0)
        return;
    if (kill(-c->pgid, SIGKILL) == 0)
        mesh_info("%s: SIGKILL to the rest of its process group %d", c->name, (int)c->pgid);
    c->pgid = 0;
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
    sup_child *c = p->data;
    c->pid = 0;
    kill_leftovers(c);
    close_handle(c, (uv_handle_t *)p);
    if (c->ops->on_exit)
        c->ops->on_exit(c->arg, status, sig);
}

static void init_pipe(sup_child *c, uv_loop_t *loop, uv_pipe_t *p)
{
    uv_pipe_init(loop, p, 0);
    p->data = c;
    c->open_handles++;
}

int sup_child_spawn(sup_child *c, uv_loop_t *loop, const char *file, char **argv, char **env,
                    int cfg_fd)
{
    if (!sup_child_idle(c))
        return MESH_ESTATE;
    sup_linebuf_reset(&c->outbuf);
    sup_linebuf_reset(&c->errbuf);
    c->rdylen = 0;
    c->ready_seen = 0;
    init_pipe(c, loop, &c->out);
    init_pipe(c, loop, &c->err);
    init_pipe(c, loop, &c->rdy);
    uv_stdio_container_t stdio[SUP_CHILD_CONFIG_FD + 1];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE; /* writable from the child's side */
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&c->err;
    stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE; /* MESH_READY_FD=3 */
    stdio[3].data.stream = (uv_stream_t *)&c->rdy;
    stdio[SUP_CHILD_CONFIG_FD].flags = UV_INHERIT_FD; /* MESH_CONFIG_FD=4 */
    stdio[SUP_CHILD_CONFIG_FD].data.fd = cfg_fd;
    uv_process_options_t opt = {
        .exit_cb = exit_cb,
        .file = file,
        .args = argv,
        .env = env,
        .flags = UV_PROCESS_DETACHED, /* own session: the terminal's ^C reaches meshd only */
        .stdio_count = cfg_fd >= 0 ? SUP_CHILD_CONFIG_FD + 1 : SUP_CHILD_CONFIG_FD,
        .stdio = stdio,
    };
    c->proc.data = c;
    c->open_handles++;
    int rc = uv_spawn(loop, &c->proc, &opt);
    if (rc < 0) {
        close_handle(c, (uv_handle_t *)&c->proc);
        close_handle(c, (uv_handle_t *)&c->out);
        close_handle(c, (uv_handle_t *)&c->err);
        close_handle(c, (uv_handle_t *)&c->rdy);
        return uv_to_mesh(rc);
    }
    c->pid = c->proc.pid;
    c->pgid = c->proc.pid; /* UV_PROCESS_DETACHED: setsid() made it a group leader */
    uv_read_start((uv_stream_t *)&c->out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&c->err, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&c->rdy, alloc_cb, read_cb);
    return 0;
}

int sup_child_kill(sup_child *c, int sig)
{
    if (c->pid <= 0)
        return MESH_ESRCH;
    /* The whole group: an engine's own children get the signal too. Between
     * fork and setsid() in the child the group does not exist yet. */
    if (kill(-c->pgid, sig) == 0)
        return 0;
    if (errno != ESRCH)
        return mesh_err_from_errno(errno);
    int rc = uv_process_kill(&c->proc, sig);
    return rc < 0 ? uv_to_mesh(rc) : 0;
}

/* Reads whatever the pipe holds right now (non-blocking) into the lines. */
static void drain_now(sup_child *c, uv_pipe_t *p)
{
    uv_os_fd_t fd;
    if (uv_is_closing((uv_handle_t *)p) || uv_fileno((uv_handle_t *)p, &fd) != 0)
        return;
    char tmp[4096];
    for (int i = 0; i < 256; i++) { /* bounded: at most 1 MiB */
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        feed(c, (uv_stream_t *)p, tmp, (size_t)n);
    }
}

void sup_child_release(sup_child *c)
{
    if (c->pid > 0)
        return;
    drain_now(c, &c->out);
    drain_now(c, &c->err);
    stream_done(c, (uv_stream_t *)&c->out);
    stream_done(c, (uv_stream_t *)&c->err);
    close_handle(c, (uv_handle_t *)&c->rdy);
}
