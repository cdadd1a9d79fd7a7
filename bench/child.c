/* child.c - one worker process (see child.h).
 * Owner: the forked process; its threads own their workers until they are joined.
 * Life: child_main() starts every thread, joins every thread, writes, exits. */
#include "child.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "worker.h"

void child_main(struct run *run, int proc, int out_fd)
{
    struct worker *wks;
    struct stats total;
    int rc = 0;

    run->proc = proc;
    run->out_fd = out_fd;
    run_split(run->clients, run->procs, (uint64_t)proc, &run->first_client, &run->n_clients);
    /* The parent handles ^C and TERM (timeout(1) signals the whole group) and tells us
     * through shm; if the parent dies we get SIGKILL (PR_SET_PDEATHSIG). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    wks = calloc(run->threads, sizeof(*wks));
    stats_init(&total);
    if (!wks)
        _exit(3);
    for (uint64_t i = 0; i < run->threads; i++) {
        if ((rc = worker_init(&wks[i], run, (int)i)) != 0) {
            log_error("run", "worker init failed", LOG_ERR(rc));
            _exit(3);
        }
    }
    for (uint64_t i = 0; i < run->threads; i++) {
        if ((rc = pthread_create(&wks[i].thread, NULL, worker_main, &wks[i])) != 0) {
            log_error("run", "pthread_create failed", LOG_ERR(-rc));
            _exit(3);
        }
    }
    for (uint64_t i = 0; i < run->threads; i++) {
        pthread_join(wks[i].thread, NULL);
        stats_merge(&total, &wks[i].st);
        stats_close(&wks[i].st);
        worker_close(&wks[i]);
    }
    free(wks);
    rc = stats_write(run->out_fd, &total);
    stats_close(&total);
    free(run->filler);
    _exit(rc == 0 ? 0 : 3);
}
