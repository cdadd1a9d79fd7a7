/* conn.c - accepted connections: read, parse, route, respond, close (see conn.h).
 *
 * Owner: the worker that accepted the connection; every function here runs on its loop.
 * The table of connections (conn_table) belongs to that worker too.
 *
 * The life of a request on a connection:
 *   READING  bytes go to the llhttp parser; on_head picks the route and the body limit;
 *            when the message is complete, dispatch() hands it to its route's handler
 *   WAITING  the handler waits for an answer from elsewhere (poll, scrape, push, clients)
 *   WRITING  conn_respond() wrote the answer; when the write is done the request ends and
 *            any pipelined bytes are parsed as the next request
 * conn_close() is the one way out, from any state. */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "config.h"
#include "log.h"
#include "poll.h"
#include "push.h"
#include "scrape.h"
#include "stats.h"
#include "worker.h"

struct write_req {
    uv_write_t req;
    struct conn *c;
    struct write_req *next; /* in the worker's pool */
    char *own[2];
};

/* Write requests kept for reuse per worker; more are freed. */
#define CONN_WRITE_POOL_MAX 4096

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_written(uv_write_t *req, int status);
static void on_closed(uv_handle_t *handle);
static void on_written_check(uv_check_t *check);
static void on_written_idle(uv_idle_t *idle);
static void on_spare_closed(uv_handle_t *handle);
static int on_head(struct http_parser *p);
static int on_discard_body(struct http_parser *p, const char *at, size_t len);
static void process_input(struct conn *c, const char *data, size_t len);
static void request_end(struct conn *c);
static void pause_reading(struct conn *c);

static const struct http_parser_cb conn_parser_cb = {
    .on_head = on_head,
    .on_body = on_discard_body,
};

/* --- the table --- */

int conn_table_init(struct conn_table *t, uint32_t cap)
{
    memset(t, 0, sizeof(*t));
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
    while (t->pool) {
        struct conn *c = t->pool;
        t->pool = c->hold_next;
        free(c);
    }
    for (uint32_t i = 0; i < t->n_heads; i++) {
        http_head_close(t->heads[i]);
        free(t->heads[i]);
    }
    while (t->write_pool) {
        struct write_req *w = t->write_pool;
        t->write_pool = w->next;
        free(w);
    }
    free(t->heads);
    free(t->slots);
    free(t->free_idx);
    memset(t, 0, sizeof(*t));
}

static struct write_req *write_req_get(struct conn_table *t)
{
#ifndef NO_POOLS
    if (t->write_pool) {
        struct write_req *w = t->write_pool;
        t->write_pool = w->next;
        t->n_write_pooled--;
        return w;
    }
#endif
    return malloc(sizeof(struct write_req));
}

static void write_req_put(struct conn_table *t, struct write_req *w)
{
#ifndef NO_POOLS
    if (t->n_write_pooled < CONN_WRITE_POOL_MAX) {
        w->next = t->write_pool;
        t->write_pool = w;
        t->n_write_pooled++;
        return;
    }
#endif
    free(w);
}

static struct conn *conn_get(struct conn_table *t)
{
#ifndef NO_POOLS
    if (t->pool) {
        struct conn *c = t->pool;
        t->pool = c->hold_next;
        t->n_pooled--;
        return c;
    }
#endif
    return malloc(sizeof(struct conn));
}

static void conn_put(struct conn_table *t, struct conn *c)
{
#ifndef NO_POOLS
    c->hold_next = t->pool;
    t->pool = c;
    t->n_pooled++;
#else
    (void)t;
    free(c);
#endif
}

/* A head for a new request, from the pool. Large buffers a past request grew are not
 * kept, so one big push does not pin memory on a connection that polls. */
static struct http_head *head_get(struct conn_table *t)
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

static void head_put(struct conn_table *t, struct http_head *h)
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

struct http_head *conn_head_get(struct worker *wk)
{
    return head_get(&wk->conns);
}

