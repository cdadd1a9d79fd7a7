/* scraper.h - one simulated Prometheus connection to the proxy (keep-alive).
 *
 * It sends `GET http://<fqdn>:<port>/metrics HTTP/1.1` (absolute URI, as Prometheus
 * does through proxy_url) with X-Prometheus-Scrape-Timeout-Seconds, reads the answer and
 * judges it with check_response(); latency runs from the scrape's intended send time
 * (open loop) or its actual send time (closed loop). A scrape not answered by its
 * deadline (timeout + grace) is lost and its connection is dropped.
 *
 * Owner: the worker thread whose loop it lives on. */
#ifndef BENCH_SCRAPER_H
#define BENCH_SCRAPER_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "transport.h"

struct worker;

struct scraper {
    struct transport_conn tc;
    struct worker *wk;
    unsigned idx;
    struct http_parser parser;
    struct http_head head;
    char req[512];
    size_t req_len;
    char fqdn[64];
    uint64_t intended_ns, deadline_ns;
    uint64_t retry_at_ns; /* reconnect no earlier than this (0: now) */
    bool connected, busy, stopping;
    bool in_idle; /* on the worker's idle stack (maybe stale: checked on pop) */
};

void scraper_init(struct scraper *s, struct worker *wk, unsigned idx);
/* Connects; when up the scraper tells its worker it is idle (worker_scraper_idle). */
void scraper_start(struct scraper *s);
/* Sends one scrape of client `target`, due at intended_ns. The scraper must be idle. */
void scraper_send(struct scraper *s, uint64_t target, uint64_t intended_ns);
/* Called from the worker's tick: counts a scrape past its deadline as lost. */
void scraper_check_deadline(struct scraper *s, uint64_t now_ns);
void scraper_stop(struct scraper *s);
void scraper_close(struct scraper *s);

#endif
