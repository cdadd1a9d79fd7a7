/* scraper.c - one simulated Prometheus connection (see scraper.h).
 * Owner: the loop thread of its env. Life: scraper_init() -> scraper_start() ..
 * scraper_stop() -> (closed) -> scraper_close(). Reconnects are started by the thread's
 * tick once retry_at has passed, never from inside a callback of the old connection. */
#include "scraper.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dial.h"
#include "log.h"

static void on_connect(struct transport *t, int status);
static void on_read(struct transport *t, ssize_t n, const uv_buf_t *buf);
static void on_written(struct transport *t, int status);
static void on_closed(struct transport *t);

static const struct transport_cb scraper_tcb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};
static const struct http_parser_cb scraper_pcb = {0};

static struct scraper *scraper_of(struct transport *t)
{
    return transport_owner(t, struct scraper, tr);
}

/* Room for a response's head and error bodies beyond the bench body itself. */
#define SCRAPER_BODY_SLACK (64 * 1024)
/* Wait before reconnecting a scraper whose connection failed. */
#define SCRAPER_RETRY_MS 100

int scraper_env_init(struct scraper_env *env, uv_loop_t *loop, const struct run *run,
                     struct dial *dial, struct stats *st,
                     void (*on_idle)(struct scraper_env *env, struct scraper *s))
{
    memset(env, 0, sizeof(*env));
    env->run = run;
    env->dial = dial;
    env->st = st;
    env->on_idle = on_idle;
    return transport_env_init(&env->tr_env, loop, &scraper_tcb, SCRAPER_READ_BYTES);
}

void scraper_env_close(struct scraper_env *env)
{
    transport_env_close(&env->tr_env);
}

void scraper_init(struct scraper *s, struct scraper_env *env, unsigned idx)
{
    memset(s, 0, sizeof(*s));
    s->env = env;
    s->idx = idx;
    http_head_init(&s->head, env->run->body_bytes + SCRAPER_BODY_SLACK);
}

void scraper_close(struct scraper *s)
{
    http_head_close(&s->head);
}

void scraper_start(struct scraper *s)
{
    struct scraper_env *env = s->env;
    const struct run *run = env->run;
    if (s->stopping || s->tr.open)
        return;
    int rc =
        dial_connect(&s->tr, &env->tr_env, env->dial, NULL, (const struct sockaddr *)&run->proxy);
    if (rc != 0) {
        env->st->errors[STATS_ERR_CONNECT]++;
        s->retry_at_ns = run_now_ns() + SCRAPER_RETRY_MS * 1000000ull;
        log_debug("scraper", "connect failed", LOG_ERR(rc));
    }
}

void scraper_stop(struct scraper *s)
{
    s->stopping = true;
    transport_close(&s->tr);
}

static void on_connect(struct transport *t, int status)
{
    struct scraper *s = scraper_of(t);
    struct scraper_env *env = s->env;
    if (status == 0)
        status = transport_read_start(t);
    if (status != 0) {
        const char *why = dial_error(t);
        dial_count_failed(t, env->st);
        log_warn("scraper", why ? "TLS handshake with the proxy failed" : "connect failed",
                 LOG_ERR(status), LOG_STR("reason", why ? why : ""));
        transport_close(t);
        return;
    }
    dial_count_up(t, env->st);
    s->connected = true;
    http_parser_init(&s->parser, HTTP_KIND_RESPONSE, &scraper_pcb, s);
    s->parser.body_max_bytes = env->run->body_bytes + SCRAPER_BODY_SLACK;
    http_parser_begin(&s->parser, &s->head);
    env->on_idle(env, s);
}

/* The scrape is over (answered or lost): account for it once. */
static void finish(struct scraper *s)
{
    s->busy = false;
    if (s->env->in_flight > 0)
        s->env->in_flight--;
}

