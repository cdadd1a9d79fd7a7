/* parent.c - the parent process of a run (see parent.h).
 *
 * parent_run() reads as the run's steps, each a function below, in this order:
 *   start_children   fork --procs worker processes (child.c), one results pipe each
 *   wait_registered  until every client has its first poll out, or --registration.wait
 *   wait_listed      --check-clients: until the proxy's /clients lists them as well
 *   hold_idle        --idle with the fleet connected and quiet; the proxy's idle figures
 *   scrape           open the scrape phase; gather each child's stats as it finishes
 *   stop_children    phase STOP; the pipes left; reap every child, bounded
 *   account          harness CPU, the proxy's last figures, Ids across every process
 * An error or a signal skips from wherever it happens to stop_children.
 *
 * Owner: the parent process (main thread); struct parent lives on parent_run()'s stack.
 * The shm mapping is shared: the parent writes phase and t0_ns, each thread of each child
 * its own slot, and proc_threads_done is an atomic counter. */
#include "parent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "child.h"
#include "discovery.h"
#include "log.h"
#include "procstat.h"

/* The parent samples progress and the proxy this often. */
#define PARENT_SAMPLE_MS 100
/* Between two questions to the proxy's /clients. */
#define PARENT_LISTED_POLL_MS 200
/* A progress line this often. */
#define PARENT_PRINT_NS 1000000000ull
/* Reaping a child waits up to this many times PARENT_REAP_WAIT_MS, then kills it. */
#define PARENT_REAP_TRIES 100
#define PARENT_REAP_WAIT_MS 50

/* The parent's side of one run. */
struct parent {
    struct run *run;
    struct run_result *res;
    pid_t pids[RUN_MAX_PROCS];     /* 0: not forked, or reaped already */
    int fds[RUN_MAX_PROCS];        /* each child's results pipe; -1: none */
    bool read_done[RUN_MAX_PROCS]; /* its results are read */
    uint64_t t_start_ns;           /* the children were forked */
    /* Progress lines: when the last was printed, and the scrapes it counted. */
    uint64_t last_print_ns, last_ok;
    double last_t;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !got_signal)
        ;
}

/* --- what the parent watches: the progress table, the proxy --- */

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

/* A progress line on stderr at most every PARENT_PRINT_NS; t_s is the phase's clock. */
static void progress(struct parent *pa, const char *phase, uint64_t now, double t_s)
{
    const struct run *run = pa->run;
    struct shm_slot s;

    if (now - pa->last_print_ns < PARENT_PRINT_NS)
        return;
    pa->last_print_ns = now;
    if (!run->progress)
        return;
    sum_slots(run, &s);
    double dt = t_s - pa->last_t;
    double rate = dt > 0 ? (double)(s.scrapes_ok - pa->last_ok) / dt : 0;
    fprintf(stderr,
            "[%7.1fs] %-8s clients %llu/%llu up, %llu polling | scrapes ok %llu (%.0f/s) | "
            "errors %llu (fatal %llu)\n",
            t_s, phase, (unsigned long long)s.connected, (unsigned long long)run->clients,
            (unsigned long long)s.registered, (unsigned long long)s.scrapes_ok, rate,
            (unsigned long long)s.errors, (unsigned long long)s.fatal);
    pa->last_ok = s.scrapes_ok;
    pa->last_t = t_s;
}

/* The proxy's RSS, for the peak. */
static void proxy_sample(struct parent *pa)
{
    struct procstat ps;
    if (!pa->run->proxy_pid || procstat_read(pa->run->proxy_pid, &ps) != 0)
        return;
    if (ps.rss_kib > pa->res->proxy_rss_peak_kib)
        pa->res->proxy_rss_peak_kib = ps.rss_kib;
}

