/* sim_client.c - a simulated PushProx client (see sim_client.h).
 * Owner: the loop thread of its env. Life: sim_client_init() -> sim_client_start() ..
 * sim_client_stop() -> (closed) -> sim_client_close(). The connection is closed only
 * through transport_close(); a retry is scheduled from on_closed, never while it is open. */
#include "sim_client.h"

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

static const struct transport_cb client_tcb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};
static const struct http_parser_cb client_pcb = {0};

static struct sim_client *client_of(struct transport *t)
{
    return transport_owner(t, struct sim_client, tr);
}

/* A push head, outer and inner, is far below this; the limit only guards the buffers. */
#define SIM_OUT_MAX_BYTES (256 * 1024)

int sim_client_env_init(struct sim_client_env *env, uv_loop_t *loop, const struct run *run,
                        struct dial *dial, struct stats *st)
{
    memset(env, 0, sizeof(*env));
    env->run = run;
    env->dial = dial;
    env->st = st;
    http_head_init(&env->req_head, SIM_CLIENT_POLL_MAX_BYTES);
    return transport_env_init(&env->tr_env, loop, &client_tcb, SIM_CLIENT_READ_BYTES);
}

void sim_client_env_close(struct sim_client_env *env)
{
    transport_env_close(&env->tr_env);
    http_head_close(&env->req_head);
}

void sim_client_init(struct sim_client *c, struct sim_client_env *env, uint64_t idx)
{
    memset(c, 0, sizeof(*c));
    c->env = env;
    c->idx = idx;
    run_fqdn(env->run, idx, c->fqdn, sizeof(c->fqdn));
    buf_init(&c->out[0].b, SIM_OUT_MAX_BYTES);
    buf_init(&c->out[1].b, SIM_OUT_MAX_BYTES);
}

void sim_client_close(struct sim_client *c)
{
    if (c->head) {
        http_head_close(c->head);
        free(c->head);
        c->head = NULL;
    }
    buf_close(&c->out[0].b);
    buf_close(&c->out[1].b);
}

/* Queues c for a retry after delay_ms (once: a queued client only moves its time). */
static void retry_after(struct sim_client *c, uint64_t delay_ms)
{
    struct sim_client_env *env = c->env;

    c->retry_at_ns = run_now_ns() + delay_ms * 1000000ull;
    if (c->in_retry)
        return;
    c->in_retry = true;
    c->retry_next = env->retry_head;
    env->retry_head = c;
}

static void connect_client(struct sim_client *c)
{
    struct sim_client_env *env = c->env;
    const struct run *run = env->run;
    struct sockaddr_in src, *srcp = NULL;

    if (c->stopping)
        return;
    if (run->source_addrs > 0) {
        /* 127.0.0.2 ... 127.0.0.(1 + source_addrs): all of 127/8 is local on Linux. */
        uint32_t host = 0x7f000002u + (uint32_t)(c->idx % run->source_addrs);
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(host);
        srcp = &src;
    }
    c->n_expect = 0;
    c->queued = false;
    c->writing = false;
    if (env->scraping)
        env->st->conns_opened_scrape++;
    int rc = dial_connect(&c->tr, &env->tr_env, env->dial, (const struct sockaddr *)srcp,
                          (const struct sockaddr *)&run->proxy);
    if (rc != 0) {
        env->st->errors[STATS_ERR_CONNECT]++;
        log_debug("client", "connect failed", LOG_STR("fqdn", c->fqdn), LOG_ERR(rc));
        if (!c->tr.open)
            retry_after(c, SIM_CLIENT_RETRY_MS);
    }
}

void sim_client_start(struct sim_client *c)
{
    c->env->connecting++;
    connect_client(c);
}

void sim_client_stop(struct sim_client *c)
{
    c->stopping = true;
    transport_close(&c->tr);
}

/* The buffer the next message goes into: the current one if nothing is being written,
 * else the queued one (at most one group of messages waits behind a write). */
