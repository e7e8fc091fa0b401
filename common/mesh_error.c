/* The table behind mesh_strerror / mesh_err_name and the errno mapping. */
#include "mesh_error.h"

const char *mesh_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
#define MESH_ERR_MSG(name, value, msg)                                                             \
    case value:                                                                                    \
        return msg;
        MESH_ERRNO_MAP(MESH_ERR_MSG)
        MESH_ERROR_MAP(MESH_ERR_MSG)
#undef MESH_ERR_MSG
    default:
        return "unknown error";
    }
}

const char *mesh_err_name(int code)
{
    switch (code) {
    case 0:
        return "MESH_OK";
#define MESH_ERR_NAME(name, value, msg)                                                            \
    case value:                                                                                    \
        return "MESH_" #name;
        MESH_ERRNO_MAP(MESH_ERR_NAME)
        MESH_ERROR_MAP(MESH_ERR_NAME)
#undef MESH_ERR_NAME
    default:
        return "MESH_EUNKNOWN";
    }
}

int mesh_err_from_errno(int err)
{
    switch (-err) {
#define MESH_ERR_MAPPED(name, value, msg)                                                          \
    case value:                                                                                    \
        return value;
        MESH_ERRNO_MAP(MESH_ERR_MAPPED)
#undef MESH_ERR_MAPPED
    default:
        return MESH_ESYS;
    }
}
