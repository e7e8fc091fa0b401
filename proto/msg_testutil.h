/* Test helpers for proto/ tests: fill any message generically from its
 * descriptor, compare two messages field by field, seeded PRNG, scale. */
#ifndef MSG_TESTUTIL_H
#define MSG_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "msg_arena.h"

/* Allocates a message of type `desc` in `arena` and sets every field to a
 * non-default value derived from `variant` (repeated fields get 1..3
 * elements, nested messages are filled recursively, and the oneof member
 * chosen is variant modulo the number of members). Returns NULL when the
 * arena is too small. */
ProtobufCMessage *tu_fill(const ProtobufCMessageDescriptor *desc, msg_arena *arena,
                          unsigned variant);

/* True when a and b have the same type and equal fields (doubles compared
 * bit for bit). On a difference, writes the path of the first differing
 * field ("assets[1].values") into why[0..why_len). */
bool tu_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why, size_t why_len);

/* Number of oneof members that share f's case field in its message. */
unsigned tu_oneof_members(const ProtobufCMessageDescriptor *desc,
                          const ProtobufCFieldDescriptor *f);

/* xorshift64* generator; state must be non-zero. */
uint64_t tu_rand(uint64_t *state);

/* MESH_TEST_SCALE from the environment (default 1, at least 0.001). */
double tu_scale(void);

#endif
