/* msg.c - allocation of cross-worker messages (see msg.h). Messages are plain malloc:
 * one is freed by the thread that receives it, and glibc's per-thread arenas make that
 * cheap, while a per-worker pool would need a message back to return each one. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "http.h"

struct msg *msg_new_meta(enum msg_type type, const char *fqdn, size_t fqdn_len, const char *meta,
                         size_t meta_len)
{
    struct msg *m;

    if (!fqdn)
        fqdn_len = 0;
    if (!(m = calloc(1, sizeof(*m) + fqdn_len + 1 + meta_len)))
        return NULL;
    m->type = type;
    if (fqdn_len)
        memcpy(m->fqdn, fqdn, fqdn_len);
    m->fqdn_len = (uint16_t)fqdn_len;
    if (meta_len)
        memcpy(m->fqdn + fqdn_len + 1, meta, meta_len);
    m->meta_len = (uint16_t)meta_len;
    return m;
}

struct msg *msg_new(enum msg_type type, const char *fqdn, size_t fqdn_len)
{
    return msg_new_meta(type, fqdn, fqdn_len, NULL, 0);
}

void msg_free(struct msg *m)
{
    if (!m)
        return;
    switch (m->type) {
    case MSG_SCRAPE:
    case MSG_DELIVER:
    case MSG_REDELIVER: free(m->u.job.req); break;
    case MSG_PUSH:
        free(m->u.push.head);
        free(m->u.push.body_base);
        budget_give(m->u.push.reserved);
        break;
    case MSG_CLIENTS_REPLY: free(m->u.clients.json); break;
    case MSG_CONN_MOVE:
    case MSG_SCRAPE_MOVE:
        /* A connection nobody took (the process is stopping): closing it is all we can do. */
        if (m->u.move.fd >= 0)
            close(m->u.move.fd);
        free(m->u.move.pending);
        if (m->u.move.head) {
            http_head_close(m->u.move.head);
            free(m->u.move.head);
        }
        break;
    default: break;
    }
    free(m);
}

const char *msg_type_name(enum msg_type type)
{
    static const char *const names[MSG_TYPE_COUNT] = {
        "poll_wait",     "poll_gone",    "poll_evict",  "poll_refuse",
        "scrape",        "scrape_fail",  "deliver",     "redeliver",
        "push",          "push_result",  "clients_req", "clients_reply",
        "scrape_cancel", "scrape_error", "conn_gone",   "conn_move",
        "scrape_move",
    };
    return (unsigned)type < MSG_TYPE_COUNT ? names[type] : "unknown";
}
