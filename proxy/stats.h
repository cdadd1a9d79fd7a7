/* stats.h - the proxy's own metrics, served on /metrics.
 *
 * Owner: each worker has one struct stats and is its only writer (metrics_inc() etc.,
 * relaxed atomics); /metrics, on whichever worker gets it, reads every worker's copy and
 * sums. Names follow upstream where upstream has them (pushprox_http_requests_total,
 * pushproxy_proxied_requests_total (sic), pushprox_http_duration_seconds,
 * pushprox_proxy_clients). */
#ifndef PROXY_STATS_H
#define PROXY_STATS_H

#include <stdint.h>

#include "conn.h"
#include "metrics.h"

/* Status codes counted one by one; any other is counted under its class ("2xx"...). */
enum stats_code {
    CODE_200,
    CODE_400,
    CODE_404,
    CODE_405,
    CODE_408,
    CODE_413,
    CODE_414,
    CODE_431,
    CODE_500,
    CODE_502,
    CODE_503,
    CODE_2XX,
    CODE_3XX,
    CODE_4XX,
    CODE_5XX,
    CODE_COUNT
};

/* Limits that refuse work; each refusal is counted under its flag or constant's name. */
enum stats_limit {
    LIMIT_PUSH_MAX_SIZE,
    LIMIT_HTTP_MAX_HEADER_BYTES,
    LIMIT_POLL_MAX_PER_FQDN,
    LIMIT_SCRAPE_MAX_QUEUED,
    LIMIT_SCRAPE_MAX_IN_FLIGHT,
    LIMIT_REGISTRATION_MAX_FQDNS,
    LIMIT_WEB_MAX_CONNECTIONS,
    LIMIT_INBOX_RING,
    LIMIT_PENDING_BYTES,
    LIMIT_COUNT
};

struct stats {
    uint64_t requests[ROUTE_COUNT][CODE_COUNT];
    struct metrics_hist duration[ROUTE_COUNT];
    uint64_t proxied[CODE_COUNT];
    struct metrics_hist scrape_duration;
    uint64_t limit_hits[LIMIT_COUNT];
    uint64_t scrape_timeouts;
    uint64_t push_stale;
    uint64_t msgs_received;
    uint64_t backlogged;
    /* Gauges. */
    uint64_t conns_open;
    uint64_t polls_waiting; /* in this worker's shard */
    uint64_t clients;       /* FQDNs this shard would list in /clients, at the last sweep */
    uint64_t fqdns;         /* records in this shard */
    uint64_t scrapes_in_flight;
    uint64_t inbox_depth;
};

void stats_init(struct stats *s);
enum stats_code stats_code(int status);
/* Counts one finished request. */
void stats_request(struct stats *s, enum conn_route route, int status, uint64_t duration_ns);
void stats_limit(struct stats *s, enum stats_limit limit);

/* Serves GET /metrics on c. */
void stats_serve(struct conn *c);

#endif
