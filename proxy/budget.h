/* budget.h - the bytes of push bodies the process holds in memory, against
 * --push.max-buffered.
 *
 * A push's body is read into one buffer sized from its Content-Length before any of it
 * arrives (or --push.max-size when the length is not given), and that buffer travels to
 * the scrape's worker. Without a bound, a crowd of clients announcing large pushes and
 * sending them slowly could make the proxy hold push.max-size times the connections.
 * The worker receiving a push takes its size from the budget when the head arrives (503
 * when there is not enough left); the budget gets it back when the body is no longer the
 * receiving side's: refused, or handed to Prometheus's connection by the scrape's worker.
 *
 * Owner: one process-wide counter, changed with atomic operations from any worker: no
 * lock (two atomic adds per push). The limit is set once before the workers start. */
#ifndef PROXY_BUDGET_H
#define PROXY_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Sets the limit (bytes). Main's thread, before the workers start. */
void budget_init(uint64_t limit);
/* Takes n bytes if they fit under the limit. Any thread. */
bool budget_take(uint64_t n);
/* Gives n bytes back. Any thread. */
void budget_give(uint64_t n);
/* Bytes taken now. Any thread. */
uint64_t budget_used(void);

#endif
