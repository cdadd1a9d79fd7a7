/* scrape.h - Prometheus's scrape, on the worker holding its connection (S): the handler of
 * absolute-URI requests. */
#ifndef PROXY_SCRAPE_H
#define PROXY_SCRAPE_H

#include <stddef.h>

#include "msg.h"

struct conn;
struct worker;

/* The route's handlers: a complete scrape request on c (take a slot, send the job to the
 * FQDN's owner), and c closing while its scrape waits. */
void scrape_on_request(struct conn *c);
void scrape_on_cancel(struct conn *c);

/* Messages for S (msg.h). Each takes m. */
void scrape_on_push(struct worker *wk, struct msg *m);
void scrape_on_fail(struct worker *wk, struct msg *m);
/* SCRAPE_MOVE: Prometheus's connection, with its scrape, from a worker that does not own
 * the scrape's FQDN (--scrape.move-to-owner); the scrape starts here. */
void scrape_on_move(struct worker *wk, struct msg *m);

/* The host part of an absolute-form URL (http://user@host:port/path): host without port
 * or brackets. Returns 0, or -EINVAL if there is no valid host. */
int scrape_url_host(const char *url, size_t len, const char **host, size_t *host_len);

#endif
