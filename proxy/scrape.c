/* scrape.c - one scrape's life on the worker holding Prometheus's connection (S).
 *
 * Owner: runs on S's loop and touches S's connections and scrape slots (scrape_slot.c),
 * which other workers name only by the Id.
 *
 * The path: scrape_on_request() checks the target, takes a slot, writes the request in
 * proxy form with the slot's Id and sends it to the FQDN's owner (registry.c), which hands
 * it to a poll. Exactly one of three things then answers Prometheus, and frees the slot:
 *   - scrape_on_push(): the client's push arrived (via whichever worker got it), and is
 *     relayed as it came, head rewritten, body untouched;
 *   - on_timeout(): the scrape's timeout passed: 500 "Error scraping ...";
 *   - scrape_on_fail(): the owner could not queue it: 503; or the client's connections all
 *     closed after the scrape was handed to it, and it did not come back: 502.
 * Freeing a slot bumps its generation, so whatever arrives for it later is stale.
 *
 * Moving (--scrape.move-to-owner): a scrape on a plain connection, for an FQDN another
 * worker owns, is not started here. The connection goes to the owner with its request in a
 * SCRAPE_MOVE, and the owner starts the scrape as its own S (scrape_on_move()); the client's
 * connection lives there too (poll.c moves it at its first poll), so the poll, the push and
 * the answer to Prometheus are on one thread, and one wake-up of another thread per scrape
 * is left of the two. Prometheus's connection stays there until a scrape for an FQDN of
 * another worker takes it on. */
#include "scrape.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config.h"
#include "conn.h"
#include "fqdn.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

static void on_timeout(uv_timer_t *timer);

static void scrape_begin(struct conn *c, bool may_move);

/* The scrape's FQDN is another worker's: c goes there with its request, which starts over
 * on the owner. Returns false when it stays (TLS, something in flight, no memory or file
 * descriptor for the duplicate): the scrape is then started here, as without the flag.
 * A move is counted sent here and taken where it ends (moves_sent, moves_taken), so the
 * drain sees a scrape on its way between workers, which holds no slot yet. */
static bool move_to_owner(struct worker *wk, struct conn *c, uint16_t owner)
{
    struct msg *m = msg_new(MSG_SCRAPE_MOVE, c->fqdn, c->fqdn_len);

    if (!m)
        return false;
    m->u.move.fd = -1;
    if (conn_detach(c, &m->u.move, true) != 0) {
        msg_free(m);
        return false;
    }
    metrics_inc(&wk->counters.scrape_moves_sent);
    if (inbox_send(&wk->inbox, owner, m) != 0) {
        /* The owner's ring is full: served here after all, as one that came back. */
        m->u.move.back = true;
        scrape_on_move(wk, m);
    }
    return true;
}

void scrape_on_move(struct worker *wk, struct msg *m)
{
    int rc;
    bool back = m->u.move.back;
    struct conn *c = conn_adopt(&wk->conns, &m->u.move, &rc);

    if (!c && !back && m->u.move.fd >= 0) {
        /* This worker's table is full (--web.max-connections) or memory is short: the
         * connection goes back where it came from, to be served there. A move back is
         * never refused (a full ring backlogs it). */
        log_warn("scrape",
                 "scrape served where it was accepted: the owner cannot take its connection",
                 LOG_STR("reason", uv_strerror(rc)), LOG_STR("fqdn", m->fqdn),
                 LOG_INT("worker", wk->id));
        m->u.move.back = true;
        metrics_inc(&wk->counters.scrape_moves_sent);
        inbox_send(&wk->inbox, m->from, m);
        metrics_inc(&wk->counters.scrape_moves_taken);
        return;
    }
    if (!c) {
        /* Prometheus sees its connection close: this scrape fails, the next one connects
         * anew. */
        log_warn("scrape", "moved connection closed: no worker could take it",
                 LOG_STR("reason", uv_strerror(rc)), LOG_STR("fqdn", m->fqdn),
                 LOG_INT("worker", wk->id));
        msg_free(m);
        metrics_inc(&wk->counters.scrape_moves_taken);
        return;
    }
    msg_free(m);
    if (!back)
        metrics_inc(&wk->counters.scrapes_moved);
    /* The FQDN is this worker's, or the owner could not take it: it starts here. */
    scrape_begin(c, false);
    metrics_inc(&wk->counters.scrape_moves_taken); /* after its slot is counted in flight */
}

