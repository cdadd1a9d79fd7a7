/* conn.h - one accepted connection and the request it is serving.
 *
 * A connection carries any mix of requests, one at a time, in order (HTTP/1.1 keep-alive
 * and pipelining): Prometheus's scrapes, a client's polls and pushes, /clients, /metrics.
 * While a request waits for an answer from elsewhere (a poll for work, a scrape for its
 * push) the connection keeps reading, so a peer that goes away is noticed at once; bytes
 * of a next request that arrive early are kept (at most CONN_PENDING_MAX_BYTES), and
 * reading pauses past CONN_PENDING_READ_ON_BYTES of them until the current request has
 * ended.
 *
 * conn.c knows no handler by name: each request is matched against the route table given
 * to conn_table_init() (struct route), and reaches its handler only through the row it
 * matched. Bytes travel through a struct transport (plain TCP or TLS), which conn.c drives
 * through common/transport.h alone.
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
#include "counters.h"
#include "fqdn.h"
#include "http.h"
#include "list.h"
#include "msg.h"
#include "pool.h"
#include "ref.h"
#include "basic_auth.h"
#include "transport.h"
#include "webconf.h"

/* Per-worker read buffer: one read at most this big. */
#define CONN_READ_BUF_BYTES (64 * 1024)
/* While a request is served, the connection reads on as long as at most this many bytes of
 * the next request wait (a poll written behind a push): stopping and restarting a read
 * costs epoll_ctl calls each time (libuv 1.44 drops the fd's interest on a stop). Past it,
 * reading pauses until the request ends. */
#define CONN_PENDING_READ_ON_BYTES (4 * 1024)
/* Pipelined bytes kept while a request is being served: one more read fits after
 * CONN_PENDING_READ_ON_BYTES. */
#define CONN_PENDING_MAX_BYTES (CONN_PENDING_READ_ON_BYTES + CONN_READ_BUF_BYTES)
/* Heads kept for reuse per worker; more are freed. */
#define CONN_HEAD_POOL_MAX 1024
/* Closed connections kept for reuse per worker. */
#define CONN_POOL_MAX 65536
/* Listeners a table's connections may come from (the clients' and the scrapers'). */
#define CONN_MAX_LISTENERS 2
/* Password checks (bcrypt, on libuv's thread pool) one worker may have running; more
 * requests that need one are answered 503, so wrong passwords cannot queue up without
 * end. */
#define CONN_AUTH_MAX_RUNNING 64
/* After an error answer that ends the connection while the peer may still be sending (a
 * body over its limit, a malformed head), the connection is half-closed and what arrives
 * is read and dropped for up to this long before it is closed: closing a socket with
 * unread input sends a reset, which can destroy the answer before the peer reads it
 * (nginx's lingering close). */
#define CONN_LINGER_MS 2000

enum conn_state {
    CONN_READING,   /* parsing a request, or idle between requests */
    CONN_WAITING,   /* the request is dispatched; its answer comes from elsewhere */
    CONN_WRITING,   /* writing the response */
    CONN_LINGERING, /* answered and half-closed; dropping input until the peer closes */
};

struct conn;

/* The planes a listener serves and a route belongs to: clients (polls, pushes) and
 * scrapers (scrapes, /clients, /metrics). One listener serves both unless
 * --scrape.listen-address splits them. */
enum route_plane {
    PLANE_CLIENT = 1,
    PLANE_SCRAPE = 2,
    PLANE_ALL = 3,
};

/* How a route is matched. */
enum route_match {
    ROUTE_MATCH_PATH,         /* origin-form target equal to `path`, a query allowed */
    ROUTE_MATCH_ABSOLUTE_URI, /* absolute-form target (http://host/...): a scrape */
    ROUTE_MATCH_ANY,          /* anything no other row took (404) */
};

enum route_flags {
    /* The body is read from the socket straight into its own buffer, sized from the
     * Content-Length before any of it is read (pushes: the buffer then travels on). */
    ROUTE_BODY_IN_PLACE = 1,
    /* A peer that half-closes while the request waits still gets its answer (a push's
     * verdict, /clients); otherwise the request is cancelled, as Go's server cancels a
     * request's context when its peer goes. */
    ROUTE_ANSWER_AFTER_EOF = 2,
};

/* One row of a route table: everything conn.c needs to know about a kind of request. */
struct route {
    const char *label; /* the `path` label of the request metrics: "/poll", "proxy" */
    enum route_match match;
    const char *path; /* ROUTE_MATCH_PATH */
    int method;       /* the one llhttp method allowed (others get 405); -1: any */
    uint64_t body_max_bytes;
    enum counters_limit body_limit; /* counted when the body is too large; LIMIT_NONE */
    unsigned flags;                 /* enum route_flags */
    unsigned planes;                /* enum route_plane bits: where it is served */
    /* The request is complete (head in c->head, body in c->head->body): answer it now with
     * conn_respond*() or later, from a message. NULL: 404. */
    void (*on_request)(struct conn *c);
    /* The connection closes while the request waits: let go of what it waits for. */
    void (*on_cancel)(struct conn *c);
};

