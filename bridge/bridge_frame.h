/* Wire format of the nng bridge: one frame = a 48-byte batch header and, for
 * data frames, records that keep the ring's record header. Pure functions
 * over caller buffers (no I/O, no allocation), so the decoder can be fuzzed. */
#ifndef BRIDGE_FRAME_H
#define BRIDGE_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Layout, all integers little-endian, version 2:
 *   header (48 bytes)
 *     0  u32 magic   BRIDGE_FRAME_MAGIC ("MBRG")
 *     4  u8  version BRIDGE_FRAME_VERSION
 *     5  u8  kind    enum bridge_frame_kind
 *     6  u16 flags   BRIDGE_FRAME_SYNC (data) / BRIDGE_FRAME_NACK (ack)
 *     8  u32 count   records that follow (0 for acks)
 *    12  u32 bytes   body bytes after the header (0 for acks)
 *    16  u64 route   route id (bridge_route_id of the route's from/to names)
 *    24  u64 epoch   sender's stream epoch (changes when its rings are recreated)
 *    32  u64 seq     data: sequence number of the record before the first one
 *                    in this frame ("prev"); ack: last sequence consumed
 *    40  u32 sync    sender's resend generation (see bridge_seq.h)
 *    44  u32 zero    reserved, must be 0
 *   record (24-byte header, payload, zero padding to a multiple of 8)
 *     0  u32 len     payload bytes
 *     4  u32 type    message type id (never 0 or 0xffffffff)
 *     8  u32 flags   the ring record's flags, carried through
 *    12  u32 zero    reserved, must be 0
 *    16  u64 seq     the record's sequence number in the producer's ring
 * Records in a frame have strictly increasing sequence numbers, all > prev.
 *
 * HELLO (kind 3), the first frame a sender puts on every new connection:
 * route, seq and sync 0, epoch = the sender's, count = routes that follow.
 *   body
 *     0  char mesh[32]   sender's mesh name, NUL-terminated, zero-padded
 *    32  char peer[32]   the name the sender gives the receiving host
 *    64  u32 zero        reserved, must be 0
 *    68  u32 zero        reserved, must be 0
 *    72  per route: u64 route id, u32 policy (0 wait, 1 drop), u32 ntypes
 *        (0..32, 0 = any type), u32 type ids (strictly increasing), zero
 *        padding to a multiple of 8
 * The receiver binds each route it accepts to that connection and answers
 * a refusal with a HELLO frame flagged BRIDGE_HELLO_REFUSED (count 0) whose
 * body is the reason, NUL-terminated and zero-padded to a multiple of 8. */
#define BRIDGE_FRAME_MAGIC   0x4752424du /* "MBRG" read as little-endian */
#define BRIDGE_FRAME_VERSION 2u
#define BRIDGE_FRAME_HDR     48u
#define BRIDGE_REC_HDR       24u
#define BRIDGE_FRAME_SYNC    0x1u /* data: restart point, prev = resume position */
#define BRIDGE_FRAME_NACK    0x1u /* ack: frames were discarded, resend after seq */
#define BRIDGE_HELLO_REFUSED 0x1u /* hello: the receiver's refusal, body = reason */
#define BRIDGE_HELLO_FIXED   72u  /* hello body bytes before the routes */
#define BRIDGE_HELLO_NAME    32u  /* mesh and peer name fields */
#define BRIDGE_HELLO_TYPES   32u  /* most type ids per route */

enum bridge_frame_kind {
    BRIDGE_FRAME_DATA = 1,
    BRIDGE_FRAME_ACK = 2,
    BRIDGE_FRAME_HELLO = 3,
};

/* A decoded (or to-be-encoded) header. count and bytes are filled by the
 * encoder's finish and checked by the decoder. */
typedef struct bridge_frame_hdr {
    uint8_t kind;
    uint16_t flags;
    uint32_t count;
    uint32_t bytes;
    uint64_t route;
    uint64_t epoch;
    uint64_t seq;
    uint32_t sync;
} bridge_frame_hdr;

/* One record of a decoded frame; data points into the frame buffer. */
typedef struct bridge_frame_rec {
    const void *data;
    uint32_t len;
    uint32_t type;
    uint32_t flags;
    uint64_t seq;
} bridge_frame_rec;

/* Limits the decoder enforces. */
typedef struct bridge_frame_limits {
    size_t max_frame;    /* largest whole frame accepted (header included) */
    uint32_t max_record; /* largest record payload accepted */
    uint32_t max_count;  /* most records in one frame */
} bridge_frame_limits;

/* Why a frame was rejected: a fixed message and the byte offset it refers to. */
typedef struct bridge_frame_err {
    const char *what;
    size_t offset;
} bridge_frame_err;

/* Encoder state over a caller buffer. */
typedef struct bridge_frame_enc {
    uint8_t *buf;
    size_t cap;
    size_t used;
    uint32_t count;
    uint64_t last_seq; /* seq of the last record added */
    bridge_frame_hdr hdr;
} bridge_frame_enc;

/* Bytes a record of `len` payload bytes takes in a frame (header, payload,
 * padding to 8). */
static inline size_t bridge_rec_size(uint32_t len)
{
    return (BRIDGE_REC_HDR + (size_t)len + 7u) & ~(size_t)7u;
}

/* Route id of a (from, to) engine-name pair: 64-bit FNV-1a over
 * from, a 0 byte, to. Both hosts compute the same id from their configs. */
uint64_t bridge_route_id(const char *from, const char *to);

/* Starts a data frame in buf (cap bytes, >= BRIDGE_FRAME_HDR) with the fields
 * of *hdr (kind, flags, route, epoch, seq, sync; count/bytes are computed).
 * Returns 0 or MESH_EINVAL (buffer too small or NULL). */
int bridge_frame_begin(bridge_frame_enc *e, void *buf, size_t cap, const bridge_frame_hdr *hdr);

/* Where the next record's payload goes, and how many payload bytes fit there
 * (*room; 0 when not even an empty record fits). Write the payload, then
 * call bridge_frame_push. */
void *bridge_frame_next_payload(bridge_frame_enc *e, size_t *room);

/* Appends a record whose `len` payload bytes were written at the pointer
 * bridge_frame_next_payload returned: writes its header and padding.
 * Returns 0, MESH_EMSGSIZE (does not fit) or MESH_EINVAL (type 0 or
 * 0xffffffff, or seq not above the previous record / the frame's prev). */
int bridge_frame_push(bridge_frame_enc *e, uint32_t type, uint32_t flags, uint64_t seq,
                      uint32_t len);

/* Copying form: next_payload + memcpy + push. Same returns. */
int bridge_frame_add(bridge_frame_enc *e, uint32_t type, uint32_t flags, uint64_t seq,
                     const void *data, uint32_t len);

/* Sets the frame's prev sequence (header seq) and flags before finishing;
 * used when the resume point is known only after the first record. */
void bridge_frame_set_prev(bridge_frame_enc *e, uint64_t prev, uint16_t flags);

/* Writes count and bytes into the header. Returns the frame length. */
size_t bridge_frame_finish(bridge_frame_enc *e);

/* Encodes an ack frame (header only, kind ACK) into buf. Returns
 * BRIDGE_FRAME_HDR, or 0 if cap is too small. */
size_t bridge_ack_encode(void *buf, size_t cap, uint64_t route, uint64_t epoch, uint64_t seq,
                         uint32_t sync, uint16_t flags);

/* Validates a whole frame of len bytes: magic (MESH_EFOREIGN), version
 * (MESH_EVERSION), size against lim (MESH_EMSGSIZE), header fields, then
 * every record: lengths, padding inside the body, reserved words, types,
 * increasing sequence numbers, count and bytes matching exactly
 * (MESH_EPROTO). Returns 0 and *hdr, or the code and *err (what and where).
 * Never reads outside [buf, buf + len). Thread-safe, no allocation. */
int bridge_frame_decode(const void *buf, size_t len, const bridge_frame_limits *lim,
                        bridge_frame_hdr *hdr, bridge_frame_err *err);

/* Iterates the records of a frame that bridge_frame_decode accepted.
 * *pos starts at 0. Returns 1 and *rec, or 0 after the last record. */
int bridge_frame_next(const void *buf, size_t len, size_t *pos, bridge_frame_rec *rec);

/* One route of a decoded HELLO. */
typedef struct bridge_hello_route {
    uint64_t id;
    uint32_t policy; /* enum mesh_policy */
    uint32_t ntypes; /* 0 = any type */
    uint32_t types[BRIDGE_HELLO_TYPES];
} bridge_hello_route;

/* Starts a HELLO frame in buf (cap bytes) from the sender with stream epoch
 * `epoch`, mesh name and the name it gives the receiver (longer names are
 * cut to 31 bytes). Returns 0 or MESH_EINVAL (cap < header + fixed part). */
int bridge_hello_begin(bridge_frame_enc *e, void *buf, size_t cap, uint64_t epoch, const char *mesh,
                       const char *peer);

/* Sorts ntypes type ids into out (room for ntypes), dropping duplicates.
 * Returns how many remain, or MESH_EINVAL for id 0 or 0xffffffff (reserved:
 * "any" on the wire and the ring's padding type). */
int bridge_types_sorted(const int *types, int ntypes, uint32_t *out);

/* Appends one route (types: ntypes ids; they are sorted and de-duplicated
 * here). Returns 0, MESH_EMSGSIZE (does not fit) or MESH_EINVAL (ntypes >
 * BRIDGE_HELLO_TYPES, policy not 0/1, type id 0 or 0xffffffff). */
int bridge_hello_add(bridge_frame_enc *e, uint64_t route, uint32_t policy, const int *types,
                     int ntypes);

/* Writes the header of a HELLO. Returns the frame length. */
size_t bridge_hello_finish(bridge_frame_enc *e);

/* Encodes a refusal (HELLO flagged BRIDGE_HELLO_REFUSED) with `reason`, cut
 * to fit cap. Returns the length, or 0 if cap < header + 8. */
size_t bridge_hello_refuse_encode(void *buf, size_t cap, uint64_t epoch, const char *reason);

/* Reads the names of a HELLO that bridge_frame_decode accepted (not a
 * refusal): mesh and peer are NUL-terminated copies. */
void bridge_hello_names(const void *buf, size_t len, char mesh[BRIDGE_HELLO_NAME],
                        char peer[BRIDGE_HELLO_NAME]);

/* Iterates the routes of an accepted HELLO; *pos starts at 0. Returns 1 and
 * *r, or 0 after the last. */
int bridge_hello_next(const void *buf, size_t len, size_t *pos, bridge_hello_route *r);

/* The reason text of an accepted refusal (points into buf). */
const char *bridge_hello_reason(const void *buf, size_t len);

/* Default limits: 16 MiB frames, 4 MiB records, 65536 records. */
void bridge_frame_limits_default(bridge_frame_limits *lim);

#endif
