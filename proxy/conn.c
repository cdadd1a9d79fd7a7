/* conn.c - accepted connections: read, parse, route, respond, close (see conn.h).
 *
 * Owner: the worker that accepted the connection; every function here runs on its loop.
 * The table of connections (conn_table) belongs to that worker too.
 *
 * The life of a request on a connection:
 *   READING  bytes go to the llhttp parser; on_head matches a route and sets the body's
 *            limit; when the message is complete, the route's on_request takes it
 *   WAITING  the handler waits for an answer from elsewhere (poll, scrape, push, clients)
 *   WRITING  conn_respond() wrote the answer; when the write is done the request ends and
 *            any pipelined bytes are parsed as the next request
 *   LINGERING  after an error answer that ends the connection: half-closed, input dropped
 *            until the peer closes or CONN_LINGER_MS pass (see conn.h)
 * conn_close() is the one way out, from any state. */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config.h"
#include "log.h"
#include "transport_tls.h"
#include "trust.h"

static void on_alloc(struct transport *tr, size_t suggested, uv_buf_t *buf);
static void on_read(struct transport *tr, ssize_t nread, const uv_buf_t *buf);
static void on_written(struct transport *tr, int status);
static void on_closed(struct transport *tr);
static void on_written_check(uv_check_t *check);
static void on_written_idle(uv_idle_t *idle);
static int on_head(struct http_parser *p);
static int on_discard_body(struct http_parser *p, const char *at, size_t len);
static void process_input(struct conn *c, const char *data, size_t len);
static void request_end(struct conn *c);
static void pause_reading(struct conn *c);
static void pause_reading_if_full(struct conn *c);

static const struct http_parser_cb conn_parser_cb = {
    .on_head = on_head,
    .on_body = on_discard_body,
};

static void on_handshake(struct transport *tr);

static const struct transport_cb conn_transport_cb = {
    .on_alloc = on_alloc,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
    .on_handshake = on_handshake,
};

static struct conn *conn_of(struct transport *tr)
{
    return transport_owner(tr, struct conn, tr);
}

/* c waits for the head of its next request: it joins its table's unready list. Past
 * --web.max-idle-connections the one that waited longest is closed, so peers that connect
 * and send nothing (or a head, slowly) cannot take every connection the worker has. A
 * connection accepted in this loop turn has not been read yet: when the longest waiting
 * is one of those, an accept burst is larger than the limit, and a new connection (`fresh`)
 * is the one refused. Otherwise a client whose request sits unread in the socket, accepted
 * early in the burst, would be closed by the flood accepted after it. */
static void unready_add(struct conn *c, bool fresh)
{
    struct conn_table *t = c->t;
    struct conn *victim;
    uint64_t now = uv_now(t->loop);

    c->link_since_ms = now;
    list_push_back(&t->unready, &c->link);
    if (++t->n_unready <= (uint32_t)config.web_max_idle_connections)
        return;
    victim = list_entry(list_first(&t->unready), struct conn, link);
    if (fresh && victim->link_since_ms == now)
        victim = c;
    counters_limit(t->counters, LIMIT_WEB_MAX_IDLE_CONNECTIONS);
    log_warn("conn", victim == c ? "new connection closed: limit reached"
                                 : "idle connection closed: limit reached",
             LOG_STR("limit", "web.max-idle-connections"),
             LOG_INT("max", config.web_max_idle_connections), LOG_INT("worker", t->wk_id));
    conn_close(victim, "web.max-idle-connections");
}

/* While WAITING the link is the handler's; in any other state it can only be this list. */
static void unready_remove(struct conn *c)
{
    if (c->state != CONN_WAITING && list_linked(&c->link)) {
        list_remove(&c->link);
        c->t->n_unready--;
    }
}

/* --- the table --- */

int conn_table_init(struct conn_table *t, uv_loop_t *loop, uint16_t wk_id, uint32_t cap,
                    const struct route_table *routes, struct counters *counters)
{
    int rc;

    memset(t, 0, sizeof(*t));
    assert(routes->n > 0 && routes->n <= COUNTERS_MAX_ROUTES &&
           routes->rows[routes->n - 1].match == ROUTE_MATCH_ANY);
    t->loop = loop;
    t->wk_id = wk_id;
    list_init(&t->unready);
    t->routes = routes;
    t->counters = counters;
    pool_init(&t->conns, sizeof(struct conn), CONN_POOL_MAX);
    if ((rc = basic_auth_cache_init(&t->auth_cache)) != 0)
        return rc;
    if ((rc = transport_env_init(&t->env, loop, &conn_transport_cb, CONN_READ_BUF_BYTES)) != 0)
        return rc;
    t->slots = calloc(cap, sizeof(*t->slots));
    t->free_idx = malloc(cap * sizeof(*t->free_idx));
    t->heads = malloc(CONN_HEAD_POOL_MAX * sizeof(*t->heads));
    if (!t->slots || !t->free_idx || !t->heads)
        return UV_ENOMEM;
    t->cap = cap;
    /* Lowest index on top, so a quiet worker reuses a few slots. */
    for (uint32_t i = 0; i < cap; i++)
        t->free_idx[i] = cap - 1 - i;
    t->n_free = cap;
    return 0;
}

void conn_table_close(struct conn_table *t)
{
    for (unsigned l = 0; l < CONN_MAX_LISTENERS; l++)
        webconf_unref(t->listeners[l].conf);
    basic_auth_cache_close(&t->auth_cache);
    pool_close(&t->conns);
    for (uint32_t i = 0; i < t->n_heads; i++) {
        http_head_close(t->heads[i]);
        free(t->heads[i]);
    }
    transport_env_close(&t->env);
    free(t->heads);
    free(t->slots);
    free(t->free_idx);
    memset(t, 0, sizeof(*t));
}

