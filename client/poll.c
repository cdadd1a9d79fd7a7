/* poll.c - the poll loop: per FQDN, --poll.concurrency pollers each keep one POST /poll
 * open at the proxy. A 200 whose body is a request starts a scrape and the poller polls
 * again at once; a failure waits (backoff.h) and polls again, forever.
 * Owner: the client's loop. Life: poll_start() after the pools exist; poll_stop() stops
 * every poller (their requests are cancelled, timers stopped); poll_close() frees them
 * after the loop has run the timers' close callbacks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "client.h"
#include "log.h"

/* Wait after a 408 (the proxy expired this poll, e.g. a newer one from the same FQDN
 * took its slot upstream): short, so the client is back at once, but not zero, so two
 * polls evicting each other cannot spin. A 408 that comes quickly (within
 * POLL_EXPIRED_QUICK_MS of the poll) means another poll for the same FQDN keeps taking
 * ours: the wait then grows like the error backoff (x1.5 up to --proxy.retry.max-wait),
 * so two clients sharing a name against upstream's one-slot proxy settle instead of
 * evicting each other ten times a second. A poll held longer (--poll.max-hold) resets it. */
#define POLL_EXPIRED_DELAY_MS 100
#define POLL_EXPIRED_QUICK_MS 1000
/* Longest request we send to /poll (the FQDN plus a small head). */
#define POLL_REQ_MAX_BYTES 2048
/* Bytes of an unexpected answer's body quoted in the log. */
#define POLL_LOG_BODY_BYTES 200

struct poller {
    struct client *cl;
    const char *fqdn;
    unsigned idx;
    struct httpc_req req;
    uv_timer_t timer;
    struct backoff bo;
    struct backoff expired; /* the wait after quick 408s */
    uint64_t started_ms;    /* when the current poll was sent */
    bool parked;            /* waiting for a free scrape slot */
    bool waiting;           /* timer running */
};

static void on_poll_done(struct httpc_req *req, int err);
static void on_retry(uv_timer_t *t);
static void poller_poll(struct poller *p);

static int on_poll_head(struct httpc_req *req)
{
    req->body_mode = HTTP_BODY_COLLECT;
    req->body_max_bytes = CLIENT_POLL_BODY_MAX_BYTES;
    req->head.body.max = CLIENT_POLL_BODY_MAX_BYTES;
    return 0;
}

int poll_start(struct client *cl)
{
    size_t conc = (size_t)cl->f->poll_concurrency;
    cl->n_pollers = cl->n_fqdns * conc;
    cl->pollers = calloc(cl->n_pollers, sizeof(*cl->pollers));
    if (cl->pollers == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cl->n_pollers; i++) {
        struct poller *p = &cl->pollers[i];
        p->cl = cl;
        p->fqdn = cl->fqdns[i / conc];
        p->idx = (unsigned)(i % conc);
        httpc_req_init(&p->req, POLL_REQ_MAX_BYTES);
        p->req.data = p;
        p->req.pool = &cl->proxy_pool;
        p->req.host = cl->proxy.host;
        p->req.port = cl->proxy.port;
        p->req.tls = cl->proxy_tls_on ? &cl->proxy_tls : NULL;
        p->req.on_head = on_poll_head;
        p->req.on_done = on_poll_done;
        p->req.body_mode = HTTP_BODY_COLLECT;
        p->req.body_max_bytes = CLIENT_POLL_BODY_MAX_BYTES;
        uv_timer_init(cl->loop, &p->timer);
        p->timer.data = p;
        backoff_init(&p->bo, cl->f->proxy_retry_initial_wait, cl->f->proxy_retry_max_wait);
        backoff_init(&p->expired, POLL_EXPIRED_DELAY_MS, cl->f->proxy_retry_max_wait);
    }
    for (size_t i = 0; i < cl->n_pollers; i++)
        poller_poll(&cl->pollers[i]);
    return 0;
}

void poll_stop(struct client *cl)
{
    for (size_t i = 0; i < cl->n_pollers; i++) {
        struct poller *p = &cl->pollers[i];
        httpc_cancel(&p->req);
        uv_timer_stop(&p->timer);
        p->parked = false;
        p->waiting = false;
    }
}

void poll_close(struct client *cl)
{
    for (size_t i = 0; i < cl->n_pollers; i++) {
        httpc_req_close(&cl->pollers[i].req);
        uv_close((uv_handle_t *)&cl->pollers[i].timer, NULL);
    }
}

void poll_resume(struct client *cl)
{
    for (size_t i = 0; i < cl->n_pollers && !cl->stopping; i++) {
        struct poller *p = &cl->pollers[i];
        if (p->parked && cl->in_flight < (size_t)cl->f->scrape_max_in_flight) {
            p->parked = false;
            poller_poll(p);
        }
    }
}

static void schedule(struct poller *p, uint64_t delay_ms)
{
    p->waiting = true;
    uv_timer_start(&p->timer, on_retry, delay_ms, 0);
}