struct route_table {
    const struct route *rows;
    unsigned n; /* <= COUNTERS_MAX_ROUTES; the last row must be ROUTE_MATCH_ANY */
    /* Every connection closing, whatever it served, after its request's on_cancel: for
     * what the handlers keep on the connection across requests (c->polled). May be NULL. */
    void (*on_close)(struct conn *c);
    /* A connection whose handler asked it to move (c->move_to) is idle between requests:
     * send it to worker `to` (conn_detach()). May be NULL. */
    void (*on_idle_move)(struct conn *c, uint16_t to);
};

struct conn_table;

struct conn {
    struct transport tr; /* first: the transport's callbacks find the conn from it */
    struct conn_table *t;
    uint32_t idx;
    uint32_t gen;
    struct http_parser parser;
    struct http_head *head; /* the request being parsed or served; NULL while idle */
    struct buf pending;     /* bytes read past the current request */
    uint8_t state;          /* enum conn_state */
    uint8_t route;          /* index in the route table of the current request */
    uint8_t planes;         /* enum route_plane bits its listener serves */
    bool closing;
    bool keep_alive;
    bool read_stopped;    /* pipelined bytes wait; reading resumes when the request ends */
    bool eof;             /* the peer half-closed; finish the current request, then close */
    bool linger;          /* the answer is an error that ends the connection: linger after */
    bool auth_running;    /* its password is being checked: the handler has not started */
    bool in_input;        /* its input is being parsed: a response ends in the check phase */
    bool trusted;         /* the peer is a --web.trusted-proxy */
    bool polled;          /* it polled for fqdn, and fqdn's owner counts it (poll.c) */
    uint8_t listener;     /* which of the table's listeners it came from */
    int16_t error_status; /* a route-level refusal found in on_head (404, 405) */
    uint16_t move_to;     /* 1 + the worker it moves to once idle (on_idle_move); 0: stays */
    uint64_t req_start_ns;
    uint64_t write_since_ns;   /* a response is queued (did not fit the socket) since */
    uint64_t body_reserved;    /* bytes of the budget (budget.h) its request's body holds */
    char *own[2];              /* buffers of a queued response, freed once it is written */
    struct conn *written_next; /* on conn_table's list of responses written at once */
    /* The one list the connection is on, and since when: while READING, its table's list of
     * connections without a complete head (conn.c); while WAITING, its handler's (a poll:
     * the worker's hold list). */
    struct list link;
    uint64_t link_since_ms;
    /* State the current request's handler keeps on the connection while it waits. */
    uint32_t slot;        /* scrape: its scrape slot */
    uint16_t n_waiting;   /* /clients: shard replies still expected */
    struct buf *gathered; /* /clients: the JSON gathered so far */
    uint16_t fqdn_len;
    char fqdn[FQDN_MAX + 1]; /* poll, scrape: the FQDN of the request, canonical; kept
                              * between requests while `polled`; on a connection that
                              * pushes without polling, the FQDN of its last taken push */
};

struct conn_slot {
    struct conn *c; /* NULL when free */
    uint32_t gen;   /* survives the conn, so refs to a closed one stay stale */
};

/* What a table knows of each listener its connections come from. */
struct conn_listener {
    unsigned planes;      /* enum route_plane bits served there */
    struct webconf *conf; /* its web configuration; this table holds one reference */
    double tokens;        /* rate_limit: requests allowed now (a token bucket) */
    uint64_t tokens_at_ms;
};

/* Every connection of one worker, by index, and what they share. */
struct conn_table {
    uv_loop_t *loop;
    uint16_t wk_id;    /* the worker's id, for refs */
    uint16_t n_tables; /* how many workers (tables) share the process's limits */
    const struct route_table *routes;
    struct counters *counters; /* the worker's */
    struct transport_env env;  /* read buffer, write requests, callbacks */
    struct conn_slot *slots;   /* [cap] */
    uint32_t cap;
    uint32_t *free_idx; /* stack of free indexes */
    uint32_t n_free;
    uint32_t n_open;
    /* Connections without a complete head (idle, or a head still arriving), oldest first:
     * past --web.max-idle-connections the oldest is closed, and an idle one is closed after
     * --web.idle-timeout. */
    struct list unready;
    uint32_t n_unready;
    uint32_t n_queued; /* responses queued (written in part) */
    struct conn_listener listeners[CONN_MAX_LISTENERS];
    struct basic_auth_cache auth_cache;
    uint32_t n_auth_running;
    bool draining;            /* the process is stopping: every response ends its connection */
    struct pool conns;        /* closed conns kept for reuse */
    struct http_head **heads; /* [CONN_HEAD_POOL_MAX] heads kept for reuse */
    uint32_t n_heads;
    /* Conns whose response was written at once, to be ended in the check phase. */
    struct conn *written_head, *written_tail;
    uv_check_t written_check;
    uv_idle_t written_idle;
};