static struct sim_out *out_begin(struct sim_client *c)
{
    struct sim_out *o;
    if (!c->writing) {
        o = &c->out[c->cur];
    } else {
        o = &c->out[!c->cur];
        if (c->queued)
            return o;
    }
    buf_reset(&o->b);
    o->split = 0;
    o->filler_len = 0;
    return o;
}

static void written(struct sim_client *c);

/* Writes out[cur], or leaves it queued behind the write in progress. */
static void out_flush(struct sim_client *c)
{
    struct sim_client_env *env = c->env;
    if (c->writing) {
        c->queued = true;
        return;
    }
    struct sim_out *o = &c->out[c->cur];
    uv_buf_t bufs[3];
    unsigned n = 0;
    size_t split = o->filler_len ? o->split : o->b.len;
    bufs[n++] = uv_buf_init(o->b.base, (unsigned)split);
    if (o->filler_len) {
        const struct run *run = env->run;
        bufs[n++] =
            uv_buf_init(run->filler + run->filler_len - o->filler_len, (unsigned)o->filler_len);
        if (o->b.len > split)
            bufs[n++] = uv_buf_init(o->b.base + split, (unsigned)(o->b.len - split));
    }
    int rc = transport_write(&c->tr, bufs, n);
    if (rc < 0) {
        env->st->errors[STATS_ERR_POLL]++;
        log_debug("client", "write failed", LOG_STR("fqdn", c->fqdn), LOG_ERR(rc));
        transport_close(&c->tr);
    } else if (rc == 0) {
        c->writing = true; /* the buffers stay as they are until on_written */
    } else {
        written(c);
    }
}

/* out[cur] went out: the first one registers the client; a queued group goes next. */
static void written(struct sim_client *c)
{
    struct sim_client_env *env = c->env;

    if (!c->registered) {
        c->registered = true;
        if (env->connecting > 0)
            env->connecting--;
        env->registered++;
    }
    if (c->queued) {
        c->cur = !c->cur;
        c->queued = false;
        out_flush(c);
    }
}

static void expect(struct sim_client *c, enum sim_expect e)
{
    if (c->n_expect < sizeof(c->expect))
        c->expect[c->n_expect++] = (uint8_t)e;
}

