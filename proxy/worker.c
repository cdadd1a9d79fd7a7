/* worker.c - the worker threads: start, the loop's housekeeping, message dispatch, stop.
 *
 * Owner: workers[] is built by main's thread before any worker thread starts and is
 * read-only afterwards (each worker writes only its own element's state, from its own
 * thread). `workers_stopping` is the one flag every thread reads: once set, inbox_send()
 * drops messages instead of sending them, so shutdown needs no lock.
 *
 * Shutdown has two phases so that no uv_async_send() can reach a closed handle: first
 * every worker closes its listener and connections (its inbox stays open) and posts
 * `quiesced`; when all have, main asks each to close its inbox and leave its loop. */
#include "worker.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients.h"
#include "config.h"
#include "log.h"
#include "poll.h"
#include "push.h"

struct worker *workers;
uint16_t n_workers;
int workers_stopping;

static uv_sem_t quiesced;

static void worker_main(void *arg);
static void on_stop(uv_async_t *handle);
static void on_tick(uv_timer_t *timer);
static void on_walk_close(uv_handle_t *handle, void *arg);

/* Makes one listening socket for host:port with SO_REUSEPORT, so each worker has its own
 * and the kernel spreads new connections between them without a shared accept lock.
 * libuv 1.44 has no flag for it, hence the socket is made here and given to uv_tcp_open(). */
static int listen_socket_at(const char *host, int port, int *fd_out);

/* host NULL means every address, as Go's ":8080" does: IPv6 and IPv4 on one dual-stack
 * socket where the host has IPv6, IPv4 alone where it has not. */
static int listen_socket(const char *host, int port, int *fd_out)
{
    int rc;

    if (host)
        return listen_socket_at(host, port, fd_out);
    rc = listen_socket_at("::", port, fd_out);
    if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL || rc == -EINVAL)
        rc = listen_socket_at("0.0.0.0", port, fd_out);
    return rc;
}

static int listen_socket_at(const char *host, int port, int *fd_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_s[8];
    int fd = -1, one = 1, rc;

    snprintf(port_s, sizeof(port_s), "%d", port);
    rc = getaddrinfo(host, port_s, &hints, &res);
    if (rc != 0) {
        log_error("worker", "cannot resolve listen address", LOG_STR("host", host),
                  LOG_STR("err", gai_strerror(rc)));
        return -EINVAL;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto err;
    if (res->ai_family == AF_INET6 && strcmp(host, "::") == 0) {
        int off = 0; /* dual stack: IPv4 clients arrive as ::ffff:a.b.c.d */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, WORKER_LISTEN_BACKLOG) < 0)
        goto err;
    freeaddrinfo(res);
    *fd_out = fd;
    return 0;
err:
    rc = -errno;
    log_error("worker", "cannot listen", LOG_STR("host", host), LOG_INT("port", port), LOG_ERR(rc));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return rc;
}

/* Sets up one worker on main's thread; its thread only runs the loop. */
static int worker_init(struct worker *wk, uint16_t id, int listen_fd)
{
    int rc;

    wk->id = id;
    stats_init(&wk->stats);
    if ((rc = uv_loop_init(&wk->loop)) != 0)
        return rc;
    wk->loop.data = wk;
    wk->read_buf = malloc(CONN_READ_BUF_BYTES);
    if (!wk->read_buf)
        return UV_ENOMEM;
    if ((rc = conn_table_init(&wk->conns, (uint32_t)config.web_max_connections)) != 0 ||
        (rc = scrape_table_init(&wk->scrapes, (uint32_t)config.scrape_max_in_flight)) != 0 ||
        (rc = registry_init(&wk->reg)) != 0 || (rc = inbox_init(wk)) != 0)
        return rc;
    if ((rc = conn_table_start(&wk->conns, &wk->loop)) != 0)
        return rc;
    if ((rc = uv_tcp_init(&wk->loop, &wk->listener)) != 0 ||
        (rc = uv_tcp_open(&wk->listener, listen_fd)) != 0)
        return rc;
    wk->listener.data = wk;
    if ((rc = uv_listen((uv_stream_t *)&wk->listener, WORKER_LISTEN_BACKLOG, conn_on_connection)) !=
        0)
        return rc;
    if ((rc = uv_async_init(&wk->loop, &wk->stop, on_stop)) != 0)
        return rc;
    wk->stop.data = wk;
    if ((rc = uv_timer_init(&wk->loop, &wk->tick)) != 0)
        return rc;
    wk->tick.data = wk;
    return uv_timer_start(&wk->tick, on_tick, WORKER_TICK_MS, WORKER_TICK_MS);
}

