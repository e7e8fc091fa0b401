/* Config loader tests of the API edges (unreadable files, small error
 * buffers, parsing from memory, engine_same), the documented example, and
 * seeded random mutations of it that must never crash. */
#include "test_mesh_config_util.h"
#include "mesh_error.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TestSuite(config_api, .init = cfgtest_setup, .fini = cfgtest_teardown);

/* ---- robustness: mutated configs ----------------------------------------- */

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One random edit of text (len bytes, room for 2 * len): flip a byte, cut
 * the tail, drop a span, repeat a span, or insert a YAML-significant char. */
static size_t mutate(char *text, size_t len)
{
    static const char special[] = ":-[]{},&*!|>'\"#%@`\t\n ";
    size_t at = len ? (size_t)(splitmix64() % len) : 0;
    size_t span = 1 + (size_t)(splitmix64() % 40);
    if (at + span > len)
        span = len - at;
    switch (splitmix64() % 5) {
    case 0:
        if (len)
            text[at] = (char)(splitmix64() & 0xff);
        return len;
    case 1:
        return at;
    case 2:
        memmove(text + at, text + at + span, len - at - span);
        return len - span;
    case 3:
        memmove(text + at + span, text + at, len - at);
        return len + span;
    default:
        memmove(text + at + 1, text + at, len - at);
        text[at] = special[splitmix64() % (sizeof(special) - 1)];
        return len + 1;
    }
}

Test(config_api, mutated_configs_never_crash_and_always_explain)
{
    /* Thousands of seeded random edits of the documented example: each load
     * either succeeds or fails with MESH_ECONFIG and error lines that all
     * start with the source name; ASan/UBSan builds check memory. */
    static const char *const names[] = {"marketdata", "features", "vpin", "strategy", "risk"};
    char p[512], bin[64];
    for (int i = 0; i < 5; i++) {
        snprintf(bin, sizeof(bin), "mesh-%s", names[i]);
        make_exec(bin);
    }
    const char *root = getenv("MESH_SOURCE_ROOT");
    cr_assert_not_null(root);
    snprintf(p, sizeof(p), "%s/common/testdata/config/example.yaml", root);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    static char orig[8192], text[8192 * 8];
    size_t olen = fread(orig, 1, sizeof(orig) - 1, f);
    fclose(f);
    const char *scale_s = getenv("MESH_TEST_SCALE");
    double scale = scale_s ? atof(scale_s) : 1.0;
    int iters = (int)(3000 * (scale > 0 ? scale : 1.0));
    mesh_config_opts o = {.search_path = dir, .type_lookup = lookup_type};
    int ok = 0, refusedn = 0;
    rng_state = 20240611;
    for (int it = 0; it < iters; it++) {
        memcpy(text, orig, olen);
        size_t len = olen;
        int edits = 1 + (int)(splitmix64() % 3);
        for (int k = 0; k < edits && len < 8192 * 3; k++)
            len = mutate(text, len);
        mesh_config *cfg;
        static char err[1 << 18]; /* room for 500 long lines: never cut here */
        int rc = mesh_config_parse(&cfg, text, len, "<fuzz>", dir, &o, err, sizeof(err));
        cr_assert(rc == 0 || rc == MESH_ECONFIG, "iteration %d: rc %d", it, rc);
        if (rc == 0) {
            cr_assert_not_null(cfg);
            ok++;
            mesh_config_free(cfg);
            continue;
        }
        refusedn++;
        cr_assert_null(cfg);
        cr_assert(!strncmp(err, "<fuzz>:", 7), "iteration %d: %s", it, err);
        for (const char *nl = strchr(err, '\n'); nl && nl[1]; nl = strchr(nl + 1, '\n'))
            cr_assert(!strncmp(nl + 1, "<fuzz>:", 7), "iteration %d: %s", it, err);
    }
    cr_log_info("%d mutated configs: %d loaded, %d refused", iters, ok, refusedn);
    cr_assert_gt(refusedn, 0);
}

Test(config_api, unreadable_file_gives_a_system_code)
{
    mesh_config *cfg = (mesh_config *)errbuf;
    char p[128];
    snprintf(p, sizeof(p), "%s/absent.yaml", dir);
    int rc = mesh_config_load(&cfg, p, NULL, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, MESH_ENOENT);
    cr_assert_null(cfg);
    cr_assert(strstr(errbuf, "cannot open the config file"), "%s", errbuf);
    rc = mesh_config_load(&cfg, dir, NULL, errbuf, sizeof(errbuf)); /* a directory */
    cr_assert_eq(rc, MESH_EINVAL);
    cr_assert(strstr(errbuf, "not a regular file"), "%s", errbuf);
}

