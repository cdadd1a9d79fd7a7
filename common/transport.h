/* transport.h - bytes in and out of one TCP connection, plain or inside TLS.
 *
 * The layers above (the proxy's conn.c, the client's httpc.c, the bench's simulated clients
 * and scrapers) read and write plaintext through these calls and callbacks only, and never
 * learn what carries it: transport_plain.c is TCP on libuv, a TLS transport wraps mbedTLS
 * around the same uv_tcp_t behind the same operations (as Redis's ConnectionType, or nginx
 * swapping c->recv and c->send). A transport is embedded in its owner's struct, which gets
 * back to itself with list_entry()-style arithmetic (transport_owner()).
 *
 * Reading: the owner may lend the buffer for the next plaintext (cb->on_alloc, e.g. the
 * free space of a body being read in place); when it does not, the env's one read buffer
 * is lent, and is only valid during cb->on_read.
 *
 * Writing: transport_write() hands bytes to the kernel at once where it can (no request,
 * no epoll change) and queues only the rest; several writes may be queued, and they go out
 * in order. Each queued write ends with one cb->on_written. transport_write() keeps
 * pointing at the owner's bytes until then; transport_write_copy() copies what it cannot
 * send at once, for an owner whose buffer moves (one that grows while it is sent).
 *
 * TLS (transport_tls.c) keeps these contracts for the plaintext, and adds a handshake: an
 * accepted connection's is driven by its first reads, a connecting one's comes before
 * cb->on_connect. env->tls_handshakes counts those in flight, for an owner that bounds
 * them.
 *
 * Owner: a transport and its env belong to one loop thread; nothing here is locked.
 * Life: transport_plain_open()/_connect() or transport_tls_open()/_connect()
 * (transport_tls.h), then transport_close(), the only way out; cb->on_closed runs once after
 * libuv's close callback, and only then is the memory the owner's again. Queued writes and a
 * pending connect are cancelled by the close (their callbacks are not called). */
#ifndef PUSHPROX_TRANSPORT_H
#define PUSHPROX_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "pool.h"

/* Write requests kept for reuse per env; more are freed. */
#define TRANSPORT_WRITE_POOL_MAX 4096
/* Keepalive probes unanswered before a connection is dead (transport_tcp_keepalive()). */
#define TRANSPORT_KEEPALIVE_PROBES 3
/* Most buffers in one transport_write(); the proxy writes a head and a body. */
#define TRANSPORT_WRITE_BUFS_MAX 8

struct transport;

/* A queued write of plain TCP, from the env's pool. */
struct transport_write_req {
    uv_write_t req;
    struct transport *t;
};

/* The owner's side: every transport of one env calls the same table. */
struct transport_cb {
    /* transport_*_connect() only: connected (0), or a UV_E* code; after a failure the
     * transport is closed by the caller. With TLS, 0 comes after the handshake, and a
     * failed handshake's code comes with a text (transport_tls_error()). */
    void (*on_connect)(struct transport *t, int status);
    /* TLS, accepted connections only: the handshake is done and plaintext may follow.
     * Optional. A failed handshake comes to on_read as an error instead. */
    void (*on_handshake)(struct transport *t);
    /* May set *buf to the owner's buffer for the next plaintext; leave it empty to use the
     * env's read buffer. Optional. */
    void (*on_alloc)(struct transport *t, size_t suggested, uv_buf_t *buf);
    /* nread > 0 plaintext bytes at buf->base; or UV_EOF (the peer ended its side); or an
     * error (close). Never 0. */
    void (*on_read)(struct transport *t, ssize_t nread, const uv_buf_t *buf);
    /* A queued write went out (0) or failed. Not called for writes done at once. */
    void (*on_written)(struct transport *t, int status);
    /* The transport is closed and its memory may be reused. */
    void (*on_closed)(struct transport *t);
};

/* What every transport on one loop shares: the loop, the owner's callbacks, one read
 * buffer lent to one read at a time, and a pool of write requests. TLS adds two buffers,
 * allocated with the env's first TLS transport and used only within one call (so no idle
 * connection keeps a buffer of its own): the plaintext of one record for an owner that
 * lends none, and the ciphertext of one operation, written with one system call. */
struct transport_env {
    uv_loop_t *loop;
    const struct transport_cb *cb;
    char *read_buf; /* TLS: ciphertext */
    size_t read_buf_bytes;
    bool read_buf_lent;
    struct pool write_reqs;
    char *tls_plain_buf;
    bool tls_plain_lent;
    char *tls_stage;
    size_t tls_stage_len;
    struct transport *tls_stage_owner; /* whose ciphertext tls_stage holds */
    unsigned tls_handshakes;           /* begun and neither done nor failed nor closed */
};

struct transport_ops {
    const char *name; /* "tcp", "tls": for logs */
    int (*read_start)(struct transport *t);
    void (*read_stop)(struct transport *t);
    int (*write)(struct transport *t, const uv_buf_t *bufs, unsigned n);
    int (*write_copy)(struct transport *t, const uv_buf_t *bufs, unsigned n);
    int (*shutdown)(struct transport *t);
    void (*close)(struct transport *t);
};

