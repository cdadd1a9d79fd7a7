/* run.c - the bench's processes and phases (see run.h).
 * Owner: run_parent() runs in the parent only; run_child() in each forked worker process,
 * which owns its threads. The shm mapping is shared: the parent writes phase and t0_ns,
 * each thread writes its own slot, and proc_threads_done is an atomic counter.
 * Life: run_parent() forks, drives the phases, reads every pipe, reaps every child. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "check.h"
#include "discovery.h"
#include "log.h"
#include "procstat.h"
#include "worker.h"

/* The parent samples progress and the proxy this often. */
#define RUN_SAMPLE_MS 100

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

uint64_t run_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void run_split(uint64_t total, uint64_t parts, uint64_t idx, uint64_t *first, uint64_t *n)
{
    if (parts == 0) {
        *first = 0;
        *n = 0;
        return;
    }
    uint64_t base = total / parts, extra = total % parts;
    *n = base + (idx < extra ? 1 : 0);
    *first = idx * base + (idx < extra ? idx : extra);
}

int run_fqdn(const struct run *run, uint64_t i, char *out, size_t cap)
{
    return snprintf(out, cap, "c%llu.%s", (unsigned long long)i, run->fqdn_suffix);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !got_signal)
        ;
}

void run_child(struct run *run)
{
    struct worker *wks = calloc(run->threads, sizeof(*wks));
    struct stats total;
    int rc = 0;

    /* The parent handles ^C and TERM (timeout(1) signals the whole group) and tells us
     * through shm; if the parent dies we get SIGKILL (PR_SET_PDEATHSIG). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    stats_init(&total);
    if (!wks)
        _exit(3);
    for (uint64_t i = 0; i < run->threads; i++) {
        if ((rc = worker_init(&wks[i], run, (int)i)) != 0) {
            log_error("run", "worker init failed", LOG_ERR(rc));
            _exit(3);
        }
    }
    for (uint64_t i = 0; i < run->threads; i++) {
        if ((rc = pthread_create(&wks[i].thread, NULL, worker_main, &wks[i])) != 0) {
            log_error("run", "pthread_create failed", LOG_ERR(-rc));
            _exit(3);
        }
    }
    for (uint64_t i = 0; i < run->threads; i++) {
        pthread_join(wks[i].thread, NULL);
        stats_merge(&total, &wks[i].st);
        stats_close(&wks[i].st);
        worker_close(&wks[i]);
    }
    free(wks);
    rc = stats_write(run->out_fd, &total);
    stats_close(&total);
    free(run->filler);
    _exit(rc == 0 ? 0 : 3);
}

static void sum_slots(const struct run *run, struct shm_slot *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (uint64_t p = 0; p < run->procs; p++) {
        for (uint64_t t = 0; t < run->threads; t++) {
            const struct shm_slot *s = &run->shm->slots[p * RUN_MAX_THREADS + t];
            sum->connected += __atomic_load_n(&s->connected, __ATOMIC_RELAXED);
            sum->registered += __atomic_load_n(&s->registered, __ATOMIC_RELAXED);
            sum->scrapes_ok += __atomic_load_n(&s->scrapes_ok, __ATOMIC_RELAXED);
            sum->scrapes_answered += __atomic_load_n(&s->scrapes_answered, __ATOMIC_RELAXED);
            sum->errors += __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
            sum->fatal += __atomic_load_n(&s->fatal, __ATOMIC_RELAXED);
        }
    }
}

static bool all_scrape_done(const struct run *run)
{
    for (uint64_t p = 0; p < run->procs; p++)
        if (__atomic_load_n(&run->shm->proc_threads_done[p], __ATOMIC_ACQUIRE) < run->threads)
            return false;
    return true;
}

/* A child that exited before it was reaped. Returns its pid or 0. */
static pid_t reap_early(pid_t *pids, int *status_out)
{
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p > 0) {
        *status_out = st;
        return p;
    }
    return 0;
}

static void progress(const struct run *run, const char *phase, double t_s, uint64_t *last_ok,
                     double *last_t)
{
    if (!run->progress)
        return;
    struct shm_slot s;
    sum_slots(run, &s);
    double dt = t_s - *last_t;
    double rate = dt > 0 ? (double)(s.scrapes_ok - *last_ok) / dt : 0;
    fprintf(stderr,
            "[%7.1fs] %-8s clients %llu/%llu up, %llu polling | scrapes ok %llu (%.0f/s) | "
            "errors %llu (fatal %llu)\n",
            t_s, phase, (unsigned long long)s.connected, (unsigned long long)run->clients,
            (unsigned long long)s.registered, (unsigned long long)s.scrapes_ok, rate,
            (unsigned long long)s.errors, (unsigned long long)s.fatal);
    *last_ok = s.scrapes_ok;
    *last_t = t_s;
}

