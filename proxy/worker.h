/* worker.h - everything one worker owns: its loop, its connections, its scrape slots, its
 * shard of the client table, its inbox, its counters and its list of waiting polls.
 *
 * The handlers (scrape.c, poll.c, push.c, clients.c, metrics_page.c) reach all of it
 * through a struct worker; the pieces below it (conn, registry, inbox, scrape_slot) are
 * each given only what they need at init and know nothing of the worker. worker_init()
 * assembles one; it is told the route table and the message receiver by the caller, so
 * this file names no handler either.
 *
 * Owner: a worker's state is touched only by the thread running its loop: its own, or
 * worker 0's while the loop is lent there (fold.c), never two at once. The group (every
 * worker, and their inboxes) is built before any thread starts and is read-only after,
 * except for each worker's own state and the counters, which other threads only read
 * (relaxed atomics, for /metrics). */
#ifndef PROXY_WORKER_H
#define PROXY_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "counters.h"
#include "inbox.h"
#include "list.h"
#include "registry.h"
#include "scrape_slot.h"
#include "webconf.h"

/* The most workers; ids fit the Id's field and the ring matrix stays small. */
#define WORKER_MAX SCRAPE_SLOT_MAX_WORKERS
/* Listening sockets per worker: the clients' and, split off, the scrapers'. */
#define WORKER_MAX_LISTENERS 2

struct worker;

/* A worker's part in folding (fold.c; workers 1..n-1, worker 0 hosts): while the load is
 * low its loop is lent to worker 0's thread. */
enum fold_state { FOLD_OWN, FOLD_ASKED, FOLD_PARKED, FOLD_HOSTED };
struct fold_member {
    int state;             /* enum fold_state (atomic): the one field two threads touch */
    uv_sem_t resume;       /* the worker's own thread sleeps here while its loop is lent */
    uv_async_t ask;        /* on this worker's loop: worker 0 asks for it */
    uv_poll_t host_poll;   /* on worker 0's loop: this loop's epoll descriptor, while lent */
    uv_timer_t host_timer; /* on worker 0's loop: this loop's next timer, while lent */
};

/* Folding, for the whole group (fold.c). */
struct fold_group {
    unsigned below_percent; /* --workers.fold-below; 0 (or one worker): never fold */
    bool made;              /* fold_init ran */
    int releasing;          /* atomic: fold_release was called, fold no more */
    uv_async_t wake;        /* on worker 0's loop: a loop was lent, or fold_release */
    uv_sem_t released;      /* fold_release waits here */
    /* Worker 0's thread only. */
    bool folded;
    unsigned low_ticks;
    uint64_t last_cpu_us, last_wall_us;
};

/* One of a worker's listening sockets (server.c). */
struct listener {
    int fd;          /* -1: none */
    unsigned planes; /* enum route_plane bits it serves */
    uv_poll_t poll;
    struct worker *wk;
};

/* Every worker of the process. */
struct worker_group {
    uint16_t n;
    struct worker *workers; /* [n] */
    struct inbox_group inboxes;
    int running;  /* workers whose loop runs (atomic) */
    int draining; /* set once SIGTERM came (atomic): /-/ready answers 503 */
    /* Written by main's thread on each reload, read by /metrics (relaxed atomics). */
    uint64_t reload_ok;        /* 1 if the last reload succeeded */
    uint64_t reload_ok_time_s; /* Unix time of the last successful (re)load */
    struct fold_group fold;
};

struct worker {
    uint16_t id;
    struct worker_group *group;
    uv_loop_t loop;
    uv_thread_t thread;
    /* The listening sockets and what accepts from them (server.c). */
    struct listener listeners[WORKER_MAX_LISTENERS];
    unsigned n_listeners;
    uv_timer_t accept_resume;  /* accepting paused: out of file descriptors */
    uint64_t accept_pauses;    /* since the last log line about them */
    uint64_t accept_logged_ms; /* when that line was written */
    uv_async_t stop;
    uv_async_t drain;  /* let the polls go (server.c) */
    uv_async_t reconf; /* new web configurations wait in pending_conf (server.c) */
    struct webconf *pending_conf[WORKER_MAX_LISTENERS]; /* atomic exchange; one reference */
    uv_timer_t tick;
    uv_timer_t hold_timer; /* --poll.max-hold: due when the oldest waiting poll is (poll.c) */
    struct counters counters;
    struct inbox inbox;
    struct conn_table conns;
    struct scrape_slots scrapes;
    struct registry reg;
    struct list holds; /* waiting polls (conn.link), oldest first */
    struct fold_member fold;
    bool stopping;
};

/* Makes the group's array of n zeroed workers and its inbox group. Returns 0 or UV_ENOMEM. */
int worker_group_init(struct worker_group *g, uint16_t n);
/* Frees the array; each worker must have been closed. */
void worker_group_close(struct worker_group *g);

/* Sets up worker `id` of the group on main's thread: its loop and every table. Requests are
 * dispatched through routes, messages go to receive(wk, m). Returns 0 or a UV_E* code;
 * worker_close() frees what was made either way. */
int worker_init(struct worker *wk, struct worker_group *g, uint16_t id,
                const struct route_table *routes, inbox_receive_cb receive);
/* Closes the handles of the worker's tables, on its loop (the second phase of stopping). */
void worker_close_handles(struct worker *wk);
/* Frees the worker's tables once its loop has ended and been closed. */
void worker_close(struct worker *wk);

/* The worker whose table c belongs to. */
static inline struct worker *worker_of(const struct conn *c)
{
    return (struct worker *)((char *)c->t - offsetof(struct worker, conns));
}

/* Which worker owns fqdn's shard. */
uint16_t worker_owner(const struct worker *wk, const char *fqdn, size_t len);

/* c stops counting among the connections that polled for its FQDN (c->polled): tells the
 * FQDN's owner (CONN_GONE, with `waiting`: it closes while its poll waits). For when c
 * closes, or its next request is for another FQDN. */
void worker_forget_poller(struct worker *wk, struct conn *c, bool waiting);

/* Whether every worker's loop runs and no drain has begun. Any thread. */
bool worker_group_ready(const struct worker_group *g);

#endif
