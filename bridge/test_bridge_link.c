/* Two bridges in one process over TCP on 127.0.0.1 with in-memory rings:
 * a producer thread feeds ring A, bridge A sends it, bridge B fills ring B,
 * a consumer thread checks what arrives. Wait routes deliver everything once
 * and in order, also across a restart of B (with its state kept, or with a
 * new ring and state as after a meshd restart); drop routes account for
 * every record as received or as a reported gap. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "test_bridge_util.h"

#define PAYLOAD 64

typedef struct side_b {
    bridge_state *st;
    bridge *b;
    test_ring ring;
    int port;
} side_b;

typedef struct world {
    enum mesh_policy policy;
    uint64_t n;
    /* A */
    bridge_state *sta;
    bridge *a;
    test_ring ring_a;
    bus_doorbell *db;
    /* B */
    side_b b;
    /* producer */
    pthread_t prod;
    uint64_t produced;
    /* consumer */
    pthread_t cons;
    int cons_running;
    uint64_t stop_cons; /* atomic via __atomic builtins */
    uint64_t next;      /* next payload counter expected (wait routes) */
    uint64_t got;       /* records consumed */
    uint64_t bad_order;
    uint64_t thread_errors; /* unexpected return codes seen by the threads */
} world;

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void *producer(void *arg)
{
    world *w = arg;
    uint8_t payload[PAYLOAD] = {0};
    for (uint64_t i = 1; i <= w->n; i++) {
        memcpy(payload, &i, sizeof(i));
        int rc = bus_ring_push_wait(w->ring_a.prod, 1, payload, sizeof(payload), UINT64_MAX);
        if (rc != 0 && rc != BUS_RING_DROPPED)
            __atomic_add_fetch(&w->thread_errors, 1, __ATOMIC_RELAXED);
    }
    st(&w->produced, w->n);
    return NULL;
}

static void *consumer(void *arg)
{
    world *w = arg;
    uint8_t buf[PAYLOAD];
    bus_ring_rec rec;
    for (;;) {
        int rc = bus_ring_pop(w->b.ring.cons, &rec, buf, sizeof(buf));
        if (rc == MESH_EAGAIN) {
            if (ld(&w->stop_cons))
                break;
            test_sleep_ms(1);
            continue;
        }
        if (rc != 0) {
            __atomic_add_fetch(&w->thread_errors, 1, __ATOMIC_RELAXED);
            break;
        }
        uint64_t c;
        memcpy(&c, buf, sizeof(c));
        if (w->policy == MESH_POLICY_WAIT && c != w->next)
            w->bad_order++;
        w->next = c + 1;
        st(&w->got, ld(&w->got) + 1);
    }
    return NULL;
}

static void consumer_start(world *w)
{
    st(&w->stop_cons, 0);
    cr_assert_eq(pthread_create(&w->cons, NULL, consumer, w), 0);
    w->cons_running = 1;
}

static void consumer_stop(world *w)
{
    if (!w->cons_running)
        return;
    st(&w->stop_cons, 1);
    pthread_join(w->cons, NULL);
    w->cons_running = 0;
}

static void b_open(world *w, int port, int new_state)
{
    char err[256] = "", url[64];
    if (new_state) {
        cr_assert_eq(bridge_state_open_mem(&w->b.st), 0);
        test_ring_open(&w->b.ring, 1 << 18,
                       w->policy == MESH_POLICY_WAIT ? BUS_RING_POLICY_WAIT : BUS_RING_POLICY_DROP);
    }
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = w->b.st;
    o.listen = url;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    cr_assert_eq(bridge_open(&w->b.b, &o), 0);
    bridge_route_def d = {.from = "src",
                          .to = "dst",
                          .peer = "hosta",
                          .dir = BRIDGE_DIR_IN,
                          .policy = w->policy,
                          .ring = w->b.ring.prod};
    cr_assert_eq(bridge_add_route(w->b.b, &d, err, sizeof(err)), 0, "%s", err);
    int rc = bridge_start(w->b.b, err, sizeof(err));
    for (int tries = 0; rc == MESH_EADDRINUSE && tries < 100; tries++) {
        /* the old listener's port may take a moment to be free again */
        bridge_close(w->b.b);
        test_sleep_ms(20);
        cr_assert_eq(bridge_open(&w->b.b, &o), 0);
        cr_assert_eq(bridge_add_route(w->b.b, &d, err, sizeof(err)), 0, "%s", err);
        rc = bridge_start(w->b.b, err, sizeof(err));
    }
    cr_assert_eq(rc, 0, "%s", err);
    w->b.port = bridge_listen_port(w->b.b);
}

