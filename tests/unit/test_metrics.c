/* test_metrics.c - text-format writers, histograms (observe, merge, write) and process
 * metrics. Output is checked line by line against the exposition format, and with
 * promtool when it is installed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

static struct buf out;

static void setup(void)
{
    buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    buf_close(&out);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* The buffer as a NUL-terminated string. */
static const char *text(void)
{
    cr_assert_eq(buf_append(&out, "", 1), 0);
    out.len--;
    return out.base;
}

/* Checks every line against the text format: comments are "# HELP name text" or
 * "# TYPE name counter|gauge|histogram"; samples are name{labels} value. */
static void check_format(const char *s)
{
    regex_t sample, comment;
    cr_assert_eq(regcomp(&sample,
                         "^[a-zA-Z_:][a-zA-Z0-9_:]*"
                         "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
                         "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\")*\\})? "
                         "(NaN|[+-]Inf|-?[0-9]+(\\.[0-9]+)?(e[+-][0-9]+)?)$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    cr_assert_eq(regcomp(&comment,
                         "^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                         "(counter|gauge|histogram))$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    char *copy = strdup(s);
    cr_assert_eq(copy[strlen(copy) - 1], '\n', "output ends with a newline");
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regex_t *re = line[0] == '#' ? &comment : &sample;
        cr_assert_eq(regexec(re, line, 0, NULL, 0), 0, "bad line: [%s]", line);
    }
    free(copy);
    regfree(&sample);
    regfree(&comment);
}

/* Runs promtool check metrics on s if promtool is installed. */
static void check_promtool(const char *s)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        return;
    char path[] = "/tmp/test_metrics_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t n = strlen(s);
    cr_assert_eq(write(fd, s, n), (ssize_t)n);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s > %s.out 2>&1", path, path);
    int st = system(cmd);
    char outpath[300];
    snprintf(outpath, sizeof(outpath), "%s.out", path);
    char msg[2048] = "";
    FILE *f = fopen(outpath, "r");
    if (f) {
        size_t m = fread(msg, 1, sizeof(msg) - 1, f);
        msg[m] = '\0';
        fclose(f);
    }
    unlink(outpath);
    unlink(path);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool: %s\non:\n%s", msg, s);
}

Test(metrics, header_escapes_help)
{
    cr_assert_eq(metrics_write_header(&out, "pushprox_http_requests_total", "counter",
                                      "Requests, by \"path\" \\ code.\nSecond line."),
                 0);
    cr_assert_str_eq(text(), "# HELP pushprox_http_requests_total Requests, by \"path\" \\\\ "
                             "code.\\nSecond line.\n# TYPE pushprox_http_requests_total counter\n");
}

Test(metrics, sample_values_are_spelled_as_the_format_wants)
{
    metrics_write_sample(&out, "a", NULL, 12345);
    metrics_write_sample(&out, "b", NULL, 0);
    metrics_write_sample(&out, "c", NULL, -0.0);
    metrics_write_sample(&out, "d", NULL, 0.1);
    metrics_write_sample(&out, "e", NULL, -2.5);
    metrics_write_sample(&out, "f", NULL, INFINITY);
    metrics_write_sample(&out, "g", NULL, -INFINITY);
    metrics_write_sample(&out, "h", NULL, NAN);
    metrics_write_sample(&out, "i", NULL, 18446744073709551615.0);
    metrics_write_sample(&out, "j", NULL, 1e300);
    metrics_write_sample(&out, "k", NULL, 1.0 / 3);
    metrics_write_sample(&out, "l", NULL, 1700000000.5);
    metrics_write_sample(&out, "m", NULL, 0.0001);
    metrics_write_sample(&out, "n", NULL, 0.000015);
    metrics_write_sample(&out, "o", NULL, 123456.5);
    cr_assert_str_eq(text(), "a 12345\nb 0\nc 0\nd 0.1\ne -2.5\nf +Inf\ng -Inf\nh NaN\n"
                             "i 1.8446744073709552e+19\nj 1e+300\nk 0.3333333333333333\n"
                             "l 1.7000000005e+09\nm 0.0001\nn 1.5e-05\no 123456.5\n");
    check_format(text());
}

Test(metrics, sample_with_labels)
{
    cr_assert_eq(metrics_write_sample(&out, "x_total", "code=\"200\",path=\"/poll\"", 3), 0);
    cr_assert_eq(metrics_write_sample(&out, "y", "", 4), 0);
    cr_assert_str_eq(text(), "x_total{code=\"200\",path=\"/poll\"} 3\ny 4\n");
    check_format(text());
}

Test(metrics, empty_label_value_may_be_null)
{
    /* clang's UBSan (make asan) aborts on NULL + 0, which the escaping loop computed. */
    cr_assert_eq(metrics_write_label_value(&out, NULL, 0), 0);
    cr_assert_eq(out.len, 0);
}

