/* child.h - one worker process of a run: --threads loop threads (worker.c), then its
 * results down its pipe.
 *
 * The parent forks it before creating any thread. It takes its share of the clients,
 * runs its threads until the parent's phase says stop (shm), merges their stats and
 * writes them to its pipe (stats_write), then exits: 0, or 3 if anything failed.
 * Owner: the child process; it shares only the shm mapping (its threads' slots) and
 * reads struct run, a copy made by the fork. */
#ifndef BENCH_CHILD_H
#define BENCH_CHILD_H

#include "run.h"

/* The body of worker process `proc` (0 .. procs-1), results to out_fd. Never returns. */
void child_main(struct run *run, int proc, int out_fd) __attribute__((noreturn));

#endif
