/* scrape.h - one scrape's life: check the forwarded request as upstream does, GET the
 * exporter, and push its response (or a 500 saying what failed) to the proxy.
 * Owner: the client's loop; the scrapes in flight are linked in cl->scrapes. */
#ifndef PUSHPROX_SCRAPE_H
#define PUSHPROX_SCRAPE_H

#include <stddef.h>

#include "client.h"

/* Sets up cl's scrape list; on_slot_free (may be NULL) is called after each scrape that ends
 * while the client is not stopping, so whoever waits for a slot hears of it without this
 * module knowing who that is. Can't fail. */
void scrape_init(struct client *cl, void (*on_slot_free)(struct client *cl));

/* Runs the work in a poll answer for fqdn. Returns 0 (the scrape is running and will push
 * its result), or -EINVAL with *why when the answer is not usable work (nothing is pushed;
 * the poller counts a poll error). */
int scrape_start(struct client *cl, const char *fqdn, const char *body, size_t len,
                 const char **why);

/* Ends every scrape in flight at once (shutdown deadline). */
void scrape_cancel_all(struct client *cl);

#endif