void conn_head_put(struct worker *wk, struct http_head *h)
{
    head_put(&wk->conns, h);
}

void conn_release_head(struct conn *c)
{
    head_put(&c->wk->conns, c->head);
    c->head = NULL;
}

struct ref conn_ref(const struct conn *c)
{
    return (struct ref){.wk = c->wk->id, .idx = c->idx, .gen = c->gen};
}

struct conn *conn_lookup(struct worker *wk, struct ref ref)
{
    struct conn_slot *s;

    if (ref.wk != wk->id || ref.idx >= wk->conns.cap)
        return NULL;
    s = &wk->conns.slots[ref.idx];
    if (!s->c || s->gen != ref.gen || s->c->closing)
        return NULL;
    return s->c;
}

/* --- accept --- */

void conn_on_connection(uv_stream_t *server, int status)
{
    struct worker *wk = server->data;
    struct conn_table *t = &wk->conns;
    struct conn *c;

    if (status < 0) {
        log_warn("conn", "accept failed", LOG_ERR(status));
        return;
    }
    if (t->n_free == 0 || !(c = conn_get(t))) {
        /* Over --web.max-connections: accept and close at once, so the backlog drains. */
        stats_limit(&wk->stats, LIMIT_WEB_MAX_CONNECTIONS);
        log_warn("conn", "connection refused: limit reached",
                 LOG_STR("limit", "web.max-connections"),
                 LOG_INT("max", config.web_max_connections));
        uv_tcp_t *spare = malloc(sizeof(*spare));
        if (spare && uv_tcp_init(server->loop, spare) == 0) {
            uv_accept(server, (uv_stream_t *)spare);
            uv_close((uv_handle_t *)spare, on_spare_closed);
        } else {
            free(spare);
        }
        return;
    }
    memset(c, 0, sizeof(*c));
    c->wk = wk;
    c->idx = t->free_idx[--t->n_free];
    c->gen = ++t->slots[c->idx].gen;
    t->slots[c->idx].c = c;
    t->n_open++;
    buf_init(&c->pending, CONN_PENDING_MAX_BYTES);
    http_parser_init(&c->parser, HTTP_KIND_REQUEST, &conn_parser_cb, c);
    c->parser.head_max_bytes = config.http_max_header_bytes;
    uv_tcp_init(&wk->loop, &c->tcp);
    c->tcp.data = c;
    if ((status = uv_accept(server, (uv_stream_t *)&c->tcp)) != 0) {
        conn_close(c, "accept failed");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (config.web_tcp_keepalive)
        uv_tcp_keepalive(&c->tcp, 1, (unsigned)((config.web_tcp_keepalive + 999) / 1000));
    if ((status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0)
        conn_close(c, "read start failed");
}

/* --- reading --- */

/* One read buffer per worker: libuv calls alloc and read back to back, and on_read keeps
 * nothing of it (what a request needs is copied into its head or pending). */
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = handle->data;
    struct worker *wk = c->wk;
    struct http_head *h = c->head;

    /* The rest of a push body of known length is read straight into its own buffer, which
     * travels to the scrape's worker and is written to Prometheus from there. */
    if (h && c->state == CONN_READING && c->route == ROUTE_PUSH && !c->error_status &&
        c->parser.head_done && !c->parser.complete && h->content_length > 0 && h->body.base &&
        h->body.cap > h->body.len) {
        size_t want = (size_t)h->content_length - h->body_bytes;
        size_t room = h->body.cap - h->body.len;
        *buf = uv_buf_init(h->body.base + h->body.len, (unsigned)(want < room ? want : room));
        if (buf->len > 0)
            return;
    }
    if (wk->read_buf_lent) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS; never expected */
        return;
    }
    wk->read_buf_lent = true;
    *buf = uv_buf_init(wk->read_buf, CONN_READ_BUF_BYTES);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;

    if (buf->base == c->wk->read_buf)
        c->wk->read_buf_lent = false;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        /* A peer that half-closes still gets its answer when one is on its way (being
         * written, or a push's verdict, or /clients). A poll or a scrape whose peer goes
         * away is cancelled, as upstream's server cancels the request's context. */
        if (nread == UV_EOF &&
            (c->state == CONN_WRITING ||
             (c->state == CONN_WAITING && (c->route == ROUTE_PUSH || c->route == ROUTE_CLIENTS)))) {
            c->eof = true; /* answer, then close */
            c->keep_alive = false;
            pause_reading(c);
            return;
        }
        conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    if (c->state != CONN_READING) {
        /* Pipelined input while a request is served: keep it for later, and read no more
         * until that request ends (one read fits CONN_PENDING_MAX_BYTES). */
        if (buf_append(&c->pending, buf->base, (size_t)nread) != 0) {
            stats_limit(&c->wk->stats, LIMIT_PENDING_BYTES);
            conn_close(c, "pipelined input exceeds CONN_PENDING_MAX_BYTES");
            return;
        }
        pause_reading(c);
        return;
    }
    process_input(c, buf->base, (size_t)nread);
}

