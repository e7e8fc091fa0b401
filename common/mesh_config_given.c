/* Loading the config meshd gave a process it started: the sealed snapshot
 * meshd passes as an fd (the config it runs, whatever the file says now),
 * else the file itself. Shared by the engine runtime and the bridge daemon. */
#include "mesh_config.h"
#include "mesh_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The seals meshd puts on its snapshot (sup_config_snapshot, which adds
 * F_SEAL_SEAL): with them nobody can change the text while engines read it. */
#define SNAPSHOT_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)

/* The fd named by `fds` if it holds a config snapshot as meshd makes it: an
 * open memfd with SNAPSHOT_SEALS of at most MESH_CONFIG_MAX_BYTES; else a
 * negative code with the reason in err (the fd, if any, is left alone). */
static int snapshot_fd(const char *fds, off_t *size, char *err, unsigned errlen)
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
    int seals = fcntl((int)v, F_GET_SEALS);
    if (seals < 0 || (seals & SNAPSHOT_SEALS) != SNAPSHOT_SEALS) {
        snprintf(err, errlen,
                 "MESH_CONFIG_FD=%s: not a config snapshot from meshd: the file is not sealed "
                 "against write, grow and shrink (a memfd meshd sealed), so it could change "
                 "while read",
                 fds);
        return MESH_EBADF;
    }
    if (st.st_size > (off_t)MESH_CONFIG_MAX_BYTES) {
        snprintf(err, errlen, "MESH_CONFIG_FD=%s: the config snapshot is larger than %s", fds,
                 MESH_CONFIG_MAX_TEXT);
        return MESH_EINVAL;
    }
    *size = st.st_size;
    return (int)v;
}

/* Reads the snapshot behind the fd named by `fds` into *text (caller frees),
 * then closes the fd and takes MESH_CONFIG_FD out of the environment, so the
 * process's own children neither inherit the fd nor take for the snapshot
 * whatever later reuses its number. pread: the file offset is shared with
 * meshd and every other engine. */
static int read_snapshot(const char *fds, char **text, size_t *len, char *err, unsigned errlen)
{
    off_t size = 0;
    int fd = snapshot_fd(fds, &size, err, errlen), rc = 0;
    if (fd < 0)
        return fd;
    *len = 0;
    if ((*text = malloc((size_t)size + 1)) == NULL)
        rc = MESH_ENOMEM;
    while (rc == 0 && *len < (size_t)size) {
        ssize_t r = pread(fd, *text + *len, (size_t)size - *len, (off_t)*len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = r < 0 ? mesh_err_from_errno(errno) : MESH_EIO;
        else
            *len += (size_t)r;
    }
    close(fd);
    unsetenv("MESH_CONFIG_FD"); /* fds may point into the environment: not used below */
    if (rc < 0) {
        snprintf(err, errlen, "MESH_CONFIG_FD=%d: cannot read the config snapshot: %s", fd,
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
