/* stats.c - the proxy's /metrics (see stats.h).
 *
 * Owner: each worker writes its own struct stats; stats_serve() runs on whichever worker
 * got the request and reads every worker's with relaxed atomic loads (metrics.h). Sums
 * are therefore a moment's snapshot, never torn per value. */
#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "worker.h"

/* Bound of one /metrics answer. */
#define STATS_MAX_BYTES (4u * 1024 * 1024)

static const char *const route_path[ROUTE_COUNT] = {
    [ROUTE_SCRAPE] = "proxy",     [ROUTE_POLL] = "/poll",       [ROUTE_PUSH] = "/push",
    [ROUTE_CLIENTS] = "/clients", [ROUTE_METRICS] = "/metrics", [ROUTE_OTHER] = "other",
};

static const char *const code_label[CODE_COUNT] = {
    "200", "400", "404", "405", "408", "413", "414", "431",
    "500", "502", "503", "2xx", "3xx", "4xx", "5xx",
};

static const char *const limit_label[LIMIT_COUNT] = {
    [LIMIT_PUSH_MAX_SIZE] = "push.max-size",
    [LIMIT_HTTP_MAX_HEADER_BYTES] = "http.max-header-bytes",
    [LIMIT_POLL_MAX_PER_FQDN] = "poll.max-per-fqdn",
    [LIMIT_SCRAPE_MAX_QUEUED] = "scrape.max-queued-per-fqdn",
    [LIMIT_SCRAPE_MAX_IN_FLIGHT] = "scrape.max-in-flight",
    [LIMIT_REGISTRATION_MAX_FQDNS] = "registration.max-fqdns",
    [LIMIT_WEB_MAX_CONNECTIONS] = "web.max-connections",
    [LIMIT_INBOX_RING] = "INBOX_RING_SIZE",
    [LIMIT_PENDING_BYTES] = "CONN_PENDING_MAX_BYTES",
};

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof(*s));
    for (int r = 0; r < ROUTE_COUNT; r++)
        metrics_hist_init(&s->duration[r], metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_init(&s->scrape_duration, metrics_duration_bounds, metrics_duration_n_bounds);
}

enum stats_code stats_code(int status)
{
    switch (status) {
    case 200: return CODE_200;
    case 400: return CODE_400;
    case 404: return CODE_404;
    case 405: return CODE_405;
    case 408: return CODE_408;
    case 413: return CODE_413;
    case 414: return CODE_414;
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

void stats_request(struct stats *s, enum conn_route route, int status, uint64_t duration_ns)
{
    metrics_inc(&s->requests[route][stats_code(status)]);
    metrics_hist_observe(&s->duration[route], (double)duration_ns / 1e9);
}

void stats_limit(struct stats *s, enum stats_limit limit)
{
    metrics_inc(&s->limit_hits[limit]);
}

/* Worker i's counter or gauge at offset `off` in struct stats. */
static uint64_t stat_at(uint16_t i, size_t off)
{
    return metrics_get((const uint64_t *)((const char *)&workers[i].stats + off));
}

/* Sums one counter or gauge over every worker. */
static uint64_t sum_at(size_t off)
{
    uint64_t v = 0;
    for (uint16_t i = 0; i < n_workers; i++)
        v += stat_at(i, off);
    return v;
}

#define SUM(field) sum_at(offsetof(struct stats, field))

static int write_scalar(struct buf *out, const char *name, const char *type, const char *help,
                        uint64_t v)
{
    int rc = metrics_write_header(out, name, type, help);
    return rc ? rc : metrics_write_sample(out, name, NULL, (double)v);
}

/* One sample per worker, labelled worker="N"; `off` as in sum_at(). */
static int write_per_worker(struct buf *out, const char *name, const char *type, const char *help,
                            size_t off)
{
    char labels[32];
    int rc = metrics_write_header(out, name, type, help);

    for (uint16_t i = 0; rc == 0 && i < n_workers; i++) {
        snprintf(labels, sizeof(labels), "worker=\"%u\"", (unsigned)i);
        rc = metrics_write_sample(out, name, labels, (double)stat_at(i, off));
    }
    return rc;
}

static int write_metrics(struct buf *out)
{
    char labels[128];
    int rc = 0;

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != 0)                                                                       \
            return rc;                                                                             \
    } while (0)

