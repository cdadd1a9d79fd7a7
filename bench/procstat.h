/* procstat.h - CPU time and memory of a process, read from /proc/<pid>.
 *
 * CPU is utime + stime from /proc/<pid>/stat (all threads), in seconds; memory is VmRSS
 * and VmHWM (peak RSS over the process' life) from /proc/<pid>/status, in KiB.
 * Owner: pure functions; any thread. */
#ifndef BENCH_PROCSTAT_H
#define BENCH_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct procstat {
    double cpu_s;     /* utime + stime */
    uint64_t rss_kib; /* VmRSS */
    uint64_t hwm_kib; /* VmHWM */
    uint64_t threads;
};

/* Reads the process' figures. Returns 0, or a negative errno (-ENOENT: no such process). */
int procstat_read(pid_t pid, struct procstat *out);

/* Parses the text of /proc/<pid>/stat: utime + stime in clock ticks. Returns 0 or -EINVAL. */
int procstat_parse_stat(const char *text, uint64_t *ticks);

#endif