/* Stops reading while pipelined bytes wait; request_end() reads on. The peer's own
 * buffers hold the rest, which is TCP's back-pressure. */
static void pause_reading(struct conn *c)
{
    if (!c->read_stopped) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->read_stopped = true;
    }
}

/* Parses what it can; stops at the end of a request and keeps the rest in pending. */
static void process_input(struct conn *c, const char *data, size_t len)
{
    while (len > 0 && c->state == CONN_READING && !c->closing) {
        size_t used = 0;
        enum http_parse_result r;

        if (!c->head) {
            c->head = head_get(&c->wk->conns);
            if (!c->head) {
                conn_close(c, "out of memory");
                return;
            }
            http_parser_begin(&c->parser, c->head);
            c->error_status = 0;
            c->route = ROUTE_OTHER;
            c->req_start_ns = uv_hrtime();
        }
        r = http_parser_execute(&c->parser, data, len, &used);
        data += used;
        len -= used;
        if (r == HTTP_PARSE_ERROR) {
            int status = c->parser.error_status;
            if (status == 413 && c->route == ROUTE_PUSH)
                stats_limit(&c->wk->stats, LIMIT_PUSH_MAX_SIZE);
            else if (status == 431)
                stats_limit(&c->wk->stats, LIMIT_HTTP_MAX_HEADER_BYTES);
            log_warn("conn", "bad request", LOG_INT("status", status),
                     LOG_STR("reason", c->parser.error_msg));
            c->keep_alive = false;
            conn_respond_text(c, status, "Connection: close\r\n", "%s\n", c->parser.error_msg);
            return;
        }
        if (r == HTTP_PARSE_COMPLETE) {
            c->keep_alive = c->head->keep_alive && !c->eof;
            if (len > 0) {
                if (buf_append(&c->pending, data, len) != 0) {
                    stats_limit(&c->wk->stats, LIMIT_PENDING_BYTES);
                    conn_close(c, "pipelined input exceeds CONN_PENDING_MAX_BYTES");
                    return;
                }
                pause_reading(c);
            }
            len = 0;
            c->state = CONN_WAITING;
            switch (c->error_status ? ROUTE_COUNT : c->route) {
            case ROUTE_SCRAPE: scrape_start(c); break;
            case ROUTE_POLL: poll_start(c); break;
            case ROUTE_PUSH: push_start(c); break;
            case ROUTE_CLIENTS: clients_start(c); break;
            case ROUTE_METRICS: stats_serve(c); break;
            default:
                conn_respond_text(c, c->error_status ? c->error_status : 404, NULL, "%s\n",
                                  c->error_status == 405 ? "Method Not Allowed"
                                                         : "404 page not found");
                break;
            }
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

/* The head is complete: pick the route and the body's limit before any body is read. A
 * refusal (404/405) is answered after the body is read and discarded, so a keep-alive
 * connection stays in step. */
static int on_head(struct http_parser *p)
{
    struct conn *c = p->data;
    struct http_head *h = p->head;
    const char *url = http_head_str(h, h->url_off);
    size_t len = h->url_len;
    int method = h->method;

    p->body_mode = HTTP_BODY_COLLECT;
    p->body_max_bytes = CONN_OTHER_BODY_MAX_BYTES;
    if (is_absolute(url, len)) {
        c->route = ROUTE_SCRAPE;
    } else if (path_is(url, len, "/poll")) {
        c->route = ROUTE_POLL;
        p->body_max_bytes = CONN_POLL_BODY_MAX_BYTES;
        if (method != HTTP_POST)
            c->error_status = 405;
    } else if (path_is(url, len, "/push")) {
        c->route = ROUTE_PUSH;
        p->body_max_bytes = config.push_max_size;
        if (method != HTTP_POST)
            c->error_status = 405;
        /* Room for the whole body up front, so on_alloc can read into it in place. */
        else if (h->content_length > 0 && (uint64_t)h->content_length <= p->body_max_bytes) {
            h->body.max = p->body_max_bytes;
            if (buf_reserve(&h->body, (size_t)h->content_length) != 0)
                return 503;
        }
    } else if (path_is(url, len, "/clients")) {
        c->route = ROUTE_CLIENTS;
        if (method != HTTP_GET)
            c->error_status = 405;
    } else if (path_is(url, len, "/metrics")) {
        c->route = ROUTE_METRICS;
        if (method != HTTP_GET)
            c->error_status = 405;
    } else {
        c->route = ROUTE_OTHER;
        c->error_status = 404;
    }
    if (c->error_status)
        p->body_mode = HTTP_BODY_STREAM; /* read and drop */
    return 0;
}

static int on_discard_body(struct http_parser *p, const char *at, size_t len)
{
    return 0;
}

/* --- writing --- */

/* Most responses fit in the socket's buffer, so they are written at once with
 * uv_try_write(): no write request, and none of the epoll interest changes libuv makes
 * around a queued write (three per scrape: the scrape's, the poll's and the push's
 * answers). Only what does not fit is queued with uv_write(). A request written at once
 * ends in this loop turn's check phase (conn_on_check), not here, so a handler never
 * re-enters the parser that called it. */
void conn_respond(struct conn *c, int status, const uv_buf_t *bufs, unsigned n_bufs, char *own0,
                  char *own1)
{
    struct conn_table *t = &c->wk->conns;
    uv_buf_t rest[2];
    unsigned n = 0;
    struct write_req *w;
    int rc;

    assert(n_bufs <= 2);
    stats_request(&c->wk->stats, (enum conn_route)c->route, status, uv_hrtime() - c->req_start_ns);
    if (c->closing)
        goto drop;
    c->state = CONN_WRITING;
    rc = uv_try_write((uv_stream_t *)&c->tcp, bufs, n_bufs);
    if (rc < 0 && rc != UV_EAGAIN) {
        conn_close(c, uv_strerror(rc));
        goto drop;
    }
    /* What is left, if anything. */
    size_t done = rc > 0 ? (size_t)rc : 0;
    for (unsigned i = 0; i < n_bufs; i++) {
        if (done >= bufs[i].len) {
            done -= bufs[i].len;
            continue;
        }
        rest[n++] = uv_buf_init(bufs[i].base + done, (unsigned)(bufs[i].len - done));
        done = 0;
    }
    if (n == 0) {
        free(own0);
        free(own1);
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
    if (!(w = write_req_get(t))) {
        conn_close(c, "out of memory");
        goto drop;
    }
    w->c = c;
    w->own[0] = own0;
    w->own[1] = own1;
    c->write_since_ns = uv_hrtime();
    if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, rest, n, on_written)) != 0) {
        write_req_put(t, w);
        conn_close(c, uv_strerror(rc));
        goto drop;
    }
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

int conn_table_start(struct conn_table *t, uv_loop_t *loop)
{
    int rc;

    if ((rc = uv_check_init(loop, &t->written_check)) != 0 ||
        (rc = uv_idle_init(loop, &t->written_idle)) != 0)
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

void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *fmt, ...)
{
    struct buf out;
    char tmp[1024];
    va_list ap;
    int n;

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

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;

    free(w->own[0]);
    free(w->own[1]);
    write_req_put(&c->wk->conns, w);
    c->write_since_ns = 0;
    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    request_end(c);
}

/* The response is written: close, or go back to reading and parse what was pipelined. */
static void request_end(struct conn *c)
{
    struct worker *wk = c->wk;
    struct buf pending;

    head_put(&wk->conns, c->head);
    c->head = NULL;
    c->gen = ++wk->conns.slots[c->idx].gen;
    c->state = CONN_READING;
    if (!c->keep_alive || c->eof) {
        conn_close(c, "request done, not keep-alive");
        return;
    }
    if (c->pending.len) {
        /* Parse from a copy: parsing may stop again and keep a new remainder. */
        pending = c->pending;
        buf_init(&c->pending, CONN_PENDING_MAX_BYTES);
        process_input(c, pending.base, pending.len);
        buf_close(&pending);
    }
    if (c->read_stopped && !c->closing && c->state == CONN_READING) {
        c->read_stopped = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

void conn_expire_slow(struct worker *wk, uint64_t now_ns)
{
    uint64_t limit_ns = config.web_read_timeout * 1000000;
    uint64_t write_limit_ns = config.web_write_timeout * 1000000;

    if (!limit_ns && !write_limit_ns)
        return;
    for (uint32_t i = 0; i < wk->conns.cap; i++) {
        struct conn *c = wk->conns.slots[i].c;
        if (c && !c->closing && c->state == CONN_WRITING && c->write_since_ns && write_limit_ns &&
            now_ns - c->write_since_ns >= write_limit_ns) {
            log_warn("conn", "peer does not read its response",
                     LOG_STR("limit", "web.write-timeout"),
                     LOG_UINT("timeout_ms", config.web_write_timeout), LOG_INT("worker", wk->id));
            conn_close(c, "write timeout");
            continue;
        }
        if (!limit_ns || !c || c->closing || c->state != CONN_READING || !c->head ||
            !http_parser_busy(&c->parser) || now_ns - c->req_start_ns < limit_ns)
            continue;
        log_warn("conn", "request too slow", LOG_STR("limit", "web.read-timeout"),
                 LOG_UINT("timeout_ms", config.web_read_timeout), LOG_INT("worker", wk->id));
        c->keep_alive = false;
        conn_respond_text(c, 408, "Connection: close\r\n",
                          "request not received within --web.read-timeout\n");
    }
}

/* --- closing --- */

void conn_close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    log_debug("conn", "closing connection", LOG_STR("reason", reason), LOG_INT("worker", c->wk->id),
              LOG_UINT("conn", c->idx));
    /* Whatever the request waits for is told first, while the conn is still whole. */
    if (c->state == CONN_WAITING) {
        switch (c->route) {
        case ROUTE_SCRAPE: scrape_cancel(c); break;
        case ROUTE_POLL: poll_cancel(c); break;
        case ROUTE_CLIENTS: clients_cancel(c); break;
        default: break; /* a push's verdict will find the conn gone */
        }
    }
    c->closing = true;
    c->wk->conns.slots[c->idx].gen++;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_spare_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    struct conn_table *t = &c->wk->conns;

    head_put(t, c->head);
    buf_close(&c->pending);
    t->slots[c->idx].c = NULL;
    t->free_idx[t->n_free++] = c->idx;
    t->n_open--;
    conn_put(t, c);
}
