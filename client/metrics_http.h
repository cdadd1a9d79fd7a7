/* metrics_http.h - the --metrics-addr listener: GET /metrics answers the client's metrics,
 * GET /-/healthy 200 while the process runs, GET /-/ready 200 or 503 as the ready callback
 * says (for Kubernetes probes); anything else gets a 404. Small on purpose: a bounded number of
 * connections, one request at a time each, keep-alive, and a read timeout. */
#ifndef PUSHPROX_METRICS_HTTP_H
#define PUSHPROX_METRICS_HTTP_H

#include <stdbool.h>
#include <uv.h>

#include "buf.h"
#include "list.h"

/* Most connections at once; Prometheus needs one. Past it new ones are closed. */
#define METRICS_HTTP_MAX_CONNS 16
/* A connection that sends nothing for this long is closed. */
#define METRICS_HTTP_IDLE_TIMEOUT_MS 30000
/* Largest metrics page (a few hundred lines). */
#define METRICS_HTTP_PAGE_MAX_BYTES (1024 * 1024)
/* Responses queued to one peer that does not read them; past it the connection is
 * closed, so pipelined requests from a peer that never reads cannot grow memory. */
#define METRICS_HTTP_MAX_QUEUED_BYTES (2 * METRICS_HTTP_PAGE_MAX_BYTES)

typedef int (*metrics_http_write_cb)(void *ctx, struct buf *out);
/* NULL when ready, else why not (a line of text). */
typedef const char *(*metrics_http_ready_cb)(void *ctx);

struct metrics_http {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    metrics_http_write_cb write;
    metrics_http_ready_cb ready;
    void *ctx;
    size_t n_conns;
    bool listening;
    struct list conns; /* struct metrics_http_conn, newest first */
};

/* Listens on addr ("host:port", ":9369"). Returns 0, or a negative code (logged). */
int metrics_http_start(struct metrics_http *m, uv_loop_t *loop, const char *addr,
                       metrics_http_write_cb write, metrics_http_ready_cb ready, void *ctx);
/* Stops listening and closes every connection. */
void metrics_http_stop(struct metrics_http *m);

#endif
