/* repro-nng-close: shows, with nng alone (no bridge code), the libnng 1.5.2
 * hang the bridge works around (bridge/README.md, "nng_close"). Each round:
 * a pair1 polyamorous listener whose thread answers every message, a pair1
 * dialer sending 300 messages, then the receive thread is stopped (its
 * nng_recvmsg has a 20 ms NNG_OPT_RECVTIMEO) and both sockets are closed.
 * On libnng 1.5.2 a run of a few hundred rounds stops for good: either
 * nng_recvmsg never returns although its timeout passed (the aio's expiry is
 * lost), or nng_close waits forever for the reaper, which waits for an aio.
 * Usage: repro-nng-close [ROUNDS] (default 1000); prints a line every 20
 * rounds; exits 0 after the last. Not a test: it hangs by design on a bad
 * libnng. */
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static nng_socket lsock;
static int stop; /* __atomic */

static void *answer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        nng_msg *m;
        if (nng_recvmsg(lsock, &m, 0) != 0)
            continue; /* NNG_ETIMEDOUT every 20 ms while idle */
        nng_pipe p = nng_msg_get_pipe(m);
        nng_msg_clear(m);
        nng_msg_append(m, "ack", 3);
        nng_msg_set_pipe(m, p);
        if (nng_sendmsg(lsock, m, NNG_FLAG_NONBLOCK) != 0)
            nng_msg_free(m);
    }
    return NULL;
}

static int round_trip(void)
{
    nng_socket d;
    nng_listener l;
    nng_dialer dl;
    pthread_t t;
    char url[64];
    int port = 0;
    if (nng_pair1_open_poly(&lsock) || nng_socket_set_ms(lsock, NNG_OPT_RECVTIMEO, 20) ||
        nng_listen(lsock, "tcp://127.0.0.1:0", &l, 0) ||
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port))
        return -1;
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    if (nng_pair1_open(&d) || nng_socket_set_ms(d, NNG_OPT_SENDTIMEO, 20) ||
        nng_dialer_create(&dl, d, url) || nng_dialer_start(dl, NNG_FLAG_NONBLOCK))
        return -1;
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    if (pthread_create(&t, NULL, answer, NULL))
        return -1;
    for (int i = 0; i < 300; i++) {
        nng_msg *m, *a;
        if (nng_msg_alloc(&m, 1000) == 0 && nng_sendmsg(d, m, 0) != 0)
            nng_msg_free(m);
        if (nng_recvmsg(d, &a, NNG_FLAG_NONBLOCK) == 0)
            nng_msg_free(a);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL); /* hangs when the 20 ms receive timeout never fires */
    nng_close(lsock);
    nng_close(d); /* or hangs here */
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000;
    for (long r = 0; r < rounds; r++) {
        if (round_trip() != 0) {
            fprintf(stderr, "repro-nng-close: nng set-up failed in round %ld\n", r);
            return 1;
        }
        if (r % 20 == 0) {
            printf("round %ld\n", r);
            fflush(stdout);
        }
    }
    printf("%ld rounds, no hang\n", rounds);
    return 0;
}
