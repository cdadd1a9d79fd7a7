/* scraper.c - one simulated Prometheus connection (see scraper.h).
 * Owner: its worker's loop thread. Life: scraper_init() -> scraper_start() ..
 * scraper_stop() -> (closed) -> scraper_close(). Reconnects are started by the worker's
 * tick once retry_at has passed, never from inside a callback of the old handle. */
#include "scraper.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "log.h"
#include "run.h"
#include "worker.h"

static void on_connect(struct transport_conn *tc, int status);
static void on_read(struct transport_conn *tc, const char *data, ssize_t n);
static void on_close(struct transport_conn *tc);

static const struct transport_cb scraper_tcb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_close = on_close,
};
static const struct http_parser_cb scraper_pcb = {0};

/* Room for a response's head and error bodies beyond the bench body itself. */
#define SCRAPER_BODY_SLACK (64 * 1024)
/* Wait before reconnecting a scraper whose connection failed. */
#define SCRAPER_RETRY_MS 100

void scraper_init(struct scraper *s, struct worker *wk, unsigned idx)
{
    memset(s, 0, sizeof(*s));
    s->wk = wk;
    s->idx = idx;
    http_head_init(&s->head, wk->run->body_bytes + SCRAPER_BODY_SLACK);
}

void scraper_close(struct scraper *s)
{
    http_head_close(&s->head);
}

void scraper_start(struct scraper *s)
{
    struct worker *wk = s->wk;
    if (s->stopping || s->tc.open)
        return;
    int rc = transport_connect(&s->tc, &wk->loop, NULL, &wk->run->proxy, &scraper_tcb, s);
    if (rc != 0) {
        wk->st.errors[STATS_ERR_CONNECT]++;
        s->retry_at_ns = run_now_ns() + SCRAPER_RETRY_MS * 1000000ull;
        log_debug("scraper", "connect failed", LOG_ERR(rc));
    }
}

void scraper_stop(struct scraper *s)
{
    s->stopping = true;
    transport_close(&s->tc);
}

static void on_connect(struct transport_conn *tc, int status)
{
    struct scraper *s = tc->data;
    struct worker *wk = s->wk;
    if (status != 0) {
        wk->st.errors[STATS_ERR_CONNECT]++;
        log_warn("scraper", "connect failed", LOG_ERR(status));
        transport_close(tc);
        return;
    }
    s->connected = true;
    http_parser_init(&s->parser, HTTP_KIND_RESPONSE, &scraper_pcb, s);
    s->parser.body_max_bytes = wk->run->body_bytes + SCRAPER_BODY_SLACK;
    http_parser_begin(&s->parser, &s->head);
    worker_scraper_idle(wk, s);
}

/* The scrape is over (answered or lost): account for it once. */
static void finish(struct scraper *s)
{
    s->busy = false;
    worker_scrape_finished(s->wk, s);
}

void scraper_send(struct scraper *s, uint64_t target, uint64_t intended_ns)
{
    struct worker *wk = s->wk;
    const struct run *run = wk->run;
    run_fqdn(run, target, s->fqdn, sizeof(s->fqdn));
    int n = snprintf(s->req, sizeof(s->req),
                     "GET http://%s:%d/metrics HTTP/1.1\r\nHost: %s:%d\r\n"
                     "User-Agent: pushprox-bench\r\n"
                     "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
                     "X-Prometheus-Scrape-Timeout-Seconds: %.3f\r\n\r\n",
                     s->fqdn, run->target_port, s->fqdn, run->target_port,
                     (double)run->scrape_timeout_ms / 1000.0);
    s->req_len = (size_t)n;
    s->busy = true;
    s->intended_ns = intended_ns;
    s->deadline_ns = run_now_ns() + (run->scrape_timeout_ms + run->grace_ms) * 1000000ull;
    wk->st.scrapes_sent++;
    uv_buf_t b = uv_buf_init(s->req, (unsigned)s->req_len);
    int rc = transport_write(&s->tc, &b, 1);
    if (rc != 0) {
        wk->st.errors[STATS_ERR_LOST]++;
        log_warn("scraper", "scrape write failed", LOG_STR("fqdn", s->fqdn), LOG_ERR(rc));
        finish(s);
        transport_close(&s->tc);
    }
}

