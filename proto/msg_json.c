/* Generic JSON printer: walks a message's protobuf-c descriptor (no
 * per-type code), writing into a bounded buffer or a stdio stream. */
#include "msg_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"
#include "msg_codec.h"
#include "msg_registry.h"

#define JSON_MAX_DEPTH 32

/* Output sink: a caller buffer (buf != NULL) or a stream. The first error
 * sticks; writing continues as a no-op so callers need not check each step. */
struct jw {
    char *buf;
    size_t cap; /* buffer size including the NUL */
    size_t len;
    FILE *f;
    int err;
};

static void jw_write(struct jw *w, const char *s, size_t n)
{
    if (w->err != 0 || n == 0)
        return;
    if (w->f != NULL) {
        if (fwrite(s, 1, n, w->f) != n)
            w->err = MESH_EIO;
        return;
    }
    size_t room = w->cap - 1 - w->len; /* cap >= 1 (checked at entry) */
    if (n > room) {
        memcpy(w->buf + w->len, s, room);
        w->len += room;
        w->err = MESH_EMSGSIZE;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void jw_puts(struct jw *w, const char *s)
{
    jw_write(w, s, strlen(s));
}

static void jw_putc(struct jw *w, char c)
{
    jw_write(w, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. s is
 * NUL-terminated, so reading continuation bytes stops at the NUL. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

/* The escape sequence for a byte that cannot appear raw in a JSON string:
 * a quote, a backslash, a control character or an invalid UTF-8 byte. */
static void escape_byte(unsigned char c, char esc[7])
{
    static const char hex[] = "0123456789abcdef";
    static const char short_esc[][2] = {{'"', '"'},  {'\\', '\\'}, {'\b', 'b'}, {'\f', 'f'},
                                        {'\n', 'n'}, {'\r', 'r'},  {'\t', 't'}};
    memset(esc, 0, 7);
    esc[0] = '\\';
    for (size_t i = 0; i < sizeof short_esc / sizeof short_esc[0]; i++) {
        if (c == (unsigned char)short_esc[i][0]) {
            esc[1] = short_esc[i][1];
            return;
        }
    }
    if (c < 0x20) {
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xF];
    } else {
        memcpy(esc + 1, "ufffd", 5); /* invalid UTF-8 byte: U+FFFD */
    }
}

/* Writes s as a JSON string literal. */
static void jw_string(struct jw *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    jw_putc(w, '"');
    while (*p != '\0') {
        const unsigned char *run = p;
        size_t n;
        /* Copy the longest run that needs no escaping in one write. */
        while (*p >= 0x20 && *p != '"' && *p != '\\' && (n = utf8_seq_len(p)) != 0)
            p += n;
        jw_write(w, (const char *)run, (size_t)(p - run));
        if (*p == '\0')
            break;
        char esc[7];
        escape_byte(*p, esc);
        jw_puts(w, esc);
        p++;
    }
    jw_putc(w, '"');
}

/* Writes bytes as a base64 JSON string (RFC 4648 alphabet, padded). */
static void jw_base64(struct jw *w, const ProtobufCBinaryData *b)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    jw_putc(w, '"');
    for (size_t i = 0; i < b->len; i += 3) {
        size_t left = b->len - i;
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (left > 1)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (left > 2)
            v |= b->data[i + 2];
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], left > 1 ? tbl[(v >> 6) & 63] : '=',
                     left > 2 ? tbl[v & 63] : '='};
        jw_write(w, q, 4);
    }
    jw_putc(w, '"');
}

/* Shortest %.Ng (N in lo..hi) that reads back to v; NaN/Inf as null. */
static void jw_double(struct jw *w, double v, int lo, int hi, bool is_float)
{
    if (!isfinite(v)) {
        jw_puts(w, "null");
        return;
    }
    char tmp[40];
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == hi)
            break;
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
            break;
    }
    jw_puts(w, tmp);
}

static void jw_printf_num(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jw_printf_num(struct jw *w, const char *fmt, ...)
{
    char tmp[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    jw_puts(w, tmp);
}

static void jw_message(struct jw *w, const ProtobufCMessage *m, const char *type, int depth);

/* Bytes one element of a field of this type occupies in the C struct. */
static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* 32-bit integers and enums (protobuf-c stores enums as int) */
        return sizeof(uint32_t);
    }
}

static void jw_enum(struct jw *w, const ProtobufCFieldDescriptor *f, int value)
{
    const ProtobufCEnumValue *ev =
        f->descriptor != NULL ? protobuf_c_enum_descriptor_get_value(f->descriptor, value) : NULL;
    if (ev != NULL)
        jw_string(w, ev->name);
    else
        jw_printf_num(w, "%d", value); /* proto3 enums are open */
}

