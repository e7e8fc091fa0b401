/* JSON view of any message, walking only its protobuf-c descriptor: one JSON
 * object per message, with "type" first, fields in field-number order. */
#ifndef MSG_JSON_H
#define MSG_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <protobuf-c/protobuf-c.h>

#include "msg_arena.h"

/* Format (shared by every function here):
 *   {"type":"trade","symbol":"AAPL","ts_ns":1700000000000000000,...}
 * - "type" is the registry short name, or the descriptor's full name
 *   ("meshpb.X") for an unregistered message.
 * - Field names are the .proto names. Every singular field is printed,
 *   defaults included; a oneof prints only its set member; an absent nested
 *   message is omitted.
 * - Integers (64-bit included) are printed exactly as JSON numbers; bools
 *   as true/false; enums by value name ("SIDE_BUY"), or as a number when
 *   the value is not in the schema.
 * - double: shortest of %.15g/%.16g/%.17g that reads back to the same
 *   value (so it round-trips); float likewise with %.6g..%.9g; NaN and
 *   +-Inf print as null.
 * - strings are JSON-escaped; invalid UTF-8 bytes become U+FFFD.
 * - bytes are standard base64 (RFC 4648, with padding), as in the proto3
 *   JSON mapping.
 * - repeated fields are arrays; nested messages are objects. */

/* Writes the JSON object of `msg` into buf[0..cap) with a terminating NUL
 * and no newline. Returns the length (without the NUL), MESH_EMSGSIZE
 * when it does not fit (buf then holds a truncated, NUL-terminated prefix
 * if cap > 0), MESH_EPROTO when nesting is deeper than 32 levels, or
 * MESH_EINVAL for NULL arguments. Thread-safe on distinct buffers. */
int msg_json_write(const ProtobufCMessage *msg, char *buf, size_t cap);

/* Writes the JSON object of `msg` and a newline to `f`. Returns 0, MESH_EIO
 * when the stream reports an error, MESH_EPROTO (too deep) or MESH_EINVAL. */
int msg_json_fprint(FILE *f, const ProtobufCMessage *msg);

/* Decodes a record (type id + bytes, see msg_decode: the arena is reset)
 * and writes its JSON object into buf like msg_json_write. Returns the
 * length, or the error of msg_decode / msg_json_write. */
int msg_json_record(uint32_t type_id, const void *data, size_t len, msg_arena *arena, char *buf,
                    size_t cap);

/* Decodes a record and writes its JSON line (with newline) to `f`. Returns 0
 * or the error of msg_decode / msg_json_fprint. */
int msg_json_record_fprint(FILE *f, uint32_t type_id, const void *data, size_t len,
                           msg_arena *arena);

#endif
