/* Latency histogram: log-linear buckets (64 per power of two, so any value is
 * reported within 1/64 of itself), fixed size and pointer-free so it can live
 * in shared memory and be read by another process while its owner records. */
#ifndef MESH_HIST_H
#define MESH_HIST_H

#include <stdint.h>

#define MESH_HIST_SUB_BITS 6
#define MESH_HIST_SUB      (1u << MESH_HIST_SUB_BITS)
#define MESH_HIST_MAX_EXP  41 /* values >= 2^41 ns (~36 min) land in the top bucket */
#define MESH_HIST_BUCKETS  (MESH_HIST_SUB + (MESH_HIST_MAX_EXP - MESH_HIST_SUB_BITS) * MESH_HIST_SUB)

typedef struct mesh_hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[MESH_HIST_BUCKETS];
} mesh_hist;

/* Empties the histogram. Not concurrent with mesh_hist_record. */
void mesh_hist_reset(mesh_hist *h);

/* Adds one value. One writer at a time; readers in other threads or processes
 * may call the read functions concurrently (they see a slightly stale view). */
void mesh_hist_record(mesh_hist *h, uint64_t value);

/* Value at percentile p (0..100): the midpoint of the bucket holding it, the
 * exact value below 64. Returns 0 for an empty histogram. */
uint64_t mesh_hist_percentile(const mesh_hist *h, double p);

/* Adds every count of src into dst. dst must not be recorded into meanwhile. */
void mesh_hist_merge(mesh_hist *dst, const mesh_hist *src);

/* Bucket index of a value, and a representative value of a bucket (exposed
 * for tests). */
unsigned mesh_hist_index(uint64_t value);
uint64_t mesh_hist_bucket_value(unsigned index);

#endif
