/* metrics.c - Prometheus text-format writers, histograms and process metrics (see
 * metrics.h).
 * Owner: a histogram is written by one thread (metrics_hist_observe) and read by any
 * (metrics_hist_merge) with relaxed atomics; the writers only touch the caller's buf.
 * Nothing here is global except the read-only bucket bounds. */
#include "metrics.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const double metrics_duration_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
const size_t metrics_duration_n_bounds =
    sizeof(metrics_duration_bounds) / sizeof(metrics_duration_bounds[0]);

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

void metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n_bounds)
{
    assert(n_bounds <= METRICS_HIST_MAX_BUCKETS);
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n_bounds;
    h->sum_bits = double_to_bits(0.0);
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
    size_t i = 0;
    /* NaN compares false with every bound and so lands in +Inf, as in Go's client. */
    while (i < h->n_bounds && !(v <= h->bounds[i]))
        i++;
    metrics_inc(&h->counts[i]);
    /* One writer: a plain read-modify-write of the sum is enough; readers see either
     * the old or the new bits, never a torn value. */
    double sum = bits_to_double(metrics_get(&h->sum_bits)) + v;
    metrics_set(&h->sum_bits, double_to_bits(sum));
    metrics_inc(&h->count);
}

void metrics_hist_merge(struct metrics_hist *dst, const struct metrics_hist *src)
{
    if (dst->bounds == NULL && dst->n_bounds == 0)
        metrics_hist_init(dst, src->bounds, src->n_bounds);
    assert(dst->n_bounds == src->n_bounds);
    for (size_t i = 0; i <= src->n_bounds; i++)
        dst->counts[i] += metrics_get(&src->counts[i]);
    dst->sum_bits =
        double_to_bits(bits_to_double(dst->sum_bits) + bits_to_double(metrics_get(&src->sum_bits)));
    dst->count += metrics_get(&src->count);
}

/* Finite v in the shortest form that reads back exactly, laid out as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) does (which is what Prometheus' own clients write):
 * exponent form when the decimal exponent is below -4 or at least 6, else plain. */
static void format_shortest(char *out, size_t cap, double v)
{
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    if (prec > 17)
        prec = 17;
    const char *x = strchr(e, 'e');
    int exp = x ? atoi(x + 1) : 0;
    if (exp < -4 || exp >= 6)
        snprintf(out, cap, "%s", e);
    else
        snprintf(out, cap, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
}

/* Writes v as the text format spells it: NaN, +Inf, -Inf, integral values as plain
 * integers (no exponent) up to 1e18, others as format_shortest(). */
static void format_value(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else if (isinf(v))
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e18)
        snprintf(out, cap, "%.0f", v == 0 ? 0.0 : v);
    else
        format_shortest(out, cap, v);
}

/* Bucket bounds as Go's client writes them ("1", "0.005", "1e+06"). */
static void format_bound(char *out, size_t cap, double v)
{
    if (isinf(v) || isnan(v))
        format_value(out, cap, v);
    else
        format_shortest(out, cap, v);
}

/* Appends s with the given bytes escaped; used for HELP text and label values. */
static int append_escaped(struct buf *out, const char *s, size_t len, int escape_quote)
{
    size_t start = 0;
    if (len == 0)
        return 0; /* s may be NULL then: no arithmetic on it */
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        if (s[i] == '\\')
            rep = "\\\\";
        else if (s[i] == '\n')
            rep = "\\n";
        else if (s[i] == '"' && escape_quote)
            rep = "\\\"";
        if (rep == NULL)
            continue;
        int rc = buf_append(out, s + start, i - start);
        if (rc == 0)
            rc = buf_append(out, rep, 2);
        if (rc < 0)
            return rc;
        start = i + 1;
    }
    return buf_append(out, s + start, len - start);
}

int metrics_write_label_value(struct buf *out, const char *v, size_t len)
{
    size_t mark = out->len;
    int rc = append_escaped(out, v, len, 1);
    if (rc < 0)
        out->len = mark;
    return rc;
}

int metrics_write_header(struct buf *out, const char *name, const char *type, const char *help)
{
    size_t mark = out->len;
    int rc = buf_printf(out, "# HELP %s ", name);
    if (rc == 0)
        rc = append_escaped(out, help, strlen(help), 0);
    if (rc == 0)
        rc = buf_printf(out, "\n# TYPE %s %s\n", name, type);
    if (rc < 0)
        out->len = mark;
    return rc;
}

int metrics_write_sample(struct buf *out, const char *name, const char *labels, double v)
{
    char num[64];
    format_value(num, sizeof(num), v);
    if (labels != NULL && labels[0] != '\0')
        return buf_printf(out, "%s{%s} %s\n", name, labels, num);
    return buf_printf(out, "%s %s\n", name, num);
}

int metrics_write_hist(struct buf *out, const char *name, const char *labels,
                       const struct metrics_hist *h)
{
    size_t mark = out->len;
    int has_labels = labels != NULL && labels[0] != '\0';
    uint64_t cum = 0;
    int rc = 0;
    char le[64], num[64];
    for (size_t i = 0; i <= h->n_bounds && rc == 0; i++) {
        cum += metrics_get(&h->counts[i]);
        if (i < h->n_bounds)
            format_bound(le, sizeof(le), h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        rc = buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, has_labels ? labels : "",
                        has_labels ? "," : "", le, (unsigned long long)cum);
    }
    format_value(num, sizeof(num), bits_to_double(metrics_get(&h->sum_bits)));
    /* _count is the +Inf bucket, so the two always agree even while the owner observes. */
    if (rc == 0 && has_labels)
        rc = buf_printf(out, "%s_sum{%s} %s\n%s_count{%s} %llu\n", name, labels, num, name, labels,
                        (unsigned long long)cum);
    else if (rc == 0)
        rc =
            buf_printf(out, "%s_sum %s\n%s_count %llu\n", name, num, name, (unsigned long long)cum);
    if (rc < 0)
        out->len = mark;
    return rc;
}

