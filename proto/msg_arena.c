/* Bump arena behind msg_decode: one block, aligned bump allocation, O(1)
 * reset, and a protobuf-c allocator view of it. */
#include "msg_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "mesh_error.h"

#define ARENA_ALIGN alignof(max_align_t)

struct msg_arena {
    ProtobufCAllocator pb; /* pb.allocator_data points back at the arena */
    unsigned char *base;   /* ARENA_ALIGN-aligned start of usable space */
    size_t cap;
    size_t used;
    size_t high_water;
    bool exhausted;
    bool owned; /* struct and block came from malloc (msg_arena_open) */
};

_Static_assert(sizeof(struct msg_arena) + ARENA_ALIGN <= MSG_ARENA_OVERHEAD,
               "MSG_ARENA_OVERHEAD must cover the header and its alignment");

static void *arena_pb_alloc(void *data, size_t size)
{
    return msg_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed all at once by msg_arena_reset */
}

static void arena_init(struct msg_arena *a, unsigned char *base, size_t cap, bool owned)
{
    a->pb.alloc = arena_pb_alloc;
    a->pb.free = arena_pb_free;
    a->pb.allocator_data = a;
    a->base = base;
    a->cap = cap;
    a->used = 0;
    a->high_water = 0;
    a->exhausted = false;
    a->owned = owned;
}

static size_t round_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

int msg_arena_open(msg_arena **out, size_t capacity)
{
    if (out == NULL || capacity == 0 || capacity > SIZE_MAX / 2)
        return MESH_EINVAL;
    capacity = round_up(capacity);
    size_t hdr = round_up(sizeof(struct msg_arena));
    unsigned char *block = aligned_alloc(ARENA_ALIGN, hdr + capacity);
    if (block == NULL)
        return MESH_ENOMEM;
    struct msg_arena *a = (struct msg_arena *)block;
    arena_init(a, block + hdr, capacity, true);
    *out = a;
    return 0;
}

int msg_arena_open_in(msg_arena **out, void *mem, size_t len)
{
    if (out == NULL || mem == NULL || len <= MSG_ARENA_OVERHEAD)
        return MESH_EINVAL;
    uintptr_t p = (uintptr_t)mem;
    uintptr_t start = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    uintptr_t base = start + round_up(sizeof(struct msg_arena));
    size_t cap = (len - (size_t)(base - p)) & ~(size_t)(ARENA_ALIGN - 1);
    struct msg_arena *a = (struct msg_arena *)start;
    arena_init(a, (unsigned char *)base, cap, false);
    *out = a;
    return 0;
}

void msg_arena_close(msg_arena *a)
{
    if (a != NULL && a->owned)
        free(a);
}

void msg_arena_reset(msg_arena *a)
{
    a->used = 0;
    a->exhausted = false;
}

void *msg_arena_alloc(msg_arena *a, size_t size)
{
    /* protobuf-c asks for 0 bytes for an empty repeated field at most; give
     * a distinct non-NULL pointer so a 0-byte request is not an error. */
    size_t need = round_up(size == 0 ? 1 : size);
    if (need < size || need > a->cap - a->used) {
        a->exhausted = true;
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += need;
    if (a->used > a->high_water)
        a->high_water = a->used;
    return p;
}

bool msg_arena_exhausted(const msg_arena *a)
{
    return a->exhausted;
}

size_t msg_arena_used(const msg_arena *a)
{
    return a->used;
}

size_t msg_arena_high_water(const msg_arena *a)
{
    return a->high_water;
}

size_t msg_arena_capacity(const msg_arena *a)
{
    return a->cap;
}

ProtobufCAllocator *msg_arena_allocator(msg_arena *a)
{
    return &a->pb;
}
