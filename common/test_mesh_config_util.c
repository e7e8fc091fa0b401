/* Helpers shared by the config loader tests: a temporary directory per
 * test, fixture writing, and checks on the "file:line:col: ..." error lines. */
#include "test_mesh_config_util.h"
#include "mesh_error.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char dir[64];
char cfg_path[128];
char errbuf[16384];

void cfgtest_setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/meshcfg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfg_path, sizeof(cfg_path), "%s/mesh.yaml", dir);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

void cfgtest_teardown(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The test's own message-type registry. */
int lookup_type(const char *name, void *arg)
{
    static const char *const known[] = {"trade", "quote", "bar",     "features",
                                        "vpin",  "order", "pretrade"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(name, known[i]))
            return i;
    return MESH_EUNKNOWNTYPE;
}

/* Writes dir/name (creating one level of parent directory) with mode. */
void write_file(const char *name, const char *text, mode_t mode)
{
    char p[256];
    const char *slash = strchr(name, '/');
    if (slash) {
        snprintf(p, sizeof(p), "%s/%.*s", dir, (int)(slash - name), name);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
}

void make_exec(const char *name)
{
    write_file(name, "#!/bin/sh\nexit 0\n", 0755);
}

int load(const char *text, mesh_config **out)
{
    write_file("mesh.yaml", text, 0644);
    mesh_config_opts o = {.search_path = dir, .type_lookup = lookup_type};
    *out = (mesh_config *)&o; /* must be reset by the loader */
    return mesh_config_load(out, cfg_path, &o, errbuf, sizeof(errbuf));
}

/* 1 when an error line starts with "<file>:<line>:" and contains phrase. */
int has_error(int line, const char *phrase)
{
    char prefix[160];
    int n = snprintf(prefix, sizeof(prefix), "%s:%d:", cfg_path, line);
    for (const char *l = errbuf; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char one[4096];
        snprintf(one, sizeof(one), "%.*s", (int)len, l);
        if (!strncmp(one, prefix, (size_t)n) && strstr(one, phrase))
            return 1;
        if (!end)
            break;
        l = end + 1;
    }
    return 0;
}

int error_lines(void)
{
    int n = 0;
    for (const char *p = errbuf; *p; p++)
        n += *p == '\n';
    return n;
}

/* Asserts that `text` is refused and one error at `line` contains `phrase`. */
void refused(const char *text, int line, const char *phrase)
{
    mesh_config *cfg;
    int rc = load(text, &cfg);
    cr_assert_eq(rc, MESH_ECONFIG, "rc %d (%s), errors:\n%s", rc, mesh_strerror(rc), errbuf);
    cr_assert_null(cfg);
    cr_assert(has_error(line, phrase), "want line %d with \"%s\"; got:\n%s", line, phrase, errbuf);
}

void expect_path(const char *got, const char *rel)
{
    char want[256];
    snprintf(want, sizeof(want), "%s/%s", dir, rel);
    cr_assert_str_eq(got, want);
}
