/* server.c - the worker threads: listening sockets, accepting, the housekeeping tick, and
 * the two-phase stop (see server.h).
 *
 * Owner: the group of workers is built by main's thread before any worker thread starts
 * and taken apart by it after they all ended; in between each worker's listener, timers
 * and connections are touched only by the thread running that worker's loop: its own, or
 * worker 0's while the loop is lent (fold.c).
 *
 * Accepting is done here with accept4(2) on a uv_poll_t rather than with uv_listen(): when
 * the process runs out of file descriptors, libuv's accept loop calls back with EMFILE
 * again and again without returning to the loop (its spare-descriptor trick fails once
 * another loop took the freed descriptor), so the worker spins and never sees its stop
 * signal. Here an EMFILE pauses this worker's accepting for SERVER_ACCEPT_PAUSE_MS, says
 * so at most once per SERVER_ACCEPT_LOG_MS with a count, and counts it; connections wait
 * in the kernel's backlog meanwhile.
 *
 * While the load is low the other workers' loops run on worker 0's thread (fold.c); the
 * tick decides, and a stop first gives every loop back to its own thread.
 *
 * Stopping has two phases so that no uv_async_send() can reach a closed handle: first
 * every worker closes its listener and connections (its inbox stays open) and posts
 * `quiesced`; when all have, main asks each to close its inbox and leave its loop. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "fold.h"
#include "log.h"
#include "poll.h"
#include "routes.h"
#include "worker.h"

static struct worker_group group;
static uv_sem_t quiesced;

/* The addresses and their current web configurations, main's thread only. */
static struct server_address *addresses;
static unsigned n_addresses;
static struct webconf *confs[WORKER_MAX_LISTENERS];
/* Each address's session ticket key, for the life of the process: reloads keep it, so a
 * fleet reconnecting after a certificate rotation still resumes. */
static struct tls_tickets tickets[WORKER_MAX_LISTENERS];
static bool tickets_made[WORKER_MAX_LISTENERS];

/* Watching the files (server_watch), main's loop. */
static struct {
    uv_fs_poll_t polls[WORKER_MAX_LISTENERS * 4]; /* each address: config, cert, key, CA */
    unsigned n;
    uv_timer_t settle;
} watch;

/* The drain, on main's loop (server_drain). */
static struct {
    uv_timer_t timer;
    uint64_t release_at_ms, deadline_ms;
    bool released;
    server_drained_cb done;
} drain;

static void worker_main(void *arg);
static void stop_threads(uint16_t n);
static void free_workers(uint16_t made);
static void on_listen_readable(uv_poll_t *handle, int status, int events);
static void on_accept_resume(uv_timer_t *timer);
static void on_stop(uv_async_t *handle);
static void on_drain(uv_async_t *handle);
static void on_reconf(uv_async_t *handle);
static void on_drain_timer(uv_timer_t *timer);
static void on_tick(uv_timer_t *timer);
static void on_walk_close(uv_handle_t *handle, void *arg);

/* --- listening sockets --- */

/* The address to listen on. host NULL means every address, as Go's ":8080" does: IPv6 and
 * IPv4 on one dual-stack socket where the host has IPv6, IPv4 alone where it has not. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_s[8];
    int rc;

    snprintf(port_s, sizeof(port_s), "%d", port);
    if ((rc = getaddrinfo(host, port_s, &hints, &res)) != 0) {
        log_error("server", "cannot resolve listen address", LOG_STR("host", host),
                  LOG_STR("err", gai_strerror(rc)));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A socket bound to addr: with SO_REUSEPORT (reuseport) every worker has its own and the
 * kernel spreads new connections between them without a shared accept lock; libuv 1.44 has
 * no flag for it, hence the socket is made here. Returns the fd or a negative errno. */
static int bound_socket(const struct sockaddr_storage *ss, socklen_t len, bool reuseport)
{
    int fd, one = 1, off = 0, rc;

    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (ss->ss_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)); /* IPv4 too */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)ss, len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