Test(config_api, read_text_gives_the_bytes_and_the_resolved_directory)
{
    static const char text[] = HEAD "engines:\n" ENGINE_A;
    write_file("sub/mesh.yaml", text, 0644);
    char link[160], want_dir[PATH_MAX], got_dir[PATH_MAX], *got = NULL;
    snprintf(link, sizeof(link), "%s/link.yaml", dir);
    cr_assert_eq(symlink("sub/mesh.yaml", link), 0);
    cr_assert_not_null(realpath(dir, want_dir));
    strcat(want_dir, "/sub");
    size_t len = 0;
    int rc = mesh_config_read_text(link, &got, &len, got_dir, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, 0, "%s", errbuf);
    cr_assert_eq(len, strlen(text));
    cr_assert_str_eq(got, text);
    cr_assert_str_eq(got_dir, want_dir, "the directory of the file the link names");
    free(got);
}

Test(config_api, read_text_refuses_a_file_whose_size_is_not_what_fstat_said)
{
    /* procfs files say size 0 and then give bytes: as a file that grew
     * between fstat and read. Reading one byte past the stat size used to
     * write the NUL past the buffer (ASan: heap-buffer-overflow). */
    char *got = (char *)errbuf, d[PATH_MAX];
    size_t len = 7;
    int rc = mesh_config_read_text("/proc/self/status", &got, &len, d, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, MESH_EIO, "%s", errbuf);
    cr_assert_null(got);
    cr_assert(strstr(errbuf, "/proc/self/status:0:0: cannot read the config file whole"), "%s",
              errbuf);
    mesh_config *cfg = NULL;
    cr_assert_eq(mesh_config_load(&cfg, "/proc/self/status", NULL, errbuf, sizeof(errbuf)),
                 MESH_EIO);
    cr_assert_null(cfg);
}

Test(config_api, read_text_refuses_long_paths_and_files_over_4_mib)
{
    char *got = NULL, d[PATH_MAX], p[700];
    size_t len;
    /* mesh_config.path holds 511 characters: 512 would be cut. */
    memset(p, 'x', 512);
    p[0] = '/';
    p[512] = '\0';
    int rc = mesh_config_read_text(p, &got, &len, d, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, MESH_ENAMETOOLONG, "%s", errbuf);
    cr_assert(strstr(errbuf, "cannot open the config file"), "%s", errbuf);
    mesh_config *cfg = NULL;
    rc = mesh_config_parse(&cfg, "mesh: {name: t}\n", 16, p, "/", NULL, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, MESH_ENAMETOOLONG, "a name mesh_config.path would cut: %s", errbuf);
    /* 4 MiB + 1 byte (sparse). */
    write_file("big.yaml", "", 0644);
    snprintf(p, sizeof(p), "%s/big.yaml", dir);
    cr_assert_eq(truncate(p, 4 * 1024 * 1024 + 1), 0);
    rc = mesh_config_read_text(p, &got, &len, d, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, MESH_EINVAL, "%s", errbuf);
    cr_assert(strstr(errbuf, "larger than 4 MiB"), "%s", errbuf);
    cr_assert_null(got);
    cr_assert_eq(truncate(p, 4 * 1024 * 1024), 0); /* exactly the limit: read */
    rc = mesh_config_read_text(p, &got, &len, d, errbuf, sizeof(errbuf));
    cr_assert_eq(rc, 0, "%s", errbuf);
    cr_assert_eq(len, 4 * 1024 * 1024);
    free(got);
}

Test(config_api, small_or_absent_error_buffer)
{
    static const char bad[] =
        HEAD "engines:\n  - name: a\n    binary: /nonexistent/a\n    cpu: x\n";
    mesh_config *cfg;
    write_file("mesh.yaml", bad, 0644);
    cr_assert_eq(mesh_config_load(&cfg, cfg_path, NULL, NULL, 0), MESH_ECONFIG);
    cr_assert_null(cfg);
    char small[24];
    memset(small, 'Z', sizeof(small));
    cr_assert_eq(mesh_config_load(&cfg, cfg_path, NULL, small, sizeof(small)), MESH_ECONFIG);
    cr_assert_eq(strlen(small), sizeof(small) - 1); /* cut to fit, NUL-terminated */
    cr_assert_str_eq(small + sizeof(small) - 4, "...");
}

