/* Codec: pack a message straight into caller memory (e.g. space claimed in a
 * ring) and unpack a record (type id + bytes) into a bump arena. Trade uses
 * a hand-written codec with protobuf-c's exact results (msg_fast.c); every
 * other type goes through protobuf-c. */
#ifndef MSG_CODEC_H
#define MSG_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "msg_arena.h"
#include "msg_registry.h"

/* Packed size of a message in bytes. Thread-safe for a message nobody
 * modifies meanwhile. */
size_t msg_encoded_size(const ProtobufCMessage *msg);

/* Packs `msg` into buf[0..cap). Returns the packed length (>= 0; 0 for a
 * message whose fields are all default), MESH_EMSGSIZE when it needs more
 * than cap bytes (buf is then untouched), or MESH_EINVAL for NULL msg, or
 * NULL buf with cap > 0. Does not allocate. The message must be
 * well-formed (see msg_check). Thread-safe on distinct buffers. */
int msg_encode(const ProtobufCMessage *msg, void *buf, size_t cap);

/* Like msg_encode, but first checks that `msg` is of the registered type
 * `type_id`: MESH_EUNKNOWNTYPE for an unknown id, MESH_EINVAL for a
 * message of another type. What a producer calls before committing a
 * record with that type id. */
int msg_encode_typed(uint32_t type_id, const ProtobufCMessage *msg, void *buf, size_t cap);

/* Checks a message built in memory (strings and repeated elements not
 * NULL, nested messages valid). Returns 0 or MESH_EINVAL. */
int msg_check(const ProtobufCMessage *msg);

/* Decodes a record of type `type_id` from data[0..len) into `arena`, which
 * is reset first: anything decoded into it before becomes invalid. Returns
 * 0 and *out (valid until the next reset/decode on this arena; the caller
 * casts it to the type's C struct, e.g. (Meshpb__Trade *)), or
 *   MESH_EUNKNOWNTYPE  type_id is not registered,
 *   MESH_EPROTO        the bytes are not a valid encoding of that type,
 *   MESH_ENOMEM        the decoded message does not fit in the arena,
 *   MESH_EINVAL        NULL arena/out, or NULL data with len > 0.
 * Never calls malloc. On error *out is set to NULL and the arena is left
 * reset. One thread at a time per arena. */
int msg_decode(uint32_t type_id, const void *data, size_t len, msg_arena *arena,
               ProtobufCMessage **out);

#endif
