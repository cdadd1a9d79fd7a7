/* dispatch.c - every message a worker receives, by type; see msg.h for who sends which.
 * Owner: no state of its own; each handler touches only the receiving worker's objects.
 * Runs on the receiving worker's loop, called by its inbox (inbox.c). */
#include "dispatch.h"

#include "clients.h"
#include "log.h"
#include "poll.h"
#include "push.h"
#include "registry.h"
#include "scrape.h"
#include "worker.h"

void dispatch_msg(void *ctx, struct msg *m)
{
    struct worker *wk = ctx;

    switch (m->type) {
    case MSG_POLL_WAIT: registry_on_poll_wait(&wk->reg, m); return;
    case MSG_POLL_GONE: registry_on_poll_gone(&wk->reg, m); return;
    case MSG_SCRAPE:
    case MSG_REDELIVER: registry_on_scrape(&wk->reg, m); return;
    case MSG_SCRAPE_CANCEL: registry_on_scrape_cancel(&wk->reg, m); return;
    case MSG_SCRAPE_ERROR: registry_on_scrape_error(&wk->reg, m); return;
    case MSG_CONN_GONE: registry_on_conn_gone(&wk->reg, m); return;
    case MSG_POLL_EVICT:
    case MSG_POLL_REFUSE: poll_on_evict(wk, m); return;
    case MSG_DELIVER: poll_on_deliver(wk, m); return;
    case MSG_CONN_MOVE: poll_on_move(wk, m); return;
    case MSG_SCRAPE_MOVE: scrape_on_move(wk, m); return;
    case MSG_SCRAPE_FAIL: scrape_on_fail(wk, m); return;
    case MSG_PUSH: scrape_on_push(wk, m); return;
    case MSG_PUSH_RESULT: push_on_result(wk, m); return;
    case MSG_CLIENTS_REQ: clients_on_req(wk, m); return;
    case MSG_CLIENTS_REPLY: clients_on_reply(wk, m); return;
    case MSG_TYPE_COUNT: break;
    }
    log_error("dispatch", "unknown message type", LOG_INT("type", m->type));
    msg_free(m);
}
