/* test_inbox.c - the cross-worker hand-off under real threads, in the manner of ck's
 * regressions/ck_ring/validate: fixed iterations, order and count checked.
 *
 * THREADS workers, each on its own thread and loop, send MSGS messages to every other
 * worker through inbox_send(), numbered per sender. Rings are far smaller than MSGS, so
 * senders meet full rings: request messages (SCRAPE) are then refused and re-sent later,
 * answer messages (POLL_GONE) wait in the sender's backlog. Every receiver checks that
 * each sender's messages arrive exactly once and in order. Plain C, not Criterion, so it
 * also runs under ThreadSanitizer (`make tsan`), where Criterion's runner cannot start.
 *
 * Each inbox is given this test's checking receiver (inbox_init's receiver argument). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "inbox.h"

#define THREADS 4
#define MSGS 50000        /* per sender and receiver */
#define SEND_BATCH 512    /* per receiver per loop turn */
#define DEADLINE_MS 60000 /* the whole test; a stall fails it instead of hanging */

struct peer_state {
    uint16_t id;
    uv_loop_t loop;
    struct inbox inbox;
    struct counters counters;
    uint32_t next_send[THREADS]; /* per receiver */
    uint32_t next_recv[THREADS]; /* per sender */
    uint64_t received;
    uint64_t refused; /* -EAGAIN on a full ring, re-sent */
    uint32_t errors;
    uv_idle_t idle;
    uv_timer_t check;
    bool quiet;
};

static struct peer_state peers[THREADS];
static struct inbox_group group;
static uint64_t total_received; /* atomic */
static const uint64_t total_expected = (uint64_t)THREADS * (THREADS - 1) * MSGS;
static uint64_t deadline_ns; /* set before the threads start */
static int n_quiet;          /* atomic: workers that will send nothing more */

/* The receiver given to every inbox: checks order and count per sender. */
static void on_receive(void *ctx, struct msg *m)
{
    struct peer_state *ps = ctx;
    uint16_t from = m->from;

    if (from >= THREADS || from == ps->id || m->ref.gen != from) {
        ps->errors++;
    } else if (m->ref.idx != ps->next_recv[from]) {
        if (ps->errors++ < 5)
            fprintf(stderr, "worker %u: from %u got #%u, expected #%u\n", ps->id, from, m->ref.idx,
                    ps->next_recv[from]);
        ps->next_recv[from] = m->ref.idx + 1;
    } else {
        ps->next_recv[from]++;
    }
    ps->received++;
    __atomic_fetch_add(&total_received, 1, __ATOMIC_RELAXED);
    msg_free(m);
}

/* Sends the next batch to every other worker; stops when all are sent. */
static void on_idle(uv_idle_t *idle)
{
    struct peer_state *ps = idle->data;
    bool done = true;

    for (uint16_t to = 0; to < THREADS; to++) {
        if (to == ps->id)
            continue;
        for (int i = 0; i < SEND_BATCH && ps->next_send[to] < MSGS; i++) {
            /* Odd numbers are requests, which a full ring refuses; even ones are answers. */
            uint32_t seq = ps->next_send[to];
            struct msg *m = msg_new(seq & 1 ? MSG_SCRAPE : MSG_POLL_GONE, NULL, 0);
            m->ref = (struct ref){.wk = to, .idx = seq, .gen = ps->id};
            if (inbox_send(&ps->inbox, to, m) != 0) {
                msg_free(m);
                ps->refused++;
                break; /* keep order: retry this one on the next turn */
            }
            ps->next_send[to]++;
        }
        if (ps->next_send[to] < MSGS)
            done = false;
    }
    if (done)
        uv_idle_stop(idle);
}

/* Every 10 ms. When every message everywhere has arrived (or the deadline passed), a
 * worker says it is quiet; when all are, each closes its handles. The two steps matter:
 * a sender calls uv_async_send() just after its enqueue, so a receiver may count the
 * last message before that call returns, and must not close its async handle until the
 * sender's turn has ended. */
static void on_check(uv_timer_t *timer)
{
    struct peer_state *ps = timer->data;

    if (!ps->quiet) {
        if (__atomic_load_n(&total_received, __ATOMIC_RELAXED) < total_expected &&
            uv_hrtime() < deadline_ns)
            return;
        ps->quiet = true;
        __atomic_fetch_add(&n_quiet, 1, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&n_quiet, __ATOMIC_ACQUIRE) < THREADS)
        return;
    uv_close((uv_handle_t *)&ps->idle, NULL);
    uv_close((uv_handle_t *)timer, NULL);
    inbox_close_handles(&ps->inbox);
}

static void run(void *arg)
{
    uv_run(&((struct peer_state *)arg)->loop, UV_RUN_DEFAULT);
}

int main(void)
{
    uv_thread_t threads[THREADS];
    uint64_t start_ms;
    int failed = 0;

    if (inbox_group_init(&group, THREADS) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    for (uint16_t i = 0; i < THREADS; i++) {
        struct peer_state *ps = &peers[i];
        ps->id = i;
        counters_init(&ps->counters);
        if (uv_loop_init(&ps->loop) != 0 ||
            inbox_init(&ps->inbox, &group, i, &ps->loop, on_receive, ps, &ps->counters) != 0) {
            fprintf(stderr, "setup failed\n");
            return 1;
        }
        uv_idle_init(&ps->loop, &ps->idle);
        ps->idle.data = ps;
        uv_idle_start(&ps->idle, on_idle);
        uv_timer_init(&ps->loop, &ps->check);
        ps->check.data = ps;
    }
    start_ms = uv_hrtime() / 1000000;
    deadline_ns = uv_hrtime() + (uint64_t)DEADLINE_MS * 1000000;
    for (uint16_t i = 0; i < THREADS; i++)
        uv_timer_start(&peers[i].check, on_check, 10, 10);
    for (uint16_t i = 0; i < THREADS; i++)
        uv_thread_create(&threads[i], run, &peers[i]);
    for (uint16_t i = 0; i < THREADS; i++)
        uv_thread_join(&threads[i]);

    for (uint16_t i = 0; i < THREADS; i++) {
        struct peer_state *ps = &peers[i];
        for (uint16_t from = 0; from < THREADS; from++) {
            if (from == i)
                continue;
            if (ps->next_recv[from] != MSGS) {
                fprintf(stderr, "worker %u: got %u of %u messages from %u\n", i,
                        ps->next_recv[from], MSGS, from);
                failed = 1;
            }
        }
        if (ps->errors || ps->received != (uint64_t)(THREADS - 1) * MSGS) {
            fprintf(stderr, "worker %u: %u order errors, %llu received\n", i, ps->errors,
                    (unsigned long long)ps->received);
            failed = 1;
        }
        printf("worker %u: received %llu, full-ring refusals %llu, backlogged %llu\n", i,
               (unsigned long long)ps->received, (unsigned long long)ps->refused,
               (unsigned long long)ps->counters.backlogged);
    }
    printf("%llu messages in %llu ms\n", (unsigned long long)total_received,
           (unsigned long long)(uv_hrtime() / 1000000 - start_ms));
    for (uint16_t i = 0; i < THREADS; i++) {
        uv_run(&peers[i].loop, UV_RUN_NOWAIT);
        uv_loop_close(&peers[i].loop);
        inbox_close(&peers[i].inbox);
    }
    inbox_group_close(&group);
    printf("%d passed, %d failed\n", failed ? 0 : 1, failed);
    return failed;
}
