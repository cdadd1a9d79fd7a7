/* poll.h - a client's long poll on the worker holding its connection (W): the handler of
 * POST /poll. */
#ifndef PROXY_POLL_H
#define PROXY_POLL_H

#include <stdint.h>

#include "msg.h"

struct conn;
struct worker;

/* The route's handlers: a complete POST /poll on c (check the FQDN, tell its owner the poll
 * waits), and c closing while its poll waits (take it off the hold list, tell the owner). */
void poll_on_request(struct conn *c);
void poll_on_cancel(struct conn *c);
/* Any connection closing: one that polled tells its FQDN's owner it is gone (CONN_GONE),
 * and whether its poll was waiting, so scrapes delivered to it need not wait for their
 * timeout (registry.h). Not while the process drains: its clients are being sent
 * elsewhere on purpose, and push from there. */
void poll_on_conn_close(struct conn *c);

/* Messages for W (msg.h). Each takes m. */
void poll_on_deliver(struct worker *wk, struct msg *m);
void poll_on_evict(struct worker *wk, struct msg *m);
/* For O: a connection whose first poll is for an FQDN this worker owns, moved here by the
 * worker that accepted it (CONN_MOVE); its poll waits here from now on. */
void poll_on_move(struct worker *wk, struct msg *m);
/* The route table's on_idle_move: a connection that pushed and never polled, idle now,
 * goes to worker `to` (its last push's FQDN's owner), unless moving is off. */
void poll_move_idle(struct conn *c, uint16_t to);

/* Answers 408 to polls held longer than --poll.max-hold. */
void poll_expire(struct worker *wk, uint64_t now_ms);

/* The process drains: answers every poll held here 408 with "Connection: close", so each
 * client polls again at once (through its load balancer, elsewhere). Polls that arrive
 * afterwards are answered the same way at once. Returns how many were let go. */
unsigned poll_release_all(struct worker *wk);

#endif
