/* metrics_page.c - the proxy's /metrics (see metrics_page.h).
 *
 * Owner: runs on whichever worker got the request, and reads every worker's counters with
 * relaxed atomic loads (metrics.h): sums are a moment's snapshot, never torn per value.
 * Names follow upstream where upstream has them (pushprox_http_requests_total,
 * pushproxy_proxied_requests_total (sic), pushprox_http_duration_seconds,
 * pushprox_proxy_clients). Request series are labelled by the route table's labels. */
#include "metrics_page.h"

#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "conn.h"
#include "log.h"
#include "worker.h"

/* Bound of one /metrics answer. */
#define METRICS_PAGE_MAX_BYTES (4u * 1024 * 1024)

/* The request series upstream creates at zero on start-up, so that a rate() or an alert on
 * them has a series to work on before the first such request. */
static const struct {
    const char *path;
    enum counters_code code;
} precreated[] = {
    {"/push", CODE_200}, {"/push", CODE_500},    {"/poll", CODE_200},
    {"/poll", CODE_408}, {"/clients", CODE_200}, {"/metrics", CODE_200},
};

static bool is_precreated(const char *path, int code)
{
    for (size_t i = 0; i < sizeof(precreated) / sizeof(precreated[0]); i++)
        if ((int)precreated[i].code == code && strcmp(precreated[i].path, path) == 0)
            return true;
    return false;
}

/* The route whose metrics label is `label`, or -1. */
static int route_labelled(const struct route_table *routes, const char *label)
{
    for (unsigned r = 0; r < routes->n; r++)
        if (strcmp(routes->rows[r].label, label) == 0)
            return (int)r;
    return -1;
}

/* Worker i's counter or gauge at offset `off` in struct counters. */
static uint64_t stat_at(const struct worker_group *g, uint16_t i, size_t off)
{
    return metrics_get((const uint64_t *)((const char *)&g->workers[i].counters + off));
}

/* Sums one counter or gauge over every worker. */
static uint64_t sum_at(const struct worker_group *g, size_t off)
{
    uint64_t v = 0;
    for (uint16_t i = 0; i < g->n; i++)
        v += stat_at(g, i, off);
    return v;
}

#define SUM(field) sum_at(g, offsetof(struct counters, field))

static int write_scalar(struct buf *out, const char *name, const char *type, const char *help,
                        uint64_t v)
{
    int rc = metrics_write_header(out, name, type, help);
    return rc ? rc : metrics_write_sample(out, name, NULL, (double)v);
}

/* One sample per worker, labelled worker="N"; `off` as in sum_at(). */
static int write_per_worker(const struct worker_group *g, struct buf *out, const char *name,
                            const char *type, const char *help, size_t off)
{
    char labels[32];
    int rc = metrics_write_header(out, name, type, help);

    for (uint16_t i = 0; rc == 0 && i < g->n; i++) {
        snprintf(labels, sizeof(labels), "worker=\"%u\"", (unsigned)i);
        rc = metrics_write_sample(out, name, labels, (double)stat_at(g, i, off));
    }
    return rc;
}