static int append_poll(struct sim_client *c, struct sim_out *o)
{
    const struct run *run = c->env->run;
    int rc = buf_printf(&o->b,
                        "POST /poll HTTP/1.1\r\nHost: %s\r\nUser-Agent: pushprox-bench\r\n"
                        "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                        run->proxy_hostport, strlen(c->fqdn), c->fqdn);
    if (rc == 0) {
        expect(c, SIM_EXPECT_POLL);
        c->env->st->polls_sent++;
    }
    return rc;
}

static void send_poll(struct sim_client *c)
{
    if (!transport_is_open(&c->tr))
        return;
    struct sim_out *o = out_begin(c);
    if (append_poll(c, o) != 0) {
        transport_close(&c->tr);
        return;
    }
    out_flush(c);
}

/* The retry is due: re-poll if connected, else reconnect. */
static void retry(struct sim_client *c)
{
    if (c->stopping)
        return;
    if (c->connected && transport_is_open(&c->tr))
        send_poll(c);
    else if (!c->tr.open)
        connect_client(c);
}

void sim_client_retry_due(struct sim_client_env *env, uint64_t now_ns)
{
    struct sim_client **pp = &env->retry_head;
    while (*pp) {
        struct sim_client *c = *pp;
        if (c->retry_at_ns <= now_ns) {
            *pp = c->retry_next;
            c->in_retry = false;
            retry(c);
        } else {
            pp = &c->retry_next;
        }
    }
}

static void on_connect(struct transport *t, int status)
{
    struct sim_client *c = client_of(t);
    struct sim_client_env *env = c->env;
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
    if (!c->head) {
        c->head = malloc(sizeof(*c->head));
        if (!c->head) {
            transport_close(t);
            return;
        }
        http_head_init(c->head, SIM_CLIENT_POLL_MAX_BYTES);
    }
    c->connected = true;
    env->connected++;
    env->st->connects_ok++;
    http_parser_init(&c->parser, HTTP_KIND_RESPONSE, &client_pcb, c);
    c->parser.body_max_bytes = SIM_CLIENT_POLL_MAX_BYTES;
    http_parser_begin(&c->parser, c->head);
    send_poll(c);
}

static void on_written(struct transport *t, int status)
{
    struct sim_client *c = client_of(t);
    c->writing = false;
    if (status != 0) {
        c->env->st->errors[STATS_ERR_POLL]++;
        log_debug("client", "write failed", LOG_STR("fqdn", c->fqdn), LOG_ERR(status));
        transport_close(t);
        return;
    }
    written(c);
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

/* A poll brought a scrape: check it is ours, record its Id, push the answer, poll again. */
static void handle_work(struct sim_client *c)
{
    struct sim_client_env *env = c->env;
    const struct run *run = env->run;
    struct stats *st = env->st;
    struct http_head *rh = &env->req_head;
    size_t used = 0;

    st->polls_work++;
    http_parser_init(&env->req_parser, HTTP_KIND_REQUEST, NULL, NULL);
    env->req_parser.body_max_bytes = SIM_CLIENT_POLL_MAX_BYTES;
    http_parser_begin(&env->req_parser, rh);
    enum http_parse_result r =
        http_parser_execute(&env->req_parser, c->head->body.base, c->head->body.len, &used);
    size_t id_len = 0;
    const char *id = r == HTTP_PARSE_COMPLETE ? http_head_get(rh, "Id", &id_len) : NULL;
    if (!id || id_len == 0) {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "poll answer is not a scrape request with an Id",
                 LOG_STR("fqdn", c->fqdn),
                 LOG_STRN("body", c->head->body.base,
                          c->head->body.len < 200 ? c->head->body.len : 200));
        send_poll(c);
        return;
    }
    const char *host;
    size_t host_len;
    if (!url_host(http_head_str(rh, rh->url_off), rh->url_len, &host, &host_len) ||
        host_len != strlen(c->fqdn) || memcmp(host, c->fqdn, host_len) != 0) {
        /* Not counted as an error here: the body we push names our fqdn, so the scraper
         * counts the same scrape as misrouted, once. */
        st->polls_wrong_host++;
        log_warn("client", "scrape delivered to the wrong client", LOG_STR("fqdn", c->fqdn),
                 LOG_STRN("url", http_head_str(rh, rh->url_off), rh->url_len));
    }
    idvec_push(&st->pushed, check_id_hash(id, id_len));

    char line[CHECK_LINE_MAX], inner[CHECK_LINE_MAX + 256];
    uint64_t total = 0;
    int line_len =
        check_write_line(line, sizeof(line), c->fqdn, id, id_len, run->body_bytes, &total);
    int inner_len = line_len < 0
                        ? -1
                        : snprintf(inner, sizeof(inner),
                                   "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                                   "Content-Length: %llu\r\nId: %.*s\r\n\r\n",
                                   (unsigned long long)total, (int)id_len, id);
    if (line_len < 0 || inner_len < 0 || (size_t)inner_len >= sizeof(inner)) {
        st->errors[STATS_ERR_PUSH]++;
        log_warn("client", "Id too long to push", LOG_STR("fqdn", c->fqdn));
        send_poll(c);
        return;
    }
    struct sim_out *o = out_begin(c);
    int rc = buf_printf(&o->b,
                        "POST /push HTTP/1.1\r\nHost: %s\r\nUser-Agent: pushprox-bench\r\n"
                        "Content-Type: text/plain\r\nContent-Length: %llu\r\n\r\n",
                        run->proxy_hostport, (unsigned long long)((uint64_t)inner_len + total));
    if (rc == 0)
        rc = buf_append(&o->b, inner, (size_t)inner_len);
    if (rc == 0)
        rc = buf_append(&o->b, line, (size_t)line_len);
    o->split = o->b.len;
    o->filler_len = (size_t)(total - (uint64_t)line_len);
    if (rc == 0) {
        expect(c, SIM_EXPECT_PUSH);
        st->pushes_sent++;
        if (run->pipeline)
            rc = append_poll(c, o);
    }
    if (rc != 0) {
        transport_close(&c->tr);
        return;
    }
    out_flush(c);
}

static void handle_response(struct sim_client *c)
{
    struct sim_client_env *env = c->env;
    struct stats *st = env->st;
    int status = c->head->status;
    if (c->n_expect == 0) {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "response nobody asked for", LOG_STR("fqdn", c->fqdn),
                 LOG_INT("status", status));
        transport_close(&c->tr);
        return;
    }
    uint8_t kind = c->expect[0];
    memmove(c->expect, c->expect + 1, --c->n_expect);
    if (kind == SIM_EXPECT_PUSH) {
        env->pushes_answered++;
        if (status == 200) {
            st->pushes_ok++;
        } else {
            st->errors[STATS_ERR_PUSH]++;
            log_debug("client", "push refused", LOG_STR("fqdn", c->fqdn), LOG_INT("status", status),
                      LOG_STRN("body", c->head->body.base,
                               c->head->body.len < 200 ? c->head->body.len : 200));
        }
        if (!env->run->pipeline)
            send_poll(c);
        return;
    }
    if (status == 200) {
        handle_work(c);
    } else if (status == 408) {
        st->polls_expired++;
        send_poll(c);
    } else {
        st->errors[STATS_ERR_POLL]++;
        log_warn("client", "poll failed", LOG_STR("fqdn", c->fqdn), LOG_INT("status", status),
                 LOG_STRN("body", c->head->body.base,
                          c->head->body.len < 200 ? c->head->body.len : 200));
        retry_after(c, SIM_CLIENT_RETRY_MS);
    }
}

