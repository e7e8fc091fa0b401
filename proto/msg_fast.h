/* Internal to libmeshproto: hand-written codec for the hottest message
 * (Trade), byte-for-byte identical to protobuf-c, used by msg_encode and
 * msg_decode. Exposed to the proto/ tests and bench only. */
#ifndef MSG_FAST_H
#define MSG_FAST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "msg_arena.h"
#include "market.pb-c.h"

/* Result of a fast path that did not handle its input (never a length or
 * a MESH_E* code). */
#define MSG_FAST_DECLINED INT_MIN

/* Packs t into buf[0..cap) exactly as protobuf_c_message_pack would.
 * Returns the length, MESH_EMSGSIZE (buf untouched), or MSG_FAST_DECLINED
 * when t carries unknown fields (the caller then uses protobuf-c). */
int msg_fast_trade_encode(const Meshpb__Trade *t, uint8_t *buf, size_t cap);

/* Decodes a Trade into the arena (not reset here). Returns 0 and *out, or
 * MSG_FAST_DECLINED for anything it does not fully understand (a tag that
 * is not one of Trade's fields with its wire type, a non-canonical or
 * truncated value, arena exhaustion): the caller resets the arena and runs
 * protobuf-c on the same bytes, so results equal protobuf-c's. */
int msg_fast_trade_decode(const uint8_t *p, size_t len, msg_arena *a, Meshpb__Trade **out);

#endif
