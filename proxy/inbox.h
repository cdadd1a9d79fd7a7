/* inbox.h - how a worker hands a message to another: one SPSC ck_ring per sending worker
 * plus one uv_async_t, as DESIGN.md lays out.
 *
 * inbox_send() is the only way a message crosses threads. It never blocks or spins:
 *   - request messages (SCRAPE, PUSH) fail with -EAGAIN when the ring is full, and the
 *     caller answers 503 and counts it: that is the proxy's back-pressure;
 *   - every other message answers something already admitted, so it must not be lost:
 *     when the ring is full it waits in the sender's backlog for that receiver, in order,
 *     and a short timer retries. The backlog is bounded by what is admitted (each entry
 *     answers one live scrape, poll or push), not by a constant.
 * A message to oneself goes through a local list, drained on the next loop turn (a
 * uv_idle handle runs while the list is not empty: no syscall, unlike an async wake-up),
 * so a handler never re-enters another.
 *
 * Owner: each worker's rings are written by exactly one sender thread each and read by the
 * worker itself. */
#ifndef PROXY_INBOX_H
#define PROXY_INBOX_H

#include <ck_ring.h>
#include <uv.h>

#include "msg.h"

/* Slots in each sender->receiver ring (a power of two). 4096 pointers = 32 KiB per pair;
 * at 1 µs per message that is 4 ms of another worker's full-speed traffic. */
#define INBOX_RING_SIZE 4096
/* Messages handled per wake-up before yielding to I/O; the rest wait for the next turn. */
#define INBOX_BATCH 1024
/* How soon a backlog is retried, in ms. */
#define INBOX_RETRY_MS 1

struct worker;

struct inbox_ring {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
};

struct inbox {
    struct inbox_ring *from; /* [n_workers]: the ring each sender writes to us */
    uv_async_t async;
    struct msg *local_head, *local_tail;       /* messages to ourselves */
    uv_idle_t local;                           /* active while local_head is not empty */
    struct msg **backlog_head, **backlog_tail; /* [n_workers]: ours, waiting for a full ring */
    uv_timer_t retry;
    uint64_t depth; /* metric: messages waiting at the last drain */
};

/* Sets up wk's inbox on wk's loop. Returns 0 or a UV_E* code. */
int inbox_init(struct worker *wk);
/* Closes the handles; frees queued messages once the loop has run their close callbacks. */
void inbox_close(struct worker *wk);
/* Frees every message still queued (after the loops stopped). */
void inbox_drain_free(struct worker *wk);

/* Sends m from `from` (the calling thread's worker) to worker `to`. Returns 0 (m is
 * the receiver's now) or -EAGAIN for a request message when the ring is full (m is
 * still the caller's). */
int inbox_send(struct worker *from, uint16_t to, struct msg *m);

/* The receiver's dispatch, in dispatch.c. */
void worker_handle_msg(struct worker *wk, struct msg *m);

#endif
