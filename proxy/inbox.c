/* inbox.c - cross-worker message passing: SPSC ck_rings plus uv_async (see inbox.h).
 *
 * Owner: the ring members[to]->from[from] has one producer, member `from`'s thread, and
 * one consumer, member `to`'s thread. Each inbox's backlog and local list are its own.
 * ck_ring publishes with its own fences; ThreadSanitizer cannot see those (they are
 * volatile accesses in ck_pr), so TSan builds annotate the hand-off explicitly with
 * __tsan_release/__tsan_acquire on the ring, and tests/tsan.supp silences the ring's
 * internal accesses. */
#include "inbox.h"

#include <errno.h>
#include <stdlib.h>

#ifdef PUSHPROX_TSAN
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define TSAN_RELEASE(p) ((void)0)
#define TSAN_ACQUIRE(p) ((void)0)
#endif

static void on_async(uv_async_t *handle);
static void on_local_idle(uv_idle_t *idle);
static void on_local_check(uv_check_t *check);
static void on_retry(uv_timer_t *timer);

int inbox_group_init(struct inbox_group *g, uint16_t n)
{
    g->n = n;
    g->stopping = 0;
    g->members = calloc(n, sizeof(*g->members));
    return g->members ? 0 : UV_ENOMEM;
}

void inbox_group_close(struct inbox_group *g)
{
    free(g->members);
    g->members = NULL;
    g->n = 0;
}

void inbox_group_stop(struct inbox_group *g)
{
    __atomic_store_n(&g->stopping, 1, __ATOMIC_RELEASE);
}

static bool group_stopping(const struct inbox_group *g)
{
    return __atomic_load_n(&g->stopping, __ATOMIC_ACQUIRE) != 0;
}

int inbox_init(struct inbox *in, struct inbox_group *g, uint16_t id, uv_loop_t *loop,
               inbox_receive_cb receive, void *ctx, struct counters *counters)
{
    int rc;

    in->group = g;
    in->id = id;
    in->receive = receive;
    in->receive_ctx = ctx;
    in->counters = counters;
    list_init(&in->local);
    g->members[id] = in;
    in->from = calloc(g->n, sizeof(*in->from));
    in->backlog = calloc(g->n, sizeof(*in->backlog));
    if (!in->from || !in->backlog)
        return UV_ENOMEM;
    for (uint16_t i = 0; i < g->n; i++) {
        list_init(&in->backlog[i]);
        in->from[i].slots = calloc(INBOX_RING_SIZE, sizeof(*in->from[i].slots));
        if (!in->from[i].slots)
            return UV_ENOMEM;
        ck_ring_init(&in->from[i].ring, INBOX_RING_SIZE);
    }
    if ((rc = uv_async_init(loop, &in->async, on_async)) != 0 ||
        (rc = uv_timer_init(loop, &in->retry)) != 0 ||
        (rc = uv_idle_init(loop, &in->local_idle)) != 0 ||
        (rc = uv_check_init(loop, &in->local_check)) != 0)
        return rc;
    in->async.data = in;
    in->retry.data = in;
    in->local_idle.data = in;
    in->local_check.data = in;
    return 0;
}

void inbox_close_handles(struct inbox *in)
{
    uv_close((uv_handle_t *)&in->async, NULL);
    uv_close((uv_handle_t *)&in->retry, NULL);
    uv_close((uv_handle_t *)&in->local_idle, NULL);
    uv_close((uv_handle_t *)&in->local_check, NULL);
}

static void free_list(struct list *head)
{
    struct list *l;

    while ((l = list_pop_front(head)) != NULL)
        msg_free(list_entry(l, struct msg, link));
}

void inbox_close(struct inbox *in)
{
    void *p;

    if (in->from) {
        for (uint16_t i = 0; i < in->group->n; i++) {
            while (in->from[i].slots &&
                   ck_ring_dequeue_spsc(&in->from[i].ring, in->from[i].slots, &p))
                msg_free(p);
            free(in->from[i].slots);
        }
    }
    if (in->backlog)
        for (uint16_t i = 0; i < in->group->n; i++)
            free_list(&in->backlog[i]);
    free_list(&in->local);
    free(in->from);
    free(in->backlog);
    in->from = NULL;
    in->backlog = NULL;
}

static bool ring_put(struct inbox *to, uint16_t from, struct msg *m)
{
    struct inbox_ring *r = &to->from[from];

    TSAN_RELEASE(&r->ring);
    return ck_ring_enqueue_spsc(&r->ring, r->slots, m);
}

