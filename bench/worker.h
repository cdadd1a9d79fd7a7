/* worker.h - one bench loop thread: a share of the simulated clients and scrapers.
 *
 * A tick timer (WORKER_TICK_MS) paces everything that is not an I/O callback: client
 * connects (at most --connect.concurrency in flight), retries, the open-loop schedule,
 * deadlines, the phase set by the parent, and publishing progress to shared memory.
 *
 * Owner: everything in a worker belongs to its thread; the only shared things are the
 * read-only struct run and the worker's own shm slot (relaxed atomic stores). */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "run.h"
#include "scraper.h"
#include "sim_client.h"
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

    struct sim_client *clients;
    uint64_t n_clients, first_client;
    uint64_t next_connect, connecting;
    struct sim_client *retry_head;

    struct scraper *scrapers;
    uint64_t n_scrapers;
    struct scraper **idle;
    uint64_t n_idle;
    uint64_t in_flight;
    /* Pushes whose answer came back (200 or not): the phase ends once every push sent is
     * answered, or a grace period after the last scrape, so no late verdict is missed. */
    uint64_t pushes_answered;
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
    uint64_t n_connected;
    uint64_t registered_count;
    /* Parses the scrape request a poll carries (one at a time, synchronously). */
    struct http_parser req_parser;
    struct http_head req_head;
};

int worker_init(struct worker *wk, struct run *run, int id);
void *worker_main(void *arg);
void worker_close(struct worker *wk);

/* Retries c (reconnect or re-poll) after delay_ms. */
void worker_retry(struct worker *wk, struct sim_client *c, uint64_t delay_ms);
/* A client's first poll is out (or its start failed for good): start the next one. */
void worker_client_registered(struct worker *wk, struct sim_client *c, bool ok);
/* A scraper is connected and idle: give it work if there is any. */
void worker_scraper_idle(struct worker *wk, struct scraper *s);
/* A scraper finished (or lost) a scrape. */
void worker_scrape_finished(struct worker *wk, struct scraper *s);
uint64_t worker_random(struct worker *wk);

#endif
