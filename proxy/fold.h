/* fold.h - while the load is low, every worker's event loop runs on worker 0's thread.
 *
 * With scrapes arriving one at a time, each hand-off between two workers wakes a thread
 * that was asleep, and on a small VM that wake-up is most of what a scrape costs. When the
 * workers together use less than --workers.fold-below percent of one CPU for
 * FOLD_LOW_TICKS ticks in a row, the other workers lend their loops to worker 0: each
 * stops its loop and sleeps on a semaphore, and worker 0 watches the lent loop's epoll
 * descriptor (uv_backend_fd) and runs it with UV_RUN_NOWAIT when it is ready or its next
 * timer is due. Nothing changes owner: a loop and everything on it is still touched by
 * one thread at a time, and hand-offs between loops still go through the rings. At twice
 * the threshold, or when the process stops, worker 0 gives every loop back.
 *
 * One thing is shared while folded: common/log.c's rate limit of repeated lines is kept
 * per thread, so the lent loops' lines count against worker 0's thread's budget.
 *
 * Owner: worker 0's thread decides (fold_tick) and hosts; a lent loop's own thread only
 * parks and resumes. A member's `state` is the only field two threads touch (atomics);
 * the lent loop passes between threads with release/acquire on it and the semaphore. */
#ifndef PROXY_FOLD_H
#define PROXY_FOLD_H

#include "worker.h"

/* Ticks (SERVER_TICK_MS each) the load must stay low before the workers fold. */
#define FOLD_LOW_TICKS 3
/* Runs of a lent loop in a row while it still has watchers to register (fold.c). */
#define FOLD_RUNS_MAX 4

/* Main's thread, after every worker is set up and before any thread starts: the handles
 * and semaphores. Returns 0 or a UV_E* code. */
int fold_init(struct worker_group *g);
/* Worker 0's tick: measures the process's CPU and folds or unfolds. */
void fold_tick(struct worker *wk);
/* A worker's thread: runs its loop until it ends, lending it to worker 0 when asked. */
void fold_run_thread(struct worker *wk);
/* Main's thread: gives every loop back to its own thread and folds no more; returns once
 * no loop is lent. Worker 0's loop must be running. */
void fold_release(struct worker_group *g);
/* On wk's loop, the second phase of stopping: closes the handles fold_init made there. */
void fold_close_handles(struct worker *wk);
/* Main's thread, once no loop runs: the semaphores. */
void fold_close(struct worker_group *g);

#endif