/* The proxy before the run: RSS, and whether it can be watched at all. */
static void proxy_before(struct parent *pa)
{
    const struct run *run = pa->run;
    struct run_result *res = pa->res;
    struct procstat ps;

    if (run->proxy_pid && procstat_read(run->proxy_pid, &ps) == 0) {
        res->have_proxy = true;
        res->proxy_rss_before_kib = ps.rss_kib;
        res->proxy_rss_peak_kib = ps.rss_kib;
    } else if (run->proxy_pid) {
        log_warn("run", "cannot read the proxy's /proc entry", LOG_INT("pid", run->proxy_pid));
    }
}

/* The proxy's CPU spent in the scrape phase (its CPU now, less what it had before). */
static void proxy_scrape_cpu(struct parent *pa)
{
    struct procstat ps;

    if (pa->res->have_proxy && procstat_read(pa->run->proxy_pid, &ps) == 0)
        pa->res->proxy_cpu_scrape_s = ps.cpu_s - pa->res->proxy_cpu_connect_s;
}

/* --- the steps --- */

/* Forks the worker processes. Returns 0 or a negative errno (those forked stay recorded,
 * for stop_children). */
static int start_children(struct parent *pa)
{
    struct run *run = pa->run;

    signal(SIGPIPE, SIG_IGN);
    for (uint64_t p = 0; p < run->procs; p++) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) != 0)
            return -errno;
        pid_t pid = fork();
        if (pid < 0) {
            int rc = -errno;
            close(pfd[0]);
            close(pfd[1]);
            return rc;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (uint64_t q = 0; q < p; q++)
                close(pa->fds[q]);
            close(pfd[0]);
            child_main(run, (int)p, pfd[1]);
        }
        close(pfd[1]);
        pa->pids[p] = pid;
        pa->fds[p] = pfd[0];
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return 0;
}

/* Waits until every client has its first poll out, or --registration.wait passed (then it
 * scrapes anyway), or a signal came. *registered gets the count. Returns 0, or -ECHILD if
 * a worker process died (it is then reaped). */
static int wait_registered(struct parent *pa, uint64_t *registered)
{
    const struct run *run = pa->run;
    struct shm_slot sum;

    pa->last_print_ns = pa->t_start_ns;
    for (;;) {
        sleep_ms(PARENT_SAMPLE_MS);
        uint64_t now = run_now_ns();
        sum_slots(run, &sum);
        *registered = sum.registered;
        proxy_sample(pa);
        int st;
        pid_t dead = waitpid(-1, &st, WNOHANG);
        if (dead > 0) {
            log_error("run", "a worker process exited during the connect phase",
                      LOG_INT("pid", dead), LOG_INT("status", st));
            for (uint64_t p = 0; p < run->procs; p++)
                if (pa->pids[p] == dead)
                    pa->pids[p] = 0;
            return -ECHILD;
        }
        if (got_signal)
            return 0;
        progress(pa, "connect", now, (double)(now - pa->t_start_ns) / 1e9);
        if (sum.registered >= run->clients)
            return 0;
        if (now - pa->t_start_ns > run->registration_wait_ms * 1000000ull) {
            log_warn("run", "not every client registered in time; scraping anyway",
                     LOG_UINT("registered", sum.registered), LOG_UINT("clients", run->clients),
                     LOG_UINT("wait_ms", run->registration_wait_ms));
            return 0;
        }
    }
}

/* A poll written is not yet a poll the proxy took in: waits (within --registration.wait
 * of the start) until its /clients lists as many as registered. Sets res->proxy_listed. */
static void wait_listed(struct parent *pa, uint64_t registered)
{
    const struct run *run = pa->run;
    struct run_result *res = pa->res;

    if (!run->check_clients || run->clients == 0)
        return;
    for (;;) {
        uint64_t listed;
        res->proxy_listed =
            discovery_count(&run->proxy, run->proxy_hostport, run->tls, &listed) == 0
                ? (long long)listed
                : -1;
        if (res->proxy_listed >= (long long)registered || got_signal)
            return;
        if (run_now_ns() - pa->t_start_ns > run->registration_wait_ms * 1000000ull) {
            log_warn("run", "the proxy does not list every registered client",
                     LOG_INT("listed", res->proxy_listed), LOG_UINT("registered", registered));
            return;
        }
        sleep_ms(PARENT_LISTED_POLL_MS);
    }
}

