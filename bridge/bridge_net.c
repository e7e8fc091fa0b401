/* Bridge networking: nng sockets and their callbacks (connection events, acks
 * arriving on a dialer), start of the threads, and the ordered shutdown. */
#include "bridge_int.h"

#include "mesh_clock.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <arpa/inet.h>
#include <nng/protocol/pair1/pair.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRIDGE_QUEUE     16   /* frames nng buffers per socket and direction */
#define BRIDGE_SEND_MS   20   /* a send blocks at most this long, then the thread moves on */
#define BRIDGE_RECV_MS   100  /* the receive thread wakes at least this often */
#define BRIDGE_ACK_MAXSZ 4096 /* dialers only ever receive acks */

static void wake_tx(bridge *b)
{
    if (b->o.doorbell)
        bus_doorbell_notify(b->o.doorbell);
}

/* Connection events of a dialer (nng thread). */
static void link_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    bridge_link *l = arg;
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        bridge_atomic_inc(&l->gen);
        bridge_atomic_set(&l->npipes, 1);
        uint64_t gen = bridge_atomic_get(&l->gen);
        if (gen > 1)
            mesh_info("peer %s (%s): reconnected (connection %llu)", l->peer, l->url,
                      (unsigned long long)gen);
        else
            mesh_info("peer %s (%s): connected", l->peer, l->url);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        bridge_atomic_set(&l->npipes, 0);
        mesh_warn("peer %s (%s): connection lost; redialling with back-off", l->peer, l->url);
    }
    wake_tx(l->b);
}

/* An ack, a refusal of our HELLO, or anything else arrived on a dialer
 * (nng thread; one callback at a time per link). */
static void link_recv_cb(void *arg)
{
    bridge_link *l = arg;
    int rv = nng_aio_result(l->aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(l->aio);
        const void *body = nng_msg_body(m);
        size_t len = nng_msg_len(m);
        bridge_frame_hdr h;
        bridge_frame_err e = {0};
        int rc = bridge_frame_decode(body, len, NULL, &h, &e);
        if (rc == 0 && h.kind == BRIDGE_FRAME_ACK) {
            bridge_link_on_ack(l, &h);
            wake_tx(l->b);
        } else if (rc == 0 && h.kind == BRIDGE_FRAME_HELLO && (h.flags & BRIDGE_HELLO_REFUSED)) {
            bridge_atomic_inc(&l->b->hdr->peer_refusals);
            bridge_ratelog_warn(&l->log_ack, "peer %s (%s) refused routes of this mesh: %s",
                                l->peer, l->url, bridge_hello_reason(body, len));
        } else {
            bridge_atomic_inc(&l->b->hdr->bad_frames);
            bridge_ratelog_warn(&l->log_ack,
                                "peer %s (%s): rejected a %zu-byte frame on the ack path: %s "
                                "(offset %zu)",
                                l->peer, l->url, len,
                                rc ? e.what : "only acks and hello refusals are expected here",
                                e.offset);
        }
        nng_msg_free(m);
    }
    nng_recv_aio(l->sock, l->aio);
}

static int link_fail(char *err, size_t errlen, const bridge_link *l, const char *what, int rv)
{
    snprintf(err, errlen, "peer %s (%s): %s: %s", l->peer, l->url, what, nng_strerror(rv));
    return bridge_nng_err(rv);
}

static int link_open(bridge *b, bridge_link *l, char *err, size_t errlen)
{
    int rv = nng_pair1_open(&l->sock);
    if (rv)
        return link_fail(err, errlen, l, "cannot open an nng pair1 socket", rv);
    l->open = 1;
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        return MESH_ENOMEM;
    l->mu_init = 1;
    nng_socket_set_int(l->sock, NNG_OPT_SENDBUF, BRIDGE_QUEUE);
    nng_socket_set_int(l->sock, NNG_OPT_RECVBUF, BRIDGE_QUEUE);
    nng_socket_set_ms(l->sock, NNG_OPT_SENDTIMEO, BRIDGE_SEND_MS);
    nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, BRIDGE_ACK_MAXSZ);
    nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, link_pipe_cb, l);
    nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, link_pipe_cb, l);
    if ((rv = nng_aio_alloc(&l->aio, link_recv_cb, l)) != 0)
        return link_fail(err, errlen, l, "cannot allocate an aio", rv);
    if ((rv = nng_dialer_create(&l->dialer, l->sock, l->url)) != 0)
        return link_fail(err, errlen, l, "bad peer address", rv);
    nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMINT, (nng_duration)b->o.reconnect_min_ms);
    nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMAXT, (nng_duration)b->o.reconnect_max_ms);
    /* Non-blocking: a peer that is down now is dialled again in the background. */
    if ((rv = nng_dialer_start(l->dialer, NNG_FLAG_NONBLOCK)) != 0)
        return link_fail(err, errlen, l, "cannot start dialling", rv);
    nng_recv_aio(l->sock, l->aio);
    return 0;
}

void bridge_pipe_addr(nng_pipe p, char *buf, size_t len)
{
    nng_sockaddr sa;
    snprintf(buf, len, "connection %d", nng_pipe_id(p));
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0 && sa.s_family == NNG_AF_INET) {
        const uint8_t *ip = (const uint8_t *)&sa.s_in.sa_addr;
        snprintf(buf, len, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3],
                 (unsigned)ntohs(sa.s_in.sa_port));
    }
}

int bridge_pipe_alive(nng_pipe p)
{
    nng_sockaddr sa;
    return nng_pipe_id(p) > 0 && nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0;
}