Test(config_api, no_type_lookup_keeps_names_with_id_minus_one)
{
    mesh_config *cfg;
    char err[512];
    static const char text[] = HEAD "engines:\n" ENGINE_A ENGINE_B
                                    "routes:\n  - {from: a, to: b, types: [anything, goes]}\n";
    int rc = mesh_config_parse(&cfg, text, strlen(text), "<mem>", dir, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->routes[0].ntypes, 2);
    cr_assert_eq(cfg->routes[0].types[0], -1);
    cr_assert_str_eq(cfg->routes[0].type_names[1], "goes");
    mesh_config_free(cfg);
}

Test(config_api, parse_from_memory_names_its_source_and_base_dir)
{
    make_exec("sub/eng");
    mesh_config *cfg;
    char err[1024];
    static const char good[] = HEAD "engines:\n  - {name: e, binary: ./sub/eng}\n";
    int rc = mesh_config_parse(&cfg, good, strlen(good), "<builtin>", dir, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    expect_path(cfg->engines[0].binary, "sub/eng");
    mesh_config_free(cfg);
    static const char bad[] = HEAD "engines:\n  - {name: e, binary: ./sub/eng, wait: never}\n";
    rc = mesh_config_parse(&cfg, bad, strlen(bad), "<builtin>", dir, NULL, err, sizeof(err));
    cr_assert_eq(rc, MESH_ECONFIG);
    cr_assert_null(cfg);
    cr_assert(!strncmp(err, "<builtin>:4:", 12), "%s", err);
    /* A relative base directory still yields an absolute binary path. */
    cr_assert_eq(chdir("/tmp"), 0);
    rc = mesh_config_parse(&cfg, good, strlen(good), NULL, dir + strlen("/tmp/"), NULL, err,
                           sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    expect_path(cfg->engines[0].binary, "sub/eng");
    cr_assert_str_eq(cfg->path, "<config>");
    mesh_config_free(cfg);
}

Test(config_api, engine_same_compares_binary_argv_env_and_cpu)
{
    mesh_config *a, *b;
    char err[2048];
    static const char one[] = HEAD "engines:\n"
                                   "  - {name: p, binary: /bin/true, args: [-x], env: {K: v}}\n"
                                   "  - {name: q, binary: /bin/true, args: [-x], env: {K: v}}\n";
    static const char two[] = HEAD "engines:\n"
                                   "  - {name: p, binary: /bin/true, args: [-x], env: {K: v},\n"
                                   "     heartbeat_timeout_ms: 1, restart: temporary}\n"
                                   "  - {name: q, binary: /bin/true, args: [-y], env: {K: v}}\n"
                                   "  - {name: r, binary: /bin/true, args: [-x], env: {K: w}}\n"
                                   "  - {name: s, binary: /bin/true, args: [-x], env: {K: v}, "
                                   "cpu: 0}\n"
                                   "  - {name: t, binary: /bin/sh, args: [-x], env: {K: v}}\n";
    cr_assert_eq(mesh_config_parse(&a, one, strlen(one), "one", dir, NULL, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(mesh_config_parse(&b, two, strlen(two), "two", dir, NULL, err, sizeof(err)), 0,
                 "%s", err);
    const mesh_engine_cfg *p = &a->engines[0];
    cr_assert_eq(mesh_config_engine_same(p, &a->engines[1]), 1); /* names differ only */
    cr_assert_eq(mesh_config_engine_same(p, &b->engines[0]), 1); /* supervision only */
    cr_assert_eq(mesh_config_engine_same(p, &b->engines[1]), 0); /* args */
    cr_assert_eq(mesh_config_engine_same(p, &b->engines[2]), 0); /* env */
    cr_assert_eq(mesh_config_engine_same(p, &b->engines[3]), 0); /* cpu */
    cr_assert_eq(mesh_config_engine_same(p, &b->engines[4]), 0); /* binary */
    mesh_config_free(a);
    mesh_config_free(b);
    mesh_config_free(NULL);
}

Test(config_api, documented_example_loads)
{
    /* common/testdata/config/example.yaml is the example in docs/CONFIG.md.
     * Its engines (default binary names) are stand-ins made here. */
    static const char *const names[] = {"marketdata", "features", "vpin", "strategy", "risk"};
    char bin[64], p[512], err[4096];
    for (int i = 0; i < 5; i++) {
        snprintf(bin, sizeof(bin), "mesh-%s", names[i]);
        make_exec(bin);
    }
    const char *root = getenv("MESH_SOURCE_ROOT");
    cr_assert_not_null(root, "run through meson test (MESH_SOURCE_ROOT)");
    snprintf(p, sizeof(p), "%s/common/testdata/config/example.yaml", root);
    mesh_config_opts o = {.search_path = dir, .type_lookup = lookup_type};
    mesh_config *cfg;
    int rc = mesh_config_load(&cfg, p, &o, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->nengines, 5);
    /* marketdata=0 features=1 vpin=2 strategy=3 risk=4; strategy needs
     * features, vpin and risk, so risk (ready after marketdata) precedes it:
     * 0, 1, 2, then 3 waits for 4 -> 4, 3. */
    int want[] = {0, 1, 2, 4, 3};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(cfg->start_order[i], want[i], "start_order[%d]", i);
    /* md -> [features, vpin]; features -> strategy; vpin -> strategy;
     * strategy -> risk; vpin -> dashboard on hostb: 6 routes. */
    cr_assert_eq(cfg->nroutes, 6);
    cr_assert_eq(cfg->routes[5].peer, 0);
    mesh_config_free(cfg);
}

Test(config_api, docs_example_matches_the_fixture)
{
    /* docs/CONFIG.md shows the fixture (without its first comment line) in
     * its first yaml block: the two must not drift apart. */
    const char *root = getenv("MESH_SOURCE_ROOT");
    cr_assert_not_null(root);
    static char doc[65536], fx[8192];
    char p[512];
    snprintf(p, sizeof(p), "%s/docs/CONFIG.md", root);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    doc[fread(doc, 1, sizeof(doc) - 1, f)] = '\0';
    fclose(f);
    snprintf(p, sizeof(p), "%s/common/testdata/config/example.yaml", root);
    f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    fx[fread(fx, 1, sizeof(fx) - 1, f)] = '\0';
    fclose(f);
    char *start = strstr(doc, "```yaml\n"), *fx_body = strchr(fx, '\n');
    cr_assert(start && fx_body);
    start += strlen("```yaml\n");
    char *end = strstr(start, "```");
    cr_assert_not_null(end);
    *end = '\0';
    cr_assert_str_eq(start, fx_body + 1);
}

Test(config_api, no_binary_check_keeps_missing_binaries_as_written)
{
    mesh_config *cfg;
    char err[1024];
    static const char text[] = HEAD "engines:\n  - {name: e, binary: mesh-not-installed-anywhere}\n"
                                    "  - {name: f, binary: ./not/here}\n";
    /* Without the flag both are refused ... */
    int rc = mesh_config_parse(&cfg, text, strlen(text), "<mem>", dir, NULL, err, sizeof(err));
    cr_assert_eq(rc, MESH_ECONFIG);
    cr_assert(strstr(err, "not found") != NULL, "%s", err);
    /* ... with it (a tool reading a running mesh) they load, kept verbatim. */
    mesh_config_opts opts = {.no_binary_check = 1};
    rc = mesh_config_parse(&cfg, text, strlen(text), "<mem>", dir, &opts, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(cfg->engines[0].binary, "mesh-not-installed-anywhere");
    cr_assert_str_eq(cfg->engines[1].binary, "./not/here");
    cr_assert_str_eq(cfg->engines[1].argv[0], "./not/here");
    mesh_config_free(cfg);
}

/* A memfd holding text, sealed as meshd seals its snapshot (or with `seals`
 * only; 0 = none), as sup_config_snapshot makes it. */
static int sealed_memfd(const char *text, size_t len, int seals)
{
    int fd = memfd_create("test-snapshot", MFD_ALLOW_SEALING);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    if (seals != 0)
        cr_assert_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
    return fd;
}

#define MESHD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

Test(config_api, given_snapshot_wins_over_the_file_and_is_closed)
{
    /* The file on disk says engines a and b; the snapshot meshd runs says a only. */
    static const char file_text[] = HEAD "engines:\n" ENGINE_A ENGINE_B;
    static const char snap_text[] = HEAD "engines:\n" ENGINE_A;
    mesh_config *cfg = NULL;
    char err[1024] = "", fds[16];
    cr_assert_eq(load(file_text, &cfg), 0, "%s", errbuf);
    cr_assert_eq(cfg->nengines, 2);
    mesh_config_free(cfg);
    int fd = sealed_memfd(snap_text, sizeof(snap_text) - 1, MESHD_SEALS);
    snprintf(fds, sizeof(fds), "%d", fd);
    cr_assert_eq(setenv("MESH_CONFIG_FD", fds, 1), 0);
    mesh_config_opts opts = {.search_path = dir, .type_lookup = lookup_type};
    int rc =
        mesh_config_load_given(&cfg, cfg_path, getenv("MESH_CONFIG_FD"), &opts, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->nengines, 1, "the snapshot, not the file");
    cr_assert_str_eq(cfg->path, cfg_path, "messages still name the file");
    mesh_config_free(cfg);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the snapshot fd is closed after reading");
    cr_assert_null(getenv("MESH_CONFIG_FD"), "children must not look for the closed fd");
    /* Without a snapshot: the file. */
    rc = mesh_config_load_given(&cfg, cfg_path, NULL, &opts, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->nengines, 2);
    mesh_config_free(cfg);
}

Test(config_api, given_snapshot_that_is_not_sealed_is_refused_and_left_open)
{
    static const char snap_text[] = HEAD "engines:\n" ENGINE_A;
    mesh_config *cfg = NULL;
    char err[512] = "", fds[16];
    mesh_config_opts opts = {.search_path = dir, .type_lookup = lookup_type};
    /* A regular file anyone may rewrite, a memfd without seals, and one
     * sealed against writes only (it could still shrink or grow). */
    char snap[128];
    snprintf(snap, sizeof(snap), "%s/snapshot", dir);
    write_file("snapshot", snap_text, 0444);
    int fds_bad[3] = {open(snap, O_RDONLY), sealed_memfd(snap_text, sizeof(snap_text) - 1, 0),
                      sealed_memfd(snap_text, sizeof(snap_text) - 1, F_SEAL_WRITE)};
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(fds_bad[i], 0);
        snprintf(fds, sizeof(fds), "%d", fds_bad[i]);
        cr_assert_eq(setenv("MESH_CONFIG_FD", fds, 1), 0);
        int rc = mesh_config_load_given(&cfg, cfg_path, fds, &opts, err, sizeof(err));
        cr_assert_eq(rc, MESH_EBADF, "case %d: %s", i, err);
        cr_assert_null(cfg);
        cr_assert(strstr(err, "MESH_CONFIG_FD=") && strstr(err, "not sealed"), "case %d: %s", i,
                  err);
        cr_assert_neq(fcntl(fds_bad[i], F_GETFD), -1, "case %d: not ours to close", i);
        cr_assert_not_null(getenv("MESH_CONFIG_FD"), "case %d", i);
        close(fds_bad[i]);
    }
}

Test(config_api, given_snapshot_larger_than_meshd_reads_is_refused)
{
    /* Sparse: 1 byte past the cap costs no memory. meshd never snapshots a
     * file that large (mesh_config_read_text refuses it). */
    mesh_config *cfg = NULL;
    char err[512] = "", fds[16];
    int fd = memfd_create("test-snapshot", MFD_ALLOW_SEALING);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)(4u << 20) + 1), 0);
    cr_assert_eq(fcntl(fd, F_ADD_SEALS, MESHD_SEALS), 0);
    snprintf(fds, sizeof(fds), "%d", fd);
    mesh_config_opts opts = {.search_path = dir, .type_lookup = lookup_type};
    int rc = mesh_config_load_given(&cfg, cfg_path, fds, &opts, err, sizeof(err));
    cr_assert_eq(rc, MESH_EINVAL, "%s", err);
    cr_assert(strstr(err, "larger than 4 MiB"), "%s", err);
    close(fd);
}

Test(config_api, given_snapshot_fd_that_is_not_open_is_refused)
{
    mesh_config *cfg = NULL;
    char err[256] = "";
    mesh_config_opts opts = {.search_path = dir, .type_lookup = lookup_type};
    const char *bad[] = {"999", "4x", "-1", "99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = mesh_config_load_given(&cfg, cfg_path, bad[i], &opts, err, sizeof(err));
        cr_assert_eq(rc, MESH_EBADF, "'%s'", bad[i]);
        cr_assert_null(cfg);
        cr_assert(strstr(err, "MESH_CONFIG_FD") != NULL, "%s", err);
    }
}
