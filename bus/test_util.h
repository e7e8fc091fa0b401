/* Helpers shared by the bus tests: workload scale, unique shm names, child
 * processes with bounded waits, deterministic payloads, /proc readings. */
#ifndef BUS_TEST_UTIL_H
#define BUS_TEST_UTIL_H

#include "bus_shm.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* MESH_TEST_SCALE (default 1) times n, at least `min`. */
static inline uint64_t tu_scaled(uint64_t n, uint64_t min)
{
    const char *s = getenv("MESH_TEST_SCALE");
    double f = s ? strtod(s, NULL) : 1.0;
    if (!(f > 0))
        f = 1.0;
    uint64_t v = (uint64_t)((double)n * f);
    return v < min ? min : v;
}

/* A shm name unique to this process and test: "/mesh.t<pid>.<kind>.<a>[.<b>]". */
static inline void tu_name(char *buf, size_t len, const char *kind, const char *a, const char *b)
{
    char mesh[32];
    snprintf(mesh, sizeof(mesh), "t%ld", (long)getpid());
    if (bus_shm_name(buf, len, mesh, kind, a, b) != 0)
        abort();
    bus_shm_unlink(buf); /* a leftover from a crashed earlier run */
}

/* Anonymous memory shared with forked children. */
static inline void *tu_shared(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void tu_sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

/* Waits up to `seconds` for child pid; kills it (SIGKILL) if it is still
 * running then. Returns its exit code, 128 + signal, or -1 on timeout. */
static inline int tu_wait_child(pid_t pid, unsigned seconds)
{
    int status;
    for (unsigned i = 0; i < seconds * 1000u; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (w < 0 && errno != EINTR)
            return -2;
        tu_sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* xorshift64*: the deterministic payload generator both sides use. */
static inline uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Payload length of message `seq` in [0, max]. */
static inline uint32_t tu_len(uint64_t seq, uint32_t max)
{
    uint64_t s = seq * 0x9e3779b97f4a7c15ull + 1;
    return (uint32_t)(tu_rand(&s) % ((uint64_t)max + 1));
}

/* Fills p with the payload of message `seq`. */
static inline void tu_fill(uint8_t *p, uint32_t len, uint64_t seq)
{
    uint64_t s = seq ^ 0xd1b54a32d192ed03ull;
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = tu_rand(&s);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
}

/* 1 if p holds exactly the payload of message `seq`. */
static inline int tu_check(const uint8_t *p, uint32_t len, uint64_t seq)
{
    uint64_t s = seq ^ 0xd1b54a32d192ed03ull;
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = tu_rand(&s);
        if (memcmp(p + i, &v, len - i < 8 ? len - i : 8) != 0)
            return 0;
    }
    return 1;
}

/* FNV-1a over bytes, chained through h. */
static inline uint64_t tu_fnv(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Process state letter from /proc/<pid>/stat ('S' sleeping, 'R' running...)
 * and utime + stime in clock ticks. Returns 0 or -1. */
static inline int tu_proc_stat(pid_t pid, char *state, unsigned long long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* fields after comm: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state, &ut, &st) != 3)
        return -1;
    *ticks = ut + st;
    return 0;
}

#endif