/* The fleet is up: notes how long that took, holds it idle for --idle, then reads the
 * proxy's idle RSS and the CPU it spent so far. */
static void hold_idle(struct parent *pa, uint64_t registered)
{
    const struct run *run = pa->run;
    struct run_result *res = pa->res;
    struct procstat ps;

    res->registered = registered;
    res->connect_s = (double)(run_now_ns() - pa->t_start_ns) / 1e9;
    log_info("run", "clients registered", LOG_UINT("registered", registered),
             LOG_INT("proxy_lists", res->proxy_listed), LOG_DBL("seconds", res->connect_s));
    if (run->idle_ms)
        sleep_ms((unsigned)run->idle_ms);
    if (res->have_proxy && procstat_read(run->proxy_pid, &ps) == 0) {
        res->proxy_rss_idle_kib = ps.rss_kib;
        res->proxy_cpu_connect_s = ps.cpu_s;
        if (ps.rss_kib > res->proxy_rss_peak_kib)
            res->proxy_rss_peak_kib = ps.rss_kib;
    }
}

/* Reads the results child p sent down its pipe into res (once). Returns 0 or the
 * negative errno of a child that died before it sent them. */
static int gather(struct parent *pa, int p)
{
    struct stats st;
    int rc = stats_read(pa->fds[p], &st);

    if (rc != 0)
        log_error("run", "a worker process died before sending its results", LOG_INT("proc", p),
                  LOG_ERR(rc));
    else
        stats_merge(&pa->res->st, &st);
    stats_close(&st);
    pa->read_done[p] = true;
    return rc;
}

/* Opens the scrape phase and waits for every child's results; the phase's length and the
 * proxy's CPU in it are taken when the last thread is done scraping (the children then
 * still close their connections). A signal tells the children to stop early. Returns 0 or
 * the last error of gather(). */
static int scrape(struct parent *pa)
{
    struct run *run = pa->run;
    struct run_result *res = pa->res;
    uint64_t t0 = run_now_ns();
    bool scrape_over = false;
    int n_open = (int)run->procs, rc = 0;

    __atomic_store_n(&run->shm->t0_ns, t0, __ATOMIC_RELAXED);
    __atomic_store_n(&run->shm->phase, RUN_PHASE_SCRAPE, __ATOMIC_RELEASE);
    pa->last_print_ns = t0;
    pa->last_ok = 0;
    pa->last_t = 0;
    while (n_open > 0) {
        struct pollfd pfds[RUN_MAX_PROCS];
        int idx[RUN_MAX_PROCS], n = 0;
        for (uint64_t p = 0; p < run->procs; p++) {
            if (!pa->read_done[p] && pa->fds[p] >= 0) {
                pfds[n].fd = pa->fds[p];
                pfds[n].events = POLLIN;
                idx[n++] = (int)p;
            }
        }
        int pr = poll(pfds, (nfds_t)n, PARENT_SAMPLE_MS);
        uint64_t now = run_now_ns();
        proxy_sample(pa);
        if (got_signal && __atomic_load_n(&run->shm->phase, __ATOMIC_RELAXED) != RUN_PHASE_STOP) {
            log_warn("run", "interrupted; stopping the workers");
            __atomic_store_n(&run->shm->phase, RUN_PHASE_STOP, __ATOMIC_RELEASE);
        }
        if (!scrape_over && all_scrape_done(run)) {
            scrape_over = true;
            res->scrape_s = (double)(now - t0) / 1e9;
            proxy_scrape_cpu(pa);
        }
        progress(pa, scrape_over ? "closing" : "scrape", now, (double)(now - t0) / 1e9);
        for (int i = 0; pr > 0 && i < n; i++) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int r = gather(pa, idx[i]);
            if (r != 0)
                rc = r;
            n_open--;
        }
    }
    if (!scrape_over) {
        res->scrape_s = (double)(run_now_ns() - t0) / 1e9;
        proxy_scrape_cpu(pa);
    }
    return rc;
}

