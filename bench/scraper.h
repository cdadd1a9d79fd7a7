/* scraper.h - one simulated Prometheus connection to the proxy (keep-alive).
 *
 * It sends `GET http://<fqdn>:<port>/metrics HTTP/1.1` (absolute URI, as Prometheus
 * does through proxy_url) with X-Prometheus-Scrape-Timeout-Seconds, reads the answer and
 * judges it with check_response(); latency runs from the scrape's intended send time
 * (open loop) or its actual send time (closed loop). A scrape not answered by its
 * deadline (timeout + grace) is lost and its connection is dropped.
 *
 * The scrapers of one loop thread share a struct scraper_env: the run's settings, their
 * transport env, the thread's counters, the count of scrapes in flight, and on_idle, by
 * which the thread learns that a scraper can take a scrape.
 *
 * Owner: the loop thread of its env. */
#ifndef BENCH_SCRAPER_H
#define BENCH_SCRAPER_H

#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "http.h"
#include "run.h"
#include "stats.h"
#include "transport.h"

/* A scrape request: the target URL and a few headers. */
#define SCRAPER_REQ_MAX_BYTES 512
/* One read from a scraper's connection: a 20 KB answer in one or two reads. */
#define SCRAPER_READ_BYTES (64 * 1024)
/* Longest fqdn scraped (as sim_client.h's). */
#define SCRAPER_FQDN_MAX 64

struct scraper;

/* What every scraper of one loop thread shares. */
struct scraper_env {
    const struct run *run;
    struct dial *dial;           /* the thread's: plain TCP or its TLS conf */
    struct transport_env tr_env; /* the scrapers' callbacks, read buffer, write requests */
    struct stats *st;            /* the thread's counters */
    uint64_t in_flight;          /* scrapes sent and not yet answered or lost */
    /* s is connected and idle (just connected, or its answer is in): the thread gives it a
     * scrape now (scraper_send) if it has one. Called from s's callbacks. */
    void (*on_idle)(struct scraper_env *env, struct scraper *s);
};

struct scraper {
    struct transport tr;
    struct scraper_env *env;
    unsigned idx;
    struct http_parser parser;
    struct http_head head;
    char req[SCRAPER_REQ_MAX_BYTES];
    size_t req_len;
    char fqdn[SCRAPER_FQDN_MAX];
    uint64_t intended_ns, deadline_ns;
    uint64_t retry_at_ns; /* reconnect no earlier than this (0: now) */
    bool connected, busy, stopping;
    bool in_idle; /* on the thread's idle stack (maybe stale: checked on pop) */
};

/* Sets up the env of one loop thread's scrapers: dial, st and on_idle are the thread's (how
 * to connect, its counters, its scheduler). Returns 0 or UV_ENOMEM; scraper_env_close()
 * either way. */
int scraper_env_init(struct scraper_env *env, uv_loop_t *loop, const struct run *run,
                     struct dial *dial, struct stats *st,
                     void (*on_idle)(struct scraper_env *env, struct scraper *s));
/* Frees the env; only once every scraper on it closed. */
void scraper_env_close(struct scraper_env *env);

void scraper_init(struct scraper *s, struct scraper_env *env, unsigned idx);
/* Connects; once up the scraper calls env->on_idle. A failure is counted, and the
 * scraper may be started again once now passes s->retry_at_ns. */
void scraper_start(struct scraper *s);
/* Sends one scrape of client `target`, due at intended_ns. The scraper must be idle. */
void scraper_send(struct scraper *s, uint64_t target, uint64_t intended_ns);
/* Called from the thread's tick: counts a scrape past its deadline as lost. */
void scraper_check_deadline(struct scraper *s, uint64_t now_ns);
void scraper_stop(struct scraper *s);
void scraper_close(struct scraper *s);

#endif
