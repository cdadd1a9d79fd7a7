/* push.c - a client's push on the worker that receives it (X).
 *
 * Owner: runs on X's loop and touches only X's connections. The scrape the push answers
 * lives on the worker named in its Id (S); X parses the pushed response once, builds the
 * head Prometheus will get, and sends both with the untouched body to S in one PUSH
 * message. S relays it if the scrape still waits and answers PUSH_RESULT; only then does
 * X answer the client: 200, or 500 "Error pushing: ..." as upstream does, so a stale,
 * forged or reused Id is refused and reaches no other scrape.
 *
 * When X owns the scrape's FQDN and delivered the scrape itself (the client's connections
 * moved there at their first poll), X gives the verdict at once and S sends none back
 * (owner_takes()); a scrape that ended meanwhile (Prometheus went away, or its timeout
 * within REGISTRY_PUSH_MARGIN_MS) then drops the answer at S, counted as stale.
 *
 * The body is not copied on its way: it was read into the push request's body buffer,
 * which travels to S and is written from there. */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "scrape_slot.h"
#include "tls.h"
#include "worker.h"

static const struct http_parser_cb push_inner_cb = {0};

/* The most a pushing client's identity takes (its certificate's names, tls.h); it travels in
 * the PUSH message, whose meta is bounded by 16 bits. */
#define PUSH_IDENTITY_MAX_BYTES (16 * 1024)

/* The head Prometheus gets: the pushed status and headers, less our routing headers and
 * the hop-by-hop ones that describe the client's connection, not ours; with a
 * Content-Length when the pushed response ended with the push body instead. */
static int write_relay_head(struct buf *out, const struct http_head *h, size_t body_len)
{
    static const char *const routing[] = {"Id", "X-Prometheus-Scrape-Timeout-Seconds", NULL};
    int rc = h->reason_len ? buf_printf(out, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason_len,
                                        http_head_str(h, h->reason_off))
                           : http_write_status_line(out, h->status);

    if (rc == 0 && (rc = http_write_headers(out, h, HTTP_COPY_ALL, routing)) > 0)
        rc = 0;
    if (rc == 0 && h->content_length < 0 && !h->chunked)
        rc = buf_printf(out, "Content-Length: %zu\r\n", body_len);
    return rc ? rc : buf_append(out, "\r\n", 2);
}

/* Upstream's Go client writes the 500s it makes itself (exporter down, name mismatch...)
 * from a Response with no protocol version: "HTTP/0.0 500 ...", body up to the end.
 * llhttp refuses version 0.0, so such a status line is read as HTTP/1.1, in place. */
static void push_fix_version(char *s, size_t len)
{
    if (len >= 9 && memcmp(s, "HTTP/", 5) == 0 && s[5] >= '0' && s[5] <= '9' && s[6] == '.' &&
        s[7] >= '0' && s[7] <= '9' && s[8] == ' ' && !(s[5] == '1' && s[7] <= '1')) {
        s[5] = '1';
        s[7] = '1';
    }
}

/* The push was taken: 200 with no body. */
static void push_respond_ok(struct conn *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)ok, sizeof(ok) - 1);

    if (conn_closes_after(c))
        conn_respond_text(c, 200, NULL, "%s", "");
    else
        conn_respond(c, 200, &b, 1, NULL, NULL);
}

/* Whether this worker can give the push its verdict itself: it owns the FQDN the push's
 * connection polled for, or pushed for last (the connection moved here at its first poll,
 * or once idle after its first push, poll.c), it handed
 * this very scrape (slot and token) to one of that FQDN's polls, there is time left before
 * the scrape's deadline, and the client may push for that FQDN. Then the push is answered
 * 200 here at once and the scrape's worker relays it with no verdict to send back: one
 * message between workers per push instead of two. */
static bool owner_takes(struct worker *wk, struct conn *c, struct ref ref, uint64_t token,
                        const struct buf *identity, int have_identity)
{
    if (!c->fqdn_len || worker_owner(wk, c->fqdn, c->fqdn_len) != wk->id)
        return false;
    if (have_identity > 0 && !tls_identity_names_fqdn(identity->base, identity->len, c->fqdn))
        return false; /* the scrape's worker refuses it, naming both */
    return registry_take_delivered(&wk->reg, c->fqdn, c->fqdn_len, ref, token);
}

static void push_refuse(struct conn *c, int status, const char *why)
{
    log_info("push", "push refused", LOG_INT("status", status), LOG_STR("reason", why));
    conn_respond_text(c, status, NULL, "Error pushing: %s\n", why);
}