Test(metrics, label_value_escaping)
{
    const char v[] = "a\\b\"c\nd";
    cr_assert_eq(metrics_write_label_value(&out, v, strlen(v)), 0);
    cr_assert_str_eq(text(), "a\\\\b\\\"c\\nd");
    buf_reset(&out);
    cr_assert_eq(metrics_write_label_value(&out, "abcdef", 3), 0);
    cr_assert_str_eq(text(), "abc");
}

Test(metrics, histogram_buckets_are_cumulative_with_sum_and_count)
{
    struct metrics_hist h;
    metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
    cr_assert_eq(metrics_duration_n_bounds, 11);
    metrics_hist_observe(&h, 0.005); /* on a bound: counts in that bucket */
    metrics_hist_observe(&h, 0.07);
    metrics_hist_observe(&h, 0.1);
    metrics_hist_observe(&h, 3);
    metrics_hist_observe(&h, 11);
    cr_assert_eq(h.count, 5);
    cr_assert_eq(h.counts[0], 1);
    cr_assert_eq(h.counts[4], 2);
    cr_assert_eq(h.counts[11], 1);
    cr_assert_eq(metrics_write_hist(&out, "req_seconds", NULL, &h), 0);
    cr_assert_str_eq(text(), "req_seconds_bucket{le=\"0.005\"} 1\n"
                             "req_seconds_bucket{le=\"0.01\"} 1\n"
                             "req_seconds_bucket{le=\"0.025\"} 1\n"
                             "req_seconds_bucket{le=\"0.05\"} 1\n"
                             "req_seconds_bucket{le=\"0.1\"} 3\n"
                             "req_seconds_bucket{le=\"0.25\"} 3\n"
                             "req_seconds_bucket{le=\"0.5\"} 3\n"
                             "req_seconds_bucket{le=\"1\"} 3\n"
                             "req_seconds_bucket{le=\"2.5\"} 3\n"
                             "req_seconds_bucket{le=\"5\"} 4\n"
                             "req_seconds_bucket{le=\"10\"} 4\n"
                             "req_seconds_bucket{le=\"+Inf\"} 5\n"
                             "req_seconds_sum 14.175\n"
                             "req_seconds_count 5\n");
    check_format(text());
}

Test(metrics, histogram_with_labels)
{
    static const double bounds[] = {0.1, 1, 1e6};
    struct metrics_hist h;
    metrics_hist_init(&h, bounds, 3);
    metrics_hist_observe(&h, 0.5);
    metrics_hist_observe(&h, NAN);
    cr_assert_eq(metrics_write_hist(&out, "d_seconds", "path=\"/poll\"", &h), 0);
    cr_assert_str_eq(text(), "d_seconds_bucket{path=\"/poll\",le=\"0.1\"} 0\n"
                             "d_seconds_bucket{path=\"/poll\",le=\"1\"} 1\n"
                             "d_seconds_bucket{path=\"/poll\",le=\"1e+06\"} 1\n"
                             "d_seconds_bucket{path=\"/poll\",le=\"+Inf\"} 2\n"
                             "d_seconds_sum{path=\"/poll\"} NaN\n"
                             "d_seconds_count{path=\"/poll\"} 2\n");
    check_format(text());
}

Test(metrics, empty_histogram)
{
    static const double bounds[] = {1};
    struct metrics_hist h;
    metrics_hist_init(&h, bounds, 1);
    cr_assert_eq(metrics_write_hist(&out, "e", NULL, &h), 0);
    cr_assert_str_eq(text(), "e_bucket{le=\"1\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n");
}

