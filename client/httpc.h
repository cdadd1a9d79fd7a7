/* httpc.h - a small HTTP/1.1 client on libuv: one request at a time per connection,
 * keep-alive connections kept in a pool and reused, over the transport interface
 * (transport.h): plain TCP, or TLS (transport_tls.h) with a conf of tls.h.
 *
 * The caller owns a struct httpc_req: it fills the target and the request bytes (req->out,
 * a complete request, or its start with out_more set and the rest given later with
 * httpc_write()/httpc_end()), then httpc_start(). The response head goes to on_head (which
 * picks COLLECT or STREAM for the body), body pieces to on_body in STREAM mode, and
 * on_done is called exactly once, never from inside httpc_start(): err 0 with a complete
 * response in req->head, or a negative UV_E* code with req->err_text saying what failed
 * ("connect 127.0.0.1:9100: connection refused", "timeout after 10.000s", a TLS reason).
 * httpc_cancel() ends a request without calling on_done. After on_done or cancel the req
 * is the caller's again (reuse it or free it; httpc_req_close() frees its buffers).
 *
 * A request that fails on a reused connection before any response byte arrived is sent
 * once more on a fresh connection, since the server may have closed the idle one just as
 * we wrote (Go's transport does the same). Idle connections are watched: one the server
 * closes is dropped at once, and none stays idle longer than HTTPC_IDLE_TIMEOUT_MS. */
#ifndef PUSHPROX_HTTPC_H
#define PUSHPROX_HTTPC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "list.h"
#include "tls.h"
#include "transport.h"

/* How long an unused keep-alive connection is kept (Go's transport: 90 s). Short of the
 * usual server-side limits (nginx 75 s) would be nicer, but those only cost one retry. */
#define HTTPC_IDLE_TIMEOUT_MS 60000
/* Longest a new connection may take to connect and finish its TLS handshake when the
 * request has no timeout of its own (a poll): a peer that accepts and stays silent, or
 * an address that drops SYNs, must not hold a poller for ever. */
#define HTTPC_CONNECT_TIMEOUT_MS 10000
/* Most idle connections kept per pool; more are closed. Every exporter on the host and
 * every concurrent push keeps at most one. */
#define HTTPC_POOL_MAX_IDLE 64
/* The env's read buffer: one read of an exporter's response or a poll's answer; TLS reads
 * its ciphertext there. */
#define HTTPC_READ_BUF_BYTES (64 * 1024)
/* Longest error text: a TLS reason (TLS_ERR_MAX) with the host and port in front. */
#define HTTPC_ERR_MAX (TLS_ERR_MAX + 128)
/* Longest host name or address used as a connection key. */
#define HTTPC_HOST_MAX 256

struct httpc_conn;

struct httpc_pool {
    uv_loop_t *loop;
    struct transport_env *env; /* httpc_env_init()'s, shared by the pools of one loop */
    struct list idle;          /* struct httpc_conn, most recently used first */
    size_t n_idle;
    size_t n_conns;        /* open connections, idle or busy, for metrics */
    uint64_t keepalive_ms; /* TCP keepalive idle time, 0 = off */
    bool closing;
};

struct httpc_req;
/* Return 0 to go on or an HTTP status to fail the response (on_done then gets
 * UV_EPROTO). May set req->body_mode and req->body_max_bytes. */
typedef int (*httpc_head_cb)(struct httpc_req *req);
typedef int (*httpc_body_cb)(struct httpc_req *req, const char *at, size_t len);
typedef void (*httpc_done_cb)(struct httpc_req *req, int err);

/* Longest Proxy-Authorization value ("Basic " and the base64 of user:password). */
#define HTTPC_VIA_AUTH_MAX 512
/* Longest answer of an HTTP proxy to CONNECT (its head). */
#define HTTPC_CONNECT_ANSWER_MAX 8192

/* An HTTP proxy between the client and a host (Go's ProxyFromEnvironment, proxyenv.h).
 * Requests to an https host go through a CONNECT tunnel to it, then TLS inside; requests to
 * an http host go to the proxy itself, in absolute form (the caller writes the request
 * line, and adds Proxy-Authorization: the request is the proxy's to read). */
struct httpc_via {
    bool use;
    char host[HTTPC_HOST_MAX]; /* without brackets */
    int port;
    char auth[HTTPC_VIA_AUTH_MAX]; /* "Basic <base64>" from the proxy URL, or "" */
};

struct httpc_req {
    /* Set by the caller before httpc_start(). */
    struct httpc_pool *pool;
    const char *host;         /* for TLS verification/SNI and the connection key */
    const char *connect_host; /* address or name to connect to; NULL: host */
    int port;
    struct tls_conf *tls;        /* NULL: plain TCP */
    const struct httpc_via *via; /* NULL: straight to host */
    struct buf out;              /* request bytes; kept until done (for one retry) */
    bool out_more;               /* more bytes will follow via httpc_write() */
    uint64_t timeout_ms;         /* whole request, 0 = none */
    bool head_request;           /* the method is HEAD: the answer has no body, whatever it says */
    size_t head_max_bytes;       /* the answer's head, as read; 0: HTTP_HEAD_MAX_BYTES_DEFAULT */
    enum http_body_mode body_mode;
    size_t body_max_bytes;
    httpc_head_cb on_head;
    httpc_body_cb on_body;
    httpc_done_cb on_done;
    void *data;
    /* The response, valid in on_head, on_body and on_done. */
    struct http_head head;
    char err_text[HTTPC_ERR_MAX];
    /* Internal. */
    struct httpc_conn *conn;
    size_t sent;      /* bytes of out handed to the connection */
    size_t res_bytes; /* response bytes seen */
    uint64_t start_ms;
    bool retried;
    bool active;
};

/* Sets up the transports' env for every pool on loop: httpc's callbacks and a read buffer
 * of HTTPC_READ_BUF_BYTES. Returns 0 or UV_ENOMEM. Close it (transport_env_close()) after
 * the loop ran every connection's close. */
int httpc_env_init(struct transport_env *env, uv_loop_t *loop);

/* Sets up a pool on env; can't fail. */
void httpc_pool_init(struct httpc_pool *p, struct transport_env *env, uint64_t keepalive_ms);
/* Closes idle connections; busy ones close when their request ends. */
void httpc_pool_close(struct httpc_pool *p);

/* Sets up a request: empty out (bounded by out_max), empty response head. Can't fail. */
void httpc_req_init(struct httpc_req *r, size_t out_max);
void httpc_req_close(struct httpc_req *r);
/* Empties out and the response so the req can be started again. */
void httpc_req_reset(struct httpc_req *r);

/* Starts the request. Returns 0 (on_done will follow), or a negative code (nothing
 * started; err_text says why). */
int httpc_start(struct httpc_req *r);
/* Appends request bytes while out_more is set. Returns 0 or -E2BIG past out's limit. */
int httpc_write(struct httpc_req *r, const void *data, size_t len);
/* No more request bytes. */
void httpc_end(struct httpc_req *r);
/* Whether r is active on a connection that is up (connected, TLS done) and has been
 * handed all of r's bytes: a poll in this state is held by the proxy. */
bool httpc_req_held(const struct httpc_req *r);

/* Ends an active request without calling on_done; its connection is closed. */
void httpc_cancel(struct httpc_req *r);

#endif
