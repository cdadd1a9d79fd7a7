/* registry.h - one worker's shard of the client table: for each FQDN the polls waiting,
 * the scrapes waiting for a poll, and when it was last seen.
 *
 * An FQDN belongs to shard registry_owner(fqdn) = hash(fqdn) % n_workers; only the owning
 * worker reads or writes its records (a ck_ht with that one writer and no other reader).
 * /clients is answered by asking every shard with a message (CLIENTS_REQ), not by reading
 * across threads. */
#ifndef PROXY_REGISTRY_H
#define PROXY_REGISTRY_H

#include <ck_ht.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

struct worker;

struct registry {
    ck_ht_t ht;
    uint64_t n_records;
    uint64_t n_removed; /* since the last ck_ht_gc */
};

int registry_init(struct registry *r);
void registry_close(struct registry *r);

/* Which worker owns fqdn. Any thread. */
uint16_t registry_owner(const char *fqdn, size_t len);

void registry_on_poll_wait(struct worker *wk, struct msg *m);
void registry_on_poll_gone(struct worker *wk, struct msg *m);
void registry_on_scrape(struct worker *wk, struct msg *m);
/* Drops a queued scrape whose Prometheus connection closed, so a scraper that opens and
 * closes connections cannot park requests here until their deadlines. */
void registry_on_scrape_cancel(struct worker *wk, struct msg *m);
/* Once a second: drops expired queued scrapes and forgotten FQDNs; updates gauges. */
void registry_sweep(struct worker *wk, uint64_t now_ms);
/* Appends this shard's listed FQDNs as JSON array elements, comma-separated. */
int registry_write_clients(struct worker *wk, struct buf *out, uint64_t now_ms);

#endif