/* Opens one listening socket per worker on a's host:port into fds[n]. With SO_REUSEPORT
 * the kernel would also let a second proxy join the same port and split connections with
 * us, silently: so the address is first bound once without it, which fails while anyone
 * else listens there. Port 0 is resolved by the first socket, and the others take its
 * port. */
static int listen_sockets(struct server_address *a, int *fds, uint16_t n)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *host = a->host, *shown = host ? host : "";
    int port = a->port, fd, rc;

    for (uint16_t i = 0; i < n; i++)
        fds[i] = -1;
    if ((rc = resolve(host ? host : "::", port, &ss, &len)) != 0) {
        if (host || (rc = resolve("0.0.0.0", port, &ss, &len)) != 0)
            return rc;
    }
    if (port != 0) {
        fd = bound_socket(&ss, len, false);
        if (fd == -EAFNOSUPPORT && !host && resolve("0.0.0.0", port, &ss, &len) == 0)
            fd = bound_socket(&ss, len, false);
        if (fd < 0) {
            log_error("server",
                      fd == -EADDRINUSE ? "address already in use: is another proxy "
                                          "running?"
                                        : "cannot listen",
                      LOG_STR("flag", a->flag), LOG_STR("host", shown), LOG_INT("port", port),
                      LOG_ERR(fd));
            return fd;
        }
        close(fd);
    }
    for (uint16_t i = 0; i < n; i++) {
        if ((fd = bound_socket(&ss, len, true)) < 0 || listen(fd, SERVER_LISTEN_BACKLOG) < 0) {
            rc = fd < 0 ? fd : -errno;
            if (fd >= 0)
                close(fd);
            log_error("server", "cannot listen", LOG_STR("flag", a->flag), LOG_STR("host", shown),
                      LOG_INT("port", port), LOG_ERR(rc));
            goto err;
        }
        fds[i] = fd;
        if (i == 0 && port == 0) {
            len = sizeof(ss);
            if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
                rc = -errno;
                goto err;
            }
        }
    }
    a->bound_port = port_of(&ss);
    return 0;
err:
    for (uint16_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* --- accepting --- */

static void pause_accepting(struct worker *wk, int err)
{
    uint64_t now = uv_now(&wk->loop);

    for (unsigned i = 0; i < wk->n_listeners; i++)
        uv_poll_stop(&wk->listeners[i].poll);
    uv_timer_start(&wk->accept_resume, on_accept_resume, SERVER_ACCEPT_PAUSE_MS, 0);
    metrics_inc(&wk->counters.accept_paused);
    wk->accept_pauses++;
    if (!wk->accept_logged_ms || now - wk->accept_logged_ms >= SERVER_ACCEPT_LOG_MS) {
        log_warn("server", "accepting paused: out of file descriptors or memory", LOG_ERR(err),
                 LOG_UINT("pause_ms", SERVER_ACCEPT_PAUSE_MS),
                 LOG_UINT("pauses", wk->accept_pauses), LOG_INT("worker", wk->id));
        wk->accept_logged_ms = now;
        wk->accept_pauses = 0;
    }
}

static void on_accept_resume(uv_timer_t *timer)
{
    struct worker *wk = timer->data;

    if (!wk->stopping)
        for (unsigned i = 0; i < wk->n_listeners; i++)
            uv_poll_start(&wk->listeners[i].poll, UV_READABLE, on_listen_readable);
}

static void on_listen_readable(uv_poll_t *handle, int status, int events)
{
    struct listener *l = handle->data;
    struct worker *wk = l->wk;

    if (status < 0) {
        log_warn("server", "listener error", LOG_ERR(status), LOG_INT("worker", wk->id));
        return;
    }
    for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                pause_accepting(wk, -e);
                return;
            }
            log_warn("server", "accept failed", LOG_ERR(-e), LOG_INT("worker", wk->id));
            return;
        }
        int rc = conn_accept(&wk->conns, fd, (unsigned)(l - wk->listeners));
        if (rc != 0) {
            close(fd);
            if (rc == UV_ENOMEM) {
                pause_accepting(wk, rc);
                return;
            }
        }
    }
}

