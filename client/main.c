/* main.c - pushprox-client: parses flags, sets up TLS, the connection pools, the metrics
 * listener and the pollers on one libuv loop, runs it, and shuts down on SIGTERM/SIGINT
 * (stop polling, let scrapes in flight finish up to --shutdown.timeout, exit 0).
 * Owner: the main thread, which is the loop's thread. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "metrics_http.h"
#include "poll.h"
#include "scrape.h"
#include "proxyenv.h"
#include "tls_watch.h"
#include "version.h"

#define PROG "pushprox-client"

static const struct flag_def flag_defs[] = {
#define FLAG(type, field, name, def, help)                                                         \
    FLAGS_TABLE_ROW(struct client_flags, type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

static struct client_flags flags;
static struct client cl;
static struct metrics_http mhttp;
static uv_signal_t sig_term, sig_int;
static uv_timer_t shutdown_timer;
static char default_fqdn[CLIENT_FQDN_MAX + 1];

static void on_signal(uv_signal_t *h, int signum);
static void on_shutdown_deadline(uv_timer_t *t);

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

/* This host's FQDN as `hostname -f` finds it: the canonical name of gethostname(). */
static const char *host_fqdn(void)
{
    char host[CLIENT_FQDN_MAX + 1];
    if (gethostname(host, sizeof(host)) != 0)
        return NULL;
    host[sizeof(host) - 1] = '\0';
    snprintf(default_fqdn, sizeof(default_fqdn), "%s", host);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_CANONNAME;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        if (res && res->ai_canonname && res->ai_canonname[0])
            snprintf(default_fqdn, sizeof(default_fqdn), "%s", res->ai_canonname);
        freeaddrinfo(res);
    }
    return default_fqdn;
}

static struct tls_watch tls_watcher;

static int write_metrics(void *ctx, struct buf *out)
{
    struct client *c = ctx;
    int rc = client_write_metrics(c, out);

    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_ready", "gauge",
                                  "1 when every FQDN has a poll held by the proxy or answered in "
                                  "the last minute (/-/ready).");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_ready", NULL,
                                  !c->stopping && poll_not_ready(c) == NULL);
    return rc ? rc : tls_watch_write_metrics(&tls_watcher, out);
}

