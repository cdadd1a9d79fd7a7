/* sim_upstream.c - a simulated client that behaves like upstream's Go client on the wire
 * (see sim_upstream.h).
 * Owner: the loop thread of its env. Life: sim_up_init() -> sim_up_start() .. sim_up_stop()
 * -> (every connection closed) -> sim_up_close(). A connection is closed only through
 * transport_close(); what its loss means for the request it carried is decided in
 * on_closed, once. */
#include "sim_upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dial.h"
#include "log.h"

static void on_connect(struct transport *t, int status);
static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *buf);
static void on_written(struct transport *t, int status);
static void on_closed(struct transport *t);

static const struct transport_cb up_tcb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};
static const struct http_parser_cb up_pcb = {0};

static struct sim_up_conn *conn_of(struct transport *t)
{
    return transport_owner(t, struct sim_up_conn, tr);
}

int sim_up_env_init(struct sim_up_env *env, uv_loop_t *loop, const struct run *run,
                    struct dial *dial, struct stats *st)
{
    memset(env, 0, sizeof(*env));
    env->run = run;
    env->dial = dial;
    env->st = st;
    http_head_init(&env->req_head, SIM_UP_ANSWER_MAX_BYTES);
    return transport_env_init(&env->tr_env, loop, &up_tcb, SIM_UP_READ_BYTES);
}

void sim_up_env_close(struct sim_up_env *env)
{
    transport_env_close(&env->tr_env);
    http_head_close(&env->req_head);
}

void sim_up_init(struct sim_up_client *c, struct sim_up_env *env, uint64_t idx)
{
    memset(c, 0, sizeof(*c));
    c->env = env;
    c->idx = idx;
    run_fqdn(env->run, idx, c->fqdn, sizeof(c->fqdn));
    for (int i = 0; i < SIM_UP_CONNS_MAX; i++) {
        c->conns[i].c = c;
        buf_init(&c->conns[i].out, SIM_UP_OUT_MAX_BYTES);
    }
}

void sim_up_close(struct sim_up_client *c)
{
    for (int i = 0; i < SIM_UP_CONNS_MAX; i++) {
        struct sim_up_conn *k = &c->conns[i];
        if (k->head) {
            http_head_close(k->head);
            free(k->head);
            k->head = NULL;
        }
        buf_close(&k->out);
    }
}

static void retry_after(struct sim_up_client *c, uint64_t delay_ms)
{
    struct sim_up_env *env = c->env;
    c->retry_at_ns = run_now_ns() + delay_ms * 1000000ull;
    if (c->in_retry)
        return;
    c->in_retry = true;
    c->retry_next = env->retry_head;
    env->retry_head = c;
}

/* c has pushes waiting (for the exporter's delay or a connection): sim_up_due looks. */
static void want_due(struct sim_up_client *c)
{
    struct sim_up_env *env = c->env;
    if (c->in_due)
        return;
    c->in_due = true;
    c->due_next = env->due_head;
    env->due_head = c;
}

/* The connection for the next request: the most recently idled one, else a slot to dial
 * (*dial set), else NULL (SIM_UP_CONNS_MAX in use). */
static struct sim_up_conn *conn_take(struct sim_up_client *c, bool *dial)
{
    *dial = false;
    while (c->n_idle > 0) {
        struct sim_up_conn *k = &c->conns[c->idle[--c->n_idle]];
        if (k->state == SIM_UP_IDLE && transport_is_open(&k->tr))
            return k;
    }
    for (int i = 0; i < SIM_UP_CONNS_MAX; i++) {
        struct sim_up_conn *k = &c->conns[i];
        if (k->state == SIM_UP_CLOSED && !k->tr.open) {
            *dial = true;
            return k;
        }
    }
    return NULL;
}

static void request_written(struct sim_up_conn *k)
{
    struct sim_up_client *c = k->c;
    struct sim_up_env *env = c->env;
    k->written = true;
    if (k->kind == SIM_UP_POLL && !c->registered) {
        c->registered = true;
        if (env->connecting > 0)
            env->connecting--;
        env->registered++;
    }
}

