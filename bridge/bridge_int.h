/* Internal state of the bridge shared by its source files (core, send,
 * receive). Not for users: they see the opaque `bridge`. */
#ifndef BRIDGE_INT_H
#define BRIDGE_INT_H

#include "bridge.h"
#include "bridge_frame.h"
#include "bridge_seq.h"

#include <nng/nng.h>
#include <pthread.h>

#define BRIDGE_MAX_LINKS  MESH_CFG_MAX_PEERS
#define BRIDGE_MAX_ROUTES MESH_CFG_MAX_ROUTES
#define BRIDGE_LOG_NS     1000000000ull /* rate limit: one line per kind per second */

typedef struct bridge_ratelog {
    uint64_t last_ns;
    uint64_t suppressed;
} bridge_ratelog;

/* A dialer to one peer URL, shared by the outbound routes to it. Fields
 * marked (atomic) are written by nng callback threads. */
typedef struct bridge_link {
    struct bridge *b;
    char url[128];
    char peer[MESH_NAME_MAX];
    nng_socket sock;
    nng_dialer dialer;
    nng_aio *aio; /* receives acks */
    int open;
    uint64_t npipes;     /* (atomic) connected pipes, 0 or 1 */
    uint64_t gen;        /* (atomic) connections made so far */
    uint64_t acks_ready; /* (atomic) 1 when an ack is waiting in a route */
    uint64_t hello_gen;  /* send thread: the connection the last HELLO went to */
    pthread_mutex_t mu;  /* guards the routes' ack_* fields */
    int mu_init;
    bridge_ratelog log_ack; /* ack path (callback thread) */
} bridge_link;

typedef struct bridge_out {
    bridge_slot *slot;
    bus_ring *ring;
    bridge_link *link;
    uint64_t route;
    int reliable;
    int ntypes;
    int types[MESH_CFG_MAX_TYPES];
    int disabled;       /* corrupt ring: nothing more is read */
    uint64_t cursor;    /* observer position of the next record to send (0 = tail) */
    uint64_t prev;      /* seq of the last record sent (or dropped) before the next frame */
    int prev_known;     /* 0 after a restart: the next frame starts at its first record */
    uint64_t hi_sent;   /* highest seq ever sent (resend accounting) */
    uint64_t hi_posted; /* (atomic) hi_sent, raised before a frame goes to nng: acks and
                         * NACKs above it are bogus */
    uint64_t nack_ns;   /* last rewind caused by a NACK (at most one per TX_NACK_NS) */
    int nack_held;      /* a NACK of generation nack_held_sync waits for nack_ns + TX_NACK_NS */
    uint32_t nack_held_sync;
    uint64_t released; /* seq of the last record freed in the ring */
    uint32_t sync;     /* resend generation */
    int need_sync;
    uint64_t gen_seen; /* link->gen at the last rewind */
    size_t window;
    bridge_txwin win;
    /* a frame built but not yet accepted by nng */
    nng_msg *pending;
    uint64_t p_last, p_count, p_bytes, p_ring, p_resent;
    /* acks from the link callback (under link->mu) */
    uint64_t ack_seq;
    uint32_t nack_sync;
    int ack_new, nack_new;
    bridge_ratelog log;
} bridge_out;

typedef struct bridge_in {
    bridge_slot *slot;
    bus_ring *ring;
    uint64_t route;
    int reliable;
    int ntypes;
    int types[MESH_CFG_MAX_TYPES];
    bridge_rxseq seq;
    bridge_ackq ackq;
    uint64_t ring_next;            /* sequence number the ring gives the next commit */
    uint64_t head_pos;             /* ring position after our last commit (we are the producer) */
    uint64_t cap;                  /* ring capacity */
    int resynced;                  /* head_pos once disagreed with the ring: logged */
    uint64_t acked;                /* last seq acknowledged to the sender */
    uint64_t ack_ns;               /* when the last ack went out */
    uint64_t nack_ns;              /* when the last nack went out */
    uint64_t frame_ns;             /* when the last frame arrived */
    nng_pipe pipe;                 /* the connection the route is bound to (HELLO) */
    char peer_mesh[MESH_NAME_MAX]; /* the mesh that holds it */
    char from[MESH_NAME_MAX], to[MESH_NAME_MAX];
    bridge_ratelog log_gap, log_bad;
} bridge_in;

struct bridge {
    bridge_opts o;
    bridge_state_hdr *hdr;
    uint64_t epoch;
    int nout, nin, nlinks;
    bridge_out *out[BRIDGE_MAX_ROUTES];
    bridge_in *in[BRIDGE_MAX_ROUTES];
    bridge_link link[BRIDGE_MAX_LINKS];
    nng_socket lsock;
    nng_listener listener;
    int listening;
    int started;
    pthread_t tx_thread, rx_thread;
    int tx_running, rx_running;
    uint64_t failed;           /* (atomic) a route became unusable: bridge_alive is 0 */
    uint64_t stop_rx, stop_tx; /* (atomic) */
    uint64_t drain_deadline;   /* set before stop_tx */
    uint64_t tx_tick, rx_tick; /* (atomic) mesh_now_ns of the threads' last pass */
    bridge_ratelog log_bad;
};

/* Thread bodies (bridge_tx.c, bridge_rx.c). */
void *bridge_tx_main(void *arg);
void *bridge_rx_main(void *arg);

/* Send side: per-route set-up once the route is added. */
void bridge_out_init(bridge *b, bridge_out *r);

/* Send side: an ack frame received on a link (nng callback thread). */
void bridge_link_on_ack(bridge_link *l, const bridge_frame_hdr *h);

/* Send side: sends the HELLO on a link whose connection has not had one
 * (send thread). Returns 1 if the link may carry data frames. */
int bridge_link_hello(bridge *b, bridge_link *l);

/* Receive side: a HELLO arrived on the listener (receive thread). */
void bridge_rx_hello(bridge *b, nng_msg *m);

/* Receive side: the inbound route with id `id`, or NULL (receive thread;
 * the route list is fixed once the bridge started). */
bridge_in *bridge_find_in(bridge *b, uint64_t id);

/* Receive side: per-route restore from the state slot, ack queue sized to
 * the ring. Returns 0 or MESH_ENOMEM. */
int bridge_in_init(bridge *b, bridge_in *r);

/* Atomic helpers over bus_atomic (relaxed unless stated). */
uint64_t bridge_atomic_get(const uint64_t *p);
void bridge_atomic_set(uint64_t *p, uint64_t v);
void bridge_atomic_inc(uint64_t *p);

/* Rate-limited warning: at most one per kind per second, with the count of
 * the suppressed ones. */
void bridge_ratelog_warn(bridge_ratelog *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "a.b.c.d:port" of a connection's peer (or "connection N"), for logs. */
void bridge_pipe_addr(nng_pipe p, char *buf, size_t len);

/* 1 while connection p exists (nng still knows its remote address); 0 for
 * a closed or never-set pipe. Any thread. */
int bridge_pipe_alive(nng_pipe p);

/* Maps an nng error to a MESH_E* code. */
int bridge_nng_err(int rv);

/* Bytes a record of len payload bytes takes in a ring (header + payload,
 * 8-aligned), for window accounting. */
static inline uint64_t bridge_ring_rec_bytes(uint32_t len)
{
    return (BUS_RING_REC_HDR + (uint64_t)len + 7u) & ~(uint64_t)7u;
}

#endif
