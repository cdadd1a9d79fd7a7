/* scrape.c - one scrape's life: check the forwarded request as upstream does, GET the
 * exporter, and push its response (or a 500 saying what failed) to the proxy.
 *
 * A response with a Content-Length is streamed: the push starts as soon as the
 * exporter's head is in, with the push's length known up front, and body bytes go on as
 * they arrive. Any other response (chunked, or ending at EOF) is collected up to
 * --scrape.max-size and pushed with a Content-Length.
 *
 * Owner: the client's loop. Life: scrape_start() allocates a scrape and links it into
 * cl->scrapes; scrape_end() is the only way out (unlinks, frees, frees a scrape slot). A
 * scrape ends when both its exporter request and its push are over. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "push.h"

/* Longest request we send to an exporter, head and body. */
#define SCRAPE_REQ_MAX_BYTES (HTTP_HEAD_MAX_BYTES_DEFAULT + WORK_BODY_MAX_BYTES)
/* Longest error text pushed back. */
#define SCRAPE_ERR_MAX 1024
/* Shortest exporter timeout: a header of 0 expires at once, as upstream's context would
 * (0 means "no timeout" to httpc, so it must not reach it). */
#define SCRAPE_MIN_TIMEOUT_MS 1

struct scrape {
    struct client *cl;
    struct scrape *prev, *next;
    const char *fqdn;
    struct work work;
    struct httpc_req ex;   /* to the exporter */
    struct httpc_req push; /* to the proxy */
    uint64_t start_ms;
    uint64_t deadline_ms;
    char url[TARGET_HOST_MAX + TARGET_PATH_MAX + 32];
    bool ex_running;
    bool push_running;
    bool streaming; /* push started from the exporter's head */
    bool too_large;
};

static int on_ex_head(struct httpc_req *r);
static int on_ex_body(struct httpc_req *r, const char *at, size_t len);
static void on_ex_done(struct httpc_req *r, int err);
static void on_push_done(struct httpc_req *r, int err);

static double remaining_s(const struct scrape *s)
{
    uint64_t now = uv_now(s->cl->loop);
    return now >= s->deadline_ms ? 0.0 : (double)(s->deadline_ms - now) / 1000.0;
}

static void scrape_end(struct scrape *s)
{
    struct client *cl = s->cl;
    if (s->prev)
        s->prev->next = s->next;
    else
        cl->scrapes = s->next;
    if (s->next)
        s->next->prev = s->prev;
    httpc_req_close(&s->ex);
    httpc_req_close(&s->push);
    work_close(&s->work);
    free(s);
    cl->in_flight--;
    metrics_set(&cl->m.scrapes_in_flight, cl->in_flight);
    if (cl->stopping) {
        if (cl->in_flight == 0 && cl->on_idle)
            cl->on_idle(cl);
        return;
    }
    poll_resume(cl);
}

static void maybe_end(struct scrape *s)
{
    if (!s->ex_running && !s->push_running)
        scrape_end(s);
}

static void push_setup(struct scrape *s)
{
    struct client *cl = s->cl;
    struct httpc_req *p = &s->push;
    p->data = s;
    p->pool = &cl->proxy_pool;
    p->host = cl->proxy.host;
    p->port = cl->proxy.port;
    p->tls = cl->proxy_tls_on ? &cl->proxy_tls : NULL;
    p->on_done = on_push_done;
    p->body_mode = HTTP_BODY_COLLECT;
    p->body_max_bytes = PUSH_RES_BODY_MAX_BYTES;
    uint64_t left = (uint64_t)(remaining_s(s) * 1000.0);
    p->timeout_ms = left < PUSH_MIN_TIMEOUT_MS ? PUSH_MIN_TIMEOUT_MS : left;
}

/* Starts the push whose inner message (head, or all of it) is in inner, announcing
 * inner->len + more body bytes. */
