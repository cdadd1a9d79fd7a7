/* worker.h - one bench loop thread: a share of the simulated clients and scrapers.
 *
 * A tick timer (WORKER_TICK_MS) paces everything that is not an I/O callback: client
 * connects (at most --connect.concurrency in flight), retries, the open-loop schedule,
 * deadlines, the phase set by the parent, and publishing progress to shared memory.
 * The clients and the scrapers each share an env the worker embeds (sim_client_env,
 * scraper_env): the worker reads their counts, and hears of an idle scraper through the
 * scraper env's on_idle; they never name the worker.
 *
 * With --handshakes the scrape phase opens and closes TLS connections instead (handshaker.h):
 * the quota is this thread's share of --handshakes, and --connect.concurrency slots are kept
 * busy until it is spent or --duration ended.
 *
 * Owner: everything in a worker belongs to its thread, its TLS conf included (dial.h); the
 * only shared things are the read-only struct run and the worker's own shm slot (relaxed
 * atomic stores). */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dial.h"
#include "handshaker.h"
#include "run.h"
#include "scraper.h"
#include "sim_client.h"
#include "sim_upstream.h"
#include "stats.h"

#define WORKER_TICK_MS 1

struct worker {
    int id;
    struct run *run;
    pthread_t thread;
    uv_loop_t loop;
    uv_timer_t tick;
    struct stats st;
    struct shm_slot *slot;
    uint64_t rng;

    struct dial dial; /* plain TCP, or this thread's TLS conf and sessions (dial.h) */

    /* The clients: pipelined (clients_env, clients) or upstream-like (up_env, ups), as
     * --client-mode says; the other env is set up and stays empty. */
    struct sim_client_env clients_env; /* counts connected, registered, pushes answered */
    struct sim_client *clients;
    struct sim_up_env up_env; /* the same counts, upstream mode */
    struct sim_up_client *ups;
    uint64_t n_clients, first_client;
    uint64_t next_connect;

    struct scraper_env scrapers_env; /* counts scrapes in flight */
    struct scraper *scrapers;
    uint64_t n_scrapers;
    struct scraper **idle;
    uint64_t n_idle;
    /* --handshakes: connection slots instead of scrapers (run->handshakes > 0). */
    struct handshaker_env hs_env;
    struct handshaker *hs;
    uint64_t n_hs;
    /* The phase ends once every push sent has its verdict (clients_env.pushes_answered),
     * or a grace period after the last scrape, so no late verdict is missed. */
    uint64_t drained_ns; /* when the last scrape was answered; 0 before */

    /* Scrape schedule. */
    int phase;
    uint64_t quota; /* scrapes this thread may send; UINT64_MAX = unbounded */
    uint64_t issued;
    double rate;            /* this thread's share of --rate; 0 = closed loop */
    uint64_t t0_ns, end_ns; /* end_ns 0 = no time bound */
    uint64_t *due;          /* open loop: intended times not yet sent (FIFO) */
    uint64_t due_head, due_len, due_cap;
    bool issuing_done, scrape_done, stopping;
    uint64_t publish_at_ns;
    uint64_t scheduled; /* open loop: scrapes put on the due FIFO so far */
    /* Open loop: a timerfd armed at the next scrape's intended time (libuv's timers
     * have 1 ms resolution; at 6,700/s a scrape is due every 150 us). */
    int due_fd;
    uv_poll_t due_poll;
    bool due_poll_open;
};

/* Sets the worker up for thread `id` of this process: its share of the clients and
 * scrapers, its loop and handles. Returns 0, or a negative errno / UV_E* code, and then
 * the worker is half made: the process exits (child.c) rather than closing it. */
int worker_init(struct worker *wk, struct run *run, int id);
/* The thread's body: runs the loop until every handle closed. Returns NULL. */
void *worker_main(void *arg);
/* Frees what worker_init() took, after the thread was joined; wk->st stays the caller's
 * to merge and close. */
void worker_close(struct worker *wk);

#endif
