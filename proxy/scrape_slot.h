/* scrape_slot.h - the table of scrapes waiting for their answer on one worker (S), and
 * the Ids that name them.
 *
 * A scrape takes a slot; the slot's index, its generation and a random token make the Id
 * the client echoes in its push, so the push finds the slot in O(1), and a stale, forged
 * or reused Id finds a mismatch and is refused. */
#ifndef PROXY_SCRAPE_SLOT_H
#define PROXY_SCRAPE_SLOT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ref.h"

/* "<worker>.<slot>.<gen>.<token>" in hex: at most 4+1+8+1+8+1+16 characters. */
#define SCRAPE_SLOT_ID_MAX 40
/* Id tokens drawn from the kernel per getrandom(2) call: glibc's arc4random makes one
 * syscall per call, which cost more than the rest of a scrape's bookkeeping. */
#define SCRAPE_SLOT_TOKEN_BATCH 512
/* Highest worker number an Id may name (its field is 4 hex digits). */
#define SCRAPE_SLOT_MAX_WORKERS 256

struct conn;

struct scrape_slot {
    uv_timer_t timer; /* the scrape's timeout; timer.data is the slot */
    uint16_t wk_id;
    uint32_t idx;
    uint32_t gen; /* odd while in use, even while free */
    uint64_t token;
    struct conn *c; /* Prometheus's connection (this worker's) */
    uint32_t conn_gen;
    uint64_t start_ns;
    uint64_t timeout_ms;
};

struct scrape_slots {
    uv_loop_t *loop;
    uint16_t wk_id;
    uint64_t tokens[SCRAPE_SLOT_TOKEN_BATCH];
    uint32_t n_tokens;          /* unused tokens left at the end of tokens[] */
    struct scrape_slot **slots; /* [cap], each made on first use */
    uint32_t cap;
    uint32_t *free_idx; /* stack */
    uint32_t n_free;
    uint32_t n_made;
    uint32_t n_busy;
};

/* Sets up a table of at most cap slots for worker wk_id on loop. Returns 0 or UV_ENOMEM;
 * scrape_slots_close() frees what was made either way. */
int scrape_slots_init(struct scrape_slots *t, uv_loop_t *loop, uint16_t wk_id, uint32_t cap);
/* Closes the slots' timers; call on the loop before it stops. */
void scrape_slots_close_handles(struct scrape_slots *t);
/* Frees the slots once their timers have closed. */
void scrape_slots_close(struct scrape_slots *t);

/* A free slot with a new generation and token, made on first use; NULL when cap are busy
 * or on ENOMEM. */
struct scrape_slot *scrape_slot_take(struct scrape_slots *t);
/* Frees a slot: stops its timer and bumps its generation, so every Id naming the old one
 * is stale from now on. */
void scrape_slot_release(struct scrape_slots *t, struct scrape_slot *s);
/* The slot ref names, if that scrape still waits; NULL otherwise. */
struct scrape_slot *scrape_slot_lookup(struct scrape_slots *t, struct ref ref);
/* The slot at index idx if it is in use (any generation), else NULL. */
struct scrape_slot *scrape_slot_at(struct scrape_slots *t, uint32_t idx);
struct ref scrape_slot_ref(const struct scrape_slot *s);

/* Writes s's Id into out. Returns its length, or -EINVAL if cap is too small. */
int scrape_slot_id_format(char *out, size_t cap, const struct scrape_slot *s);
/* Parses an Id: 0 with ref and token set, or -EINVAL for anything else. */
int scrape_slot_id_parse(const char *s, size_t len, struct ref *ref, uint64_t *token);

#endif