/* Frees a slot; the in-flight gauge follows at once (the drain waits for it to reach 0). */
static void release(struct worker *wk, struct scrape_slot *s)
{
    scrape_slot_release(&wk->scrapes, s);
    metrics_set(&wk->counters.scrapes_in_flight, wk->scrapes.n_busy);
}

/* Tells the FQDN's owner that a scrape of it failed, for /clients?view=detail. Errors are
 * the exception, so the message costs only then. */
static void report_error(struct worker *wk, struct conn *c)
{
    struct msg *m = msg_new(MSG_SCRAPE_ERROR, c->fqdn, c->fqdn_len);
    if (m)
        inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m);
}

/* Counts and times a scrape's answer, and frees its slot. */
static void scrape_done(struct worker *wk, struct scrape_slot *s, int status)
{
    metrics_inc(&wk->counters.proxied[counters_code(status)]);
    metrics_hist_observe(&wk->counters.scrape_duration, (double)(uv_hrtime() - s->start_ns) / 1e9);
    release(wk, s);
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

static int write_proxy_request(struct buf *out, const struct http_head *h, const char *id,
                               double timeout_s, bool has_timeout_header)
{
    const char *url = http_head_str(h, h->url_off), *host;
    size_t host_len;
    int rc = buf_printf(out, "%s %.*s HTTP/1.1\r\n", http_head_method(h), (int)h->url_len, url);

    if (rc)
        return rc;
    if ((host = http_head_get(h, "Host", &host_len)) == NULL) {
        /* The authority of the absolute URL, port included (scrape_url_host() found its
         * "://"). The head's strings are not NUL-terminated: search within url_len only. */
        const char *sep = memmem(url, h->url_len, "://", 3);
        const char *a = sep ? sep + 3 : url + h->url_len, *e = a;
        while (e < url + h->url_len && *e != '/' && *e != '?' && *e != '#')
            e++;
        host = a;
        host_len = (size_t)(e - a);
    }
    /* Host and Id are written here; the body is framed anew. */
    static const char *const ours[] = {"Host", "Id", NULL};
    if ((rc = buf_printf(out, "Host: %.*s\r\n", (int)host_len, host)) != 0 ||
        (rc = http_write_headers(out, h, HTTP_COPY_DROP_FRAMING, ours)) < 0)
        return rc;
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

void scrape_on_request(struct conn *c)
{
    scrape_begin(c, config.scrape_move_to_owner);
}

static void scrape_begin(struct conn *c, bool may_move)
{
    struct worker *wk = worker_of(c);
    struct http_head *h = c->head;
    const char *url = http_head_str(h, h->url_off), *host, *bad;
    size_t host_len, fqdn_len;
    struct scrape_slot *s;
    struct buf req;
    struct msg *m;
    char id[SCRAPE_SLOT_ID_MAX];
    bool has_timeout;
    uint64_t timeout_ms;
    uint16_t owner;

    if (scrape_url_host(url, h->url_len, &host, &host_len) != 0) {
        log_warn("scrape", "bad scrape URL", LOG_STRN("url", url, h->url_len));
        conn_respond_text(c, 400, NULL, "Error scraping \"%.*s\": no host in URL\n",
                          (int)h->url_len, url);
        return;
    }
    worker_forget_poller(wk, c, false); /* a client's connection that now scrapes (rare) */
    if ((bad = fqdn_normalize(host, host_len, c->fqdn, &fqdn_len)) != NULL) {
        log_warn("scrape", "bad scrape target", LOG_STRN("fqdn", host, host_len),
                 LOG_STR("reason", bad));
        conn_respond_text(c, 400, NULL, "Error scraping \"%.*s\": %s\n", (int)h->url_len, url, bad);
        return;
    }
    c->fqdn_len = (uint16_t)fqdn_len;
    if (may_move && (owner = worker_owner(wk, c->fqdn, c->fqdn_len)) != wk->id &&
        move_to_owner(wk, c, owner))
        return;
    timeout_ms = scrape_timeout_ms(h, &has_timeout);
    if (!(s = scrape_slot_take(&wk->scrapes))) {
        counters_limit(&wk->counters, LIMIT_SCRAPE_MAX_IN_FLIGHT);
        log_warn("scrape", "scrape refused: limit reached",
                 LOG_STR("limit", "scrape.max-in-flight"),
                 LOG_INT("max", config.scrape_max_in_flight), LOG_STR("fqdn", c->fqdn));
        conn_respond_text(c, 503, NULL, "Error scraping \"%.*s\": too many scrapes in flight\n",
                          (int)h->url_len, url);
        return;
    }
    metrics_set(&wk->counters.scrapes_in_flight, wk->scrapes.n_busy);
    s->c = c;
    s->conn_gen = c->gen;
    s->start_ns = uv_hrtime();
    s->timeout_ms = timeout_ms;
    c->slot = s->idx;
    scrape_slot_id_format(id, sizeof(id), s);

    buf_init(&req, config.http_max_header_bytes + h->body.len + 1024);
    m = msg_new(MSG_SCRAPE, c->fqdn, c->fqdn_len);
    if (!m || write_proxy_request(&req, h, id, (double)timeout_ms / 1000.0, has_timeout) != 0) {
        msg_free(m);
        buf_close(&req);
        release(wk, s);
        conn_respond_text(c, 500, NULL, "Error scraping \"%.*s\": cannot build request\n",
                          (int)h->url_len, url);
        return;
    }
    m->u.job.scrape = scrape_slot_ref(s);
    m->u.job.token = s->token;
    m->u.job.deadline_ms = uv_now(&wk->loop) + timeout_ms;
    m->u.job.req_len = req.len;
    m->u.job.req = buf_steal(&req);
    if (inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m) != 0) {
        msg_free(m);
        release(wk, s);
        log_warn("scrape", "scrape refused: inbox full", LOG_STR("limit", "INBOX_RING_SIZE"),
                 LOG_STR("fqdn", c->fqdn));
        conn_respond_text(c, 503, NULL, "Error scraping \"%.*s\": proxy overloaded\n",
                          (int)h->url_len, url);
        return;
    }
    uv_timer_start(&s->timer, on_timeout, timeout_ms, 0);
    log_debug("scrape", "scrape sent", LOG_STR("fqdn", c->fqdn), LOG_STR("id", id));
}

static void on_timeout(uv_timer_t *timer)
{
    struct scrape_slot *s = timer->data;
    struct conn *c = s->c;
    struct worker *wk = worker_of(c);
    struct http_head *h = c->head;
    uint64_t timeout_ms = s->timeout_ms;

    metrics_inc(&wk->counters.scrape_timeouts);
    report_error(wk, c);
    scrape_done(wk, s, 500);
    log_info("scrape", "scrape timed out",
             LOG_STRN("url", http_head_str(h, h->url_off), h->url_len),
             LOG_UINT("timeout_ms", timeout_ms));
    conn_respond_text(c, 500, NULL,
                      "Error scraping \"%.*s\": no answer from the client within %.3gs (is it "
                      "polling this proxy under that name? is its exporter that slow?)\n",
                      (int)h->url_len, http_head_str(h, h->url_off), (double)timeout_ms / 1000);
}

void scrape_on_cancel(struct conn *c)
{
    struct worker *wk = worker_of(c);
    struct scrape_slot *s = scrape_slot_at(&wk->scrapes, c->slot);

    if (!s || s->c != c || s->conn_gen != c->gen)
        return;
    /* The job may wait in its owner's queue for a poll: have it dropped there now. */
    struct msg *m = msg_new(MSG_SCRAPE_CANCEL, c->fqdn, c->fqdn_len);
    if (m) {
        m->ref = scrape_slot_ref(s);
        inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m);
    }
    release(wk, s);
}

