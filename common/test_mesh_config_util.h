/* Helpers shared by the config loader tests (test_mesh_config*.c). Each
 * Criterion test runs in its own process with its own temporary directory. */
#ifndef TEST_MESH_CONFIG_UTIL_H
#define TEST_MESH_CONFIG_UTIL_H

#include "mesh_config.h"

#include <sys/types.h>

extern char dir[64];       /* this test's temporary directory */
extern char cfg_path[128]; /* dir/mesh.yaml, written by load() */
extern char errbuf[16384]; /* errors of the last load() */

/* Criterion .init / .fini: make and remove dir. */
void cfgtest_setup(void);
void cfgtest_teardown(void);

/* The tests' own message-type registry: trade=0 quote=1 bar=2 features=3
 * vpin=4 order=5 pretrade=6; anything else is MESH_EUNKNOWNTYPE. */
int lookup_type(const char *name, void *arg);

/* Writes dir/name (creating one level of parent directory) with mode. */
void write_file(const char *name, const char *text, mode_t mode);

/* Writes an executable shell script dir/name. */
void make_exec(const char *name);

/* Writes text to cfg_path and loads it with search_path = dir and
 * lookup_type; errors land in errbuf. Returns the loader's code. */
int load(const char *text, mesh_config **out);

/* 1 when an error line starts with "<cfg_path>:<line>:" and contains phrase. */
int has_error(int line, const char *phrase);

/* Number of error lines in errbuf. */
int error_lines(void);

/* Asserts that text is refused (MESH_ECONFIG, no config) and one error at
 * `line` contains `phrase`. */
void refused(const char *text, int line, const char *phrase);

/* Asserts got == dir + "/" + rel. */
void expect_path(const char *got, const char *rel);

#define HEAD     "mesh:\n  name: t\n" /* lines 1-2 */
#define ENGINE_A "  - name: a\n    binary: /bin/true\n"
#define ENGINE_B "  - name: b\n    binary: /bin/true\n"

#endif
