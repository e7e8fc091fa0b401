/* POSIX shared memory for the bus: name building and validation, exclusive
 * create, size-checked attach, unlink. */
#include "bus_shm.h"
#include "mesh_error.h"
#include "mesh_log.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct bus_shm {
    void *base;
    size_t size;
    char name[NAME_MAX + 2];
};

/* Checks one name part; logs which part and character is wrong. */
static int shm_part_ok(const char *what, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        mesh_warn("bus_shm_name: %s is empty", what);
        return MESH_EINVAL;
    }
    size_t n = strlen(s);
    if (n > BUS_SHM_PART_MAX) {
        mesh_warn("bus_shm_name: %s \"%.20s...\" is %zu characters (max %d)", what, s, n,
                  BUS_SHM_PART_MAX);
        return MESH_ENAMETOOLONG;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        if (!ok) {
            mesh_warn("bus_shm_name: %s \"%s\": character %zu (0x%02x) is not one of "
                      "[A-Za-z0-9_-]",
                      what, s, i + 1, ch);
            return MESH_EINVAL;
        }
    }
    return 0;
}

int bus_shm_name(char *buf, size_t len, const char *mesh, const char *kind, const char *a,
                 const char *b)
{
    int rc;
    if (buf == NULL || len == 0)
        return MESH_EINVAL;
    buf[0] = '\0';
    if ((rc = shm_part_ok("mesh name", mesh)) < 0 || (rc = shm_part_ok("kind", kind)) < 0 ||
        (rc = shm_part_ok("first engine name", a)) < 0 ||
        (b != NULL && (rc = shm_part_ok("second engine name", b)) < 0))
        return rc;
    int n = b ? snprintf(buf, len, "/mesh.%s.%s.%s.%s", mesh, kind, a, b)
              : snprintf(buf, len, "/mesh.%s.%s.%s", mesh, kind, a);
    /* NAME_MAX bounds the name without its leading slash. */
    if (n < 0 || (size_t)n >= len || n - 1 > NAME_MAX) {
        buf[0] = '\0';
        return MESH_ENAMETOOLONG;
    }
    return 0;
}

/* A shm name: "/" then 1..NAME_MAX characters, no other slash. */
static int shm_name_ok(const char *name)
{
    if (name == NULL || name[0] != '/' || name[1] == '\0' || strchr(name + 1, '/') != NULL)
        return MESH_EINVAL;
    if (strlen(name) - 1 > NAME_MAX)
        return MESH_ENAMETOOLONG;
    return 0;
}

static int shm_map(bus_shm **out, const char *name, int fd, size_t size, int writable)
{
    bus_shm *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MESH_ENOMEM;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    /* MAP_POPULATE: take the page faults now, not on the hot path. */
    void *p = mmap(NULL, size, prot, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        int rc = mesh_err_from_errno(errno);
        free(s);
        return rc;
    }
    s->base = p;
    s->size = size;
    snprintf(s->name, sizeof(s->name), "%s", name);
    *out = s;
    return 0;
}

int bus_shm_create(bus_shm **out, const char *name, size_t size)
{
    int rc = shm_name_ok(name);
    if (rc < 0)
        return rc;
    if (size == 0)
        return MESH_EINVAL;
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return mesh_err_from_errno(errno);
    if (ftruncate(fd, (off_t)size) != 0) {
        rc = mesh_err_from_errno(errno);
        goto fail_unlink;
    }
    rc = shm_map(out, name, fd, size, 1);
    if (rc < 0)
        goto fail_unlink;
    close(fd);
    return 0;
fail_unlink:
    shm_unlink(name);
    close(fd);
    return rc;
}

int bus_shm_attach(bus_shm **out, const char *name, size_t min_size, int writable)
{
    int rc = shm_name_ok(name);
    if (rc < 0)
        return rc;
    int fd = shm_open(name, writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0)
        return mesh_err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mesh_err_from_errno(errno);
        goto out;
    }
    if (st.st_size <= 0 || (size_t)st.st_size < min_size) {
        mesh_warn("bus_shm %s: object is %lld bytes, smaller than %zu (truncated)", name,
                  (long long)st.st_size, min_size);
        rc = MESH_ECORRUPT;
        goto out;
    }
    rc = shm_map(out, name, fd, (size_t)st.st_size, writable);
out:
    close(fd);
    return rc;
}

void *bus_shm_base(const bus_shm *s)
{
    return s->base;
}

size_t bus_shm_size(const bus_shm *s)
{
    return s->size;
}

const char *bus_shm_get_name(const bus_shm *s)
{
    return s->name;
}

void bus_shm_close(bus_shm *s)
{
    if (s == NULL)
        return;
    munmap(s->base, s->size);
    free(s);
}

int bus_shm_unlink(const char *name)
{
    int rc = shm_name_ok(name);
    if (rc < 0)
        return rc;
    return shm_unlink(name) == 0 ? 0 : mesh_err_from_errno(errno);
}
