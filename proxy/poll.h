/* poll.h - a client's long poll on the worker holding its connection (W). */
#ifndef PROXY_POLL_H
#define PROXY_POLL_H

#include <stdint.h>

#include "msg.h"

struct conn;
struct worker;

/* A complete POST /poll on c: check the FQDN, tell its owner the poll waits. */
void poll_start(struct conn *c);
/* c closes while its poll waits: take it off the hold list, tell the owner. */
void poll_cancel(struct conn *c);
void poll_on_deliver(struct worker *wk, struct msg *m);
void poll_on_evict(struct worker *wk, struct msg *m);
/* Answers 408 to polls held longer than --poll.max-hold. */
void poll_expire(struct worker *wk, uint64_t now_ms);

/* Checks an FQDN as polled or scraped: 1..CONN_FQDN_MAX bytes of [A-Za-z0-9._-].
 * Returns NULL if fine, else what is wrong. */
const char *poll_fqdn_invalid(const char *s, size_t len);

#endif
