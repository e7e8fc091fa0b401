/* meshctl's side of the control socket: connect, send a line, read a line,
 * with a timeout and errors that say what to do. */
#include "mctl.h"

#include "mesh_error.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_socket(const mctl *c, int *fd_out)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mesh_err_from_errno(errno);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->socket);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        fprintf(stderr,
                "meshctl: cannot connect to %s: %s\n"
                "  is meshd running? start it with 'meshd --config FILE', or point meshctl at\n"
                "  its socket with --socket PATH or --config FILE (mesh.control_socket)\n",
                c->socket, strerror(err));
        return mesh_err_from_errno(err);
    }
    *fd_out = fd;
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return mesh_err_from_errno(errno);
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until a newline; returns 0 and a NUL-terminated line without it. */
static int read_line(int fd, unsigned timeout_ms, char **out)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return MESH_ENOMEM;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)timeout_ms);
        if (pr == 0) {
            free(buf);
            return MESH_ETIMEDOUT;
        }
        if (pr < 0 && errno == EINTR)
            continue;
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return MESH_ENOMEM;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return r == 0 ? MESH_ECLOSED : mesh_err_from_errno(errno);
        }
        char *nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
        if (nl) {
            *nl = '\0';
            *out = buf;
            return 0;
        }
    }
}

int mctl_request(const mctl *c, const char *line, char **reply, int *fd_out)
{
    int fd = -1, rc = connect_socket(c, &fd);
    if (rc != 0)
        return rc;
    char req[512];
    snprintf(req, sizeof(req), "%s\n", line);
    rc = write_all(fd, req, strlen(req));
    if (rc == 0)
        rc = read_line(fd, c->timeout_ms, reply);
    if (rc != 0)
        fprintf(stderr, "meshctl: no reply from meshd on %s to '%s': %s\n", c->socket, line,
                mesh_strerror(rc));
    if (rc == 0 && fd_out)
        *fd_out = fd;
    else
        close(fd);
    return rc;
}

int mctl_parse_reply(const char *reply, sup_jval **out)
{
    char err[128];
    *out = NULL;
    if (sup_jval_parse(out, reply, strlen(reply), err, sizeof(err)) != 0) {
        fprintf(stderr, "meshctl: malformed reply from meshd (%s): %.200s\n", err, reply);
        return MESH_EPROTO;
    }
    if (!sup_jval_gbool(*out, "ok", 0)) {
        fprintf(stderr, "meshctl: %s\n", sup_jval_gstr(*out, "error", "request failed"));
        return MESH_EINVAL;
    }
    return 0;
}

void mctl_fmt_ms(char *buf, size_t len, double ms)
{
    if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else if (ms < 3600000)
        snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000) % 60);
    else
        snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000) % 60);
}
