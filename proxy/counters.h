/* counters.h - the proxy's own numbers: what each worker counts as it works.
 *
 * A leaf: it knows no route, handler or page. Each worker has one struct counters and is
 * its only writer (metrics_inc() and friends: relaxed atomics); whoever serves /metrics
 * (metrics_page.c) reads every worker's copy and sums. Requests are counted by route index
 * (the route table says what each index is called) and by status code. */
#ifndef PROXY_COUNTERS_H
#define PROXY_COUNTERS_H

#include <stdint.h>

#include "metrics.h"

/* The most routes a table may have: request counters are kept per route index. */
#define COUNTERS_MAX_ROUTES 16

/* Status codes counted one by one; any other is counted under its class ("2xx"...). 401,
 * 403 and 429 are the proxy's own answers to a bad credential, a certificate that does not
 * name the FQDN and a rate limit: counted by code, as upstream's client_golang labels them. */
enum counters_code {
    CODE_200,
    CODE_400,
    CODE_401,
    CODE_403,
    CODE_404,
    CODE_405,
    CODE_408,
    CODE_413,
    CODE_414,
    CODE_429,
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
enum counters_limit {
    LIMIT_PUSH_MAX_SIZE,
    LIMIT_HTTP_MAX_HEADER_BYTES,
    LIMIT_POLL_MAX_PER_FQDN,
    LIMIT_SCRAPE_MAX_QUEUED,
    LIMIT_SCRAPE_MAX_IN_FLIGHT,
    LIMIT_REGISTRATION_MAX_FQDNS,
    LIMIT_WEB_MAX_CONNECTIONS,
    LIMIT_INBOX_RING,
    LIMIT_PENDING_BYTES,
    LIMIT_WEB_MAX_IDLE_CONNECTIONS,
    LIMIT_PUSH_MAX_BUFFERED,
    LIMIT_WEB_MAX_TLS_HANDSHAKES,
    LIMIT_COUNT,
    LIMIT_NONE = -1
};

struct counters {
    uint64_t requests[COUNTERS_MAX_ROUTES][CODE_COUNT];
    struct metrics_hist duration[COUNTERS_MAX_ROUTES];
    uint64_t proxied[CODE_COUNT];
    struct metrics_hist scrape_duration;
    uint64_t limit_hits[LIMIT_COUNT];
    uint64_t scrape_timeouts;
    uint64_t scrapes_client_gone; /* answered 502: the client's connections closed */
    uint64_t push_stale;
    uint64_t msgs_received;
    uint64_t backlogged;
    uint64_t accept_paused;           /* times accepting paused for want of file descriptors */
    uint64_t tls_handshakes;          /* full TLS handshakes done */
    uint64_t tls_resumed;             /* resumed ones (a session ticket) */
    uint64_t tls_handshake_errors;    /* failed or too slow */
    uint64_t identity_rejections[2];  /* a poll [0] or push [1] the certificate may not make */
    uint64_t identity_header_ignored; /* X-PushProx-Client-Cert from an untrusted peer */
    uint64_t conns_moved;             /* client connections taken from another worker */
    uint64_t scrapes_moved;           /* Prometheus's, taken with a scrape */
    uint64_t scrape_moves_sent;       /* SCRAPE_MOVEs sent (the drain: sent - taken are */
    uint64_t scrape_moves_taken;      /* scrapes between workers, holding no slot) */
    uint64_t pushes_owner_answered;   /* pushes given their verdict by the FQDN's owner */
    uint64_t folds;                   /* times the loops were lent to worker 0 (fold.c) */
    /* Gauges. */
    uint64_t conns_open;
    uint64_t polls_waiting; /* in this worker's shard */
    uint64_t clients;       /* FQDNs this shard would list in /clients, at the last sweep */
    uint64_t fqdns;         /* records in this shard */
    uint64_t scrapes_in_flight;
    uint64_t responses_queued; /* responses still being written (did not fit the socket) */
    uint64_t inbox_depth;
    uint64_t loops_lent; /* other workers' loops this one's thread runs (fold.c) */
};

/* Zeroes every number and sets the histograms' buckets. Can't fail. */
void counters_init(struct counters *c);
enum counters_code counters_code(int status);
/* The label of a counted code: "200", "4xx"... */
const char *counters_code_label(enum counters_code code);
/* The flag or constant that sets a limit: "push.max-size"... */
const char *counters_limit_label(enum counters_limit limit);

/* Counts one finished request of route index `route` (< COUNTERS_MAX_ROUTES). */
void counters_request(struct counters *c, unsigned route, int status, uint64_t duration_ns);
/* Counts one refusal by a limit; LIMIT_NONE counts nothing. */
void counters_limit(struct counters *c, enum counters_limit limit);

#endif
