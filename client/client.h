/* client.h - the pushprox-client process: its flags, its shared state, the proxy URL and the
 * client's metrics. The modules that run it sit above: scrape.h (one scrape), poll.h (the
 * pollers, which start scrapes and hear through a callback when a slot frees up), main.c.
 * Owner: everything here lives on the one libuv loop of the process; nothing is locked. */
#ifndef PUSHPROX_CLIENT_H
#define PUSHPROX_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "announce.h"
#include "flags.h"
#include "httpc.h"
#include "list.h"
#include "metrics.h"
#include "target.h"
#include "tls.h"
#include "work.h"

struct client_flags {
#define FLAG(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

/* Most --fqdn names. One client answering for more than a few aliases is a mistake. */
#define CLIENT_MAX_FQDNS 64
/* Most --poll.concurrency; each poll holds a connection to the proxy. */
#define CLIENT_MAX_POLL_CONCURRENCY 64
/* Longest FQDN (RFC 1035). */
#define CLIENT_FQDN_MAX 254
/* Most target ports with their own scrape duration series; more share port="other". */
#define CLIENT_METRICS_MAX_PORTS 32
/* TCP keepalive idle time on exporter connections (those to the proxy: --proxy.tcp-keepalive). */
#define CLIENT_SCRAPE_TCP_KEEPALIVE_MS 30000
/* Largest poll answer: one forwarded request with its head and body. */
#define CLIENT_POLL_BODY_MAX_BYTES (WORK_BODY_MAX_BYTES + HTTP_HEAD_MAX_BYTES_DEFAULT)
/* Longest proxy URL path prefix. */
#define CLIENT_PATH_MAX 1024

struct proxy_url {
    bool tls;
    char host[TARGET_HOST_MAX]; /* without brackets */
    int port;
    char host_header[TARGET_HOST_MAX + 8];
    char poll_path[CLIENT_PATH_MAX];
    char push_path[CLIENT_PATH_MAX];
};

struct client_port_hist {
    int port;
    struct metrics_hist hist;
};

struct client_metrics {
    uint64_t scrape_errors;
    uint64_t push_errors;
    uint64_t poll_errors;
    uint64_t scrapes_in_flight;
    uint64_t scrapes_total;
    uint64_t scrapes_refused; /* by --scrape.allow */
    struct client_port_hist ports[CLIENT_METRICS_MAX_PORTS];
    size_t n_ports;
    struct metrics_hist other_ports;
};

struct poller;

struct client {
    uv_loop_t *loop;
    const struct client_flags *f;
    const char *fqdns[CLIENT_MAX_FQDNS];
    size_t n_fqdns;
    struct proxy_url proxy;
    /* TLS to the proxy (NULL: plain) and to https exporters (NULL: off). Heap confs: a
     * rotation (tls_watch.c) swaps in a new one, connections keep theirs until they close. */
    struct tls_conf *proxy_tls, *scrape_tls;
    /* Header lines every poll carries after its own X-PushProx-FQDN: the client's labels
     * and exporters (announce.h), which upstream's proxy ignores. */
    struct buf announce;
    /* The HTTP proxy --proxy-url is reached through (proxyenv.h); via.use false: direct.
     * For an http --proxy-url through it, the Proxy-Authorization line every request to
     * the proxy carries (else ""). */
    struct httpc_via via;
    char via_headers[HTTPC_VIA_AUTH_MAX + 32];
    struct transport_env env; /* every connection's, through both pools */
    struct httpc_pool proxy_pool, scrape_pool;
    struct target_allowlist allow;
    struct poller *pollers;
    size_t n_pollers;
    struct list scrapes; /* struct scrape in flight, newest first */
    size_t in_flight;
    bool stopping;
    /* Set by scrape_init() for the module that polls: a scrape ended and its slot is free. */
    void (*on_slot_free)(struct client *cl);
    void (*on_idle)(struct client *cl); /* set while stopping: called when in_flight hits 0 */
    struct client_metrics m;
    uint64_t rng;
};

/* Most bytes of the announcement headers (two, each bounded by ANNOUNCE_HEADER_MAX). */
#define CLIENT_ANNOUNCE_MAX_BYTES (2 * ANNOUNCE_HEADER_MAX + 64)

/* Sets --proxy-url's requests up for an HTTP proxy (cl->via) on the way: for an http URL
 * the request targets become absolute ("http://host:port/poll") and carry the proxy's
 * credentials; an https URL goes through a CONNECT tunnel and needs nothing here. Returns 0
 * or -E2BIG when the absolute targets do not fit. */
int client_use_http_proxy(struct client *cl);

/* Parses an http(s) proxy URL into u, with the /poll and /push paths resolved against it
 * as upstream does (Go's URL.ResolveReference: "http://p:8080/a/" gives /a/poll,
 * "http://p:8080/a" gives /poll). Returns 0 or -EINVAL with *why set. */
int client_parse_proxy_url(const char *s, struct proxy_url *u, const char **why);

/* A number in [0, 1) from the client's generator. */
double client_random(struct client *cl);

/* Scrape durations by port. */
void client_observe_scrape(struct client *cl, int port, double seconds);

/* Writes the client's metrics (and process_*) to out. */
int client_write_metrics(struct client *cl, struct buf *out);

#endif
