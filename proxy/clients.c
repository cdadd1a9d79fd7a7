/* clients.c - GET /clients, gathered from every worker's shard.
 *
 * Owner: the connection asking, and the JSON it gathers, belong to its worker (S). S
 * sends CLIENTS_REQ to every worker, itself included; each answers CLIENTS_REPLY with its
 * shard's listed FQDNs as JSON array elements; the last reply completes the response.
 * Reading another worker's ck_ht directly would need it to defer frees; a message round
 * costs a few microseconds per worker and keeps every shard single-threaded. */
#include "clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

#include "conn.h"
#include "log.h"
#include "worker.h"

/* Bound of one /clients answer: ~50 bytes per FQDN, so about two million clients. */
#define CLIENTS_MAX_BYTES (128u * 1024 * 1024)

/* The ?view= of the request: targets (default), exporters or detail; -1 for anything else. */
static int view_of(const struct http_head *h)
{
    const char *url = http_head_str(h, h->url_off), *q = memchr(url, '?', h->url_len);
    const char *end = url + h->url_len;

    for (const char *p = q ? q + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;
        size_t n = (size_t)(e - p);
        if (n > 5 && memcmp(p, "view=", 5) == 0) {
            if (http_str_ieq(p + 5, n - 5, "targets"))
                return REGISTRY_VIEW_TARGETS;
            if (http_str_ieq(p + 5, n - 5, "exporters"))
                return REGISTRY_VIEW_EXPORTERS;
            if (http_str_ieq(p + 5, n - 5, "detail"))
                return REGISTRY_VIEW_DETAIL;
            return -1;
        }
        p = e + (amp ? 1 : 0);
    }
    return REGISTRY_VIEW_TARGETS;
}

void clients_on_request(struct conn *c)
{
    struct worker *wk = worker_of(c);
    int view = view_of(c->head);

    if (view < 0) {
        conn_respond_text(c, 400, NULL,
                          "Error listing clients: ?view= must be targets, exporters or detail\n");
        return;
    }
    conn_release_head(c);
    c->gathered = malloc(sizeof(*c->gathered));
    if (!c->gathered) {
        conn_close(c, "out of memory");
        return;
    }
    buf_init(c->gathered, CLIENTS_MAX_BYTES);
    c->n_waiting = wk->group->n;
    for (uint16_t i = 0; i < wk->group->n; i++) {
        struct msg *m = msg_new(MSG_CLIENTS_REQ, NULL, 0);
        if (!m) {
            c->n_waiting--; /* answered without that shard rather than never */
            continue;
        }
        m->ref = conn_ref(c);
        m->u.clients.view = view;
        inbox_send(&wk->inbox, i, m);
    }
    if (c->n_waiting == 0)
        conn_close(c, "out of memory");
}

void clients_on_cancel(struct conn *c)
{
    if (c->gathered) {
        buf_close(c->gathered);
        free(c->gathered);
        c->gathered = NULL;
    }
}

void clients_on_req(struct worker *wk, struct msg *m)
{
    struct buf out;
    uint16_t to = m->from;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = uv_now(&wk->loop);
    struct registry_listing how = {
        .view = (enum registry_view)m->u.clients.view,
        .replica_json = config_replica_json(),
        .wall_offset_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - (int64_t)now_ms,
    };

    buf_init(&out, CLIENTS_MAX_BYTES);
    if (registry_write_clients(&wk->reg, &out, now_ms, &how) != 0)
        log_warn("clients", "client list truncated", LOG_STR("limit", "CLIENTS_MAX_BYTES"));
    m->type = MSG_CLIENTS_REPLY;
    m->u.clients.len = out.len;
    m->u.clients.json = buf_steal(&out);
    inbox_send(&wk->inbox, to, m);
}

void clients_on_reply(struct worker *wk, struct msg *m)
{
    struct conn *c = conn_lookup(&wk->conns, m->ref);
    struct buf *json;

    if (!c || c->state != CONN_WAITING || !c->gathered) {
        msg_free(m);
        return;
    }
    json = c->gathered;
    /* A shard's list goes in whole or not at all, so the JSON stays valid at the limit. */
    if (m->u.clients.len) {
        if (buf_reserve(json, m->u.clients.len + 1) != 0)
            log_warn("clients", "client list truncated", LOG_STR("limit", "CLIENTS_MAX_BYTES"));
        else if (json->len)
            buf_append(json, ",", 1);
        if (json->cap - json->len >= m->u.clients.len)
            buf_append(json, m->u.clients.json, m->u.clients.len);
    }
    msg_free(m);
    if (--c->n_waiting > 0)
        return;
    /* "[]", never "null", when empty, as upstream. */
    char head[128];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n[",
                     json->len + 2);
    struct buf out;
    buf_init(&out, (size_t)n + json->len + 1);
    if (buf_append(&out, head, (size_t)n) != 0 ||
        (json->len && buf_append(&out, json->base, json->len) != 0) ||
        buf_append(&out, "]", 1) != 0) {
        buf_close(&out);
        conn_close(c, "out of memory"); /* frees what was gathered (on_cancel) */
        return;
    }
    clients_on_cancel(c);
    uv_buf_t b = buf_as_uv(&out);
    conn_respond(c, 200, &b, 1, buf_steal(&out), NULL);
}
