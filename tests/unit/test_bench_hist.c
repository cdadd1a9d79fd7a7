/* test_bench_hist.c - the bench's log-bucketed latency histogram. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../../bench/hist.h"

static struct hist *h;

static void setup(void)
{
    h = malloc(sizeof(*h));
    hist_init(h);
}

static void teardown(void)
{
    free(h);
}

TestSuite(bench_hist, .init = setup, .fini = teardown);

Test(bench_hist, small_values_have_their_own_bucket)
{
    for (uint64_t v = 0; v < HIST_SUB_COUNT; v++) {
        cr_assert_eq(hist_index(v), v);
        cr_assert_eq(hist_bucket_low(v), v);
        cr_assert_eq(hist_bucket_high(v), v);
    }
}

Test(bench_hist, buckets_are_contiguous_and_contain_their_values)
{
    /* Every bucket starts right after the previous one ends. */
    for (size_t i = 1; i < HIST_N_BUCKETS; i++)
        cr_assert_eq(hist_bucket_low(i), hist_bucket_high(i - 1) + 1, "bucket %zu", i);
    uint64_t vals[] = {128, 129, 255, 256, 1000, 123456, 999999999, UINT64_C(1) << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t idx = hist_index(vals[i]);
        cr_assert_lt(idx, HIST_N_BUCKETS);
        cr_assert_leq(hist_bucket_low(idx), vals[i]);
        cr_assert_geq(hist_bucket_high(idx), vals[i]);
    }
}

Test(bench_hist, bucket_width_is_within_one_sixty_fourth)
{
    for (uint64_t v = 200; v < (UINT64_C(1) << 50); v = v * 3 + 7) {
        size_t idx = hist_index(v);
        uint64_t width = hist_bucket_high(idx) - hist_bucket_low(idx) + 1;
        cr_assert_leq(width * 64, hist_bucket_low(idx), "v=%llu", (unsigned long long)v);
    }
}

Test(bench_hist, percentiles_of_uniform_values)
{
    for (uint64_t v = 1; v <= 10000; v++)
        hist_record(h, v * 1000); /* 1 us .. 10 ms in ns */
    cr_assert_eq(h->count, 10000);
    cr_assert_eq(h->min, 1000);
    cr_assert_eq(h->max, 10000000);
    struct {
        double p;
        double want;
    } cases[] = {{50, 5000000}, {90, 9000000}, {99, 9900000}, {99.9, 9990000}, {100, 10000000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = (double)hist_percentile(h, cases[i].p);
        cr_assert_geq(got, cases[i].want, "p%g", cases[i].p);
        cr_assert_leq(got, cases[i].want * (1 + 1.0 / 64), "p%g = %g", cases[i].p, got);
    }
    cr_assert_float_eq(hist_mean(h), 5000500.0, 1e-3);
}

Test(bench_hist, an_outlier_shows_in_max_and_p100_only)
{
    for (int i = 0; i < 999; i++)
        hist_record(h, 100);
    hist_record(h, 5000000);
    cr_assert_eq(hist_percentile(h, 99), 100);
    cr_assert_eq(hist_percentile(h, 99.9), 100);
    cr_assert_eq(hist_percentile(h, 100), 5000000);
    cr_assert_eq(h->max, 5000000);
}

Test(bench_hist, empty_histogram_reports_zero)
{
    cr_assert_eq(hist_percentile(h, 50), 0);
    cr_assert_eq(hist_percentile(h, 99.9), 0);
    cr_assert_float_eq(hist_mean(h), 0.0, 1e-12);
}

Test(bench_hist, merge_equals_recording_everything_in_one)
{
    struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    hist_init(a);
    hist_init(b);
    for (uint64_t v = 1; v < 5000; v += 3) {
        hist_record(v % 2 ? a : b, v * 777);
        hist_record(h, v * 777);
    }
    struct hist *m = malloc(sizeof(*m));
    hist_init(m);
    hist_merge(m, a);
    hist_merge(m, b);
    cr_assert_eq(m->count, h->count);
    cr_assert_eq(m->min, h->min);
    cr_assert_eq(m->max, h->max);
    double ps[] = {1, 50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        cr_assert_eq(hist_percentile(m, ps[i]), hist_percentile(h, ps[i]), "p%g", ps[i]);
    free(a);
    free(b);
    free(m);
}
