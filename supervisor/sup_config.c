/* The config loader hooked to the proto registry (type names -> ids). */
#include "sup_config.h"

#include "bridge_cfg.h"
#include "mesh_error.h"
#include "msg_registry.h"

#include <stdio.h>
#include <string.h>

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
    int rc = mesh_config_load(out, path, &opts, err, (unsigned)errlen);
    if (rc != 0 || !bridge_cfg_needed(*out) || bridge_cfg_index(*out) >= 0)
        return rc;
    /* Off-host routes or a listen address: meshd runs the nng bridge as an
     * engine of its own, started before the engines that use it. */
    char bin[4096];
    rc = bridge_cfg_find_binary(search_path, bin, sizeof(bin));
    if (rc != 0) {
        snprintf(err, errlen,
                 "%s: the mesh has off-host routes or mesh.listen, but the bridge binary "
                 "'%s' was not found (searched --bin-path, meshd's folder and $PATH)\n",
                 path, BRIDGE_BINARY_NAME);
    } else {
        rc = bridge_cfg_inject(*out, bin, err, errlen);
    }
    if (rc != 0) {
        mesh_config_free(*out);
        *out = NULL;
        return rc == MESH_ENOENT ? MESH_ECONFIG : rc;
    }
    return 0;
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