static void push_begin(struct scrape *s, struct buf *inner, size_t more)
{
    struct httpc_req *p = &s->push;
    int rc = push_outer_head(&p->out, &s->cl->proxy, s->fqdn, s->work.id, inner->len + more);
    if (rc == 0)
        rc = buf_append(&p->out, inner->base, inner->len);
    p->out_more = more > 0;
    if (rc == 0)
        rc = httpc_start(p);
    if (rc != 0) {
        metrics_inc(&s->cl->m.push_errors);
        log_warn("push", "cannot push", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id),
                 LOG_STR("err", p->err_text[0] ? p->err_text : log_strerror(rc)));
        return;
    }
    s->push_running = true;
}

/* Pushes a 500 whose body is text (upstream's handleErr): counts a scrape error. */
static void push_error(struct scrape *s, const char *text)
{
    metrics_inc(&s->cl->m.scrape_errors);
    log_warn("scrape", "scrape failed", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id),
             LOG_STR("err", text));
    struct buf inner;
    buf_init(&inner, PUSH_HEAD_MAX_BYTES + SCRAPE_ERR_MAX);
    if (push_inner_error(&inner, s->work.id, remaining_s(s), text) == 0)
        push_begin(s, &inner, 0);
    buf_close(&inner);
}

/* The request to the exporter: the forwarded one in origin form, without hop-by-hop
 * headers, with its Host kept (as Go's client sends req.Host). */
static int build_ex_request(struct scrape *s)
{
    const struct http_head *h = &s->work.head;
    const struct target *t = &s->work.target;
    struct buf *out = &s->ex.out;
    int rc = buf_printf(out, "%s %s HTTP/1.1\r\n", http_head_method(h), t->path);
    size_t host_len = 0;
    const char *host = http_head_get(h, "Host", &host_len);
    if (rc == 0 && host != NULL && host_len > 0)
        rc = buf_printf(out, "Host: %.*s\r\n", (int)host_len, host);
    else if (rc == 0)
        rc = buf_printf(out, strchr(t->host, ':') ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n",
                        t->host, t->port);
    for (uint32_t i = 0; i < h->n_headers && rc == 0; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = http_head_str(h, hd->name_off);
        if (work_header_is_hop(name, hd->name_len))
            continue;
        rc = buf_printf(out, "%.*s: %.*s\r\n", (int)hd->name_len, name, (int)hd->value_len,
                        http_head_str(h, hd->value_off));
    }
    if (rc == 0 && h->body.len > 0)
        rc = buf_printf(out, "Content-Length: %zu\r\n", h->body.len);
    if (rc == 0)
        rc = buf_append_str(out, "\r\n");
    if (rc == 0 && h->body.len > 0)
        rc = buf_append(out, h->body.base, h->body.len);
    return rc;
}

static void start_exporter(struct scrape *s)
{
    struct client *cl = s->cl;
    struct httpc_req *r = &s->ex;
    const struct target *t = &s->work.target;
    r->data = s;
    r->pool = &cl->scrape_pool;
    r->host = t->host;
    r->connect_host = cl->f->scrape_use_localhost ? "127.0.0.1" : NULL;
    r->port = t->port;
    r->tls = t->https ? &cl->scrape_tls : NULL;
    r->timeout_ms = (uint64_t)s->work.timeout_ms;
    if (r->timeout_ms < SCRAPE_MIN_TIMEOUT_MS)
        r->timeout_ms = SCRAPE_MIN_TIMEOUT_MS;
    r->on_head = on_ex_head;
    r->on_body = on_ex_body;
    r->on_done = on_ex_done;
    r->body_mode = HTTP_BODY_COLLECT;
    r->body_max_bytes = cl->f->scrape_max_size;
    char err[SCRAPE_ERR_MAX];
    if (t->https && !cl->scrape_tls_on) {
        snprintf(err, sizeof(err), "failed to scrape %.512s: https is not set up", s->url);
        push_error(s, err);
        return;
    }
    int rc = build_ex_request(s);
    if (rc == 0)
        rc = httpc_start(r);
    if (rc != 0) {
        snprintf(err, sizeof(err), "failed to scrape %.512s: %s", s->url,
                 r->err_text[0] ? r->err_text : log_strerror(rc));
        push_error(s, err);
        return;
    }
    s->ex_running = true;
}