static void finish(struct client *c)
{
    (void)c;
    uv_timer_stop(&shutdown_timer);
    uv_close((uv_handle_t *)&shutdown_timer, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    metrics_http_stop(&mhttp);
    tls_watch_stop(&tls_watcher);
    httpc_pool_close(&cl.proxy_pool);
    httpc_pool_close(&cl.scrape_pool);
    poll_close(&cl);
    log_info("main", "stopped");
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (cl.stopping) {
        log_warn("main", "second signal: stopping now", LOG_INT("signal", signum),
                 LOG_UINT("in_flight", cl.in_flight));
        scrape_cancel_all(&cl);
        return;
    }
    cl.stopping = true;
    log_info("main", "shutting down: no more polls; waiting for scrapes in flight",
             LOG_INT("signal", signum), LOG_UINT("in_flight", cl.in_flight),
             LOG_UINT("timeout_ms", flags.shutdown_timeout));
    poll_stop(&cl);
    if (cl.in_flight == 0) {
        finish(&cl);
        return;
    }
    cl.on_idle = finish;
    uv_timer_start(&shutdown_timer, on_shutdown_deadline, flags.shutdown_timeout, 0);
}

static void on_shutdown_deadline(uv_timer_t *t)
{
    (void)t;
    log_warn("main", "shutdown timeout: cutting scrapes short",
             LOG_UINT("in_flight", cl.in_flight));
    scrape_cancel_all(&cl);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The client's readiness for /-/ready (metrics_http.h). */
static const char *client_not_ready(void *ctx)
{
    struct client *c = ctx;
    return c->stopping ? "shutting down" : poll_not_ready(c);
}

/* The TLS configuration for the proxy from --tls.*: a heap one, so a rotation can replace
 * it while connections keep the old one. NULL with err set. */
static struct tls_conf *proxy_tls_new(const struct client_flags *f, char *err, size_t err_len)
{
    struct tls_client_opts o = {
        .cacert = f->tls_cacert, .cert = f->tls_cert, .key = f->tls_key, .what = "--tls"};
    return tls_conf_new_client(&o, err, err_len);
}

/* What each poll announces (announce.h): the --label pairs, checked as Prometheus checks
 * label names, and the exporters of --scrape.allow. Exits 2 naming a bad label. */
static void announce_setup(struct client *c, const struct client_flags *f)
{
    struct buf labels, exporters;
    int rc;

    buf_init(&c->announce, CLIENT_ANNOUNCE_MAX_BYTES);
    buf_init(&labels, ANNOUNCE_HEADER_MAX);
    buf_init(&exporters, ANNOUNCE_HEADER_MAX);
    if (f->label.len > ANNOUNCE_MAX_LABELS)
        die(2, "--label: at most %d labels", ANNOUNCE_MAX_LABELS);
    for (size_t i = 0; i < f->label.len; i++) {
        const char *l = f->label.items[i], *eq = strchr(l, '=');
        if (!eq)
            die(2, "--label: \"%s\": not NAME=VALUE", l);
        rc = announce_add_label(&labels, l, (size_t)(eq - l), eq + 1, strlen(eq + 1));
        if (rc == -EINVAL)
            die(2,
                "--label: \"%s\": the name must match [a-zA-Z_][a-zA-Z0-9_]* (not starting "
                "with __, up to %d bytes) and the value be UTF-8 text of up to %d bytes",
                l, ANNOUNCE_LABEL_NAME_MAX, ANNOUNCE_LABEL_VALUE_MAX);
        if (rc != 0)
            die(2, "--label: the labels are longer than %d bytes in all", ANNOUNCE_HEADER_MAX);
    }
    /* What the proxy will check: each name once. */
    const char *bad =
        labels.len ? announce_labels_to_json(labels.base, labels.len, "", false, NULL) : NULL;
    if (bad)
        die(2, "--label: %s", bad);
    for (size_t i = 0; i < c->allow.n && i < ANNOUNCE_MAX_EXPORTERS; i++) {
        const struct target_allow *a = &c->allow.items[i];
        /* A path prefix announces the exporter's path; a bare port its default /metrics. */
        announce_add_exporter(&exporters, a->port, a->prefix, strlen(a->prefix));
    }
    if (labels.len)
        buf_printf(&c->announce, "%s: %.*s\r\n", ANNOUNCE_LABELS_HEADER, (int)labels.len,
                   labels.base);
    if (exporters.len)
        buf_printf(&c->announce, "%s: %.*s\r\n", ANNOUNCE_EXPORTERS_HEADER, (int)exporters.len,
                   exporters.base);
    buf_close(&labels);
    buf_close(&exporters);
}

/* The HTTP proxy to reach --proxy-url through: --proxy.http-proxy-url, else the
 * environment as Go's clients read it (proxyenv.h). Exits 2 on a value that does not parse. */
static void via_setup(struct client *c, const struct client_flags *f)
{
    const char *why = NULL, *https = proxyenv_getenv("HTTPS_PROXY", "https_proxy"),
               *http = proxyenv_getenv("HTTP_PROXY", "http_proxy"),
               *no = proxyenv_getenv("NO_PROXY", "no_proxy");

    if (proxyenv_select(c->proxy.tls, c->proxy.host, c->proxy.port, f->proxy_http_proxy_url, https,
                        http, no, &c->via, &why) != 0)
        die(2, "%s: %s",
            f->proxy_http_proxy_url[0] ? "--proxy.http-proxy-url"
            : c->proxy.tls             ? "HTTPS_PROXY"
                                       : "HTTP_PROXY",
            why);
    if (client_use_http_proxy(c) != 0)
        die(2, "--proxy-url: too long to be sent through an HTTP proxy");
    if (c->via.use)
        log_info("main", "reaching the proxy through an HTTP proxy",
                 LOG_STR("http_proxy", c->via.host), LOG_INT("port", c->via.port),
                 LOG_STR("mode", c->proxy.tls ? "CONNECT" : "forward"));
}

/* What --help-long and the man page (--help-man) say besides the flags. */
static const char doc_description[] =
    "pushprox-client runs on a machine that Prometheus cannot reach, such as a host behind "
    "NAT or a firewall, and makes its exporters scrapable through a pushprox-proxy. It keeps "
    "a long poll open at --proxy-url under its FQDN (--fqdn, by default this host's). When "
    "Prometheus scrapes http://<fqdn>:<port>/metrics through the proxy, the poll's answer "
    "carries that request; the client scrapes the exporter on that port of this host and "
    "pushes the response back to the proxy. Only the ports given with --scrape.allow are "
    "scraped when it is set.\n\n"
    "Scrapes run concurrently on one event loop, and the client polls again as soon as a "
    "request arrives, so a slow exporter never delays another. It speaks upstream PushProx's "
    "protocol and works with upstream's proxy as with pushprox-proxy. --metrics-addr serves "
    "the client's own metrics, /-/healthy and /-/ready (ready: every FQDN has a poll held by "
    "the proxy or answered within --ready.poll-window). Logs go to stderr, in logfmt or JSON "
    "(--log.format).";

static const struct flags_doc_item doc_environment[] = {
    {"HTTPS_PROXY, https_proxy",
     "The HTTP proxy through which an https --proxy-url is reached, with a CONNECT tunnel "
     "(TLS and the client certificate go end to end inside it). A value without a scheme is "
     "http://; user:password in it is sent as Proxy-Authorization: Basic; an https:// proxy "
     "is refused. The upper-case name wins; an empty value counts as unset."},
    {"HTTP_PROXY, http_proxy",
     "The HTTP proxy for an http --proxy-url (requests in absolute form)."},
    {"NO_PROXY, no_proxy",
     "Comma-separated hosts reached directly: \"*\" for all, IP addresses and CIDR ranges, "
     "domain names (the name and its subdomains; a leading \".\" for subdomains only), each "
     "optionally with :port. localhost and loopback addresses are never proxied."},
    {NULL, NULL},
};

static const struct flags_doc_item doc_signals[] = {
    {"SIGTERM, SIGINT",
     "Stop polling, let the scrapes in flight finish for up to --shutdown.timeout, then exit "
     "0. A second signal cuts them short."},
    {NULL, NULL},
};

static const struct flags_doc_section doc_sections[] = {
    {"Environment",
     "These are read as Go's HTTP clients read them, as upstream's client does, and apply only "
     "to the connections to --proxy-url (--proxy.http-proxy-url, when set, replaces "
     "HTTPS_PROXY and HTTP_PROXY; NO_PROXY still applies). Scrapes of local exporters never go "
     "through a proxy.",
     doc_environment},
    {"Signals", NULL, doc_signals},
    {NULL, NULL, NULL},
};

static const char *const doc_see_also[] = {"pushprox-proxy(1)", "prometheus(1)",
                                           "prometheus-node-exporter(1)", NULL};

int main(int argc, char **argv)
{
    char version[256];
    version_line(version, sizeof(version), PROG);
    const struct flags_program prog = {
        .name = PROG,
        .summary = "Polls a PushProx proxy for scrape requests and answers them from the "
                   "exporters on this host.",
        .version = version,
        .source = "pushprox-c " PUSHPROX_VERSION,
        .description = doc_description,
        .sections = doc_sections,
        .see_also = doc_see_also,
    };
    flags_parse(flag_defs, sizeof(flag_defs) / sizeof(flag_defs[0]), &flags, &prog, argc, argv);

    enum log_level level;
    enum log_format format;
    if (log_level_parse(flags.log_level, &level) != 0)
        die(2, "--log.level: \"%s\": not one of debug, info, warn, error", flags.log_level);
    if (log_format_parse(flags.log_format, &format) != 0)
        die(2, "--log.format: \"%s\": not one of logfmt, json", flags.log_format);
    log_setup(level, format, 2);

    cl.f = &flags;
    if (flags.proxy_url == NULL || flags.proxy_url[0] == '\0')
        die(2, "--proxy-url is required (e.g. --proxy-url=http://proxy.example.com:8080)");
    const char *why = NULL;
    if (client_parse_proxy_url(flags.proxy_url, &cl.proxy, &why) != 0)
        die(2, "--proxy-url: \"%s\": %s", flags.proxy_url, why);
    if (flags.fqdn.len == 0) {
        const char *f = host_fqdn();
        if (f == NULL || f[0] == '\0')
            die(2, "--fqdn: cannot find this host's name; give --fqdn");
        cl.fqdns[cl.n_fqdns++] = f;
    }
    for (size_t i = 0; i < flags.fqdn.len; i++) {
        const char *f = flags.fqdn.items[i];
        size_t n = strlen(f);
        if (n == 0 || n > CLIENT_FQDN_MAX || strpbrk(f, " \t\r\n/") != NULL)
            die(2, "--fqdn: \"%s\": not a host name", f);
        if (cl.n_fqdns >= CLIENT_MAX_FQDNS)
            die(2, "--fqdn: at most %d names", CLIENT_MAX_FQDNS);
        cl.fqdns[cl.n_fqdns++] = f;
    }
    if (flags.poll_concurrency < 1 || flags.poll_concurrency > CLIENT_MAX_POLL_CONCURRENCY)
        die(2, "--poll.concurrency: \"%lld\": must be 1 to %d", flags.poll_concurrency,
            CLIENT_MAX_POLL_CONCURRENCY);
    if (flags.scrape_max_in_flight < 1 || flags.scrape_max_in_flight > 100000)
        die(2, "--scrape.max-in-flight: \"%lld\": must be 1 to 100000", flags.scrape_max_in_flight);
    if (flags.scrape_max_size < 1024 || flags.scrape_max_size > (1ull << 31))
        die(2, "--scrape.max-size: must be between 1KiB and 2GiB");
    if (flags.proxy_retry_initial_wait == 0)
        die(2, "--proxy.retry.initial-wait: must be more than 0");
    for (size_t i = 0; i < flags.scrape_allow.len; i++) {
        int rc = target_allowlist_add(&cl.allow, flags.scrape_allow.items[i]);
        if (rc == -E2BIG)
            die(2, "--scrape.allow: at most %d entries", TARGET_ALLOW_MAX);
        if (rc != 0)
            die(2, "--scrape.allow: \"%s\": not PORT or PORT/PATH_PREFIX",
                flags.scrape_allow.items[i]);
    }

    announce_setup(&cl, &flags);
    via_setup(&cl, &flags);

    char err[TLS_ERR_MAX];
    bool tls_flags = flags.tls_cacert[0] || flags.tls_cert[0] || flags.tls_key[0];
    if (cl.proxy.tls) {
        if (!(cl.proxy_tls = proxy_tls_new(&flags, err, sizeof(err))))
            die(1, "%s", err);
    } else if (tls_flags) {
        log_warn("main", "--tls.* flags are ignored: --proxy-url is not https",
                 LOG_STR("proxy_url", flags.proxy_url));
    }
    {
        struct tls_client_opts o = {.cacert = flags.scrape_tls_cacert,
                                    .insecure = flags.scrape_tls_insecure_skip_verify,
                                    .what = "--scrape.tls"};
        if (!(cl.scrape_tls = tls_conf_new_client(&o, err, sizeof(err)))) {
            if (flags.scrape_tls_cacert[0])
                die(1, "%s", err);
            log_warn("main", "scrapes over https are off", LOG_STR("err", err));
        }
    }

    signal(SIGPIPE, SIG_IGN);
    cl.loop = uv_default_loop();
    cl.rng = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    if (httpc_env_init(&cl.env, cl.loop) != 0)
        die(1, "out of memory");
    httpc_pool_init(&cl.proxy_pool, &cl.env, flags.proxy_tcp_keepalive);
    httpc_pool_init(&cl.scrape_pool, &cl.env, CLIENT_SCRAPE_TCP_KEEPALIVE_MS);

    if (flags.metrics_addr[0]) {
        int rc = metrics_http_start(&mhttp, cl.loop, flags.metrics_addr, write_metrics,
                                    client_not_ready, &cl);
        if (rc != 0)
            die(1, "--metrics-addr: \"%s\": cannot listen: %s", flags.metrics_addr,
                uv_strerror(rc));
    }
    uv_signal_init(cl.loop, &sig_term);
    uv_signal_init(cl.loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_timer_init(cl.loop, &shutdown_timer);

    if (cl.allow.n == 0)
        log_warn("main",
                 "no --scrape.allow given: anyone who can scrape through the proxy can reach "
                 "every port on this host");
    for (size_t i = 0; i < cl.n_fqdns; i++)
        log_info("main", "starting", LOG_STR("fqdn", cl.fqdns[i]),
                 LOG_STR("proxy_url", flags.proxy_url), LOG_STR("version", PUSHPROX_VERSION),
                 LOG_INT("poll_concurrency", flags.poll_concurrency));
    if (poll_start(&cl) != 0)
        die(1, "out of memory");
    if (tls_watch_start(&tls_watcher, &cl) != 0)
        log_warn("main", "cannot watch the --tls.* files; restart to pick up a new certificate");

    uv_run(cl.loop, UV_RUN_DEFAULT);
    uv_walk(cl.loop, close_walk, NULL);
    uv_run(cl.loop, UV_RUN_DEFAULT);
    uv_loop_close(cl.loop);
    transport_env_close(&cl.env);
    free(cl.pollers);
    if (cl.proxy_tls)
        tls_conf_unref(cl.proxy_tls);
    if (cl.scrape_tls)
        tls_conf_unref(cl.scrape_tls);
    buf_close(&cl.announce);
    return 0;
}
