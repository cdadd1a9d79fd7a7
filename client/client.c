/* client.c - what the client's modules share: the proxy URL, the random draw for
 * jitter, and the metrics page.
 * Owner: the client's loop; metrics are written by the loop and read by the /metrics
 * handler on the same loop. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int client_parse_proxy_url(const char *s, struct proxy_url *u, const char **why)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        u->tls = true;
        p = s + 8;
    } else {
        *why = "not an http:// or https:// URL";
        return -EINVAL;
    }
    size_t auth_len = strcspn(p, "/?#");
    if (auth_len == 0) {
        *why = "no host";
        return -EINVAL;
    }
    if (memchr(p, '@', auth_len) != NULL) {
        *why = "user info in the URL is not supported";
        return -EINVAL;
    }
    if (auth_len >= sizeof(u->host_header)) {
        *why = "host too long";
        return -EINVAL;
    }
    memcpy(u->host_header, p, auth_len);
    u->host_header[auth_len] = '\0';
    /* A URL of ours is parsed with the same rules as a scrape target. */
    char tmp[sizeof(u->host_header) + 16];
    snprintf(tmp, sizeof(tmp), "%s://%s/", u->tls ? "https" : "http", u->host_header);
    struct target t;
    if (target_parse(tmp, strlen(tmp), &t, why) != 0)
        return -EINVAL;
    snprintf(u->host, sizeof(u->host), "%s", t.host);
    u->port = t.port;
    /* Resolve "poll"/"push" against the path, as Go's ResolveReference: everything after
     * the last slash is replaced; an empty path counts as "/". */
    const char *path = p + auth_len;
    size_t path_len = strcspn(path, "?#");
    const char *slash = NULL;
    for (size_t i = 0; i < path_len; i++)
        if (path[i] == '/')
            slash = path + i;
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    if (dir_len + 6 > sizeof(u->poll_path)) {
        *why = "path too long";
        return -EINVAL;
    }
    for (size_t i = 0; i < dir_len; i++) {
        if ((unsigned char)path[i] <= ' ') {
            *why = "path has a space or control character";
            return -EINVAL;
        }
    }
    if (dir_len == 0) {
        strcpy(u->poll_path, "/poll");
        strcpy(u->push_path, "/push");
    } else {
        snprintf(u->poll_path, sizeof(u->poll_path), "%.*spoll", (int)dir_len, path);
        snprintf(u->push_path, sizeof(u->push_path), "%.*spush", (int)dir_len, path);
    }
    return 0;
}

double client_random(struct client *cl)
{
    /* xorshift64*: jitter needs spread, not secrecy. */
    uint64_t x = cl->rng ? cl->rng : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    cl->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

void client_observe_scrape(struct client *cl, int port, double seconds)
{
    struct client_metrics *m = &cl->m;
    for (size_t i = 0; i < m->n_ports; i++) {
        if (m->ports[i].port == port) {
            metrics_hist_observe(&m->ports[i].hist, seconds);
            return;
        }
    }
    if (m->n_ports < CLIENT_METRICS_MAX_PORTS) {
        struct client_port_hist *ph = &m->ports[m->n_ports++];
        ph->port = port;
        metrics_hist_init(&ph->hist, metrics_duration_bounds, metrics_duration_n_bounds);
        metrics_hist_observe(&ph->hist, seconds);
        return;
    }
    if (m->other_ports.bounds == NULL)
        metrics_hist_init(&m->other_ports, metrics_duration_bounds, metrics_duration_n_bounds);
    metrics_hist_observe(&m->other_ports, seconds);
}

int client_write_metrics(struct client *cl, struct buf *out)
{
    struct client_metrics *m = &cl->m;
    int rc = 0;
#define COUNTER(name, help, v)                                                                     \
    if (rc == 0)                                                                                   \
        rc = metrics_write_header(out, name, "counter", help);                                     \
    if (rc == 0)                                                                                   \
        rc = metrics_write_sample(out, name, NULL, (double)metrics_get(&(v)));
    COUNTER("pushprox_client_scrape_errors_total", "Number of scrape errors", m->scrape_errors)
    COUNTER("pushprox_client_push_errors_total", "Number of push errors", m->push_errors)
    COUNTER("pushprox_client_poll_errors_total", "Number of poll errors", m->poll_errors)
    COUNTER("pushprox_client_scrapes_total", "Scrape requests received from the proxy",
            m->scrapes_total)
    COUNTER("pushprox_client_scrapes_refused_total",
            "Scrape requests refused because --scrape.allow does not list the target",
            m->scrapes_refused)
#undef COUNTER
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_scrapes_in_flight", "gauge",
                                  "Scrapes running now (exporter request or push)");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_scrapes_in_flight", NULL,
                                  (double)metrics_get(&m->scrapes_in_flight));
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_scrape_duration_seconds", "histogram",
                                  "Time to get an exporter's response, by target port");
    for (size_t i = 0; i < m->n_ports && rc == 0; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "port=\"%d\"", m->ports[i].port);
        rc = metrics_write_hist(out, "pushprox_client_scrape_duration_seconds", labels,
                                &m->ports[i].hist);
    }
    if (rc == 0 && m->other_ports.bounds != NULL)
        rc = metrics_write_hist(out, "pushprox_client_scrape_duration_seconds", "port=\"other\"",
                                &m->other_ports);
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_proxy_connections", "gauge",
                                  "Open connections to the proxy (polls and pushes)");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_proxy_connections", NULL,
                                  (double)cl->proxy_pool.n_conns);
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_exporter_connections", "gauge",
                                  "Open connections to exporters");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_exporter_connections", NULL,
                                  (double)cl->scrape_pool.n_conns);
    if (rc == 0)
        rc = metrics_write_process(out);
    return rc;
}

int client_use_http_proxy(struct client *cl)
{
    struct proxy_url *u = &cl->proxy;
    char abs[CLIENT_PATH_MAX];

    cl->via_headers[0] = '\0';
    if (!cl->via.use || u->tls)
        return 0;
    if (snprintf(abs, sizeof(abs), "http://%s%s", u->host_header, u->poll_path) >= (int)sizeof(abs))
        return -E2BIG;
    memcpy(u->poll_path, abs, strlen(abs) + 1);
    if (snprintf(abs, sizeof(abs), "http://%s%s", u->host_header, u->push_path) >= (int)sizeof(abs))
        return -E2BIG;
    memcpy(u->push_path, abs, strlen(abs) + 1);
    if (cl->via.auth[0])
        snprintf(cl->via_headers, sizeof(cl->via_headers), "Proxy-Authorization: %s\r\n",
                 cl->via.auth);
    return 0;
}
