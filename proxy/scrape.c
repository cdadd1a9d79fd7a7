/* scrape.c - one scrape's life on the worker holding Prometheus's connection (S).
 *
 * Owner: each worker's scrape_table and every struct scrape in it belong to that worker's
 * loop. Other workers name a slot by the Id, {worker, slot, gen} plus a random token.
 *
 * The path: scrape_start() checks the target, takes a slot, writes the request in proxy
 * form with our Id and sends it to the FQDN's owner (registry.c), which hands it to a
 * poll. Exactly one of three things then answers Prometheus, and frees the slot:
 *   - scrape_on_push(): the client's push arrived (via whichever worker got it), and is
 *     relayed as it came, head rewritten, body untouched;
 *   - on_timeout(): the scrape's timeout passed: 500 "Error scraping ...";
 *   - scrape_on_fail(): the owner could not queue it: 503.
 * Freeing a slot bumps its generation, so whatever arrives for it later is stale. */
#include "scrape.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "poll.h"
#include "registry.h"
#include "worker.h"

static void on_timeout(uv_timer_t *timer);

int scrape_table_init(struct scrape_table *t, uint32_t cap)
{
    memset(t, 0, sizeof(*t));
    t->slots = calloc(cap, sizeof(*t->slots));
    t->free_slot = malloc(cap * sizeof(*t->free_slot));
    if (!t->slots || !t->free_slot)
        return UV_ENOMEM;
    t->cap = cap;
    return 0;
}

void scrape_table_close_handles(struct scrape_table *t)
{
    for (uint32_t i = 0; i < t->n_made; i++)
        uv_close((uv_handle_t *)&t->slots[i]->timer, NULL);
}

void scrape_table_free(struct scrape_table *t)
{
    for (uint32_t i = 0; i < t->n_made; i++)
        free(t->slots[i]);
    free(t->slots);
    free(t->free_slot);
    memset(t, 0, sizeof(*t));
}

/* The random part of the next Id. */
static uint64_t next_token(struct scrape_table *t)
{
    if (t->n_tokens == 0) {
        arc4random_buf(t->tokens, sizeof(t->tokens));
        t->n_tokens = SCRAPE_TOKEN_BATCH;
    }
    return t->tokens[--t->n_tokens];
}

/* A free slot, made on first use; NULL when --scrape.max-in-flight are busy. Slots are
 * never freed before the worker stops: their timers are libuv handles, and their
 * generations must outlive them. */
static struct scrape *slot_take(struct worker *wk)
{
    struct scrape_table *t = &wk->scrapes;
    struct scrape *s;

    if (t->n_free) {
        s = t->slots[t->free_slot[--t->n_free]];
    } else if (t->n_made < t->cap) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        s->wk = wk;
        s->slot = t->n_made;
        uv_timer_init(&wk->loop, &s->timer);
        s->timer.data = s;
        t->slots[t->n_made++] = s;
    } else {
        return NULL;
    }
    s->gen++; /* odd: in use */
    s->token = next_token(t);
    t->n_busy++;
    return s;
}

static void slot_release(struct scrape *s)
{
    struct scrape_table *t = &s->wk->scrapes;

    uv_timer_stop(&s->timer);
    s->gen++; /* even: free; every Id naming the old generation is now stale */
    s->c = NULL;
    t->free_slot[t->n_free++] = s->slot;
    t->n_busy--;
}

/* The slot named by ref, if that scrape still waits. */
static struct scrape *slot_lookup(struct worker *wk, struct ref ref)
{
    struct scrape *s;

    if (ref.wk != wk->id || ref.idx >= wk->scrapes.n_made)
        return NULL;
    s = wk->scrapes.slots[ref.idx];
    if (s->gen != ref.gen || !(s->gen & 1) || !s->c)
        return NULL;
    return s;
}

/* Counts and times a scrape's answer. */
static void scrape_done(struct scrape *s, int status)
{
    struct stats *st = &s->wk->stats;

    metrics_inc(&st->proxied[stats_code(status)]);
    metrics_hist_observe(&st->scrape_duration, (double)(uv_hrtime() - s->start_ns) / 1e9);
}

/* --- Ids --- */

