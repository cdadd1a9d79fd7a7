/* httpc.c - HTTP/1.1 client connections with keep-alive reuse (see httpc.h).
 * Owner: the client's one loop thread; nothing here is shared or locked.
 * Life: a conn is made by req_connect() or taken from the pool's idle list, serves one
 * request at a time, and goes back to the pool or through conn_close(), the only way
 * out: it closes the tcp and timer handles (and cancels a pending resolve); the memory
 * is freed in maybe_free() once every handle and the resolve have called back. */
#include "httpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

/* TCP keepalive probes after the idle time: every 10 s, 3 unanswered ones kill the
 * connection, so a dead NAT mapping is noticed within keepalive_s + 30 s. */
#define HTTPC_KEEPALIVE_INTVL_S 10
#define HTTPC_KEEPALIVE_CNT 3
/* Plaintext read from TLS at once. */
#define HTTPC_READ_CHUNK (16 * 1024)

struct httpc_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    struct httpc_pool *pool;
    struct httpc_req *req;
    struct http_parser parser;
    struct tls_sess tls;
    struct tls_conf *tls_conf;
    struct addrinfo *ai_list, *ai_next;
    struct httpc_conn *prev, *next; /* idle list */
    char host[HTTPC_HOST_MAX];
    char connect_host[HTTPC_HOST_MAX];
    int port;
    int open_handles;
    int last_connect_err;
    int later_err; /* a failure found while sending, reported from the timer */
    char later_text[HTTPC_ERR_MAX];
    size_t writes_pending;
    bool gai_pending;
    bool reopening; /* tcp closed to try the next address */
    bool closing;
    bool connected;
    bool ready; /* connected and, with TLS, handshake done */
    bool idle;
    bool reused;
    bool broken; /* must not go back to the pool */
};

struct wreq {
    uv_write_t req;
    struct httpc_conn *conn;
    char data[];
};

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res);
static void on_connect(uv_connect_t *cr, int status);
static void on_tcp_reopened(uv_handle_t *h);
static void on_handle_closed(uv_handle_t *h);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_write(uv_write_t *w, int status);
static void on_timeout(uv_timer_t *t);
static int on_res_head(struct http_parser *p);

/* 1xx answers other than 101 come before the response and are skipped. */
static bool is_interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}
static int on_res_body(struct http_parser *p, const char *at, size_t len);

static const struct http_parser_cb res_cb = {.on_head = on_res_head, .on_body = on_res_body};

static void conn_close(struct httpc_conn *c);
static void conn_fail(struct httpc_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int req_attach(struct httpc_req *r, bool allow_idle);

/* ---- pool ---- */

void httpc_pool_init(struct httpc_pool *p, uv_loop_t *loop, unsigned keepalive_s)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->keepalive_s = keepalive_s;
}

void httpc_pool_close(struct httpc_pool *p)
{
    p->closing = true;
    while (p->idle != NULL)
        conn_close(p->idle);
}

static void idle_unlink(struct httpc_conn *c)
{
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->pool->idle = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->idle = false;
    c->pool->n_idle--;
}

static bool conn_matches(const struct httpc_conn *c, const struct httpc_req *r)
{
    const char *ch = r->connect_host ? r->connect_host : r->host;
    return c->port == r->port && c->tls_conf == r->tls && strcmp(c->host, r->host) == 0 &&
           strcmp(c->connect_host, ch) == 0;
}

static struct httpc_conn *pool_take(struct httpc_pool *p, const struct httpc_req *r)
{
    for (struct httpc_conn *c = p->idle; c != NULL; c = c->next) {
        if (conn_matches(c, r)) {
            idle_unlink(c);
            uv_timer_stop(&c->timer);
            c->reused = true;
            return c;
        }
    }
    return NULL;
}

static void pool_put(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    if (p->closing) {
        conn_close(c);
        return;
    }
    c->idle = true;
    c->prev = NULL;
    c->next = p->idle;
    if (p->idle)
        p->idle->prev = c;
    p->idle = c;
    p->n_idle++;
    uv_timer_start(&c->timer, on_timeout, HTTPC_IDLE_TIMEOUT_MS, 0);
    if (p->n_idle > HTTPC_POOL_MAX_IDLE) {
        struct httpc_conn *last = p->idle;
        while (last->next)
            last = last->next;
        conn_close(last);
    }
}

/* ---- requests ---- */

void httpc_req_init(struct httpc_req *r, size_t out_max)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->out, out_max);
    http_head_init(&r->head, 0);
}

void httpc_req_close(struct httpc_req *r)
{
    if (r->active)
        httpc_cancel(r);
    buf_close(&r->out);
    http_head_close(&r->head);
}

