/* Strict option-value parsing for the test engines. */
#include "test_engine_args.h"

#include <errno.h>
#include <stdlib.h>

#include "mesh_error.h"
#include "mesh_log.h"

int test_arg_fail(const char *opt, const char *value, const char *why)
{
    mesh_error("%s '%s': %s (see --help)", opt, value ? value : "", why);
    return MESH_EINVAL;
}

int test_arg_u64(const char *opt, const char *value, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!value || *value < '0' || *value > '9')
        return test_arg_fail(opt, value, "expected a non-negative decimal integer");
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end != '\0')
        return test_arg_fail(opt, value, "expected a non-negative decimal integer");
    if (v < lo || v > hi) {
        mesh_error("%s '%s': out of range [%llu, %llu] (see --help)", opt, value,
                   (unsigned long long)lo, (unsigned long long)hi);
        return MESH_EINVAL;
    }
    *out = v;
    return 0;
}
