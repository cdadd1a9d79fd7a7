/* sim_upstream.h - one simulated PushProx client that behaves on the wire like upstream's
 * Go client (--client-mode=upstream).
 *
 * Upstream's client sends every request through one Go http.Transport: a request takes the
 * most recently idled keep-alive connection to the proxy, or dials a new one when none is
 * idle; once its answer is read the connection goes back to the idle pool, or is closed
 * when SIM_UP_IDLE_MAX (Go's default MaxIdleConnsPerHost, 2) are idle already. Its poll
 * loop sends POST /poll; when the answer brings a scrape it starts the scrape in the
 * background and sends the next poll AT ONCE; the scrape's answer is then pushed
 * (POST /push) as its own request, on another connection since the poll holds one. So in
 * steady state a client holds two connections (one with the poll out, one idle for the
 * next push); when a push is still out as the next one is due, a third is dialled, and
 * closed after use if two are idle by then.
 *
 * The exporter answers after --client.scrape-delay (0: at once, so the push goes out in
 * the same loop turn as the next poll, after it). Every connection a client opens while
 * the scrape phase runs is counted (stats.conns_opened_scrape), and each one closed
 * because the idle pool was full (stats.conns_closed_extra).
 *
 * Bounds: at most SIM_UP_CONNS_MAX connections per client (a request that finds none idle
 * and no room waits for the next one to come free), at most SIM_UP_PENDING_MAX scrapes
 * waiting for their push (more are refused as push errors; one poll at a time makes that
 * impossible unless the delay exceeds the time between scrapes of one client).
 *
 * With --tls.* every connection is dialled over mTLS like the pipelined clients', and the
 * thread's session is offered on each new one (so a third connection per scrape costs a
 * resumed handshake, counted in stats.handshakes_*).
 *
 * Owner: the loop thread of its env (struct sim_up_env); nothing is shared with other
 * threads. The env's counters mirror sim_client_env's so the worker reads either alike. */
#ifndef BENCH_SIM_UPSTREAM_H
#define BENCH_SIM_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dial.h"
#include "http.h"
#include "run.h"
#include "stats.h"
#include "transport.h"

/* Go's http.DefaultTransport keeps at most this many idle connections per host. */
#define SIM_UP_IDLE_MAX 2
/* Connections one client holds at once (poll, pushes, and one in reserve). */
#define SIM_UP_CONNS_MAX 4
/* Scrapes whose push has not gone out yet (exporter delay, or no connection free). */
#define SIM_UP_PENDING_MAX 4
/* Longest scrape Id carried to its push. */
#define SIM_UP_ID_MAX 128
/* Longest fqdn the bench makes. */
#define SIM_UP_FQDN_MAX 64
/* Wait before re-polling after an error. */
#define SIM_UP_RETRY_MS 100
/* Largest answer read on a connection (a poll's serialized scrape request). */
#define SIM_UP_ANSWER_MAX_BYTES (64 * 1024)
/* One read from a connection. */
#define SIM_UP_READ_BYTES (64 * 1024)
/* A request's head plus the push's inner head and first body line. */
#define SIM_UP_OUT_MAX_BYTES (8 * 1024)

struct sim_up_client;

struct sim_up_env {
    const struct run *run;
    struct dial *dial; /* the thread's: plain TCP or its TLS conf */
    struct transport_env tr_env;
    struct stats *st;
    struct sim_up_client *retry_head; /* waiting to re-poll, newest first */
    struct sim_up_client *due_head;   /* with pushes waiting for the exporter's delay */
    uint64_t connecting;              /* started, first poll not out yet */
    uint64_t connected;               /* connections up (all kinds) */
    uint64_t registered;              /* clients whose first poll went out */
    uint64_t pushes_answered;
    bool stopping;
    bool scraping; /* set by the worker during the scrape phase: count connections opened */
    struct http_parser req_parser;
    struct http_head req_head;
};

enum sim_up_state { SIM_UP_CLOSED = 0, SIM_UP_CONNECTING, SIM_UP_IDLE, SIM_UP_BUSY };
enum sim_up_kind { SIM_UP_POLL = 1, SIM_UP_PUSH = 2 };

struct sim_up_conn {
    struct transport tr;
    struct sim_up_client *c;
    struct http_parser parser;
    struct http_head *head; /* allocated while open */
    struct buf out;         /* the request in flight, less the push's filler */
    size_t filler_len;      /* filler bytes written after out (a push's body) */
    uint8_t state;          /* enum sim_up_state */
    uint8_t kind;           /* enum sim_up_kind of the request in flight */
    bool written;           /* the request is out (the poll registers the client) */
    bool up;                /* connected (counted in env->connected) */
};

struct sim_up_pending {
    uint64_t due_ns;
    uint8_t id_len;
    char id[SIM_UP_ID_MAX];
};

struct sim_up_client {
    struct sim_up_env *env;
    uint64_t idx;
    char fqdn[SIM_UP_FQDN_MAX];
    struct sim_up_conn conns[SIM_UP_CONNS_MAX];
    uint8_t idle[SIM_UP_IDLE_MAX]; /* indexes into conns, most recently idled last */
    uint8_t n_idle;
    struct sim_up_pending pending[SIM_UP_PENDING_MAX]; /* oldest first */
    uint8_t n_pending;
    bool want_poll; /* a poll waits for a connection slot */
    bool registered, stopping, started;
    bool in_retry, in_due;
    uint64_t retry_at_ns;
    struct sim_up_client *retry_next, *due_next;
};

/* dial and st are the thread's (how to connect, its counters). */
int sim_up_env_init(struct sim_up_env *env, uv_loop_t *loop, const struct run *run,
                    struct dial *dial, struct stats *st);
void sim_up_env_close(struct sim_up_env *env);

void sim_up_init(struct sim_up_client *c, struct sim_up_env *env, uint64_t idx);
/* Sends the first poll (dialling its connection). Call once per client. */
void sim_up_start(struct sim_up_client *c);
/* Re-polls clients whose retry is due and pushes scrapes whose exporter delay is over. */
void sim_up_due(struct sim_up_env *env, uint64_t now_ns);
/* Closes every connection for good. */
void sim_up_stop(struct sim_up_client *c);
/* Frees what the client holds; only after every connection closed. */
void sim_up_close(struct sim_up_client *c);

#endif
