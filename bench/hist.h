/* hist.h - a log-bucketed latency histogram (HdrHistogram's idea, in ~100 lines).
 *
 * Values are unsigned 64-bit (the bench records nanoseconds). Values below HIST_SUB_COUNT
 * are counted exactly; above, each power of two is split into HIST_SUB_COUNT/2 buckets, so
 * a value's bucket is at most 1/64 (1.6%) wider than the value: percentiles come out with
 * that relative error, from a fixed 30 KiB array, with O(1) recording and exact merging.
 * min, max, count and sum are kept exactly.
 *
 * Owner: a hist belongs to one thread; merge copies into a private one. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

/* 2^7 = 128 exact values, then 64 sub-buckets per power of two (1/64 resolution). */
#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_HALF_COUNT (HIST_SUB_COUNT / 2)
/* Largest shift is 63 - (HIST_SUB_BITS - 1); the index of a value fits below this. */
#define HIST_N_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_HALF_COUNT + HIST_HALF_COUNT)

struct hist {
    uint64_t count;
    uint64_t min, max; /* min is UINT64_MAX while empty */
    double sum;
    uint64_t buckets[HIST_N_BUCKETS];
};

/* Empties h. Can't fail. */
void hist_init(struct hist *h);

/* Counts one value. Can't fail. */
void hist_record(struct hist *h, uint64_t v);

/* Adds every value of src into dst. Can't fail. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile p (0 < p <= 100): the highest value of the bucket holding the
 * ceil(p/100 * count)-th smallest value, capped at max (so p100 == max). 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);

double hist_mean(const struct hist *h);

/* The bucket of a value, and the lowest / highest value a bucket holds (exposed for tests). */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx);

#endif