int metrics_page_write(struct worker *wk, struct buf *out)
{
    const struct worker_group *g = wk->group;
    const struct route_table *routes = wk->conns.routes;
    char labels[128];
    int rc = 0;

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != 0)                                                                       \
            return rc;                                                                             \
    } while (0)

    TRY(metrics_write_header(out, "pushprox_http_requests_total", "counter",
                             "Number of HTTP requests, by path and response code."));
    for (unsigned r = 0; r < routes->n; r++)
        for (int k = 0; k < CODE_COUNT; k++) {
            uint64_t v = SUM(requests[r][k]);
            if (!v && !is_precreated(routes->rows[r].label, k))
                continue;
            snprintf(labels, sizeof(labels), "code=\"%s\",path=\"%s\"", counters_code_label(k),
                     routes->rows[r].label);
            TRY(metrics_write_sample(out, "pushprox_http_requests_total", labels, (double)v));
        }

    /* client_golang's own pair for its /metrics handler, which upstream exports too: the
     * same count as path="/metrics", and this request in flight. */
    int mr = route_labelled(routes, "/metrics");
    TRY(metrics_write_header(out, "promhttp_metric_handler_requests_total", "counter",
                             "Total number of scrapes by HTTP status code."));
    static const enum counters_code handler_codes[] = {CODE_200, CODE_500, CODE_503};
    for (size_t i = 0; i < sizeof(handler_codes) / sizeof(handler_codes[0]); i++) {
        snprintf(labels, sizeof(labels), "code=\"%s\"", counters_code_label(handler_codes[i]));
        TRY(metrics_write_sample(out, "promhttp_metric_handler_requests_total", labels,
                                 mr < 0 ? 0 : (double)SUM(requests[mr][handler_codes[i]])));
    }
    TRY(write_scalar(out, "promhttp_metric_handler_requests_in_flight", "gauge",
                     "Current number of scrapes being served.", 1));

    TRY(metrics_write_header(out, "pushproxy_proxied_requests_total", "counter",
                             "Number of scrapes proxied to clients, by the code returned."));
    for (int k = 0; k < CODE_COUNT; k++) {
        uint64_t v = SUM(proxied[k]);
        if (!v)
            continue;
        snprintf(labels, sizeof(labels), "code=\"%s\"", counters_code_label(k));
        TRY(metrics_write_sample(out, "pushproxy_proxied_requests_total", labels, (double)v));
    }

    TRY(metrics_write_header(out, "pushprox_http_duration_seconds", "histogram",
                             "Time taken by HTTP requests, by path."));
    for (unsigned r = 0; r < routes->n; r++) {
        struct metrics_hist h;
        metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
        for (uint16_t i = 0; i < g->n; i++)
            metrics_hist_merge(&h, &g->workers[i].counters.duration[r]);
        snprintf(labels, sizeof(labels), "path=\"%s\"", routes->rows[r].label);
        TRY(metrics_write_hist(out, "pushprox_http_duration_seconds", labels, &h));
    }

    TRY(metrics_write_header(out, "pushprox_proxy_scrape_duration_seconds", "histogram",
                             "Time from a scrape's arrival to its answer, however answered."));
    {
        struct metrics_hist h;
        metrics_hist_init(&h, metrics_duration_bounds, metrics_duration_n_bounds);
        for (uint16_t i = 0; i < g->n; i++)
            metrics_hist_merge(&h, &g->workers[i].counters.scrape_duration);
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
    TRY(write_scalar(out, "pushprox_proxy_connections_moved_total", "counter",
                     "Client connections moved at their first poll to the worker that owns "
                     "their FQDN (--poll.move-to-owner).",
                     SUM(conns_moved)));
    TRY(write_scalar(out, "pushprox_proxy_scrapes_moved_total", "counter",
                     "Scrapes whose connection (Prometheus's) moved to the worker that owns "
                     "the target's FQDN, to be served there (--scrape.move-to-owner).",
                     SUM(scrapes_moved)));
    TRY(write_scalar(out, "pushprox_proxy_worker_folds_total", "counter",
                     "Times the load fell below --workers.fold-below and every worker's loop "
                     "went to run on the first worker's thread.",
                     SUM(folds)));
    TRY(write_scalar(out, "pushprox_proxy_worker_loops_lent", "gauge",
                     "Workers whose event loop runs on the first worker's thread "
                     "(--workers.fold-below; 0: every worker on its own thread).",
                     SUM(loops_lent)));
    TRY(write_scalar(out, "pushprox_proxy_pushes_owner_answered_total", "counter",
                     "Pushes answered 200 by the worker that owns their FQDN and delivered "
                     "their scrape, without waiting for the scrape's worker.",
                     SUM(pushes_owner_answered)));
    TRY(write_scalar(out, "pushprox_proxy_scrape_timeouts_total", "counter",
                     "Scrapes answered 500 because no push came within their timeout.",
                     SUM(scrape_timeouts)));
    TRY(write_scalar(out, "pushprox_proxy_scrapes_client_gone_total", "counter",
                     "Scrapes answered 502 because every connection of their client closed "
                     "before it pushed, and none polled again within --scrape.client-gone-grace.",
                     SUM(scrapes_client_gone)));
    TRY(write_scalar(out, "pushprox_proxy_push_stale_total", "counter",
                     "Pushes refused because their Id named no waiting scrape.", SUM(push_stale)));

    TRY(metrics_write_header(out, "pushprox_proxy_limit_rejections_total", "counter",
                             "Work refused by a limit, by the flag or constant that sets it."));
    for (int l = 0; l < LIMIT_COUNT; l++) {
        snprintf(labels, sizeof(labels), "limit=\"%s\"", counters_limit_label(l));
        TRY(metrics_write_sample(out, "pushprox_proxy_limit_rejections_total", labels,
                                 (double)SUM(limit_hits[l])));
    }

    TRY(write_per_worker(g, out, "pushprox_proxy_inbox_depth", "gauge",
                         "Messages waiting in a worker's inbox rings at its last drain.",
                         offsetof(struct counters, inbox_depth)));
    TRY(write_per_worker(g, out, "pushprox_proxy_inbox_messages_total", "counter",
                         "Messages a worker received from workers, itself included.",
                         offsetof(struct counters, msgs_received)));
    TRY(write_scalar(out, "pushprox_proxy_inbox_backlogged_total", "counter",
                     "Answers that found a full ring and waited in their sender's backlog.",
                     SUM(backlogged)));
    TRY(write_scalar(out, "pushprox_proxy_push_buffered_bytes", "gauge",
                     "Bytes of push bodies held in memory while they arrive (--push.max-buffered).",
                     budget_used()));
    TRY(write_scalar(out, "pushprox_proxy_accept_paused_total", "counter",
                     "Times a worker paused accepting connections for want of file descriptors "
                     "(or memory).",
                     SUM(accept_paused)));
    TRY(write_scalar(out, "pushprox_proxy_workers", "gauge", "Worker threads.", g->n));
    TRY(write_scalar(out, "pushprox_proxy_tls_handshakes_total", "counter",
                     "Full TLS handshakes done.", SUM(tls_handshakes)));
    TRY(write_scalar(out, "pushprox_proxy_tls_resumed_handshakes_total", "counter",
                     "TLS handshakes that resumed a session (a ticket): no key exchange.",
                     SUM(tls_resumed)));
    TRY(write_scalar(out, "pushprox_proxy_tls_handshake_errors_total", "counter",
                     "TLS handshakes that failed or did not finish in time.",
                     SUM(tls_handshake_errors)));
    TRY(metrics_write_header(out, "pushprox_proxy_identity_rejections_total", "counter",
                             "Polls and pushes refused because the client's certificate does not "
                             "name the FQDN."));
    TRY(metrics_write_sample(out, "pushprox_proxy_identity_rejections_total", "route=\"/poll\"",
                             (double)SUM(identity_rejections[0])));
    TRY(metrics_write_sample(out, "pushprox_proxy_identity_rejections_total", "route=\"/push\"",
                             (double)SUM(identity_rejections[1])));
    TRY(write_scalar(out, "pushprox_proxy_identity_header_ignored_total", "counter",
                     "X-PushProx-Client-Cert headers ignored because the peer is not a "
                     "--web.trusted-proxy.",
                     SUM(identity_header_ignored)));
    TRY(metrics_write_header(out, "pushprox_proxy_tls_certificate_expiry_timestamp_seconds",
                             "gauge",
                             "When the serving certificate of each TLS listener expires."));
    for (unsigned l = 0; l < CONN_MAX_LISTENERS; l++) {
        const struct webconf *conf = wk->conns.listeners[l].conf;
        if (!conf || !conf->cert_not_after)
            continue;
        snprintf(labels, sizeof(labels), "listener=\"%s\"",
                 wk->conns.listeners[l].planes == PLANE_SCRAPE ? "scrape" : "web");
        TRY(metrics_write_sample(out, "pushprox_proxy_tls_certificate_expiry_timestamp_seconds",
                                 labels, (double)conf->cert_not_after));
    }
    TRY(write_scalar(out, "pushprox_proxy_ready", "gauge",
                     "1 when every worker runs and the proxy is not draining (/-/ready).",
                     worker_group_ready(g)));
    TRY(write_scalar(out, "pushprox_proxy_config_last_reload_successful", "gauge",
                     "Whether the last reload of the web configuration succeeded.",
                     metrics_get(&g->reload_ok)));
    TRY(write_scalar(out, "pushprox_proxy_config_last_reload_success_timestamp_seconds", "gauge",
                     "Unix time of the last successful load of the web configuration.",
                     metrics_get(&g->reload_ok_time_s)));
    return metrics_write_process(out);
#undef TRY
}

void metrics_page_on_request(struct conn *c)
{
    struct buf body, head;

    conn_release_head(c);
    buf_init(&body, METRICS_PAGE_MAX_BYTES);
    buf_init(&head, 256);
    if (metrics_page_write(worker_of(c), &body) != 0)
        log_warn("metrics", "metrics truncated", LOG_STR("limit", "METRICS_PAGE_MAX_BYTES"));
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