static void listen_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    char addr[96];
    (void)arg;
    bridge_pipe_addr(p, addr, sizeof(addr));
    if (ev == NNG_PIPE_EV_ADD_POST)
        mesh_info("listener: peer connected from %s", addr);
    else if (ev == NNG_PIPE_EV_REM_POST)
        mesh_info("listener: peer from %s disconnected", addr);
}

static int listen_open(bridge *b, char *err, size_t errlen)
{
    bridge_frame_limits lim;
    bridge_frame_limits_default(&lim);
    int rv = nng_pair1_open_poly(&b->lsock);
    if (rv) {
        snprintf(err, errlen, "listen %s: cannot open an nng pair1 socket: %s", b->o.listen,
                 nng_strerror(rv));
        return bridge_nng_err(rv);
    }
    b->listening = 1;
    nng_socket_set_int(b->lsock, NNG_OPT_RECVBUF, BRIDGE_QUEUE);
    nng_socket_set_int(b->lsock, NNG_OPT_SENDBUF, BRIDGE_QUEUE);
    nng_socket_set_ms(b->lsock, NNG_OPT_RECVTIMEO, BRIDGE_RECV_MS);
    /* Twice our own limit: frames up to that are read and rejected with a
     * count; beyond it nng drops the connection. */
    nng_socket_set_size(b->lsock, NNG_OPT_RECVMAXSZ, 2 * lim.max_frame);
    nng_pipe_notify(b->lsock, NNG_PIPE_EV_ADD_POST, listen_pipe_cb, b);
    nng_pipe_notify(b->lsock, NNG_PIPE_EV_REM_POST, listen_pipe_cb, b);
    rv = nng_listen(b->lsock, b->o.listen, &b->listener, 0);
    if (rv) {
        snprintf(err, errlen, "mesh.listen %s: cannot listen: %s", b->o.listen, nng_strerror(rv));
        return bridge_nng_err(rv);
    }
    mesh_info("listening on %s for %d inbound route(s)", b->o.listen, b->nin);
    return 0;
}

int bridge_listen_port(const bridge *b)
{
    int port = 0;
    if (!b->listening || nng_listener_get_int(b->listener, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
        return 0;
    return port;
}

/* Starts a thread with every signal blocked: signals go to the caller's thread. */
static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc ? mesh_err_from_errno(rc) : 0;
}

int bridge_start(bridge *b, char *err, size_t errlen)
{
    if (!b || b->started)
        return MESH_ESTATE;
    b->started = 1;
    int rc = 0;
    if (b->nin > 0 && (!b->o.listen || !*b->o.listen)) {
        snprintf(err, errlen, "%d inbound route(s) but no listen address (mesh.listen)", b->nin);
        return MESH_EINVAL;
    }
    if (b->o.listen && *b->o.listen && (rc = listen_open(b, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < b->nlinks; i++)
        if ((rc = link_open(b, &b->link[i], err, errlen)) < 0)
            return rc;
    uint64_t now = mesh_now_ns();
    bridge_atomic_set(&b->tx_tick, now);
    bridge_atomic_set(&b->rx_tick, now);
    if ((rc = thread_start(&b->tx_thread, bridge_tx_main, b)) < 0) {
        snprintf(err, errlen, "cannot start the send thread: %s", mesh_strerror(rc));
        return rc;
    }
    b->tx_running = 1;
    if (b->listening && (rc = thread_start(&b->rx_thread, bridge_rx_main, b)) < 0) {
        snprintf(err, errlen, "cannot start the receive thread: %s", mesh_strerror(rc));
        return rc;
    }
    b->rx_running = b->listening;
    return 0;
}

int bridge_alive(const bridge *b, uint64_t now_ns, uint64_t stale_ns)
{
    uint64_t tx = bridge_atomic_get(&b->tx_tick), rx = bridge_atomic_get(&b->rx_tick);
    int tx_ok = now_ns < tx || now_ns - tx <= stale_ns;
    int rx_ok = !b->rx_running || now_ns < rx || now_ns - rx <= stale_ns;
    return tx_ok && rx_ok && !bridge_atomic_get(&b->failed);
}

static void links_close(bridge *b)
{
    for (int i = 0; i < b->nlinks; i++) {
        bridge_link *l = &b->link[i];
        if (l->open)
            nng_close(l->sock); /* the pending receive completes with NNG_ECLOSED */
        l->open = 0;
        if (l->aio) {
            nng_aio_stop(l->aio);
            nng_aio_free(l->aio);
            l->aio = NULL;
        }
    }
}

void bridge_stop(bridge *b, uint64_t drain_ns)
{
    if (!b)
        return;
    if (b->tx_running) {
        b->drain_deadline = mesh_now_ns() + drain_ns;
        bridge_atomic_set(&b->stop_tx, 1);
        wake_tx(b);
        pthread_join(b->tx_thread, NULL);
        b->tx_running = 0;
    }
    if (b->rx_running) {
        bridge_atomic_set(&b->stop_rx, 1);
        pthread_join(b->rx_thread, NULL);
        b->rx_running = 0;
    }
}

void bridge_close(bridge *b)
{
    if (!b)
        return;
    bridge_stop(b, 0);
    if (b->listening) {
        nng_listener_close(b->listener);
        nng_close(b->lsock);
    }
    b->listening = 0;
    links_close(b);
    for (int i = 0; i < b->nout; i++) {
        if (b->out[i]->pending)
            nng_msg_free(b->out[i]->pending);
        free(b->out[i]);
    }
    for (int i = 0; i < b->nin; i++) {
        bridge_ackq_free(&b->in[i]->ackq);
        free(b->in[i]);
    }
    for (int i = 0; i < b->nlinks; i++)
        if (b->link[i].mu_init)
            pthread_mutex_destroy(&b->link[i].mu);
    free(b);
}
