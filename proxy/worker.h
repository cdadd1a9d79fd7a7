/* worker.h - one thread, one event loop, one listening socket, one shard.
 *
 * Everything a worker holds is its own: its loop, its listener, every connection it
 * accepted, its scrape slots, its shard of the client table, its metrics. Other threads
 * reach it only through its inbox (inbox.h). The array of workers itself is written by
 * main() before the threads start and only read afterwards. */
#ifndef PROXY_WORKER_H
#define PROXY_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "inbox.h"
#include "registry.h"
#include "scrape.h"
#include "stats.h"

/* The most workers; ids fit the Id's field and the ring matrix stays small. */
#define WORKER_MAX 256
/* Period of the housekeeping tick: registry sweep, poll hold expiry, gauges. */
#define WORKER_TICK_MS 1000
/* Accept backlog of each listening socket. */
#define WORKER_LISTEN_BACKLOG 4096

struct worker {
    uint16_t id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t listener;
    uv_async_t stop;
    uv_timer_t tick;
    struct inbox inbox;
    struct conn_table conns;
    struct scrape_table scrapes;
    struct registry reg;
    struct conn *holds_head, *holds_tail; /* waiting polls, oldest first */
    struct stats stats;
    char *read_buf; /* CONN_READ_BUF_BYTES, lent to one read at a time */
    bool read_buf_lent;
    bool stopping;
};

extern struct worker *workers;
extern uint16_t n_workers;
/* Set once by workers_stop(); read with an acquire load by inbox_send(). */
extern int workers_stopping;

/* Creates n workers, each with a listening socket bound to host:port with SO_REUSEPORT
 * (host NULL: every address, IPv6 and IPv4), and starts their threads. Returns 0, or a negative errno/UV_E* code after logging what
 * failed (nothing is left running). */
int workers_start(uint16_t n, const char *host, int port);
/* Asks every worker to stop, joins them and frees everything. Call from main's thread. */
void workers_stop(void);

#endif
