/* stats.h - what one bench thread counts, and how counts travel and merge.
 *
 * Each loop thread owns one struct stats and updates it without atomics. At the end a
 * worker process merges its threads' stats and writes them to its pipe (stats_write);
 * the parent reads every child's (stats_read) and merges them again. Progress during the
 * run goes through shared memory instead (see run.h), never through these.
 * Owner: the thread that embeds it; merged copies belong to the merger. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdint.h>

#include "check.h"
#include "hist.h"

/* Errors by kind. misrouted, lost and duplicate make the bench exit non-zero. */
#define STATS_ERRORS(X)                                                                            \
    X(STATUS, "status", "scrape answered with an unexpected status")                               \
    X(TIMEOUT, "timeout", "proxy answered 500 Error scraping (its scrape timeout)")                \
    X(MISROUTED, "misrouted", "body from another fqdn, or an Id no client pushed")                 \
    X(DUPLICATE, "duplicate", "an Id delivered to two polls or answering two scrapes")             \
    X(LOST, "lost", "scrape never answered within its timeout + grace, or its connection died")    \
    X(CONNECT, "connect", "connection to the proxy failed")                                        \
    X(PUSH, "push", "push answered with a status other than 200")                                  \
    X(POLL, "poll", "poll failed: bad status, unparsable scrape request, or connection lost")      \
    X(BODY, "body", "response body without a bench line or with a wrong length")                   \
    X(HANDSHAKE, "handshake", "TLS handshake with the proxy failed (certificate refused, ...)")

enum stats_err {
#define STATS_ENUM(e, name, help) STATS_ERR_##e,
    STATS_ERRORS(STATS_ENUM)
#undef STATS_ENUM
        STATS_ERR_N
};

struct stats {
    uint64_t scrapes_sent, scrapes_ok, scrapes_answered, scrape_body_bytes;
    uint64_t scrapes_unsent; /* open loop: due but never sent (no idle scraper) */
    uint64_t polls_sent, polls_work, polls_expired, pushes_sent, pushes_ok;
    uint64_t connects_ok;
    uint64_t conns_opened_scrape; /* client connections dialled during the scrape phase */
    uint64_t conns_closed_extra;  /* upstream mode: closed after use, the idle pool full */
    uint64_t polls_wrong_host;    /* work for another fqdn (the scraper counts it misrouted) */
    /* TLS handshakes done: connections of clients and scrapers, and --handshakes runs. */
    uint64_t handshakes_full, handshakes_resumed;
    uint64_t errors[STATS_ERR_N];
    struct hist latency_ns; /* scrapes answered 200 and judged OK */
    struct idvec pushed;    /* hashes of the Ids clients received (and pushed) */
    struct idvec scraped;   /* hashes of the Ids in scrape bodies judged OK */
};

void stats_init(struct stats *s);
void stats_close(struct stats *s);

/* Adds src into dst (Id vectors are appended). Returns 0 or -ENOMEM. */
int stats_merge(struct stats *dst, const struct stats *src);

/* Writes / reads one stats to / from a pipe. Return 0 or a negative errno
 * (-EPIPE on a short read: the child died before it finished). */
int stats_write(int fd, const struct stats *s);
int stats_read(int fd, struct stats *s);

const char *stats_err_name(enum stats_err e);
const char *stats_err_help(enum stats_err e);

/* misrouted + lost + duplicate: the ones that make the run fail. */
uint64_t stats_fatal_errors(const struct stats *s);
uint64_t stats_total_errors(const struct stats *s);

#endif