void push_on_request(struct conn *c)
{
    struct worker *wk = worker_of(c);
    struct buf *body = &c->head->body;
    struct http_head *ih = conn_head_get(&wk->conns);
    struct http_parser ip;
    struct buf relay;
    struct msg *m = NULL;
    const char *id, *why = NULL;
    size_t id_len, used = 0, body_off, body_len;
    struct ref ref;
    uint64_t token;
    enum http_parse_result r;
    struct buf identity;
    int have_identity;
    bool answered;

    buf_init(&relay, config.http_max_header_bytes + 256);
    buf_init(&identity, PUSH_IDENTITY_MAX_BYTES);
    if (!ih) {
        conn_close(c, "out of memory");
        return;
    }
    http_parser_init(&ip, HTTP_KIND_RESPONSE, &push_inner_cb, NULL);
    ip.head_max_bytes = config.http_max_header_bytes;
    http_parser_begin(&ip, ih);
    ip.body_mode = HTTP_BODY_STREAM; /* only offsets are needed: the body stays in place */
    ip.body_max_bytes = config.push_max_size;
    if (body->base)
        push_fix_version(body->base, body->len);
    r = http_parser_execute(&ip, body->base ? body->base : "", body->len, &used);
    if (r == HTTP_PARSE_MORE)
        r = http_parser_finish(&ip); /* a body that ends with the push */
    else if (r == HTTP_PARSE_COMPLETE)
        body->len = used; /* anything after the pushed response is not part of it */
    if (r != HTTP_PARSE_COMPLETE) {
        why = ip.error_msg ? ip.error_msg : "empty push";
        goto refuse;
    }
    if (ih->status < 200) {
        /* A 100 Continue relayed as the answer would leave Prometheus waiting for the real
         * one, which never comes on this scrape. */
        why = "pushed response is an interim (1xx) answer, not the scrape's response";
        goto refuse;
    }
    if (!(id = http_head_get(ih, "Id", &id_len))) {
        why = "pushed response has no Id header";
        goto refuse;
    }
    if (scrape_slot_id_parse(id, id_len, &ref, &token) != 0 || ref.wk >= wk->group->n) {
        why = "unknown or expired scrape Id (the scrape timed out, was answered, or never "
              "existed)";
        goto refuse;
    }
    body_off = ih->head_bytes;
    body_len = body->len - body_off;
    if (write_relay_head(&relay, ih, body_len) != 0) {
        why = "pushed response head too large";
        goto refuse;
    }
    /* The scrape's worker checks the identity against the scrape's FQDN, which only it
     * knows: the identity travels with the push. */
    if ((have_identity = conn_identity(c, &identity)) < 0) {
        why = "the client certificate in X-PushProx-Client-Cert does not parse";
        goto refuse;
    }
    answered = owner_takes(wk, c, ref, token, &identity, have_identity);
    if (answered)
        have_identity = 0; /* checked here */
    if (!(m = msg_new_meta(MSG_PUSH, NULL, 0, have_identity ? identity.base : NULL,
                           have_identity ? identity.len : 0))) {
        why = "out of memory";
        goto refuse;
    }
    buf_close(&identity);
    m->ref = ref;
    m->u.push.reply = conn_ref(c);
    m->u.push.answered = answered;
    m->u.push.token = token;
    m->u.push.status = ih->status;
    m->u.push.head_len = relay.len;
    m->u.push.head = buf_steal(&relay);
    m->u.push.body_len = body_len;
    m->u.push.body_base = buf_steal(body);
    m->u.push.body = m->u.push.body_base + body_off;
    m->u.push.reserved = c->body_reserved; /* the body and its budget travel together */
    c->body_reserved = 0;
    conn_head_put(&wk->conns, ih);
    conn_release_head(c);
    if (inbox_send(&wk->inbox, ref.wk, m) != 0) {
        msg_free(m);
        log_warn("push", "push refused: inbox full", LOG_STR("limit", "INBOX_RING_SIZE"));
        conn_respond_text(c, 503, NULL, "Error pushing: proxy overloaded\n");
    } else if (answered) {
        metrics_inc(&wk->counters.pushes_owner_answered);
        push_respond_ok(c);
    }
    return;
refuse:
    conn_head_put(&wk->conns, ih);
    buf_close(&relay);
    buf_close(&identity);
    push_refuse(c, 500, why);
}

void push_on_result(struct worker *wk, struct msg *m)
{
    struct conn *c = conn_lookup(&wk->conns, m->ref);

    /* The ref names the push request itself: its generation ends with that request. */
    if (c && c->state == CONN_WAITING) {
        if (m->u.result.status == 200) {
            /* A connection that only pushes moves to the FQDN's owner once idle, where its
             * next pushes are answered without a verdict (poll.c). */
            if (!c->polled && m->fqdn_len) {
                memcpy(c->fqdn, m->fqdn, (size_t)m->fqdn_len + 1);
                c->fqdn_len = m->fqdn_len;
                c->move_to = (uint16_t)(m->u.result.owner + 1);
            }
            push_respond_ok(c);
        } else if (m->u.result.status == 403) {
            /* The scrape's worker wrote why, naming the certificate and the FQDN. */
            metrics_inc(&wk->counters.identity_rejections[1]);
            log_warn("push", "push refused: the certificate does not name the scrape's FQDN",
                     LOG_STRN("reason", m->fqdn, m->fqdn_len));
            conn_respond_text(c, 403, NULL, "Error pushing: %.*s\n", (int)m->fqdn_len, m->fqdn);
        } else {
            push_refuse(c, m->u.result.status, m->u.result.reason);
        }
    }
    msg_free(m);
}
