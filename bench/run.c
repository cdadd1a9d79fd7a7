/* run.c - the few functions over a run's settings (see run.h).
 * Owner: pure functions; any thread. */
#include "run.h"

#include <stdio.h>
#include <time.h>

uint64_t run_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void run_split(uint64_t total, uint64_t parts, uint64_t idx, uint64_t *first, uint64_t *n)
{
    if (parts == 0) {
        *first = 0;
        *n = 0;
        return;
    }
    uint64_t base = total / parts, extra = total % parts;
    *n = base + (idx < extra ? 1 : 0);
    *first = idx * base + (idx < extra ? idx : extra);
}

int run_fqdn(const struct run *run, uint64_t i, char *out, size_t cap)
{
    return snprintf(out, cap, "c%llu.%s", (unsigned long long)i, run->fqdn_suffix);
}
