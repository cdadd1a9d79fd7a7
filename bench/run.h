/* run.h - one bench run: its settings, the progress table its processes share, and what
 * the parent learns of it.
 *
 * The parent (parent.c) forks --procs worker processes (child.c) before it creates any
 * thread; each runs --threads loop threads (worker.c) holding a share of the clients and
 * scrapers, and reports back twice: progress through a shared anonymous mapping (struct
 * shm, relaxed atomics, one slot per thread, written by that thread only), and its final
 * stats through its pipe. Everything below the parent reads its settings from here.
 * Owner: struct run is written by main before the fork and read-only afterwards (a child
 * fills in its own fields first); struct shm as said above; struct run_result is the
 * parent's. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

struct dial_tls; /* dial.h */

/* Bounds of the shared progress table (a 20,000-fd host needs a few procs, not 64). */
#define RUN_MAX_PROCS 64
#define RUN_MAX_THREADS 64

/* How the simulated clients talk to the proxy (--client-mode). */
enum run_client_mode { RUN_CLIENTS_PIPELINED = 0, RUN_CLIENTS_UPSTREAM };

enum run_phase { RUN_PHASE_CONNECT = 0, RUN_PHASE_SCRAPE, RUN_PHASE_STOP };

/* One thread's progress, published from its tick. Padded to a cache line. */
struct shm_slot {
    uint64_t connected;  /* clients whose connection is up */
    uint64_t registered; /* clients whose first poll was written */
    uint64_t scrapes_ok;
    uint64_t scrapes_answered;
    uint64_t errors;
    uint64_t fatal; /* misrouted + lost + duplicate so far */
    uint64_t pad[2];
};

struct shm {
    int phase;      /* enum run_phase; written by the parent */
    uint64_t t0_ns; /* CLOCK_MONOTONIC start of the scrape phase; set before phase */
    uint64_t proc_threads_done[RUN_MAX_PROCS]; /* threads that finished scraping, per proc */
    struct shm_slot slots[RUN_MAX_PROCS * RUN_MAX_THREADS];
};

struct run {
    /* From the flags. */
    uint64_t clients, scrapers, threads, procs;
    uint64_t body_bytes;
    double rate;          /* scrapes/s over the whole run; 0 = closed loop */
    uint64_t duration_ms; /* 0 = until scrapes are done */
    uint64_t scrapes;     /* 0 = until the duration ends */
    uint64_t scrape_timeout_ms, grace_ms, idle_ms, registration_wait_ms;
    uint64_t source_addrs;
    uint64_t connect_concurrency;
    uint64_t seed;
    int target_port;
    bool pipeline;
    int client_mode;          /* enum run_client_mode */
    uint64_t scrape_delay_ms; /* upstream mode: the exporter's answer time */
    const char *plain_path;   /* NULL: scrape through the proxy; else plain GET of this path */
    bool progress;
    bool check_clients; /* ask the proxy's /clients before the scrape phase */
    pid_t proxy_pid;    /* 0 = not measured */
    struct sockaddr_in proxy;
    char proxy_hostport[64];    /* as sent in Host: headers */
    const struct dial_tls *tls; /* NULL: plain TCP */
    uint64_t handshakes;        /* --handshakes: the phase opens and closes TLS connections */
    const char *fqdn_suffix;

    /* Derived before the fork. */
    char *filler; /* filler lines, shared read-only; body bytes come from its end */
    size_t filler_len;
    struct shm *shm;
    int proc;                         /* in a child: its index */
    int out_fd;                       /* in a child: its results pipe */
    uint64_t first_client, n_clients; /* in a child: its share */
};

/* What the parent learns about a run. */
struct run_result {
    struct stats st;
    double scrape_s;        /* length of the scrape phase */
    double connect_s;       /* connect + registration */
    uint64_t registered;    /* clients with a poll out when scraping began */
    long long proxy_listed; /* fqdns in the proxy's /clients, -1 if not asked */
    /* Proxy figures (proxy_pid set). */
    bool have_proxy;
    uint64_t proxy_rss_before_kib, proxy_rss_idle_kib, proxy_rss_peak_kib, proxy_hwm_kib;
    double proxy_cpu_scrape_s; /* utime + stime during the scrape phase */
    double proxy_cpu_connect_s;
    uint64_t proxy_threads;
    uint64_t nofile_limit;
    double harness_cpu_s; /* utime + stime of every worker process, whole run */
    /* Id checks across all processes (already added into st.errors). */
    uint64_t dup_delivered, dup_answered, unknown_ids;
};

/* total split into parts as evenly as can be (the first parts take one more): part idx
 * starts at *first and holds *n. Can't fail; 0 parts hold nothing. */
void run_split(uint64_t total, uint64_t parts, uint64_t idx, uint64_t *first, uint64_t *n);

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline and latency. */
uint64_t run_now_ns(void);

/* Formats the fqdn of client i ("c17.bench") into out (cap bytes). Returns its length,
 * as snprintf() does. */
int run_fqdn(const struct run *run, uint64_t i, char *out, size_t cap);

#endif