struct transport {
    uv_tcp_t tcp; /* first, so libuv's handle pointer is the transport's */
    const struct transport_ops *ops;
    struct transport_env *env;
    void *tls;              /* the TLS transport's state; NULL for plain TCP */
    unsigned writes_queued; /* writes whose cb->on_written is to come */
    bool open;              /* the tcp handle is initialised and not yet closed */
    bool closing;
    bool reading;
};

/* Sets up an env with a read buffer of read_buf_bytes. Returns 0 or UV_ENOMEM. */
int transport_env_init(struct transport_env *env, uv_loop_t *loop, const struct transport_cb *cb,
                       size_t read_buf_bytes);
/* Frees the env's buffers and pooled requests; call once every transport on it closed. */
void transport_env_close(struct transport_env *env);

/* Sets t up as closed on env, with ops (for the transports' own opening functions). */
void transport_setup(struct transport *t, struct transport_env *env,
                     const struct transport_ops *ops);

/* uv_close() of t's TCP handle. Under TSan it first tells TSan the descriptor closes:
 * libuv closes it with a raw syscall TSan does not see, and a number reused by another
 * thread (a connection moved there, a new accept) would then be reported as a race with
 * its old owner. */
void transport_tcp_close(struct transport *t, uv_close_cb cb);

/* A non-blocking TCP socket for dst, bound to src when given (its port chosen at connect
 * time). Returns the fd, or a UV_E* code. */
int transport_socket(const struct sockaddr *src, const struct sockaddr *dst);

/* Takes an accepted, connected socket fd as plain TCP; the transport owns it from then on.
 * Returns 0, or a UV_E* code: the fd is then still the caller's to close, and if t->open
 * is set, the handle is closing and cb->on_closed follows. */
int transport_plain_open(struct transport *t, struct transport_env *env, int fd);

/* Connects to dst over plain TCP, from src when given (its port chosen at connect time).
 * Returns 0 (cb->on_connect follows) or a UV_E* code, with t->open telling, as for open,
 * whether cb->on_closed follows. */
int transport_plain_connect(struct transport *t, struct transport_env *env,
                            const struct sockaddr *src, const struct sockaddr *dst);

/* Starts delivering plaintext to cb->on_read. Returns 0 or a UV_E* code. */
static inline int transport_read_start(struct transport *t)
{
    return t->ops->read_start(t);
}

/* Stops reading (TCP's own buffers hold what comes next: that is the back-pressure). */
static inline void transport_read_stop(struct transport *t)
{
    t->ops->read_stop(t);
}

/* Writes n (at most TRANSPORT_WRITE_BUFS_MAX) buffers, in order after any queued write.
 * Returns 1 when every byte went out at once (the buffers are free again, no callback
 * follows), 0 when some were queued (the buffers must stay valid until cb->on_written), or
 * a UV_E* code (nothing queued; the caller closes). */
static inline int transport_write(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    return t->ops->write(t, bufs, n);
}

/* As transport_write(), but what cannot go out at once is copied: the buffers are the
 * caller's again on return either way. 0 still means cb->on_written follows. */
static inline int transport_write_copy(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    return t->ops->write_copy(t, bufs, n);
}

/* No more writes: the peer reads an orderly end (FIN; with TLS, close_notify first) once the
 * queued writes are out. Reading goes on. Returns 0 or a UV_E* code. */
static inline int transport_shutdown(struct transport *t)
{
    return t->ops->shutdown(t);
}

/* Closes once; later calls do nothing. cb->on_closed follows. */
static inline void transport_close(struct transport *t)
{
    if (t->open && !t->closing)
        t->ops->close(t);
}

static inline bool transport_is_open(const struct transport *t)
{
    return t->open && !t->closing;
}

/* The peer's address. Returns 0 or a UV_E* code. */
int transport_peer_addr(const struct transport *t, struct sockaddr_storage *addr);

/* TCP keepalive probes after the connection has been idle idle_ms (rounded up to whole
 * seconds), then TRANSPORT_KEEPALIVE_PROBES more, idle/TRANSPORT_KEEPALIVE_PROBES apart (at
 * least 1 s): a peer that went silent (a NAT mapping dropped, a host gone, no RST, no FIN)
 * is found and the connection fails idle + 3 x max(1 s, idle/3) after the last packet came
 * (2 x idle from 3 s up, idle + 3 s below). TCP_USER_TIMEOUT is set to the same total
 * (the kernel then ends the connection at the first probe past it), so data written into such a connection (a scrape handed to a dead poll) fails
 * it as soon, instead of after the kernel's ~15 minutes of retransmissions; so does a peer
 * that keeps its receive window shut (takes no data) that long. 0 = off.
 * Returns 0 or a UV_E* code. */
int transport_tcp_keepalive(struct transport *t, uint64_t idle_ms);

/* The struct that embeds the transport as `member`. */
#define transport_owner(t, type, member) ((type *)((char *)(t)-offsetof(type, member)))

#endif