/* Writes one value of field f stored at p. */
static void jw_value(struct jw *w, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        jw_printf_num(w, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        jw_printf_num(w, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        jw_printf_num(w, "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        jw_printf_num(w, "%" PRIu64, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        jw_double(w, *(const double *)p, 15, 17, false);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        jw_double(w, *(const float *)p, 6, 9, true);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        jw_puts(w, *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        jw_enum(w, f, *(const int *)p);
        break;
    case PROTOBUF_C_TYPE_STRING:
        jw_string(w, *(char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        jw_base64(w, (const ProtobufCBinaryData *)p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub == NULL)
            jw_puts(w, "null"); /* only reachable inside a repeated field */
        else
            jw_message(w, sub, NULL, depth + 1);
        break;
    }
    default:
        w->err = MESH_EPROTO; /* a descriptor from a newer protobuf-c */
    }
}

/* Whether a singular field is present and should be printed. */
static bool field_present(const ProtobufCFieldDescriptor *f, const char *base)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)(base + f->offset) != NULL;
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return true; /* proto3 singular and proto2 required: always printed */
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return *(char *const *)(base + f->offset) != NULL;
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
}

static void jw_field(struct jw *w, const ProtobufCFieldDescriptor *f, const char *base, int depth)
{
    jw_string(w, f->name);
    jw_putc(w, ':');
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        jw_value(w, f, base + f->offset, depth);
        return;
    }
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(const char *const *)(base + f->offset);
    size_t sz = elem_size(f->type);
    jw_putc(w, '[');
    for (size_t i = 0; i < n && arr != NULL && w->err == 0; i++) {
        if (i > 0)
            jw_putc(w, ',');
        jw_value(w, f, arr + i * sz, depth);
    }
    jw_putc(w, ']');
}

/* Writes {"type":..., fields...}; type NULL for nested messages. */
static void jw_message(struct jw *w, const ProtobufCMessage *m, const char *type, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        if (w->err == 0)
            w->err = MESH_EPROTO;
        return;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool first = true;
    jw_putc(w, '{');
    if (type != NULL) {
        jw_puts(w, "\"type\":");
        jw_string(w, type);
        first = false;
    }
    for (unsigned i = 0; i < d->n_fields && w->err == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REPEATED && !field_present(f, base))
            continue;
        if (!first)
            jw_putc(w, ',');
        first = false;
        jw_field(w, f, base, depth);
    }
    jw_putc(w, '}');
}

static const char *type_name_of(const ProtobufCMessage *msg)
{
    const msg_type_info *t;
    if (msg_type_by_descriptor(msg->descriptor, &t) == 0)
        return t->name;
    return msg->descriptor->name;
}

static bool message_ok(const ProtobufCMessage *msg)
{
    return msg != NULL && msg->descriptor != NULL &&
           msg->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
}

int msg_json_write(const ProtobufCMessage *msg, char *buf, size_t cap)
{
    if (!message_ok(msg) || buf == NULL)
        return MESH_EINVAL;
    if (cap == 0)
        return MESH_EMSGSIZE;
    struct jw w = {.buf = buf, .cap = cap};
    jw_message(&w, msg, type_name_of(msg), 0);
    buf[w.len] = '\0';
    if (w.err != 0)
        return w.err;
    if (w.len > INT32_MAX)
        return MESH_EMSGSIZE;
    return (int)w.len;
}

int msg_json_fprint(FILE *f, const ProtobufCMessage *msg)
{
    if (!message_ok(msg) || f == NULL)
        return MESH_EINVAL;
    struct jw w = {.f = f};
    jw_message(&w, msg, type_name_of(msg), 0);
    jw_putc(&w, '\n');
    if (w.err == 0 && ferror(f))
        w.err = MESH_EIO;
    return w.err;
}

int msg_json_record(uint32_t type_id, const void *data, size_t len, msg_arena *arena, char *buf,
                    size_t cap)
{
    ProtobufCMessage *m;
    int rc = msg_decode(type_id, data, len, arena, &m);
    if (rc < 0)
        return rc;
    return msg_json_write(m, buf, cap);
}

int msg_json_record_fprint(FILE *f, uint32_t type_id, const void *data, size_t len,
                           msg_arena *arena)
{
    ProtobufCMessage *m;
    int rc = msg_decode(type_id, data, len, arena, &m);
    if (rc < 0)
        return rc;
    return msg_json_fprint(f, m);
}