/* Writes the request built in k->out (and a push's filler). */
static void conn_send(struct sim_up_conn *k)
{
    const struct run *run = k->c->env->run;
    uv_buf_t bufs[2];
    unsigned n = 0;
    bufs[n++] = uv_buf_init(k->out.base, (unsigned)k->out.len);
    if (k->filler_len)
        bufs[n++] =
            uv_buf_init(run->filler + run->filler_len - k->filler_len, (unsigned)k->filler_len);
    int rc = transport_write(&k->tr, bufs, n);
    if (rc < 0) {
        log_debug("client", "write failed", LOG_STR("fqdn", k->c->fqdn), LOG_ERR(rc));
        transport_close(&k->tr); /* on_closed counts the request as failed */
    } else if (rc == 1) {
        request_written(k);
    }
}

static int build_poll(struct sim_up_client *c, struct sim_up_conn *k)
{
    const struct run *run = c->env->run;
    buf_reset(&k->out);
    k->filler_len = 0;
    return buf_printf(&k->out,
                      "POST /poll HTTP/1.1\r\nHost: %s\r\nUser-Agent: pushprox-bench\r\n"
                      "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                      run->proxy_hostport, strlen(c->fqdn), c->fqdn);
}

static int build_push(struct sim_up_client *c, struct sim_up_conn *k,
                      const struct sim_up_pending *p)
{
    const struct run *run = c->env->run;
    char line[CHECK_LINE_MAX], inner[CHECK_LINE_MAX + 256];
    uint64_t total = 0;
    int line_len =
        check_write_line(line, sizeof(line), c->fqdn, p->id, p->id_len, run->body_bytes, &total);
    if (line_len < 0)
        return -1;
    int inner_len = snprintf(inner, sizeof(inner),
                             "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                             "Content-Length: %llu\r\nId: %.*s\r\n\r\n",
                             (unsigned long long)total, (int)p->id_len, p->id);
    if (inner_len < 0 || (size_t)inner_len >= sizeof(inner))
        return -1;
    buf_reset(&k->out);
    int rc = buf_printf(&k->out,
                        "POST /push HTTP/1.1\r\nHost: %s\r\nUser-Agent: pushprox-bench\r\n"
                        "Content-Type: text/plain\r\nContent-Length: %llu\r\n\r\n",
                        run->proxy_hostport, (unsigned long long)((uint64_t)inner_len + total));
    if (rc == 0)
        rc = buf_append(&k->out, inner, (size_t)inner_len);
    if (rc == 0)
        rc = buf_append(&k->out, line, (size_t)line_len);
    k->filler_len = (size_t)(total - (uint64_t)line_len);
    return rc;
}

/* Starts a request of kind (p: the push's scrape) on an idle or new connection. Returns
 * false when every connection slot is in use (the caller keeps it waiting). */
static bool send_request(struct sim_up_client *c, enum sim_up_kind kind,
                         const struct sim_up_pending *p)
{
    struct sim_up_env *env = c->env;
    const struct run *run = env->run;
    bool dial;
    if (c->stopping)
        return true;
    struct sim_up_conn *k = conn_take(c, &dial);
    if (!k)
        return false;
    int rc = kind == SIM_UP_POLL ? build_poll(c, k) : build_push(c, k, p);
    if (rc != 0) {
        env->st->errors[kind == SIM_UP_POLL ? STATS_ERR_POLL : STATS_ERR_PUSH]++;
        log_warn("client", "request too large to build", LOG_STR("fqdn", c->fqdn));
        if (!dial) {
            k->state = SIM_UP_BUSY;
            k->kind = 0;
            transport_close(&k->tr);
        }
        return true;
    }
    k->kind = (uint8_t)kind;
    k->written = false;
    if (kind == SIM_UP_POLL)
        env->st->polls_sent++;
    else
        env->st->pushes_sent++;
    if (!dial) {
        k->state = SIM_UP_BUSY;
        conn_send(k);
        return true;
    }
    /* No idle connection: dial one; the request goes out once it is up. */
    struct sockaddr_in src, *srcp = NULL;
    if (run->source_addrs > 0) {
        uint32_t host = 0x7f000002u + (uint32_t)(c->idx % run->source_addrs);
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(host);
        srcp = &src;
    }
    k->state = SIM_UP_CONNECTING;
    if (env->scraping)
        env->st->conns_opened_scrape++;
    rc = dial_connect(&k->tr, &env->tr_env, env->dial, (const struct sockaddr *)srcp,
                      (const struct sockaddr *)&run->proxy);
    if (rc != 0) {
        env->st->errors[STATS_ERR_CONNECT]++;
        log_debug("client", "connect failed", LOG_STR("fqdn", c->fqdn), LOG_ERR(rc));
        if (!k->tr.open) {
            /* No on_closed follows: fail the request here. */
            k->state = SIM_UP_CLOSED;
            if (kind == SIM_UP_POLL)
                retry_after(c, SIM_UP_RETRY_MS);
            else
                env->pushes_answered++;
        }
    }
    return true;
}

/* Pushes every scrape whose exporter delay is over, while connections can be had. */
static void flush_pending(struct sim_up_client *c, uint64_t now)
{
    while (c->n_pending > 0 && c->pending[0].due_ns <= now && !c->stopping) {
        if (!send_request(c, SIM_UP_PUSH, &c->pending[0]))
            break;
        memmove(c->pending, c->pending + 1, --c->n_pending * sizeof(c->pending[0]));
    }
    if (c->n_pending > 0)
        want_due(c);
}

/* A connection slot or an idle connection came free: requests that waited go first. */
static void serve_waiting(struct sim_up_client *c)
{
    if (c->stopping)
        return;
    if (c->want_poll && send_request(c, SIM_UP_POLL, NULL))
        c->want_poll = false;
    if (c->n_pending > 0)
        flush_pending(c, run_now_ns());
}

static void poll_now(struct sim_up_client *c)
{
    if (!send_request(c, SIM_UP_POLL, NULL))
        c->want_poll = true;
}

/* k's answer is read: back to the idle pool, or closed when the pool is full. */
static void conn_release(struct sim_up_conn *k, bool keep_alive)
{
    struct sim_up_client *c = k->c;
    k->kind = 0;
    if (!keep_alive || c->stopping) {
        transport_close(&k->tr);
        return;
    }
    if (c->n_idle >= SIM_UP_IDLE_MAX) {
        c->env->st->conns_closed_extra++;
        transport_close(&k->tr);
        return;
    }
    k->state = SIM_UP_IDLE;
    c->idle[c->n_idle++] = (uint8_t)(k - c->conns);
}

void sim_up_start(struct sim_up_client *c)
{
    c->env->connecting++;
    c->started = true;
    poll_now(c);
}

void sim_up_stop(struct sim_up_client *c)
{
    c->stopping = true;
    c->n_pending = 0;
    c->want_poll = false;
    for (int i = 0; i < SIM_UP_CONNS_MAX; i++)
        transport_close(&c->conns[i].tr);
}

void sim_up_due(struct sim_up_env *env, uint64_t now_ns)
{
    struct sim_up_client **pp = &env->retry_head;
    while (*pp) {
        struct sim_up_client *c = *pp;
        if (c->retry_at_ns <= now_ns) {
            *pp = c->retry_next;
            c->in_retry = false;
            if (!c->stopping)
                poll_now(c);
        } else {
            pp = &c->retry_next;
        }
    }
    /* Detach the due list first: flush_pending may put a client back on it. */
    struct sim_up_client *c = env->due_head;
    env->due_head = NULL;
    while (c) {
        struct sim_up_client *next = c->due_next;
        c->in_due = false;
        flush_pending(c, now_ns);
        c = next;
    }
}

static void on_connect(struct transport *t, int status)
{
    struct sim_up_conn *k = conn_of(t);
    struct sim_up_client *c = k->c;
    struct sim_up_env *env = c->env;
    if (status == 0)
        status = transport_read_start(t);
    if (status != 0) {
        const char *why = dial_error(t);
        dial_count_failed(t, env->st);
        if (why)
            log_warn("client", "TLS handshake with the proxy failed", LOG_STR("fqdn", c->fqdn),
                     LOG_STR("reason", why));
        else
            log_debug("client", "connect failed", LOG_STR("fqdn", c->fqdn), LOG_ERR(status));
        transport_close(t);
        return;
    }
    dial_count_up(t, env->st);
    if (!k->head) {
        k->head = malloc(sizeof(*k->head));
        if (!k->head) {
            transport_close(t);
            return;
        }
        http_head_init(k->head, SIM_UP_ANSWER_MAX_BYTES);
    }
    k->up = true;
    env->connected++;
    env->st->connects_ok++;
    http_parser_init(&k->parser, HTTP_KIND_RESPONSE, &up_pcb, k);
    k->parser.body_max_bytes = SIM_UP_ANSWER_MAX_BYTES;
    http_parser_begin(&k->parser, k->head);
    k->state = SIM_UP_BUSY;
    conn_send(k);
}

static void on_written(struct transport *t, int status)
{
    struct sim_up_conn *k = conn_of(t);
    if (status != 0) {
        log_debug("client", "write failed", LOG_STR("fqdn", k->c->fqdn), LOG_ERR(status));
        transport_close(t);
        return;
    }
    request_written(k);
}

/* Host of an absolute-form target "http://host[:port]/path". */
static bool url_host(const char *url, size_t len, const char **host, size_t *host_len)
{
    const char *p = memchr(url, ':', len);
    if (!p || (size_t)(url + len - p) < 3 || p[1] != '/' || p[2] != '/')
        return false;
    p += 3;
    const char *end = url + len, *q = p;
    while (q < end && *q != ':' && *q != '/' && *q != '?')
        q++;
    *host = p;
    *host_len = (size_t)(q - p);
    return q > p;
}

/* A poll brought a scrape: its Id goes on the pending list (the exporter "answers" after
 * the delay); false if it is not a scrape request with an Id. */
static bool take_work(struct sim_up_client *c, const struct http_head *h)
{
    struct sim_up_env *env = c->env;
    struct stats *st = env->st;
    struct http_head *rh = &env->req_head;
    size_t used = 0;

    st->polls_work++;
    http_parser_init(&env->req_parser, HTTP_KIND_REQUEST, NULL, NULL);
    env->req_parser.body_max_bytes = SIM_UP_ANSWER_MAX_BYTES;
    http_parser_begin(&env->req_parser, rh);
    enum http_parse_result r =
        http_parser_execute(&env->req_parser, h->body.base, h->body.len, &used);
    size_t id_len = 0;
    const char *id = r == HTTP_PARSE_COMPLETE ? http_head_get(rh, "Id", &id_len) : NULL;
    if (!id || id_len == 0 || id_len > SIM_UP_ID_MAX) {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "poll answer is not a scrape request with a usable Id",
                 LOG_STR("fqdn", c->fqdn));
        return false;
    }
    const char *host;
    size_t host_len;
    if (!url_host(http_head_str(rh, rh->url_off), rh->url_len, &host, &host_len) ||
        host_len != strlen(c->fqdn) || memcmp(host, c->fqdn, host_len) != 0) {
        st->polls_wrong_host++; /* the scraper counts it misrouted, from the body */
        log_warn("client", "scrape delivered to the wrong client", LOG_STR("fqdn", c->fqdn));
    }
    idvec_push(&st->pushed, check_id_hash(id, id_len));
    if (c->n_pending >= SIM_UP_PENDING_MAX) {
        st->errors[STATS_ERR_PUSH]++;
        log_warn("client", "too many scrapes waiting for their push", LOG_STR("fqdn", c->fqdn));
        return true;
    }
    struct sim_up_pending *p = &c->pending[c->n_pending++];
    p->due_ns = run_now_ns() + env->run->scrape_delay_ms * 1000000ull;
    p->id_len = (uint8_t)id_len;
    memcpy(p->id, id, id_len);
    return true;
}

