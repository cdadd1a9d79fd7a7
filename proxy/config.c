/* config.c - the proxy's flags. Owner: main's thread writes `config` once, before any
 * worker starts; afterwards every thread only reads it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "announce.h"
#include "log.h"
#include "trust.h"
#include "version.h"

struct config config;

/* The longest --replica.name. */
#define CONFIG_REPLICA_NAME_MAX 128

static char replica_json[CONFIG_REPLICA_NAME_MAX * 6 + 1];

static const struct flag_def config_flags[] = {
#define FLAG(type, field, name, def, help)                                                         \
    FLAGS_TABLE_ROW(struct config, type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

/* Exits with status 2 and a message naming the flag, as flags_parse() does. */
static void bad(const char *flag, long long v, const char *why)
{
    fprintf(stderr, "pushprox-proxy: --%s: \"%lld\": %s\n", flag, v, why);
    exit(2);
}

static void check_range(const char *flag, long long v, long long lo, long long hi)
{
    if (v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof(why), "must be between %lld and %lld", lo, hi);
        bad(flag, v, why);
    }
}

/* The replica's name for /clients: --replica.name, or this host's name. */
static void set_replica_name(void)
{
    char host[256] = "";
    const char *name = config.replica_name;
    struct buf b;

    if (!name[0]) {
        gethostname(host, sizeof(host) - 1);
        name = host;
    }
    if (strlen(name) > CONFIG_REPLICA_NAME_MAX) {
        fprintf(stderr, "pushprox-proxy: --replica.name: \"%s\": longer than %d bytes\n", name,
                CONFIG_REPLICA_NAME_MAX);
        exit(2);
    }
    buf_init(&b, sizeof(replica_json));
    if (announce_json_escape(&b, name, strlen(name)) == 0 && b.len < sizeof(replica_json)) {
        memcpy(replica_json, b.base ? b.base : "", b.len);
        replica_json[b.len] = '\0';
    }
    buf_close(&b);
}

const char *config_replica_json(void)
{
    return replica_json;
}

/* What --help-long and the man page (--help-man) say besides the flags. */
static const char config_description[] =
    "pushprox-proxy lets Prometheus scrape machines it cannot reach, such as hosts behind NAT "
    "or a firewall, and keeps the pull model. It runs where both Prometheus and the clients "
    "can reach it. Each pushprox-client keeps a long poll open at the proxy (POST /poll) "
    "under its FQDN. Prometheus uses the proxy as its proxy_url: the proxy hands a scrape of "
    "http://<fqdn>:<port>/metrics to a poll of the client registered under <fqdn>, and "
    "relays the response the client pushes back (POST /push).\n\n"
    "GET /clients lists the connected clients in Prometheus's HTTP service discovery format "
    "(http_sd_configs). /metrics serves the proxy's own metrics; /-/healthy and /-/ready "
    "answer load balancers' checks and Kubernetes probes (ready: every worker runs and the "
    "proxy is not draining).\n\n"
    "It speaks upstream PushProx's protocol, so upstream's clients work with it. Every "
    "connection, poll, queue, size and timeout has a limit set by a flag below; a request "
    "past one is refused with an HTTP status and one log line naming the limit. Logs go to "
    "stderr, in logfmt or JSON (--log.format).";

static const struct flags_doc_item config_signals[] = {
    {"SIGTERM, SIGINT",
     "Drain, then exit 0: /-/ready answers 503 at once; after --shutdown.delay every poll "
     "held is answered 408, so the clients poll again elsewhere; scrapes in flight still get "
     "their answers for up to --shutdown.timeout. A second signal stops at once."},
    {"SIGHUP",
     "Reload the web configuration files (--web.config.file, --scrape.web-config.file) and "
     "the certificates they name. A file that does not load is refused with a log line and "
     "the configuration in force stays."},
    {NULL, NULL},
};

static const struct flags_doc_section config_sections[] = {
    {"Signals", NULL, config_signals},
    {NULL, NULL, NULL},
};

static const char *const config_see_also[] = {"pushprox-client(1)", "prometheus(1)", NULL};

void config_parse(int argc, char **argv)
{
    char version[256];
    struct flags_program program = {
        .name = "pushprox-proxy",
        .summary = "Routes Prometheus scrapes to clients that poll it from behind NAT (PushProx "
                   "protocol).",
        .version = version,
        .source = "pushprox-c " PUSHPROX_VERSION,
        .description = config_description,
        .sections = config_sections,
        .see_also = config_see_also,
    };

    version_line(version, sizeof(version), program.name);
    flags_parse(config_flags, sizeof(config_flags) / sizeof(config_flags[0]), &config, &program,
                argc, argv);
    check_range("workers", config.workers, 0, 256);
    check_range("workers.fold-below", config.workers_fold_below, 0, CONFIG_FOLD_BELOW_MAX_PERCENT);
    check_range("poll.max-per-fqdn", config.poll_max_per_fqdn, 1, 1 << 16);
    check_range("scrape.max-queued-per-fqdn", config.scrape_max_queued_per_fqdn, 0, 1 << 20);
    check_range("scrape.max-in-flight", config.scrape_max_in_flight, 1, 1 << 24);
    check_range("registration.max-fqdns", config.registration_max_fqdns, 1, 1LL << 32);
    check_range("web.max-connections", config.web_max_connections, 1, 1 << 24);
    check_range("web.max-idle-connections", config.web_max_idle_connections, 1, 1 << 24);
    check_range("web.max-tls-handshakes", config.web_max_tls_handshakes, 1, 1 << 20);
    if (config.web_tls_handshake_timeout == 0)
        bad("web.tls-handshake-timeout", 0, "must be more than 0");
    const char *why = trust_init(config.web_trusted_proxy.items, config.web_trusted_proxy.len);
    if (why) {
        fprintf(stderr, "pushprox-proxy: --web.trusted-proxy: %s\n", why);
        exit(2);
    }
    check_range("push.max-size", (long long)config.push_max_size, 1, 4LL << 30);
    if (config.push_max_buffered < config.push_max_size)
        bad("push.max-buffered", (long long)config.push_max_buffered,
            "must be at least --push.max-size");
    check_range("http.max-header-bytes", (long long)config.http_max_header_bytes, 1024, 16 << 20);
    set_replica_name();
    if (config.scrape_max_timeout == 0)
        bad("scrape.max-timeout", 0, "must be more than 0");
    if (config.scrape_default_timeout == 0)
        bad("scrape.default-timeout", 0, "must be more than 0");
}
