/* meshbench transports "nng-ipc" and "nng-inproc": nng pair0 sockets, one
 * pair per direction; the receiver listens, the sender dials (non-blocking,
 * so start order does not matter). inproc runs both roles as threads. */
#include "mb.h"
#include "mesh_error.h"

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NNG_URL_LEN 160
#define NNG_TIMEO   1000 /* ms; a timed-out call checks abort and retries */
#define NNG_QUEUE   1024 /* messages buffered per socket and direction (max 8192) */

typedef struct nng_urls {
    char ab[NNG_URL_LEN]; /* A -> B */
    char ba[NNG_URL_LEN]; /* B -> A */
    bool ipc;
} nng_urls;

struct mb_ep {
    mb_case *c;
    nng_socket tx, rx;
    bool tx_open, rx_open;
};

static int nng_setup_common(mb_case *c, bool ipc)
{
    nng_urls *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return MESH_ENOMEM;
    u->ipc = ipc;
    const char *fmt = ipc ? "ipc:///tmp/%s-%s.ipc" : "inproc://%s-%s";
    snprintf(u->ab, sizeof(u->ab), fmt, c->tag, "ab");
    snprintf(u->ba, sizeof(u->ba), fmt, c->tag, "ba");
    c->setup_priv = u;
    return 0;
}

static int nng_setup_ipc(mb_case *c)
{
    return nng_setup_common(c, true);
}

static int nng_setup_inproc(mb_case *c)
{
    return nng_setup_common(c, false);
}

static void nng_teardown(mb_case *c)
{
    nng_urls *u = c->setup_priv;
    if (u == NULL)
        return;
    if (u->ipc) { /* the listener normally removes its socket file; be sure */
        unlink(u->ab + strlen("ipc://"));
        unlink(u->ba + strlen("ipc://"));
    }
    free(u);
    c->setup_priv = NULL;
}

static int map_nng(int nrv)
{
    switch (nrv) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        return MESH_ENOMEM;
    case NNG_ETIMEDOUT:
        return MESH_ETIMEDOUT;
    case NNG_ECLOSED:
        return MESH_ECLOSED;
    case NNG_EADDRINUSE:
        return MESH_EADDRINUSE;
    case NNG_EMSGSIZE:
        return MESH_EMSGSIZE;
    default:
        return MESH_EIO;
    }
}

static int open_socket(nng_socket *s)
{
    int nrv = nng_pair0_open(s);
    if (nrv == 0)
        nrv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, NNG_TIMEO);
    if (nrv == 0)
        nrv = nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, NNG_TIMEO);
    if (nrv == 0)
        nrv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 2 * MB_MAX_PAYLOAD);
    /* Queue up to NNG_QUEUE messages each way, as the ring and the socket
     * buffers do; unbuffered pair0 hands over one message at a time. */
    if (nrv == 0)
        nrv = nng_socket_set_int(*s, NNG_OPT_SENDBUF, NNG_QUEUE);
    if (nrv == 0)
        nrv = nng_socket_set_int(*s, NNG_OPT_RECVBUF, NNG_QUEUE);
    return nrv;
}

static void nng_ep_close(mb_ep *ep)
{
    if (ep == NULL)
        return;
    if (ep->tx_open)
        nng_close(ep->tx);
    if (ep->rx_open)
        nng_close(ep->rx);
    free(ep);
}

static int nng_ep_open(mb_case *c, mb_ep **out)
{
    nng_urls *u = c->setup_priv;
    mb_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return MESH_ENOMEM;
    ep->c = c;
    const char *tx_url = c->role == 0 ? u->ab : u->ba;
    const char *rx_url = c->role == 0 ? u->ba : u->ab;
    int nrv = open_socket(&ep->rx);
    ep->rx_open = nrv == 0;
    if (nrv == 0)
        nrv = nng_listen(ep->rx, rx_url, NULL, 0);
    if (nrv == 0) {
        nrv = open_socket(&ep->tx);
        ep->tx_open = nrv == 0;
    }
    if (nrv == 0)
        nrv = nng_dial(ep->tx, tx_url, NULL, NNG_FLAG_NONBLOCK);
    if (nrv != 0) {
        int rc = mb_fail(c, map_nng(nrv), "nng %s / %s: %s", rx_url, tx_url, nng_strerror(nrv));
        nng_ep_close(ep);
        return rc;
    }
    *out = ep;
    return 0;
}

static int nng_ep_send(mb_ep *ep, const uint8_t *buf, size_t len)
{
    for (;;) {
        int nrv = nng_send(ep->tx, (void *)buf, len, 0);
        if (nrv == 0)
            return 0;
        if (nrv != NNG_ETIMEDOUT)
            return mb_fail(ep->c, map_nng(nrv), "nng_send: %s", nng_strerror(nrv));
        int rc = mb_spin_check(ep->c);
        if (rc != 0)
            return rc;
    }
}

static int nng_ep_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len)
{
    for (;;) {
        size_t sz = cap;
        int nrv = nng_recv(ep->rx, buf, &sz, 0);
        if (nrv == 0) {
            *len = sz;
            return 0;
        }
        if (nrv != NNG_ETIMEDOUT)
            return mb_fail(ep->c, map_nng(nrv), "nng_recv: %s", nng_strerror(nrv));
        int rc = mb_spin_check(ep->c);
        if (rc != 0)
            return rc;
    }
}

const mb_transport mb_tr_nng_ipc = {
    .name = "nng-ipc",
    .what = "nng pair0 over ipc:// (two processes)",
    .flags = 0,
    .setup = nng_setup_ipc,
    .teardown = nng_teardown,
    .open = nng_ep_open,
    .close = nng_ep_close,
    .send = nng_ep_send,
    .recv = nng_ep_recv,
};

const mb_transport mb_tr_nng_inproc = {
    .name = "nng-inproc",
    .what = "nng pair0 over inproc:// (two threads of one process)",
    .flags = MB_TR_THREADS,
    .setup = nng_setup_inproc,
    .teardown = nng_teardown,
    .open = nng_ep_open,
    .close = nng_ep_close,
    .send = nng_ep_send,
    .recv = nng_ep_recv,
};
