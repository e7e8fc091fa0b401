/* Control socket server on a libuv pipe: fixed client table (no growth per
 * connection), one request line at a time per client, replies in order. */
#include "sup_ctl.h"

#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_mesh.h"
#include "sup_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SUP_CTL_CLIENTS   16
#define SUP_CTL_LINE_MAX  512
#define SUP_CTL_REPLY_MAX (4u << 20)

typedef struct ctl_client {
    uv_pipe_t h;
    int used, writing, eof, discarding;
    size_t inlen;
    char in[SUP_CTL_LINE_MAX];
    uv_write_t wr;
    sup_json out;
    struct sup_ctl *ctl;
} ctl_client;

struct sup_ctl {
    sup_mesh *m;
    uv_pipe_t server;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int open_handles;
    int closing;
    ctl_client cl[SUP_CTL_CLIENTS];
};

static const char ctl_help[] =
    "status | rings | start ENGINE | stop ENGINE | restart ENGINE | reload | stop-mesh | help";

static void reply_result(sup_json *j, int rc, const char *msg)
{
    sup_json_kbool(j, "ok", rc == 0);
    sup_json_kstr(j, rc == 0 ? "message" : "error", msg);
}

void sup_ctl_execute(sup_mesh *m, const char *line, sup_json *j)
{
    char cmd[32] = "", arg[MESH_NAME_MAX + 1] = "", extra[2] = "";
    char msg[2048];
    int n = sscanf(line, "%31s %32s %1s", cmd, arg, extra);
    sup_json_obj(j);
    if (n <= 0) {
        reply_result(j, MESH_EINVAL, "empty request; commands: status | rings | ... (try help)");
    } else if (strcmp(cmd, "status") == 0 && n == 1) {
        sup_json_kbool(j, "ok", 1);
        sup_status_json(m, j);
    } else if (strcmp(cmd, "rings") == 0 && n == 1) {
        sup_json_kbool(j, "ok", 1);
        sup_status_rings_json(m, j);
    } else if ((strcmp(cmd, "start") == 0 || strcmp(cmd, "stop") == 0 ||
                strcmp(cmd, "restart") == 0) &&
               n == 2) {
        int rc = strcmp(cmd, "start") == 0     ? sup_mesh_start_engine(m, arg, msg, sizeof(msg))
                 : strcmp(cmd, "restart") == 0 ? sup_mesh_restart_engine(m, arg, msg, sizeof(msg))
                                               : sup_mesh_stop_engine(m, arg, msg, sizeof(msg));
        reply_result(j, rc, msg);
    } else if (strcmp(cmd, "reload") == 0 && n == 1) {
        int rc = sup_mesh_reload(m, msg, sizeof(msg));
        reply_result(j, rc, msg);
    } else if (strcmp(cmd, "stop-mesh") == 0 && n == 1) {
        sup_mesh_stop(m, "stop-mesh on the control socket", 0);
        reply_result(j, 0,
                     "stopping: engines in reverse start order; this connection closes "
                     "when meshd has finished");
    } else if (strcmp(cmd, "help") == 0) {
        reply_result(j, 0, ctl_help);
    } else {
        snprintf(msg, sizeof(msg), "bad request '%.64s': expected one of: %s", line, ctl_help);
        reply_result(j, MESH_EINVAL, msg);
    }
    sup_json_obj_end(j);
}

static void handle_closed(uv_handle_t *h)
{
    sup_ctl *c = h->data;
    if (h != (uv_handle_t *)&c->server) {
        ctl_client *cl = (ctl_client *)h;
        sup_json_free(&cl->out);
        cl->used = 0;
    }
    if (--c->open_handles == 0 && c->closing)
        free(c);
}

static void client_close(ctl_client *cl)
{
    if (!uv_is_closing((uv_handle_t *)&cl->h)) {
        cl->h.data = cl->ctl;
        uv_close((uv_handle_t *)&cl->h, handle_closed);
    }
}

static void process_lines(ctl_client *cl);

static void write_cb(uv_write_t *req, int status)
{
    ctl_client *cl = req->data;
    cl->writing = 0;
    sup_json_free(&cl->out);
    if (status < 0 || cl->ctl->closing) {
        client_close(cl);
        return;
    }
    process_lines(cl);
}