/* One whole answer arrived on k. */
static void handle_answer(struct sim_up_conn *k)
{
    struct sim_up_client *c = k->c;
    struct sim_up_env *env = c->env;
    struct stats *st = env->st;
    const struct http_head *h = k->head;
    int status = h->status;
    bool keep = h->keep_alive;

    if (k->state != SIM_UP_BUSY || k->kind == 0) {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "response nobody asked for", LOG_STR("fqdn", c->fqdn),
                 LOG_INT("status", status));
        transport_close(&k->tr);
        return;
    }
    if (k->kind == SIM_UP_PUSH) {
        env->pushes_answered++;
        if (status == 200) {
            st->pushes_ok++;
        } else {
            st->errors[STATS_ERR_PUSH]++;
            log_debug("client", "push refused", LOG_STR("fqdn", c->fqdn),
                      LOG_INT("status", status));
        }
        conn_release(k, keep);
        serve_waiting(c);
        return;
    }
    /* A poll's answer: as upstream's loop, the next poll goes out before the push. */
    if (status == 200) {
        take_work(c, h);
        conn_release(k, keep);
        poll_now(c);
        flush_pending(c, run_now_ns());
    } else if (status == 408) {
        st->polls_expired++;
        conn_release(k, keep);
        poll_now(c);
    } else {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "poll failed", LOG_STR("fqdn", c->fqdn), LOG_INT("status", status));
        conn_release(k, keep);
        retry_after(c, SIM_UP_RETRY_MS);
    }
}

