/* poll.c - a client's long poll on the worker holding its connection (W).
 *
 * Owner: each worker's list of waiting polls (wk->holds, oldest first), the polls on it and
 * its hold timer (--poll.max-hold) belong to that worker. The poll's FQDN is owned by another
 * worker's shard (O), which hears of it through POLL_WAIT and POLL_GONE and answers with DELIVER,
 * POLL_EVICT or POLL_REFUSE, each naming the poll by ref; a ref that no longer matches a waiting
 * poll (answered, closed, moved on) means the poll is gone, and a DELIVER for it goes back to O as
 * REDELIVER so the scrape tries another poll.
 *
 * A connection's first poll for an FQDN is flagged in its POLL_WAIT, and the connection
 * remembers it (c->polled, c->fqdn kept between requests): O counts the connections of each
 * FQDN, and hears CONN_GONE when one closes or polls for another FQDN, so it can tell that
 * a client is gone (registry.c): CONN_GONE says whether the connection closed while its
 * poll waited (an upstream-like client always has one waiting, even mid-scrape; a client
 * that polls again only after pushing closes its connections between polls in order).
 *
 * Moving (--poll.move-to-owner): a plain connection's first poll for an FQDN another worker
 * owns does not wait here. The connection itself goes to O in a CONN_MOVE (conn_detach(),
 * conn_adopt()) and its poll waits there, so from then on W == O for that client: DELIVER,
 * POLL_WAIT and POLL_GONE are local, and so are its pushes when the scrape's worker is O.
 * A connection that only pushes (an upstream-like client's second one) moves too, idle,
 * once its first push is answered: the verdict names the FQDN's owner (push.c asks,
 * poll_move_idle() sends it). */
#include "poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "config.h"
#include "conn.h"
#include "fqdn.h"
#include "log.h"
#include "tls.h"
#include "trust.h"
#include "worker.h"

/* The most a client's identity takes (its certificate's names, tls.h). */
#define POLL_IDENTITY_MAX_BYTES (16 * 1024)
/* The most a poll's announcement takes in its message (both headers, bounded each). */
#define POLL_META_MAX_BYTES (2 * ANNOUNCE_HEADER_MAX + 1)

/* Upstream's text for a poll replaced by a newer one; clients may match on it. */
#define POLL_EXPIRED_TEXT "Error WaitForScrapeInstruction: request is expired"

static void on_hold_timer(uv_timer_t *t)
{
    struct worker *wk = t->data;
    poll_expire(wk, uv_now(&wk->loop));
}

/* With --poll.max-hold, the worker's hold timer is due when the oldest poll's hold ends
 * (polls join the list in time order, so the first one is always the next due): a poll is
 * answered 408 on time, not up to a housekeeping tick later. */
static void hold_timer_arm(struct worker *wk, uint64_t now_ms)
{
    struct list *l = list_first(&wk->holds);
    if (!config.poll_max_hold || !l || uv_is_closing((uv_handle_t *)&wk->hold_timer))
        return;
    const struct conn *c = list_entry(l, struct conn, link);
    uint64_t due = c->link_since_ms + config.poll_max_hold;
    (void)uv_timer_start(&wk->hold_timer, on_hold_timer, due > now_ms ? due - now_ms : 0, 0);
}

static void hold_add(struct worker *wk, struct conn *c)
{
    c->link_since_ms = uv_now(&wk->loop);
    list_push_back(&wk->holds, &c->link);
    if (!uv_is_active((uv_handle_t *)&wk->hold_timer))
        hold_timer_arm(wk, c->link_since_ms);
}

/* Safe on a conn that is not held (an out-of-memory path may close one twice). */
static void hold_remove(struct conn *c)
{
    list_remove(&c->link);
}

/* A poll waits exactly while it is on its worker's hold list. */
static bool is_waiting_poll(const struct conn *c)
{
    return c && c->state == CONN_WAITING && list_linked(&c->link);
}

/* Tells the FQDN's owner that this poll ended without work. */
static void send_gone(struct worker *wk, struct conn *c)
{
    struct msg *m = msg_new(MSG_POLL_GONE, c->fqdn, c->fqdn_len);
    if (!m)
        return; /* the owner finds out at its next DELIVER */
    m->ref = conn_ref(c);
    inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m);
}

/* What the client announces about itself (announce.h), checked, as a registry record keeps
 * it: the labels header as sent, '\n', the exporters normalised; empty when it says
 * nothing. Returns NULL or what is wrong. */
static const char *read_announce(const struct http_head *h, struct buf *meta)
{
    size_t llen = 0, elen = 0;
    const char *labels = http_head_get(h, ANNOUNCE_LABELS_HEADER, &llen);
    const char *exporters = http_head_get(h, ANNOUNCE_EXPORTERS_HEADER, &elen);
    const char *bad;

    buf_init(meta, POLL_META_MAX_BYTES);
    if (!labels && !exporters)
        return NULL;
    if (labels && (bad = announce_labels_to_json(labels, llen, "", false, NULL)) != NULL)
        return bad;
    if ((labels && buf_append(meta, labels, llen) != 0) || buf_append(meta, "\n", 1) != 0)
        return "labels header too large";
    if (exporters && (bad = announce_exporters_normalize(exporters, elen, meta)) != NULL)
        return bad;
    return NULL;
}