int scrape_id_format(char *out, size_t cap, uint16_t wk, uint32_t slot, uint32_t gen,
                     uint64_t token)
{
    int n = snprintf(out, cap, "%x.%" PRIx32 ".%" PRIx32 ".%016" PRIx64, (unsigned)wk, slot, gen,
                     token);
    return n < 0 || (size_t)n >= cap ? -EINVAL : n;
}

/* Reads up to max_digits lowercase/uppercase hex digits ending at a '.' or the end. */
static const char *hex_field(const char *p, const char *end, unsigned max_digits, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;

    for (; p < end && *p != '.'; p++, n++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return NULL;
        if (n == max_digits)
            return NULL;
        v = v << 4 | (uint64_t)d;
    }
    if (n == 0)
        return NULL;
    *out = v;
    return p;
}

int scrape_id_parse(const char *s, size_t len, struct ref *ref, uint64_t *token)
{
    const char *p = s, *end = s + len;
    uint64_t wk, slot, gen, tok;

    if (!(p = hex_field(p, end, 4, &wk)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 8, &slot)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 8, &gen)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 16, &tok)) || p != end)
        return -EINVAL;
    ref->wk = (uint16_t)wk;
    ref->idx = (uint32_t)slot;
    ref->gen = (uint32_t)gen;
    *token = tok;
    return wk < WORKER_MAX ? 0 : -EINVAL;
}

int scrape_url_host(const char *url, size_t len, const char **host, size_t *host_len)
{
    const char *p = memchr(url, ':', len), *end = url + len, *auth, *h, *at;

    if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
        return -EINVAL;
    auth = p + 3;
    for (p = auth; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
        ;
    end = p;
    h = auth;
    for (at = auth; at < end; at++)
        if (*at == '@')
            h = at + 1; /* userinfo@host */
    if (h < end && *h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close)
            return -EINVAL;
        *host = h + 1;
        *host_len = (size_t)(close - h - 1);
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        *host = h;
        *host_len = (size_t)((colon ? colon : end) - h);
    }
    return *host_len ? 0 : -EINVAL;
}

/* --- the request in proxy form --- */

/* Hop-by-hop headers and those we write ourselves are not forwarded to the client. */
static bool header_dropped(const char *name, size_t len)
{
    static const char *const dropped[] = {
        "Host", "Connection", "Proxy-Connection",  "Keep-Alive", "Proxy-Authorization",
        "TE",   "Trailer",    "Transfer-Encoding", "Upgrade",    "Content-Length",
        "Id",
    };
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        if (http_str_ieq(name, len, dropped[i]))
            return true;
    return false;
}

static int write_proxy_request(struct buf *out, const struct http_head *h, const char *id,
                               double timeout_s, bool has_timeout_header)
{
    const char *url = http_head_str(h, h->url_off), *host;
    size_t host_len;
    int rc = buf_printf(out, "%s %.*s HTTP/1.1\r\n", http_head_method(h), (int)h->url_len, url);

    if (rc)
        return rc;
    if ((host = http_head_get(h, "Host", &host_len)) == NULL) {
        /* The authority of the absolute URL, port included. */
        const char *a = strstr(url, "://") + 3, *e = a;
        while (e < url + h->url_len && *e != '/' && *e != '?' && *e != '#')
            e++;
        host = a;
        host_len = (size_t)(e - a);
    }
    if ((rc = buf_printf(out, "Host: %.*s\r\n", (int)host_len, host)) != 0)
        return rc;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = http_head_str(h, hd->name_off);
        if (header_dropped(name, hd->name_len))
            continue;
        if ((rc = buf_printf(out, "%.*s: %.*s\r\n", (int)hd->name_len, name, (int)hd->value_len,
                             http_head_str(h, hd->value_off))) != 0)
            return rc;
    }
    if ((rc = buf_printf(out, "Id: %s\r\n", id)) != 0)
        return rc;
    if (!has_timeout_header &&
        (rc = buf_printf(out, "X-Prometheus-Scrape-Timeout-Seconds: %g\r\n", timeout_s)) != 0)
        return rc;
    if (h->body.len && (rc = buf_printf(out, "Content-Length: %zu\r\n", h->body.len)) != 0)
        return rc;
    if ((rc = buf_append(out, "\r\n", 2)) != 0)
        return rc;
    return h->body.len ? buf_append(out, h->body.base, h->body.len) : 0;
}