static void b_close(world *w, int drop_state)
{
    bridge_close(w->b.b);
    w->b.b = NULL;
    if (drop_state) {
        bridge_state_close(w->b.st);
        test_ring_close(&w->b.ring);
    }
}

static void world_open(world *w, enum mesh_policy policy, uint64_t n)
{
    char err[256] = "", url[64];
    memset(w, 0, sizeof(*w));
    w->policy = policy;
    w->n = n;
    w->next = 1;
    b_open(w, 0, 1);
    cr_assert_eq(bridge_state_open_mem(&w->sta), 0);
    test_ring_open(&w->ring_a, 1 << 18,
                   policy == MESH_POLICY_WAIT ? BUS_RING_POLICY_WAIT : BUS_RING_POLICY_DROP);
    w->db = aligned_alloc(128, sizeof(*w->db));
    bus_doorbell_init(w->db);
    bus_ring_set_doorbell(w->ring_a.prod, w->db);
    bridge_opts o;
    bridge_opts_default(&o);
    o.state = w->sta;
    o.doorbell = w->db;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    cr_assert_eq(bridge_open(&w->a, &o), 0);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", w->b.port);
    bridge_route_def d = {.from = "src",
                          .to = "dst",
                          .peer = "hostb",
                          .dir = BRIDGE_DIR_OUT,
                          .policy = policy,
                          .ring = w->ring_a.cons,
                          .url = url};
    cr_assert_eq(bridge_add_route(w->a, &d, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(bridge_start(w->a, err, sizeof(err)), 0, "%s", err);
    consumer_start(w);
}

static void world_close(world *w)
{
    consumer_stop(w);
    cr_assert_eq(ld(&w->thread_errors), 0, "producer or consumer saw an error");
    bridge_close(w->a);
    bridge_state_close(w->sta);
    test_ring_close(&w->ring_a);
    free(w->db);
    if (w->b.b || w->b.st)
        b_close(w, 1);
}

static const bridge_slot *slot0(bridge_state *s)
{
    return bridge_state_slot_at(s, 0);
}

typedef struct until {
    world *w;
    uint64_t v;
} until;

static int got_at_least(void *arg)
{
    until *u = arg;
    return ld(&u->w->got) >= u->v;
}

static int b_last_seq_is(void *arg)
{
    until *u = arg;
    return bridge_slot_get(slot0(u->w->b.st), BRIDGE_C_LAST_SEQ) >= u->v;
}

static int a_link_up(void *arg)
{
    world *w = arg;
    return bridge_slot_get(slot0(w->sta), BRIDGE_C_LINK_UP) == 1;
}

static void wait_got(world *w, uint64_t v)
{
    until u = {w, v};
    cr_assert(test_wait_for(got_at_least, &u, 120000), "consumer got %llu of %llu",
              (unsigned long long)ld(&w->got), (unsigned long long)v);
}

Test(link, wait_route_delivers_everything_in_order, .timeout = 180)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    cr_assert_eq(pthread_create(&w.prod, NULL, producer, &w), 0);
    wait_got(&w, w.n);
    pthread_join(w.prod, NULL);
    cr_assert_eq(w.bad_order, 0);
    cr_assert_eq(ld(&w.got), w.n, "exactly n records, no duplicates");
    const bridge_slot *sb = slot0(w.b.st), *sa = slot0(w.sta);
    cr_assert_eq(bridge_slot_get(sb, BRIDGE_C_RECEIVED), w.n);
    cr_assert_eq(bridge_slot_get(sb, BRIDGE_C_GAPS), 0);
    cr_assert_eq(bridge_slot_get(sa, BRIDGE_C_SENT) - bridge_slot_get(sa, BRIDGE_C_RESENT), w.n);
    cr_assert_gt(w.n / bridge_slot_get(sa, BRIDGE_C_FRAMES), 1, "records are batched");
    world_close(&w);
}

Test(link, wait_route_survives_a_receiver_restart_with_state_kept, .timeout = 180)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    cr_assert_eq(pthread_create(&w.prod, NULL, producer, &w), 0);
    wait_got(&w, w.n / 3);
    int port = w.b.port;
    b_close(&w, 0); /* bridge gone, ring and state stay: as after kill -9 of the bridge */
    test_sleep_ms(50);
    b_open(&w, port, 0);
    wait_got(&w, w.n);
    pthread_join(w.prod, NULL);
    cr_assert_eq(w.bad_order, 0, "records out of order or duplicated");
    cr_assert_eq(ld(&w.got), w.n);
    cr_assert_geq(bridge_slot_get(slot0(w.sta), BRIDGE_C_RECONNECTS), 1);
    cr_assert_eq(bridge_slot_get(slot0(w.b.st), BRIDGE_C_GAPS), 0);
    world_close(&w);
}

