/* procstat.c - CPU and memory of a process from /proc (see procstat.h).
 * Owner: pure functions, no state. */
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    return len ? 0 : -EIO;
}

/* The command name in field 2 may hold spaces and parentheses: fields resume after the
 * last ')'. utime and stime are fields 14 and 15. */
int procstat_parse_stat(const char *text, uint64_t *ticks)
{
    const char *p = strrchr(text, ')');
    if (!p)
        return -EINVAL;
    p++;
    unsigned long long ut = 0, st = 0;
    /* After ')' come fields 3 (state) .. ; skip 3..13 = 11 fields. */
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -EINVAL;
    *ticks = ut + st;
    return 0;
}

static uint64_t status_field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    if (!p)
        return 0;
    p += strlen(name);
    return strtoull(p, NULL, 10);
}

int procstat_read(pid_t pid, struct procstat *out)
{
    char path[64], buf[4096];
    uint64_t ticks;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int rc = read_file(path, buf, sizeof(buf));
    if (rc < 0)
        return rc;
    if (procstat_parse_stat(buf, &ticks) != 0)
        return -EINVAL;
    long hz = sysconf(_SC_CLK_TCK);
    out->cpu_s = (double)ticks / (double)(hz > 0 ? hz : 100);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    rc = read_file(path, buf, sizeof(buf));
    if (rc < 0)
        return rc;
    out->rss_kib = status_field(buf, "\nVmRSS:");
    out->hwm_kib = status_field(buf, "\nVmHWM:");
    out->threads = status_field(buf, "\nThreads:");
    return 0;
}
