/* scrape.h - one scrape's life on the worker holding Prometheus's connection (S).
 *
 * A scrape takes a slot in its worker's table; the slot's index, its generation and a
 * random token make the Id the client echoes in its push, so the push finds the slot in
 * O(1), and a stale, forged or reused Id finds a mismatch and is refused. */
#ifndef PROXY_SCRAPE_H
#define PROXY_SCRAPE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "msg.h"

/* "<worker>.<slot>.<gen>.<token>" in hex: at most 4+1+8+1+8+1+16 characters. */
#define SCRAPE_ID_MAX 40

struct conn;
struct worker;

struct scrape {
    uv_timer_t timer;
    struct worker *wk;
    uint32_t slot;
    uint32_t gen; /* odd while in use, even while free */
    uint64_t token;
    struct conn *c; /* Prometheus's connection (this worker's) */
    uint32_t conn_gen;
    uint64_t start_ns;
    uint64_t timeout_ms;
};

/* Id tokens drawn from the kernel per getrandom(2) call: glibc's arc4random makes one
 * syscall per call, which cost more than the rest of a scrape's bookkeeping. */
#define SCRAPE_TOKEN_BATCH 512

struct scrape_table {
    uint64_t tokens[SCRAPE_TOKEN_BATCH];
    uint32_t n_tokens;     /* unused tokens left at the end of tokens[] */
    struct scrape **slots; /* [cap], allocated on first use */
    uint32_t cap;
    uint32_t *free_slot; /* stack */
    uint32_t n_free;
    uint32_t n_made;
    uint32_t n_busy;
};

int scrape_table_init(struct scrape_table *t, uint32_t cap);
/* Closes the slots' timers; call on the worker's loop before it stops. */
void scrape_table_close_handles(struct scrape_table *t);
void scrape_table_free(struct scrape_table *t);

/* A complete scrape request on c: take a slot, send the job to the FQDN's owner. */
void scrape_start(struct conn *c);
/* Prometheus's connection closed while its scrape waited. */
void scrape_cancel(struct conn *c);
void scrape_on_push(struct worker *wk, struct msg *m);
void scrape_on_fail(struct worker *wk, struct msg *m);

int scrape_id_format(char *out, size_t cap, uint16_t wk, uint32_t slot, uint32_t gen,
                     uint64_t token);
/* Parses an Id made by scrape_id_format. Returns 0, or -EINVAL for anything else. */
int scrape_id_parse(const char *s, size_t len, struct ref *ref, uint64_t *token);

/* The host part of an absolute-form URL (http://user@host:port/path): host without port
 * or brackets. Returns 0, or -EINVAL if there is no valid host. */
int scrape_url_host(const char *url, size_t len, const char **host, size_t *host_len);

#endif