void scraper_check_deadline(struct scraper *s, uint64_t now_ns)
{
    if (!s->busy || now_ns < s->deadline_ns)
        return;
    s->wk->st.errors[STATS_ERR_LOST]++;
    log_warn("scraper", "scrape not answered before its deadline", LOG_STR("fqdn", s->fqdn),
             LOG_UINT("timeout_ms", s->wk->run->scrape_timeout_ms),
             LOG_UINT("grace_ms", s->wk->run->grace_ms));
    finish(s);
    transport_close(&s->tc);
}

static void on_response(struct scraper *s)
{
    struct worker *wk = s->wk;
    struct http_head *h = &s->head;
    uint64_t now = run_now_ns(), id_hash = 0;

    if (!s->busy) {
        wk->st.errors[STATS_ERR_STATUS]++;
        log_warn("scraper", "response nobody asked for", LOG_INT("status", h->status));
        transport_close(&s->tc);
        return;
    }
    wk->st.scrapes_answered++;
    enum check_result r = check_response(s->fqdn, h->status, h->body.base ? h->body.base : "",
                                         h->body.len, wk->run->body_bytes, &id_hash);
    switch (r) {
    case CHECK_OK:
        wk->st.scrapes_ok++;
        wk->st.scrape_body_bytes += h->body.len;
        hist_record(&wk->st.latency_ns, now > s->intended_ns ? now - s->intended_ns : 0);
        idvec_push(&wk->st.scraped, id_hash);
        break;
    case CHECK_TIMEOUT: wk->st.errors[STATS_ERR_TIMEOUT]++; break;
    case CHECK_STATUS: wk->st.errors[STATS_ERR_STATUS]++; break;
    case CHECK_MISROUTED: wk->st.errors[STATS_ERR_MISROUTED]++; break;
    case CHECK_BODY: wk->st.errors[STATS_ERR_BODY]++; break;
    }
    if (r != CHECK_OK)
        log_warn("scraper", "bad scrape response", LOG_STR("fqdn", s->fqdn),
                 LOG_STR("kind", check_result_name(r)), LOG_INT("status", h->status),
                 LOG_UINT("body_bytes", h->body.len),
                 LOG_STRN("body", h->body.base ? h->body.base : "",
                          h->body.len < 160 ? h->body.len : 160));
    bool keep = h->keep_alive;
    finish(s);
    if (!keep) {
        transport_close(&s->tc);
        return;
    }
    http_parser_begin(&s->parser, &s->head);
    worker_scraper_idle(wk, s);
}

static void on_read(struct transport_conn *tc, const char *data, ssize_t n)
{
    struct scraper *s = tc->data;
    struct worker *wk = s->wk;
    if (n < 0) {
        if (s->busy) {
            wk->st.errors[STATS_ERR_LOST]++;
            log_warn("scraper", "connection lost during a scrape", LOG_STR("fqdn", s->fqdn),
                     LOG_ERR((int)n));
            finish(s);
        }
        transport_close(tc);
        return;
    }
    size_t off = 0, len = (size_t)n;
    while (off < len) {
        size_t used = 0;
        enum http_parse_result r = http_parser_execute(&s->parser, data + off, len - off, &used);
        off += used;
        if (r == HTTP_PARSE_ERROR) {
            wk->st.errors[STATS_ERR_STATUS]++;
            log_warn("scraper", "bad response from the proxy", LOG_STR("fqdn", s->fqdn),
                     LOG_STR("reason", s->parser.error_msg ? s->parser.error_msg : "?"));
            if (s->busy)
                finish(s);
            transport_close(tc);
            return;
        }
        if (r == HTTP_PARSE_MORE)
            break;
        on_response(s);
        if (!transport_is_open(tc))
            return;
    }
}

static void on_close(struct transport_conn *tc)
{
    struct scraper *s = tc->data;
    if (s->busy) {
        s->wk->st.errors[STATS_ERR_LOST]++;
        finish(s);
    }
    s->connected = false;
    if (!s->stopping)
        s->retry_at_ns = run_now_ns() + SCRAPER_RETRY_MS * 1000000ull;
}
