/* Codec: bounded pack into caller memory, arena-backed unpack with the type
 * id checked against the registry. */
#include "msg_codec.h"

#include <limits.h>
#include <stdbool.h>

#include "mesh_error.h"
#include "msg_fast.h"

size_t msg_encoded_size(const ProtobufCMessage *msg)
{
    return protobuf_c_message_get_packed_size(msg);
}

int msg_encode(const ProtobufCMessage *msg, void *buf, size_t cap)
{
    if (msg == NULL || (buf == NULL && cap > 0))
        return MESH_EINVAL;
    if (msg->descriptor == &meshpb__trade__descriptor) {
        int n = msg_fast_trade_encode((const Meshpb__Trade *)msg, buf, cap);
        if (n != MSG_FAST_DECLINED)
            return n;
    }
    size_t need = protobuf_c_message_get_packed_size(msg);
    if (need > cap || need > INT_MAX)
        return MESH_EMSGSIZE;
    if (need == 0)
        return 0;
    size_t done = protobuf_c_message_pack(msg, buf);
    /* get_packed_size and pack walk the same fields: a mismatch means the
     * message changed in between (a caller bug), never bad input. */
    if (done != need)
        return MESH_EINVAL;
    return (int)done;
}

int msg_encode_typed(uint32_t type_id, const ProtobufCMessage *msg, void *buf, size_t cap)
{
    const msg_type_info *t;
    int rc = msg_type_by_id(type_id, &t);
    if (rc < 0)
        return rc;
    if (msg == NULL || msg->descriptor != t->descriptor)
        return MESH_EINVAL;
    return msg_encode(msg, buf, cap);
}

int msg_check(const ProtobufCMessage *msg)
{
    if (msg == NULL || msg->descriptor == NULL ||
        msg->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return MESH_EINVAL;
    return protobuf_c_message_check(msg) ? 0 : MESH_EINVAL;
}

/* protobuf-c accepts an over-long varint tag that encodes field number 0
 * (e.g. 80 00) and keeps it as an unknown field, which it would then pack
 * as an invalid 00 tag. Field 0 is invalid on the wire: treat the payload
 * as malformed. Walks nested messages; cheap when there are none. */
static bool unknown_fields_valid(const ProtobufCMessage *m, int depth)
{
    if (depth > 64)
        return false;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        if (m->unknown_fields[i].tag == 0)
            return false;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *p = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)p;
            for (size_t k = 0; k < n; k++) {
                if (!unknown_fields_valid(arr[k], depth + 1))
                    return false;
            }
        } else {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                continue;
            if (sub != NULL && !unknown_fields_valid(sub, depth + 1))
                return false;
        }
    }
    return true;
}

int msg_decode(uint32_t type_id, const void *data, size_t len, msg_arena *arena,
               ProtobufCMessage **out)
{
    if (out == NULL)
        return MESH_EINVAL;
    *out = NULL;
    if (arena == NULL || (data == NULL && len > 0))
        return MESH_EINVAL;
    const msg_type_info *t;
    int rc = msg_type_by_id(type_id, &t);
    if (rc < 0)
        return rc;
    msg_arena_reset(arena);
    /* protobuf-c reads nothing when len is 0, but wants a valid pointer. */
    static const uint8_t empty[1];
    const uint8_t *bytes = len > 0 ? data : empty;
    if (type_id == MSG_TYPE_TRADE) {
        Meshpb__Trade *tr;
        if (msg_fast_trade_decode(bytes, len, arena, &tr) == 0) {
            *out = &tr->base;
            return 0;
        }
        msg_arena_reset(arena); /* declined: protobuf-c decides */
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(t->descriptor, msg_arena_allocator(arena), len, bytes);
    if (m == NULL || !unknown_fields_valid(m, 0)) {
        rc = m == NULL && msg_arena_exhausted(arena) ? MESH_ENOMEM : MESH_EPROTO;
        msg_arena_reset(arena);
        return rc;
    }
    *out = m;
    return 0;
}
