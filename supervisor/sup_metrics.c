/* Prometheus endpoint: a minimal HTTP/1.0 responder on a libuv TCP server.
 * Reads the request head (up to 2 KiB), answers GET with the text
 * exposition (sup_status_prometheus) and anything else with 405, closes. */
#include "sup_metrics.h"

#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_mesh.h"
#include "sup_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define METRICS_CONNS 8

typedef struct mconn {
    uv_tcp_t h;
    int used;
    size_t len;
    char req[2048];
    uv_write_t wr;
    char *resp;
    struct sup_metrics *x;
} mconn;

struct sup_metrics {
    sup_mesh *m;
    uv_tcp_t server;
    int open_handles, closing;
    mconn c[METRICS_CONNS];
};

static void closed(uv_handle_t *h)
{
    sup_metrics *x = h->data;
    if (h != (uv_handle_t *)&x->server) {
        mconn *c = (mconn *)h;
        free(c->resp);
        c->resp = NULL;
        c->used = 0;
    }
    if (--x->open_handles == 0 && x->closing)
        free(x);
}

static void conn_close(mconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->h))
        uv_close((uv_handle_t *)&c->h, closed);
}

static void written(uv_write_t *w, int status)
{
    (void)status;
    conn_close(w->data);
}

static void respond(mconn *c)
{
    char *body = NULL;
    size_t blen = 0;
    const char *status = "405 Method Not Allowed";
    int rc = 0;
    if (strncmp(c->req, "GET ", 4) == 0) {
        rc = sup_status_prometheus(c->x->m, &body, &blen);
        status = rc == 0 ? "200 OK" : "500 Internal Server Error";
    }
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, blen);
    c->resp = malloc((size_t)hl + blen);
    if (!c->resp) {
        free(body);
        conn_close(c);
        return;
    }
    memcpy(c->resp, head, (size_t)hl);
    if (body)
        memcpy(c->resp + hl, body, blen);
    free(body);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)((size_t)hl + blen));
    c->wr.data = c;
    uv_read_stop((uv_stream_t *)&c->h);
    if (uv_write(&c->wr, (uv_stream_t *)&c->h, &b, 1, written) != 0)
        conn_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    mconn *c = (mconn *)h;
    (void)hint;
    buf->base = c->req + c->len;
    buf->len = sizeof(c->req) - 1 - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    mconn *c = (mconn *)s;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") || c->len == sizeof(c->req) - 1)
        respond(c);
}

static void on_conn(uv_stream_t *srv, int status)
{
    sup_metrics *x = srv->data;
    if (status < 0)
        return;
    mconn *c = NULL;
    for (int i = 0; i < METRICS_CONNS && !c; i++)
        if (!x->c[i].used)
            c = &x->c[i];
    uv_tcp_t *h = c ? &c->h : malloc(sizeof(uv_tcp_t));
    if (!h)
        return;
    uv_tcp_init(srv->loop, h);
    if (!c) { /* all busy: take the connection and drop it */
        uv_accept(srv, (uv_stream_t *)h);
        uv_close((uv_handle_t *)h, (uv_close_cb)free);
        return;
    }
    memset((char *)c + sizeof(c->h), 0, sizeof(*c) - sizeof(c->h));
    c->used = 1;
    c->x = x;
    h->data = x;
    x->open_handles++;
    if (uv_accept(srv, (uv_stream_t *)h) != 0 ||
        uv_read_start((uv_stream_t *)h, alloc_cb, read_cb) != 0)
        conn_close(c);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(colon + 1) == 0)
        return MESH_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return MESH_EINVAL;
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && colon[-1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return MESH_EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return MESH_EINVAL;
}

int sup_metrics_open(sup_metrics **out, sup_mesh *m, const char *listen)
{
    struct sockaddr_storage ss;
    *out = NULL;
    if (parse_addr(listen, &ss) != 0) {
        mesh_error("%s: mesh.metrics_listen '%s' is not host:port (e.g. 127.0.0.1:9464)",
                   m->config_path, listen);
        return MESH_EINVAL;
    }
    sup_metrics *x = calloc(1, sizeof(*x));
    if (!x)
        return MESH_ENOMEM;
    x->m = m;
    uv_tcp_init(m->loop, &x->server);
    x->server.data = x;
    x->open_handles = 1;
    int rc = uv_tcp_bind(&x->server, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&x->server, 16, on_conn);
    if (rc != 0) {
        mesh_error("metrics endpoint %s: %s", listen, uv_strerror(rc));
        x->closing = 1;
        uv_close((uv_handle_t *)&x->server, closed);
        return mesh_err_from_errno(-rc);
    }
    mesh_info("metrics: http://%s/metrics (Prometheus text format)", listen);
    *out = x;
    return 0;
}

void sup_metrics_close(sup_metrics *x)
{
    if (!x)
        return;
    x->closing = 1;
    uv_close((uv_handle_t *)&x->server, closed);
    for (int i = 0; i < METRICS_CONNS; i++)
        if (x->c[i].used)
            conn_close(&x->c[i]);
}
