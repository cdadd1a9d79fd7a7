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

struct client;
struct proxy_url;

/* The most push_inner_head() adds to an exporter's head as read from the wire: a space
 * after each header's colon (HTTP_MAX_HEADERS), a reason phrase where there was none (32),
 * Content-Length (40), Id (WORK_ID_MAX + 6) and X-Prometheus-Scrape-Timeout (45, the
 * longest scrape being WORK_TIMEOUT_MAX_MS): under 500, rounded up. */
#define PUSH_HEAD_ADDED_BYTES 1024
/* Headers push_inner_head() may add: Id, X-Prometheus-Scrape-Timeout, Content-Length. */
#define PUSH_HEAD_ADDED_HEADERS 3
/* The largest exporter head read and the most headers it may have, so that its push fits
 * a proxy's default limits (HTTP_HEAD_MAX_BYTES_DEFAULT, --http.max-header-bytes, and
 * HTTP_MAX_HEADERS): a larger answer is a scrape error pushed back as a 500 that says so,
 * not a push the proxy refuses while the scraper waits. */
#define PUSH_EXPORTER_HEAD_MAX_BYTES (HTTP_HEAD_MAX_BYTES_DEFAULT - PUSH_HEAD_ADDED_BYTES)
#define PUSH_EXPORTER_MAX_HEADERS (HTTP_MAX_HEADERS - PUSH_HEAD_ADDED_HEADERS)
/* Longest inner head we write: an exporter head within the limits above plus ours. */
#define PUSH_HEAD_MAX_BYTES HTTP_HEAD_MAX_BYTES_DEFAULT
/* Largest answer to a push we read (the proxy's "Error pushing: ..." text). */
#define PUSH_RES_BODY_MAX_BYTES (64 * 1024)
/* Shortest time a push may take, even when the scrape's deadline is (nearly) gone: the
 * proxy answers a late push with a 500 quickly, and the client should hear it. */
#define PUSH_MIN_TIMEOUT_MS 5000

/* How an exporter's answer travels in its push. */
enum push_framing {
    PUSH_STREAM,  /* a Content-Length: streamed as the body arrives, the length unchanged */
    PUSH_COLLECT, /* chunked or ending at EOF: collected, then pushed with a Content-Length */
    PUSH_NO_BODY, /* a 1xx, 204 or 304, or the answer to a HEAD (res->no_body): head alone */
};

/* How res (a complete head) is pushed. Can't fail. */
enum push_framing push_framing(const struct http_head *res);

/* Whether res (read with head_max_bytes = PUSH_EXPORTER_HEAD_MAX_BYTES) fits in a push:
 * 0, or -E2BIG with *why (static text) when it has more than PUSH_EXPORTER_MAX_HEADERS
 * headers. */
int push_check_head(const struct http_head *res, const char **why);

/* The inner response head from an exporter's response, framed as push_framing(res) says:
 *   PUSH_STREAM   the exporter's Content-Length is kept;
 *   PUSH_COLLECT  Content-Length and Transfer-Encoding are dropped and Content-Length:
 *                 body_len (the collected body) is written;
 *   PUSH_NO_BODY  a 1xx, 204 or 304 keeps its headers as sent: every reader knows from the
 *                 status that no body follows, whatever Content-Length says. The answer to
 *                 a HEAD gets Content-Length: 0 instead of its own length and
 *                 Transfer-Encoding: the proxy reads a push as the answer to a request it
 *                 does not know, so it would wait for the body that length announces.
 * So the push always carries exactly the bytes its head announces. Connection and
 * Keep-Alive (hop-by-hop) and any Id/X-Prometheus-Scrape-Timeout of the exporter's own are
 * dropped. Returns 0, or -E2BIG when out's limit is reached or more than HTTP_MAX_HEADERS
 * headers would be written (push_check_head() refuses such an answer first). */
int push_inner_head(struct buf *out, const struct http_head *res, const char *id,
                    double remaining_s, size_t body_len);

/* A whole inner 500 response whose text/plain body is text. Returns 0 or -E2BIG. */
int push_inner_error(struct buf *out, const char *id, double remaining_s, const char *text);

/* "POST <push path> HTTP/1.1" with Host, User-Agent and Content-Length, and for a load
 * balancer X-PushProx-FQDN and X-PushProx-Id (the scrape's), which it can route on without
 * reading the body; upstream's proxy ignores both. */
int push_outer_head(struct buf *out, const struct client *cl, const char *fqdn, const char *id,
                    size_t content_length);

#endif
