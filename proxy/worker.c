/* worker.c - one worker's state: assembled, and taken apart (see worker.h).
 * Owner: worker_init() and worker_close() run on main's thread, before the worker's thread
 * starts and after it ended; worker_close_handles() runs on the worker's own loop. */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fqdn.h"

int worker_group_init(struct worker_group *g, uint16_t n)
{
    g->n = n;
    g->workers = calloc(n, sizeof(*g->workers));
    if (!g->workers)
        return UV_ENOMEM;
    return inbox_group_init(&g->inboxes, n);
}

void worker_group_close(struct worker_group *g)
{
    inbox_group_close(&g->inboxes);
    free(g->workers);
    g->workers = NULL;
    g->n = 0;
}

int worker_init(struct worker *wk, struct worker_group *g, uint16_t id,
                const struct route_table *routes, inbox_receive_cb receive)
{
    int rc;

    wk->id = id;
    wk->group = g;
    list_init(&wk->holds);
    counters_init(&wk->counters);
    if ((rc = uv_loop_init(&wk->loop)) != 0)
        return rc;
    wk->loop.data = wk;
    if ((rc = conn_table_init(&wk->conns, &wk->loop, id, (uint32_t)config.web_max_connections,
                              routes, &wk->counters)) != 0 ||
        (rc = scrape_slots_init(&wk->scrapes, &wk->loop, id,
                                (uint32_t)config.scrape_max_in_flight)) != 0 ||
        (rc = inbox_init(&wk->inbox, &g->inboxes, id, &wk->loop, receive, wk, &wk->counters)) !=
            0 ||
        (rc = registry_init(&wk->reg, &wk->loop, &wk->inbox, &wk->counters)) != 0)
        return rc;
    wk->conns.n_tables = g->n;
    return conn_table_start(&wk->conns);
}

void worker_close_handles(struct worker *wk)
{
    inbox_close_handles(&wk->inbox);
    scrape_slots_close_handles(&wk->scrapes);
    registry_close_handles(&wk->reg);
    conn_table_stop(&wk->conns);
}

void worker_close(struct worker *wk)
{
    inbox_close(&wk->inbox);
    registry_close(&wk->reg);
    scrape_slots_close(&wk->scrapes);
    conn_table_close(&wk->conns);
}

uint16_t worker_owner(const struct worker *wk, const char *fqdn, size_t len)
{
    return fqdn_owner(fqdn, len, wk->group->n);
}

void worker_forget_poller(struct worker *wk, struct conn *c, bool waiting)
{
    struct msg *m;

    if (!c->polled)
        return;
    c->polled = false;
    /* Without memory the owner keeps counting it: its scrapes just wait for their timeout. */
    if ((m = msg_new(MSG_CONN_GONE, c->fqdn, c->fqdn_len)) != NULL) {
        m->u.poll.waiting = waiting;
        inbox_send(&wk->inbox, worker_owner(wk, c->fqdn, c->fqdn_len), m);
    }
}

bool worker_group_ready(const struct worker_group *g)
{
    return __atomic_load_n(&g->running, __ATOMIC_ACQUIRE) == g->n &&
           !__atomic_load_n(&g->draining, __ATOMIC_ACQUIRE);
}
