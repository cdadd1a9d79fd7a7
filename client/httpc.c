/* httpc.c - HTTP/1.1 client connections with keep-alive reuse (see httpc.h).
 * Owner: the client's one loop thread; nothing here is shared or locked.
 * Life: a conn is made by conn_new() or taken from the pool's idle list, serves one request
 * at a time, and goes back to the pool or through conn_close(), the only way out: it closes
 * the transport and the timer (and cancels a pending resolve); the memory is freed in
 * maybe_free() once both have called back and the resolve has ended. Bytes go through the
 * transport (transport.h), plain or TLS alike, as proxy/conn.c's do. */
#include "httpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "transport_tls.h"

struct httpc_conn {
    struct transport tr;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    struct httpc_pool *pool;
    struct httpc_req *req;
    struct http_parser parser;
    struct tls_conf *tls_conf;
    struct addrinfo *ai_list, *ai_next;
    struct list idle_link; /* in pool->idle */
    char host[HTTPC_HOST_MAX];
    char connect_host[HTTPC_HOST_MAX];
    int port;
    int open_handles; /* the timer, and the transport while it is open */
    int later_err;    /* a failure found while sending, reported from the timer */
    char later_text[HTTPC_ERR_MAX];
    bool gai_pending;
    bool reopening; /* the transport closes so the next address can be tried */
    bool closing;
    bool ready; /* connected and, with TLS, handshake done */
    bool idle;
    bool reused;
    bool broken; /* must not go back to the pool */
    /* Through an HTTP proxy (req->via): where to connect, and the CONNECT tunnel's state. */
    const struct httpc_via *via;
    int connect_port;
    enum { TUNNEL_NONE, TUNNEL_CONNECTING, TUNNEL_ASKED, TUNNEL_TLS } tunnel;
    struct buf tunnel_answer;
};

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res);
static void on_connect(struct transport *t, int status);
static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *b);
static void on_written(struct transport *t, int status);
static void on_closed(struct transport *t);
static void ask_tunnel(struct httpc_conn *c);
static void on_timer_closed(uv_handle_t *h);
static void on_timeout(uv_timer_t *t);
static int on_res_head(struct http_parser *p);

/* 1xx answers other than 101 come before the response and are skipped. */
static bool is_interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}
static int on_res_body(struct http_parser *p, const char *at, size_t len);

static const struct http_parser_cb res_cb = {.on_head = on_res_head, .on_body = on_res_body};

static const struct transport_cb httpc_transport_cb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};

