/* backoff.h - the wait after a failed poll: exponential (x1.5 per failure), capped at
 * --proxy.retry.max-wait, with jitter, forever; reset by a success. Pure arithmetic on a
 * caller-owned struct, so its schedule is unit-tested without a clock. */
#ifndef PUSHPROX_BACKOFF_H
#define PUSHPROX_BACKOFF_H

#include <stdint.h>

/* Growth per failure, as upstream (cenkalti/backoff's multiplier 1.5). */
#define BACKOFF_MULTIPLIER 1.5
/* Jitter: a wait is drawn from [interval * (1 - BACKOFF_JITTER), interval], so clients
 * that failed together spread out, and a wait never exceeds the cap. */
#define BACKOFF_JITTER 0.5

struct backoff {
    uint64_t initial_ms;
    uint64_t max_ms;
    uint64_t interval_ms; /* the next wait before jitter */
    uint64_t failures;    /* since the last reset, for logs */
};

/* Can't fail. max_ms below initial_ms is raised to initial_ms. */
void backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms);

/* The wait before the next attempt, given r in [0, 1) (a random draw); then grows the
 * interval. Never more than max_ms. */
uint64_t backoff_next(struct backoff *b, double r);

/* After a success: the next failure waits about initial_ms again. */
void backoff_reset(struct backoff *b);

#endif
