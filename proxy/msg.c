/* msg.c - allocation of cross-worker messages (see msg.h). Messages are plain malloc:
 * one is freed by the thread that receives it, and glibc's per-thread arenas make that
 * cheap, while a per-worker pool would need a message back to return each one. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

struct msg *msg_new(enum msg_type type, const char *fqdn, size_t fqdn_len)
{
    struct msg *m = calloc(1, sizeof(*m) + (fqdn ? fqdn_len + 1 : 1));
    if (!m)
        return NULL;
    m->type = type;
    if (fqdn) {
        memcpy(m->fqdn, fqdn, fqdn_len);
        m->fqdn_len = (uint16_t)fqdn_len;
    }
    return m;
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
        break;
    case MSG_CLIENTS_REPLY: free(m->u.clients.json); break;
    default: break;
    }
    free(m);
}

const char *msg_type_name(enum msg_type type)
{
    static const char *const names[MSG_TYPE_COUNT] = {
        "poll_wait",   "poll_gone",     "poll_evict",    "poll_refuse", "scrape",
        "scrape_fail", "deliver",       "redeliver",     "push",        "push_result",
        "clients_req", "clients_reply", "scrape_cancel",
    };
    return (unsigned)type < MSG_TYPE_COUNT ? names[type] : "unknown";
}
