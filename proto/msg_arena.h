/* Bump arena for decoding messages without malloc per message: one block,
 * allocations carved off the front, everything freed at once by a reset. */
#ifndef MSG_ARENA_H
#define MSG_ARENA_H

#include <stddef.h>
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

/* A capacity that holds any normal mesh message decoded. Measured needs:
 * a Trade 128 bytes; messages with more than 16 fields up to ~1.6 KiB
 * (protobuf-c's scan slabs also come from the arena); a PortfolioState with
 * 100 positions (7 KiB packed) ~15 KiB. A hostile payload can need ~80x
 * its size (e.g. 2-byte empty submessages each decoding to ~100 bytes):
 * msg_decode then fails with MESH_ENOMEM instead of allocating. */
#define MSG_ARENA_DEFAULT_SIZE (64u * 1024u)

/* Bytes msg_arena_open_in needs for its bookkeeping besides the usable space. */
#define MSG_ARENA_OVERHEAD 128u

typedef struct msg_arena msg_arena;

/* Creates an arena with `capacity` usable bytes in one malloc'd block.
 * Returns 0 and *out, MESH_EINVAL (capacity 0 or out NULL) or MESH_ENOMEM.
 * The caller owns the arena and frees it with msg_arena_close. */
int msg_arena_open(msg_arena **out, size_t capacity);

/* Creates an arena inside caller memory `mem` of `len` bytes (no allocation
 * at all; usable space is len - MSG_ARENA_OVERHEAD at most). Returns 0 and
 * *out (which points into mem), or MESH_EINVAL when mem is NULL or too small.
 * The caller keeps owning mem; msg_arena_close on such an arena does nothing,
 * and the arena must not be used after mem is gone. */
int msg_arena_open_in(msg_arena **out, void *mem, size_t len);

/* Frees an arena made by msg_arena_open (no-op for msg_arena_open_in and
 * NULL). Every pointer it handed out becomes invalid. */
void msg_arena_close(msg_arena *a);

/* Forgets every allocation (O(1)) and clears the exhausted flag. Pointers
 * handed out before become invalid. */
void msg_arena_reset(msg_arena *a);

/* Returns `size` bytes aligned for any type (max_align_t), or NULL when the
 * arena cannot hold them; a NULL return sets the exhausted flag. Never
 * calls malloc. One thread at a time per arena (no internal locking). */
void *msg_arena_alloc(msg_arena *a, size_t size);

/* True when an allocation failed since the last reset. */
bool msg_arena_exhausted(const msg_arena *a);

/* Bytes handed out since the last reset (including alignment padding). */
size_t msg_arena_used(const msg_arena *a);

/* Largest msg_arena_used value seen since the arena was opened. */
size_t msg_arena_high_water(const msg_arena *a);

/* Usable bytes in the arena. */
size_t msg_arena_capacity(const msg_arena *a);

/* A protobuf-c allocator drawing from this arena (its free is a no-op).
 * The pointer lives as long as the arena. */
ProtobufCAllocator *msg_arena_allocator(msg_arena *a);

#endif