    TRY(metrics_write_header(out, "pushprox_http_requests_total", "counter",
                             "Number of HTTP requests, by path and response code."));
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int k = 0; k < CODE_COUNT; k++) {
            uint64_t v = SUM(requests[r][k]);
            if (!v)
                continue;
            snprintf(labels, sizeof(labels), "code=\"%s\",path=\"%s\"", code_label[k],
                     route_path[r]);
            TRY(metrics_write_sample(out, "pushprox_http_requests_total", labels, (double)v));
        }

    TRY(metrics_write_header(out, "pushproxy_proxied_requests_total", "counter",
                             "Number of scrapes proxied to clients, by the code returned."));
    for (int k = 0; k < CODE_COUNT; k++) {
        uint64_t v = SUM(proxied[k]);
        if (!v)
            continue;
        snprintf(labels, sizeof(labels), "code=\"%s\"", code_label[k]);
        TRY(metrics_write_sample(out, "pushproxy_proxied_requests_total", labels, (double)v));
    }

    TRY(metrics_write_header(out, "pushprox_http_duration_seconds", "histogram",
                             "Time taken by HTTP requests, by path."));
    for (int r = 0; r < ROUTE_COUNT; r++) {
        struct metrics_hist h;
        metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
        for (uint16_t i = 0; i < n_workers; i++)
            metrics_hist_merge(&h, &workers[i].stats.duration[r]);
        snprintf(labels, sizeof(labels), "path=\"%s\"", route_path[r]);
        TRY(metrics_write_hist(out, "pushprox_http_duration_seconds", labels, &h));
    }

    TRY(metrics_write_header(out, "pushprox_proxy_scrape_duration_seconds", "histogram",
                             "Time from a scrape's arrival to its answer, however answered."));
    {
        struct metrics_hist h;
        metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
        for (uint16_t i = 0; i < n_workers; i++)
            metrics_hist_merge(&h, &workers[i].stats.scrape_duration);
        TRY(metrics_write_hist(out, "pushprox_proxy_scrape_duration_seconds", NULL, &h));
    }

    TRY(write_scalar(out, "pushprox_proxy_clients", "gauge",
                     "Clients listed in /clients: a poll open, or seen within "
                     "--registration.timeout (as of the last sweep).",
                     SUM(clients)));
    TRY(write_scalar(out, "pushprox_proxy_fqdns", "gauge",
                     "FQDNs in the client table, including those only scraped.", SUM(fqdns)));
    TRY(write_scalar(out, "pushprox_proxy_polls_waiting", "gauge", "Polls waiting for a scrape.",
                     SUM(polls_waiting)));
    TRY(write_scalar(out, "pushprox_proxy_scrapes_in_flight", "gauge",
                     "Scrapes waiting for their answer (as of the last tick).",
                     SUM(scrapes_in_flight)));
    TRY(write_scalar(out, "pushprox_proxy_connections", "gauge",
                     "Open connections (as of the last tick).", SUM(conns_open)));
    TRY(write_scalar(out, "pushprox_proxy_scrape_timeouts_total", "counter",
                     "Scrapes answered 500 because no push came within their timeout.",
                     SUM(scrape_timeouts)));
    TRY(write_scalar(out, "pushprox_proxy_push_stale_total", "counter",
                     "Pushes refused because their Id named no waiting scrape.", SUM(push_stale)));

    TRY(metrics_write_header(out, "pushprox_proxy_limit_rejections_total", "counter",
                             "Work refused by a limit, by the flag or constant that sets it."));
    for (int l = 0; l < LIMIT_COUNT; l++) {
        snprintf(labels, sizeof(labels), "limit=\"%s\"", limit_label[l]);
        TRY(metrics_write_sample(out, "pushprox_proxy_limit_rejections_total", labels,
                                 (double)SUM(limit_hits[l])));
    }

    TRY(write_per_worker(out, "pushprox_proxy_inbox_depth", "gauge",
                         "Messages waiting in a worker's inbox rings at its last drain.",
                         offsetof(struct stats, inbox_depth)));
    TRY(write_per_worker(out, "pushprox_proxy_inbox_messages_total", "counter",
                         "Messages a worker received from workers, itself included.",
                         offsetof(struct stats, msgs_received)));
    TRY(write_scalar(out, "pushprox_proxy_inbox_backlogged_total", "counter",
                     "Answers that found a full ring and waited in their sender's backlog.",
                     SUM(backlogged)));
    TRY(write_scalar(out, "pushprox_proxy_workers", "gauge", "Worker threads.", n_workers));
    return metrics_write_process(out);
#undef TRY
}

void stats_serve(struct conn *c)
{
    struct buf body, head;

    conn_release_head(c);
    buf_init(&body, STATS_MAX_BYTES);
    buf_init(&head, 256);
    if (write_metrics(&body) != 0)
        log_warn("stats", "metrics truncated", LOG_STR("limit", "STATS_MAX_BYTES"));
    if (buf_printf(&head,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   body.len) != 0) {
        buf_close(&body);
        buf_close(&head);
        conn_close(c, "out of memory");
        return;
    }
    uv_buf_t bufs[2] = {buf_as_uv(&head), buf_as_uv(&body)};
    unsigned n = body.len ? 2 : 1;
    conn_respond(c, 200, bufs, n, buf_steal(&head), buf_steal(&body));
}
