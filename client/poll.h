/* poll.h - the poll loop: per FQDN, --poll.concurrency pollers each keep one POST /poll
 * open at the proxy; an answer that is work starts a scrape (scrape.h), and a poller whose
 * scrape slots are full waits until scrape.c says one is free.
 * Owner: the client's loop. */
#ifndef PUSHPROX_POLL_H
#define PUSHPROX_POLL_H

#include "client.h"

/* Starts every poller (and hears of freed scrape slots from now on). Call after the pools
 * exist. Returns 0 or -ENOMEM. */
int poll_start(struct client *cl);
/* Stops every poller: their requests are cancelled and their timers stopped. Can't fail. */
void poll_stop(struct client *cl);
/* Closes the pollers' requests and timers; cl->pollers may be freed once the loop ran the
 * timers' close callbacks. */
void poll_close(struct client *cl);

/* Readiness: for every FQDN, a poll held by the proxy now, or one it answered within
 * --ready.poll-window (a minute by default: a few retry waits, so a proxy restart does not
 * flap readiness, but a client cut off from its proxy turns unready). Returns NULL when
 * ready, else why not (a static buffer). */
const char *poll_not_ready(struct client *cl);

#endif
