/* server.h - the proxy's worker threads: one event loop per core, each with its own
 * listening socket, started, ticked and stopped here. */
#ifndef PROXY_SERVER_H
#define PROXY_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How long accepting pauses when the process is out of file descriptors (EMFILE, ENFILE)
 * or memory: connections wait in the kernel's backlog meanwhile, as nginx does. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* At most one log line per this long about paused accepting, with a count. */
#define SERVER_ACCEPT_LOG_MS 1000
/* Connections one worker accepts per wake-up before it serves the others. */
#define SERVER_ACCEPT_BATCH 64
/* Accept backlog of each listening socket. */
#define SERVER_LISTEN_BACKLOG 4096
/* Period of the housekeeping tick: registry sweep, poll hold expiry, gauges. */
#define SERVER_TICK_MS 1000
/* How often the web config files are checked for changes, and how long after a change the
 * reload waits for the rest of a multi-file update (certificate and key) to land. */
#define SERVER_WATCH_INTERVAL_MS 2000
#define SERVER_RELOAD_SETTLE_MS 500
/* How often a drain checks whether the scrapes in flight are done. */
#define SERVER_DRAIN_CHECK_MS 50

/* An address to listen on, and what is served there. */
struct server_address {
    const char *flag;            /* the flag that gave it, for logs: "web.listen-address" */
    const char *host;            /* NULL: every address, IPv6 and IPv4 */
    int port;                    /* 0: one port the kernel picks, shared by every worker */
    unsigned planes;             /* enum route_plane bits */
    const char *web_config_file; /* exporter-toolkit web config; NULL or "": none */
    int bound_port;              /* set by server_start() */
};

/* Starts n workers, each listening on every one of the n_addrs addresses (at most
 * WORKER_MAX_LISTENERS). Refuses, with a log line, an address another process listens on.
 * Returns 0, or a negative errno/UV_E* code after logging what failed (nothing is left
 * running). */
int server_start(uint16_t n, struct server_address *addrs, unsigned n_addrs);

/* Reads every address's web config file again and hands the new configurations to the
 * workers; requests from then on use them. A file that does not load is refused with a log
 * line naming it and what is wrong, and the configuration in force stays. Main's loop.
 * Returns 0 or the first error. */
int server_reload(void);

/* Watches the web config files and reloads (server_reload) when one changes: a Kubernetes
 * secret volume swaps a symlink, cert-manager writes in place. Main's loop. */
int server_watch(uv_loop_t *main_loop);
/* Stops watching (before main's loop closes). */
void server_unwatch(void);

/* Called on main's loop when a drain has ended: every scrape answered (drained true), or
 * --shutdown.timeout passed first. */
typedef void (*server_drained_cb)(bool drained, uint64_t still_in_flight);

/* Begins the drain on SIGTERM, on main's loop: /-/ready answers 503 at once; after
 * delay_ms every worker lets its polls go (poll_release_all) and ends every connection
 * after its current answer; then, when no scrape is in flight and no answer is still being
 * written, or after timeout_ms, done() is called. The listeners stay open throughout, so
 * the pushes of scrapes in flight and the load balancer's checks still get in. */
void server_drain(uv_loop_t *main_loop, uint64_t delay_ms, uint64_t timeout_ms,
                  server_drained_cb done);
/* Asks every worker to stop, joins them and frees everything. Main's thread. */
void server_stop(void);

#endif