Test(metrics, merge_adds_into_zeroed_or_initialised_dst)
{
    struct metrics_hist a, b, sum = {0};
    metrics_hist_init(&a, metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_init(&b, metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_observe(&a, 0.2);
    metrics_hist_observe(&a, 20);
    metrics_hist_observe(&b, 0.2);
    metrics_hist_observe(&b, 0.001);
    metrics_hist_merge(&sum, &a);
    metrics_hist_merge(&sum, &b);
    cr_assert_eq(sum.bounds, metrics_duration_bounds);
    cr_assert_eq(sum.n_bounds, metrics_duration_n_bounds);
    cr_assert_eq(sum.count, 4);
    cr_assert_eq(sum.counts[0], 1);
    cr_assert_eq(sum.counts[5], 2);
    cr_assert_eq(sum.counts[11], 1);
    double s;
    memcpy(&s, &sum.sum_bits, sizeof(s));
    cr_assert_float_eq(s, 20.401, 1e-9);
    /* The sources are not changed. */
    cr_assert_eq(a.count, 2);
    cr_assert_eq(b.counts[0], 1);

    struct metrics_hist again;
    metrics_hist_init(&again, metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_merge(&again, &sum);
    cr_assert_eq(again.count, 4);
    cr_assert_eq(metrics_write_hist(&out, "m_seconds", NULL, &again), 0);
    cr_assert_not_null(strstr(text(), "m_seconds_bucket{le=\"0.25\"} 3\n"));
    cr_assert_not_null(strstr(text(), "m_seconds_bucket{le=\"+Inf\"} 4\nm_seconds_sum 20.401\n"));
}

Test(metrics, writers_leave_buffer_unchanged_on_e2big)
{
    struct buf small;
    buf_init(&small, 300);
    cr_assert_eq(buf_append_str(&small, "keep\n"), 0);
    struct metrics_hist h;
    metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
    cr_assert_eq(metrics_write_hist(&small, "long_histogram_name_seconds", "a=\"b\"", &h), -E2BIG);
    cr_assert_eq(small.len, 5);
    char help[400];
    memset(help, 'h', sizeof(help) - 1);
    help[sizeof(help) - 1] = '\0';
    cr_assert_eq(metrics_write_header(&small, "n", "gauge", help), -E2BIG);
    cr_assert_eq(small.len, 5);
    cr_assert_eq(metrics_write_label_value(&small, help, strlen(help)), -E2BIG);
    cr_assert_eq(small.len, 5);
    cr_assert_eq(metrics_write_process(&small), -E2BIG);
    cr_assert_eq(small.len, 5);
    cr_assert_eq(memcmp(small.base, "keep\n", 5), 0);
    buf_close(&small);
}

/* The value of the sample named name (no labels), or NAN if absent. */
static double sample_value(const char *s, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(s, key);
    if (p == NULL)
        return NAN;
    return strtod(p + strlen(key), NULL);
}

Test(metrics, process_metrics_present_and_plausible)
{
    cr_assert_eq(metrics_write_process(&out), 0);
    const char *s = text();
    check_format(s);
    const char *names[] = {"process_cpu_seconds_total",
                           "process_resident_memory_bytes",
                           "process_virtual_memory_bytes",
                           "process_open_fds",
                           "process_max_fds",
                           "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "# TYPE %s ", names[i]);
        cr_assert_not_null(strstr(s, want), "no %s in:\n%s", names[i], s);
        snprintf(want, sizeof(want), "# HELP %s ", names[i]);
        cr_assert_not_null(strstr(s, want), "no HELP for %s", names[i]);
        cr_assert(!isnan(sample_value(s, names[i])), "no sample for %s", names[i]);
    }
    cr_assert_geq(sample_value(s, "process_cpu_seconds_total"), 0);
    cr_assert_gt(sample_value(s, "process_resident_memory_bytes"), 100000);
    cr_assert_gt(sample_value(s, "process_virtual_memory_bytes"),
                 sample_value(s, "process_resident_memory_bytes"));
    double fds = sample_value(s, "process_open_fds");
    cr_assert_geq(fds, 3);
    cr_assert_leq(fds, sample_value(s, "process_max_fds"));
    double start = sample_value(s, "process_start_time_seconds");
    double now = (double)time(NULL);
    cr_assert(start > now - 3600 && start <= now + 2, "start %f now %f", start, now);
    check_promtool(s);
}

Test(metrics, open_fds_counts_new_descriptors)
{
    cr_assert_eq(metrics_write_process(&out), 0);
    double before = sample_value(text(), "process_open_fds");
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = dup(0);
    buf_reset(&out);
    cr_assert_eq(metrics_write_process(&out), 0);
    double after = sample_value(text(), "process_open_fds");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    cr_assert_eq(after, before + 3);
}

Test(metrics, whole_exposition_passes_promtool)
{
    uint64_t c = 0;
    metrics_inc(&c);
    metrics_add(&c, 41);
    cr_assert_eq(metrics_get(&c), 42);
    metrics_write_header(&out, "pushprox_requests_total", "counter", "Requests by code.");
    metrics_write_sample(&out, "pushprox_requests_total", "code=\"200\"", (double)metrics_get(&c));
    metrics_write_sample(&out, "pushprox_requests_total", "code=\"5\\\"0\\n3\"", 1);
    metrics_write_header(&out, "pushprox_clients", "gauge", "Connected clients.");
    metrics_write_sample(&out, "pushprox_clients", NULL, 7);
    struct metrics_hist h;
    metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_observe(&h, 0.3);
    metrics_write_header(&out, "pushprox_scrape_duration_seconds", "histogram",
                         "Scrape durations.");
    metrics_write_hist(&out, "pushprox_scrape_duration_seconds", "path=\"/poll\"", &h);
    metrics_write_process(&out);
    check_format(text());
    check_promtool(text());
}
