/* main.c - pushprox-proxy: parse flags, start the workers, wait for a signal, stop.
 *
 * Reading order, top-down: main.c -> server.c (threads, listeners, accepting, the tick;
 * fold.c runs every loop on one thread while the load is low)
 * -> routes.c (which request goes to which handler) -> conn.c (a connection: read, parse,
 * match a route, respond) -> the handlers: scrape.c (Prometheus's scrape) -> registry.c
 * (the FQDN's owner: polls and queued scrapes) -> poll.c (the client's poll gets the work)
 * -> push.c (the client's answer) -> back to scrape.c (relay). dispatch.c says which
 * handler each cross-worker message reaches; inbox.c carries them; msg.h lists them.
 * Beneath conn.c, common/transport.h carries the bytes.
 *
 * Owner: main's thread owns only its signal loop; everything else belongs to workers. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "budget.h"
#include "config.h"
#include "conn.h"
#include "flags.h"
#include "log.h"
#include "server.h"
#include "worker.h"

static bool draining;

static void on_drained(bool drained, uint64_t still_in_flight)
{
    if (drained)
        log_info("main", "drained: every scrape answered");
    else
        log_warn("main", "drain timed out: scrapes still in flight are cut",
                 LOG_STR("limit", "shutdown.timeout"), LOG_UINT("in_flight", still_in_flight));
    uv_stop(uv_default_loop());
}

/* The first SIGTERM or SIGINT drains (see server_drain()); a second one stops at once. */
static void on_signal(uv_signal_t *handle, int signum)
{
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";

    if (draining) {
        log_info("main", "stopping now", LOG_STR("signal", name));
        uv_stop(handle->loop);
        return;
    }
    draining = true;
    log_info("main", "draining", LOG_STR("signal", name),
             LOG_UINT("delay_ms", config.shutdown_delay),
             LOG_UINT("timeout_ms", config.shutdown_timeout));
    server_drain(handle->loop, config.shutdown_delay, config.shutdown_timeout, on_drained);
}

static void on_sighup(uv_signal_t *handle, int signum)
{
    log_info("main", "reloading", LOG_STR("signal", "SIGHUP"));
    server_reload();
}

static void on_close_handle(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

int main(int argc, char **argv)
{
    enum log_level level;
    enum log_format format;
    char host[256], scrape_host[256];
    struct server_address addrs[2];
    unsigned n_addrs = 1;
    uv_loop_t *loop = uv_default_loop();
    uv_signal_t sigint, sigterm, sighup;
    uint16_t n;

    config_parse(argc, argv);
    if (log_level_parse(config.log_level, &level) != 0) {
        fprintf(stderr,
                "pushprox-proxy: --log.level: \"%s\": not one of debug, info, warn, error\n",
                config.log_level);
        return 2;
    }
    if (log_format_parse(config.log_format, &format) != 0) {
        fprintf(stderr, "pushprox-proxy: --log.format: \"%s\": not one of logfmt, json\n",
                config.log_format);
        return 2;
    }
    log_setup(level, format, 2);
    /* ":8080" means every address, IPv6 included, as in Go. */
    addrs[0] = (struct server_address){.flag = "web.listen-address",
                                       .planes = PLANE_ALL,
                                       .web_config_file = config.web_config_file};
    if (flags_split_hostport(config.web_listen_address, host, sizeof(host), &addrs[0].port) != 0) {
        fprintf(stderr, "pushprox-proxy: --web.listen-address: \"%s\": not host:port\n",
                config.web_listen_address);
        return 2;
    }
    addrs[0].host = config.web_listen_address[0] == ':' ? NULL : host;
    if (config.scrape_listen_address[0]) {
        addrs[0].planes = PLANE_CLIENT;
        addrs[1] = (struct server_address){.flag = "scrape.listen-address",
                                           .planes = PLANE_SCRAPE,
                                           .web_config_file = config.scrape_web_config_file};
        if (flags_split_hostport(config.scrape_listen_address, scrape_host, sizeof(scrape_host),
                                 &addrs[1].port) != 0) {
            fprintf(stderr, "pushprox-proxy: --scrape.listen-address: \"%s\": not host:port\n",
                    config.scrape_listen_address);
            return 2;
        }
        addrs[1].host = config.scrape_listen_address[0] == ':' ? NULL : scrape_host;
        n_addrs = 2;
    } else if (config.scrape_web_config_file[0]) {
        fprintf(stderr, "pushprox-proxy: --scrape.web-config.file needs --scrape.listen-address\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    budget_init(config.push_max_buffered);
    n = (uint16_t)(config.workers ? config.workers : uv_available_parallelism());
    if (n > WORKER_MAX)
        n = WORKER_MAX;
    if (server_start(n, addrs, n_addrs) != 0)
        return 1;
    for (unsigned a = 0; a < n_addrs; a++)
        log_info("main", "listening", LOG_STR("flag", addrs[a].flag),
                 LOG_STR("address", a ? config.scrape_listen_address : config.web_listen_address),
                 LOG_INT("port", addrs[a].bound_port),
                 LOG_STR("serves", addrs[a].planes == PLANE_ALL ? "everything"
                                   : addrs[a].planes == PLANE_CLIENT
                                       ? "polls and pushes"
                                       : "scrapes, /clients, /metrics"),
                 LOG_INT("workers", n), LOG_STR("version", PUSHPROX_VERSION));

    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sighup);
    uv_signal_start(&sighup, on_sighup, SIGHUP);
    if (server_watch(loop) != 0)
        log_warn("main", "cannot watch the web config files; reload with SIGHUP");
    uv_run(loop, UV_RUN_DEFAULT);

    server_stop();
    server_unwatch();
    uv_walk(loop, on_close_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    log_info("main", "stopped");
    return 0;
}