static void conn_close(struct httpc_conn *c);
static void conn_fail(struct httpc_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int req_attach(struct httpc_req *r, bool allow_idle);

static struct httpc_conn *conn_of(struct transport *t)
{
    return transport_owner(t, struct httpc_conn, tr);
}

/* ---- pool ---- */

int httpc_env_init(struct transport_env *env, uv_loop_t *loop)
{
    return transport_env_init(env, loop, &httpc_transport_cb, HTTPC_READ_BUF_BYTES);
}

void httpc_pool_init(struct httpc_pool *p, struct transport_env *env, uint64_t keepalive_ms)
{
    memset(p, 0, sizeof(*p));
    p->loop = env->loop;
    p->env = env;
    p->keepalive_ms = keepalive_ms;
    list_init(&p->idle);
}

void httpc_pool_close(struct httpc_pool *p)
{
    struct list *l;

    p->closing = true;
    while ((l = list_first(&p->idle)))
        conn_close(list_entry(l, struct httpc_conn, idle_link));
}

static void idle_unlink(struct httpc_conn *c)
{
    if (!c->idle)
        return;
    list_remove(&c->idle_link);
    c->idle = false;
    c->pool->n_idle--;
}

static bool conn_matches(const struct httpc_conn *c, const struct httpc_req *r)
{
    if (c->via != r->via)
        return false;
    const char *ch = r->connect_host ? r->connect_host : r->host;
    return c->port == r->port && c->tls_conf == r->tls && strcmp(c->host, r->host) == 0 &&
           strcmp(c->connect_host, ch) == 0;
}

static struct httpc_conn *idle_take(struct httpc_pool *p, const struct httpc_req *r)
{
    struct list *l, *tmp;

    list_for_each_safe(l, tmp, &p->idle)
    {
        struct httpc_conn *c = list_entry(l, struct httpc_conn, idle_link);
        if (conn_matches(c, r)) {
            idle_unlink(c);
            uv_timer_stop(&c->timer);
            c->reused = true;
            return c;
        }
    }
    return NULL;
}

static void idle_put(struct httpc_conn *c)
{
    struct httpc_pool *p = c->pool;
    if (p->closing) {
        conn_close(c);
        return;
    }
    c->idle = true;
    list_push_front(&p->idle, &c->idle_link);
    p->n_idle++;
    uv_timer_start(&c->timer, on_timeout, HTTPC_IDLE_TIMEOUT_MS, 0);
    if (p->n_idle > HTTPC_POOL_MAX_IDLE)
        conn_close(list_entry(list_last(&p->idle), struct httpc_conn, idle_link));
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

bool httpc_req_held(const struct httpc_req *r)
{
    return r->active && r->conn && r->conn->ready && !r->out_more && r->sent == r->out.len;
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
    buf_close(&c->tunnel_answer);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
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
    transport_close(&c->tr); /* nothing to do if not open, or closing for the next address */
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
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

/* Writes what the socket takes now without a copy; the transport copies only the rest, as
 * r->out may grow (and move) while a write is queued. */
static void conn_send(struct httpc_conn *c, const char *data, size_t len)
{
    if (len == 0 || c->closing || c->later_err)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
    int rc = transport_write_copy(&c->tr, &b, 1);
    if (rc < 0) {
        char text[HTTPC_ERR_MAX];
        const char *why = transport_tls_error(&c->tr);
        snprintf(text, sizeof(text), "write to %s:%d: %s", c->host, c->port,
                 why ? why : uv_strerror(rc));
        conn_fail_later(c, rc, text);
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

static void on_written(struct transport *t, int status)
{
    struct httpc_conn *c = conn_of(t);
    if (status < 0 && !c->closing)
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

/* Keepalive probes after keepalive_ms idle, and TCP_USER_TIMEOUT: a dead NAT mapping
 * fails the connection within 2 x keepalive_ms (transport_tcp_keepalive()). */
static void set_keepalive(struct httpc_conn *c)
{
    (void)transport_tcp_keepalive(&c->tr, c->pool->keepalive_ms);
}

/* Connects the conn's transport to addr, plain or TLS. Returns 0 or a UV_E* code. */
static int connect_addr(struct httpc_conn *c, const struct sockaddr *addr)
{
    struct transport_env *env = c->pool->env;
    /* Through a CONNECT tunnel, TLS starts once the proxy has opened it (on_connect). */
    int rc = c->tls_conf && c->tunnel == TUNNEL_NONE
                 ? transport_tls_connect(&c->tr, env, NULL, addr, c->tls_conf, c->host)
                 : transport_plain_connect(&c->tr, env, NULL, addr);
    if (c->tr.open)
        c->open_handles++; /* on_closed follows its close, whether or not this failed */
    if (rc == 0) {
        /* The socket exists: Nagle off (for a handshake too), keepalive for idle polls. */
        set_keepalive(c);
        uv_tcp_nodelay(&c->tr.tcp, 1);
    }
    return rc;
}

static void try_next_addr(struct httpc_conn *c)
{
    struct addrinfo *ai = c->ai_next;
    c->ai_next = ai->ai_next;
    int rc = connect_addr(c, ai->ai_addr);
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

static void on_closed(struct transport *t)
{
    struct httpc_conn *c = conn_of(t);
    c->open_handles--;
    if (c->reopening && !c->closing) {
        c->reopening = false;
        try_next_addr(c);
        return;
    }
    c->reopening = false;
    maybe_free(c);
}

static void on_connect(struct transport *t, int status)
{
    struct httpc_conn *c = conn_of(t);
    if (c->closing)
        return;
    if (status < 0) {
        const char *tls_why = transport_tls_error(t);
        if (tls_why) {
            /* The handshake failed: another address would not do better, and the request
             * is not sent again. */
            if (c->req)
                c->req->retried = true;
            conn_fail(c, status, "%s:%d: %s", c->host, c->port, tls_why);
            return;
        }
        if (c->ai_next != NULL) {
            /* Another address of the name may answer (localhost: ::1, then 127.0.0.1). */
            c->reopening = true;
            transport_close(t);
            return;
        }
        conn_fail(c, status, "connect %s:%d: %s", c->connect_host, c->port, uv_strerror(status));
        return;
    }
    int rc = transport_read_start(t);
    if (rc != 0) {
        conn_fail(c, rc, "read from %s:%d: %s", c->host, c->port, uv_strerror(rc));
        return;
    }
    if (c->tunnel == TUNNEL_CONNECTING) {
        ask_tunnel(c);
        return;
    }
    c->tunnel = TUNNEL_NONE;
    conn_ready(c);
}

/* Connected to the HTTP proxy: ask it for a tunnel to the host. */
static void ask_tunnel(struct httpc_conn *c)
{
    char req[HTTPC_HOST_MAX + HTTPC_VIA_AUTH_MAX + 128];
    bool v6 = strchr(c->host, ':') != NULL;
    int n =
        snprintf(req, sizeof(req), "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n%s%s%s\r\n",
                 v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, v6 ? "[" : "", c->host,
                 v6 ? "]" : "", c->port, c->via->auth[0] ? "Proxy-Authorization: " : "",
                 c->via->auth, c->via->auth[0] ? "\r\n" : "");
    uv_buf_t b = uv_buf_init(req, (unsigned)n);
    int rc = transport_write_copy(&c->tr, &b, 1);

    c->tunnel = TUNNEL_ASKED;
    if (rc < 0)
        conn_fail(c, rc, "write to the HTTP proxy %s:%d: %s", c->connect_host, c->connect_port,
                  uv_strerror(rc));
}

/* The HTTP proxy's answer to CONNECT, as it arrives: a 2xx opens the tunnel, and TLS starts
 * in it; anything else fails the request, naming the proxy and its status line. */
static void tunnel_answer(struct httpc_conn *c, const char *data, size_t len)
{
    const char *end;
    int rc;

    if (buf_append(&c->tunnel_answer, data, len) != 0) {
        conn_fail(c, UV_EPROTO, "HTTP proxy %s:%d: answer to CONNECT longer than %d bytes",
                  c->connect_host, c->connect_port, HTTPC_CONNECT_ANSWER_MAX);
        return;
    }
    end = memmem(c->tunnel_answer.base, c->tunnel_answer.len, "\r\n\r\n", 4);
    if (!end)
        return;
    const char *line = c->tunnel_answer.base, *eol = memchr(line, '\r', c->tunnel_answer.len);
    size_t line_len = (size_t)(eol - line);
    if (line_len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[9] != '2') {
        c->broken = true;
        if (c->req)
            c->req->retried = true;
        conn_fail(c, UV_ECONNREFUSED, "HTTP proxy %s:%d refused CONNECT %s:%d: %.*s",
                  c->connect_host, c->connect_port, c->host, c->port,
                  (int)(line_len > 120 ? 120 : line_len), line);
        return;
    }
    if ((size_t)(end + 4 - c->tunnel_answer.base) != c->tunnel_answer.len) {
        conn_fail(c, UV_EPROTO, "HTTP proxy %s:%d sent bytes after its answer to CONNECT",
                  c->connect_host, c->connect_port);
        return;
    }
    buf_close(&c->tunnel_answer);
    c->tunnel = TUNNEL_TLS;
    transport_read_stop(&c->tr);
    if ((rc = transport_tls_upgrade(&c->tr, c->tls_conf, c->host, c->port)) != 0)
        conn_fail(c, rc, "tls to %s:%d through the HTTP proxy: %s", c->host, c->port,
                  uv_strerror(rc));
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
    c->connect_port = r->port;
    c->tls_conf = r->tls;
    c->via = r->via;
    snprintf(c->host, sizeof(c->host), "%s", r->host);
    snprintf(c->connect_host, sizeof(c->connect_host), "%s",
             r->connect_host ? r->connect_host : r->host);
    buf_init(&c->tunnel_answer, HTTPC_CONNECT_ANSWER_MAX);
    if (c->via) {
        snprintf(c->connect_host, sizeof(c->connect_host), "%s", c->via->host);
        c->connect_port = c->via->port;
        c->tunnel = c->tls_conf ? TUNNEL_CONNECTING : TUNNEL_NONE;
    }
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->gai.data = c;
    c->open_handles = 1;
    list_init(&c->idle_link);
    p->n_conns++;
    c->req = r;
    r->conn = c;
    r->active = true;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->connect_host, c->connect_port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(c->connect_host, c->connect_port, (struct sockaddr_in6 *)&ss) == 0) {
        int rc = connect_addr(c, (struct sockaddr *)&ss);
        if (rc != 0) {
            conn_detach(c);
            conn_close(c);
            snprintf(r->err_text, sizeof(r->err_text), "connect %s:%d: %s",
                     r->connect_host ? r->connect_host : r->host, r->port, uv_strerror(rc));
        }
        return rc;
    }
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%d", c->connect_port);
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
    struct httpc_conn *c = allow_idle ? idle_take(r->pool, r) : NULL;
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
                 r->sent == r->out.len && c->tr.writes_queued == 0;
    conn_detach(c);
    if (reuse)
        idle_put(c);
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
    const char *tls_why = err != UV_EOF ? transport_tls_error(&c->tr) : NULL;
    if (err == UV_EOF)
        conn_fail(c, err, "%s:%d closed the connection %s", c->host, c->port,
                  r->res_bytes ? "in the middle of the response" : "before responding");
    else if (tls_why)
        conn_fail(c, err, "%s:%d: %s", c->host, c->port, tls_why);
    else
        conn_fail(c, err, "read from %s:%d: %s", c->host, c->port, uv_strerror(err));
}

static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *b)
{
    struct httpc_conn *c = conn_of(t);
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->tunnel == TUNNEL_ASKED) {
            conn_fail(c, (int)nread,
                      "HTTP proxy %s:%d closed the connection before opening a "
                      "tunnel",
                      c->connect_host, c->connect_port);
            return;
        }
        conn_eof(c, (int)nread);
        return;
    }
    if (c->tunnel == TUNNEL_ASKED) {
        tunnel_answer(c, b->base, (size_t)nread);
        return;
    }
    conn_feed(c, b->base, (size_t)nread);
}
