/* worker.c - one bench loop thread (see worker.h).
 * Owner: the thread running worker_main(); the struct run it reads is read-only and its
 * shm slot is written only here (relaxed atomic stores). Life: worker_init() before the
 * thread starts, worker_main() until every handle is closed, worker_close() after join. */
#include "worker.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"

/* How often progress is published to shared memory. */
#define WORKER_PUBLISH_NS (100 * 1000000ull)

static void on_tick(uv_timer_t *t);
static void on_due(uv_poll_t *p, int status, int events);
static void on_due_closed(uv_handle_t *h);
static void on_scraper_idle(struct scraper_env *env, struct scraper *s);
static void issue(struct worker *wk, uint64_t now);
static void schedule_due(struct worker *wk, uint64_t now);

static void on_handshaker_free(struct handshaker_env *env, struct handshaker *h);

static bool upstream(const struct worker *wk)
{
    return wk->run->client_mode == RUN_CLIENTS_UPSTREAM;
}

/* The clients' counts, from whichever env the mode uses. */
static uint64_t clients_connecting(const struct worker *wk)
{
    return upstream(wk) ? wk->up_env.connecting : wk->clients_env.connecting;
}
static uint64_t clients_connected(const struct worker *wk)
{
    return upstream(wk) ? wk->up_env.connected : wk->clients_env.connected;
}
static uint64_t clients_registered(const struct worker *wk)
{
    return upstream(wk) ? wk->up_env.registered : wk->clients_env.registered;
}
static uint64_t pushes_answered(const struct worker *wk)
{
    return upstream(wk) ? wk->up_env.pushes_answered : wk->clients_env.pushes_answered;
}

static struct worker *worker_of_scrapers(struct scraper_env *env)
{
    return (struct worker *)((char *)env - offsetof(struct worker, scrapers_env));
}

static struct worker *worker_of_handshakers(struct handshaker_env *env)
{
    return (struct worker *)((char *)env - offsetof(struct worker, hs_env));
}

int worker_init(struct worker *wk, struct run *run, int id)
{
    memset(wk, 0, sizeof(*wk));
    wk->id = id;
    wk->run = run;
    wk->rng = (run->seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)run->proc << 32) ^ (uint64_t)id;
    stats_init(&wk->st);
    wk->slot = &run->shm->slots[run->proc * RUN_MAX_THREADS + id];

    uint64_t first, n;
    run_split(run->n_clients, run->threads, (uint64_t)id, &first, &n);
    wk->first_client = run->first_client + first;
    wk->n_clients = n;
    uint64_t sfirst, ns, proc_scrapers;
    run_split(run->scrapers, run->procs, (uint64_t)run->proc, &sfirst, &proc_scrapers);
    run_split(proc_scrapers, run->threads, (uint64_t)id, &sfirst, &ns);
    wk->n_scrapers = run->n_clients || run->plain_path ? ns : 0;
    if (run->handshakes) {
        uint64_t qf, proc_quota;
        run_split(run->handshakes, run->procs, (uint64_t)run->proc, &qf, &proc_quota);
        run_split(proc_quota, run->threads, (uint64_t)id, &qf, &wk->quota);
        wk->n_hs = wk->quota < run->connect_concurrency ? wk->quota : run->connect_concurrency;
    } else if (run->scrapes) {
        uint64_t qf, proc_quota;
        run_split(run->scrapes, run->procs, (uint64_t)run->proc, &qf, &proc_quota);
        run_split(proc_quota, run->threads, (uint64_t)id, &qf, &wk->quota);
    } else {
        wk->quota = UINT64_MAX;
    }
    if (run->rate > 0 && run->scrapers > 0) {
        /* Each thread takes the share of the rate its scrapers are of all scrapers. */
        wk->rate = run->rate * (double)wk->n_scrapers / (double)run->scrapers;
    }

    char err[TLS_ERR_MAX];
    int rc = dial_init(&wk->dial, run->tls, err, sizeof(err));
    if (rc) {
        log_error("run", "TLS client configuration refused", LOG_STR("err", err));
        return rc;
    }
    if ((rc = uv_loop_init(&wk->loop)) != 0)
        return rc;
    if ((rc = sim_client_env_init(&wk->clients_env, &wk->loop, run, &wk->dial, &wk->st)) != 0 ||
        (rc = sim_up_env_init(&wk->up_env, &wk->loop, run, &wk->dial, &wk->st)) != 0 ||
        (rc = scraper_env_init(&wk->scrapers_env, &wk->loop, run, &wk->dial, &wk->st,
                               on_scraper_idle)) != 0 ||
        (rc = handshaker_env_init(&wk->hs_env, &wk->loop, run, &wk->dial, &wk->st,
                                  on_handshaker_free)) != 0)
        return rc;
    wk->hs = calloc(wk->n_hs ? wk->n_hs : 1, sizeof(*wk->hs));
    if (!wk->hs)
        return -ENOMEM;
    for (uint64_t i = 0; i < wk->n_hs; i++)
        handshaker_init(&wk->hs[i], &wk->hs_env, wk->first_client + (uint64_t)id * wk->n_hs + i);
    if (upstream(wk))
        wk->ups = calloc(n ? n : 1, sizeof(*wk->ups));
    else
        wk->clients = calloc(n ? n : 1, sizeof(*wk->clients));
    wk->scrapers = calloc(ns ? ns : 1, sizeof(*wk->scrapers));
    wk->idle = calloc(ns ? ns : 1, sizeof(*wk->idle));
    if ((!wk->clients && !wk->ups) || !wk->scrapers || !wk->idle)
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        if (wk->ups)
            sim_up_init(&wk->ups[i], &wk->up_env, wk->first_client + i);
        else
            sim_client_init(&wk->clients[i], &wk->clients_env, wk->first_client + i);
    }
    for (uint64_t i = 0; i < ns; i++)
        scraper_init(&wk->scrapers[i], &wk->scrapers_env, (unsigned)i);

    uv_timer_init(&wk->loop, &wk->tick);
    wk->tick.data = wk;
    wk->due_fd = -1;
    if (wk->rate > 0) {
        wk->due_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (wk->due_fd < 0)
            return -errno;
        if ((rc = uv_poll_init(&wk->loop, &wk->due_poll, wk->due_fd)) != 0)
            return rc;
        wk->due_poll.data = wk;
        wk->due_poll_open = true;
        uv_poll_start(&wk->due_poll, UV_READABLE, on_due);
    }
    return 0;
}