/* --- workers --- */

/* Sets up worker i on main's thread, listening on fds[a][i] for each address a; its thread
 * only runs the loop. The worker owns those fds from here on. */
static int worker_setup(struct worker *wk, uint16_t i, const struct server_address *addrs,
                        unsigned n_addrs, int *const *fds)
{
    int rc;

    for (unsigned a = 0; a < n_addrs; a++) {
        wk->listeners[a].fd = fds[a][i];
        wk->listeners[a].planes = addrs[a].planes;
        wk->listeners[a].wk = wk;
        fds[a][i] = -1;
    }
    wk->n_listeners = n_addrs;
    if ((rc = worker_init(wk, &group, i, routes_table(), dispatch_msg)) != 0)
        return rc;
    for (unsigned a = 0; a < n_addrs; a++) {
        struct listener *l = &wk->listeners[a];
        if ((rc = uv_poll_init(&wk->loop, &l->poll, l->fd)) != 0)
            return rc;
        l->poll.data = l;
        if ((rc = uv_poll_start(&l->poll, UV_READABLE, on_listen_readable)) != 0)
            return rc;
    }
    if ((rc = uv_timer_init(&wk->loop, &wk->accept_resume)) != 0)
        return rc;
    wk->accept_resume.data = wk;
    if ((rc = uv_async_init(&wk->loop, &wk->stop, on_stop)) != 0)
        return rc;
    wk->stop.data = wk;
    if ((rc = uv_async_init(&wk->loop, &wk->drain, on_drain)) != 0)
        return rc;
    wk->drain.data = wk;
    if ((rc = uv_async_init(&wk->loop, &wk->reconf, on_reconf)) != 0)
        return rc;
    wk->reconf.data = wk;
    for (unsigned a = 0; a < n_addrs; a++)
        conn_table_set_listener(&wk->conns, a, addrs[a].planes, confs[a]);
    if ((rc = uv_timer_init(&wk->loop, &wk->hold_timer)) != 0)
        return rc;
    wk->hold_timer.data = wk;
    if ((rc = uv_timer_init(&wk->loop, &wk->tick)) != 0)
        return rc;
    wk->tick.data = wk;
    return uv_timer_start(&wk->tick, on_tick, SERVER_TICK_MS, SERVER_TICK_MS);
}

/* Frees worker wk after its loop ended (or never ran): closes what is left on the loop,
 * runs the close callbacks, and frees the tables. */
static void worker_teardown(struct worker *wk)
{
    if (wk->loop.data) {
        uv_walk(&wk->loop, on_walk_close, NULL);
        uv_run(&wk->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&wk->loop) != 0)
            log_warn("server", "loop still had handles at exit", LOG_INT("worker", wk->id));
    }
    worker_close(wk);
    for (unsigned a = 0; a < wk->n_listeners; a++) {
        if (wk->listeners[a].fd >= 0)
            close(wk->listeners[a].fd);
        wk->listeners[a].fd = -1;
    }
}