/* The header if it parses as a positive float, else --scrape.default-timeout; capped at
 * --scrape.max-timeout, as upstream does. */
static uint64_t scrape_timeout_ms(const struct http_head *h, bool *has_header)
{
    size_t len;
    const char *v = http_head_get(h, "X-Prometheus-Scrape-Timeout-Seconds", &len);
    uint64_t ms = config.scrape_default_timeout;

    *has_header = false;
    if (v && len > 0 && len < 32) {
        char tmp[32], *end;
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        double s = strtod(tmp, &end);
        if (end == tmp + len && isfinite(s) && s > 0) {
            *has_header = true;
            ms = s * 1000.0 >= (double)config.scrape_max_timeout ? config.scrape_max_timeout
                                                                 : (uint64_t)(s * 1000.0);
            if (ms == 0)
                ms = 1;
        }
    }
    return ms < config.scrape_max_timeout ? ms : config.scrape_max_timeout;
}

/* --- the path --- */

void scrape_start(struct conn *c)
{
    struct worker *wk = c->wk;
    struct http_head *h = c->head;
    const char *url = http_head_str(h, h->url_off), *host, *bad;
    size_t host_len;
    struct scrape *s;
    struct buf req;
    struct msg *m;
    char id[SCRAPE_ID_MAX];
    bool has_timeout;
    uint64_t timeout_ms;

    if (scrape_url_host(url, h->url_len, &host, &host_len) != 0) {
        log_warn("scrape", "bad scrape URL", LOG_STRN("url", url, h->url_len));
        conn_respond_text(c, 400, NULL, "Error scraping \"%.*s\": no host in URL\n",
                          (int)h->url_len, url);
        return;
    }
    if ((bad = poll_fqdn_invalid(host, host_len)) != NULL) {
        log_warn("scrape", "bad scrape target", LOG_STRN("fqdn", host, host_len),
                 LOG_STR("reason", bad));
        conn_respond_text(c, 400, NULL, "Error scraping \"%.*s\": %s\n", (int)h->url_len, url, bad);
        return;
    }
    timeout_ms = scrape_timeout_ms(h, &has_timeout);
    if (!(s = slot_take(wk))) {
        stats_limit(&wk->stats, LIMIT_SCRAPE_MAX_IN_FLIGHT);
        log_warn("scrape", "scrape refused: limit reached",
                 LOG_STR("limit", "scrape.max-in-flight"),
                 LOG_INT("max", config.scrape_max_in_flight), LOG_STRN("fqdn", host, host_len));
        conn_respond_text(c, 503, NULL, "Error scraping \"%.*s\": too many scrapes in flight\n",
                          (int)h->url_len, url);
        return;
    }
    s->c = c;
    s->conn_gen = c->gen;
    s->start_ns = uv_hrtime();
    s->timeout_ms = timeout_ms;
    c->scrape_slot = s->slot;
    scrape_id_format(id, sizeof(id), wk->id, s->slot, s->gen, s->token);

    buf_init(&req, config.http_max_header_bytes + h->body.len + 1024);
    m = msg_new(MSG_SCRAPE, host, host_len);
    if (!m || write_proxy_request(&req, h, id, (double)timeout_ms / 1000.0, has_timeout) != 0) {
        msg_free(m);
        buf_close(&req);
        slot_release(s);
        conn_respond_text(c, 500, NULL, "Error scraping \"%.*s\": cannot build request\n",
                          (int)h->url_len, url);
        return;
    }
    m->u.job.scrape = (struct ref){.wk = wk->id, .idx = s->slot, .gen = s->gen};
    m->u.job.deadline_ms = uv_now(&wk->loop) + timeout_ms;
    m->u.job.req_len = req.len;
    m->u.job.req = buf_steal(&req);
    if (inbox_send(wk, registry_owner(host, host_len), m) != 0) {
        msg_free(m);
        slot_release(s);
        log_warn("scrape", "scrape refused: inbox full", LOG_STR("limit", "INBOX_RING_SIZE"),
                 LOG_STRN("fqdn", host, host_len));
        conn_respond_text(c, 503, NULL, "Error scraping \"%.*s\": proxy overloaded\n",
                          (int)h->url_len, url);
        return;
    }
    uv_timer_start(&s->timer, on_timeout, timeout_ms, 0);
    log_debug("scrape", "scrape sent", LOG_STRN("fqdn", host, host_len), LOG_STR("id", id));
}