static void on_read(struct transport *t, ssize_t n, const uv_buf_t *buf)
{
    struct sim_client *c = client_of(t);
    struct sim_client_env *env = c->env;
    const char *data = buf->base;
    if (n < 0) {
        if (!c->stopping && !env->stopping) {
            env->st->errors[STATS_ERR_POLL]++;
            log_warn("client", "connection to the proxy lost", LOG_STR("fqdn", c->fqdn),
                     LOG_ERR((int)n));
        }
        transport_close(t);
        return;
    }
    size_t off = 0, len = (size_t)n;
    while (off < len) {
        size_t used = 0;
        enum http_parse_result r = http_parser_execute(&c->parser, data + off, len - off, &used);
        off += used;
        if (r == HTTP_PARSE_ERROR) {
            env->st->errors[STATS_ERR_POLL]++;
            log_warn("client", "bad response from the proxy", LOG_STR("fqdn", c->fqdn),
                     LOG_STR("reason", c->parser.error_msg ? c->parser.error_msg : "?"));
            transport_close(t);
            return;
        }
        if (r == HTTP_PARSE_MORE)
            break;
        handle_response(c);
        if (!transport_is_open(t))
            return;
        http_parser_begin(&c->parser, c->head);
    }
}

static void on_closed(struct transport *t)
{
    struct sim_client *c = client_of(t);
    struct sim_client_env *env = c->env;
    if (c->connected) {
        c->connected = false;
        env->connected--;
    }
    c->n_expect = 0;
    c->queued = false;
    c->writing = false; /* a queued write is cancelled with the connection */
    if (!c->stopping && !env->stopping)
        retry_after(c, SIM_CLIENT_RETRY_MS);
}