void httpc_req_reset(struct httpc_req *r)
{
    buf_reset(&r->out);
    http_head_reset(&r->head);
    r->err_text[0] = '\0';
    r->out_more = false;
    r->sent = 0;
    r->res_bytes = 0;
    r->retried = false;
}

int httpc_start(struct httpc_req *r)
{
    r->err_text[0] = '\0';
    r->sent = 0;
    r->res_bytes = 0;
    r->retried = false;
    r->start_ms = uv_now(r->pool->loop);
    if (r->pool->closing) {
        snprintf(r->err_text, sizeof(r->err_text), "shutting down");
        return UV_ECANCELED;
    }
    if (strlen(r->host) >= HTTPC_HOST_MAX ||
        (r->connect_host && strlen(r->connect_host) >= HTTPC_HOST_MAX)) {
        snprintf(r->err_text, sizeof(r->err_text), "host name too long");
        return UV_EINVAL;
    }
    return req_attach(r, true);
}

static void req_flush(struct httpc_req *r);

int httpc_write(struct httpc_req *r, const void *data, size_t len)
{
    int rc = buf_append(&r->out, data, len);
    if (rc != 0)
        return rc;
    if (r->conn && r->conn->ready)
        req_flush(r);
    return 0;
}

void httpc_end(struct httpc_req *r)
{
    r->out_more = false;
}

/* Detaches r from its connection: the request is over for the connection. */
static struct httpc_req *conn_detach(struct httpc_conn *c)
{
    struct httpc_req *r = c->req;
    if (r == NULL)
        return NULL;
    c->req = NULL;
    r->conn = NULL;
    r->active = false;
    uv_timer_stop(&c->timer);
    return r;
}

void httpc_cancel(struct httpc_req *r)
{
    if (!r->active)
        return;
    struct httpc_conn *c = r->conn;
    conn_detach(c);
    conn_close(c);
}

/* ---- connections ---- */

static void maybe_free(struct httpc_conn *c)
{
    if (c->open_handles > 0 || c->gai_pending)
        return;
    if (c->ai_list)
        uv_freeaddrinfo(c->ai_list);
    tls_sess_close(&c->tls);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct httpc_conn *c = h->data;
    c->open_handles--;
    maybe_free(c);
}

static void conn_close(struct httpc_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    idle_unlink(c);
    c->pool->n_conns--;
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    if (!c->reopening)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Ends the current request with an error, or sends it once more on a fresh connection
 * when a reused one turned out to be dead before answering. */
static void conn_fail(struct httpc_conn *c, int err, const char *fmt, ...)
{
    struct httpc_req *r = conn_detach(c);
    conn_close(c);
    if (r == NULL)
        return;
    bool dead_idle = c->reused && r->res_bytes == 0 && !r->retried &&
                     (err == UV_EOF || err == UV_ECONNRESET || err == UV_EPIPE);
    if (dead_idle) {
        r->retried = true;
        r->sent = 0;
        log_debug("httpc", "reused connection was closed; retrying on a new one",
                  LOG_STR("host", r->host), LOG_INT("port", r->port));
        if (req_attach(r, false) == 0)
            return;
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err_text, sizeof(r->err_text), fmt, ap);
        va_end(ap);
    }
    r->on_done(r, err);
}

/* Sending happens inside callers' callbacks (an exporter's body is written to the push
 * from its on_body), so a failure found while sending must not call on_done there and
 * then: it is kept and reported from the connection's timer on the next loop turn. */
static void conn_fail_later(struct httpc_conn *c, int err, const char *text)
{
    if (c->later_err != 0 || c->closing)
        return;
    c->later_err = err;
    snprintf(c->later_text, sizeof(c->later_text), "%s", text);
    c->broken = true;
    uv_timer_start(&c->timer, on_timeout, 0, 0);
}

/* Writes what the socket takes now without a copy (uv_try_write refuses while earlier
 * writes are queued, so order holds); only the rest is copied into a queued write. */
static void conn_send_raw(struct httpc_conn *c, const char *data, size_t len)
{
    if (len == 0 || c->closing || c->later_err)
        return;
    if (c->connected) {
        uv_buf_t now = uv_buf_init((char *)data, (unsigned int)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            if (len == 0)
                return;
        } else if (n != UV_EAGAIN) {
            char text[HTTPC_ERR_MAX];
            snprintf(text, sizeof(text), "write to %s:%d: %s", c->host, c->port, uv_strerror(n));
            conn_fail_later(c, n, text);
            return;
        }
    }
    struct wreq *w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        conn_fail_later(c, UV_ENOMEM, "out of memory");
        return;
    }
    w->conn = c;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned int)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        free(w);
        char text[HTTPC_ERR_MAX];
        snprintf(text, sizeof(text), "write to %s:%d: %s", c->host, c->port, uv_strerror(rc));
        conn_fail_later(c, rc, text);
        return;
    }
    c->writes_pending++;
}

