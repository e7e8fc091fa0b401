/* JSON for the control protocol: a printer (meshd's responses, meshctl's
 * --json output) and a small reader for those responses (meshctl, tests). */
#ifndef SUP_JSON_H
#define SUP_JSON_H

#include <stddef.h>
#include <stdint.h>

/* ---- printer ------------------------------------------------------------ */

#define SUP_JSON_DEPTH 16

/* A growing buffer that commas and escapes itself. Caller-owned struct. */
typedef struct sup_json {
    char *buf;
    size_t len, cap, limit;
    int depth;
    int need_comma[SUP_JSON_DEPTH];
    int after_key;
    int err; /* first error: MESH_ENOMEM, MESH_EMSGSIZE (over limit) or MESH_EINVAL (nesting) */
} sup_json;

/* Starts an empty document whose text may grow up to `limit` bytes. */
void sup_json_init(sup_json *j, size_t limit);

/* Frees the buffer (the struct itself is the caller's). Accepts NULL. */
void sup_json_free(sup_json *j);

/* Structure: objects, arrays, keys (inside objects). */
void sup_json_obj(sup_json *j);
void sup_json_obj_end(sup_json *j);
void sup_json_arr(sup_json *j);
void sup_json_arr_end(sup_json *j);
void sup_json_key(sup_json *j, const char *key);

/* Values (after a key, or as array elements). sup_json_str(NULL) prints null;
 * non-finite doubles print null. */
void sup_json_str(sup_json *j, const char *s);
void sup_json_int(sup_json *j, int64_t v);
void sup_json_uint(sup_json *j, uint64_t v);
void sup_json_double(sup_json *j, double v);
void sup_json_bool(sup_json *j, int v);
void sup_json_null(sup_json *j);

/* Appends raw text as is (e.g. a newline after the document). */
void sup_json_raw(sup_json *j, const char *s, size_t n);

/* Key + value shorthands. */
void sup_json_kstr(sup_json *j, const char *key, const char *s);
void sup_json_kint(sup_json *j, const char *key, int64_t v);
void sup_json_kuint(sup_json *j, const char *key, uint64_t v);
void sup_json_kdouble(sup_json *j, const char *key, double v);
void sup_json_kbool(sup_json *j, const char *key, int v);

/* The text so far (NUL-terminated, never NULL) and its length; returns the
 * first error (0 = complete and well-formed so far). */
const char *sup_json_text(const sup_json *j, size_t *len);
int sup_json_error(const sup_json *j);

/* ---- reader ------------------------------------------------------------- */

enum sup_jtype { SUP_J_NULL, SUP_J_BOOL, SUP_J_NUM, SUP_J_STR, SUP_J_ARR, SUP_J_OBJ };

/* A parsed value. Objects and arrays keep their members in a linked list
 * (`child`, then `next`); object members carry their `key`. */
typedef struct sup_jval {
    enum sup_jtype type;
    char *key;
    char *str; /* SUP_J_STR: unescaped UTF-8 */
    double num;
    int boolean;
    struct sup_jval *child, *next;
} sup_jval;

/* Parses one JSON document (RFC 8259; \u escapes of the BMP and surrogate
 * pairs decoded to UTF-8). Returns 0 and a tree in *out (free with
 * sup_jval_free), or MESH_EPROTO with "offset N: what" in err, or
 * MESH_ENOMEM. Nesting is limited to 64 levels. */
int sup_jval_parse(sup_jval **out, const char *text, size_t len, char *err, size_t errlen);

/* Frees a tree. Accepts NULL. */
void sup_jval_free(sup_jval *v);

/* Member `key` of an object, or NULL (also when v is not an object). */
const sup_jval *sup_jval_get(const sup_jval *v, const char *key);

/* Element i of an array, or NULL. Number of elements (0 for non-arrays). */
const sup_jval *sup_jval_at(const sup_jval *v, size_t i);
size_t sup_jval_len(const sup_jval *v);

/* Typed member access with a fallback when absent or of another type. */
const char *sup_jval_gstr(const sup_jval *v, const char *key, const char *dflt);
double sup_jval_gnum(const sup_jval *v, const char *key, double dflt);
int sup_jval_gbool(const sup_jval *v, const char *key, int dflt);

#endif