/* Reads a small /proc file into text (NUL-terminated). Returns bytes read or -errno. */
static ssize_t read_proc(const char *path, char *text, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(text, 1, cap - 1, f);
    int err = ferror(f) ? -EIO : 0;
    fclose(f);
    if (err < 0)
        return err;
    text[n] = '\0';
    return (ssize_t)n;
}

static int write_metric(struct buf *out, const char *name, const char *type, const char *help,
                        double v)
{
    size_t mark = out->len;
    int rc = metrics_write_header(out, name, type, help);
    if (rc == 0)
        rc = metrics_write_sample(out, name, NULL, v);
    if (rc < 0)
        out->len = mark;
    return rc;
}

/* The system's boot time in seconds since the epoch, from /proc/stat, or -1. */
static long long boot_time(void)
{
    static const char key[] = "\nbtime ";
    char text[16384];
    if (read_proc("/proc/stat", text, sizeof(text)) < 0)
        return -1;
    const char *p = strstr(text, key);
    if (p == NULL)
        return -1;
    return strtoll(p + sizeof(key) - 1, NULL, 10);
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (atoi(e->d_name) == self)
            continue; /* the fd reading this directory is ours, not the program's */
        n++;
    }
    closedir(d);
    return n;
}

/* Bytes received and sent on every interface of the process's network namespace, from
 * /proc/self/net/dev, as client_golang reports them. Returns 0 or -errno. */
static int net_dev_totals(unsigned long long *rx, unsigned long long *tx)
{
    char text[16384];
    const char *p;

    if (read_proc("/proc/self/net/dev", text, sizeof(text)) < 0)
        return -EIO;
    *rx = *tx = 0;
    /* Two header lines, then "  name: rx_bytes packets errs drop fifo frame compressed
     * multicast tx_bytes ...". */
    for (p = strchr(text, '\n'); p && (p = strchr(p + 1, '\n')) != NULL;) {
        const char *colon = strchr(p, ':');
        unsigned long long r, t;
        if (!colon)
            break;
        if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) == 2) {
            *rx += r;
            *tx += t;
        }
        p = strchr(colon, '\n');
        if (!p)
            break;
        p--; /* the loop steps past this newline */
    }
    return 0;
}

int metrics_write_process(struct buf *out)
{
    size_t mark = out->len;
    int rc = 0;
    char text[1024];
    if (read_proc("/proc/self/stat", text, sizeof(text)) > 0) {
        /* The command name may hold spaces and parentheses; fields resume after the last
         * ')'. Then: state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24). */
        const char *p = strrchr(text, ')');
        unsigned long long utime, stime, starttime, vsize;
        long long rss;
        if (p != NULL && sscanf(p + 1,
                                " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
                                " %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                                &utime, &stime, &starttime, &vsize, &rss) == 5) {
            long tck = sysconf(_SC_CLK_TCK);
            long page = sysconf(_SC_PAGESIZE);
            if (tck <= 0)
                tck = 100;
            if (page <= 0)
                page = 4096;
            rc = write_metric(out, "process_cpu_seconds_total", "counter",
                              "Total user and system CPU time spent in seconds.",
                              (double)(utime + stime) / (double)tck);
            if (rc == 0)
                rc = write_metric(out, "process_virtual_memory_bytes", "gauge",
                                  "Virtual memory size in bytes.", (double)vsize);
            if (rc == 0)
                rc = write_metric(out, "process_resident_memory_bytes", "gauge",
                                  "Resident memory size in bytes.", (double)rss * (double)page);
            long long btime = boot_time();
            if (rc == 0 && btime >= 0)
                rc = write_metric(out, "process_start_time_seconds", "gauge",
                                  "Start time of the process since unix epoch in seconds.",
                                  (double)btime + (double)starttime / (double)tck);
        }
    }
    int fds = count_open_fds();
    if (rc == 0 && fds >= 0)
        rc =
            write_metric(out, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
    struct rlimit rl;
    if (rc == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        rc = write_metric(out, "process_max_fds", "gauge",
                          "Maximum number of open file descriptors.",
                          rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    /* As client_golang: "unlimited" is the largest uint64. */
    if (rc == 0 && getrlimit(RLIMIT_AS, &rl) == 0)
        rc = write_metric(out, "process_virtual_memory_max_bytes", "gauge",
                          "Maximum amount of virtual memory available in bytes.",
                          rl.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0
                                                       : (double)rl.rlim_cur);
    unsigned long long rx, tx;
    if (rc == 0 && net_dev_totals(&rx, &tx) == 0) {
        rc = write_metric(out, "process_network_receive_bytes_total", "counter",
                          "Number of bytes received by the process over the network.", (double)rx);
        if (rc == 0)
            rc = write_metric(out, "process_network_transmit_bytes_total", "counter",
                              "Number of bytes sent by the process over the network.", (double)tx);
    }
    if (rc < 0)
        out->len = mark; /* all or nothing, like the other writers */
    return rc;
}
