/* Fixed-capacity symbol table: maps a symbol (1..15 chars) to a dense slot
 * index 0..capacity-1 by open addressing; no allocation after open. */
#ifndef MESH_SYMTAB_H
#define MESH_SYMTAB_H

#include <stdint.h>

#define MESH_SYMBOL_MAX 15

typedef struct mesh_symtab mesh_symtab;

/* Creates a table for up to capacity (>= 1) symbols. Returns 0 and *out, or
 * MESH_EINVAL / MESH_ENOMEM (then *out = NULL). The caller owns the table. */
int mesh_symtab_open(mesh_symtab **out, uint32_t capacity);

/* Frees the table. Accepts NULL. */
void mesh_symtab_close(mesh_symtab *t);

/* Slot of symbol: >= 0 if present or added (added only when create != 0; then
 * *added = 1 if it is new, slots are handed out 0, 1, 2, ... in order).
 * MESH_ENOENT if absent and !create, MESH_EINVAL if the symbol is empty or
 * longer than MESH_SYMBOL_MAX, MESH_ENOSPC if the table is full. O(1) average.
 * added may be NULL. Not thread-safe. */
int mesh_symtab_get(mesh_symtab *t, const char *symbol, int create, int *added);

/* Name of a slot handed out earlier (NUL-terminated, owned by the table). */
const char *mesh_symtab_name(const mesh_symtab *t, uint32_t slot);

/* Number of symbols held. */
uint32_t mesh_symtab_count(const mesh_symtab *t);

#endif
