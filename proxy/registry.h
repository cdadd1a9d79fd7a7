/* registry.h - one worker's shard of the client table: for each FQDN the polls waiting,
 * the scrapes waiting for a poll, and when it was last seen.
 *
 * An FQDN belongs to shard fqdn_owner(fqdn) = hash(fqdn) % workers; only the owning
 * worker reads or writes its records (a ck_ht with that one writer and no other reader).
 * /clients is answered by asking every shard with a message (CLIENTS_REQ), not by reading
 * across threads. The registry answers through the inbox it is given at init, and knows
 * nothing of the worker around it. */
#ifndef PROXY_REGISTRY_H
#define PROXY_REGISTRY_H

#include <ck_ht.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "counters.h"
#include "inbox.h"
#include "msg.h"

/* What GET /clients shows (its ?view= parameter). */
enum registry_view {
    REGISTRY_VIEW_TARGETS,   /* http_sd: one group per client, target = its FQDN */
    REGISTRY_VIEW_EXPORTERS, /* http_sd: one group per announced exporter, fqdn:port */
    REGISTRY_VIEW_DETAIL,    /* not http_sd: per-client detail (since, last poll, counts) */
};

/* What the /clients lines say besides each client's own: the replica's name (JSON-escaped)
 * and the offset from uv_now() milliseconds to Unix milliseconds, for timestamps. */
struct registry_listing {
    enum registry_view view;
    const char *replica_json;
    int64_t wall_offset_ms;
};

/* Scrapes a record remembers having delivered, for failing them early when the client
 * goes (registry_on_conn_gone); past it the oldest is forgotten, and just waits for its push
 * or its timeout. */
#define REGISTRY_DELIVERED_MAX 16
/* A push found among the delivered scrapes is answered by the owner only while its scrape's
 * deadline is further than this away; nearer, the scrape's own worker gives the verdict, as
 * its timeout may be answering Prometheus already. */
#define REGISTRY_PUSH_MARGIN_MS 250

struct registry {
    ck_ht_t ht;
    uint64_t n_records;
    uint64_t n_removed; /* since the last ck_ht_gc */
    uv_loop_t *loop;
    struct inbox *inbox; /* the owning worker's: answers go out through it */
    struct counters *counters;
    /* Records whose every polling connection closed while delivered scrapes wait, oldest
     * first (each waits --scrape.client-gone-grace, so the list is in deadline order), and
     * the one timer that fires for the first. */
    struct list gone;
    uv_timer_t gone_timer;
    /* The proxy drains and this worker has let its polls go: no poll will wait here again,
     * so a scrape that finds none is refused at once instead of queued (registry_release). */
    bool released;
};

/* Sets up an empty shard on loop, answering through inbox. Returns 0 or UV_ENOMEM. */
int registry_init(struct registry *r, uv_loop_t *loop, struct inbox *inbox,
                  struct counters *counters);
/* Closes the shard's timer; call on the loop before it stops. */
void registry_close_handles(struct registry *r);
/* The drain let this worker's polls go: refuses (503) every queued scrape, and from now on
 * every scrape that finds no poll waiting. */
void registry_release(struct registry *r);
/* Frees every record and the messages queued in them. Accepts a zeroed registry. */
void registry_close(struct registry *r);

/* The messages the shard's owner receives (msg.h). Each takes m. */
void registry_on_poll_wait(struct registry *r, struct msg *m);
void registry_on_poll_gone(struct registry *r, struct msg *m);
void registry_on_scrape(struct registry *r, struct msg *m);
/* A connection that polled for m's FQDN closed. When none is left, one closed with its poll
 * waiting since the FQDN's last poll, and scrapes delivered to the FQDN's polls may still
 * wait for their push, the grace period starts: if no connection
 * polls for it again within --scrape.client-gone-grace, those scrapes are failed (502) at
 * once instead of waiting for their timeouts. */
void registry_on_conn_gone(struct registry *r, struct msg *m);
/* A push for scrape (its Id's slot and token) arrived on the FQDN's owner: whether fqdn's
 * record has that scrape among those it delivered, with time left before its deadline; if
 * so it is forgotten there (a second push with the same Id is not found). The caller
 * answers the push itself and sends the answer on, with no verdict to wait for. */
bool registry_take_delivered(struct registry *r, const char *fqdn, size_t fqdn_len,
                             struct ref scrape, uint64_t token);
/* The grace timer's work, at now_ms: fails the delivered scrapes of every record whose
 * grace has run out with still no connection (a test calls it directly). */
void registry_expire_gone(struct registry *r, uint64_t now_ms);
/* Drops a queued scrape whose Prometheus connection closed, so a scraper that opens and
 * closes connections cannot park requests here until their deadlines. */
void registry_on_scrape_cancel(struct registry *r, struct msg *m);
/* Once a second: drops expired queued scrapes and forgotten FQDNs; updates gauges. */
void registry_sweep(struct registry *r, uint64_t now_ms);
/* A scrape of m's FQDN failed on its way through S: counted for /clients?view=detail. */
void registry_on_scrape_error(struct registry *r, struct msg *m);
/* Appends this shard's listed clients as JSON array elements, comma-separated, as the
 * listing asks. Returns 0 or -E2BIG/-ENOMEM from out (the last element may be cut: the
 * caller keeps only whole shards). */
int registry_write_clients(struct registry *r, struct buf *out, uint64_t now_ms,
                           const struct registry_listing *how);

#endif
