/* scrape_slot.c - scrape slots and their Ids (see scrape_slot.h).
 *
 * Owner: each worker's table and every slot in it belong to that worker's loop. Other
 * workers name a slot only by its Id. Slots are never freed before the worker stops: their
 * timers are libuv handles, and their generations must outlive their scrapes. */
#include "scrape_slot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scrape_slots_init(struct scrape_slots *t, uv_loop_t *loop, uint16_t wk_id, uint32_t cap)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->wk_id = wk_id;
    t->slots = calloc(cap, sizeof(*t->slots));
    t->free_idx = malloc(cap * sizeof(*t->free_idx));
    if (!t->slots || !t->free_idx)
        return UV_ENOMEM;
    t->cap = cap;
    return 0;
}

void scrape_slots_close_handles(struct scrape_slots *t)
{
    for (uint32_t i = 0; i < t->n_made; i++)
        uv_close((uv_handle_t *)&t->slots[i]->timer, NULL);
}

void scrape_slots_close(struct scrape_slots *t)
{
    for (uint32_t i = 0; i < t->n_made; i++)
        free(t->slots[i]);
    free(t->slots);
    free(t->free_idx);
    memset(t, 0, sizeof(*t));
}

/* The random part of the next Id. */
static uint64_t next_token(struct scrape_slots *t)
{
    if (t->n_tokens == 0) {
        arc4random_buf(t->tokens, sizeof(t->tokens));
        t->n_tokens = SCRAPE_SLOT_TOKEN_BATCH;
    }
    return t->tokens[--t->n_tokens];
}

struct scrape_slot *scrape_slot_take(struct scrape_slots *t)
{
    struct scrape_slot *s;

    if (t->n_free) {
        s = t->slots[t->free_idx[--t->n_free]];
    } else if (t->n_made < t->cap) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        s->wk_id = t->wk_id;
        s->idx = t->n_made;
        uv_timer_init(t->loop, &s->timer);
        s->timer.data = s;
        t->slots[t->n_made++] = s;
    } else {
        return NULL;
    }
    s->gen++; /* odd: in use */
    s->token = next_token(t);
    t->n_busy++;
    return s;
}

void scrape_slot_release(struct scrape_slots *t, struct scrape_slot *s)
{
    uv_timer_stop(&s->timer);
    s->gen++; /* even: free; every Id naming the old generation is now stale */
    s->c = NULL;
    t->free_idx[t->n_free++] = s->idx;
    t->n_busy--;
}

struct scrape_slot *scrape_slot_lookup(struct scrape_slots *t, struct ref ref)
{
    struct scrape_slot *s;

    if (ref.wk != t->wk_id || ref.idx >= t->n_made)
        return NULL;
    s = t->slots[ref.idx];
    if (s->gen != ref.gen || !(s->gen & 1) || !s->c)
        return NULL;
    return s;
}

struct scrape_slot *scrape_slot_at(struct scrape_slots *t, uint32_t idx)
{
    if (idx >= t->n_made || !(t->slots[idx]->gen & 1))
        return NULL;
    return t->slots[idx];
}

struct ref scrape_slot_ref(const struct scrape_slot *s)
{
    return (struct ref){.wk = s->wk_id, .idx = s->idx, .gen = s->gen};
}

int scrape_slot_id_format(char *out, size_t cap, const struct scrape_slot *s)
{
    int n = snprintf(out, cap, "%x.%" PRIx32 ".%" PRIx32 ".%016" PRIx64, (unsigned)s->wk_id, s->idx,
                     s->gen, s->token);
    return n < 0 || (size_t)n >= cap ? -EINVAL : n;
}

/* Reads up to max_digits lowercase/uppercase hex digits ending at a '.' or the end. */
static const char *hex_field(const char *p, const char *end, unsigned max_digits, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;

    for (; p < end && *p != '.'; p++, n++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return NULL;
        if (n == max_digits)
            return NULL;
        v = v << 4 | (uint64_t)d;
    }
    if (n == 0)
        return NULL;
    *out = v;
    return p;
}

int scrape_slot_id_parse(const char *s, size_t len, struct ref *ref, uint64_t *token)
{
    const char *p = s, *end = s + len;
    uint64_t wk, slot, gen, tok;

    if (!(p = hex_field(p, end, 4, &wk)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 8, &slot)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 8, &gen)) || p == end || *p++ != '.' ||
        !(p = hex_field(p, end, 16, &tok)) || p != end)
        return -EINVAL;
    ref->wk = (uint16_t)wk;
    ref->idx = (uint32_t)slot;
    ref->gen = (uint32_t)gen;
    *token = tok;
    return wk < SCRAPE_SLOT_MAX_WORKERS ? 0 : -EINVAL;
}
