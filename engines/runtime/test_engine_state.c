/* Tests of the engine checkpoint object (engine_ckpt.c) on real POSIX shm:
 * save/load round trips, growth, the progress word, rejection of corrupt,
 * foreign, truncated and garbage objects with a clear warning, and a writer
 * SIGKILLed at random points while saving, which must always leave a valid
 * snapshot behind. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus_shm.h"
#include "engine_ckpt.h"
#include "mesh_error.h"

static char NAME[128];

static void setup(void)
{
    snprintf(NAME, sizeof(NAME), "/mesh.ckpt%d.state.t", (int)getpid());
    shm_unlink(NAME);
}

static void teardown(void)
{
    shm_unlink(NAME);
}

TestSuite(engine_ckpt, .init = setup, .fini = teardown, .timeout = 120);

static double scale(void)
{
    const char *e = getenv("MESH_TEST_SCALE");
    double x = e ? atof(e) : 1.0;
    return x > 0 ? x : 1.0;
}

/* n bytes of a pattern determined by k: byte i = (k * 131 + i * 7) mod 251. */
static void pattern(unsigned char *p, size_t n, uint64_t k)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((k * 131 + i * 7) % 251);
}

/* 1 if bytes [from, n) of p hold pattern k. */
static int is_pattern_from(const unsigned char *p, size_t from, size_t n, uint64_t k)
{
    for (size_t i = from; i < n; i++)
        if (p[i] != (unsigned char)((k * 131 + i * 7) % 251))
            return 0;
    return 1;
}

static int is_pattern(const unsigned char *p, size_t n, uint64_t k)
{
    return is_pattern_from(p, 0, n, k);
}

static int save_bytes(engine_ckpt *c, const void *data, size_t len)
{
    engine_ckpt_meta m;
    memset(&m, 0, sizeof(m));
    m.nrings = 2;
    m.ring[0] = (engine_ckpt_ring){.head = 4096, .next_seq = 77, .name_hash = 5};
    m.ring[1] = (engine_ckpt_ring){.head = 64, .next_seq = 3, .name_hash = 6};
    return engine_ckpt_save(c, &m, data, len);
}

