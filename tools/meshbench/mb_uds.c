/* meshbench transports "uds" and "uds-spin": Unix domain SOCK_SEQPACKET
 * socket pairs, one per direction. "uds" blocks in recv (1 s timeouts so an
 * abort is noticed); "uds-spin" polls with MSG_DONTWAIT, like the ring's
 * consumer, so the difference between the two is the cost of sleeping and
 * being woken. */
#include "mb.h"
#include "mesh_error.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct uds_pairs {
    int ab[2]; /* [0] A sends, [1] B receives */
    int ba[2]; /* [0] B sends, [1] A receives */
} uds_pairs;

struct mb_ep {
    mb_case *c;
    int tx, rx;
    int rflags; /* recv flags: MSG_DONTWAIT for uds-spin */
};

static int set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return mesh_err_from_errno(errno);
    return 0;
}

static void uds_teardown(mb_case *c)
{
    uds_pairs *p = c->setup_priv;
    if (p == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        if (p->ab[i] >= 0)
            close(p->ab[i]);
        if (p->ba[i] >= 0)
            close(p->ba[i]);
    }
    free(p);
    c->setup_priv = NULL;
}

static int uds_setup(mb_case *c)
{
    uds_pairs *p = malloc(sizeof(*p));
    if (p == NULL)
        return MESH_ENOMEM;
    p->ab[0] = p->ab[1] = p->ba[0] = p->ba[1] = -1;
    c->setup_priv = p;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p->ab) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p->ba) != 0) {
        int rc = mesh_err_from_errno(errno);
        uds_teardown(c);
        return rc;
    }
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = set_timeouts(p->ab[i]);
        if (rc == 0)
            rc = set_timeouts(p->ba[i]);
    }
    if (rc != 0)
        uds_teardown(c);
    return rc;
}

static int uds_open(mb_case *c, mb_ep **out)
{
    uds_pairs *p = c->setup_priv;
    mb_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return MESH_ENOMEM;
    ep->c = c;
    ep->tx = c->role == 0 ? p->ab[0] : p->ba[0];
    ep->rx = c->role == 0 ? p->ba[1] : p->ab[1];
    ep->rflags = c->tr == &mb_tr_uds_spin ? MSG_DONTWAIT : 0;
    *out = ep;
    return 0;
}

static void uds_close(mb_ep *ep)
{
    free(ep); /* the descriptors belong to the parent's setup (closed by _exit) */
}

/* A timeout or signal: check abort and the deadline, then retry. */
static int uds_retry(mb_ep *ep, int err)
{
    if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
        return mesh_err_from_errno(err);
    return mb_spin_check(ep->c);
}

static int uds_send(mb_ep *ep, const uint8_t *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(ep->tx, buf, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len)
            return 0;
        if (n >= 0)
            return MESH_EIO; /* SEQPACKET sends all or nothing */
        int rc = uds_retry(ep, errno);
        if (rc != 0)
            return rc;
    }
}

static int uds_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len)
{
    uint32_t spins = 0;
    for (;;) {
        ssize_t n = recv(ep->rx, buf, cap, ep->rflags);
        if (n > 0) {
            *len = (size_t)n;
            return 0;
        }
        if (n == 0)
            return MESH_ECLOSED;
        if (ep->rflags != 0 && errno == EAGAIN) {
            int rc = mb_spin(ep->c, &spins);
            if (rc != 0)
                return rc;
            continue;
        }
        int rc = uds_retry(ep, errno);
        if (rc != 0)
            return rc;
    }
}

const mb_transport mb_tr_uds = {
    .name = "uds",
    .what = "Unix domain socket pairs (SOCK_SEQPACKET), one per direction",
    .flags = 0,
    .setup = uds_setup,
    .teardown = uds_teardown,
    .open = uds_open,
    .close = uds_close,
    .send = uds_send,
    .recv = uds_recv,
};

const mb_transport mb_tr_uds_spin = {
    .name = "uds-spin",
    .what = "as uds, but the receiver polls (MSG_DONTWAIT) instead of sleeping",
    .flags = 0,
    .setup = uds_setup,
    .teardown = uds_teardown,
    .open = uds_open,
    .close = uds_close,
    .send = uds_send,
    .recv = uds_recv,
};