/* When the proxy binds identities, a poll may only wait under an FQDN the client's
 * certificate names. Answers the refusal itself and returns false. */
static bool identity_allows(struct conn *c)
{
    struct buf id;
    size_t n;
    const char *subject;
    int have;

    buf_init(&id, POLL_IDENTITY_MAX_BYTES);
    if ((have = conn_identity(c, &id)) < 0) {
        buf_close(&id);
        log_warn("poll", "poll refused: the forwarded client certificate does not parse",
                 LOG_STR("fqdn", c->fqdn));
        conn_respond_text(c, 400, NULL,
                          "Error polling: the client certificate in %s does not parse\n",
                          TRUST_CERT_HEADER);
        return false;
    }
    if (have == 0 || tls_identity_names_fqdn(id.base, id.len, c->fqdn)) {
        buf_close(&id);
        return true;
    }
    subject = tls_identity_subject(id.base, id.len, &n);
    metrics_inc(&worker_of(c)->counters.identity_rejections[0]);
    log_warn("poll", "poll refused: the certificate does not name the FQDN",
             LOG_STRN("subject", subject, n), LOG_STR("fqdn", c->fqdn));
    conn_respond_text(c, 403, NULL,
                      "Error polling: certificate \"%.*s\" does not name FQDN \"%s\"\n", (int)n,
                      subject, c->fqdn);
    buf_close(&id);
    return false;
}

/* The poll waits on this worker: on its hold list, and known to its FQDN's owner through m,
 * a POLL_WAIT with the FQDN and announcement. */
static void wait_here(struct worker *wk, struct conn *c, struct msg *m)
{
    m->ref = conn_ref(c);
    m->u.poll.new_conn = !c->polled;
    c->polled = true;
    conn_release_head(c);
    hold_add(wk, c);
    inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m);
    log_debug("poll", "poll waiting", LOG_STR("fqdn", c->fqdn));
}

/* The connection's first poll names an FQDN another worker owns: the connection moves
 * there, so its polls, the scrapes delivered to them and its pushes are served on the
 * owner's thread without a message between workers. Returns false when it stays (no
 * memory, no file descriptor for the duplicate): it then waits here as any poll. */
static bool move_to_owner(struct worker *wk, struct conn *c, uint16_t owner, const struct buf *meta)
{
    struct msg *m = msg_new_meta(MSG_CONN_MOVE, c->fqdn, c->fqdn_len, meta ? meta->base : NULL,
                                 meta ? meta->len : 0);

    if (!m)
        return false;
    m->u.move.fd = -1;
    if (conn_detach(c, &m->u.move, false) != 0) { /* the poll's FQDN and meta are in m */
        msg_free(m);
        return false;
    }
    inbox_send(&wk->inbox, owner, m); /* not a request: a full ring backlogs it */
    return true;
}

void poll_on_request(struct conn *c)
{
    struct worker *wk = worker_of(c);
    struct http_head *h = c->head;
    const char *s = h->body.base ? h->body.base : "";
    size_t len = h->body.len;
    const char *bad;
    size_t fqdn_len;
    struct msg *m;
    struct buf meta;
    uint16_t owner;
    char name[FQDN_MAX + 1];

    /* Surrounding whitespace is trimmed, as upstream does. */
    while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++, len--;
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if ((bad = fqdn_normalize(s, len, name, &fqdn_len)) != NULL) {
        log_warn("poll", "poll refused", LOG_STR("reason", bad),
                 LOG_STRN("fqdn", s, len > 300 ? 300 : len));
        conn_respond_text(c, 400, NULL, "Error polling: %s (got \"%.*s\")\n", bad,
                          (int)(len > 300 ? 300 : len), s);
        return;
    }
    if (c->polled && (fqdn_len != c->fqdn_len || memcmp(name, c->fqdn, fqdn_len) != 0))
        worker_forget_poller(wk, c, false); /* the same connection, another FQDN */
    memcpy(c->fqdn, name, fqdn_len + 1);
    c->fqdn_len = (uint16_t)fqdn_len;
    if (wk->conns.draining) {
        /* Let it go at once: the client polls again, elsewhere (Connection: close). */
        conn_respond_text(c, 408, NULL, "%s\n", POLL_EXPIRED_TEXT);
        return;
    }
    if (!identity_allows(c))
        return;
    if ((bad = read_announce(h, &meta)) != NULL) {
        log_warn("poll", "poll refused: bad announcement", LOG_STR("fqdn", c->fqdn),
                 LOG_STR("reason", bad));
        conn_respond_text(c, 400, NULL, "Error polling: %s\n", bad);
        buf_close(&meta);
        return;
    }
    if (config.poll_move_to_owner && !c->polled &&
        (owner = worker_owner(wk, c->fqdn, c->fqdn_len)) != wk->id &&
        move_to_owner(wk, c, owner, &meta)) {
        buf_close(&meta);
        return;
    }
    m = msg_new_meta(MSG_POLL_WAIT, c->fqdn, c->fqdn_len, meta.base, meta.len);
    buf_close(&meta);
    if (!m) {
        conn_close(c, "out of memory");
        return;
    }
    wait_here(wk, c, m);
}