/* Opens the object by hand (as another process would) and maps it. */
static unsigned char *map_raw(size_t *size)
{
    int fd = shm_open(NAME, O_RDWR, 0);
    cr_assert_geq(fd, 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    *size = (size_t)st.st_size;
    void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* Runs engine_ckpt_load on a fresh handle with stderr captured into err. */
static int load_fresh(void *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    char path[] = "/tmp/ckpt-errXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    engine_ckpt c;
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    int rc = engine_ckpt_load(&c, NULL, buf, cap, len, NULL);
    engine_ckpt_fini(&c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, err, errlen - 1, 0);
    err[n > 0 ? n : 0] = '\0';
    close(fd);
    return rc;
}

Test(engine_ckpt, load_without_an_object_is_enoent_then_returns_the_latest_save)
{
    engine_ckpt c;
    unsigned char buf[256], a[100], b[37];
    size_t len = 99;
    uint64_t mark = 0;
    engine_ckpt_meta m;
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    cr_assert_eq(engine_ckpt_load(&c, NULL, buf, sizeof(buf), &len, NULL), MESH_ENOENT);
    cr_assert_eq(len, 0);
    pattern(a, sizeof(a), 1);
    pattern(b, sizeof(b), 2);
    engine_ckpt_mark(&c, 10); /* no object yet: kept locally, saved with the snapshot */
    cr_assert_eq(save_bytes(&c, a, sizeof(a)), 0);
    engine_ckpt_mark(&c, 12);
    cr_assert_eq(save_bytes(&c, b, sizeof(b)), 0);
    engine_ckpt_mark(&c, 15);
    engine_ckpt_fini(&c);

    engine_ckpt r;
    cr_assert_eq(engine_ckpt_init(&r, NAME), 0);
    cr_assert_eq(engine_ckpt_load(&r, &m, buf, sizeof(buf), &len, &mark), 0);
    cr_assert_eq(len, sizeof(b));
    cr_assert(is_pattern(buf, len, 2), "the second save is the active one");
    cr_assert_eq(m.serial, 2);
    cr_assert_eq(m.mark, 12, "progress word when the snapshot was saved");
    cr_assert_eq(mark, 15, "live progress word, past the snapshot");
    cr_assert_eq(m.nrings, 2);
    cr_assert_eq(m.ring[0].head, 4096);
    cr_assert_eq(m.ring[0].next_seq, 77);
    cr_assert_eq(m.ring[1].name_hash, 6);
    cr_assert_eq(engine_ckpt_load(&r, NULL, buf, 10, &len, NULL), MESH_EMSGSIZE);
    cr_assert_eq(len, sizeof(b), "EMSGSIZE says how much is needed");
    cr_assert_eq(engine_ckpt_invalidate(&r), 0);
    cr_assert_eq(engine_ckpt_load(&r, NULL, buf, sizeof(buf), &len, NULL), MESH_ENOENT);
    engine_ckpt_fini(&r);
}

Test(engine_ckpt, a_snapshot_larger_than_its_slot_grows_the_object)
{
    engine_ckpt c;
    size_t big = 300000, len = 0, size = 0;
    unsigned char *buf = malloc(big), *data = malloc(big);
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    pattern(data, 100, 1);
    cr_assert_eq(save_bytes(&c, data, 100), 0);
    munmap(map_raw(&size), size);
    /* two slots of one page (100 bytes + headers, half again, rounded up) */
    cr_assert_eq(size, 128 + 2 * 4096);
    for (uint64_t k = 2; k < 6; k++) {
        size_t n = k < 4 ? big : 50; /* slot 1 big, slot 0 big, then both small */
        pattern(data, n, k);
        cr_assert_eq(save_bytes(&c, data, n), 0);
        cr_assert_eq(engine_ckpt_load(&c, NULL, buf, big, &len, NULL), 0);
        cr_assert_eq(len, n);
        cr_assert(is_pattern(buf, n, k), "save %llu", (unsigned long long)k);
    }
    munmap(map_raw(&size), size);
    /* Each slot moved once to a region appended at the end: 300000 bytes +
     * 64 (slot header) + 48 (rings) = 300112, half again = 450168, rounded
     * up to pages = 450560; the first regions (2 x 4096) stay behind. */
    cr_assert_eq(size, 128 + 2 * 4096 + 2 * 450560);
    engine_ckpt_fini(&c);
    free(buf);
    free(data);
}

/* Saves one snapshot, then damages the object with fn and loads it. */
static int damaged_load(void (*fn)(unsigned char *base, size_t size), char *err, size_t errlen)
{
    engine_ckpt c;
    unsigned char data[500], buf[600];
    size_t size, len;
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    pattern(data, sizeof(data), 9);
    cr_assert_eq(save_bytes(&c, data, sizeof(data)), 0);
    engine_ckpt_fini(&c);
    unsigned char *base = map_raw(&size);
    fn(base, size);
    munmap(base, size);
    return load_fresh(buf, sizeof(buf), &len, err, errlen);
}

/* The only snapshot so far sits in slot 0 at offset 128: its data starts
 * after the 64-byte slot header and two 24-byte ring records. */
static void flip_data_byte(unsigned char *b, size_t n)
{
    b[128 + 64 + 48 + 250] ^= 0x10;
}
static void flip_ring_byte(unsigned char *b, size_t n)
{
    b[128 + 64 + 3] ^= 1;
}
static void bad_magic(unsigned char *b, size_t n)
{
    memcpy(b, "NOTMINE!", 8);
}
static void bad_version(unsigned char *b, size_t n)
{
    b[8] = 9;
}
static void bad_region(unsigned char *b, size_t n)
{
    uint64_t off = (uint64_t)1 << 40;
    memcpy(b + 48 + 8, &off, 8); /* slot_off[1] */
}
static void bad_active(unsigned char *b, size_t n)
{
    b[16] = 7;
}
static void huge_len(unsigned char *b, size_t n)
{
    uint64_t len = (uint64_t)1 << 62;
    memcpy(b + 128 + 16, &len, 8);
}

Test(engine_ckpt, damaged_objects_are_refused_with_the_reason)
{
    static const struct {
        void (*fn)(unsigned char *, size_t);
        int rc;
        const char *why;
    } cases[] = {
        {flip_data_byte, MESH_ECORRUPT, "checksum mismatch"},
        {flip_ring_byte, MESH_ECORRUPT, "checksum mismatch"},
        {bad_magic, MESH_EFOREIGN, "bad magic"},
        {bad_version, MESH_EVERSION, "version mismatch"},
        {bad_region, MESH_ECORRUPT, "outside the object"},
        {bad_active, MESH_ECORRUPT, "active slot index out of range"},
        {huge_len, MESH_ECORRUPT, "sizes out of range"},
    };
    char err[2048];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        shm_unlink(NAME);
        int rc = damaged_load(cases[i].fn, err, sizeof(err));
        cr_assert_eq(rc, cases[i].rc, "case %zu: %s", i, mesh_strerror(rc));
        cr_assert(strstr(err, cases[i].why) && strstr(err, NAME) && strstr(err, "ignored"),
                  "case %zu: warning does not say '%s' and name the object: %s", i, cases[i].why,
                  err);
    }
}

Test(engine_ckpt, truncated_object_is_refused_and_the_next_save_replaces_it)
{
    engine_ckpt c;
    unsigned char data[3000], buf[4000];
    size_t len;
    char err[1024];
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    pattern(data, sizeof(data), 4);
    cr_assert_eq(save_bytes(&c, data, sizeof(data)), 0);
    engine_ckpt_fini(&c);
    int fd = shm_open(NAME, O_RDWR, 0);
    cr_assert_eq(ftruncate(fd, 2000), 0); /* cuts into slot 0 */
    close(fd);
    cr_assert_eq(load_fresh(buf, sizeof(buf), &len, err, sizeof(err)), MESH_ECORRUPT);
    cr_assert(strstr(err, "truncated"), "%s", err);
    cr_assert_eq(ftruncate(fd = shm_open(NAME, O_RDWR, 0), 0), 0); /* empty object */
    close(fd);
    cr_assert_lt(load_fresh(buf, sizeof(buf), &len, err, sizeof(err)), 0);
    /* A save over the refused object replaces it. */
    cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
    pattern(data, 10, 5);
    cr_assert_eq(save_bytes(&c, data, 10), 0);
    engine_ckpt_fini(&c);
    cr_assert_eq(load_fresh(buf, sizeof(buf), &len, err, sizeof(err)), 0);
    cr_assert(len == 10 && is_pattern(buf, 10, 5));
}

Test(engine_ckpt, random_garbage_never_crashes_the_loader)
{
    unsigned char data[700], buf[800];
    char err[2048];
    size_t len;
    srand(1234);
    int n = (int)(2000 * scale()), accepted = 0;
    for (int it = 0; it < n; it++) {
        shm_unlink(NAME);
        engine_ckpt c;
        cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
        pattern(data, sizeof(data), (uint64_t)it);
        cr_assert_eq(save_bytes(&c, data, sizeof(data)), 0);
        engine_ckpt_fini(&c);
        size_t size;
        unsigned char *b = map_raw(&size);
        /* 1..4 random bytes in the header and slot 0's header and rings */
        for (int k = rand() % 4; k >= 0; k--)
            b[rand() % (128 + 64 + 48)] = (unsigned char)rand();
        munmap(b, size);
        int rc = load_fresh(buf, sizeof(buf), &len, err, sizeof(err));
        if (rc == 0) {
            /* only damage the checks ignore (padding, pid, counters) */
            cr_assert(len == sizeof(data) && is_pattern(buf, len, (uint64_t)it));
            accepted++;
        }
    }
    cr_assert_lt(accepted, n, "no damage was ever detected");
}

Test(engine_ckpt, hash_changes_with_any_single_bit)
{
    unsigned char b[41];
    pattern(b, sizeof(b), 3);
    for (size_t n = 1; n <= sizeof(b); n += 4) {
        uint64_t h = engine_ckpt_hash(0, b, n);
        for (size_t bit = 0; bit < n * 8; bit++) {
            b[bit / 8] ^= (unsigned char)(1u << bit % 8);
            cr_assert_neq(engine_ckpt_hash(0, b, n), h, "length %zu bit %zu", n, bit);
            b[bit / 8] ^= (unsigned char)(1u << bit % 8);
        }
        cr_assert_neq(engine_ckpt_hash(0, b, n), engine_ckpt_hash(1, b, n), "seed");
    }
    /* a trailing zero byte is not the same data */
    unsigned char z[9] = {1, 2, 3, 4, 5, 6, 7, 8, 0};
    cr_assert_neq(engine_ckpt_hash(0, z, 8), engine_ckpt_hash(0, z, 9));
}

/* Child: saves snapshots k = 1, 2, ... of varying sizes (some force growth),
 * each holding the pattern for k and starting with k; marks k + 1 after
 * each. Never returns. */
static void writer(void)
{
    engine_ckpt c;
    static unsigned char data[200000];
    if (engine_ckpt_init(&c, NAME) != 0)
        _exit(3);
    for (uint64_t k = 1;; k++) {
        size_t n = 16 + (k * 7919) % (k % 50 == 0 ? sizeof(data) - 16 : 5000);
        pattern(data, n, k);
        memcpy(data, &k, 8);
        if (save_bytes(&c, data, n) != 0)
            _exit(4);
        engine_ckpt_mark(&c, k + 1);
    }
}

Test(engine_ckpt, writer_killed_at_random_points_always_leaves_a_valid_snapshot)
{
    static unsigned char buf[200000];
    int rounds = (int)(40 * scale());
    if (rounds < 10)
        rounds = 10;
    srand((unsigned)getpid());
    uint64_t last = 0;
    for (int r = 0; r < rounds; r++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            writer();
        struct timespec ts = {0, (long)(1 + rand() % 20) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFSIGNALED(st), "writer exited by itself: 0x%x", st);
        engine_ckpt c;
        engine_ckpt_meta m;
        size_t len;
        uint64_t mark, k;
        cr_assert_eq(engine_ckpt_init(&c, NAME), 0);
        int rc = engine_ckpt_load(&c, &m, buf, sizeof(buf), &len, &mark);
        engine_ckpt_fini(&c);
        if (rc == MESH_ENOENT && r == 0)
            continue; /* killed before its first save completed */
        cr_assert_eq(rc, 0, "round %d: %s", r, mesh_strerror(rc));
        cr_assert_geq(len, 16);
        memcpy(&k, buf, 8);
        cr_assert(k >= 1 && m.serial >= k && m.serial >= last, "round %d: serial %llu for k %llu",
                  r, (unsigned long long)m.serial, (unsigned long long)k);
        cr_assert(is_pattern_from(buf, 8, len, k), "round %d: torn data in snapshot %llu", r,
                  (unsigned long long)k);
        /* writer: mark 0 before save 1, then k + 1 after save k */
        uint64_t at_save = k == 1 ? 0 : k;
        cr_assert_eq(m.mark, at_save, "round %d: snapshot %llu saved with mark %llu", r,
                     (unsigned long long)k, (unsigned long long)m.mark);
        cr_assert(mark == at_save || mark == k + 1, "round %d: progress %llu after snapshot %llu",
                  r, (unsigned long long)mark, (unsigned long long)k);
        /* the next writer starts at k = 1 over the same object; serials go on */
        last = m.serial;
    }
}
