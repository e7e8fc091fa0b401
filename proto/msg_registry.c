/* The registry table built from MSG_TYPE_MAP, and its lookups. */
#include "msg_registry.h"

#include <string.h>
#include <strings.h>

#include "mesh_error.h"

/* Position of each type in the table, in MSG_TYPE_MAP order. */
enum registry_index {
#define MSG_TYPE_INDEX(sym, id_, name_, ctype, desc) REG_INDEX_##sym,
    MSG_TYPE_MAP(MSG_TYPE_INDEX)
#undef MSG_TYPE_INDEX
        REG_INDEX_COUNT_
};

/* MSG_TYPE_MAP is written in id order (the tests check it). */
static const msg_type_info registry[] = {
#define MSG_TYPE_ENTRY(sym, id_, name_, ctype, desc)                                               \
    {.id = id_, .name = name_, .descriptor = &desc},
    MSG_TYPE_MAP(MSG_TYPE_ENTRY)
#undef MSG_TYPE_ENTRY
};

_Static_assert(sizeof registry / sizeof registry[0] == MSG_TYPE_COUNT,
               "MSG_TYPE_COUNT matches the table");
_Static_assert(REG_INDEX_COUNT_ == MSG_TYPE_COUNT, "one index per type");

/* Table index of an id, or -1. A duplicate id in MSG_TYPE_MAP, or the reuse
 * of a retired id, is a compile error here (duplicate case value). */
static int registry_index(uint32_t id)
{
    switch (id) {
#define MSG_TYPE_CASE(sym, id_, name_, ctype, desc)                                                \
    case id_:                                                                                      \
        return REG_INDEX_##sym;
#define MSG_TYPE_RETIRED_CASE(sym, id_, name_)                                                     \
    case id_:                                                                                      \
        return -1;
        MSG_TYPE_MAP(MSG_TYPE_CASE)
        MSG_TYPE_RETIRED(MSG_TYPE_RETIRED_CASE)
#undef MSG_TYPE_CASE
#undef MSG_TYPE_RETIRED_CASE
    default:
        return -1;
    }
}

int msg_type_by_id(uint32_t id, const msg_type_info **out)
{
    int i = registry_index(id);
    if (i < 0)
        return MESH_EUNKNOWNTYPE;
    *out = &registry[i];
    return 0;
}

const char *msg_type_name(uint32_t id)
{
    int i = registry_index(id);
    return i < 0 ? NULL : registry[i].name;
}

int msg_type_by_name(const char *name, const msg_type_info **out)
{
    if (name == NULL)
        return MESH_EUNKNOWNTYPE;
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        const msg_type_info *t = &registry[i];
        if (strcasecmp(name, t->name) == 0 || strcasecmp(name, t->descriptor->short_name) == 0 ||
            strcasecmp(name, t->descriptor->name) == 0) {
            *out = t;
            return 0;
        }
    }
    return MESH_EUNKNOWNTYPE;
}

int msg_type_by_descriptor(const ProtobufCMessageDescriptor *desc, const msg_type_info **out)
{
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        if (registry[i].descriptor == desc) {
            *out = &registry[i];
            return 0;
        }
    }
    return MESH_EUNKNOWNTYPE;
}

const msg_type_info *msg_type_at(size_t i)
{
    return i < MSG_TYPE_COUNT ? &registry[i] : NULL;
}
