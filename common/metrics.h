/* metrics.h - counters, gauges and histograms, written in the Prometheus text format.
 *
 * There is no global registry to lock: each owner keeps its numbers in its own structs
 * (a worker keeps its counters, the client keeps its own), updates them from its own
 * thread with metrics_inc()/metrics_add(), and whoever serves /metrics reads them with
 * metrics_get() (relaxed atomic loads; single writer, many readers) and sums per-worker
 * copies before writing. The writers below produce exposition format 0.0.4. */
#ifndef PUSHPROX_METRICS_H
#define PUSHPROX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The most finite buckets a histogram may have (+Inf is implied). */
#define METRICS_HIST_MAX_BUCKETS 24

static inline void metrics_add(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}
static inline void metrics_inc(uint64_t *c)
{
    metrics_add(c, 1);
}
static inline void metrics_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}
static inline uint64_t metrics_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* A histogram: one writer thread, any number of readers. */
struct metrics_hist {
    const double *bounds;                          /* upper bounds, ascending; shared, read-only */
    size_t n_bounds;                               /* <= METRICS_HIST_MAX_BUCKETS */
    uint64_t counts[METRICS_HIST_MAX_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t sum_bits; /* the double sum, as bits, so it can be read atomically */
    uint64_t count;
};

/* Bucket bounds used for request and scrape durations, in seconds (Prometheus' defaults). */
extern const double metrics_duration_bounds[];
extern const size_t metrics_duration_n_bounds;

void metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n_bounds);
void metrics_hist_observe(struct metrics_hist *h, double v); /* owner thread only */
/* Adds src's current values into dst (dst is private to the caller). Any thread. */
void metrics_hist_merge(struct metrics_hist *dst, const struct metrics_hist *src);

/* "# HELP name help\n# TYPE name type\n". type: "counter", "gauge", "histogram". */
int metrics_write_header(struct buf *out, const char *name, const char *type, const char *help);
/* One sample line. labels is the inside of {...}, e.g. code="200",path="/poll", or NULL. */
int metrics_write_sample(struct buf *out, const char *name, const char *labels, double v);
/* The _bucket, _sum and _count lines of one histogram series (no header). */
int metrics_write_hist(struct buf *out, const char *name, const char *labels,
                       const struct metrics_hist *h);
/* Escapes a label value (backslash, quote, newline) into out. v may be NULL when len is 0.
 * Returns 0 or -E2BIG/-ENOMEM (out unchanged). */
int metrics_write_label_value(struct buf *out, const char *v, size_t len);

/* process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_virtual_memory_max_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds, process_network_receive_bytes_total and
 * process_network_transmit_bytes_total (client_golang's nine on Linux), from /proc/self.
 * Returns 0, or a negative errno from buf (a /proc read failure skips that metric). */
int metrics_write_process(struct buf *out);

#endif
