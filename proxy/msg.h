/* msg.h - the messages workers send each other.
 *
 * Workers share no objects; a message names another worker's object by a struct ref
 * (ref.h). A message is malloc'd by its sender; on a successful send its ownership
 * (and that of any buffer it carries) passes to the receiver, which frees it.
 *
 * Who sends what, on a scrape's way (S = worker with Prometheus's connection, O = owner
 * of the FQDN's shard, W = worker with the client's poll, X = worker with the push):
 *
 *   W -> O  POLL_WAIT      a poll waits for work under fqdn; flagged when it is the first
 *                          poll for fqdn on its connection (O counts that connection)
 *   W -> O  CONN_MOVE      a plain connection's first poll, for an FQDN O owns: the
 *                          connection itself (its socket, what was read past the poll) moves
 *                          to O, where it waits as a POLL_WAIT would (--poll.move-to-owner);
 *   X -> O  CONN_MOVE      the same for a connection that pushed and never polled, once its
 *                          push is answered: it moves idle (an upstream-like client's second
 *                          connection, which only pushes)
 *   W -> O  POLL_GONE      that poll ended without work (closed, held too long)
 *   O -> W  POLL_EVICT     too many polls wait for this fqdn: answer this one 408
 *   O -> W  POLL_REFUSE    the shard is full: answer this poll 503
 *   S -> O  SCRAPE_MOVE    a plain connection's scrape, for an FQDN O owns: the connection
 *                          moves to O with its request (head, what was read past it), and O
 *                          serves the scrape as its own S (--scrape.move-to-owner): the push
 *                          that answers it then needs no PUSH/PUSH_RESULT between threads
 *   O -> S  SCRAPE_MOVE    (back) O could not take it (its table full): S serves it after all
 *                          (and S serves it at once when O's ring is full: a move admits work,
 *                          so it is refused as SCRAPE is, never backlogged)
 *   S -> O  SCRAPE         route this scrape (job) to a poll of fqdn
 *   O -> S  SCRAPE_FAIL    it cannot wait (queue full): answer 503; or every connection
 *                          that polled for fqdn closed after it was delivered and none
 *                          came back within --scrape.client-gone-grace: answer 502
 *   S -> O  SCRAPE_CANCEL  Prometheus went away: drop the job if still queued
 *   O -> W  DELIVER        write job to this poll
 *   W -> O  REDELIVER      the poll was gone: route job again
 *   X -> S  PUSH           the answer to scrape ref, ready to relay
 *   S -> X  PUSH_RESULT    whether it was taken; X answers the client. Not sent when X is
 *                          the FQDN's owner and found the scrape among those it delivered
 *                          (push.c): X answered the client already (`answered`)
 *   S -> O  SCRAPE_ERROR   that scrape failed (timed out, or the client pushed a 5xx):
 *                          counted for the client's detail in /clients
 *   W -> O  CONN_GONE      a connection counted by a POLL_WAIT's flag closed (flagged when
 *                          its poll was waiting), or went on to poll for another FQDN or to
 *                          scrape: one fewer for fqdn
 *   S -> *  CLIENTS_REQ    list your shard's live FQDNs for /clients
 *   * -> S  CLIENTS_REPLY  the list, as JSON array elements
 *
 * POLL_WAIT may carry what the client announces about itself (its labels and exporters,
 * see announce.h) after the FQDN, in the same allocation: msg_meta().
 */
#ifndef PROXY_MSG_H
#define PROXY_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "ref.h"

struct http_head;

enum msg_type {
    MSG_POLL_WAIT,
    MSG_POLL_GONE,
    MSG_POLL_EVICT,
    MSG_POLL_REFUSE,
    MSG_SCRAPE,
    MSG_SCRAPE_FAIL,
    MSG_DELIVER,
    MSG_REDELIVER,
    MSG_PUSH,
    MSG_PUSH_RESULT,
    MSG_CLIENTS_REQ,
    MSG_CLIENTS_REPLY,
    MSG_SCRAPE_CANCEL,
    MSG_SCRAPE_ERROR,
    MSG_CONN_GONE,
    MSG_CONN_MOVE,
    MSG_SCRAPE_MOVE,
    MSG_TYPE_COUNT
};

