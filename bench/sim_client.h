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
 * Owner: the worker thread whose loop it lives on; nothing in it is shared. */
#ifndef BENCH_SIM_CLIENT_H
#define BENCH_SIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "transport.h"

struct worker;

/* Wait before reconnecting or re-polling after an error. */
#define SIM_CLIENT_RETRY_MS 100
/* Largest poll answer accepted (a serialized scrape request). */
#define SIM_CLIENT_POLL_MAX_BYTES (64 * 1024)
/* Longest fqdn the bench makes. */
#define SIM_CLIENT_FQDN_MAX 64

enum sim_expect { SIM_EXPECT_POLL = 1, SIM_EXPECT_PUSH = 2 };

/* One write's bytes: out[0..split) + filler_len filler bytes + out[split..len). */
struct sim_out {
    struct buf b;
    size_t split;
    size_t filler_len;
};

struct sim_client {
    struct transport_conn tc;
    struct worker *wk;
    uint64_t idx; /* global client number */
    char fqdn[SIM_CLIENT_FQDN_MAX];
    struct http_parser parser;
    struct http_head *head; /* allocated while connected */
    struct sim_out out[2];  /* [cur] is being written, the other is queued */
    uint8_t cur;
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

/* Sets the client up (allocates nothing). */
void sim_client_init(struct sim_client *c, struct worker *wk, uint64_t idx);

/* Connects and sends the first poll. Failures are counted and retried. */
void sim_client_start(struct sim_client *c);

/* The retry the worker scheduled is due: re-poll if connected, else reconnect. */
void sim_client_retry(struct sim_client *c);

/* Closes the connection for good (no retry). */
void sim_client_stop(struct sim_client *c);

/* Frees what the client holds; only after it closed (or never started). */
void sim_client_close(struct sim_client *c);

#endif