void worker_close(struct worker *wk)
{
    for (uint64_t i = 0; i < wk->n_clients; i++) {
        if (wk->ups)
            sim_up_close(&wk->ups[i]);
        else if (wk->clients)
            sim_client_close(&wk->clients[i]);
    }
    for (uint64_t i = 0; i < wk->n_scrapers; i++)
        scraper_close(&wk->scrapers[i]);
    free(wk->clients);
    free(wk->ups);
    free(wk->scrapers);
    free(wk->idle);
    free(wk->due);
    free(wk->hs);
    sim_client_env_close(&wk->clients_env);
    sim_up_env_close(&wk->up_env);
    scraper_env_close(&wk->scrapers_env);
    handshaker_env_close(&wk->hs_env);
    dial_close(&wk->dial);
    uv_loop_close(&wk->loop);
    /* wk->st is the caller's to merge and close. */
}

static uint64_t random_next(struct worker *wk)
{
    /* xorshift64*: plenty for picking targets. */
    uint64_t x = wk->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    wk->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* A scraper is connected and idle: on the idle stack, and given work if there is any. */
static void on_scraper_idle(struct scraper_env *env, struct scraper *s)
{
    struct worker *wk = worker_of_scrapers(env);

    if (!s->in_idle) {
        s->in_idle = true;
        wk->idle[wk->n_idle++] = s;
    }
    if (wk->phase == RUN_PHASE_SCRAPE && !wk->issuing_done)
        issue(wk, run_now_ns());
}

static int due_push(struct worker *wk, uint64_t t)
{
    if (wk->due_head + wk->due_len == wk->due_cap) {
        if (wk->due_head > 0) {
            memmove(wk->due, wk->due + wk->due_head, wk->due_len * sizeof(*wk->due));
            wk->due_head = 0;
        } else {
            uint64_t cap = wk->due_cap ? wk->due_cap * 2 : 4096;
            uint64_t *d = realloc(wk->due, cap * sizeof(*d));
            if (!d)
                return -ENOMEM;
            wk->due = d;
            wk->due_cap = cap;
        }
    }
    wk->due[wk->due_head + wk->due_len++] = t;
    return 0;
}

/* Hands scrapes to idle scrapers: in a closed loop as many as there are idle scrapers,
 * in an open loop as many as are due (their intended times are on the due FIFO). */
static void issue(struct worker *wk, uint64_t now)
{
    const struct run *run = wk->run;
    while (wk->n_idle > 0 && !wk->issuing_done) {
        struct scraper *s = wk->idle[wk->n_idle - 1];
        if (!s->connected || s->busy || !transport_is_open(&s->tr)) {
            wk->n_idle--;
            s->in_idle = false;
            continue;
        }
        uint64_t intended = now;
        if (wk->rate > 0) {
            if (wk->due_len == 0)
                break;
            intended = wk->due[wk->due_head++];
            wk->due_len--;
        } else if (wk->issued >= wk->quota) {
            break;
        }
        wk->n_idle--;
        s->in_idle = false;
        uint64_t target = run->n_clients ? run->first_client + random_next(wk) % run->n_clients : 0;
        wk->issued++;
        scraper_send(s, target, intended); /* counts it in scrapers_env.in_flight */
    }
}

/* --handshakes: a connection on slot h may start now, if the quota and the time allow. */
static bool handshake_may_start(struct worker *wk, uint64_t now)
{
    if (wk->phase != RUN_PHASE_SCRAPE || wk->issuing_done || wk->stopping)
        return false;
    if ((wk->end_ns && now >= wk->end_ns) || wk->issued >= wk->quota) {
        wk->issuing_done = true;
        return false;
    }
    return true;
}

static void handshake_start(struct worker *wk, struct handshaker *h, uint64_t now)
{
    if (h->busy || !handshake_may_start(wk, now))
        return;
    wk->issued++;
    handshaker_start(h); /* a failure is counted; the tick retries the slot */
}

static void on_handshaker_free(struct handshaker_env *env, struct handshaker *h)
{
    struct worker *wk = worker_of_handshakers(env);
    handshake_start(wk, h, run_now_ns());
}

static void publish(struct worker *wk)
{
    struct shm_slot *sl = wk->slot;
    __atomic_store_n(&sl->connected, clients_connected(wk), __ATOMIC_RELAXED);
    __atomic_store_n(&sl->registered, clients_registered(wk), __ATOMIC_RELAXED);
    __atomic_store_n(&sl->scrapes_ok,
                     wk->run->handshakes ? wk->st.handshakes_full + wk->st.handshakes_resumed
                                         : wk->st.scrapes_ok,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&sl->scrapes_answered, wk->st.scrapes_answered, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->errors, stats_total_errors(&wk->st), __ATOMIC_RELAXED);
    __atomic_store_n(&sl->fatal, stats_fatal_errors(&wk->st), __ATOMIC_RELAXED);
}

static void stop_all(struct worker *wk)
{
    if (wk->stopping)
        return;
    wk->stopping = true;
    wk->clients_env.stopping = true;
    wk->up_env.stopping = true;
    publish(wk);
    for (uint64_t i = 0; i < wk->n_clients; i++) {
        if (wk->ups)
            sim_up_stop(&wk->ups[i]);
        else
            sim_client_stop(&wk->clients[i]);
    }
    for (uint64_t i = 0; i < wk->n_scrapers; i++) {
        struct scraper *s = &wk->scrapers[i];
        if (s->busy) {
            /* Only on abort: a normal stop waits until nothing is in flight. */
            wk->st.errors[STATS_ERR_LOST]++;
            s->busy = false;
        }
        scraper_stop(s);
    }
    for (uint64_t i = 0; i < wk->n_hs; i++)
        handshaker_stop(&wk->hs[i]);
    uv_timer_stop(&wk->tick);
    uv_close((uv_handle_t *)&wk->tick, NULL);
    if (wk->due_poll_open) {
        wk->due_poll_open = false;
        uv_poll_stop(&wk->due_poll);
        uv_close((uv_handle_t *)&wk->due_poll, on_due_closed);
    }
}

/* Open loop: scrape k is due at t0 + k / rate. Queues every one due by now and arms the
 * timerfd for the next. */
static void schedule_due(struct worker *wk, uint64_t now)
{
    if (wk->rate <= 0 || wk->issuing_done)
        return;
    while (wk->scheduled < wk->quota) {
        uint64_t at = wk->t0_ns + (uint64_t)((double)wk->scheduled * 1e9 / wk->rate);
        if (at > now) {
            struct itimerspec its = {
                .it_value = {.tv_sec = (time_t)(at / 1000000000ull),
                             .tv_nsec = (long)(at % 1000000000ull)},
            };
            if (wk->due_fd >= 0)
                timerfd_settime(wk->due_fd, TFD_TIMER_ABSTIME, &its, NULL);
            break;
        }
        if (due_push(wk, at) != 0)
            break;
        wk->scheduled++;
    }
}

static void on_due(uv_poll_t *p, int status, int events)
{
    struct worker *wk = p->data;
    uint64_t expirations;
    if (read(wk->due_fd, &expirations, sizeof(expirations)) < 0) {
        /* EAGAIN: a re-arm raced the wake-up; nothing to do. */
    }
    if (wk->phase != RUN_PHASE_SCRAPE || wk->issuing_done || wk->stopping)
        return;
    uint64_t now = run_now_ns();
    if (wk->end_ns && now >= wk->end_ns)
        return; /* the tick ends the phase */
    schedule_due(wk, now);
    issue(wk, now);
}

static void on_due_closed(uv_handle_t *h)
{
    struct worker *wk = h->data;
    close(wk->due_fd);
    wk->due_fd = -1;
}

static void on_tick(uv_timer_t *t)
{
    struct worker *wk = t->data;
    struct run *run = wk->run;
    uint64_t now = run_now_ns();
    int phase = __atomic_load_n(&run->shm->phase, __ATOMIC_ACQUIRE);

    if (phase == RUN_PHASE_STOP) {
        stop_all(wk);
        return;
    }

    /* Connect clients, a bounded number at a time so the proxy's accept queue keeps up. */
    while (clients_connecting(wk) < run->connect_concurrency && wk->next_connect < wk->n_clients) {
        if (wk->ups)
            sim_up_start(&wk->ups[wk->next_connect++]);
        else
            sim_client_start(&wk->clients[wk->next_connect++]);
    }

    if (wk->ups)
        sim_up_due(&wk->up_env, now);
    else
        sim_client_retry_due(&wk->clients_env, now);

    if (wk->phase == RUN_PHASE_CONNECT && phase == RUN_PHASE_SCRAPE) {
        wk->phase = RUN_PHASE_SCRAPE;
        wk->clients_env.scraping = true;
        wk->up_env.scraping = true;
        wk->t0_ns = __atomic_load_n(&run->shm->t0_ns, __ATOMIC_RELAXED);
        wk->end_ns = run->duration_ms ? wk->t0_ns + run->duration_ms * 1000000ull : 0;
        if ((wk->n_scrapers == 0 && wk->n_hs == 0) || wk->quota == 0)
            wk->issuing_done = true;
        for (uint64_t i = 0; i < wk->n_scrapers; i++)
            scraper_start(&wk->scrapers[i]);
    }

    if (wk->phase == RUN_PHASE_SCRAPE) {
        for (uint64_t i = 0; i < wk->n_hs; i++)
            handshake_start(wk, &wk->hs[i], now);
        for (uint64_t i = 0; i < wk->n_scrapers; i++) {
            struct scraper *s = &wk->scrapers[i];
            scraper_check_deadline(s, now);
            if (!wk->issuing_done && !s->tr.open && !s->stopping && now >= s->retry_at_ns)
                scraper_start(s);
        }
        if (!wk->issuing_done) {
            if ((wk->end_ns && now >= wk->end_ns) || wk->issued >= wk->quota) {
                wk->issuing_done = true;
            } else if (wk->rate > 0) {
                schedule_due(wk, now);
                issue(wk, now);
            } else {
                issue(wk, now);
            }
        }
        uint64_t in_flight = wk->scrapers_env.in_flight + wk->hs_env.in_flight;
        if (wk->issuing_done && in_flight == 0 && !wk->drained_ns)
            wk->drained_ns = now;
        /* Every scrape is answered; the push verdicts that follow them are waited for,
         * within --grace (a client that lost its connection never gets one). */
        if (wk->issuing_done && !wk->scrape_done && in_flight == 0 &&
            (pushes_answered(wk) >= wk->st.pushes_sent ||
             now - wk->drained_ns >= wk->run->grace_ms * 1000000ull)) {
            wk->scrape_done = true;
            /* Scrapes scheduled (open loop) but never sent: the proxy fell behind. */
            wk->st.scrapes_unsent += wk->due_len;
            for (uint64_t i = 0; i < wk->n_scrapers; i++)
                scraper_stop(&wk->scrapers[i]);
            publish(wk);
            __atomic_fetch_add(&run->shm->proc_threads_done[run->proc], 1, __ATOMIC_ACQ_REL);
        }
    }

    if (wk->scrape_done && __atomic_load_n(&run->shm->proc_threads_done[run->proc],
                                           __ATOMIC_ACQUIRE) >= run->threads) {
        stop_all(wk);
        return;
    }

    if (now >= wk->publish_at_ns) {
        publish(wk);
        wk->publish_at_ns = now + WORKER_PUBLISH_NS;
    }
}

void *worker_main(void *arg)
{
    struct worker *wk = arg;
    uv_timer_start(&wk->tick, on_tick, 0, WORKER_TICK_MS);
    uv_run(&wk->loop, UV_RUN_DEFAULT);
    publish(wk);
    return NULL;
}
