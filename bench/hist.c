/* hist.c - log-bucketed latency histogram (see hist.h).
 * Owner: none shared; each hist belongs to the thread that records into it. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* For v >= HIST_SUB_COUNT keep the top HIST_SUB_BITS bits: mant = v >> shift lies in
 * [HALF, SUB), and idx = shift * HALF + mant continues exactly where the exact values
 * (idx = v) stop. */
size_t hist_index(uint64_t v)
{
    if (v < HIST_SUB_COUNT)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (HIST_SUB_BITS - 1);
    return (size_t)shift * HIST_HALF_COUNT + (size_t)(v >> shift);
}

uint64_t hist_bucket_low(size_t idx)
{
    if (idx < HIST_SUB_COUNT)
        return idx;
    size_t shift = idx / HIST_HALF_COUNT - 1;
    uint64_t mant = idx - shift * HIST_HALF_COUNT;
    return mant << shift;
}

uint64_t hist_bucket_high(size_t idx)
{
    if (idx < HIST_SUB_COUNT)
        return idx;
    size_t shift = idx / HIST_HALF_COUNT - 1;
    return hist_bucket_low(idx) + ((UINT64_C(1) << shift) - 1);
}

void hist_record(struct hist *h, uint64_t v)
{
    h->buckets[hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < HIST_N_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p <= 0)
        return h->min;
    /* The epsilon keeps 0.999 * 1000 (999.0000000000001 in binary) at rank 999. */
    double r = ceil(p / 100.0 * (double)h->count - 1e-9);
    uint64_t rank = r < 1 ? 1 : (uint64_t)r;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_N_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
