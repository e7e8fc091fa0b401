/* Tests for bus_shm: mesh-scoped names, exclusive create, size-checked
 * attach, unlink. */
#include "bus_shm.h"
#include "mesh_error.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

Test(shm_name, builds_ring_and_ctl_names)
{
    char buf[256];
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ring", "md", "vpin"), 0);
    cr_assert_str_eq(buf, "/mesh.prod.ring.md.vpin");
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ctl", "vpin", NULL), 0);
    cr_assert_str_eq(buf, "/mesh.prod.ctl.vpin");
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "A-b_9", "ring", "x", "Y"), 0);
    cr_assert_str_eq(buf, "/mesh.A-b_9.ring.x.Y");
}

Test(shm_name, rejects_bad_characters_and_empty_parts)
{
    char buf[256];
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "pr.od", "ring", "a", "b"), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ring", "a/b", NULL), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ring", "a", "b c"), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "", "ring", "a", NULL), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ring", NULL, NULL), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "prod", "ring", "a", ""), MESH_EINVAL);
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), "pr\xc3\xa9", "ring", "a", NULL), MESH_EINVAL);
    cr_assert_str_eq(buf, "", "no partial name is left behind");
}

Test(shm_name, rejects_names_that_do_not_fit)
{
    char buf[256], part[BUS_SHM_PART_MAX + 2];
    memset(part, 'x', sizeof(part));
    part[BUS_SHM_PART_MAX + 1] = '\0'; /* 64 characters: one too many */
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), part, "ring", "a", NULL), MESH_ENAMETOOLONG);
    part[BUS_SHM_PART_MAX] = '\0'; /* 63: allowed */
    /* "/mesh." (6) + 63 + "." + 63 + "." + 63 + "." + 63 = 6 + 4*63 + 3 = 261
     * characters; without the leading slash 260 > NAME_MAX (255). */
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), part, part, part, part), MESH_ENAMETOOLONG);
    /* Three parts: 6 + 3*63 + 2 = 197 characters: fits. */
    cr_assert_eq(bus_shm_name(buf, sizeof(buf), part, part, part, NULL), 0);
    cr_assert_eq(strlen(buf), 197);
    /* "/mesh.m.ring.a" is 14 characters + NUL: a 14-byte buffer is too small. */
    char small[15];
    cr_assert_eq(bus_shm_name(small, 14, "m", "ring", "a", NULL), MESH_ENAMETOOLONG);
    cr_assert_eq(bus_shm_name(small, 15, "m", "ring", "a", NULL), 0);
}

Test(shm, create_is_exclusive_and_attach_sees_the_data)
{
    char name[128];
    tu_name(name, sizeof(name), "ring", "p", "c");
    bus_shm *a, *b, *dup;
    cr_assert_eq(bus_shm_create(&a, name, 4096), 0);
    cr_assert_eq(bus_shm_size(a), 4096);
    cr_assert_eq(bus_shm_create(&dup, name, 4096), MESH_EEXIST);
    memcpy(bus_shm_base(a), "hello", 6);
    cr_assert_eq(bus_shm_attach(&b, name, 4096, 1), 0);
    cr_assert_eq(bus_shm_size(b), 4096, "size comes from fstat");
    cr_assert_str_eq(bus_shm_base(b), "hello");
    cr_assert_str_eq(bus_shm_get_name(b), name);
    bus_shm_close(b);
    bus_shm_close(a);
    bus_shm_close(NULL);
    cr_assert_eq(bus_shm_unlink(name), 0);
    cr_assert_eq(bus_shm_attach(&b, name, 0, 1), MESH_ENOENT);
    cr_assert_eq(bus_shm_unlink(name), MESH_ENOENT);
}

Test(shm, attach_refuses_a_truncated_object)
{
    char name[128];
    tu_name(name, sizeof(name), "ctl", "e", NULL);
    bus_shm *a, *b;
    cr_assert_eq(bus_shm_create(&a, name, 8192), 0);
    int fd = shm_open(name, O_RDWR, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 100), 0);
    close(fd);
    cr_assert_eq(bus_shm_attach(&b, name, 8192, 0), MESH_ECORRUPT);
    cr_assert_eq(bus_shm_attach(&b, name, 100, 0), 0);
    cr_assert_eq(bus_shm_size(b), 100);
    bus_shm_close(b);
    bus_shm_close(a);
    bus_shm_unlink(name);
}

Test(shm, rejects_malformed_object_names)
{
    bus_shm *s;
    cr_assert_eq(bus_shm_create(&s, "noslash", 64), MESH_EINVAL);
    cr_assert_eq(bus_shm_create(&s, "/a/b", 64), MESH_EINVAL);
    cr_assert_eq(bus_shm_attach(&s, "/", 0, 0), MESH_EINVAL);
    cr_assert_eq(bus_shm_unlink(NULL), MESH_EINVAL);
}
