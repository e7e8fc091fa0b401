/* Argument parsing helpers shared by the test engines: strict numbers and a
 * clear message naming the option on bad input. */
#ifndef TEST_ENGINE_ARGS_H
#define TEST_ENGINE_ARGS_H

#include <stdint.h>

/* Logs "<opt> '<value>': <why>" and returns MESH_EINVAL. */
int test_arg_fail(const char *opt, const char *value, const char *why);

/* Parses a decimal integer in [lo, hi] into *out. Returns 0, or logs and
 * returns MESH_EINVAL (empty, trailing characters, sign, out of range). */
int test_arg_u64(const char *opt, const char *value, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
