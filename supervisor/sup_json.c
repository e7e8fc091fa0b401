/* JSON printer (growing buffer, automatic commas, RFC 8259 string escaping)
 * and a small recursive-descent reader for the control protocol's replies. */
#include "sup_json.h"

#include "mesh_error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- printer ------------------------------------------------------------ */

void sup_json_init(sup_json *j, size_t limit)
{
    memset(j, 0, sizeof(*j));
    j->limit = limit;
}

void sup_json_free(sup_json *j)
{
    if (!j)
        return;
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}

static void put(sup_json *j, const char *s, size_t n)
{
    if (j->err)
        return;
    if (j->len + n + 1 > j->limit) {
        j->err = MESH_EMSGSIZE;
        return;
    }
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            j->err = MESH_ENOMEM;
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void putf(sup_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sup_json *j, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(j, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Emits the separator a new value needs at this position. */
static void value_prefix(sup_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0 && j->need_comma[j->depth - 1])
        put(j, ",", 1);
    if (j->depth > 0)
        j->need_comma[j->depth - 1] = 1;
}

static void open_(sup_json *j, char c)
{
    value_prefix(j);
    put(j, &c, 1);
    if (j->depth >= SUP_JSON_DEPTH) {
        if (!j->err)
            j->err = MESH_EINVAL;
        return;
    }
    j->need_comma[j->depth++] = 0;
}

static void close_(sup_json *j, char c)
{
    if (j->depth > 0)
        j->depth--;
    put(j, &c, 1);
}

void sup_json_obj(sup_json *j)
{
    open_(j, '{');
}

void sup_json_obj_end(sup_json *j)
{
    close_(j, '}');
}

void sup_json_arr(sup_json *j)
{
    open_(j, '[');
}

void sup_json_arr_end(sup_json *j)
{
    close_(j, ']');
}

static void put_string(sup_json *j, const char *s)
{
    put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(j, esc, 2);
        } else if (c == '\n') {
            put(j, "\\n", 2);
        } else if (c == '\t') {
            put(j, "\\t", 2);
        } else if (c == '\r') {
            put(j, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            putf(j, "\\u%04x", c);
        } else {
            put(j, (const char *)p, 1);
        }
    }
    put(j, "\"", 1);
}

void sup_json_key(sup_json *j, const char *key)
{
    value_prefix(j);
    put_string(j, key);
    put(j, ":", 1);
    j->after_key = 1;
}

void sup_json_str(sup_json *j, const char *s)
{
    value_prefix(j);
    if (!s)
        put(j, "null", 4);
    else
        put_string(j, s);
}

void sup_json_int(sup_json *j, int64_t v)
{
    value_prefix(j);
    putf(j, "%lld", (long long)v);
}

void sup_json_uint(sup_json *j, uint64_t v)
{
    value_prefix(j);
    putf(j, "%llu", (unsigned long long)v);
}

void sup_json_double(sup_json *j, double v)
{
    value_prefix(j);
    if (!isfinite(v))
        put(j, "null", 4);
    else
        putf(j, "%.17g", v);
}

void sup_json_bool(sup_json *j, int v)
{
    value_prefix(j);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void sup_json_null(sup_json *j)
{
    value_prefix(j);
    put(j, "null", 4);
}

void sup_json_raw(sup_json *j, const char *s, size_t n)
{
    put(j, s, n);
}

void sup_json_kstr(sup_json *j, const char *key, const char *s)
{
    sup_json_key(j, key);
    sup_json_str(j, s);
}

void sup_json_kint(sup_json *j, const char *key, int64_t v)
{
    sup_json_key(j, key);
    sup_json_int(j, v);
}

void sup_json_kuint(sup_json *j, const char *key, uint64_t v)
{
    sup_json_key(j, key);
    sup_json_uint(j, v);
}

void sup_json_kdouble(sup_json *j, const char *key, double v)
{
    sup_json_key(j, key);
    sup_json_double(j, v);
}

void sup_json_kbool(sup_json *j, const char *key, int v)
{
    sup_json_key(j, key);
    sup_json_bool(j, v);
}

const char *sup_json_text(const sup_json *j, size_t *len)
{
    if (len)
        *len = j->buf ? j->len : 0;
    return j->buf ? j->buf : "";
}

int sup_json_error(const sup_json *j)
{
    return j->err;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct jr {
    const char *s;
    size_t n, i;
    int depth;
    char *err;
    size_t errlen;
    int rc;
} jr;

static int jr_fail(jr *r, const char *what)
{
    if (!r->rc) {
        r->rc = MESH_EPROTO;
        if (r->err && r->errlen)
            snprintf(r->err, r->errlen, "offset %zu: %s", r->i, what);
    }
    return r->rc;
}

static void jr_ws(jr *r)
{
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int jr_hex4(jr *r, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        if (r->i >= r->n)
            return jr_fail(r, "truncated \\u escape");
        char c = r->s[r->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return jr_fail(r, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int jr_escape(jr *r, char *o, size_t *k)
{
    char c = r->s[r->i++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *p = c ? strchr(from, c) : NULL;
    if (p) {
        o[(*k)++] = to[p - from];
        return 0;
    }
    if (c != 'u')
        return jr_fail(r, "unknown escape in string");
    unsigned cp;
    if (jr_hex4(r, &cp))
        return r->rc;
    if (cp >= 0xd800 && cp < 0xdc00) {
        unsigned lo;
        if (r->i + 1 >= r->n || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
            return jr_fail(r, "lone high surrogate");
        r->i += 2;
        if (jr_hex4(r, &lo))
            return r->rc;
        if (lo < 0xdc00 || lo > 0xdfff)
            return jr_fail(r, "bad low surrogate");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    } else if (cp >= 0xdc00 && cp < 0xe000) {
        return jr_fail(r, "lone low surrogate");
    }
    *k += utf8_put(o + *k, cp);
    return 0;
}

/* Reads a string at r->i (on the opening quote) into a new allocation. */
static int jr_string(jr *r, char **out)
{
    r->i++; /* opening quote */
    size_t start = r->i, k = 0;
    /* An escape never expands, so the raw span bounds the decoded length. */
    size_t end = start;
    while (end < r->n && r->s[end] != '"')
        end += (r->s[end] == '\\') ? 2 : 1;
    if (end >= r->n)
        return jr_fail(r, "unterminated string");
    char *o = malloc(end - start + 1);
    if (!o)
        return r->rc = MESH_ENOMEM;
    while (r->i < end) {
        unsigned char c = (unsigned char)r->s[r->i];
        if (c < 0x20) {
            free(o);
            return jr_fail(r, "control character in string");
        }
        if (c == '\\') {
            r->i++;
            if (jr_escape(r, o, &k)) {
                free(o);
                return r->rc;
            }
        } else {
            o[k++] = (char)c;
            r->i++;
        }
    }
    r->i++; /* closing quote */
    o[k] = '\0';
    *out = o;
    return 0;
}

static int jr_value(jr *r, sup_jval **out);

static int jr_members(jr *r, sup_jval *v, int is_obj)
{
    const char close = is_obj ? '}' : ']';
    sup_jval **tail = &v->child;
    r->i++;
    jr_ws(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        if (is_obj) {
            jr_ws(r);
            if (r->i >= r->n || r->s[r->i] != '"')
                return jr_fail(r, "expected a member name");
            if (jr_string(r, &key))
                return r->rc;
            jr_ws(r);
            if (r->i >= r->n || r->s[r->i] != ':') {
                free(key);
                return jr_fail(r, "expected ':'");
            }
            r->i++;
        }
        sup_jval *m = NULL;
        jr_value(r, &m);
        if (!m) {
            free(key);
            return r->rc;
        }
        m->key = key; /* linked even on error, so the caller's free reaches it */
        *tail = m;
        tail = &m->next;
        if (r->rc)
            return r->rc;
        jr_ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return 0;
        }
        return jr_fail(r, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jr_literal(jr *r, const char *word)
{
    size_t n = strlen(word);
    if (r->n - r->i < n || memcmp(r->s + r->i, word, n) != 0)
        return jr_fail(r, "unexpected token");
    r->i += n;
    return 0;
}

static int jr_number(jr *r, sup_jval *v)
{
    size_t start = r->i;
    while (r->i < r->n && strchr("+-0123456789.eE", r->s[r->i]) && r->s[r->i])
        r->i++;
    char tmp[64];
    size_t len = r->i - start;
    if (len == 0 || len >= sizeof(tmp))
        return jr_fail(r, "bad number");
    memcpy(tmp, r->s + start, len);
    tmp[len] = '\0';
    char *end;
    v->num = strtod(tmp, &end);
    if (*end)
        return jr_fail(r, "bad number");
    v->type = SUP_J_NUM;
    return 0;
}

static int jr_value(jr *r, sup_jval **out)
{
    jr_ws(r);
    if (r->i >= r->n)
        return jr_fail(r, "unexpected end of input");
    if (++r->depth > 64)
        return jr_fail(r, "nesting deeper than 64");
    sup_jval *v = calloc(1, sizeof(*v));
    if (!v)
        return r->rc = MESH_ENOMEM;
    *out = v;
    char c = r->s[r->i];
    if (c == '{') {
        v->type = SUP_J_OBJ;
        jr_members(r, v, 1);
    } else if (c == '[') {
        v->type = SUP_J_ARR;
        jr_members(r, v, 0);
    } else if (c == '"') {
        v->type = SUP_J_STR;
        jr_string(r, &v->str);
    } else if (c == 't' || c == 'f') {
        v->type = SUP_J_BOOL;
        v->boolean = c == 't';
        jr_literal(r, v->boolean ? "true" : "false");
    } else if (c == 'n') {
        v->type = SUP_J_NULL;
        jr_literal(r, "null");
    } else {
        jr_number(r, v);
    }
    r->depth--;
    return r->rc;
}

int sup_jval_parse(sup_jval **out, const char *text, size_t len, char *err, size_t errlen)
{
    jr r = {.s = text, .n = len, .err = err, .errlen = errlen};
    sup_jval *v = NULL;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (jr_value(&r, &v) == 0) {
        jr_ws(&r);
        if (r.i != r.n)
            jr_fail(&r, "trailing characters after the value");
    }
    if (r.rc) {
        sup_jval_free(v);
        return r.rc;
    }
    *out = v;
    return 0;
}

void sup_jval_free(sup_jval *v)
{
    while (v) {
        sup_jval *next = v->next;
        sup_jval_free(v->child);
        free(v->key);
        free(v->str);
        free(v);
        v = next;
    }
}

const sup_jval *sup_jval_get(const sup_jval *v, const char *key)
{
    if (!v || v->type != SUP_J_OBJ)
        return NULL;
    for (const sup_jval *m = v->child; m; m = m->next)
        if (m->key && strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const sup_jval *sup_jval_at(const sup_jval *v, size_t i)
{
    if (!v || v->type != SUP_J_ARR)
        return NULL;
    const sup_jval *m = v->child;
    while (m && i--)
        m = m->next;
    return m;
}

size_t sup_jval_len(const sup_jval *v)
{
    size_t n = 0;
    if (v && (v->type == SUP_J_ARR || v->type == SUP_J_OBJ))
        for (const sup_jval *m = v->child; m; m = m->next)
            n++;
    return n;
}

const char *sup_jval_gstr(const sup_jval *v, const char *key, const char *dflt)
{
    const sup_jval *m = sup_jval_get(v, key);
    return m && m->type == SUP_J_STR ? m->str : dflt;
}

double sup_jval_gnum(const sup_jval *v, const char *key, double dflt)
{
    const sup_jval *m = sup_jval_get(v, key);
    return m && m->type == SUP_J_NUM ? m->num : dflt;
}

int sup_jval_gbool(const sup_jval *v, const char *key, int dflt)
{
    const sup_jval *m = sup_jval_get(v, key);
    return m && m->type == SUP_J_BOOL ? m->boolean : dflt;
}
