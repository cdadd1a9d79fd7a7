/* transport.h - the one small interface between the bench's HTTP code and its sockets.
 *
 * Simulated clients and scrapers only connect, write whole requests, receive bytes and
 * close. Today this is plaintext TCP over libuv; an mTLS transport (clients presenting
 * certificates) replaces the bodies of these five functions, decrypting in on_read before
 * calling cb->on_read, and nothing above changes.
 *
 * A transport_conn is embedded in its owner (a sim client or a scraper) and belongs to the
 * loop thread that connected it. At most one write is in flight; its buffers must stay
 * valid until cb->on_write. Reads land in one buffer per thread and are valid only during
 * cb->on_read. transport_close() is the only way out; cb->on_close runs once, after
 * libuv's close callback, and only then may the conn be reused. */
#ifndef BENCH_TRANSPORT_H
#define BENCH_TRANSPORT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <uv.h>

struct transport_conn;

struct transport_cb {
    void (*on_connect)(struct transport_conn *c, int status); /* 0 or a UV_E* code */
    void (*on_write)(struct transport_conn *c, int status);
    /* n > 0 bytes at data, or n < 0: UV_EOF or a read error (the conn must be closed). */
    void (*on_read)(struct transport_conn *c, const char *data, ssize_t n);
    void (*on_close)(struct transport_conn *c);
};

struct transport_conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    const struct transport_cb *cb;
    void *data; /* the owner's */
    bool open;  /* tcp handle initialised (needs a close) */
    bool closing;
    bool writing;
};

/* Connects from src (NULL: any local address; its port is chosen at connect time so one
 * source address can hold a port per destination) to dst. Returns 0 (the outcome arrives
 * in cb->on_connect) or a negative UV_E* code: then, if c->open is still set, the handle
 * is closing and cb->on_close follows; otherwise nothing was opened. */
int transport_connect(struct transport_conn *c, uv_loop_t *loop, const struct sockaddr_in *src,
                      const struct sockaddr_in *dst, const struct transport_cb *cb, void *data);

/* Writes n buffers. Returns 0 or a UV_E* code (then no on_write comes). */
int transport_write(struct transport_conn *c, const uv_buf_t *bufs, unsigned n);

/* Closes the connection once; later calls do nothing. cb->on_close follows. */
void transport_close(struct transport_conn *c);

static inline bool transport_is_open(const struct transport_conn *c)
{
    return c->open && !c->closing;
}

#endif