static void flush_tls(struct httpc_conn *c)
{
    if (c->tls.out.len > 0) {
        conn_send_raw(c, c->tls.out.base, c->tls.out.len);
        buf_reset(&c->tls.out);
    }
}

static void conn_send(struct httpc_conn *c, const char *data, size_t len)
{
    if (c->tls_conf == NULL) {
        conn_send_raw(c, data, len);
        return;
    }
    while (len > 0 && !c->closing && !c->later_err) {
        size_t n = len > HTTPC_TLS_CHUNK_BYTES ? HTTPC_TLS_CHUNK_BYTES : len;
        char err[TLS_ERR_MAX];
        int rc = tls_sess_write(&c->tls, data, n, err, sizeof(err));
        if (rc != 0) {
            conn_fail_later(c, rc, err);
            return;
        }
        flush_tls(c);
        data += n;
        len -= n;
    }
}

static void req_flush(struct httpc_req *r)
{
    struct httpc_conn *c = r->conn;
    if (r->sent < r->out.len) {
        size_t from = r->sent;
        r->sent = r->out.len;
        conn_send(c, r->out.base + from, r->out.len - from);
    }
}

static void on_write(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;
    struct httpc_conn *c = wr->conn;
    free(wr);
    c->writes_pending--;
    if (status < 0 && status != UV_ECANCELED && !c->closing)
        conn_fail(c, status, "write to %s:%d: %s", c->host, c->port, uv_strerror(status));
}

static void conn_ready(struct httpc_conn *c)
{
    c->ready = true;
    if (c->req && c->req->timeout_ms == 0)
        uv_timer_stop(&c->timer); /* connected: a poll may now wait as long as it likes */
    if (c->req)
        req_flush(c->req);
}

static void set_keepalive(struct httpc_conn *c)
{
    unsigned ka = c->pool->keepalive_s;
    if (ka == 0)
        return;
    uv_tcp_keepalive(&c->tcp, 1, ka);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        int intvl = HTTPC_KEEPALIVE_INTVL_S, cnt = HTTPC_KEEPALIVE_CNT;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }
}

static void try_next_addr(struct httpc_conn *c)
{
    struct addrinfo *ai = c->ai_next;
    c->ai_next = ai->ai_next;
    int rc = uv_tcp_connect(&c->connect, &c->tcp, ai->ai_addr, on_connect);
    if (rc != 0)
        conn_fail(c, rc, "connect %s:%d: %s", c->connect_host, c->port, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    struct httpc_conn *c = gai->data;
    c->gai_pending = false;
    if (c->closing) {
        if (res)
            uv_freeaddrinfo(res);
        maybe_free(c);
        return;
    }
    if (status < 0 || res == NULL) {
        conn_fail(c, status < 0 ? status : UV_EAI_NONAME, "resolve %s: %s", c->connect_host,
                  uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        return;
    }
    c->ai_list = res;
    c->ai_next = res;
    try_next_addr(c);
}

static void on_tcp_reopened(uv_handle_t *h)
{
    struct httpc_conn *c = h->data;
    c->reopening = false;
    if (c->closing) {
        c->open_handles--;
        maybe_free(c);
        return;
    }
    uv_tcp_init(c->pool->loop, &c->tcp);
    c->tcp.data = c;
    try_next_addr(c);
}

static void on_connect(uv_connect_t *cr, int status)
{
    struct httpc_conn *c = cr->handle->data;
    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        if (c->ai_next != NULL) {
            /* Another address of the name may answer (localhost: ::1, then 127.0.0.1). */
            c->last_connect_err = status;
            c->reopening = true;
            uv_close((uv_handle_t *)&c->tcp, on_tcp_reopened);
            return;
        }
        conn_fail(c, status, "connect %s:%d: %s", c->connect_host, c->port, uv_strerror(status));
        return;
    }
    c->connected = true;
    set_keepalive(c);
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        conn_fail(c, rc, "read from %s:%d: %s", c->host, c->port, uv_strerror(rc));
        return;
    }
    if (c->tls_conf == NULL) {
        conn_ready(c);
        return;
    }
    rc = tls_sess_init(&c->tls, c->tls_conf, c->host);
    if (rc != 0) {
        conn_fail(c, rc, "tls setup for %s: %s", c->host, uv_strerror(rc));
        return;
    }
    char err[TLS_ERR_MAX];
    rc = tls_sess_handshake(&c->tls, err, sizeof(err));
    flush_tls(c);
    if (rc != UV_EAGAIN && rc != 0)
        conn_fail(c, rc, "%s:%d: %s", c->host, c->port, err);
    else if (rc == 0)
        conn_ready(c);
}