int scrape_start(struct client *cl, const char *fqdn, const char *body, size_t len,
                 const char **why)
{
    struct scrape *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        *why = "out of memory";
        return -ENOMEM;
    }
    s->cl = cl;
    s->fqdn = fqdn;
    work_init(&s->work);
    httpc_req_init(&s->ex, SCRAPE_REQ_MAX_BYTES);
    httpc_req_init(&s->push, cl->f->scrape_max_size + PUSH_HEAD_MAX_BYTES + 1024);
    int rc = work_parse(&s->work, body, len, why);
    if (rc != 0) {
        httpc_req_close(&s->ex);
        httpc_req_close(&s->push);
        work_close(&s->work);
        free(s);
        return rc;
    }
    s->start_ms = uv_now(cl->loop);
    s->deadline_ms = s->start_ms + (s->work.timeout_ms > 0 ? (uint64_t)s->work.timeout_ms : 0);
    s->next = cl->scrapes;
    if (cl->scrapes)
        cl->scrapes->prev = s;
    cl->scrapes = s;
    cl->in_flight++;
    metrics_inc(&cl->m.scrapes_total);
    metrics_set(&cl->m.scrapes_in_flight, cl->in_flight);
    push_setup(s);

    if (s->work.target_why == NULL)
        target_format(&s->work.target, s->url, sizeof(s->url));
    else
        snprintf(s->url, sizeof(s->url), "%.*s", (int)s->work.head.url_len,
                 http_head_str(&s->work.head, s->work.head.url_off));
    log_debug("scrape", "scrape request", LOG_STR("fqdn", fqdn), LOG_STR("id", s->work.id),
              LOG_STR("url", s->url));

    /* The checks in upstream's order: timeout, URL, host. */
    char err[SCRAPE_ERR_MAX];
    if (s->work.timeout_why != NULL) {
        push_error(s, s->work.timeout_why);
    } else if (s->work.target_why != NULL) {
        snprintf(err, sizeof(err), "bad scrape URL %.512s: %s", s->url, s->work.target_why);
        push_error(s, err);
    } else if (!target_host_matches(&s->work.target, fqdn)) {
        push_error(s, "scrape target doesn't match client fqdn");
    } else if (!target_allowed(&cl->allow, &s->work.target)) {
        metrics_inc(&cl->m.scrapes_refused);
        snprintf(err, sizeof(err),
                 "forbidden: scrape target %.512s is not allowed by --scrape.allow on this client",
                 s->url);
        push_error(s, err);
    } else {
        start_exporter(s);
    }
    maybe_end(s);
    return 0;
}

static int on_ex_head(struct httpc_req *r)
{
    struct scrape *s = r->data;
    const struct http_head *h = &r->head;
    uint64_t max = s->cl->f->scrape_max_size;
    if (h->content_length >= 0 && (uint64_t)h->content_length > max) {
        s->too_large = true;
        return 502;
    }
    if (h->content_length >= 0 && !h->chunked) {
        /* Length known: stream it to the proxy as it arrives. */
        r->body_mode = HTTP_BODY_STREAM;
        r->body_max_bytes = (size_t)h->content_length;
        struct buf inner;
        buf_init(&inner, PUSH_HEAD_MAX_BYTES);
        int rc = push_inner_head(&inner, h, s->work.id, remaining_s(s), false, 0);
        if (rc == 0) {
            s->streaming = true;
            push_begin(s, &inner, (size_t)h->content_length);
        }
        buf_close(&inner);
        if (rc != 0 || !s->push_running)
            return 502; /* nowhere to send it; the error is counted and logged */
        return 0;
    }
    r->body_mode = HTTP_BODY_COLLECT;
    r->body_max_bytes = max;
    return 0;
}

static int on_ex_body(struct httpc_req *r, const char *at, size_t len)
{
    struct scrape *s = r->data;
    if (!s->push_running)
        return 502; /* the push failed: stop reading */
    if (httpc_write(&s->push, at, len) != 0)
        return 502;
    return 0;
}