void scraper_send(struct scraper *s, uint64_t target, uint64_t intended_ns)
{
    struct scraper_env *env = s->env;
    const struct run *run = env->run;
    int n;
    if (run->plain_path) {
        /* No proxy: an origin-form GET, as any HTTP client sends to nginx. */
        snprintf(s->fqdn, sizeof(s->fqdn), "%s", run->proxy_hostport);
        n = snprintf(s->req, sizeof(s->req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pushprox-bench\r\n"
                     "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n",
                     run->plain_path, run->proxy_hostport);
    } else {
        run_fqdn(run, target, s->fqdn, sizeof(s->fqdn));
        n = snprintf(s->req, sizeof(s->req),
                     "GET http://%s:%d/metrics HTTP/1.1\r\nHost: %s:%d\r\n"
                     "User-Agent: pushprox-bench\r\n"
                     "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
                     "X-Prometheus-Scrape-Timeout-Seconds: %.3f\r\n\r\n",
                     s->fqdn, run->target_port, s->fqdn, run->target_port,
                     (double)run->scrape_timeout_ms / 1000.0);
    }
    if (n < 0 || (size_t)n >= sizeof(s->req))
        n = 0; /* main bounds the path; an empty request is answered by nothing: lost */
    s->req_len = (size_t)n;
    s->busy = true;
    s->intended_ns = intended_ns;
    s->deadline_ns = run_now_ns() + (run->scrape_timeout_ms + run->grace_ms) * 1000000ull;
    env->in_flight++;
    env->st->scrapes_sent++;
    uv_buf_t b = uv_buf_init(s->req, (unsigned)s->req_len);
    int rc = transport_write(&s->tr, &b, 1);
    if (rc < 0) {
        env->st->errors[STATS_ERR_LOST]++;
        log_warn("scraper", "scrape write failed", LOG_STR("fqdn", s->fqdn), LOG_ERR(rc));
        finish(s);
        transport_close(&s->tr);
    }
}

/* The part of a request the kernel did not take at once is out, or failed. */
static void on_written(struct transport *t, int status)
{
    struct scraper *s = scraper_of(t);
    if (status == 0)
        return;
    if (s->busy) {
        s->env->st->errors[STATS_ERR_LOST]++;
        log_warn("scraper", "scrape write failed", LOG_STR("fqdn", s->fqdn), LOG_ERR(status));
        finish(s);
    }
    transport_close(t);
}

void scraper_check_deadline(struct scraper *s, uint64_t now_ns)
{
    if (!s->busy || now_ns < s->deadline_ns)
        return;
    s->env->st->errors[STATS_ERR_LOST]++;
    log_warn("scraper", "scrape not answered before its deadline", LOG_STR("fqdn", s->fqdn),
             LOG_UINT("timeout_ms", s->env->run->scrape_timeout_ms),
             LOG_UINT("grace_ms", s->env->run->grace_ms));
    finish(s);
    transport_close(&s->tr);
}

static void on_response(struct scraper *s)
{
    struct scraper_env *env = s->env;
    struct stats *st = env->st;
    struct http_head *h = &s->head;
    uint64_t now = run_now_ns(), id_hash = 0;

    if (!s->busy) {
        st->errors[STATS_ERR_STATUS]++;
        log_warn("scraper", "response nobody asked for", LOG_INT("status", h->status));
        transport_close(&s->tr);
        return;
    }
    st->scrapes_answered++;
    enum check_result r;
    if (env->run->plain_path) {
        /* Plain GET: no Id to check, only the status and the body's length. */
        r = h->status != 200                      ? CHECK_STATUS
            : h->body.len != env->run->body_bytes ? CHECK_BODY
                                                  : CHECK_OK;
    } else {
        r = check_response(s->fqdn, h->status, h->body.base ? h->body.base : "", h->body.len,
                           env->run->body_bytes, &id_hash);
    }
    switch (r) {
    case CHECK_OK:
        st->scrapes_ok++;
        st->scrape_body_bytes += h->body.len;
        hist_record(&st->latency_ns, now > s->intended_ns ? now - s->intended_ns : 0);
        if (!env->run->plain_path)
            idvec_push(&st->scraped, id_hash);
        break;
    case CHECK_TIMEOUT: st->errors[STATS_ERR_TIMEOUT]++; break;
    case CHECK_STATUS: st->errors[STATS_ERR_STATUS]++; break;
    case CHECK_MISROUTED: st->errors[STATS_ERR_MISROUTED]++; break;
    case CHECK_BODY: st->errors[STATS_ERR_BODY]++; break;
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
        transport_close(&s->tr);
        return;
    }
    http_parser_begin(&s->parser, &s->head);
    env->on_idle(env, s);
}

static void on_read(struct transport *t, ssize_t n, const uv_buf_t *buf)
{
    struct scraper *s = scraper_of(t);
    const char *data = buf->base;
    if (n < 0) {
        if (s->busy) {
            s->env->st->errors[STATS_ERR_LOST]++;
            log_warn("scraper", "connection lost during a scrape", LOG_STR("fqdn", s->fqdn),
                     LOG_ERR((int)n));
            finish(s);
        }
        transport_close(t);
        return;
    }
    size_t off = 0, len = (size_t)n;
    while (off < len) {
        size_t used = 0;
        enum http_parse_result r = http_parser_execute(&s->parser, data + off, len - off, &used);
        off += used;
        if (r == HTTP_PARSE_ERROR) {
            s->env->st->errors[STATS_ERR_STATUS]++;
            log_warn("scraper", "bad response from the proxy", LOG_STR("fqdn", s->fqdn),
                     LOG_STR("reason", s->parser.error_msg ? s->parser.error_msg : "?"));
            if (s->busy)
                finish(s);
            transport_close(t);
            return;
        }
        if (r == HTTP_PARSE_MORE)
            break;
        on_response(s);
        if (!transport_is_open(t))
            return;
    }
}

static void on_closed(struct transport *t)
{
    struct scraper *s = scraper_of(t);
    if (s->busy) {
        s->env->st->errors[STATS_ERR_LOST]++;
        finish(s);
    }
    s->connected = false;
    if (!s->stopping)
        s->retry_at_ns = run_now_ns() + SCRAPER_RETRY_MS * 1000000ull;
}
