/* inbox.c - cross-worker message passing: SPSC ck_rings plus uv_async (see inbox.h).
 *
 * Owner: the ring workers[to].inbox.from[from] has one producer, worker `from`'s thread,
 * and one consumer, worker `to`'s thread. Each worker's backlog and local list are its
 * own. ck_ring publishes with its own fences; ThreadSanitizer cannot see those (they are
 * volatile accesses in ck_pr), so TSan builds annotate the hand-off explicitly with
 * __tsan_release/__tsan_acquire on the ring, and tests/tsan.supp silences the ring's
 * internal accesses. */
#include "inbox.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "worker.h"

#ifdef PUSHPROX_TSAN
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define TSAN_RELEASE(p) ((void)0)
#define TSAN_ACQUIRE(p) ((void)0)
#endif

static void on_async(uv_async_t *handle);
static void on_local(uv_idle_t *idle);
static void on_retry(uv_timer_t *timer);

int inbox_init(struct worker *wk)
{
    struct inbox *in = &wk->inbox;
    int rc;

    in->from = calloc(n_workers, sizeof(*in->from));
    in->backlog_head = calloc(n_workers, sizeof(*in->backlog_head));
    in->backlog_tail = calloc(n_workers, sizeof(*in->backlog_tail));
    if (!in->from || !in->backlog_head || !in->backlog_tail)
        return UV_ENOMEM;
    for (uint16_t i = 0; i < n_workers; i++) {
        in->from[i].slots = calloc(INBOX_RING_SIZE, sizeof(*in->from[i].slots));
        if (!in->from[i].slots)
            return UV_ENOMEM;
        ck_ring_init(&in->from[i].ring, INBOX_RING_SIZE);
    }
    if ((rc = uv_async_init(&wk->loop, &in->async, on_async)) != 0 ||
        (rc = uv_timer_init(&wk->loop, &in->retry)) != 0 ||
        (rc = uv_idle_init(&wk->loop, &in->local)) != 0)
        return rc;
    in->async.data = wk;
    in->retry.data = wk;
    in->local.data = wk;
    return 0;
}

void inbox_close(struct worker *wk)
{
    uv_close((uv_handle_t *)&wk->inbox.async, NULL);
    uv_close((uv_handle_t *)&wk->inbox.retry, NULL);
    uv_close((uv_handle_t *)&wk->inbox.local, NULL);
}

static void free_list(struct msg *m)
{
    while (m) {
        struct msg *next = m->next;
        msg_free(m);
        m = next;
    }
}

void inbox_drain_free(struct worker *wk)
{
    struct inbox *in = &wk->inbox;
    void *p;

    if (!in->from)
        return;
    for (uint16_t i = 0; i < n_workers; i++) {
        while (ck_ring_dequeue_spsc(&in->from[i].ring, in->from[i].slots, &p))
            msg_free(p);
        free(in->from[i].slots);
        free_list(in->backlog_head[i]);
    }
    free_list(in->local_head);
    free(in->from);
    free(in->backlog_head);
    free(in->backlog_tail);
    in->from = NULL;
}

static void list_append(struct msg **head, struct msg **tail, struct msg *m)
{
    m->next = NULL;
    if (*tail)
        (*tail)->next = m;
    else
        *head = m;
    *tail = m;
}

static bool ring_put(struct worker *to, uint16_t from, struct msg *m)
{
    struct inbox_ring *r = &to->inbox.from[from];

    TSAN_RELEASE(&r->ring);
    return ck_ring_enqueue_spsc(&r->ring, r->slots, m);
}

/* SCRAPE and PUSH admit new work; everything else answers work already admitted. */
static bool is_request(enum msg_type type)
{
    return type == MSG_SCRAPE || type == MSG_PUSH;
}

int inbox_send(struct worker *from, uint16_t to, struct msg *m)
{
    struct inbox *in = &from->inbox;

    m->from = from->id;
    if (__atomic_load_n(&workers_stopping, __ATOMIC_ACQUIRE)) {
        msg_free(m); /* nobody will answer any more; the loops are ending */
        return 0;
    }
    if (to == from->id) {
        list_append(&in->local_head, &in->local_tail, m);
        if (!uv_is_active((uv_handle_t *)&in->local))
            uv_idle_start(&in->local, on_local);
        return 0;
    }
    /* Order per receiver is kept: nothing overtakes a backlog. */
    if (!in->backlog_head[to] && ring_put(&workers[to], from->id, m)) {
        uv_async_send(&workers[to].inbox.async);
        return 0;
    }
    if (is_request(m->type)) {
        stats_limit(&from->stats, LIMIT_INBOX_RING);
        return -EAGAIN;
    }
    list_append(&in->backlog_head[to], &in->backlog_tail[to], m);
    metrics_inc(&from->stats.backlogged);
    if (!uv_is_active((uv_handle_t *)&in->retry))
        uv_timer_start(&in->retry, on_retry, INBOX_RETRY_MS, 0);
    return 0;
}

/* Moves what it can of each backlog into its ring; re-arms itself while any is left. */
static void on_retry(uv_timer_t *timer)
{
    struct worker *wk = timer->data;
    struct inbox *in = &wk->inbox;
    bool left = false;

    /* Once stopping, a receiver may already be gone: send nothing more (the backlog is
     * freed with the inbox). */
    if (__atomic_load_n(&workers_stopping, __ATOMIC_ACQUIRE))
        return;

    for (uint16_t to = 0; to < n_workers; to++) {
        bool sent = false;
        struct msg *m;
        while ((m = in->backlog_head[to]) != NULL) {
            struct msg *next = m->next; /* once in the ring, m is the receiver's */
            if (!ring_put(&workers[to], wk->id, m))
                break;
            in->backlog_head[to] = next;
            sent = true;
        }
        if (!in->backlog_head[to])
            in->backlog_tail[to] = NULL;
        else
            left = true;
        if (sent)
            uv_async_send(&workers[to].inbox.async);
    }
    if (left)
        uv_timer_start(&in->retry, on_retry, INBOX_RETRY_MS, 0);
}

/* Drains every ring, up to INBOX_BATCH messages; if more wait, wakes itself again so I/O
 * gets its turn between batches. */
static void on_async(uv_async_t *handle)
{
    struct worker *wk = handle->data;
    struct inbox *in = &wk->inbox;
    unsigned handled = 0;
    uint64_t depth = 0;
    void *p;

    for (uint16_t i = 0; i < n_workers; i++) {
        struct inbox_ring *r = &in->from[i];
        while (handled < INBOX_BATCH && ck_ring_dequeue_spsc(&r->ring, r->slots, &p)) {
            TSAN_ACQUIRE(&r->ring);
            worker_handle_msg(wk, p);
            handled++;
        }
        depth += ck_ring_size(&r->ring);
    }
    metrics_set(&wk->stats.inbox_depth, depth);
    if (depth > 0)
        uv_async_send(&in->async);
}

/* Our own messages: only those on the list now, as handlers may append more (they run on
 * the next turn). */
static void on_local(uv_idle_t *idle)
{
    struct worker *wk = idle->data;
    struct inbox *in = &wk->inbox;
    struct msg *m = in->local_head;

    in->local_head = in->local_tail = NULL;
    while (m) {
        struct msg *next = m->next;
        worker_handle_msg(wk, m);
        m = next;
    }
    if (!in->local_head)
        uv_idle_stop(idle);
}