static void on_ex_done(struct httpc_req *r, int err)
{
    struct scrape *s = r->data;
    struct client *cl = s->cl;
    s->ex_running = false;
    client_observe_scrape(cl, s->work.target.port,
                          (double)(uv_now(cl->loop) - s->start_ms) / 1000.0);
    char text[SCRAPE_ERR_MAX];
    if (err == 0 && !s->streaming) {
        struct buf inner;
        buf_init(&inner, PUSH_HEAD_MAX_BYTES);
        int rc =
            push_inner_head(&inner, &r->head, s->work.id, remaining_s(s), true, r->head.body.len);
        buf_close(&s->push.out);
        buf_init(&s->push.out, PUSH_HEAD_MAX_BYTES + r->head.body.len + 1024);
        if (rc == 0)
            rc = push_outer_head(&s->push.out, &cl->proxy, s->fqdn, s->work.id,
                                 inner.len + r->head.body.len);
        if (rc == 0)
            rc = buf_append(&s->push.out, inner.base, inner.len);
        if (rc == 0)
            rc = buf_append(&s->push.out, r->head.body.base, r->head.body.len);
        buf_close(&inner);
        /* The exporter's copy is not needed any more. */
        buf_close(&r->head.body);
        if (rc == 0)
            rc = httpc_start(&s->push);
        if (rc != 0) {
            metrics_inc(&cl->m.push_errors);
            log_warn("push", "cannot push", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id),
                     LOG_STR("err", s->push.err_text[0] ? s->push.err_text : log_strerror(rc)));
        } else {
            s->push_running = true;
        }
    } else if (err == 0) {
        httpc_end(&s->push);
        log_debug("scrape", "scraped", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id),
                  LOG_INT("status", r->head.status));
    } else if (s->streaming) {
        /* Part of the response is already on its way: the push cannot be mended. Cut it
         * so the proxy sees a truncated push rather than a wrong body. */
        metrics_inc(&cl->m.scrape_errors);
        log_warn("scrape", "exporter failed in the middle of its response",
                 LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id), LOG_STR("url", s->url),
                 LOG_STR("err", r->err_text));
        if (s->push_running) {
            httpc_cancel(&s->push);
            s->push_running = false;
            metrics_inc(&cl->m.push_errors);
        }
    } else if (s->too_large) {
        snprintf(
            text, sizeof(text),
            "failed to scrape %.512s: response too large: more than --scrape.max-size=%llu bytes",
            s->url, (unsigned long long)cl->f->scrape_max_size);
        push_error(s, text);
    } else {
        snprintf(text, sizeof(text), "failed to scrape %.512s: %s", s->url, r->err_text);
        if (strstr(r->err_text, "body size limit") != NULL)
            snprintf(
                text, sizeof(text),
                "failed to scrape %.512s: response too large: more than --scrape.max-size=%llu "
                "bytes",
                s->url, (unsigned long long)cl->f->scrape_max_size);
        push_error(s, text);
    }
    maybe_end(s);
}

static void on_push_done(struct httpc_req *r, int err)
{
    struct scrape *s = r->data;
    struct client *cl = s->cl;
    s->push_running = false;
    if (err != 0) {
        metrics_inc(&cl->m.push_errors);
        log_warn("push", "push failed", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id),
                 LOG_STR("err", r->err_text));
    } else if (r->head.status != 200) {
        metrics_inc(&cl->m.push_errors);
        size_t n = r->head.body.len < 200 ? r->head.body.len : 200;
        log_warn("push", "proxy refused the push", LOG_STR("fqdn", s->fqdn),
                 LOG_STR("id", s->work.id), LOG_INT("status", r->head.status),
                 LOG_STRN("body", r->head.body.base, n));
    } else {
        log_debug("push", "pushed", LOG_STR("fqdn", s->fqdn), LOG_STR("id", s->work.id));
    }
    if (s->ex_running) {
        /* The push ended before the exporter's body did (the proxy refused it early):
         * the rest has nowhere to go. */
        httpc_cancel(&s->ex);
        s->ex_running = false;
    }
    maybe_end(s);
}

void scrape_cancel_all(struct client *cl)
{
    while (cl->scrapes != NULL) {
        struct scrape *s = cl->scrapes;
        log_warn("scrape", "scrape cut short by shutdown", LOG_STR("fqdn", s->fqdn),
                 LOG_STR("id", s->work.id));
        httpc_cancel(&s->ex);
        httpc_cancel(&s->push);
        s->ex_running = s->push_running = false;
        scrape_end(s);
    }
}
