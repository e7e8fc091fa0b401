/* meshbench transport "floor": the hardware floor. Each direction is one
 * cache line in shared memory holding a sequence number; the sender stores
 * it, the receiver spins until it changes. One line transfer per message. */
#include "mb.h"
#include "mb_atomic.h"
#include "mesh_error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Lines 256 bytes apart so the adjacent-line prefetcher does not pair them. */
#define FLOOR_STRIDE 256

typedef struct floor_lines {
    alignas(FLOOR_STRIDE) uint64_t ab; /* written by A, polled by B */
    alignas(FLOOR_STRIDE) uint64_t ba; /* written by B, polled by A */
} floor_lines;

_Static_assert(offsetof(floor_lines, ba) - offsetof(floor_lines, ab) == FLOOR_STRIDE,
               "floor lines 256 bytes apart");
_Static_assert(sizeof(floor_lines) == 2 * FLOOR_STRIDE, "floor lines layout");

struct mb_ep {
    mb_case *c;
    uint64_t *tx;
    uint64_t *rx;
    uint64_t last; /* last value seen on rx */
};

static int floor_setup(mb_case *c)
{
    floor_lines *l =
        mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (l == MAP_FAILED)
        return mesh_err_from_errno(errno);
    l->ab = UINT64_MAX;
    l->ba = UINT64_MAX;
    c->setup_priv = l;
    c->payload = sizeof(uint64_t);
    return 0;
}

static void floor_teardown(mb_case *c)
{
    if (c->setup_priv != NULL)
        munmap(c->setup_priv, sizeof(floor_lines));
}

static int floor_open(mb_case *c, mb_ep **out)
{
    floor_lines *l = c->setup_priv;
    mb_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return MESH_ENOMEM;
    ep->c = c;
    ep->tx = c->role == 0 ? &l->ab : &l->ba;
    ep->rx = c->role == 0 ? &l->ba : &l->ab;
    ep->last = UINT64_MAX;
    *out = ep;
    return 0;
}

static void floor_close(mb_ep *ep)
{
    free(ep);
}

static int floor_send(mb_ep *ep, const uint8_t *buf, size_t len)
{
    uint64_t v;
    memcpy(&v, buf, sizeof(v));
    /* Release; pairs with the acquire load in floor_recv of the other role. */
    mb_store_rel_64(ep->tx, v);
    return 0;
}

static int floor_recv(mb_ep *ep, uint8_t *buf, size_t cap, size_t *len)
{
    uint32_t n = 0;
    uint64_t v;
    /* Acquire; pairs with the release store in floor_send. */
    while ((v = mb_load_acq_64(ep->rx)) == ep->last) {
        int rc = mb_spin(ep->c, &n);
        if (rc != 0)
            return rc;
    }
    ep->last = v;
    memcpy(buf, &v, sizeof(v));
    *len = sizeof(v);
    return 0;
}

const mb_transport mb_tr_floor = {
    .name = "floor",
    .what = "core-to-core cache-line ping-pong (hardware floor)",
    .flags = MB_TR_NO_TPUT | MB_TR_ONE_SIZE,
    .setup = floor_setup,
    .teardown = floor_teardown,
    .open = floor_open,
    .close = floor_close,
    .send = floor_send,
    .recv = floor_recv,
};