static void on_timeout(uv_timer_t *timer)
{
    struct scrape *s = timer->data;
    struct conn *c = s->c;
    struct http_head *h = c->head;

    metrics_inc(&s->wk->stats.scrape_timeouts);
    scrape_done(s, 500);
    slot_release(s);
    log_info("scrape", "scrape timed out",
             LOG_STRN("url", http_head_str(h, h->url_off), h->url_len),
             LOG_UINT("timeout_ms", s->timeout_ms));
    conn_respond_text(c, 500, NULL,
                      "Error scraping \"%.*s\": no answer from the client within %.3gs (is it "
                      "polling this proxy under that name?)\n",
                      (int)h->url_len, http_head_str(h, h->url_off), (double)s->timeout_ms / 1000);
}

void scrape_cancel(struct conn *c)
{
    struct scrape_table *t = &c->wk->scrapes;
    struct scrape *s;

    if (c->scrape_slot >= t->n_made)
        return;
    s = t->slots[c->scrape_slot];
    if (!(s->gen & 1) || s->c != c || s->conn_gen != c->gen)
        return;
    /* The job may wait in its owner's queue for a poll: have it dropped there now. */
    const struct http_head *h = c->head;
    const char *host;
    size_t host_len;
    struct msg *m;
    if (scrape_url_host(http_head_str(h, h->url_off), h->url_len, &host, &host_len) == 0 &&
        (m = msg_new(MSG_SCRAPE_CANCEL, host, host_len)) != NULL) {
        m->ref = (struct ref){.wk = c->wk->id, .idx = s->slot, .gen = s->gen};
        inbox_send(c->wk, registry_owner(host, host_len), m);
    }
    slot_release(s);
}

void scrape_on_fail(struct worker *wk, struct msg *m)
{
    struct scrape *s = slot_lookup(wk, m->ref); /* SCRAPE_FAIL carries the slot in ref */
    if (s) {
        struct conn *c = s->c;
        struct http_head *h = c->head;
        scrape_done(s, m->u.result.status);
        slot_release(s);
        conn_respond_text(c, m->u.result.status, NULL, "Error scraping \"%.*s\": %s\n",
                          (int)h->url_len, http_head_str(h, h->url_off), m->u.result.reason);
    }
    msg_free(m);
}

/* A push for one of our scrapes: relay it if that scrape still waits, and tell the
 * pushing worker whether it was taken. The message goes back as the verdict. */
void scrape_on_push(struct worker *wk, struct msg *m)
{
    struct scrape *s = slot_lookup(wk, m->ref);
    uint16_t reply_to = m->from;
    struct ref reply = m->u.push.reply; /* read before u is reused for the verdict */

    if (s && s->token == m->u.push.token && s->c->gen == s->conn_gen) {
        struct conn *c = s->c;
        uv_buf_t bufs[2] = {uv_buf_init(m->u.push.head, (unsigned)m->u.push.head_len),
                            uv_buf_init((char *)m->u.push.body, (unsigned)m->u.push.body_len)};
        scrape_done(s, m->u.push.status);
        slot_release(s);
        conn_respond(c, m->u.push.status, bufs, m->u.push.body_len ? 2 : 1, m->u.push.head,
                     m->u.push.body_base);
        m->u.push.head = m->u.push.body_base = NULL;
        m->u.result.status = 200;
        m->u.result.reason = NULL;
    } else {
        metrics_inc(&wk->stats.push_stale);
        free(m->u.push.head);
        free(m->u.push.body_base);
        m->u.push.head = m->u.push.body_base = NULL;
        m->u.result.status = 500;
        m->u.result.reason = "unknown or expired scrape Id (the scrape timed out, was "
                             "answered, or never existed)";
    }
    m->ref = reply;
    m->type = MSG_PUSH_RESULT;
    inbox_send(wk, reply_to, m);
}
