/* The config loader hooked to the proto registry (type names -> ids), and
 * the sealed in-memory snapshot of the config meshd runs, which engines
 * read instead of the (editable) file. */
#include "sup_config.h"

#include "bridge_cfg.h"
#include "mesh_error.h"
#include "msg_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int sup_config_type_lookup(const char *name, void *arg)
{
    const msg_type_info *t;
    (void)arg;
    int rc = msg_type_by_name(name, &t);
    return rc != 0 ? rc : (int)t->id;
}

/* Off-host routes or a listen address: meshd runs the nng bridge as an
 * engine of its own, started before the engines that use it. */
static int add_bridge(mesh_config **out, const char *path, const char *search_path, char *err,
                      size_t errlen)
{
    if (!bridge_cfg_needed(*out) || bridge_cfg_index(*out) >= 0)
        return 0;
    char bin[4096];
    int rc = bridge_cfg_find_binary(search_path, bin, sizeof(bin));
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

int sup_config_load(mesh_config **out, const char *path, const char *search_path, char **text_out,
                    size_t *len_out, char *err, size_t errlen)
{
    mesh_config_opts opts = {
        .search_path = search_path,
        .type_lookup = sup_config_type_lookup,
        .type_lookup_arg = NULL,
    };
    char dir[PATH_MAX], *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    int rc = mesh_config_read_text(path, &text, &len, dir, err, (unsigned)errlen);
    if (rc == 0)
        rc = mesh_config_parse(out, text, len, path, dir, &opts, err, (unsigned)errlen);
    if (rc == 0)
        rc = add_bridge(out, path, search_path, err, errlen);
    if (rc == 0 && text_out) {
        *text_out = text;
        *len_out = len;
        text = NULL;
    }
    free(text);
    return rc;
}

int sup_config_snapshot(const char *text, size_t len, int *fd_out)
{
    int fd = memfd_create("mesh-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return mesh_err_from_errno(errno);
    size_t off = 0;
    int rc;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? mesh_err_from_errno(errno) : MESH_EIO; /* 0: errno is stale */
            goto fail;
        }
        off += (size_t)w;
    }
    /* mesh_config_load_given (the engines' side) requires these seals. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        rc = mesh_err_from_errno(errno);
        goto fail;
    }
    *fd_out = fd;
    return 0;
fail:
    close(fd);
    return rc;
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