static void on_read(struct transport *t, ssize_t n, const uv_buf_t *buf)
{
    struct sim_up_conn *k = conn_of(t);
    struct sim_up_client *c = k->c;
    if (n < 0) {
        /* An idle connection the proxy closed is no error; on_closed judges a busy one. */
        transport_close(t);
        return;
    }
    size_t off = 0, len = (size_t)n;
    while (off < len) {
        size_t used = 0;
        enum http_parse_result r =
            http_parser_execute(&k->parser, buf->base + off, len - off, &used);
        off += used;
        if (r == HTTP_PARSE_ERROR) {
            c->env->st->errors[STATS_ERR_POLL]++;
            log_warn("client", "bad response from the proxy", LOG_STR("fqdn", c->fqdn),
                     LOG_STR("reason", k->parser.error_msg ? k->parser.error_msg : "?"));
            transport_close(t);
            return;
        }
        if (r == HTTP_PARSE_MORE)
            break;
        handle_answer(k);
        if (!transport_is_open(t))
            return;
        http_parser_begin(&k->parser, k->head);
    }
}

static void on_closed(struct transport *t)
{
    struct sim_up_conn *k = conn_of(t);
    struct sim_up_client *c = k->c;
    struct sim_up_env *env = c->env;
    bool was_up = k->up;
    uint8_t kind = k->kind;

    if (was_up) {
        k->up = false;
        env->connected--;
    }
    k->state = SIM_UP_CLOSED;
    k->kind = 0;
    for (uint8_t i = 0; i < c->n_idle; i++) {
        if (&c->conns[c->idle[i]] == k) {
            memmove(c->idle + i, c->idle + i + 1, (size_t)(c->n_idle - i - 1));
            c->n_idle--;
            break;
        }
    }
    if (kind == SIM_UP_PUSH)
        env->pushes_answered++; /* no verdict will come: the worker must not wait for it */
    if (c->stopping || env->stopping)
        return;
    /* A connection that never came up was counted as a connect error already. */
    if (kind == SIM_UP_POLL) {
        if (was_up) {
            env->st->errors[STATS_ERR_POLL]++;
            log_warn("client", "poll connection lost", LOG_STR("fqdn", c->fqdn));
        }
        retry_after(c, SIM_UP_RETRY_MS);
    } else if (kind == SIM_UP_PUSH && was_up) {
        env->st->errors[STATS_ERR_PUSH]++;
        log_warn("client", "push connection lost", LOG_STR("fqdn", c->fqdn));
    }
    serve_waiting(c);
}