/* Makes a new connection for r. Returns 0 or a negative code (err_text set). */
static int conn_new(struct httpc_req *r)
{
    struct httpc_pool *p = r->pool;
    struct httpc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(r->err_text, sizeof(r->err_text), "out of memory");
        return UV_ENOMEM;
    }
    c->pool = p;
    c->port = r->port;
    c->tls_conf = r->tls;
    snprintf(c->host, sizeof(c->host), "%s", r->host);
    snprintf(c->connect_host, sizeof(c->connect_host), "%s",
             r->connect_host ? r->connect_host : r->host);
    uv_tcp_init(p->loop, &c->tcp);
    uv_timer_init(p->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->gai.data = c;
    c->open_handles = 2;
    p->n_conns++;
    c->req = r;
    r->conn = c;
    r->active = true;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->connect_host, c->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(c->connect_host, c->port, (struct sockaddr_in6 *)&ss) == 0) {
        int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss, on_connect);
        if (rc != 0) {
            conn_detach(c);
            conn_close(c);
            snprintf(r->err_text, sizeof(r->err_text), "connect %s:%d: %s",
                     r->connect_host ? r->connect_host : r->host, r->port, uv_strerror(rc));
        }
        return rc;
    }
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%d", c->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(p->loop, &c->gai, on_resolved, c->connect_host, port_s, &hints);
    if (rc != 0) {
        conn_detach(c);
        conn_close(c);
        snprintf(r->err_text, sizeof(r->err_text), "resolve %s: %s", c->connect_host,
                 uv_strerror(rc));
        return rc;
    }
    c->gai_pending = true;
    return 0;
}

/* Gives r a connection (an idle one if allowed and available) and starts its timer. */
static int req_attach(struct httpc_req *r, bool allow_idle)
{
    struct httpc_conn *c = allow_idle ? pool_take(r->pool, r) : NULL;
    http_head_reset(&r->head);
    r->res_bytes = 0;
    if (c != NULL) {
        c->req = r;
        r->conn = c;
        r->active = true;
    } else {
        int rc = conn_new(r);
        if (rc != 0)
            return rc;
        c = r->conn;
    }
    http_parser_init(&c->parser, HTTP_KIND_RESPONSE, &res_cb, c);
    c->parser.body_max_bytes = r->body_max_bytes;
    c->parser.head_request = r->head_request;
    if (r->head_max_bytes > 0)
        c->parser.head_max_bytes = r->head_max_bytes;
    http_parser_begin(&c->parser, &r->head);
    if (r->timeout_ms > 0) {
        uint64_t now = uv_now(r->pool->loop), spent = now - r->start_ms;
        uint64_t left = spent >= r->timeout_ms ? 1 : r->timeout_ms - spent;
        uv_timer_start(&c->timer, on_timeout, left, 0);
    } else if (!c->ready) {
        uv_timer_start(&c->timer, on_timeout, HTTPC_CONNECT_TIMEOUT_MS, 0);
    }
    if (c->ready)
        req_flush(r);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct httpc_conn *c = t->data;
    if (c->req == NULL) {
        conn_close(c); /* idle too long, or broke while idle */
        return;
    }
    struct httpc_req *r = c->req;
    if (c->later_err != 0) {
        conn_fail(c, c->later_err, "%s", c->later_text);
        return;
    }
    r->retried = true; /* a timeout is never retried */
    if (!c->ready)
        conn_fail(c, UV_ETIMEDOUT, "no connection%s within %.0fs",
                  c->tls_conf ? " or TLS handshake" : "",
                  (double)(r->timeout_ms ? r->timeout_ms : HTTPC_CONNECT_TIMEOUT_MS) / 1000.0);
    else
        conn_fail(c, UV_ETIMEDOUT, "timeout after %.3fs", (double)r->timeout_ms / 1000.0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    /* One buffer for every read: the loop is single-threaded and each read is consumed
     * (parsed, or copied into the TLS input) before its callback returns. */
    static char slab[64 * 1024];
    (void)h;
    (void)suggested;
    *b = uv_buf_init(slab, sizeof(slab));
}

static int on_res_head(struct http_parser *p)
{
    struct httpc_conn *c = p->data;
    struct httpc_req *r = c->req;
    if (r == NULL || c->closing)
        return 502;
    if (is_interim(p->head->status))
        return 0; /* 100 Continue and the like: the real answer follows */
    int rc = r->on_head ? r->on_head(r) : 0;
    p->body_mode = r->body_mode;
    p->body_max_bytes = r->body_max_bytes;
    return rc;
}

static int on_res_body(struct http_parser *p, const char *at, size_t len)
{
    struct httpc_conn *c = p->data;
    struct httpc_req *r = c->req;
    if (r == NULL || c->closing)
        return 502;
    return r->on_body ? r->on_body(r, at, len) : 0;
}

static void req_complete(struct httpc_conn *c, bool extra_bytes)
{
    struct httpc_req *r = c->req;
    bool reuse = !extra_bytes && !c->broken && r->head.keep_alive && !r->out_more &&
                 r->sent == r->out.len && c->writes_pending == 0;
    conn_detach(c);
    if (reuse)
        pool_put(c);
    else
        conn_close(c);
    r->on_done(r, 0);
}

/* Plaintext from the peer. */
static void conn_feed(struct httpc_conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->closing) {
        struct httpc_req *r = c->req;
        if (r == NULL) {
            /* Bytes nobody asked for: the connection is out of step; drop it. */
            log_debug("httpc", "unexpected bytes on an idle connection", LOG_STR("host", c->host));
            conn_close(c);
            return;
        }
        r->res_bytes += len;
        size_t used = 0;
        enum http_parse_result pr = http_parser_execute(&c->parser, data, len, &used);
        if (c->closing || c->req != r)
            return; /* a callback ended the request */
        if (pr == HTTP_PARSE_ERROR) {
            c->broken = true;
            r->retried = true;
            conn_fail(c, UV_EPROTO, "bad response from %s:%d: %s", c->host, c->port,
                      c->parser.error_msg ? c->parser.error_msg : "unparsable");
            return;
        }
        if (pr == HTTP_PARSE_COMPLETE && is_interim(r->head.status)) {
            /* An interim answer: parse what follows as the response proper. */
            http_parser_begin(&c->parser, &r->head);
            data += used;
            len -= used;
            continue;
        }
        if (pr == HTTP_PARSE_COMPLETE) {
            req_complete(c, used < len);
            return;
        }
        return;
    }
}