int conn_table_start(struct conn_table *t)
{
    int rc;

    if ((rc = uv_check_init(t->loop, &t->written_check)) != 0 ||
        (rc = uv_idle_init(t->loop, &t->written_idle)) != 0)
        return rc;
    t->written_check.data = t;
    t->written_idle.data = t;
    return uv_check_start(&t->written_check, on_written_check);
}

void conn_table_stop(struct conn_table *t)
{
    uv_close((uv_handle_t *)&t->written_check, NULL);
    uv_close((uv_handle_t *)&t->written_idle, NULL);
}

void conn_table_close_all(struct conn_table *t, const char *reason)
{
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->slots[i].c)
            conn_close(t->slots[i].c, reason);
}

/* A head for a new request, from the pool. Large buffers a past request grew are not
 * kept, so one big push does not pin memory on a connection that polls. */
struct http_head *conn_head_get(struct conn_table *t)
{
    struct http_head *h;
#ifndef NO_POOLS
    if (t->n_heads)
        return t->heads[--t->n_heads];
#endif
    h = malloc(sizeof(*h));
    if (h)
        http_head_init(h, 0);
    return h;
}

#define HEAD_KEEP_STRS_BYTES (16 * 1024)
#define HEAD_KEEP_BODY_BYTES (64 * 1024)

void conn_head_put(struct conn_table *t, struct http_head *h)
{
    if (!h)
        return;
#ifndef NO_POOLS
    if (t->n_heads < CONN_HEAD_POOL_MAX) {
        if (h->strs.cap > HEAD_KEEP_STRS_BYTES)
            buf_close(&h->strs);
        if (h->body.cap > HEAD_KEEP_BODY_BYTES)
            buf_close(&h->body);
        t->heads[t->n_heads++] = h;
        return;
    }
#endif
    http_head_close(h);
    free(h);
}

void conn_release_head(struct conn *c)
{
    conn_head_put(c->t, c->head);
    c->head = NULL;
}

struct ref conn_ref(const struct conn *c)
{
    return (struct ref){.wk = c->t->wk_id, .idx = c->idx, .gen = c->gen};
}

const struct route *conn_route(const struct conn *c)
{
    return &c->t->routes->rows[c->route];
}

struct conn *conn_lookup(struct conn_table *t, struct ref ref)
{
    struct conn_slot *s;

    if (ref.wk != t->wk_id || ref.idx >= t->cap)
        return NULL;
    s = &t->slots[ref.idx];
    if (!s->c || s->gen != ref.gen || s->c->closing)
        return NULL;
    return s->c;
}

/* --- accept --- */

void conn_table_set_listener(struct conn_table *t, unsigned l, unsigned planes,
                             struct webconf *conf)
{
    struct conn_listener *cl = &t->listeners[l];
    struct webconf *old = cl->conf;

    cl->planes = planes;
    cl->conf = conf ? webconf_ref(conf) : NULL;
    cl->tokens = conf ? (double)((conf->wc.rate_limit_burst + (t->n_tables ? t->n_tables : 1) - 1) /
                                 (t->n_tables ? t->n_tables : 1))
                      : 0;
    cl->tokens_at_ms = uv_now(t->loop);
    webconf_unref(old);
}

/* The TLS configuration this worker uses for listener l, or NULL for plain TCP. */
static struct tls_conf *tls_of(const struct conn_table *t, unsigned l)
{
    const struct webconf *conf = t->listeners[l].conf;
    return conf && t->wk_id < conf->n_tls ? conf->tls[t->wk_id] : NULL;
}

/* A new connection from listener l in a free slot of the table, not yet open; NULL when the
 * table is full (--web.max-connections, counted and logged) or without memory, rc saying
 * which. */
static struct conn *conn_new(struct conn_table *t, unsigned l, int *rc)
{
    struct conn *c;

    if (t->n_free == 0) {
        counters_limit(t->counters, LIMIT_WEB_MAX_CONNECTIONS);
        log_warn("conn", "connection refused: limit reached",
                 LOG_STR("limit", "web.max-connections"),
                 LOG_INT("max", config.web_max_connections), LOG_INT("worker", t->wk_id));
        *rc = UV_EMFILE;
        return NULL;
    }
    if (!(c = pool_get(&t->conns))) {
        *rc = UV_ENOMEM;
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->listener = (uint8_t)l;
    c->planes = (uint8_t)t->listeners[l].planes;
    c->idx = t->free_idx[--t->n_free];
    c->gen = ++t->slots[c->idx].gen;
    t->slots[c->idx].c = c;
    t->n_open++;
    buf_init(&c->pending, CONN_PENDING_MAX_BYTES);
    http_parser_init(&c->parser, HTTP_KIND_REQUEST, &conn_parser_cb, c);
    c->parser.head_max_bytes = config.http_max_header_bytes;
    list_init(&c->link);
    c->req_start_ns = uv_hrtime(); /* for the handshake's timeout */
    return c;
}

/* The transport did not open: the slot goes back, or on_closed gives it back. The fd is
 * still the caller's. */
static void conn_unopened(struct conn *c)
{
    struct conn_table *t = c->t;

    if (c->tr.open) {
        c->closing = true;
        return;
    }
    buf_close(&c->pending);
    t->slots[c->idx].c = NULL;
    t->free_idx[t->n_free++] = c->idx;
    t->n_open--;
    pool_put(&t->conns, c);
}

int conn_accept(struct conn_table *t, int fd, unsigned l)
{
    struct conn *c;
    struct tls_conf *tls = tls_of(t, l);
    int rc;

    if (tls && t->env.tls_handshakes >= (unsigned)config.web_max_tls_handshakes) {
        /* Full handshakes cost milliseconds of CPU: a flood of them must not starve the
         * connections already up. */
        counters_limit(t->counters, LIMIT_WEB_MAX_TLS_HANDSHAKES);
        log_warn("conn", "connection refused: limit reached",
                 LOG_STR("limit", "web.max-tls-handshakes"),
                 LOG_INT("max", config.web_max_tls_handshakes), LOG_INT("worker", t->wk_id));
        return UV_EBUSY;
    }
    if (!(c = conn_new(t, l, &rc)))
        return rc;
    if (trust_any()) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        c->trusted = getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
                     trust_contains((struct sockaddr *)&peer);
    }
    rc = tls ? transport_tls_open(&c->tr, &t->env, fd, tls)
             : transport_plain_open(&c->tr, &t->env, fd);
    if (rc != 0) {
        conn_unopened(c);
        return rc;
    }
    uv_tcp_nodelay(&c->tr.tcp, 1);
    (void)transport_tcp_keepalive(&c->tr, config.web_tcp_keepalive);
    if ((rc = transport_read_start(&c->tr)) != 0) {
        conn_close(c, "read start failed");
        return 0;
    }
    unready_add(c, true);
    return 0;
}

