/* metrics_http.c - the client's /metrics listener (see metrics_http.h).
 * Owner: the client's loop. Life: metrics_http_start() at start-up, metrics_http_stop()
 * at shutdown; a connection ends only through mconn_close(), which frees it once its
 * two handles have closed. */
#include "metrics_http.h"

#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "http.h"
#include "log.h"

/* Largest request accepted (GET /metrics with a few headers). */
#define METRICS_HTTP_REQ_MAX_BYTES 8192

struct metrics_http_conn {
    struct metrics_http *srv;
    struct list link; /* in srv->conns */
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_parser parser;
    struct http_head head;
    int open_handles;
    bool closing;
};

struct mwrite {
    uv_write_t req;
    struct metrics_http_conn *c;
    struct buf out;
    bool keep_alive;
};

static void on_connection(uv_stream_t *s, int status);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_write(uv_write_t *w, int status);
static void on_timeout(uv_timer_t *t);
static void on_handle_closed(uv_handle_t *h);

static void mconn_close(struct metrics_http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct metrics_http *m = c->srv;
    list_remove(&c->link);
    m->n_conns--;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct metrics_http_conn *c = h->data;
    if (--c->open_handles == 0) {
        http_head_close(&c->head);
        free(c);
    }
}

int metrics_http_start(struct metrics_http *m, uv_loop_t *loop, const char *addr,
                       metrics_http_write_cb write, metrics_http_ready_cb ready, void *ctx)
{
    char host[256];
    int port;
    struct sockaddr_storage ss;
    memset(m, 0, sizeof(*m));
    list_init(&m->conns);
    m->loop = loop;
    m->write = write;
    m->ready = ready;
    m->ctx = ctx;
    if (flags_split_hostport(addr, host, sizeof(host), &port) != 0)
        return UV_EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return UV_EINVAL;
    uv_tcp_init(loop, &m->tcp);
    m->tcp.data = m;
    m->listening = true;
    int rc = uv_tcp_bind(&m->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&m->tcp, 64, on_connection);
    return rc;
}

void metrics_http_stop(struct metrics_http *m)
{
    if (!m->listening)
        return;
    m->listening = false;
    uv_close((uv_handle_t *)&m->tcp, NULL);
    struct list *l;
    while ((l = list_first(&m->conns)))
        mconn_close(list_entry(l, struct metrics_http_conn, link));
}

static void on_connection(uv_stream_t *s, int status)
{
    struct metrics_http *m = s->data;
    if (status < 0)
        return;
    struct metrics_http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->srv = m;
    uv_tcp_init(m->loop, &c->tcp);
    uv_timer_init(m->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    http_head_init(&c->head, 0);
    http_parser_init(&c->parser, HTTP_KIND_REQUEST, NULL, c);
    c->parser.head_max_bytes = METRICS_HTTP_REQ_MAX_BYTES;
    http_parser_begin(&c->parser, &c->head);
    list_push_front(&m->conns, &c->link);
    m->n_conns++;
    if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0 || m->n_conns > METRICS_HTTP_MAX_CONNS) {
        mconn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, METRICS_HTTP_IDLE_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[16 * 1024];
    (void)h;
    (void)suggested;
    *b = uv_buf_init(slab, sizeof(slab));
}

static void on_timeout(uv_timer_t *t)
{
    mconn_close(t->data);
}

static void respond(struct metrics_http_conn *c)
{
    struct http_head *h = &c->head;
    struct mwrite *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        mconn_close(c);
        return;
    }
    w->c = c;
    w->keep_alive = h->keep_alive;
    buf_init(&w->out, METRICS_HTTP_PAGE_MAX_BYTES);
    const char *url = http_head_str(h, h->url_off);
    size_t path_len = h->url_len;
    const char *q = memchr(url, '?', h->url_len);
    if (q)
        path_len = (size_t)(q - url);
    const char *conn_hdr = h->keep_alive ? "" : "Connection: close\r\n";
    if (http_str_ieq(url, path_len, "/metrics") &&
        (h->method == HTTP_GET || h->method == HTTP_HEAD)) {
        struct buf page;
        buf_init(&page, METRICS_HTTP_PAGE_MAX_BYTES);
        int rc = c->srv->write(c->srv->ctx, &page);
        if (rc == 0)
            rc = buf_printf(&w->out,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                            "charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n",
                            page.len, conn_hdr);
        if (rc == 0 && h->method == HTTP_GET)
            rc = buf_append(&w->out, page.base, page.len);
        buf_close(&page);
        if (rc != 0) {
            buf_reset(&w->out);
            http_write_simple(&w->out, 500, "Connection: close\r\n", "metrics too large\n", 18);
        }
    } else if (http_str_ieq(url, path_len, "/-/healthy") && h->method == HTTP_GET) {
        static const char body[] = "pushprox-client is healthy.\n";
        http_write_simple(&w->out, 200, conn_hdr[0] ? conn_hdr : NULL, body, sizeof(body) - 1);
    } else if (http_str_ieq(url, path_len, "/-/ready") && h->method == HTTP_GET) {
        static const char body[] = "pushprox-client is ready.\n";
        const char *why = c->srv->ready ? c->srv->ready(c->srv->ctx) : NULL;
        char text[512];
        int n = why ? snprintf(text, sizeof(text), "not ready: %s\n", why) : 0;
        if (n >= (int)sizeof(text))
            n = sizeof(text) - 1;
        http_write_simple(&w->out, why ? 503 : 200, conn_hdr[0] ? conn_hdr : NULL,
                          why ? text : body, why ? (size_t)n : sizeof(body) - 1);
    } else {
        static const char body[] = "Not found. The client's metrics are at /metrics.\n";
        http_write_simple(&w->out, 404, conn_hdr[0] ? conn_hdr : NULL, body, sizeof(body) - 1);
    }
    uv_buf_t b = buf_as_uv(&w->out);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        buf_close(&w->out);
        free(w);
        mconn_close(c);
        return;
    }
    if (!h->keep_alive)
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void on_write(uv_write_t *wr, int status)
{
    struct mwrite *w = (struct mwrite *)wr;
    struct metrics_http_conn *c = w->c;
    bool keep = status == 0 && w->keep_alive;
    buf_close(&w->out);
    free(w);
    if (!keep)
        mconn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct metrics_http_conn *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        mconn_close(c);
        return;
    }
    const char *data = b->base;
    size_t len = (size_t)nread;
    uv_timer_start(&c->timer, on_timeout, METRICS_HTTP_IDLE_TIMEOUT_MS, 0);
    while (len > 0 && !c->closing) {
        size_t used = 0;
        enum http_parse_result r = http_parser_execute(&c->parser, data, len, &used);
        if (r == HTTP_PARSE_ERROR) {
            mconn_close(c); /* not HTTP, or too large: nothing worth answering */
            return;
        }
        if (r == HTTP_PARSE_MORE)
            return;
        respond(c);
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >
            METRICS_HTTP_MAX_QUEUED_BYTES) {
            log_warn("metrics", "peer does not read its responses; closing",
                     LOG_STR("limit", "METRICS_HTTP_MAX_QUEUED_BYTES"));
            mconn_close(c);
            return;
        }
        if (!c->head.keep_alive || c->closing)
            return;
        http_parser_begin(&c->parser, &c->head);
        data += used;
        len -= used;
    }
}