/* Tells every child to stop, reads the results not read yet, and reaps every child:
 * one that does not exit within PARENT_REAP_TRIES * PARENT_REAP_WAIT_MS is killed by its
 * PID. Returns 0, or -ECHILD if any child failed. */
static int stop_children(struct parent *pa)
{
    struct run *run = pa->run;
    int rc = 0;

    __atomic_store_n(&run->shm->phase, RUN_PHASE_STOP, __ATOMIC_RELEASE);
    for (uint64_t p = 0; p < run->procs; p++) {
        if (pa->fds[p] >= 0 && !pa->read_done[p]) {
            struct stats st;
            if (stats_read(pa->fds[p], &st) == 0)
                stats_merge(&pa->res->st, &st);
            stats_close(&st);
        }
        if (pa->fds[p] >= 0)
            close(pa->fds[p]);
    }
    for (uint64_t p = 0; p < run->procs; p++) {
        if (!pa->pids[p])
            continue;
        int st = 0;
        for (int i = 0; i < PARENT_REAP_TRIES && waitpid(pa->pids[p], &st, WNOHANG) == 0; i++)
            sleep_ms(PARENT_REAP_WAIT_MS);
        if (waitpid(pa->pids[p], &st, WNOHANG) == 0) {
            kill(pa->pids[p], SIGKILL);
            waitpid(pa->pids[p], &st, 0);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            log_error("run", "worker process failed", LOG_INT("pid", pa->pids[p]),
                      LOG_INT("status", st));
            rc = -ECHILD;
        }
    }
    return rc;
}

/* The figures of the finished run: the harness's CPU, the proxy's last, and the Id checks
 * across every process (each Id delivered once, each scrape answered by its own push). */
static void account(struct parent *pa)
{
    const struct run *run = pa->run;
    struct run_result *res = pa->res;
    struct procstat ps;
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
    idvec_sort(&res->st.pushed);
    idvec_sort(&res->st.scraped);
    res->dup_delivered = check_idvec_dups(&res->st.pushed);
    res->dup_answered = check_idvec_dups(&res->st.scraped);
    res->unknown_ids = check_idvec_missing(&res->st.scraped, &res->st.pushed);
    res->st.errors[STATS_ERR_DUPLICATE] += res->dup_delivered + res->dup_answered;
    res->st.errors[STATS_ERR_MISROUTED] += res->unknown_ids;
}

int parent_run(struct run *run, struct run_result *res)
{
    struct parent pa = {.run = run, .res = res};
    uint64_t registered = 0;
    int rc, stop_rc;

    memset(res, 0, sizeof(*res));
    stats_init(&res->st);
    res->proxy_listed = -1;
    for (int i = 0; i < RUN_MAX_PROCS; i++)
        pa.fds[i] = -1;
    run->shm =
        mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (run->shm == MAP_FAILED)
        return -errno;
    memset(run->shm, 0, sizeof(*run->shm));
    proxy_before(&pa);

    if ((rc = start_children(&pa)) != 0)
        goto stop;
    pa.t_start_ns = run_now_ns();
    if ((rc = wait_registered(&pa, &registered)) != 0 || got_signal)
        goto stop;
    wait_listed(&pa, registered);
    hold_idle(&pa, registered);
    rc = scrape(&pa);
stop:
    stop_rc = stop_children(&pa);
    if (rc == 0)
        rc = stop_rc;
    account(&pa);
    munmap(run->shm, sizeof(struct shm));
    run->shm = NULL;
    return rc;
}
