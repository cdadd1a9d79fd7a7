/* fold.c - every loop on worker 0's thread while the load is low (see fold.h).
 *
 * A member's state, and who may change it:
 *   OWN    -> ASKED   worker 0 (fold_tick), then wakes the member's `ask`
 *   ASKED  -> PARKED  the member's thread, once its uv_run returned; then it wakes worker 0
 *                     and sleeps on `resume`; from here the loop belongs to worker 0
 *   ASKED  -> OWN     worker 0, when it gives up before the member parked
 *   PARKED -> HOSTED  worker 0: it watches and runs the loop
 *   PARKED, HOSTED -> OWN   worker 0, then posts `resume`: the loop is the member's again
 * ASKED -> PARKED and ASKED -> OWN race; both are compare-and-swaps, so one wins. */
#include "fold.h"

#include <sys/resource.h>

#include "log.h"

static void on_ask(uv_async_t *handle);
static void on_wake(uv_async_t *handle);
static void on_host_readable(uv_poll_t *handle, int status, int events);
static void on_host_timer(uv_timer_t *timer);

static int state_of(const struct worker *wk)
{
    return __atomic_load_n(&wk->fold.state, __ATOMIC_ACQUIRE);
}

static bool swap_state(struct worker *wk, int from, int to)
{
    return __atomic_compare_exchange_n(&wk->fold.state, &from, to, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

int fold_init(struct worker_group *g)
{
    int rc;

    /* Worker 0 hosts and is never lent: members are workers 1..n-1. */
    for (uint16_t i = 1; i < g->n; i++) {
        struct worker *wk = &g->workers[i];
        wk->fold.state = FOLD_OWN;
        if ((rc = uv_sem_init(&wk->fold.resume, 0)) != 0)
            return rc;
        if ((rc = uv_async_init(&wk->loop, &wk->fold.ask, on_ask)) != 0)
            return rc;
        wk->fold.ask.data = wk;
        /* Worker 0's handles for hosting this loop, made now like every other handle. */
        if ((rc = uv_poll_init(&g->workers[0].loop, &wk->fold.host_poll,
                               uv_backend_fd(&wk->loop))) != 0)
            return rc;
        wk->fold.host_poll.data = wk;
        if ((rc = uv_timer_init(&g->workers[0].loop, &wk->fold.host_timer)) != 0)
            return rc;
        wk->fold.host_timer.data = wk;
    }
    if ((rc = uv_sem_init(&g->fold.released, 0)) != 0)
        return rc;
    if ((rc = uv_async_init(&g->workers[0].loop, &g->fold.wake, on_wake)) != 0)
        return rc;
    g->fold.wake.data = g;
    g->fold.made = true;
    return 0;
}

void fold_close(struct worker_group *g)
{
    if (!g->fold.made)
        return;
    for (uint16_t i = 1; i < g->n; i++)
        uv_sem_destroy(&g->workers[i].fold.resume);
    uv_sem_destroy(&g->fold.released);
    g->fold.made = false;
}

void fold_close_handles(struct worker *wk)
{
    struct worker_group *g = wk->group;

    if (!g->fold.made)
        return;
    if (wk->id != 0) {
        uv_close((uv_handle_t *)&wk->fold.ask, NULL);
        return;
    }
    uv_close((uv_handle_t *)&g->fold.wake, NULL);
    for (uint16_t i = 1; i < g->n; i++) {
        uv_close((uv_handle_t *)&g->workers[i].fold.host_poll, NULL);
        uv_close((uv_handle_t *)&g->workers[i].fold.host_timer, NULL);
    }
}

/* --- the member's thread --- */

void fold_run_thread(struct worker *wk)
{
    for (;;) {
        uv_run(&wk->loop, UV_RUN_DEFAULT);
        if (swap_state(wk, FOLD_ASKED, FOLD_PARKED)) {
            /* The loop is worker 0's until it posts `resume`: touch nothing of it. */
            uv_async_send(&wk->group->fold.wake);
            uv_sem_wait(&wk->fold.resume);
            continue;
        }
        if (!uv_loop_alive(&wk->loop))
            return;
        /* uv_stop() for a fold that worker 0 called off meanwhile: run on. */
    }
}

/* On the member's own loop: leave uv_run, so that fold_run_thread can lend the loop. */
static void on_ask(uv_async_t *handle)
{
    struct worker *wk = handle->data;

    if (state_of(wk) == FOLD_ASKED)
        uv_stop(&wk->loop);
}

/* --- worker 0's thread: hosting --- */

/* Whether the loop has descriptors to add to (or change in) its epoll set. libuv 1.44
 * only queues a watcher that starts (uv__io_start) and makes the epoll_ctl call at the
 * loop's next poll; uv_backend_timeout() does not count that queue. A lent loop that
 * just accepted or adopted a connection must poll again at once, or it would not hear
 * from that connection before its next timer. An empty queue points at itself. */
static bool watchers_queued(const uv_loop_t *loop)
{
    return loop->watcher_queue[0] != (const void *)&loop->watcher_queue;
}

/* Runs a lent loop without blocking until its new watchers are in its epoll set (at most
 * FOLD_RUNS_MAX times), and wakes worker 0 again when its next timer is due
 * (uv_backend_timeout: 0 when it has work pending, -1 when it has no timer). */
static void run_hosted(struct worker *member)
{
    struct fold_member *m = &member->fold;
    int timeout;

    for (int i = 0; i < FOLD_RUNS_MAX; i++) {
        uv_run(&member->loop, UV_RUN_NOWAIT);
        if (!watchers_queued(&member->loop))
            break;
    }
    timeout = watchers_queued(&member->loop) ? 0 : uv_backend_timeout(&member->loop);
    if (timeout >= 0)
        uv_timer_start(&m->host_timer, on_host_timer, (uint64_t)timeout, 0);
    else
        uv_timer_stop(&m->host_timer);
}

static void on_host_readable(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    run_hosted(handle->data);
}

static void on_host_timer(uv_timer_t *timer)
{
    run_hosted(timer->data);
}

static void count_lent(struct worker_group *g)
{
    uint64_t n = 0;

    for (uint16_t i = 1; i < g->n; i++)
        n += state_of(&g->workers[i]) == FOLD_HOSTED;
    metrics_set(&g->workers[0].counters.loops_lent, n);
}

/* PARKED -> HOSTED: worker 0 starts watching member's loop. */
static void host(struct worker *member)
{
    __atomic_store_n(&member->fold.state, FOLD_HOSTED, __ATOMIC_RELEASE);
    uv_poll_start(&member->fold.host_poll, UV_READABLE, on_host_readable);
    run_hosted(member);
}

/* Any state -> OWN; a loop that was parked or hosted goes back to its thread. */
static void give_back(struct worker *member)
{
    struct fold_member *m = &member->fold;

    if (swap_state(member, FOLD_ASKED, FOLD_OWN))
        return; /* it had not parked yet; its uv_run goes on */
    switch (state_of(member)) {
    case FOLD_HOSTED:
        uv_poll_stop(&m->host_poll);
        uv_timer_stop(&m->host_timer);
        /* fall through */
    case FOLD_PARKED:
        __atomic_store_n(&m->state, FOLD_OWN, __ATOMIC_RELEASE);
        uv_sem_post(&m->resume);
        break;
    default:
        break;
    }
}

static void unfold(struct worker_group *g, const char *why, unsigned cpu_percent)
{
    for (uint16_t i = 1; i < g->n; i++)
        give_back(&g->workers[i]);
    count_lent(g);
    if (g->fold.folded)
        log_info("fold", "workers back on their own threads", LOG_STR("why", why),
                 LOG_UINT("cpu_percent", cpu_percent));
    g->fold.folded = false;
    g->fold.low_ticks = 0;
}

/* A member parked (host it), or fold_release wants every loop back. */
static void on_wake(uv_async_t *handle)
{
    struct worker_group *g = handle->data;

    if (__atomic_load_n(&g->fold.releasing, __ATOMIC_ACQUIRE)) {
        unfold(g, "stopping", 0);
        uv_sem_post(&g->fold.released);
        return;
    }
    for (uint16_t i = 1; i < g->n; i++)
        if (state_of(&g->workers[i]) == FOLD_PARKED)
            host(&g->workers[i]);
    count_lent(g);
}

/* --- worker 0's thread: deciding --- */

static uint64_t process_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

void fold_tick(struct worker *wk)
{
    struct worker_group *g = wk->group;
    struct fold_group *f = &g->fold;
    uint64_t cpu, wall;
    unsigned percent;

    if (wk->id != 0 || !f->made || f->below_percent == 0 || g->n < 2 ||
        __atomic_load_n(&f->releasing, __ATOMIC_ACQUIRE))
        return;
    cpu = process_cpu_us();
    wall = uv_hrtime() / 1000;
    if (!f->last_wall_us || wall <= f->last_wall_us) {
        f->last_cpu_us = cpu;
        f->last_wall_us = wall;
        return;
    }
    percent = (unsigned)((cpu - f->last_cpu_us) * 100 / (wall - f->last_wall_us));
    f->last_cpu_us = cpu;
    f->last_wall_us = wall;
    if (f->folded) {
        if (percent >= 2 * f->below_percent)
            unfold(g, "load", percent);
        return;
    }
    if (percent >= f->below_percent) {
        f->low_ticks = 0;
        return;
    }
    if (++f->low_ticks < FOLD_LOW_TICKS)
        return;
    for (uint16_t i = 1; i < g->n; i++) {
        struct worker *member = &g->workers[i];
        if (swap_state(member, FOLD_OWN, FOLD_ASKED))
            uv_async_send(&member->fold.ask);
    }
    f->folded = true;
    metrics_inc(&wk->counters.folds);
    log_info("fold", "workers fold onto one thread", LOG_UINT("cpu_percent", percent),
             LOG_UINT("below_percent", f->below_percent), LOG_UINT("workers", g->n));
}

void fold_release(struct worker_group *g)
{
    if (!g->fold.made || g->n < 2)
        return;
    __atomic_store_n(&g->fold.releasing, 1, __ATOMIC_RELEASE);
    uv_async_send(&g->fold.wake);
    uv_sem_wait(&g->fold.released);
}