int server_start(uint16_t n, struct server_address *addrs, unsigned n_addrs)
{
    int *fds[WORKER_MAX_LISTENERS] = {NULL}, rc = 0;
    uint16_t made = 0, started = 0;

    if (n_addrs > WORKER_MAX_LISTENERS)
        return -EINVAL;
    addresses = addrs;
    n_addresses = n_addrs;
    for (unsigned a = 0; a < n_addrs; a++) {
        char err[WEBCONF_ERR_MAX];
        if ((rc = tls_tickets_init(&tickets[a], TLS_TICKET_LIFETIME_S, err, sizeof(err))) != 0) {
            log_error("server", "cannot set up TLS session tickets", LOG_STR("err", err));
            return rc;
        }
        tickets_made[a] = true;
        if ((rc = webconf_load(addrs[a].web_config_file, n, &tickets[a], &confs[a], err,
                               sizeof(err))) != 0) {
            log_error("server", "cannot load the web config file", LOG_STR("flag", addrs[a].flag),
                      LOG_STR("err", err));
            for (unsigned b = 0; b < a; b++)
                webconf_unref(confs[b]);
            return rc;
        }
    }
    if ((rc = worker_group_init(&group, n)) != 0)
        return rc;
    group.reload_ok = 1;
    group.reload_ok_time_s = (uint64_t)time(NULL);
    uv_sem_init(&quiesced, 0);
    for (unsigned a = 0; a < n_addrs; a++) {
        if (!(fds[a] = malloc(n * sizeof(*fds[a])))) {
            rc = UV_ENOMEM;
            goto err;
        }
        for (uint16_t i = 0; i < n; i++)
            fds[a][i] = -1;
        if ((rc = listen_sockets(&addrs[a], fds[a], n)) != 0)
            goto err;
    }
    for (; made < n; made++) {
        if ((rc = worker_setup(&group.workers[made], made, addrs, n_addrs, fds)) != 0) {
            log_error("server", "cannot set up worker", LOG_INT("worker", made), LOG_ERR(rc));
            made++; /* its part-made state is torn down below */
            goto err;
        }
    }
    group.fold.below_percent = (unsigned)config.workers_fold_below;
    if ((rc = fold_init(&group)) != 0) {
        log_error("server", "cannot set up folding", LOG_ERR(rc));
        goto err;
    }
    for (; started < n; started++) {
        struct worker *wk = &group.workers[started];
        if ((rc = uv_thread_create(&wk->thread, worker_main, wk)) != 0) {
            log_error("server", "cannot start thread", LOG_ERR(rc));
            goto err;
        }
    }
    for (unsigned a = 0; a < n_addrs; a++)
        free(fds[a]);
    return 0;
err:
    /* Threads that started are stopped the normal way first; then every worker made,
     * started or not, is torn down (with its sockets), and the sockets of workers never
     * made are closed. */
    if (started)
        stop_threads(started);
    free_workers(made);
    for (unsigned a = 0; a < n_addrs; a++) {
        for (uint16_t i = 0; fds[a] && i < n; i++)
            if (fds[a][i] >= 0)
                close(fds[a][i]);
        free(fds[a]);
    }
    return rc;
}

static void worker_main(void *arg)
{
    struct worker *wk = arg;

    __atomic_add_fetch(&group.running, 1, __ATOMIC_RELEASE);
    fold_run_thread(wk);
    log_debug("server", "loop ended", LOG_INT("worker", wk->id));
}

/* Phase 1 (first stop signal): close the listener, the timers and every connection.
 * Phase 2 (second): close the tables' handles and the stop handle; the loop then ends. */
static void on_stop(uv_async_t *handle)
{
    struct worker *wk = handle->data;

    if (!wk->stopping) {
        wk->stopping = true;
        __atomic_sub_fetch(&group.running, 1, __ATOMIC_RELEASE);
        for (unsigned a = 0; a < wk->n_listeners; a++)
            uv_close((uv_handle_t *)&wk->listeners[a].poll, NULL);
        uv_close((uv_handle_t *)&wk->accept_resume, NULL);
        uv_close((uv_handle_t *)&wk->tick, NULL);
        uv_close((uv_handle_t *)&wk->hold_timer, NULL);
        conn_table_close_all(&wk->conns, "shutting down");
        uv_sem_post(&quiesced);
        return;
    }
    worker_close_handles(wk);
    fold_close_handles(wk);
    uv_close((uv_handle_t *)&wk->drain, NULL);
    uv_close((uv_handle_t *)&wk->reconf, NULL);
    uv_close((uv_handle_t *)&wk->stop, NULL);
}

/* --- reloading --- */

/* On each worker: takes the configurations main left for it. */
static void on_reconf(uv_async_t *handle)
{
    struct worker *wk = handle->data;

    for (unsigned a = 0; a < wk->n_listeners; a++) {
        struct webconf *conf = __atomic_exchange_n(&wk->pending_conf[a], NULL, __ATOMIC_ACQ_REL);
        if (conf) {
            conn_table_set_listener(&wk->conns, a, wk->listeners[a].planes, conf);
            webconf_unref(conf);
        }
    }
}