static void conn_eof(struct httpc_conn *c, int err)
{
    struct httpc_req *r = c->req;
    if (r == NULL) {
        conn_close(c);
        return;
    }
    if (err == UV_EOF && http_parser_busy(&c->parser)) {
        enum http_parse_result pr = http_parser_finish(&c->parser);
        if (pr == HTTP_PARSE_COMPLETE) {
            c->broken = true;
            req_complete(c, false);
            return;
        }
    }
    if (err == UV_EOF)
        conn_fail(c, err, "%s:%d closed the connection %s", c->host, c->port,
                  r->res_bytes ? "in the middle of the response" : "before responding");
    else
        conn_fail(c, err, "read from %s:%d: %s", c->host, c->port, uv_strerror(err));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct httpc_conn *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        conn_eof(c, (int)nread);
        return;
    }
    if (nread == 0)
        return;
    if (c->tls_conf == NULL) {
        conn_feed(c, b->base, (size_t)nread);
        return;
    }
    char err[TLS_ERR_MAX];
    if (tls_sess_feed(&c->tls, b->base, (size_t)nread) != 0) {
        conn_fail(c, UV_E2BIG, "tls: too much unread data from %s", c->host);
        return;
    }
    if (!c->tls.handshake_done) {
        int rc = tls_sess_handshake(&c->tls, err, sizeof(err));
        flush_tls(c);
        if (rc == UV_EAGAIN)
            return;
        if (rc != 0) {
            if (c->req)
                c->req->retried = true;
            conn_fail(c, rc, "%s:%d: %s", c->host, c->port, err);
            return;
        }
        conn_ready(c);
        if (c->closing)
            return;
    }
    for (;;) {
        char plain[HTTPC_READ_CHUNK];
        int n = tls_sess_read(&c->tls, plain, sizeof(plain), err, sizeof(err));
        flush_tls(c);
        if (c->closing)
            return;
        if (n == 0)
            return;
        if (n == UV_EOF) {
            conn_eof(c, UV_EOF);
            return;
        }
        if (n < 0) {
            conn_fail(c, n, "%s:%d: %s", c->host, c->port, err);
            return;
        }
        conn_feed(c, plain, (size_t)n);
        if (c->closing)
            return;
    }
}
