/* Arena tests: alignment, accounting, exhaustion as an error, reset,
 * arenas in caller memory, and the protobuf-c allocator view. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <criterion/criterion.h>

#include "mesh_error.h"
#include "msg_arena.h"

#define AL alignof(max_align_t)

Test(msg_arena, allocations_are_aligned_and_accounted)
{
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 1024), 0);
    cr_assert_eq(msg_arena_capacity(a), 1024); /* already a multiple of AL (8 or 16) */
    char *p = msg_arena_alloc(a, 1);
    char *q = msg_arena_alloc(a, AL + 1);
    cr_assert_eq((uintptr_t)p % AL, 0);
    cr_assert_eq((uintptr_t)q % AL, 0);
    /* 1 byte rounds up to AL; AL + 1 bytes round up to 2 * AL: 3 * AL in all. */
    cr_assert_eq(msg_arena_used(a), 3 * AL);
    cr_assert_eq(q - p, (ptrdiff_t)AL);
    cr_assert_not_null(msg_arena_alloc(a, 0), "0 bytes is not an error");
    cr_assert_eq(msg_arena_used(a), 4 * AL);
    cr_assert_not(msg_arena_exhausted(a));
    msg_arena_close(a);
}

Test(msg_arena, exhaustion_returns_null_and_sets_the_flag)
{
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 256), 0);
    /* 200 bytes round up to a multiple of AL: 208 with AL = 16, 200 with 8. */
    size_t first = (200 + AL - 1) / AL * AL;
    cr_assert_not_null(msg_arena_alloc(a, 200));
    cr_assert_null(msg_arena_alloc(a, 256 - first + 1), "one byte more than is left");
    cr_assert(msg_arena_exhausted(a));
    cr_assert_null(msg_arena_alloc(a, SIZE_MAX), "no overflow on huge sizes");
    cr_assert_null(msg_arena_alloc(a, SIZE_MAX - 3));
    /* What is left is still usable after a failure. */
    cr_assert_not_null(msg_arena_alloc(a, 256 - first));
    cr_assert_eq(msg_arena_used(a), 256);
    msg_arena_reset(a);
    cr_assert_not(msg_arena_exhausted(a));
    cr_assert_eq(msg_arena_used(a), 0);
    cr_assert_eq(msg_arena_high_water(a), 256);
    cr_assert_not_null(msg_arena_alloc(a, 256));
    msg_arena_close(a);
}

Test(msg_arena, reset_hands_out_the_same_memory_again)
{
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 128), 0);
    void *p = msg_arena_alloc(a, 64);
    msg_arena_reset(a);
    cr_assert_eq(msg_arena_alloc(a, 64), p);
    msg_arena_close(a);
}

Test(msg_arena, lives_in_caller_memory)
{
    alignas(16) static unsigned char mem[1024];
    msg_arena *a;
    cr_assert_eq(msg_arena_open_in(&a, mem + 3, sizeof mem - 3), 0, "unaligned start is fine");
    cr_assert_geq(msg_arena_capacity(a), sizeof mem - 3 - MSG_ARENA_OVERHEAD);
    unsigned char *p = msg_arena_alloc(a, msg_arena_capacity(a));
    cr_assert_not_null(p);
    cr_assert_geq(p, mem + 3);
    cr_assert_leq(p + msg_arena_capacity(a), mem + sizeof mem, "stays inside mem");
    cr_assert_null(msg_arena_alloc(a, 1));
    msg_arena_close(a); /* no-op: mem is the caller's */
    cr_assert_eq(msg_arena_open_in(&a, mem, MSG_ARENA_OVERHEAD), MESH_EINVAL);
    cr_assert_eq(msg_arena_open_in(&a, NULL, 4096), MESH_EINVAL);
}

Test(msg_arena, bad_arguments)
{
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 0), MESH_EINVAL);
    cr_assert_eq(msg_arena_open(NULL, 64), MESH_EINVAL);
    cr_assert_eq(msg_arena_open(&a, SIZE_MAX), MESH_EINVAL);
    msg_arena_close(NULL);
}

Test(msg_arena, protobuf_allocator_draws_from_the_arena)
{
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 512), 0);
    ProtobufCAllocator *pa = msg_arena_allocator(a);
    void *p = pa->alloc(pa->allocator_data, 100);
    cr_assert_not_null(p);
    cr_assert_eq(msg_arena_used(a), (100 + AL - 1) / AL * AL);
    pa->free(pa->allocator_data, p); /* no-op */
    cr_assert_eq(msg_arena_used(a), (100 + AL - 1) / AL * AL);
    cr_assert_null(pa->alloc(pa->allocator_data, 1000));
    cr_assert(msg_arena_exhausted(a));
    msg_arena_close(a);
}
