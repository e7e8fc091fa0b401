/* One error convention for the whole mesh: functions return 0 or a negative
 * MESH_E* code; one X-macro table gives every code its name and message. */
#ifndef MESH_ERROR_H
#define MESH_ERROR_H

#include <errno.h>

/* System codes keep their errno value (negated); mesh codes live at -4000. */
#define MESH_ERRNO_MAP(X)                                                                          \
    X(EPERM, -EPERM, "operation not permitted")                                                    \
    X(ENOENT, -ENOENT, "no such file, object or name")                                             \
    X(EINTR, -EINTR, "interrupted")                                                                \
    X(EIO, -EIO, "input/output error")                                                             \
    X(EBADF, -EBADF, "bad file descriptor")                                                        \
    X(ECHILD, -ECHILD, "no child process")                                                         \
    X(EAGAIN, -EAGAIN, "would block: try again")                                                   \
    X(ENOMEM, -ENOMEM, "out of memory")                                                            \
    X(EACCES, -EACCES, "permission denied")                                                        \
    X(EEXIST, -EEXIST, "already exists")                                                           \
    X(ENOTDIR, -ENOTDIR, "not a directory")                                                        \
    X(EINVAL, -EINVAL, "invalid argument")                                                         \
    X(EMFILE, -EMFILE, "too many open files")                                                      \
    X(ENOSPC, -ENOSPC, "no space left")                                                            \
    X(EPIPE, -EPIPE, "broken pipe")                                                                \
    X(ERANGE, -ERANGE, "value out of range")                                                       \
    X(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                                                \
    X(ENOSYS, -ENOSYS, "not supported by this system")                                             \
    X(EMSGSIZE, -EMSGSIZE, "message too large")                                                    \
    X(EADDRINUSE, -EADDRINUSE, "address already in use")                                           \
    X(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                           \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                          \
    X(ESRCH, -ESRCH, "no such process")                                                            \
    X(ECANCELED, -ECANCELED, "cancelled")

#define MESH_ERROR_MAP(X)                                                                          \
    X(ECORRUPT, -4001, "shared memory segment is corrupted or inconsistent")                       \
    X(EFOREIGN, -4002, "object is not a mesh segment (bad magic)")                                 \
    X(EVERSION, -4003, "segment layout version mismatch")                                          \
    X(ETOOBIG, -4004, "record larger than the ring allows")                                        \
    X(EPROTO, -4005, "malformed message payload")                                                  \
    X(EUNKNOWNTYPE, -4006, "unknown message type id")                                              \
    X(ECONFIG, -4007, "invalid mesh configuration")                                                \
    X(ECLOSED, -4008, "closed or shutting down")                                                   \
    X(ECSV, -4009, "malformed CSV input")                                                          \
    X(ESTATE, -4010, "operation not allowed in this state")                                        \
    X(ESYS, -4011, "unmapped system error")

enum mesh_error_code {
#define MESH_ERR_ENUM(name, value, msg) MESH_##name = value,
    MESH_ERRNO_MAP(MESH_ERR_ENUM) MESH_ERROR_MAP(MESH_ERR_ENUM)
#undef MESH_ERR_ENUM
};

/* Message for a code (0 gives "ok"); never NULL. Thread-safe. */
const char *mesh_strerror(int code);

/* Symbolic name for a code ("MESH_ENOENT"); never NULL. Thread-safe. */
const char *mesh_err_name(int code);

/* Maps an errno value (positive) to a MESH_E* code; unknown values give
 * MESH_ESYS. Call at the system-call boundary. */
int mesh_err_from_errno(int err);

#endif