/* SCRAPE, PUSH and a scrape's move admit new work; everything else answers work already
 * admitted (a move back included: its sender holds nothing to serve it with). */
static bool is_request(const struct msg *m)
{
    return m->type == MSG_SCRAPE || m->type == MSG_PUSH ||
           (m->type == MSG_SCRAPE_MOVE && !m->u.move.back);
}

int inbox_send(struct inbox *from, uint16_t to, struct msg *m)
{
    struct inbox *dst = from->group->members[to];

    m->from = from->id;
    if (group_stopping(from->group)) {
        msg_free(m); /* nobody will answer any more; the loops are ending */
        return 0;
    }
    if (to == from->id) {
        list_push_back(&from->local, &m->link);
        if (!uv_is_active((uv_handle_t *)&from->local_idle)) {
            uv_idle_start(&from->local_idle, on_local_idle);
            uv_check_start(&from->local_check, on_local_check);
        }
        return 0;
    }
    /* Order per receiver is kept: nothing overtakes a backlog. */
    if (list_empty(&from->backlog[to]) && ring_put(dst, from->id, m)) {
        uv_async_send(&dst->async);
        return 0;
    }
    if (is_request(m)) {
        counters_limit(from->counters, LIMIT_INBOX_RING);
        return -EAGAIN;
    }
    list_push_back(&from->backlog[to], &m->link);
    metrics_inc(&from->counters->backlogged);
    if (!uv_is_active((uv_handle_t *)&from->retry))
        uv_timer_start(&from->retry, on_retry, INBOX_RETRY_MS, 0);
    return 0;
}

/* Moves what it can of each backlog into its ring; re-arms itself while any is left. */
static void on_retry(uv_timer_t *timer)
{
    struct inbox *in = timer->data;
    struct inbox_group *g = in->group;
    bool left = false;

    /* Once stopping, a receiver may already be gone: send nothing more (the backlog is
     * freed with the inbox). */
    if (group_stopping(g))
        return;
    for (uint16_t to = 0; to < g->n; to++) {
        bool sent = false;
        struct list *l;
        while ((l = list_first(&in->backlog[to])) != NULL) {
            struct msg *m = list_entry(l, struct msg, link);
            /* Unlink before the put: once in the ring, m is the receiver's. */
            list_remove(l);
            if (!ring_put(g->members[to], in->id, m)) {
                list_push_front(&in->backlog[to], l);
                break;
            }
            sent = true;
        }
        if (!list_empty(&in->backlog[to]))
            left = true;
        if (sent)
            uv_async_send(&g->members[to]->async);
    }
    if (left)
        uv_timer_start(&in->retry, on_retry, INBOX_RETRY_MS, 0);
}

static void receive(struct inbox *in, struct msg *m)
{
    metrics_inc(&in->counters->msgs_received);
    in->receive(in->receive_ctx, m);
}

/* Drains every ring, up to INBOX_BATCH messages; if more wait, wakes itself again so I/O
 * gets its turn between batches. */
static void on_async(uv_async_t *handle)
{
    struct inbox *in = handle->data;
    unsigned handled = 0;
    uint64_t depth = 0;
    void *p;

    for (uint16_t i = 0; i < in->group->n; i++) {
        struct inbox_ring *r = &in->from[i];
        while (handled < INBOX_BATCH && ck_ring_dequeue_spsc(&r->ring, r->slots, &p)) {
            TSAN_ACQUIRE(&r->ring);
            receive(in, p);
            handled++;
        }
        depth += ck_ring_size(&r->ring);
    }
    metrics_set(&in->counters->inbox_depth, depth);
    if (depth > 0)
        uv_async_send(&in->async);
}

/* Our own messages, including those their handlers send themselves, up to INBOX_BATCH;
 * any left wait for the next turn (the idle handle keeps it from blocking). */
static void drain_local(struct inbox *in)
{
    struct list *l;
    unsigned handled = 0;

    while (handled < INBOX_BATCH && (l = list_pop_front(&in->local)) != NULL) {
        receive(in, list_entry(l, struct msg, link));
        handled++;
    }
    if (list_empty(&in->local)) {
        uv_idle_stop(&in->local_idle);
        uv_check_stop(&in->local_check);
    }
}

static void on_local_idle(uv_idle_t *idle)
{
    drain_local(idle->data);
}

static void on_local_check(uv_check_t *check)
{
    drain_local(check->data);
}