Test(link, wait_route_survives_a_receiver_restart_with_new_ring_and_state, .timeout = 180)
{
    world w;
    world_open(&w, MESH_POLICY_WAIT, test_scaled(200000, 20000));
    cr_assert_eq(pthread_create(&w.prod, NULL, producer, &w), 0);
    wait_got(&w, w.n / 3);
    /* as meshd stops: the consumer first, then the bridge (acks what was consumed) */
    consumer_stop(&w);
    int port = w.b.port;
    b_close(&w, 1);
    test_sleep_ms(50);
    b_open(&w, port, 1); /* new ring, new state: as after a meshd restart */
    consumer_start(&w);
    wait_got(&w, w.n);
    pthread_join(w.prod, NULL);
    cr_assert_eq(w.bad_order, 0, "records out of order or duplicated");
    cr_assert_eq(ld(&w.got), w.n);
    world_close(&w);
}

Test(link, drop_route_reports_every_record_received_or_missing, .timeout = 180)
{
    world w;
    world_open(&w, MESH_POLICY_DROP, test_scaled(200000, 20000));
    cr_assert_eq(pthread_create(&w.prod, NULL, producer, &w), 0);
    wait_got(&w, 1000); /* the producer outruns the link: most records may be dropped */
    int port = w.b.port;
    b_close(&w, 0);
    test_sleep_ms(100); /* the producer keeps going; A drops while B is away */
    b_open(&w, port, 0);
    pthread_join(w.prod, NULL);
    /* once reconnected, one last record that is not dropped marks the end */
    cr_assert(test_wait_for(a_link_up, &w, 60000), "A never reconnected");
    uint8_t last[PAYLOAD] = {0};
    uint64_t end = w.n + 1;
    memcpy(last, &end, sizeof(end));
    while (bus_ring_push(w.ring_a.prod, 1, last, sizeof(last)) == MESH_EAGAIN)
        test_sleep_ms(1);
    /* every sequence number the producer used: ring drops consume one too */
    bus_ring_stats sa;
    bus_ring_stats_get(w.ring_a.cons, &sa);
    uint64_t total = sa.next_seq - 1;
    cr_assert_eq(total, w.n + 1);
    until u = {&w, total};
    cr_assert(test_wait_for(b_last_seq_is, &u, 120000), "last record never arrived");
    consumer_stop(&w);
    const bridge_slot *sb = slot0(w.b.st);
    uint64_t rx = bridge_slot_get(sb, BRIDGE_C_RECEIVED), gaps = bridge_slot_get(sb, BRIDGE_C_GAPS);
    uint64_t bdrops = bridge_slot_get(sb, BRIDGE_C_DROPS);
    cr_assert_eq(rx + bdrops + gaps, total, "received %llu + dropped at B %llu + gaps %llu != %llu",
                 (unsigned long long)rx, (unsigned long long)bdrops, (unsigned long long)gaps,
                 (unsigned long long)total);
    cr_assert_eq(bridge_slot_get(sb, BRIDGE_C_DUPS), 0);
    world_close(&w);
}