void poll_move_idle(struct conn *c, uint16_t to)
{
    struct worker *wk = worker_of(c);

    if (config.poll_move_to_owner && !c->polled && to != wk->id && to < wk->group->n)
        (void)move_to_owner(wk, c, to, NULL); /* when it cannot, it stays */
}

void poll_on_move(struct worker *wk, struct msg *m)
{
    int rc;
    struct conn *c = conn_adopt(&wk->conns, &m->u.move, &rc);

    if (!c) {
        /* The client sees its connection close and polls again on a new one. */
        log_warn("poll", "moved connection closed: this worker cannot take it",
                 LOG_STR("reason", uv_strerror(rc)), LOG_STR("fqdn", m->fqdn),
                 LOG_INT("worker", wk->id));
        msg_free(m);
        return;
    }
    metrics_inc(&wk->counters.conns_moved);
    memcpy(c->fqdn, m->fqdn, (size_t)m->fqdn_len + 1);
    c->fqdn_len = m->fqdn_len;
    if (m->u.move.idle) {
        msg_free(m); /* it reads its next request here */
        return;
    }
    /* The message goes on as the poll's POLL_WAIT: the FQDN and announcement are in it. */
    m->type = MSG_POLL_WAIT;
    memset(&m->u, 0, sizeof(m->u));
    if (wk->conns.draining) {
        msg_free(m);
        conn_respond_text(c, 408, NULL, "%s\n", POLL_EXPIRED_TEXT);
        return;
    }
    wait_here(wk, c, m);
}

void poll_on_cancel(struct conn *c)
{
    hold_remove(c);
    send_gone(worker_of(c), c);
}

void poll_on_conn_close(struct conn *c)
{
    struct worker *wk = worker_of(c);

    /* Its poll, if one waited, was just cancelled; the request is still the poll's. */
    bool waiting = c->state == CONN_WAITING && conn_route(c)->on_request == poll_on_request;

    if (!wk->conns.draining)
        worker_forget_poller(wk, c, waiting);
}

/* Work for a poll: the scrape request, in proxy form, becomes the poll's response body. */
void poll_on_deliver(struct worker *wk, struct msg *m)
{
    struct conn *c = conn_lookup(&wk->conns, m->ref);
    char head[128];
    int n;

    if (!is_waiting_poll(c)) {
        m->type = MSG_REDELIVER;
        inbox_send(&wk->inbox, m->from, m);
        return;
    }
    hold_remove(c);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 m->u.job.req_len);
    char *own = malloc((size_t)n);
    if (!own) {
        m->type = MSG_REDELIVER;
        inbox_send(&wk->inbox, m->from, m);
        conn_close(c, "out of memory");
        return;
    }
    memcpy(own, head, (size_t)n);
    uv_buf_t bufs[2] = {uv_buf_init(own, (unsigned)n),
                        uv_buf_init(m->u.job.req, (unsigned)m->u.job.req_len)};
    char *req = m->u.job.req;
    m->u.job.req = NULL;
    msg_free(m);
    conn_respond(c, 200, bufs, 2, own, req);
}

void poll_on_evict(struct worker *wk, struct msg *m)
{
    struct conn *c = conn_lookup(&wk->conns, m->ref);

    if (is_waiting_poll(c)) {
        hold_remove(c);
        if (m->type == MSG_POLL_EVICT) {
            conn_respond_text(c, 408, NULL, "%s\n", POLL_EXPIRED_TEXT);
        } else {
            c->polled = false; /* refused: its owner does not count it */
            log_warn("poll", "poll refused: limit reached",
                     LOG_STR("limit", "registration.max-fqdns"), LOG_STR("fqdn", c->fqdn));
            conn_respond_text(c, 503, NULL, "Error polling: too many clients on this proxy\n");
        }
    }
    msg_free(m);
}

void poll_expire(struct worker *wk, uint64_t now_ms)
{
    uint64_t hold = config.poll_max_hold;
    struct list *l;

    if (!hold)
        return;
    while ((l = list_first(&wk->holds)) != NULL) {
        struct conn *c = list_entry(l, struct conn, link);
        if (now_ms - c->link_since_ms < hold)
            break;
        hold_remove(c);
        send_gone(wk, c);
        conn_respond_text(c, 408, NULL, "%s\n", POLL_EXPIRED_TEXT);
    }
    hold_timer_arm(wk, now_ms);
}

unsigned poll_release_all(struct worker *wk)
{
    struct list *l;
    unsigned n = 0;

    while ((l = list_first(&wk->holds)) != NULL) {
        struct conn *c = list_entry(l, struct conn, link);
        hold_remove(c);
        send_gone(wk, c);
        conn_respond_text(c, 408, NULL, "%s\n", POLL_EXPIRED_TEXT);
        n++;
    }
    return n;
}