static void send_reply(ctl_client *cl, const char *line)
{
    sup_json_init(&cl->out, SUP_CTL_REPLY_MAX);
    sup_ctl_execute(cl->ctl->m, line, &cl->out);
    if (sup_json_error(&cl->out)) {
        int err = sup_json_error(&cl->out);
        sup_json_free(&cl->out);
        sup_json_init(&cl->out, 4096);
        sup_json_obj(&cl->out);
        reply_result(&cl->out, err, mesh_strerror(err));
        sup_json_obj_end(&cl->out);
    }
    sup_json_raw(&cl->out, "\n", 1);
    size_t len;
    const char *text = sup_json_text(&cl->out, &len);
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)len);
    cl->wr.data = cl;
    cl->writing = 1;
    if (uv_write(&cl->wr, (uv_stream_t *)&cl->h, &b, 1, write_cb) != 0) {
        cl->writing = 0;
        sup_json_free(&cl->out);
        client_close(cl);
    }
}

/* Serves complete lines one at a time (the next after the reply is written). */
static void process_lines(ctl_client *cl)
{
    while (!cl->writing && cl->used && !uv_is_closing((uv_handle_t *)&cl->h)) {
        char *nl = memchr(cl->in, '\n', cl->inlen);
        if (!nl) {
            if (cl->eof)
                client_close(cl);
            return;
        }
        *nl = '\0';
        if (nl > cl->in && nl[-1] == '\r')
            nl[-1] = '\0';
        char line[SUP_CTL_LINE_MAX];
        snprintf(line, sizeof(line), "%s", cl->in);
        size_t used = (size_t)(nl - cl->in) + 1;
        memmove(cl->in, nl + 1, cl->inlen - used);
        cl->inlen -= used;
        send_reply(cl, line);
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ctl_client *cl = (ctl_client *)h;
    (void)hint;
    buf->base = cl->in + cl->inlen;
    buf->len = sizeof(cl->in) - cl->inlen;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ctl_client *cl = (ctl_client *)s;
    (void)buf;
    if (nread < 0) {
        cl->eof = 1;
        uv_read_stop(s);
        process_lines(cl);
        return;
    }
    cl->inlen += (size_t)nread;
    if (cl->inlen == sizeof(cl->in) && !memchr(cl->in, '\n', cl->inlen)) {
        cl->inlen = 0; /* a request longer than any valid one: answer, then resync */
        snprintf(cl->in, sizeof(cl->in), "request-too-long\n");
        cl->inlen = strlen(cl->in);
    }
    process_lines(cl);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    sup_ctl *c = server->data;
    if (status < 0)
        return;
    ctl_client *cl = NULL;
    for (int i = 0; i < SUP_CTL_CLIENTS && !cl; i++)
        if (!c->cl[i].used)
            cl = &c->cl[i];
    if (!cl) {
        /* Table full: accept into a throw-away handle and close it at once
         * (libuv stops accepting until the pending connection is taken). */
        uv_pipe_t *tmp = malloc(sizeof(*tmp));
        if (tmp) {
            uv_pipe_init(server->loop, tmp, 0);
            uv_accept(server, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, free_handle);
        }
        mesh_warn("control socket: more than %d clients; connection refused", SUP_CTL_CLIENTS);
        return;
    }
    memset(cl, 0, sizeof(*cl));
    cl->ctl = c;
    cl->used = 1;
    uv_pipe_init(server->loop, &cl->h, 0);
    cl->h.data = c;
    c->open_handles++;
    if (uv_accept(server, (uv_stream_t *)&cl->h) != 0) {
        client_close(cl);
        return;
    }
    uv_read_start((uv_stream_t *)&cl->h, alloc_cb, read_cb);
}

/* 1 when something accepts connections at path (another meshd). */
static int socket_alive(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return alive;
}

int sup_ctl_open(sup_ctl **out, sup_mesh *m, const char *path)
{
    *out = NULL;
    if (socket_alive(path)) {
        mesh_error("control socket %s: another meshd is running there (stop it with "
                   "'meshctl --socket %s stop-mesh')",
                   path, path);
        return MESH_EADDRINUSE;
    }
    unlink(path); /* stale file from a run that did not finish */
    sup_ctl *c = calloc(1, sizeof(*c));
    if (!c)
        return MESH_ENOMEM;
    c->m = m;
    snprintf(c->path, sizeof(c->path), "%s", path);
    uv_pipe_init(m->loop, &c->server, 0);
    c->server.data = c;
    c->open_handles = 1;
    int rc = uv_pipe_bind(&c->server, path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->server, 16, on_connection);
    if (rc != 0) {
        mesh_error("control socket %s: %s", path, uv_strerror(rc));
        c->closing = 1;
        uv_close((uv_handle_t *)&c->server, handle_closed);
        return mesh_err_from_errno(-rc);
    }
    *out = c;
    return 0;
}

void sup_ctl_close(sup_ctl *c)
{
    if (!c)
        return;
    c->closing = 1;
    unlink(c->path);
    uv_close((uv_handle_t *)&c->server, handle_closed);
    for (int i = 0; i < SUP_CTL_CLIENTS; i++)
        if (c->cl[i].used)
            client_close(&c->cl[i]);
}