static void on_retry(uv_timer_t *t)
{
    struct poller *p = t->data;
    p->waiting = false;
    poller_poll(p);
}

static void poll_failed(struct poller *p)
{
    metrics_inc(&p->cl->m.poll_errors);
    uint64_t wait = backoff_next(&p->bo, client_random(p->cl));
    log_debug("poll", "waiting before the next poll", LOG_STR("fqdn", p->fqdn),
              LOG_UINT("wait_ms", wait), LOG_UINT("failures", p->bo.failures));
    schedule(p, wait);
}

static void poller_poll(struct poller *p)
{
    struct client *cl = p->cl;
    if (cl->stopping)
        return;
    if (cl->in_flight >= (size_t)cl->f->scrape_max_in_flight) {
        if (!p->parked)
            log_debug("poll", "scrape slots full; not polling", LOG_STR("fqdn", p->fqdn),
                      LOG_UINT("in_flight", cl->in_flight));
        p->parked = true;
        return;
    }
    httpc_req_reset(&p->req);
    size_t len = strlen(p->fqdn);
    int rc = buf_printf(&p->req.out,
                        "POST %s HTTP/1.1\r\n"
                        "Host: %s\r\n"
                        "User-Agent: pushprox-client/" PUSHPROX_VERSION "\r\n"
                        "Content-Type: text/plain\r\n"
                        "X-PushProx-FQDN: %s\r\n"
                        "Content-Length: %zu\r\n\r\n%s",
                        cl->proxy.poll_path, cl->proxy.host_header, p->fqdn, len, p->fqdn);
    if (rc == 0)
        rc = httpc_start(&p->req);
    if (rc != 0) {
        log_warn("poll", "cannot start a poll", LOG_STR("fqdn", p->fqdn),
                 LOG_STR("err", p->req.err_text[0] ? p->req.err_text : log_strerror(rc)));
        poll_failed(p);
        return;
    }
    p->started_ms = uv_now(cl->loop);
    log_debug("poll", "polling", LOG_STR("fqdn", p->fqdn), LOG_UINT("poller", p->idx));
}

static void on_poll_done(struct httpc_req *req, int err)
{
    struct poller *p = req->data;
    struct client *cl = p->cl;
    if (cl->stopping)
        return;
    if (err != 0) {
        log_warn("poll", "poll failed", LOG_STR("fqdn", p->fqdn),
                 LOG_STR("proxy", cl->proxy.host_header), LOG_STR("err", req->err_text));
        poll_failed(p);
        return;
    }
    int status = req->head.status;
    if (status == 200) {
        const char *why = NULL;
        if (scrape_start(cl, p->fqdn, req->head.body.base, req->head.body.len, &why) != 0) {
            size_t n =
                req->head.body.len < POLL_LOG_BODY_BYTES ? req->head.body.len : POLL_LOG_BODY_BYTES;
            log_warn("poll", "poll answer is not a usable scrape request", LOG_STR("fqdn", p->fqdn),
                     LOG_STR("err", why), LOG_STRN("body", req->head.body.base, n));
            poll_failed(p);
            return;
        }
        backoff_reset(&p->bo);
        backoff_reset(&p->expired);
        poller_poll(p);
        return;
    }
    if (status == 408 || status == 502 || status == 503 || status == 504) {
        /* The proxy (408) or a load balancer in front of it (502-504) ended a poll. After a
         * long hold that is routine (an idle poll cut short): poll again soon. Answers
         * that come at once mean another poll keeps taking ours (408) or the proxy is
         * down behind its load balancer (5xx): then wait longer each time, and count and
         * log the 5xx as the failures they are. */
        bool quick = uv_now(cl->loop) - p->started_ms < POLL_EXPIRED_QUICK_MS;
        if (status != 408 && quick) {
            if (p->bo.failures == 0 || p->bo.failures % 10 == 9)
                log_warn("poll", "proxy answered the poll with an error at once",
                         LOG_STR("fqdn", p->fqdn), LOG_STR("proxy", cl->proxy.host_header),
                         LOG_INT("status", status), LOG_UINT("failures", p->bo.failures + 1));
            poll_failed(p);
            return;
        }
        uint64_t wait;
        if (!quick) {
            backoff_reset(&p->expired);
            backoff_reset(&p->bo);
        }
        wait = status == 408 ? backoff_next(&p->expired, client_random(cl))
                             : backoff_next(&p->bo, client_random(cl));
        log_debug("poll", "poll ended without work; polling again", LOG_STR("fqdn", p->fqdn),
                  LOG_INT("status", status), LOG_UINT("wait_ms", wait));
        schedule(p, wait);
        return;
    }
    size_t n = req->head.body.len < POLL_LOG_BODY_BYTES ? req->head.body.len : POLL_LOG_BODY_BYTES;
    log_warn("poll", "proxy refused the poll", LOG_STR("fqdn", p->fqdn),
             LOG_STR("proxy", cl->proxy.host_header), LOG_INT("status", status),
             LOG_STRN("body", req->head.body.base, n));
    poll_failed(p);
}