/* Sets up a worker's table for cap connections on loop, dispatching through routes (which
 * must outlive it) and counting into counters. Returns 0 or UV_ENOMEM; conn_table_close()
 * frees what was made either way. */
int conn_table_init(struct conn_table *t, uv_loop_t *loop, uint16_t wk_id, uint32_t cap,
                    const struct route_table *routes, struct counters *counters);
/* Starts and stops the table's handles on its loop. */
int conn_table_start(struct conn_table *t);
void conn_table_stop(struct conn_table *t);
/* Closes every open connection (shutdown). */
void conn_table_close_all(struct conn_table *t, const char *reason);
/* Frees the table; every connection must have closed. */
void conn_table_close(struct conn_table *t);

/* Sets listener l's planes and web configuration (the table takes a reference to conf and
 * drops the one it held: a reload). Connections already open keep serving with the new
 * configuration from their next request on. */
void conn_table_set_listener(struct conn_table *t, unsigned l, unsigned planes,
                             struct webconf *conf);

/* Takes a freshly accepted socket from listener l as a new connection. Returns 0 (the
 * connection owns the fd), or a negative code with the fd still the caller's to close:
 * UV_EMFILE when the table is full (--web.max-connections, counted and logged), UV_ENOMEM,
 * or what libuv refused. */
int conn_accept(struct conn_table *t, int fd, unsigned l);

/* Moving a connection to the worker that owns its FQDN (a client's: poll.c; Prometheus's,
 * for one scrape: scrape.c), so that polls, deliveries, pushes and the scrape they answer
 * stay on one thread. Whether c may move now: a plain TCP
 * connection whose request waits (what was pipelined behind it goes along), or that is
 * idle between requests with nothing pipelined, and nothing being written. */
bool conn_can_move(const struct conn *c);
/* Takes c's socket off this worker: mv gets a duplicate of its fd, the current request's
 * head (with_head; else it goes back to this worker's pool) and what was read past that
 * request, and c closes here without its route's on_cancel or the table's on_close
 * (its request goes on elsewhere). Returns 0, or a negative code with c untouched
 * (UV_EBUSY: it may not move now). */
int conn_detach(struct conn *c, struct conn_move *mv, bool with_head);
/* Takes a connection detached elsewhere into this table; its request (mv->route) waits,
 * or it waits for its next request (mv->idle).
 * Takes mv's fd, head and pending bytes when it succeeds (mv->fd becomes -1); returns NULL with
 * rc set (UV_EMFILE when the table is full, counted and logged) and leaves them to the
 * caller when not. */
struct conn *conn_adopt(struct conn_table *t, struct conn_move *mv, int *rc);

/* The connection serving request ref on this table, or NULL if it is gone or has moved on
 * to another request. */
struct conn *conn_lookup(struct conn_table *t, struct ref ref);
struct ref conn_ref(const struct conn *c);
/* The route of c's current request. */
const struct route *conn_route(const struct conn *c);

/* Answers the current request and ends it. bufs (at most 2) are written in order;
 * own0 and own1 (may be NULL) are freed once written. After this, c may be closed and
 * reused: don't touch it. */
void conn_respond(struct conn *c, int status, const uv_buf_t *bufs, unsigned n_bufs, char *own0,
                  char *own1);
/* A short text response: status, text/plain body, optional extra header lines; with
 * "Connection: close" added when the connection ends after it (not keep-alive, or the
 * process is draining), so a client never sends its next request into a closing socket. */
void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A head from the table's pool (NULL on ENOMEM), and back. */
struct http_head *conn_head_get(struct conn_table *t);
void conn_head_put(struct conn_table *t, struct http_head *h);

/* The identity the current request's client proves (tls.h's identity text), when the
 * proxy binds identities: the certificate a trusted front proxy passed in
 * X-PushProx-Client-Cert, or the client certificate of a TLS listener that verifies them.
 * Returns 1 with it appended to out, 0 when there is none to bind (plain HTTP, or
 * certificates not verified), or -EINVAL for a forwarded certificate that does not parse. */
int conn_identity(struct conn *c, struct buf *out);

/* Whether the connection closes once the current response is written. */
bool conn_closes_after(const struct conn *c);

/* Gives the request's head back to the pool once the handler has copied what it needs,
 * so a connection that waits (an idle poll) holds no head. */
void conn_release_head(struct conn *c);

/* Once a second: answers 408 to requests still arriving after --web.read-timeout, closes
 * connections idle (no request, nothing waited for) for --web.idle-timeout, those whose
 * queued response is not taken within --web.write-timeout and those that lingered
 * CONN_LINGER_MS, so silent, slow or stuck peers cannot hold connections, heads and relayed
 * bodies forever. */
void conn_expire_slow(struct conn_table *t, uint64_t now_ns);

/* The only way a connection ends: logs reason at debug, cancels what its request waits
 * for (its route's on_cancel), closes the transport; the conn is freed once the transport
 * has closed. Safe to call twice. */
void conn_close(struct conn *c, const char *reason);

#endif
