/* counters.c - the proxy's own numbers (see counters.h).
 * Owner: each worker writes its own struct counters; readers on other threads use relaxed
 * atomic loads (metrics.h), so a sum is a moment's snapshot, never torn per value. */
#include "counters.h"

#include <string.h>

void counters_init(struct counters *c)
{
    memset(c, 0, sizeof(*c));
    for (int r = 0; r < COUNTERS_MAX_ROUTES; r++)
        metrics_hist_init(&c->duration[r], metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_init(&c->scrape_duration, metrics_duration_bounds, metrics_duration_n_bounds);
}

enum counters_code counters_code(int status)
{
    switch (status) {
    case 200: return CODE_200;
    case 400: return CODE_400;
    case 401: return CODE_401;
    case 403: return CODE_403;
    case 404: return CODE_404;
    case 405: return CODE_405;
    case 408: return CODE_408;
    case 413: return CODE_413;
    case 414: return CODE_414;
    case 429: return CODE_429;
    case 431: return CODE_431;
    case 500: return CODE_500;
    case 502: return CODE_502;
    case 503: return CODE_503;
    default:
        return status < 300   ? CODE_2XX
               : status < 400 ? CODE_3XX
               : status < 500 ? CODE_4XX
                              : CODE_5XX;
    }
}

const char *counters_code_label(enum counters_code code)
{
    static const char *const labels[CODE_COUNT] = {
        "200", "400", "401", "403", "404", "405", "408", "413", "414",
        "429", "431", "500", "502", "503", "2xx", "3xx", "4xx", "5xx",
    };
    return (unsigned)code < CODE_COUNT ? labels[code] : "unknown";
}

const char *counters_limit_label(enum counters_limit limit)
{
    static const char *const labels[LIMIT_COUNT] = {
        [LIMIT_PUSH_MAX_SIZE] = "push.max-size",
        [LIMIT_HTTP_MAX_HEADER_BYTES] = "http.max-header-bytes",
        [LIMIT_POLL_MAX_PER_FQDN] = "poll.max-per-fqdn",
        [LIMIT_SCRAPE_MAX_QUEUED] = "scrape.max-queued-per-fqdn",
        [LIMIT_SCRAPE_MAX_IN_FLIGHT] = "scrape.max-in-flight",
        [LIMIT_REGISTRATION_MAX_FQDNS] = "registration.max-fqdns",
        [LIMIT_WEB_MAX_CONNECTIONS] = "web.max-connections",
        [LIMIT_INBOX_RING] = "INBOX_RING_SIZE",
        [LIMIT_PENDING_BYTES] = "CONN_PENDING_MAX_BYTES",
        [LIMIT_WEB_MAX_IDLE_CONNECTIONS] = "web.max-idle-connections",
        [LIMIT_PUSH_MAX_BUFFERED] = "push.max-buffered",
        [LIMIT_WEB_MAX_TLS_HANDSHAKES] = "web.max-tls-handshakes",
    };
    return (unsigned)limit < LIMIT_COUNT ? labels[limit] : "none";
}

void counters_request(struct counters *c, unsigned route, int status, uint64_t duration_ns)
{
    if (route >= COUNTERS_MAX_ROUTES)
        return;
    metrics_inc(&c->requests[route][counters_code(status)]);
    metrics_hist_observe(&c->duration[route], (double)duration_ns / 1e9);
}

void counters_limit(struct counters *c, enum counters_limit limit)
{
    if ((unsigned)limit < LIMIT_COUNT)
        metrics_inc(&c->limit_hits[limit]);
}
