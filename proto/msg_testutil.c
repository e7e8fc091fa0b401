/* Generic message filler and comparator used by the proto/ tests. */
#include "msg_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TU_MAX_DEPTH 6

static size_t tu_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

unsigned tu_oneof_members(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f)
{
    unsigned n = 0;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *g = &desc->fields[i];
        if ((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            g->quantifier_offset == f->quantifier_offset)
            n++;
    }
    return n;
}

/* Position of f among the members of its oneof. */
static unsigned oneof_rank(const ProtobufCMessageDescriptor *desc,
                           const ProtobufCFieldDescriptor *f)
{
    unsigned n = 0;
    for (const ProtobufCFieldDescriptor *g = desc->fields; g != f; g++) {
        if ((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            g->quantifier_offset == f->quantifier_offset)
            n++;
    }
    return n;
}

static ProtobufCMessage *fill_msg(const ProtobufCMessageDescriptor *desc, msg_arena *a, unsigned v,
                                  int depth);

/* Sets one element at p to a non-default value from (field id, index, v). */
static bool fill_value(const ProtobufCFieldDescriptor *f, void *p, msg_arena *a, unsigned k,
                       unsigned v, int depth)
{
    uint64_t x = (uint64_t)f->id * 1000u + k * 10u + v + 1u;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)p = -(int32_t)x; /* negative: exercises sign handling */
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = (uint32_t)x;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)p = -(int64_t)(x << 33);
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = (x << 40) | 0xFFu; /* needs 7+ varint bytes */
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = (double)x + 0.1;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = (float)x + 0.5f;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = 1;
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        /* skip the first value (the proto3 default, 0) when there is another */
        *(int *)p =
            e->n_values < 2 ? e->values[0].value : e->values[1 + x % (e->n_values - 1)].value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s = msg_arena_alloc(a, 32);
        if (s == NULL)
            return false;
        snprintf(s, 32, "%s-%u-\xc3\xa9", f->name, (unsigned)(k + v)); /* ends in U+00E9 */
        *(char **)p = s;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        b->len = 1 + (x % 5);
        b->data = msg_arena_alloc(a, b->len);
        if (b->data == NULL)
            return false;
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t)(x * 37u + i * 101u); /* includes 0 and >= 0x80 */
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (depth >= TU_MAX_DEPTH)
            return false;
        ProtobufCMessage *sub = fill_msg(f->descriptor, a, v + k, depth + 1);
        *(ProtobufCMessage **)p = sub;
        return sub != NULL;
    }
    }
    return false;
}

static bool fill_field(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f,
                       char *base, msg_arena *a, unsigned v, int depth)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (oneof_rank(desc, f) != v % tu_oneof_members(desc, f))
            return true;
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return fill_value(f, base + f->offset, a, 0, v, depth);
    size_t n = 1 + (v + f->id) % 3, sz = tu_elem_size(f->type);
    char *arr = msg_arena_alloc(a, n * sz);
    if (arr == NULL)
        return false;
    for (size_t k = 0; k < n; k++) {
        if (!fill_value(f, arr + k * sz, a, (unsigned)k, v, depth))
            return false;
    }
    *(size_t *)(base + f->quantifier_offset) = n;
    *(void **)(base + f->offset) = arr;
    return true;
}

static ProtobufCMessage *fill_msg(const ProtobufCMessageDescriptor *desc, msg_arena *a, unsigned v,
                                  int depth)
{
    ProtobufCMessage *m = msg_arena_alloc(a, desc->sizeof_message);
    if (m == NULL)
        return NULL;
    protobuf_c_message_init(desc, m);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        if (!fill_field(desc, &desc->fields[i], (char *)m, a, v, depth))
            return NULL;
    }
    return m;
}

ProtobufCMessage *tu_fill(const ProtobufCMessageDescriptor *desc, msg_arena *arena,
                          unsigned variant)
{
    return fill_msg(desc, arena, variant, 0);
}

static bool value_equal(const ProtobufCFieldDescriptor *f, const void *x, const void *y, char *why,
                        size_t why_len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return strcmp(s != NULL ? s : "", t != NULL ? t : "") == 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = x, *c = y;
        return b->len == c->len && (b->len == 0 || memcmp(b->data, c->data, b->len) == 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)x;
        const ProtobufCMessage *n = *(ProtobufCMessage *const *)y;
        if (m == NULL || n == NULL)
            return m == n;
        return tu_equal(m, n, why, why_len);
    }
    default:
        return memcmp(x, y, tu_elem_size(f->type)) == 0;
    }
}

static bool field_equal(const ProtobufCFieldDescriptor *f, const char *a, const char *b, char *why,
                        size_t why_len)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t ca = *(const uint32_t *)(a + f->quantifier_offset);
        uint32_t cb = *(const uint32_t *)(b + f->quantifier_offset);
        if (ca != cb)
            return false;
        if (ca != f->id)
            return true;
    }
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return value_equal(f, a + f->offset, b + f->offset, why, why_len);
    size_t n = *(const size_t *)(a + f->quantifier_offset);
    if (n != *(const size_t *)(b + f->quantifier_offset))
        return false;
    const char *xa = *(char *const *)(a + f->offset), *xb = *(char *const *)(b + f->offset);
    size_t sz = tu_elem_size(f->type);
    for (size_t k = 0; k < n; k++) {
        if (!value_equal(f, xa + k * sz, xb + k * sz, why, why_len))
            return false;
    }
    return true;
}

bool tu_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why, size_t why_len)
{
    if (a->descriptor != b->descriptor) {
        snprintf(why, why_len, "descriptor %s vs %s", a->descriptor->name, b->descriptor->name);
        return false;
    }
    const ProtobufCMessageDescriptor *d = a->descriptor;
    if (why_len > 0)
        why[0] = '\0';
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!field_equal(f, (const char *)a, (const char *)b, why, why_len)) {
            char inner[200];
            snprintf(inner, sizeof inner, "%s", why);
            snprintf(why, why_len, "%s.%s%s%s", d->short_name, f->name, inner[0] ? " > " : "",
                     inner);
            return false;
        }
    }
    return true;
}

uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double tu_scale(void)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double v = s != NULL ? strtod(s, NULL) : 1.0;
    return v >= 0.001 ? v : (s != NULL ? 0.001 : 1.0);
}