int server_reload(void)
{
    struct webconf *fresh[WORKER_MAX_LISTENERS] = {NULL};
    char err[WEBCONF_ERR_MAX];
    int rc = 0;

    for (unsigned a = 0; a < n_addresses; a++) {
        if ((rc = webconf_load(addresses[a].web_config_file, group.n, &tickets[a], &fresh[a], err,
                               sizeof(err))) != 0) {
            log_error("server", "reload refused: the configuration in force stays",
                      LOG_STR("flag", addresses[a].flag), LOG_STR("err", err));
            for (unsigned b = 0; b < a; b++)
                webconf_unref(fresh[b]);
            metrics_set(&group.reload_ok, 0);
            return rc;
        }
    }
    for (unsigned a = 0; a < n_addresses; a++) {
        for (uint16_t i = 0; i < group.n; i++) {
            struct worker *wk = &group.workers[i];
            struct webconf *old =
                __atomic_exchange_n(&wk->pending_conf[a], webconf_ref(fresh[a]), __ATOMIC_ACQ_REL);
            webconf_unref(old); /* a reload the worker had not taken yet */
        }
        webconf_unref(confs[a]);
        confs[a] = fresh[a];
    }
    for (uint16_t i = 0; i < group.n; i++)
        uv_async_send(&group.workers[i].reconf);
    metrics_set(&group.reload_ok, 1);
    metrics_set(&group.reload_ok_time_s, (uint64_t)time(NULL));
    log_info("server", "web configuration reloaded");
    return 0;
}

static void on_settled(uv_timer_t *timer)
{
    server_reload();
}

static void on_watch_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void server_unwatch(void)
{
    for (unsigned i = 0; i < watch.n; i++)
        uv_close((uv_handle_t *)&watch.polls[i], on_watch_closed);
    if (watch.n)
        uv_close((uv_handle_t *)&watch.settle, NULL);
    watch.n = 0;
}

static void on_file_changed(uv_fs_poll_t *handle, int status, const uv_stat_t *prev,
                            const uv_stat_t *curr)
{
    log_info("server", "a web config file changed", LOG_STR("file", (const char *)handle->data));
    uv_timer_start(&watch.settle, on_settled, SERVER_RELOAD_SETTLE_MS, 0);
}

int server_watch(uv_loop_t *main_loop)
{
    int rc;

    if ((rc = uv_timer_init(main_loop, &watch.settle)) != 0)
        return rc;
    for (unsigned a = 0; a < n_addresses; a++) {
        /* The file, and the certificate, key and CA files it names at start. A reload that
         * names other files takes effect, but only these are watched; SIGHUP always works. */
        const struct webconfig *wc = &confs[a]->wc;
        const char *paths[4] = {addresses[a].web_config_file, wc->cert_file, wc->key_file,
                                wc->client_ca_file};
        for (unsigned k = 0; k < 4; k++) {
            if (!paths[k] || !paths[k][0] ||
                watch.n == sizeof(watch.polls) / sizeof(watch.polls[0]))
                continue;
            uv_fs_poll_t *p = &watch.polls[watch.n];
            if ((rc = uv_fs_poll_init(main_loop, p)) != 0)
                return rc;
            if (!(p->data = strdup(paths[k])) ||
                (rc = uv_fs_poll_start(p, on_file_changed, p->data, SERVER_WATCH_INTERVAL_MS)) != 0)
                return rc ? rc : UV_ENOMEM;
            watch.n++;
        }
    }
    return 0;
}

/* --- draining --- */

/* On each worker: from now on every answer ends its connection, the polls held here are
 * let go, so their clients poll again elsewhere, and scrapes no poll will come for here
 * are refused. */
static void on_drain(uv_async_t *handle)
{
    struct worker *wk = handle->data;
    unsigned n;

    if (wk->stopping || wk->conns.draining)
        return;
    wk->conns.draining = true;
    n = poll_release_all(wk);
    /* No poll waits here from now on: queued scrapes, and new ones for FQDNs whose polls are
     * gone, are refused at once (503) instead of holding the drain until their timeouts. */
    registry_release(&wk->reg);
    log_info("server", "polls let go", LOG_UINT("polls", n), LOG_INT("worker", wk->id));
}

