/* backoff.c - poll retry schedule (see backoff.h).
 * Owner: whoever embeds the struct (one poller); no shared state. */
#include "backoff.h"

void backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms)
{
    b->initial_ms = initial_ms;
    b->max_ms = max_ms < initial_ms ? initial_ms : max_ms;
    b->interval_ms = initial_ms;
    b->failures = 0;
}

uint64_t backoff_next(struct backoff *b, double r)
{
    if (r < 0 || r >= 1)
        r = 0;
    uint64_t iv = b->interval_ms;
    uint64_t wait = (uint64_t)((double)iv * (1.0 - BACKOFF_JITTER * r));
    if (wait > b->max_ms)
        wait = b->max_ms;
    double next = (double)iv * BACKOFF_MULTIPLIER;
    b->interval_ms = next >= (double)b->max_ms ? b->max_ms : (uint64_t)next;
    b->failures++;
    return wait;
}

void backoff_reset(struct backoff *b)
{
    b->interval_ms = b->initial_ms;
    b->failures = 0;
}