static void proxy_sample(const struct run *run, struct run_result *res)
{
    struct procstat ps;
    if (!run->proxy_pid || procstat_read(run->proxy_pid, &ps) != 0)
        return;
    if (ps.rss_kib > res->proxy_rss_peak_kib)
        res->proxy_rss_peak_kib = ps.rss_kib;
}

int run_parent(struct run *run, struct run_result *res)
{
    pid_t pids[RUN_MAX_PROCS] = {0};
    int fds[RUN_MAX_PROCS];
    bool read_done[RUN_MAX_PROCS] = {0};
    int rc = 0;
    struct procstat ps;

    memset(res, 0, sizeof(*res));
    stats_init(&res->st);
    res->proxy_listed = -1;
    for (int i = 0; i < RUN_MAX_PROCS; i++)
        fds[i] = -1;

    run->shm =
        mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (run->shm == MAP_FAILED)
        return -errno;
    memset(run->shm, 0, sizeof(*run->shm));

    if (run->proxy_pid && procstat_read(run->proxy_pid, &ps) == 0) {
        res->have_proxy = true;
        res->proxy_rss_before_kib = ps.rss_kib;
        res->proxy_rss_peak_kib = ps.rss_kib;
    } else if (run->proxy_pid) {
        log_warn("run", "cannot read the proxy's /proc entry", LOG_INT("pid", run->proxy_pid));
    }

    signal(SIGPIPE, SIG_IGN);
    for (uint64_t p = 0; p < run->procs; p++) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) != 0) {
            rc = -errno;
            goto stop;
        }
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            close(pfd[0]);
            close(pfd[1]);
            goto stop;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (uint64_t q = 0; q < p; q++)
                close(fds[q]);
            close(pfd[0]);
            run->proc = (int)p;
            run->out_fd = pfd[1];
            run_split(run->clients, run->procs, p, &run->first_client, &run->n_clients);
            run_child(run);
        }
        close(pfd[1]);
        pids[p] = pid;
        fds[p] = pfd[0];
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Phase 1: connect and register every client. */
    uint64_t t_start = run_now_ns(), last_print = t_start, last_ok = 0;
    double last_t = 0;
    struct shm_slot sum;
    for (;;) {
        sleep_ms(RUN_SAMPLE_MS);
        uint64_t now = run_now_ns();
        sum_slots(run, &sum);
        proxy_sample(run, res);
        int st;
        pid_t dead = reap_early(pids, &st);
        if (dead) {
            log_error("run", "a worker process exited during the connect phase",
                      LOG_INT("pid", dead), LOG_INT("status", st));
            rc = -ECHILD;
            for (uint64_t p = 0; p < run->procs; p++)
                if (pids[p] == dead)
                    pids[p] = 0;
            goto stop;
        }
        if (got_signal)
            goto stop;
        if (now - last_print >= 1000000000ull) {
            progress(run, "connect", (double)(now - t_start) / 1e9, &last_ok, &last_t);
            last_print = now;
        }
        if (sum.registered >= run->clients)
            break;
        if (now - t_start > run->registration_wait_ms * 1000000ull) {
            log_warn("run", "not every client registered in time; scraping anyway",
                     LOG_UINT("registered", sum.registered), LOG_UINT("clients", run->clients),
                     LOG_UINT("wait_ms", run->registration_wait_ms));
            break;
        }
    }
    /* The poll is written; make sure the proxy has taken it in (its /clients lists it). */
    if (run->check_clients && run->clients > 0) {
        for (;;) {
            uint64_t listed;
            res->proxy_listed = discovery_count(&run->proxy, run->proxy_hostport, &listed) == 0
                                    ? (long long)listed
                                    : -1;
            if (res->proxy_listed >= (long long)sum.registered || got_signal)
                break;
            if (run_now_ns() - t_start > run->registration_wait_ms * 1000000ull) {
                log_warn("run", "the proxy does not list every registered client",
                         LOG_INT("listed", res->proxy_listed),
                         LOG_UINT("registered", sum.registered));
                break;
            }
            sleep_ms(200);
        }
    }
    res->registered = sum.registered;
    res->connect_s = (double)(run_now_ns() - t_start) / 1e9;
    log_info("run", "clients registered", LOG_UINT("registered", sum.registered),
             LOG_INT("proxy_lists", res->proxy_listed), LOG_DBL("seconds", res->connect_s));
    if (run->idle_ms)
        sleep_ms((unsigned)run->idle_ms);
    if (res->have_proxy && procstat_read(run->proxy_pid, &ps) == 0) {
        res->proxy_rss_idle_kib = ps.rss_kib;
        res->proxy_cpu_connect_s = ps.cpu_s;
        if (ps.rss_kib > res->proxy_rss_peak_kib)
            res->proxy_rss_peak_kib = ps.rss_kib;
    }

    /* Phase 2: scrape. */
    uint64_t t0 = run_now_ns();
    __atomic_store_n(&run->shm->t0_ns, t0, __ATOMIC_RELAXED);
    __atomic_store_n(&run->shm->phase, RUN_PHASE_SCRAPE, __ATOMIC_RELEASE);
    last_print = t0;
    last_ok = 0;
    last_t = 0;
    bool scrape_over = false;
    int n_open = (int)run->procs;
    while (n_open > 0) {
        struct pollfd pfds[RUN_MAX_PROCS];
        int idx[RUN_MAX_PROCS], n = 0;
        for (uint64_t p = 0; p < run->procs; p++) {
            if (!read_done[p] && fds[p] >= 0) {
                pfds[n].fd = fds[p];
                pfds[n].events = POLLIN;
                idx[n++] = (int)p;
            }
        }
        int pr = poll(pfds, (nfds_t)n, RUN_SAMPLE_MS);
        uint64_t now = run_now_ns();
        proxy_sample(run, res);
        if (got_signal && __atomic_load_n(&run->shm->phase, __ATOMIC_RELAXED) != RUN_PHASE_STOP) {
            log_warn("run", "interrupted; stopping the workers");
            __atomic_store_n(&run->shm->phase, RUN_PHASE_STOP, __ATOMIC_RELEASE);
        }
        if (!scrape_over && all_scrape_done(run)) {
            scrape_over = true;
            res->scrape_s = (double)(now - t0) / 1e9;
            if (res->have_proxy && procstat_read(run->proxy_pid, &ps) == 0)
                res->proxy_cpu_scrape_s = ps.cpu_s - res->proxy_cpu_connect_s;
        }
        if (now - last_print >= 1000000000ull) {
            progress(run, scrape_over ? "closing" : "scrape", (double)(now - t0) / 1e9, &last_ok,
                     &last_t);
            last_print = now;
        }
        for (int i = 0; pr > 0 && i < n; i++) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int p = idx[i];
            struct stats st;
            int r = stats_read(fds[p], &st);
            if (r != 0) {
                log_error("run", "a worker process died before sending its results",
                          LOG_INT("proc", p), LOG_ERR(r));
                rc = r;
            } else {
                stats_merge(&res->st, &st);
            }
            stats_close(&st);
            read_done[p] = true;
            n_open--;
        }
    }
    if (!scrape_over) {
        res->scrape_s = (double)(run_now_ns() - t0) / 1e9;
        if (res->have_proxy && procstat_read(run->proxy_pid, &ps) == 0)
            res->proxy_cpu_scrape_s = ps.cpu_s - res->proxy_cpu_connect_s;
    }

