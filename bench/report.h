/* report.h - the bench's output: a human table or one JSON object, on stdout.
 * Owner: pure functions over a finished run. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "run.h"

void report_table(FILE *out, const struct run *run, const struct run_result *res,
                  const char *label);
void report_json(FILE *out, const struct run *run, const struct run_result *res, const char *label);

#endif