void scrape_on_fail(struct worker *wk, struct msg *m)
{
    /* SCRAPE_FAIL carries the slot in ref. */
    struct scrape_slot *s = scrape_slot_lookup(&wk->scrapes, m->ref);
    if (s) {
        struct conn *c = s->c;
        struct http_head *h = c->head;
        if (m->u.result.client_gone) {
            metrics_inc(&wk->counters.scrapes_client_gone);
            report_error(wk, c);
            log_info("scrape", "scrape failed: the client's connections closed",
                     LOG_STR("fqdn", c->fqdn),
                     LOG_STRN("url", http_head_str(h, h->url_off), h->url_len));
        }
        scrape_done(wk, s, m->u.result.status);
        conn_respond_text(c, m->u.result.status, NULL, "Error scraping \"%.*s\": %s\n",
                          (int)h->url_len, http_head_str(h, h->url_off), m->u.result.reason);
    }
    msg_free(m);
}

/* A push for one of our scrapes: relay it if that scrape still waits, and tell the
 * pushing worker whether it was taken. The message goes back as the verdict, unless the
 * pushing worker owns the FQDN and answered the client already (push.c). */
void scrape_on_push(struct worker *wk, struct msg *m)
{
    struct scrape_slot *s = scrape_slot_lookup(&wk->scrapes, m->ref);
    uint16_t reply_to = m->from;
    struct ref reply = m->u.push.reply; /* read before u is reused for the verdict */
    bool answered = m->u.push.answered;

    /* The body is the receiving side's no more: relayed (Prometheus's connection bounds
     * it by --web.write-timeout) or dropped. */
    budget_give(m->u.push.reserved);
    m->u.push.reserved = 0;

    if (s && s->token == m->u.push.token && s->c->gen == s->conn_gen && m->meta_len &&
        !tls_identity_names_fqdn(msg_meta(m), m->meta_len, s->c->fqdn)) {
        /* Pushed from a certificate that could not have polled this FQDN: refused, and the
         * scrape waits on for its real answer. The verdict names both. */
        size_t n;
        const char *subject = tls_identity_subject(msg_meta(m), m->meta_len, &n);
        char why[512];
        int len = snprintf(why, sizeof(why), "certificate \"%.*s\" does not name FQDN \"%s\"",
                           (int)n, subject, s->c->fqdn);
        struct msg *verdict = msg_new(MSG_PUSH_RESULT, why, len < 0 ? 0 : (size_t)len);
        msg_free(m);
        if (verdict) {
            verdict->ref = reply;
            verdict->u.result.status = 403;
            inbox_send(&wk->inbox, reply_to, verdict);
        }
        return;
    }
    if (s && s->token == m->u.push.token && s->c->gen == s->conn_gen) {
        struct conn *c = s->c;
        uv_buf_t bufs[2] = {uv_buf_init(m->u.push.head, (unsigned)m->u.push.head_len),
                            uv_buf_init((char *)m->u.push.body, (unsigned)m->u.push.body_len)};
        uint16_t owner = worker_owner(wk, c->fqdn, c->fqdn_len), fqdn_len = c->fqdn_len;
        char fqdn[FQDN_MAX + 1];
        memcpy(fqdn, c->fqdn, (size_t)fqdn_len + 1);
        if (m->u.push.status >= 500)
            report_error(wk, c);
        scrape_done(wk, s, m->u.push.status);
        conn_respond(c, m->u.push.status, bufs, m->u.push.body_len ? 2 : 1, m->u.push.head,
                     m->u.push.body_base);
        m->u.push.head = m->u.push.body_base = NULL;
        m->u.result.status = 200;
        m->u.result.reason = NULL;
        m->u.result.owner = owner;
        /* The verdict names the FQDN, so a connection that pushes without polling can move
         * to its owner and have its next pushes answered there (push.c). Without memory it
         * goes without. */
        struct msg *named = answered ? NULL : msg_new(MSG_PUSH_RESULT, fqdn, fqdn_len);
        if (named) {
            named->u.result = m->u.result;
            m->type = MSG_PUSH_RESULT; /* its buffers are Prometheus's connection's now */
            msg_free(m);
            m = named;
        }
    } else {
        metrics_inc(&wk->counters.push_stale);
        if (answered)
            log_info("push", "push already answered 200 arrived after its scrape ended",
                     LOG_STR("reason", "Prometheus went away, or the push came within "
                                       "REGISTRY_PUSH_MARGIN_MS of the scrape's timeout"));
        free(m->u.push.head);
        free(m->u.push.body_base);
        m->u.push.head = m->u.push.body_base = NULL;
        m->u.result.status = 500;
        m->u.result.reason = "unknown or expired scrape Id (the scrape timed out, was "
                             "answered, or never existed)";
    }
    if (answered) {
        msg_free(m);
        return;
    }
    m->ref = reply;
    m->type = MSG_PUSH_RESULT;
    inbox_send(&wk->inbox, reply_to, m);
}
