/* Internal: the few atomic forms the bus uses on shared memory, built from
 * Concurrency Kit. Under ThreadSanitizer they map to the same orderings on GCC
 * __atomic builtins, because ck 0.7's ck_pr_load/store are volatile accesses
 * and its x86 acquire/release fences are compiler barriers even with
 * CK_USE_CC_BUILTINS, which TSan reports as data races (verified). */
#ifndef BUS_ATOMIC_H
#define BUS_ATOMIC_H

#include <ck_pr.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define BUS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUS_TSAN 1
#endif
#endif

#ifdef BUS_TSAN

static inline uint64_t bus_load_acq_64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void bus_store_rel_64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint64_t bus_load_64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void bus_store_64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline uint32_t bus_load_32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void bus_store_32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* TSan does not support fences (GCC warns, -Wtsan): a relaxed locked RMW is
 * a full barrier on x86 and gives TSan no happens-before edge to hide races. */
static uint64_t bus_tsan_fence_word;
static inline void bus_fence_full(void)
{
    __atomic_fetch_add(&bus_tsan_fence_word, 0, __ATOMIC_RELAXED);
}
static inline void bus_inc_32(uint32_t *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
}
static inline void bus_fence_load(void)
{
    ck_pr_barrier(); /* x86 keeps loads in order; the compiler must too */
}
static inline void bus_fence_store(void)
{
    ck_pr_barrier(); /* x86 keeps stores in order; the compiler must too */
}

#else

/* Load then acquire fence: later loads and stores stay after the load. */
static inline uint64_t bus_load_acq_64(const uint64_t *p)
{
    uint64_t v = ck_pr_load_64(p);
    ck_pr_fence_acquire();
    return v;
}
/* Release fence then store: earlier loads and stores stay before the store. */
static inline void bus_store_rel_64(uint64_t *p, uint64_t v)
{
    ck_pr_fence_release();
    ck_pr_store_64(p, v);
}
static inline uint64_t bus_load_64(const uint64_t *p)
{
    return ck_pr_load_64(p);
}
static inline void bus_store_64(uint64_t *p, uint64_t v)
{
    ck_pr_store_64(p, v);
}
static inline uint32_t bus_load_32(const uint32_t *p)
{
    return ck_pr_load_32(p);
}
static inline void bus_store_32(uint32_t *p, uint32_t v)
{
    ck_pr_store_32(p, v);
}
/* Full fence (store-load ordering: mfence on x86). */
static inline void bus_fence_full(void)
{
    ck_pr_fence_memory();
}
/* Load-load fence: earlier loads complete before later loads. */
static inline void bus_fence_load(void)
{
    ck_pr_fence_load();
}
/* Store-store fence: earlier stores are visible before later stores (a
 * compiler barrier on x86, whose TSO keeps stores in order; a barrier
 * instruction where the hardware may reorder them). */
static inline void bus_fence_store(void)
{
    ck_pr_fence_store();
}
/* Atomic increment (lock-prefixed: several producers may ring one doorbell). */
static inline void bus_inc_32(uint32_t *p)
{
    ck_pr_inc_32(p);
}

#endif

/* Single-writer counter bump: plain load + atomic store is enough (no RMW),
 * readers in other processes see whole values. */
static inline void bus_add_64(uint64_t *p, uint64_t n)
{
    bus_store_64(p, bus_load_64(p) + n);
}

#endif
