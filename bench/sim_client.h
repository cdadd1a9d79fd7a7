/* sim_client.h - one simulated PushProx client: one connection, one long-poll at a time.
 *
 * It polls (POST /poll, body = its fqdn); on work it checks that the scrape is for its own
 * fqdn, records the Id, and pushes (POST /push) a serialized HTTP/1.1 response with that Id
 * whose body's first line names its fqdn and the Id (check.h), then polls again at once:
 * by default the next poll is pipelined behind the push in the same write (one
 * connection per client, so a fleet of 19,900 fits the proxy's fd limit), with
 * --no-client.pipeline it waits for the push's answer first. A 408 poll is re-polled;
 * errors are counted and the client reconnects after SIM_CLIENT_RETRY_MS.
 *
 * The clients of one loop thread share a struct sim_client_env: the run's settings, their
 * transport env (callbacks, read buffer), the thread's counters and the retry list. The
 * thread owns the env and reads its counts; the clients know nothing else of the thread.
 *
 * Owner: the loop thread of its env; nothing in it is shared with other threads. */
#ifndef BENCH_SIM_CLIENT_H
#define BENCH_SIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dial.h"
#include "http.h"
#include "run.h"
#include "stats.h"
#include "transport.h"

/* Wait before reconnecting or re-polling after an error. */
#define SIM_CLIENT_RETRY_MS 100
/* Largest poll answer accepted (a serialized scrape request). */
#define SIM_CLIENT_POLL_MAX_BYTES (64 * 1024)
/* Longest fqdn the bench makes. */
#define SIM_CLIENT_FQDN_MAX 64
/* One read from a client's connection: answers to polls and pushes are small. */
#define SIM_CLIENT_READ_BYTES (64 * 1024)

struct sim_client;

/* What every client of one loop thread shares. */
struct sim_client_env {
    const struct run *run;
    struct dial *dial;             /* the thread's: plain TCP or its TLS conf */
    struct transport_env tr_env;   /* the clients' callbacks, read buffer, write requests */
    struct stats *st;              /* the thread's counters */
    struct sim_client *retry_head; /* waiting to reconnect or re-poll, newest first */
    uint64_t connecting;           /* started, first poll not out yet: the thread paces by it */
    uint64_t connected;            /* connections up */
    uint64_t registered;           /* clients whose first poll went out */
    uint64_t pushes_answered;      /* pushes whose verdict came back, 200 or not */
    bool stopping;                 /* the thread is stopping: a lost connection is no error */
    bool scraping;                 /* set by the worker in the scrape phase: count dials */
    /* The scrape request a poll carries, parsed one at a time. */
    struct http_parser req_parser;
    struct http_head req_head;
};

enum sim_expect { SIM_EXPECT_POLL = 1, SIM_EXPECT_PUSH = 2 };

/* One write's bytes: out[0..split) + filler_len filler bytes + out[split..len). */
struct sim_out {
    struct buf b;
    size_t split;
    size_t filler_len;
};

struct sim_client {
    struct transport tr;
    struct sim_client_env *env;
    uint64_t idx; /* global client number */
    char fqdn[SIM_CLIENT_FQDN_MAX];
    struct http_parser parser;
    struct http_head *head; /* allocated while connected */
    struct sim_out out[2];  /* [cur] is being written, the other is queued */
    uint8_t cur;
    bool writing;      /* out[cur] is queued in the transport until on_written */
    bool queued;       /* out[!cur] holds bytes waiting for the write to finish */
    uint8_t expect[4]; /* FIFO of answers expected, oldest first */
    uint8_t n_expect;
    bool registered; /* its first poll was written */
    bool stopping;
    bool connected;
    uint64_t retry_at_ns;
    struct sim_client *retry_next;
    bool in_retry;
};

/* Sets up the env of one loop thread's clients: dial and st are the thread's (how to
 * connect, its counters). Returns 0 or UV_ENOMEM; sim_client_env_close() either way. */
int sim_client_env_init(struct sim_client_env *env, uv_loop_t *loop, const struct run *run,
                        struct dial *dial, struct stats *st);
/* Frees the env; only once every client on it closed. */
void sim_client_env_close(struct sim_client_env *env);

/* Sets the client up (allocates nothing). */
void sim_client_init(struct sim_client *c, struct sim_client_env *env, uint64_t idx);

/* Connects and sends the first poll; the client counts in env->connecting until that poll
 * is out. Failures are counted and retried. Call once per client. */
void sim_client_start(struct sim_client *c);

/* Reconnects or re-polls every client whose retry is due at now_ns. */
void sim_client_retry_due(struct sim_client_env *env, uint64_t now_ns);

/* Closes the connection for good (no retry). */
void sim_client_stop(struct sim_client *c);

/* Frees what the client holds; only after it closed (or never started). */
void sim_client_close(struct sim_client *c);

#endif
