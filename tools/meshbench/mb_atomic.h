/* meshbench's atomics on memory shared by the two roles: Concurrency Kit,
 * except under ThreadSanitizer, where ck 0.7's volatile loads and stores are
 * invisible to it and the same orderings use GCC __atomic builtins (the same
 * choice as bus/bus_atomic.h). */
#ifndef MB_ATOMIC_H
#define MB_ATOMIC_H

#include <ck_pr.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define MB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MB_TSAN 1
#endif
#endif

#ifdef MB_TSAN

static inline uint32_t mb_load_acq_32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline uint64_t mb_load_acq_64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void mb_store_rel_32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void mb_store_rel_64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void mb_inc_32(uint32_t *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
}
static inline bool mb_cas_32(uint32_t *p, uint32_t expect, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expect, desired, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

#else

/* Load, then acquire fence: later accesses stay after the load. */
static inline uint32_t mb_load_acq_32(const uint32_t *p)
{
    uint32_t v = ck_pr_load_32(p);
    ck_pr_fence_acquire();
    return v;
}
static inline uint64_t mb_load_acq_64(const uint64_t *p)
{
    uint64_t v = ck_pr_load_64(p);
    ck_pr_fence_acquire();
    return v;
}
/* Release fence, then store: earlier accesses stay before the store. */
static inline void mb_store_rel_32(uint32_t *p, uint32_t v)
{
    ck_pr_fence_release();
    ck_pr_store_32(p, v);
}
static inline void mb_store_rel_64(uint64_t *p, uint64_t v)
{
    ck_pr_fence_release();
    ck_pr_store_64(p, v);
}
/* Atomic increment; a full barrier (locked instruction on x86). */
static inline void mb_inc_32(uint32_t *p)
{
    ck_pr_inc_32(p);
}
/* Compare-and-swap, full barrier; true when *p was expect. */
static inline bool mb_cas_32(uint32_t *p, uint32_t expect, uint32_t desired)
{
    return ck_pr_cas_32(p, expect, desired);
}

#endif

#endif
