/* discovery.h - what the proxy lists for service discovery: GET /clients, read as http_sd
 * JSON (sd_json.h), counted.
 *
 * The parent asks it between phases to learn whether the proxy has taken in every client
 * whose first poll is out. One blocking request on its own connection, bounded in time
 * (DISCOVERY_TIMEOUT_S per read or write) and in size (DISCOVERY_MAX_BYTES); over TLS
 * with the run's client certificate when the run has one (a blocking mbedTLS session on
 * a conf of the call's own, so no loop thread's conf is touched).
 * Owner: pure, apart from the socket and TLS conf it opens and closes; any thread. */
#ifndef BENCH_DISCOVERY_H
#define BENCH_DISCOVERY_H

#include <netinet/in.h>
#include <stdint.h>

#include "dial.h"

/* Largest /clients answer read: 20,000 clients are ~1 MB; this leaves 60x room. */
#define DISCOVERY_MAX_BYTES (64u << 20)
/* A proxy that neither answers nor closes within this is not counted. */
#define DISCOVERY_TIMEOUT_S 5

/* Asks proxy (Host: host) for /clients, over TLS when tls is set, and counts the targets
 * of every group.
 * Returns 0 with *count set; or a negative errno: a failed connect, write or read (its
 * errno, -ETIMEDOUT past the timeout), -EPROTO for a response that is not a 200 with a
 * complete body, -EINVAL / -E2BIG for a body that is not http_sd JSON (logged once with
 * the offset and the defect), -ENOMEM; -ECONNREFUSED for a failed handshake (logged). */
int discovery_count(const struct sockaddr_in *proxy, const char *host, const struct dial_tls *tls,
                    uint64_t *count);

#endif
