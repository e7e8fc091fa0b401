/* Fixed-capacity symbol table: maps a symbol (1..15 chars) to a dense slot
 * index 0..capacity-1 by open addressing; no allocation after open. */
#ifndef VPIN_SYMTAB_H
#define VPIN_SYMTAB_H

#include <stdint.h>

#define VPIN_SYMBOL_MAX 15

typedef struct vpin_symtab vpin_symtab;

/* Creates a table for up to capacity (>= 1) symbols. Returns 0 and *out, or
 * MESH_EINVAL / MESH_ENOMEM (then *out = NULL). The caller owns the table. */
int vpin_symtab_open(vpin_symtab **out, uint32_t capacity);

/* Frees the table. Accepts NULL. */
void vpin_symtab_close(vpin_symtab *t);

/* Slot of symbol: >= 0 if present or added (added only when create != 0; then
 * *added = 1 if it is new, slots are handed out 0, 1, 2, ... in order).
 * MESH_ENOENT if absent and !create, MESH_EINVAL if the symbol is empty or
 * longer than VPIN_SYMBOL_MAX, MESH_ENOSPC if the table is full. O(1) average.
 * added may be NULL. Not thread-safe. */
int vpin_symtab_get(vpin_symtab *t, const char *symbol, int create, int *added);

/* Name of a slot handed out earlier (NUL-terminated, owned by the table). */
const char *vpin_symtab_name(const vpin_symtab *t, uint32_t slot);

/* Number of symbols held. */
uint32_t vpin_symtab_count(const vpin_symtab *t);

#endif
