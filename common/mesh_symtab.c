/* Symbol table: linear probing over a power-of-two array of slot indices, at
 * most half full; keys are the symbols zero-padded to 16 bytes. */
#include "mesh_symtab.h"

#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"

typedef struct symtab_key {
    char s[16];
} symtab_key;

struct mesh_symtab {
    uint32_t capacity, count, mask;
    int32_t *index;   /* mask + 1 entries: slot number or -1 */
    symtab_key *keys; /* capacity entries, by slot */
};

int mesh_symtab_open(mesh_symtab **out, uint32_t capacity)
{
    *out = NULL;
    if (capacity == 0 || capacity > (1u << 28))
        return MESH_EINVAL;
    mesh_symtab *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return MESH_ENOMEM;
    uint32_t size = 4;
    while (size < 2 * capacity)
        size <<= 1;
    t->capacity = capacity;
    t->mask = size - 1;
    t->index = malloc(sizeof(*t->index) * size);
    if (t->index == NULL)
        goto fail;
    t->keys = calloc(capacity, sizeof(*t->keys));
    if (t->keys == NULL)
        goto fail;
    for (uint32_t i = 0; i < size; i++)
        t->index[i] = -1;
    *out = t;
    return 0;
fail:
    mesh_symtab_close(t);
    return MESH_ENOMEM;
}

void mesh_symtab_close(mesh_symtab *t)
{
    if (t == NULL)
        return;
    free(t->keys);
    free(t->index);
    free(t);
}

static uint32_t key_hash(const symtab_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->s, 8);
    memcpy(&b, k->s + 8, 8);
    uint64_t h = (a ^ (b * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

int mesh_symtab_get(mesh_symtab *t, const char *symbol, int create, int *added)
{
    symtab_key k;
    size_t len = strnlen(symbol, MESH_SYMBOL_MAX + 1);
    if (added != NULL)
        *added = 0;
    if (len == 0 || len > MESH_SYMBOL_MAX)
        return MESH_EINVAL;
    memset(&k, 0, sizeof(k));
    memcpy(k.s, symbol, len);
    for (uint32_t i = key_hash(&k) & t->mask;; i = (i + 1) & t->mask) {
        int32_t slot = t->index[i];
        if (slot < 0) {
            if (!create)
                return MESH_ENOENT;
            if (t->count == t->capacity)
                return MESH_ENOSPC;
            slot = (int32_t)t->count++;
            t->keys[slot] = k;
            t->index[i] = slot;
            if (added != NULL)
                *added = 1;
            return slot;
        }
        if (memcmp(t->keys[slot].s, k.s, sizeof(k.s)) == 0)
            return slot;
    }
}

const char *mesh_symtab_name(const mesh_symtab *t, uint32_t slot)
{
    return slot < t->count ? t->keys[slot].s : "";
}

uint32_t mesh_symtab_count(const mesh_symtab *t)
{
    return t->count;
}