/* Still to finish: scrapes waiting for their answer, and answers still being written. */
static uint64_t in_flight(void)
{
    uint64_t n = 0, taken = 0, sent = 0;

    /* Moves taken are read before moves sent: a scrape between workers (a move sent, not
     * yet taken; it holds no slot) is counted, or counted twice, never missed. */
    for (uint16_t i = 0; i < group.n; i++)
        taken += metrics_get(&group.workers[i].counters.scrape_moves_taken);
    for (uint16_t i = 0; i < group.n; i++)
        n += metrics_get(&group.workers[i].counters.scrapes_in_flight) +
             metrics_get(&group.workers[i].counters.responses_queued);
    for (uint16_t i = 0; i < group.n; i++)
        sent += metrics_get(&group.workers[i].counters.scrape_moves_sent);
    return n + (sent > taken ? sent - taken : 0);
}

static void on_drain_timer(uv_timer_t *timer)
{
    uint64_t now = uv_now(timer->loop), left;

    if (!drain.released) {
        if (now < drain.release_at_ms)
            return;
        drain.released = true;
        for (uint16_t i = 0; i < group.n; i++)
            uv_async_send(&group.workers[i].drain);
        return; /* the workers answer their polls on their loops; check from the next tick */
    }
    left = in_flight();
    if (left && now < drain.deadline_ms)
        return;
    uv_timer_stop(timer);
    uv_close((uv_handle_t *)timer, NULL);
    drain.done(left == 0, left);
}

void server_drain(uv_loop_t *main_loop, uint64_t delay_ms, uint64_t timeout_ms,
                  server_drained_cb done)
{
    uint64_t now = uv_now(main_loop);

    __atomic_store_n(&group.draining, 1, __ATOMIC_RELEASE);
    drain.release_at_ms = now + delay_ms;
    drain.deadline_ms = now + delay_ms + timeout_ms;
    drain.released = false;
    drain.done = done;
    uv_timer_init(main_loop, &drain.timer);
    uv_timer_start(&drain.timer, on_drain_timer, delay_ms ? delay_ms : 0, SERVER_DRAIN_CHECK_MS);
}

static void stop_threads(uint16_t n)
{
    fold_release(&group); /* every loop on its own thread, so each stops on it */
    inbox_group_stop(&group.inboxes);
    for (uint16_t i = 0; i < n; i++)
        uv_async_send(&group.workers[i].stop);
    for (uint16_t i = 0; i < n; i++)
        uv_sem_wait(&quiesced);
    for (uint16_t i = 0; i < n; i++)
        uv_async_send(&group.workers[i].stop);
    for (uint16_t i = 0; i < n; i++)
        uv_thread_join(&group.workers[i].thread);
}

/* Once no loop runs: tears down the first `made` workers and frees the group. */
static void free_workers(uint16_t made)
{
    for (uint16_t i = 0; i < made; i++) {
        for (unsigned a = 0; a < WORKER_MAX_LISTENERS; a++)
            webconf_unref(group.workers[i].pending_conf[a]);
        worker_teardown(&group.workers[i]);
    }
    for (unsigned a = 0; a < n_addresses; a++) {
        webconf_unref(confs[a]);
        confs[a] = NULL;
        if (tickets_made[a])
            tls_tickets_close(&tickets[a]);
        tickets_made[a] = false;
    }
    uv_sem_destroy(&quiesced);
    fold_close(&group);
    worker_group_close(&group);
}

void server_stop(void)
{
    uint16_t n = group.n;

    stop_threads(n);
    free_workers(n);
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

    registry_sweep(&wk->reg, now);
    poll_expire(wk, now);
    conn_expire_slow(&wk->conns, uv_hrtime());
    metrics_set(&wk->counters.conns_open, wk->conns.n_open);
    fold_tick(wk);
}
