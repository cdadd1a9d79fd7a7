/* routes.c - the proxy's route table (see routes.h): the only file that knows which path
 * goes to which handler. conn.c matches requests against it in order; adding an endpoint
 * is one row here and one handler.
 *
 * Owner: built once on main's thread before any worker starts; read-only afterwards. */
#include "routes.h"

#include "clients.h"
#include "config.h"
#include "health.h"
#include "metrics_page.h"
#include "poll.h"
#include "push.h"
#include "scrape.h"

/* Body limits of requests other than pushes. A poll's body is an FQDN. */
#define ROUTES_POLL_BODY_MAX_BYTES 1024
#define ROUTES_OTHER_BODY_MAX_BYTES (64 * 1024)

enum {
    ROW_SCRAPE,
    ROW_POLL,
    ROW_PUSH,
    ROW_CLIENTS,
    ROW_METRICS,
    ROW_HEALTHY,
    ROW_READY,
    ROW_OTHER,
    ROW_COUNT
};

/* The order is the order of matching, and of the request series on /metrics. */
/* clang-format off */
static struct route rows[ROW_COUNT] = {
    [ROW_SCRAPE] = {
        .label = "proxy",
        .planes = PLANE_SCRAPE,
        .match = ROUTE_MATCH_ABSOLUTE_URI,
        .method = -1,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .on_request = scrape_on_request,
        .on_cancel = scrape_on_cancel,
    },
    [ROW_POLL] = {
        .label = "/poll",
        .planes = PLANE_CLIENT,
        .match = ROUTE_MATCH_PATH,
        .path = "/poll",
        .method = HTTP_POST,
        .body_max_bytes = ROUTES_POLL_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .on_request = poll_on_request,
        .on_cancel = poll_on_cancel,
    },
    [ROW_PUSH] = {
        .label = "/push",
        .planes = PLANE_CLIENT,
        .match = ROUTE_MATCH_PATH,
        .path = "/push",
        .method = HTTP_POST,
        .body_max_bytes = 0, /* --push.max-size, set below */
        .body_limit = LIMIT_PUSH_MAX_SIZE,
        .flags = ROUTE_BODY_IN_PLACE | ROUTE_ANSWER_AFTER_EOF,
        .on_request = push_on_request,
    },
    [ROW_CLIENTS] = {
        .label = "/clients",
        .planes = PLANE_SCRAPE,
        .match = ROUTE_MATCH_PATH,
        .path = "/clients",
        .method = HTTP_GET,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .flags = ROUTE_ANSWER_AFTER_EOF,
        .on_request = clients_on_request,
        .on_cancel = clients_on_cancel,
    },
    [ROW_METRICS] = {
        .label = "/metrics",
        .planes = PLANE_SCRAPE,
        .match = ROUTE_MATCH_PATH,
        .path = "/metrics",
        .method = HTTP_GET,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .on_request = metrics_page_on_request,
    },
    [ROW_HEALTHY] = {
        .label = "/-/healthy",
        .planes = PLANE_ALL,
        .match = ROUTE_MATCH_PATH,
        .path = "/-/healthy",
        .method = HTTP_GET,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .on_request = health_on_healthy,
    },
    [ROW_READY] = {
        .label = "/-/ready",
        .planes = PLANE_ALL,
        .match = ROUTE_MATCH_PATH,
        .path = "/-/ready",
        .method = HTTP_GET,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
        .on_request = health_on_ready,
    },
    [ROW_OTHER] = {
        /* Anything else: 404 (no handler), its body read and dropped. */
        .label = "other",
        .planes = PLANE_ALL,
        .match = ROUTE_MATCH_ANY,
        .method = -1,
        .body_max_bytes = ROUTES_OTHER_BODY_MAX_BYTES,
        .body_limit = LIMIT_NONE,
    },
};
/* clang-format on */

static const struct route_table table = {
    .rows = rows,
    .n = ROW_COUNT,
    .on_close = poll_on_conn_close,
    .on_idle_move = poll_move_idle,
};

const struct route_table *routes_table(void)
{
    rows[ROW_PUSH].body_max_bytes = config.push_max_size;
    return &table;
}
