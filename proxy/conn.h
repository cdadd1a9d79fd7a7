/* conn.h - one accepted TCP connection and the request it is serving.
 *
 * A connection carries any mix of requests, one at a time, in order (HTTP/1.1 keep-alive
 * and pipelining): Prometheus's scrapes, a client's polls and pushes, /clients, /metrics.
 * While a request waits for an answer from elsewhere (a poll for work, a scrape for its
 * push) the connection keeps reading, so a peer that goes away is noticed at once; bytes
 * of a next request that arrive early are kept (one read, at most CONN_PENDING_MAX_BYTES)
 * and reading pauses until the current request has ended.
 *
 * Owner: the worker that accepted it; nothing outside that loop holds a pointer to it.
 * Others name the request it serves by struct ref {worker, idx, gen}: gen changes when a
 * request ends and when the connection closes, so a late answer finds a mismatch. */
#ifndef PROXY_CONN_H
#define PROXY_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "http.h"
#include "msg.h"

/* Pipelined bytes kept while a request is being served; past it we stop reading. */
#define CONN_PENDING_MAX_BYTES (64 * 1024)
/* Per-worker read buffer: one read at most this big. */
#define CONN_READ_BUF_BYTES (64 * 1024)
/* Longest FQDN a poll or scrape may name (DNS: 253, plus room for a trailing dot). */
#define CONN_FQDN_MAX 254
/* Body limits of requests other than pushes. A poll's body is an FQDN. */
#define CONN_POLL_BODY_MAX_BYTES 1024
#define CONN_OTHER_BODY_MAX_BYTES (64 * 1024)
/* Heads kept for reuse per worker; more are freed. */
#define CONN_HEAD_POOL_MAX 1024

enum conn_state {
    CONN_READING, /* parsing a request, or idle between requests */
    CONN_WAITING, /* the request is dispatched; its answer comes from elsewhere */
    CONN_WRITING, /* writing the response */
};

/* What the current request is; also the `path` label of the request metrics. */
enum conn_route {
    ROUTE_SCRAPE,
    ROUTE_POLL,
    ROUTE_PUSH,
    ROUTE_CLIENTS,
    ROUTE_METRICS,
    ROUTE_OTHER,
    ROUTE_COUNT
};

struct worker;
struct write_req;

struct conn {
    uv_tcp_t tcp;
    struct worker *wk;
    uint32_t idx;
    uint32_t gen;
    struct http_parser parser;
    struct http_head *head; /* the request being parsed or served; NULL while idle */
    struct buf pending;     /* bytes read past the current request */
    uint8_t state;          /* enum conn_state */
    uint8_t route;          /* enum conn_route */
    bool closing;
    bool keep_alive;
    bool read_stopped;    /* pipelined bytes wait; reading resumes when the request ends */
    bool held;            /* on the worker's list of waiting polls */
    bool eof;             /* the peer half-closed; finish the current request, then close */
    int16_t error_status; /* a route-level refusal found in on_head (404, 405) */
    uint64_t req_start_ns;
    uint64_t write_since_ns; /* a response is queued (did not fit the socket) since */
    /* ROUTE_SCRAPE: our scrape slot. */
    uint32_t scrape_slot;
    /* ROUTE_POLL while waiting: arrival order for --poll.max-hold, and the FQDN to tell
     * its owner when the poll ends without work. */
    struct conn *hold_prev, *hold_next;
    uint64_t hold_since_ms;
    /* ROUTE_CLIENTS while waiting: replies still expected and the JSON gathered. */
    uint16_t clients_waiting;
    struct buf *clients_json;
    struct conn *written_next; /* in conn_table's written list */
    uint16_t fqdn_len;
    char fqdn[CONN_FQDN_MAX + 1];
};

struct conn_slot {
    struct conn *c; /* NULL when free */
    uint32_t gen;   /* survives the conn, so refs to a closed one stay stale */
};

/* Every connection of one worker, by index. */
struct conn_table {
    struct conn_slot *slots; /* [cap] */
    uint32_t cap;
    uint32_t *free_idx; /* stack of free indexes */
    uint32_t n_free;
    uint32_t n_open;
    struct conn *pool; /* closed conns kept for reuse (linked by hold_next) */
    uint32_t n_pooled;
    struct http_head **heads; /* [CONN_HEAD_POOL_MAX] heads kept for reuse */
    uint32_t n_heads;
    struct write_req *write_pool; /* uv_write requests kept for reuse */
    uint32_t n_write_pooled;
    /* Conns whose response was written at once, to be ended in the check phase. */
    struct conn *written_head, *written_tail;
    uv_check_t written_check;
    uv_idle_t written_idle;
};

int conn_table_init(struct conn_table *t, uint32_t cap);
/* Starts and stops the table's handles on the worker's loop. */
int conn_table_start(struct conn_table *t, uv_loop_t *loop);
void conn_table_stop(struct conn_table *t);
void conn_table_close(struct conn_table *t);

/* The listener's connection callback. */
void conn_on_connection(uv_stream_t *server, int status);

/* The connection serving request ref on this worker, or NULL if it is gone or has moved
 * on to another request. */
struct conn *conn_lookup(struct worker *wk, struct ref ref);
struct ref conn_ref(const struct conn *c);

/* Answers the current request and ends it. bufs are written in order; own[0..1] (may be
 * NULL) are freed once written. After this, c may be closed and reused: don't touch it. */
void conn_respond(struct conn *c, int status, const uv_buf_t *bufs, unsigned n_bufs, char *own0,
                  char *own1);
/* A short text response: status, text/plain body, optional extra header lines. */
void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A head from the worker's pool (NULL on ENOMEM), and back. */
struct http_head *conn_head_get(struct worker *wk);
void conn_head_put(struct worker *wk, struct http_head *h);

/* Gives the request's head back to the pool once the handler has copied what it needs,
 * so a connection that waits (an idle poll) holds no head. */
void conn_release_head(struct conn *c);

/* Once a second: answers 408 to requests still arriving after --web.read-timeout and
 * closes connections whose queued response is not taken within --web.write-timeout, so
 * slow or stuck peers cannot hold connections, heads and relayed bodies forever. */
void conn_expire_slow(struct worker *wk, uint64_t now_ns);

/* The only way a connection ends: logs reason at debug, cancels what its request waits
 * for, closes the handle; the conn is freed from the close callback. Safe to call twice. */
void conn_close(struct conn *c, const char *reason);

#endif
