/* The config loader hooked to the proto registry (type names -> ids). */
#include "sup_config.h"

#include "msg_registry.h"

int sup_config_type_lookup(const char *name, void *arg)
{
    const msg_type_info *t;
    (void)arg;
    int rc = msg_type_by_name(name, &t);
    return rc != 0 ? rc : (int)t->id;
}

int sup_config_load(mesh_config **out, const char *path, const char *search_path, char *err,
                    size_t errlen)
{
    mesh_config_opts opts = {
        .search_path = search_path,
        .type_lookup = sup_config_type_lookup,
        .type_lookup_arg = NULL,
    };
    if (errlen)
        err[0] = '\0';
    return mesh_config_load(out, path, &opts, err, (unsigned)errlen);
}

int sup_config_load_for_tool(mesh_config **out, const char *path, char *err, size_t errlen)
{
    mesh_config_opts opts = {
        .type_lookup = sup_config_type_lookup,
        .no_binary_check = 1,
    };
    if (errlen)
        err[0] = '\0';
    return mesh_config_load(out, path, &opts, err, (unsigned)errlen);
}