/* --- moving to another worker --- */

bool conn_can_move(const struct conn *c)
{
    /* Plain TCP only: a TLS session's state stays with the worker that made it. Nothing may
     * be on its way out or half done: the request waits, and no byte of a response is
     * written. */
    bool idle = c->state == CONN_READING && !c->head && !c->pending.len;

    return !c->tr.tls && (c->state == CONN_WAITING || idle) && !c->closing && !c->eof &&
           !c->linger && !c->auth_running && !c->write_since_ns && !c->body_reserved &&
           !c->t->draining;
}

int conn_detach(struct conn *c, struct conn_move *mv, bool with_head)
{
    struct conn_table *t = c->t;
    uv_os_fd_t fd;
    int dup_fd;

    if (!conn_can_move(c))
        return UV_EBUSY;
    if (uv_fileno((const uv_handle_t *)&c->tr.tcp, &fd) != 0)
        return UV_EBADF;
    /* The duplicate keeps the socket open while the handle closes ours. libuv takes the fd
     * out of this loop's epoll set before it closes it, so no event for it reaches this
     * worker after this call. */
    if ((dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return uv_translate_sys_error(errno);
    mv->fd = dup_fd;
    mv->idle = c->state == CONN_READING;
    mv->listener = c->listener;
    mv->route = c->route;
    mv->trusted = c->trusted;
    mv->keep_alive = c->keep_alive;
    mv->req_start_ns = c->req_start_ns;
    mv->pending_len = c->pending.len;
    mv->pending = c->pending.len ? buf_steal(&c->pending) : NULL;
    log_debug("conn", "connection moves to another worker", LOG_INT("worker", t->wk_id),
              LOG_UINT("conn", c->idx));
    /* Closed here without its handlers' hooks: what it waits for goes with it, the
     * request's head too when asked (heads are plain heap objects; any worker's pool takes
     * them, but one kept here serves this worker's next request). */
    mv->head = NULL;
    if (with_head) {
        mv->head = c->head;
        c->head = NULL;
    } else {
        conn_release_head(c);
    }
    unready_remove(c);
    c->closing = true;
    t->slots[c->idx].gen++;
    transport_close(&c->tr);
    return 0;
}

struct conn *conn_adopt(struct conn_table *t, struct conn_move *mv, int *rc)
{
    struct conn *c;

    if (mv->listener >= CONN_MAX_LISTENERS || mv->route >= t->routes->n) {
        *rc = UV_EINVAL;
        return NULL;
    }
    if (!(c = conn_new(t, mv->listener, rc)))
        return NULL;
    if ((*rc = transport_plain_open(&c->tr, &t->env, mv->fd)) != 0) {
        conn_unopened(c);
        return NULL;
    }
    mv->fd = -1; /* the handle has it now */
    c->trusted = mv->trusted;
    c->keep_alive = mv->keep_alive;
    c->req_start_ns = mv->req_start_ns;
    if (mv->idle) {
        if ((*rc = transport_read_start(&c->tr)) != 0) {
            conn_close(c, "read start failed");
            return NULL;
        }
        unready_add(c, false);
        return c;
    }
    c->route = mv->route;
    c->state = CONN_WAITING;
    c->head = mv->head;
    mv->head = NULL;
    if (mv->pending) {
        c->pending = (struct buf){.base = mv->pending,
                                  .len = mv->pending_len,
                                  .cap = mv->pending_len,
                                  .max = CONN_PENDING_MAX_BYTES};
        mv->pending = NULL;
    }
    if (c->pending.len > CONN_PENDING_READ_ON_BYTES) {
        c->read_stopped = true; /* until the request ends and these are parsed */
        return c;
    }
    if ((*rc = transport_read_start(&c->tr)) != 0) {
        conn_close(c, "read start failed");
        return NULL;
    }
    return c;
}

/* --- reading --- */

/* The rest of a push body of known length is read straight into its own buffer, which
 * travels to the scrape's worker and is written to Prometheus from there. Anything else
 * goes to the worker's read buffer (the transport's default): on_read keeps nothing of
 * it, copying what a request needs into its head or pending. */
static void on_alloc(struct transport *tr, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = conn_of(tr);
    struct http_head *h = c->head;

    if (h && c->state == CONN_READING && (conn_route(c)->flags & ROUTE_BODY_IN_PLACE) &&
        !c->error_status && c->parser.head_done && !c->parser.complete && h->content_length > 0 &&
        h->body.base && h->body.cap > h->body.len) {
        size_t want = (size_t)h->content_length - h->body_bytes;
        size_t room = h->body.cap - h->body.len;
        *buf = uv_buf_init(h->body.base + h->body.len, (unsigned)(want < room ? want : room));
    }
}

/* A TLS handshake is done: counted, full or resumed. */
static void on_handshake(struct transport *tr)
{
    struct conn *c = conn_of(tr);
    metrics_inc(transport_tls_resumed(tr) ? &c->t->counters->tls_resumed
                                          : &c->t->counters->tls_handshakes);
}

static void on_read(struct transport *tr, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = conn_of(tr);

    if (c->closing)
        return;
    if (nread < 0 && tr->tls && !transport_tls_handshake_done(tr)) {
        const char *why = transport_tls_error(tr);
        metrics_inc(&c->t->counters->tls_handshake_errors);
        log_info("conn", "TLS handshake failed",
                 LOG_STR("reason", why ? why : uv_strerror((int)nread)),
                 LOG_INT("worker", c->t->wk_id));
        conn_close(c, "TLS handshake failed");
        return;
    }
    if (c->linger && (c->state == CONN_WRITING || c->state == CONN_LINGERING)) {
        /* The rest of a request already refused: drop it, until the peer closes. */
        if (nread < 0 && c->state == CONN_LINGERING)
            conn_close(c, nread == UV_EOF ? "peer closed after an error answer"
                                          : uv_strerror((int)nread));
        else if (nread < 0)
            c->eof = true; /* nothing to linger for once the answer is out */
        return;
    }
    if (nread < 0) {
        /* A peer that half-closes still gets its answer when one is on its way (being
         * written, or a route that answers after EOF). Other waiting requests are
         * cancelled, as upstream's server cancels the request's context. */
        if (nread == UV_EOF &&
            (c->state == CONN_WRITING ||
             (c->state == CONN_WAITING && (conn_route(c)->flags & ROUTE_ANSWER_AFTER_EOF)))) {
            c->eof = true; /* answer, then close */
            c->keep_alive = false;
            pause_reading(c);
            return;
        }
        conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    if (c->state != CONN_READING) {
        /* Pipelined input while a request is served: keep it for later (reading stops
         * before a read could pass CONN_PENDING_MAX_BYTES). */
        if (buf_append(&c->pending, buf->base, (size_t)nread) != 0) {
            counters_limit(c->t->counters, LIMIT_PENDING_BYTES);
            conn_close(c, "pipelined input exceeds CONN_PENDING_MAX_BYTES");
            return;
        }
        pause_reading_if_full(c);
        return;
    }
    process_input(c, buf->base, (size_t)nread);
}

/* Stops reading while pipelined bytes wait; request_end() reads on. The peer's own
 * buffers hold the rest, which is TCP's back-pressure. */
static void pause_reading(struct conn *c)
{
    if (!c->read_stopped) {
        transport_read_stop(&c->tr);
        c->read_stopped = true;
    }
}

/* A few pipelined bytes (a next request's head) do not stop reading: see
 * CONN_PENDING_READ_ON_BYTES. */
static void pause_reading_if_full(struct conn *c)
{
    if (c->pending.len > CONN_PENDING_READ_ON_BYTES)
        pause_reading(c);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A certificate as a trusted front proxy sends it: URL-escaped PEM (nginx's
 * $ssl_client_escaped_cert). Returns 1 with its identity in out, or -EINVAL. */
static int identity_from_header(const char *v, size_t len, struct buf *out)
{
    mbedtls_x509_crt crt;
    char *pem = malloc(len + 1);
    size_t n = 0;
    int rc = -EINVAL;

    if (!pem)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (v[i] == '%' && i + 2 < len && (hi = hexval(v[i + 1])) >= 0 &&
            (lo = hexval(v[i + 2])) >= 0) {
            pem[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            pem[n++] = v[i];
        }
    }
    pem[n] = '\0';
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, n + 1) == 0 &&
        tls_identity_write(&crt, out) == 0)
        rc = 1;
    mbedtls_x509_crt_free(&crt);
    free(pem);
    return rc;
}

/* The web configuration of c's listener (NULL: none). */
static struct webconf *conf_of(const struct conn *c)
{
    return c->t->listeners[c->listener].conf;
}

/* rate_limit of the web config: a token bucket of `burst` requests refilled one per
 * `interval`, for the whole process as upstream's. Each of the n workers keeps its own
 * share (burst/n rounded up, refilled n times slower), so no lock is needed; connections are
 * spread evenly by the kernel. Returns whether this request may go on. */
static bool rate_allows(struct conn *c)
{
    struct conn_listener *l = &c->t->listeners[c->listener];
    const struct webconfig *wc = l->conf ? &l->conf->wc : NULL;
    uint64_t now = uv_now(c->t->loop), n = c->t->n_tables ? c->t->n_tables : 1;
    double burst;

    if (!wc || !wc->rate_limit_interval_ns)
        return true;
    burst = (double)((wc->rate_limit_burst + n - 1) / n);
    l->tokens +=
        (double)(now - l->tokens_at_ms) * 1e6 / ((double)wc->rate_limit_interval_ns * (double)n);
    if (l->tokens > burst)
        l->tokens = burst;
    l->tokens_at_ms = now;
    if (l->tokens < 1)
        return false;
    l->tokens -= 1;
    return true;
}

static void respond_unauthorized(struct conn *c, const char *why)
{
    log_info("conn", "request refused: not authenticated", LOG_STR("reason", why),
             LOG_INT("worker", c->t->wk_id));
    conn_respond_text(c, 401, "WWW-Authenticate: Basic\r\n", "Unauthorized\n");
}

/* A password check on libuv's thread pool: the job and the conn's ref, never the conn. */
struct auth_work {
    uv_work_t req;
    struct conn_table *t;
    struct ref ref;
    struct basic_auth_job job;
};

static void on_auth_work(uv_work_t *req)
{
    basic_auth_job_run(&((struct auth_work *)req)->job);
}

static void on_auth_done(uv_work_t *req, int status)
{
    struct auth_work *w = (struct auth_work *)req;
    struct conn_table *t = w->t;
    struct conn *c = conn_lookup(t, w->ref);
    int verdict = 0;

    t->n_auth_running--;
    if (status == 0)
        verdict = basic_auth_finish(&t->auth_cache, &w->job);
    else
        basic_auth_job_wipe(&w->job);
    free(w);
    if (!c || !c->auth_running)
        return; /* closed meanwhile, or shutting down */
    c->auth_running = false;
    if (verdict == 1)
        conn_route(c)->on_request(c);
    else
        respond_unauthorized(c, "wrong user or password");
}

/* basic_auth_users: the request goes on only with a known user's password. Cached verdicts
 * answer at once; otherwise bcrypt runs on the thread pool and the request waits. */
static void authenticate(struct conn *c, const struct webconf *conf)
{
    struct conn_table *t = c->t;
    struct basic_auth_creds creds;
    struct auth_work *w;
    size_t len;
    const char *v = NULL;
    int rc;

    /* A scrape is a proxy request: its credentials for the proxy come as
     * Proxy-Authorization (Prometheus sends it for proxy_url: http://user:pass@proxy);
     * Authorization is the exporter's, and is taken only when there is no other. */
    if (conn_route(c)->match == ROUTE_MATCH_ABSOLUTE_URI)
        v = http_head_get(c->head, "Proxy-Authorization", &len);
    if (!v)
        v = http_head_get(c->head, "Authorization", &len);
    if (!v || basic_auth_parse(v, len, &creds) != 0) {
        basic_auth_creds_wipe(&creds);
        respond_unauthorized(c, v ? "malformed Authorization header" : "no credentials");
        return;
    }
    if (!(w = malloc(sizeof(*w)))) {
        basic_auth_creds_wipe(&creds);
        conn_close(c, "out of memory");
        return;
    }
    rc = basic_auth_begin(&t->auth_cache, &creds, webconfig_user_hash(&conf->wc, creds.user),
                          &w->job);
    basic_auth_creds_wipe(&creds);
    if (rc != BASIC_AUTH_RUN) {
        free(w);
        if (rc == 1)
            conn_route(c)->on_request(c);
        else
            respond_unauthorized(c, "wrong user or password");
        return;
    }
    if (t->n_auth_running >= CONN_AUTH_MAX_RUNNING) {
        basic_auth_job_wipe(&w->job);
        free(w);
        log_warn("conn", "request refused: limit reached",
                 LOG_STR("limit", "CONN_AUTH_MAX_RUNNING"), LOG_INT("worker", t->wk_id));
        conn_respond_text(c, 503, NULL, "too many password checks running\n");
        return;
    }
    w->t = t;
    w->ref = conn_ref(c);
    if (uv_queue_work(t->loop, &w->req, on_auth_work, on_auth_done) != 0) {
        basic_auth_job_wipe(&w->job);
        free(w);
        conn_close(c, "cannot queue the password check");
        return;
    }
    t->n_auth_running++;
    c->auth_running = true;
}

/* The request is complete: its route's handler takes it, or it is refused here. */
static void dispatch(struct conn *c)
{
    const struct route *rt = conn_route(c);
    struct webconf *conf = conf_of(c);

    c->state = CONN_WAITING;
    if (!c->error_status && rt->on_request) {
        if (!rate_allows(c)) {
            conn_respond_text(c, 429, NULL, "Too Many Requests\n");
            return;
        }
        if (conf && conf->auth) {
            authenticate(c, conf);
            return;
        }
        rt->on_request(c);
        return;
    }
    switch (c->error_status) {
    case 405: conn_respond_text(c, 405, NULL, "Method Not Allowed\n"); break;
    case 403:
        conn_respond_text(c, 403, NULL,
                          "Forbidden: %s is not served on this listener (polls and pushes are on "
                          "--web.listen-address; scrapes, /clients and /metrics on "
                          "--scrape.listen-address)\n",
                          rt->match == ROUTE_MATCH_ABSOLUTE_URI ? "a scrape" : rt->label);
        break;
    default: conn_respond_text(c, 404, NULL, "404 page not found\n"); break;
    }
}

/* Parses what it can; stops at the end of a request and keeps the rest in pending. A
 * response written meanwhile (the handler answered at once) ends in the check phase, so
 * the parser is never re-entered from inside itself. */
static void process_requests(struct conn *c, const char *data, size_t len);
static void process_input(struct conn *c, const char *data, size_t len)
{
    c->in_input = true;
    process_requests(c, data, len);
    c->in_input = false;
}

static void process_requests(struct conn *c, const char *data, size_t len)
{
    while (len > 0 && c->state == CONN_READING && !c->closing) {
        size_t used = 0;
        enum http_parse_result r;

        if (!c->head) {
            c->head = conn_head_get(c->t);
            if (!c->head) {
                conn_close(c, "out of memory");
                return;
            }
            http_parser_begin(&c->parser, c->head);
            c->error_status = 0;
            c->route = (uint8_t)(c->t->routes->n - 1); /* the catch-all, until matched */
            c->req_start_ns = uv_hrtime();
        }
        r = http_parser_execute(&c->parser, data, len, &used);
        data += used;
        len -= used;
        if (r == HTTP_PARSE_ERROR) {
            int status = c->parser.error_status;
            if (status == 413)
                counters_limit(c->t->counters, conn_route(c)->body_limit);
            else if (status == 431)
                counters_limit(c->t->counters, LIMIT_HTTP_MAX_HEADER_BYTES);
            log_warn("conn", "bad request", LOG_INT("status", status),
                     LOG_STR("reason", c->parser.error_msg));
            c->keep_alive = false;
            c->linger = true;
            conn_respond_text(c, status, "Connection: close\r\n", "%s\n", c->parser.error_msg);
            return;
        }
        if (r == HTTP_PARSE_COMPLETE) {
            c->keep_alive = c->head->keep_alive && !c->eof;
            if (len > 0) {
                if (buf_append(&c->pending, data, len) != 0) {
                    counters_limit(c->t->counters, LIMIT_PENDING_BYTES);
                    conn_close(c, "pipelined input exceeds CONN_PENDING_MAX_BYTES");
                    return;
                }
                pause_reading_if_full(c);
            }
            len = 0;
            dispatch(c);
        }
    }
}

static bool path_is(const char *url, size_t len, const char *path)
{
    size_t n = strlen(path);
    return len >= n && memcmp(url, path, n) == 0 && (len == n || url[n] == '?');
}

static bool is_absolute(const char *url, size_t len)
{
    return (len > 7 && strncasecmp(url, "http://", 7) == 0) ||
           (len > 8 && strncasecmp(url, "https://", 8) == 0);
}

static bool route_matches(const struct route *rt, const char *url, size_t len)
{
    switch (rt->match) {
    case ROUTE_MATCH_PATH: return path_is(url, len, rt->path);
    case ROUTE_MATCH_ABSOLUTE_URI: return is_absolute(url, len);
    case ROUTE_MATCH_ANY: return true;
    }
    return false;
}

/* The head is complete: match the route and set the body's limit before any body is read.
 * A refusal (404/405) is answered after the body is read and discarded, so a keep-alive
 * connection stays in step. */
static int on_head(struct http_parser *p)
{
    struct conn *c = p->data;
    struct http_head *h = p->head;
    const struct route_table *routes = c->t->routes;
    const char *url = http_head_str(h, h->url_off);
    const struct route *rt = NULL;
    unsigned i;

    unready_remove(c);
    for (i = 0; i < routes->n; i++) {
        rt = &routes->rows[i];
        if (route_matches(rt, url, h->url_len))
            break;
    }
    c->route = (uint8_t)i;
    p->body_mode = HTTP_BODY_COLLECT;
    p->body_max_bytes = rt->body_max_bytes;
    if (!rt->on_request)
        c->error_status = 404;
    else if (!(rt->planes & c->planes))
        c->error_status = 403;
    else if (rt->method >= 0 && h->method != rt->method)
        c->error_status = 405;
    if (c->error_status) {
        p->body_mode = HTTP_BODY_STREAM; /* read and drop */
        return 0;
    }
    /* A body read in place (a push) takes its size from the process's budget first, then
     * room for all of it up front, so on_alloc can read into it in place. */
    if (rt->flags & ROUTE_BODY_IN_PLACE) {
        uint64_t want = h->content_length >= 0 ? (uint64_t)h->content_length : p->body_max_bytes;
        if (want > p->body_max_bytes)
            return 0; /* llhttp answers 413 */
        if (!budget_take(want)) {
            counters_limit(c->t->counters, LIMIT_PUSH_MAX_BUFFERED);
            p->error_msg = "too many push bytes in memory (--push.max-buffered); try again";
            return 503;
        }
        c->body_reserved = want;
        if (h->content_length > 0) {
            h->body.max = p->body_max_bytes;
            if (buf_reserve(&h->body, (size_t)h->content_length) != 0)
                return 503;
        }
    }
    return 0;
}

static int on_discard_body(struct http_parser *p, const char *at, size_t len)
{
    return 0;
}

/* --- writing --- */

/* A copy of buf, whose first bytes are a response head, with headers inserted before the
 * blank line that ends it; NULL when it has none (or on ENOMEM: the response goes without
 * them rather than not at all). Only for listeners whose web config sets
 * http_server_config.headers. */
static char *add_headers(uv_buf_t buf, const char *headers, size_t len)
{
    const char *end = memmem(buf.base, buf.len, "\r\n\r\n", 4);
    char *out;
    size_t at;

    if (!end || !(out = malloc(buf.len + len)))
        return NULL;
    at = (size_t)(end - buf.base) + 2;
    memcpy(out, buf.base, at);
    memcpy(out + at, headers, len);
    memcpy(out + at + len, buf.base + at, buf.len - at);
    return out;
}

/* Most responses fit in the socket's buffer, so the transport writes them at once: no
 * write request, and none of the epoll interest changes libuv makes around a queued write
 * (three per scrape: the scrape's, the poll's and the push's answers). Only what does not
 * fit is queued. A request written at once from inside the connection's own input
 * (process_input) ends in this loop turn's check phase (on_written_check), so a handler
 * never re-enters the parser that called it; written from anywhere else, it ends here. */
void conn_respond(struct conn *c, int status, const uv_buf_t *bufs, unsigned n_bufs, char *own0,
                  char *own1)
{
    struct conn_table *t = c->t;
    int rc;

    assert(n_bufs <= 2);
    unready_remove(c); /* an answer to a head that never completed (400, 408, 431) */
    uv_buf_t with_headers[2];
    struct webconf *conf = conf_of(c);
    if (conf && conf->headers && !c->closing) {
        char *joined = add_headers(bufs[0], conf->headers, conf->headers_len);
        if (joined) {
            with_headers[0] = uv_buf_init(joined, bufs[0].len + (unsigned)conf->headers_len);
            if (n_bufs > 1)
                with_headers[1] = bufs[1];
            bufs = with_headers;
            free(own0);
            own0 = joined;
        }
    }
    counters_request(t->counters, c->route, status, uv_hrtime() - c->req_start_ns);
    if (c->closing)
        goto drop;
    c->state = CONN_WRITING;
    rc = transport_write(&c->tr, bufs, n_bufs);
    if (rc < 0) {
        conn_close(c, uv_strerror(rc));
        goto drop;
    }
    if (rc == 1) {
        free(own0);
        free(own1);
        if (!c->in_input) {
            /* Answered from a message, a timer or another connection's input: nothing of
             * c's is on the stack, so the request ends now, and bytes that come in the same
             * loop turn are read as the next request instead of waiting in pending. */
            request_end(c);
            return;
        }
        c->written_next = NULL;
        if (t->written_tail)
            t->written_tail->written_next = c;
        else
            t->written_head = c;
        t->written_tail = c;
        if (!uv_is_active((uv_handle_t *)&t->written_idle))
            uv_idle_start(&t->written_idle, on_written_idle);
        return;
    }
    c->own[0] = own0;
    c->own[1] = own1;
    c->write_since_ns = uv_hrtime();
    metrics_set(&t->counters->responses_queued, ++t->n_queued);
    return;
drop:
    free(own0);
    free(own1);
}

/* The check phase, after each loop turn's I/O: ends the requests whose responses were
 * written at once. A conn closed since is skipped; it is still allocated, as libuv runs
 * close callbacks after the check phase. Requests ended here may respond again (pipelined
 * input): they join the list and are ended in the same pass. */
static void on_written_check(uv_check_t *check)
{
    struct conn_table *t = check->data;

    while (t->written_head) {
        struct conn *c = t->written_head;
        t->written_head = c->written_next;
        if (!t->written_head)
            t->written_tail = NULL;
        if (!c->closing)
            request_end(c);
    }
    uv_idle_stop(&t->written_idle);
}

/* Runs only to keep the loop from blocking in epoll while the list waits for the check
 * phase (a response written from a timer or an idle callback). */
static void on_written_idle(uv_idle_t *idle)
{
}

int conn_identity(struct conn *c, struct buf *out)
{
    const struct webconf *conf = conf_of(c);
    const mbedtls_x509_crt *crt;
    size_t len;
    const char *v = c->head ? http_head_get(c->head, TRUST_CERT_HEADER, &len) : NULL;

    if (v) {
        if (!c->trusted) {
            /* Anyone can send the header; only a trusted front proxy's is believed. */
            metrics_inc(&c->t->counters->identity_header_ignored);
            log_warn("conn", "identity header ignored: the peer is not a --web.trusted-proxy",
                     LOG_STR("header", TRUST_CERT_HEADER), LOG_INT("worker", c->t->wk_id));
        } else {
            return identity_from_header(v, len, out);
        }
    }
    if (c->tr.tls && conf && conf->verified_clients &&
        (crt = transport_tls_peer_cert(&c->tr)) != NULL)
        return tls_identity_write(crt, out) == 0 ? 1 : -EINVAL;
    return 0;
}

bool conn_closes_after(const struct conn *c)
{
    return !c->keep_alive || c->eof || c->linger || c->t->draining;
}

void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *fmt, ...)
{
    struct buf out;
    char tmp[1024], headers[256];
    va_list ap;
    int n;

    /* Callers pass "Connection: close" themselves only on paths that always close. */
    if (conn_closes_after(c) && !(extra_headers && strstr(extra_headers, "Connection:"))) {
        snprintf(headers, sizeof(headers), "%sConnection: close\r\n",
                 extra_headers ? extra_headers : "");
        extra_headers = headers;
    }
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    buf_init(&out, 2048 + sizeof(tmp));
    if (http_write_simple(&out, status, extra_headers, tmp, (size_t)n) != 0) {
        buf_close(&out);
        conn_close(c, "response too large");
        return;
    }
    uv_buf_t b = buf_as_uv(&out);
    conn_respond(c, status, &b, 1, buf_steal(&out), NULL);
}

/* Frees a queued response's buffers, and counts it done if one was queued. */
static void free_own(struct conn *c)
{
    if (c->write_since_ns) {
        c->write_since_ns = 0;
        metrics_set(&c->t->counters->responses_queued, --c->t->n_queued);
    }
    free(c->own[0]);
    free(c->own[1]);
    c->own[0] = c->own[1] = NULL;
}

static void on_written(struct transport *tr, int status)
{
    struct conn *c = conn_of(tr);

    free_own(c);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    request_end(c);
}

/* The request's body is gone (or was handed on): its bytes go back to the budget. */
static void give_back_body(struct conn *c)
{
    if (c->body_reserved) {
        budget_give(c->body_reserved);
        c->body_reserved = 0;
    }
}

/* The response is written: close, or go back to reading and parse what was pipelined. */
static void request_end(struct conn *c)
{
    struct conn_table *t = c->t;
    struct buf pending;

    give_back_body(c);
    conn_head_put(t, c->head);
    c->head = NULL;
    c->gen = ++t->slots[c->idx].gen;
    c->state = CONN_READING;
    if (c->linger && !c->eof) {
        c->state = CONN_LINGERING;
        c->req_start_ns = uv_hrtime(); /* lingering since */
        if (transport_shutdown(&c->tr) != 0 || transport_read_start(&c->tr) != 0)
            conn_close(c, "cannot linger");
        return;
    }
    if (!c->keep_alive || c->eof || t->draining) {
        conn_close(c, "request done, not keep-alive");
        return;
    }
    unready_add(c, false);
    if (c->closing)
        return; /* it was the oldest of too many */
    if (c->pending.len) {
        /* Parse from a copy: parsing may stop again and keep a new remainder. */
        pending = c->pending;
        buf_init(&c->pending, CONN_PENDING_MAX_BYTES);
        process_input(c, pending.base, pending.len);
        buf_close(&pending);
    }
    /* Read on once nothing pipelined waits: also while the next request waits (a poll
     * that was pipelined behind a push), or the peer's close would go unnoticed and its
     * poll stay registered for ever. */
    if (c->read_stopped && !c->closing && c->pending.len == 0 &&
        (c->state == CONN_READING || c->state == CONN_WAITING)) {
        c->read_stopped = false;
        transport_read_start(&c->tr);
    }
    /* Idle only: a request pipelined behind the push may have started (a scrape that waits
     * holds this connection in its slot). It moves after that request, then. */
    if (c->move_to && c->state == CONN_READING && !c->closing && t->routes->on_idle_move &&
        conn_can_move(c)) {
        uint16_t to = (uint16_t)(c->move_to - 1);
        c->move_to = 0;
        t->routes->on_idle_move(c, to);
    }
}

/* Closes the connections idle longer than --web.idle-timeout: those on the unready list
 * with no byte of a request yet (a head on its way is --web.read-timeout's). The list is
 * in order of joining, so the walk stops at the first one too young. */
static void expire_idle(struct conn_table *t, uint64_t now_ms)
{
    uint64_t idle = config.web_idle_timeout;
    struct list *l, *tmp;

    if (!idle)
        return;
    list_for_each_safe(l, tmp, &t->unready)
    {
        struct conn *c = list_entry(l, struct conn, link);
        if (now_ms - c->link_since_ms < idle)
            break;
        if (c->head && http_parser_busy(&c->parser))
            continue;
        log_debug("conn", "idle connection closed", LOG_STR("limit", "web.idle-timeout"),
                  LOG_INT("worker", t->wk_id));
        conn_close(c, "web.idle-timeout");
    }
}

void conn_expire_slow(struct conn_table *t, uint64_t now_ns)
{
    uint64_t limit_ns = config.web_read_timeout * 1000000;
    uint64_t write_limit_ns = config.web_write_timeout * 1000000;

    expire_idle(t, uv_now(t->loop));
    for (uint32_t i = 0; i < t->cap; i++) {
        struct conn *c = t->slots[i].c;
        if (c && !c->closing && c->tr.tls && !transport_tls_handshake_done(&c->tr) &&
            now_ns - c->req_start_ns >= config.web_tls_handshake_timeout * 1000000) {
            metrics_inc(&t->counters->tls_handshake_errors);
            log_info("conn", "TLS handshake too slow",
                     LOG_STR("limit", "web.tls-handshake-timeout"), LOG_INT("worker", t->wk_id));
            conn_close(c, "web.tls-handshake-timeout");
            continue;
        }
        if (c && !c->closing && c->state == CONN_LINGERING &&
            now_ns - c->req_start_ns >= (uint64_t)CONN_LINGER_MS * 1000000) {
            conn_close(c, "lingered long enough");
            continue;
        }
        if (c && !c->closing && c->state == CONN_WRITING && c->write_since_ns && write_limit_ns &&
            now_ns - c->write_since_ns >= write_limit_ns) {
            log_warn("conn", "peer does not read its response",
                     LOG_STR("limit", "web.write-timeout"),
                     LOG_UINT("timeout_ms", config.web_write_timeout), LOG_INT("worker", t->wk_id));
            conn_close(c, "write timeout");
            continue;
        }
        if (!limit_ns || !c || c->closing || c->state != CONN_READING || !c->head ||
            !http_parser_busy(&c->parser) || now_ns - c->req_start_ns < limit_ns)
            continue;
        log_warn("conn", "request too slow", LOG_STR("limit", "web.read-timeout"),
                 LOG_UINT("timeout_ms", config.web_read_timeout), LOG_INT("worker", t->wk_id));
        c->keep_alive = false;
        c->linger = true;
        conn_respond_text(c, 408, "Connection: close\r\n",
                          "request not received within --web.read-timeout\n");
    }
}

/* --- closing --- */

void conn_close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    log_debug("conn", "closing connection", LOG_STR("reason", reason),
              LOG_INT("worker", c->t->wk_id), LOG_UINT("conn", c->idx));
    /* Whatever the request waits for is told first, while the conn is still whole. */
    if (c->state == CONN_WAITING && !c->auth_running && conn_route(c)->on_cancel)
        conn_route(c)->on_cancel(c);
    if (c->t->routes->on_close)
        c->t->routes->on_close(c);
    c->auth_running = false; /* on_auth_done finds the conn gone */
    unready_remove(c);
    c->closing = true;
    c->t->slots[c->idx].gen++;
    transport_close(&c->tr);
}

static void on_closed(struct transport *tr)
{
    struct conn *c = conn_of(tr);
    struct conn_table *t = c->t;

    conn_head_put(t, c->head);
    give_back_body(c);
    buf_close(&c->pending);
    free_own(c);
    t->slots[c->idx].c = NULL;
    t->free_idx[t->n_free++] = c->idx;
    t->n_open--;
    pool_put(&t->conns, c);
}
