/* Log-linear histogram (HdrHistogram-like, 64 sub-buckets per octave). */
#include "mesh_hist.h"

#include <ck_pr.h>
#include <string.h>

void mesh_hist_reset(mesh_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned mesh_hist_index(uint64_t v)
{
    if (v < MESH_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e >= MESH_HIST_MAX_EXP)
        return MESH_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(v >> (e - MESH_HIST_SUB_BITS)) & (MESH_HIST_SUB - 1);
    return MESH_HIST_SUB + (e - MESH_HIST_SUB_BITS) * MESH_HIST_SUB + sub;
}

uint64_t mesh_hist_bucket_value(unsigned idx)
{
    if (idx < MESH_HIST_SUB)
        return idx;
    unsigned e = (idx - MESH_HIST_SUB) / MESH_HIST_SUB + MESH_HIST_SUB_BITS;
    unsigned sub = (idx - MESH_HIST_SUB) % MESH_HIST_SUB;
    unsigned shift = e - MESH_HIST_SUB_BITS;
    uint64_t low = (uint64_t)(MESH_HIST_SUB + sub) << shift;
    return low + (((uint64_t)1 << shift) >> 1);
}

/* Single writer: plain load + atomic store keeps readers in other processes
 * free of torn values (and TSan quiet); no read-modify-write is needed. */
static inline void hist_add(uint64_t *slot, uint64_t n)
{
    ck_pr_store_64(slot, ck_pr_load_64(slot) + n);
}

void mesh_hist_record(mesh_hist *h, uint64_t value)
{
    hist_add(&h->buckets[mesh_hist_index(value)], 1);
    hist_add(&h->sum, value);
    if (value < ck_pr_load_64(&h->min))
        ck_pr_store_64(&h->min, value);
    if (value > ck_pr_load_64(&h->max))
        ck_pr_store_64(&h->max, value);
    hist_add(&h->count, 1);
}

uint64_t mesh_hist_percentile(const mesh_hist *h, double p)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < MESH_HIST_BUCKETS; i++)
        total += ck_pr_load_64((uint64_t *)&h->buckets[i]);
    if (total == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)total + 0.5);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < MESH_HIST_BUCKETS; i++) {
        seen += ck_pr_load_64((uint64_t *)&h->buckets[i]);
        if (seen >= rank) {
            uint64_t v = mesh_hist_bucket_value(i);
            uint64_t mx = ck_pr_load_64((uint64_t *)&h->max);
            return v > mx ? mx : v;
        }
    }
    return ck_pr_load_64((uint64_t *)&h->max);
}

void mesh_hist_merge(mesh_hist *dst, const mesh_hist *src)
{
    for (unsigned i = 0; i < MESH_HIST_BUCKETS; i++)
        dst->buckets[i] += ck_pr_load_64((uint64_t *)&src->buckets[i]);
    dst->count += ck_pr_load_64((uint64_t *)&src->count);
    dst->sum += ck_pr_load_64((uint64_t *)&src->sum);
    uint64_t mn = ck_pr_load_64((uint64_t *)&src->min);
    uint64_t mx = ck_pr_load_64((uint64_t *)&src->max);
    if (mn < dst->min)
        dst->min = mn;
    if (mx > dst->max)
        dst->max = mx;
}
