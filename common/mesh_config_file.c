/* Reading a config file whole (the one place that opens, checks and sizes
 * it, for mesh_config_load and meshd, which keeps the text as its snapshot)
 * and loading it. */
#include "mesh_config.h"
#include "mesh_error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int read_fail(char *err, unsigned errlen, const char *path, const char *what, int rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s:0:0: %s: %s\n", path, what, mesh_strerror(rc));
    return rc;
}

/* Reads the st_size bytes fstat gave for f into a new NUL-terminated *text;
 * one byte more to read means the file grew, fewer that it shrank: either
 * way it is being written and is refused (MESH_EIO). */
static int read_whole(FILE *f, off_t size, char **text, size_t *len)
{
    char *t = malloc((size_t)size + 1);
    if (t == NULL)
        return MESH_ENOMEM;
    size_t n = fread(t, 1, (size_t)size, f);
    if (ferror(f) || n != (size_t)size || fgetc(f) != EOF) {
        free(t);
        return MESH_EIO;
    }
    t[n] = '\0';
    *text = t;
    *len = n;
    return 0;
}

int mesh_config_read_text(const char *path, char **text, size_t *len, char *dir, char *err,
                          unsigned errlen)
{
    *text = NULL;
    *len = 0;
    if (strlen(path) >= sizeof(((mesh_config *)0)->path))
        return read_fail(err, errlen, path, "cannot open the config file", MESH_ENAMETOOLONG);
    FILE *f = fopen(path, "rb");
    if (!f || !realpath(path, dir)) {
        int rc = mesh_err_from_errno(errno);
        if (f)
            fclose(f);
        return read_fail(err, errlen, path, "cannot open the config file", rc);
    }
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
        rc = read_fail(err, errlen, path, "not a regular file", MESH_EINVAL);
    else if (st.st_size > (off_t)MESH_CONFIG_MAX_BYTES)
        rc = read_fail(err, errlen, path, "larger than " MESH_CONFIG_MAX_TEXT, MESH_EINVAL);
    else if ((rc = read_whole(f, st.st_size, text, len)) == MESH_EIO)
        read_fail(err, errlen, path, "cannot read the config file whole (is it being written?)",
                  rc);
    else if (rc < 0)
        read_fail(err, errlen, path, "cannot read the config file", rc);
    fclose(f);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0'; /* "/mesh.yaml" -> "/" */
    else if (slash)
        *slash = '\0';
    return rc;
}

int mesh_config_load(mesh_config **out, const char *path, const mesh_config_opts *opts, char *err,
                     unsigned errlen)
{
    char dir[PATH_MAX], *text;
    size_t len;
    *out = NULL;
    int rc = mesh_config_read_text(path, &text, &len, dir, err, errlen);
    if (rc == 0)
        rc = mesh_config_parse(out, text, len, path, dir, opts, err, errlen);
    free(text);
    return rc;
}
