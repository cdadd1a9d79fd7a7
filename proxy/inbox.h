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
 * A message to oneself goes through a local list, drained in the loop's check phase, after
 * the I/O callbacks of the turn in which it was sent (no syscall, unlike an async
 * wake-up; and no extra turn of the loop, which would cost an epoll_wait), so a handler
 * never re-enters another. A uv_idle handle runs while the list is not empty, so a message
 * sent before the poll phase (from a timer) keeps the loop from blocking until then.
 *
 * The inbox does not know who reads it: the receiver (a function and its context) is
 * given to inbox_init(), as h2o's multithread queues take theirs at registration.
 *
 * Owner: each worker's rings are written by exactly one sender thread each and read by the
 * worker itself; its backlog and local list are its own. The group's `members` array is
 * filled before any thread starts and only read afterwards; `stopping` is the one flag
 * every thread reads (atomically). */
#ifndef PROXY_INBOX_H
#define PROXY_INBOX_H

#include <ck_ring.h>
#include <uv.h>

#include "counters.h"
#include "list.h"
#include "msg.h"

/* Slots in each sender->receiver ring (a power of two). 4096 pointers = 32 KiB per pair;
 * at 1 µs per message that is 4 ms of another worker's full-speed traffic. */
#define INBOX_RING_SIZE 4096
/* Messages handled per wake-up before yielding to I/O; the rest wait for the next turn. */
#define INBOX_BATCH 1024
/* How soon a backlog is retried, in ms. */
#define INBOX_RETRY_MS 1

struct inbox;

/* Handles one received message on the receiver's loop; the message is the receiver's. */
typedef void (*inbox_receive_cb)(void *ctx, struct msg *m);

/* The inboxes of every worker. */
struct inbox_group {
    uint16_t n;
    struct inbox **members; /* [n], filled by inbox_init() */
    int stopping;           /* set once by inbox_group_stop() */
};

struct inbox_ring {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
};

struct inbox {
    struct inbox_group *group;
    uint16_t id;
    inbox_receive_cb receive;
    void *receive_ctx;
    struct counters *counters;
    struct inbox_ring *from; /* [n]: the ring each sender writes to us */
    uv_async_t async;
    struct list local; /* messages to ourselves */
    uv_idle_t local_idle;
    uv_check_t local_check;
    struct list *backlog; /* [n]: ours, waiting for a full ring */
    uv_timer_t retry;
};

/* Sets up a group of n inboxes. Returns 0 or UV_ENOMEM. */
int inbox_group_init(struct inbox_group *g, uint16_t n);
void inbox_group_close(struct inbox_group *g);
/* From now on, sends are dropped (freed) instead of delivered: the loops are ending and
 * nobody will answer. Any thread. */
void inbox_group_stop(struct inbox_group *g);

/* Sets up member `id` of the group on loop; messages for it go to receive(ctx, m); sends
 * that hit limits count into counters. Call for every member before any loop runs.
 * Returns 0 or a UV_E* code; inbox_close_handles() and inbox_close() undo it either way. */
int inbox_init(struct inbox *in, struct inbox_group *g, uint16_t id, uv_loop_t *loop,
               inbox_receive_cb receive, void *ctx, struct counters *counters);
/* Closes the handles, on the inbox's loop. */
void inbox_close_handles(struct inbox *in);
/* Frees every message still queued and the rings (after every loop stopped). */
void inbox_close(struct inbox *in);

/* Sends m from inbox `from` (the calling thread's own) to member `to`. Returns 0 (m is the
 * receiver's now) or -EAGAIN for a request message when the ring is full (m is still the
 * caller's). */
int inbox_send(struct inbox *from, uint16_t to, struct msg *m);

#endif