int workers_start(uint16_t n, const char *host, int port)
{
    int rc = 0;
    uint16_t started = 0;

    workers = calloc(n, sizeof(*workers));
    if (!workers)
        return -ENOMEM;
    n_workers = n;
    uv_sem_init(&quiesced, 0);
    for (uint16_t i = 0; i < n; i++) {
        int fd = -1;
        if ((rc = listen_socket(host, port, &fd)) != 0)
            goto err;
        if ((rc = worker_init(&workers[i], i, fd)) != 0) {
            log_error("worker", "cannot set up worker", LOG_INT("worker", i), LOG_ERR(rc));
            goto err;
        }
    }
    for (; started < n; started++) {
        if ((rc = uv_thread_create(&workers[started].thread, worker_main, &workers[started])) !=
            0) {
            log_error("worker", "cannot start thread", LOG_ERR(rc));
            goto err;
        }
    }
    return 0;
err:
    /* Threads that did start are stopped the normal way; the rest are torn down here. */
    n_workers = started;
    if (started)
        workers_stop();
    return rc;
}

static void worker_main(void *arg)
{
    struct worker *wk = arg;

    uv_run(&wk->loop, UV_RUN_DEFAULT);
    log_debug("worker", "loop ended", LOG_INT("worker", wk->id));
}

/* Phase 1 (first stop signal): close the listener, the tick and every connection.
 * Phase 2 (second): close the inbox and the stop handle; the loop then ends. */
static void on_stop(uv_async_t *handle)
{
    struct worker *wk = handle->data;

    if (!wk->stopping) {
        wk->stopping = true;
        uv_close((uv_handle_t *)&wk->listener, NULL);
        uv_close((uv_handle_t *)&wk->tick, NULL);
        for (uint32_t i = 0; i < wk->conns.cap; i++)
            if (wk->conns.slots[i].c)
                conn_close(wk->conns.slots[i].c, "shutting down");
        uv_sem_post(&quiesced);
        return;
    }
    inbox_close(wk);
    scrape_table_close_handles(&wk->scrapes);
    conn_table_stop(&wk->conns);
    uv_close((uv_handle_t *)&wk->stop, NULL);
}

void workers_stop(void)
{
    __atomic_store_n(&workers_stopping, 1, __ATOMIC_RELEASE);
    for (uint16_t i = 0; i < n_workers; i++)
        uv_async_send(&workers[i].stop);
    for (uint16_t i = 0; i < n_workers; i++)
        uv_sem_wait(&quiesced);
    for (uint16_t i = 0; i < n_workers; i++)
        uv_async_send(&workers[i].stop);
    for (uint16_t i = 0; i < n_workers; i++) {
        struct worker *wk = &workers[i];
        uv_thread_join(&wk->thread);
        /* Anything left open (none expected) is closed so the loop can be freed. */
        uv_walk(&wk->loop, on_walk_close, NULL);
        uv_run(&wk->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&wk->loop) != 0)
            log_warn("worker", "loop still had handles at exit", LOG_INT("worker", i));
    }
    for (uint16_t i = 0; i < n_workers; i++) {
        struct worker *wk = &workers[i];
        inbox_drain_free(wk);
        registry_close(&wk->reg);
        scrape_table_free(&wk->scrapes);
        conn_table_close(&wk->conns);
        free(wk->read_buf);
    }
    uv_sem_destroy(&quiesced);
    free(workers);
    workers = NULL;
    n_workers = 0;
}

static void on_walk_close(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void on_tick(uv_timer_t *timer)
{
    struct worker *wk = timer->data;
    uint64_t now = uv_now(&wk->loop);

    registry_sweep(wk, now);
    poll_expire(wk, now);
    conn_expire_slow(wk, uv_hrtime());
    metrics_set(&wk->stats.conns_open, wk->conns.n_open);
    metrics_set(&wk->stats.scrapes_in_flight, wk->scrapes.n_busy);
}