/* A scrape on its way to a poll. */
struct scrape_job {
    struct ref scrape;    /* the slot on S that waits for the answer */
    uint64_t token;       /* the random part of its Id */
    uint64_t deadline_ms; /* uv_now() ms: every loop reads the same monotonic clock */
    char *req;            /* the request in proxy form, the poll's response body; owned */
    size_t req_len;
};

/* A connection on its way to another worker (conn_detach(), conn_adopt()): what the new
 * owner needs to go on serving it as if it had accepted it. */
struct conn_move {
    int fd;    /* owned; -1 once taken */
    bool idle; /* between requests (a push connection); else its request waits */
    bool back; /* SCRAPE_MOVE: the owner could not take it; its first worker serves it */
    uint8_t listener;
    uint8_t route;           /* of the request it serves (the poll, the scrape) */
    struct http_head *head;  /* that request's head; owned, NULL when idle */
    bool trusted;
    bool keep_alive;
    uint64_t req_start_ns;
    char *pending; /* bytes read past the request; owned, may be NULL */
    size_t pending_len;
};

struct msg {
    struct list link; /* for whoever holds it in a list: a backlog, O's queue */
    enum msg_type type;
    uint16_t from;
    struct ref ref; /* POLL_*: the poll; DELIVER: the poll; PUSH, SCRAPE_CANCEL: the scrape;
                     * PUSH_RESULT, CLIENTS_*: the connection to answer */
    union {
        struct scrape_job job; /* SCRAPE, DELIVER, REDELIVER */
        struct {
            struct ref reply; /* the pushing connection, on the sender */
            bool answered;    /* the sender answered the client already: no PUSH_RESULT */
            uint64_t token;   /* the Id's random part */
            int status;       /* the pushed response's status, for metrics */
            char *head;       /* the response head to send Prometheus; owned */
            size_t head_len;
            char *body_base;   /* the whole push body; owned */
            uint64_t reserved; /* its bytes in the budget (budget.h), given back with it */
            const char *body;  /* the inner response's body, inside body_base */
            size_t body_len;
        } push;
        struct {
            bool new_conn; /* POLL_WAIT: the first poll for fqdn on its connection */
            bool waiting;  /* CONN_GONE: it closed while its poll waited */
        } poll;
        struct {
            int status;         /* PUSH_RESULT: 200 taken, else refused; SCRAPE_FAIL: 503, 502 */
            const char *reason; /* static text */
            bool client_gone;   /* SCRAPE_FAIL: the client's connections closed (counted) */
            uint16_t owner;     /* PUSH_RESULT 200: the worker owning the scrape's FQDN */
        } result;
        struct conn_move move; /* CONN_MOVE, SCRAPE_MOVE */
        struct {
            char *json; /* CLIENTS_REPLY: malloc'd, may be NULL when empty */
            size_t len;
            int view; /* CLIENTS_REQ: enum registry_view */
        } clients;
    } u;
    uint16_t fqdn_len;
    uint16_t meta_len;
    char fqdn[]; /* POLL_*, SCRAPE*, REDELIVER, CONN_*: NUL-terminated; then meta_len bytes of
                    meta */
};

/* Allocates a message with room for fqdn (may be NULL). Returns NULL on ENOMEM. */
struct msg *msg_new(enum msg_type type, const char *fqdn, size_t fqdn_len);
/* The same, with meta_len bytes of meta after the FQDN. */
struct msg *msg_new_meta(enum msg_type type, const char *fqdn, size_t fqdn_len, const char *meta,
                         size_t meta_len);

/* The meta a message carries (meta_len bytes). */
static inline const char *msg_meta(const struct msg *m)
{
    return m->fqdn + m->fqdn_len + 1;
}
/* Frees a message and whatever buffers it owns. Accepts NULL. */
void msg_free(struct msg *m);
const char *msg_type_name(enum msg_type type);

#endif