stop:
    __atomic_store_n(&run->shm->phase, RUN_PHASE_STOP, __ATOMIC_RELEASE);
    for (uint64_t p = 0; p < run->procs; p++) {
        if (fds[p] >= 0 && !read_done[p]) {
            struct stats st;
            if (stats_read(fds[p], &st) == 0)
                stats_merge(&res->st, &st);
            stats_close(&st);
        }
        if (fds[p] >= 0)
            close(fds[p]);
    }
    /* Reap every child, bounded: a child that hangs is killed by its PID. */
    for (uint64_t p = 0; p < run->procs; p++) {
        if (!pids[p])
            continue;
        int st = 0;
        for (int i = 0; i < 100 && waitpid(pids[p], &st, WNOHANG) == 0; i++)
            sleep_ms(50);
        if (waitpid(pids[p], &st, WNOHANG) == 0) {
            kill(pids[p], SIGKILL);
            waitpid(pids[p], &st, 0);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            log_error("run", "worker process failed", LOG_INT("pid", pids[p]),
                      LOG_INT("status", st));
            if (rc == 0)
                rc = -ECHILD;
        }
    }
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
        res->harness_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (res->have_proxy && procstat_read(run->proxy_pid, &ps) == 0) {
        res->proxy_hwm_kib = ps.hwm_kib;
        res->proxy_threads = ps.threads;
        if (ps.rss_kib > res->proxy_rss_peak_kib)
            res->proxy_rss_peak_kib = ps.rss_kib;
    }

    /* Ids across every process: each delivered once, each scrape answered by its own. */
    idvec_sort(&res->st.pushed);
    idvec_sort(&res->st.scraped);
    res->dup_delivered = check_idvec_dups(&res->st.pushed);
    res->dup_answered = check_idvec_dups(&res->st.scraped);
    res->unknown_ids = check_idvec_missing(&res->st.scraped, &res->st.pushed);
    res->st.errors[STATS_ERR_DUPLICATE] += res->dup_delivered + res->dup_answered;
    res->st.errors[STATS_ERR_MISROUTED] += res->unknown_ids;
    munmap(run->shm, sizeof(struct shm));
    run->shm = NULL;
    return rc;
}
