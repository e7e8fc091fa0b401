/* Loading the config meshd gave a process it started: the sealed snapshot
 * meshd passes as an fd (the config it runs, whatever the file says now),
 * else the file itself. Shared by the engine runtime and the bridge daemon. */
#include "mesh_config.h"
#include "mesh_error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the snapshot behind the fd named by `fds` into *text (caller frees)
 * and closes the fd, so the process's own children do not inherit it.
 * pread: the file offset is shared with meshd and every other engine. */
static int read_snapshot(const char *fds, char **text, size_t *len, char *err, unsigned errlen)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(fds, &end, 10);
    struct stat st;
    if (errno != 0 || end == fds || *end != '\0' || v > INT_MAX || fstat((int)v, &st) < 0 ||
        !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "MESH_CONFIG_FD='%s': not an open config snapshot", fds);
        return MESH_EBADF;
    }
    int fd = (int)v, rc = 0;
    *len = 0;
    if ((*text = malloc((size_t)st.st_size + 1)) == NULL)
        rc = MESH_ENOMEM;
    while (rc == 0 && *len < (size_t)st.st_size) {
        ssize_t r = pread(fd, *text + *len, (size_t)st.st_size - *len, (off_t)*len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = r < 0 ? mesh_err_from_errno(errno) : MESH_EIO;
        else
            *len += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "MESH_CONFIG_FD=%s: cannot read the config snapshot: %s", fds,
                 mesh_strerror(rc));
        free(*text);
        *text = NULL;
        return rc;
    }
    (*text)[*len] = '\0';
    return 0;
}

int mesh_config_load_given(mesh_config **out, const char *path, const char *snapshot_fd,
                           const mesh_config_opts *opts, char *err, unsigned errlen)
{
    if (snapshot_fd == NULL || *snapshot_fd == '\0')
        return mesh_config_load(out, path, opts, err, errlen);
    char *text = NULL, dir[PATH_MAX];
    size_t len = 0;
    int rc = read_snapshot(snapshot_fd, &text, &len, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir] = '\0'; /* "/mesh.yaml" -> "/" */
    rc = mesh_config_parse(out, text, len, path, slash ? dir : NULL, opts, err, errlen);
    free(text);
    return rc;
}
