/* push.h - the body of POST /push: one serialized HTTP/1.1 response carrying the
 * exporter's status, headers and body, plus `Id` (links it to the scrape) and
 * `X-Prometheus-Scrape-Timeout` (seconds left, as upstream's "%f"). Pure formatting into
 * caller-owned buffers. */
#ifndef PUSHPROX_PUSH_H
#define PUSHPROX_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "http.h"

struct proxy_url;

/* Longest inner head we write: the exporter's head (bounded by the parser) plus ours. */
#define PUSH_HEAD_MAX_BYTES (HTTP_HEAD_MAX_BYTES_DEFAULT + 1024)
/* Largest answer to a push we read (the proxy's "Error pushing: ..." text). */
#define PUSH_RES_BODY_MAX_BYTES (64 * 1024)
/* Shortest time a push may take, even when the scrape's deadline is (nearly) gone: the
 * proxy answers a late push with a 500 quickly, and the client should hear it. */
#define PUSH_MIN_TIMEOUT_MS 5000

/* The inner response head from an exporter's response. With rewrite_length, the body
 * was collected (chunked or unbounded) and goes out with Content-Length: body_len and
 * without Transfer-Encoding; otherwise the exporter's Content-Length is kept unchanged.
 * Connection and Keep-Alive (hop-by-hop) and any Id/X-Prometheus-Scrape-Timeout of the
 * exporter's own are dropped. Returns 0 or -E2BIG. */
int push_inner_head(struct buf *out, const struct http_head *res, const char *id,
                    double remaining_s, bool rewrite_length, size_t body_len);

/* A whole inner 500 response whose text/plain body is text. Returns 0 or -E2BIG. */
int push_inner_error(struct buf *out, const char *id, double remaining_s, const char *text);

/* "POST <push path> HTTP/1.1" with Host, User-Agent, Content-Length, and X-PushProx-FQDN
 * and X-PushProx-Id naming the poll's FQDN and the scrape's Id, so a load balancer can
 * route the push to the replica that issued the Id without reading the body (upstream's
 * proxy ignores both). Returns 0 or -E2BIG. */
int push_outer_head(struct buf *out, const struct proxy_url *u, const char *fqdn, const char *id,
                    size_t content_length);

#endif
