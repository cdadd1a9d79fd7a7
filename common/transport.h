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
 * in order. Each queued write ends with one cb->on_written.
 *
 * Owner: a transport and its env belong to one loop thread; nothing here is locked.
 * Life: transport_plain_open() or _connect(), then transport_close(), the only way
 * out; cb->on_closed runs once after libuv's close callback, and only then is the memory
 * the owner's again. Queued writes and a pending connect are cancelled by the close (their
 * callbacks are not called). */
#ifndef PUSHPROX_TRANSPORT_H
#define PUSHPROX_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "pool.h"

/* Write requests kept for reuse per env; more are freed. */
#define TRANSPORT_WRITE_POOL_MAX 4096

struct transport;

/* The owner's side: every transport of one env calls the same table. */
struct transport_cb {
    /* transport_connect() only: connected (0), or a UV_E* code; after a failure the
     * transport is closed by the caller. */
    void (*on_connect)(struct transport *t, int status);
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
 * buffer lent to one read at a time, and a pool of write requests. */
struct transport_env {
    uv_loop_t *loop;
    const struct transport_cb *cb;
    char *read_buf;
    size_t read_buf_bytes;
    bool read_buf_lent;
    struct pool write_reqs;
};

struct transport_ops {
    const char *name; /* "tcp", "tls": for logs */
    int (*read_start)(struct transport *t);
    void (*read_stop)(struct transport *t);
    int (*write)(struct transport *t, const uv_buf_t *bufs, unsigned n);
    int (*shutdown)(struct transport *t);
    void (*close)(struct transport *t);
};

struct transport {
    uv_tcp_t tcp; /* first, so libuv's handle pointer is the transport's */
    const struct transport_ops *ops;
    struct transport_env *env;
    void *tls; /* the TLS transport's session; NULL for plain TCP */
    unsigned writes_queued;
    bool open; /* the tcp handle is initialised and not yet closed */
    bool closing;
    bool reading;
};

/* Sets up an env with a read buffer of read_buf_bytes. Returns 0 or UV_ENOMEM. */
int transport_env_init(struct transport_env *env, uv_loop_t *loop, const struct transport_cb *cb,
                       size_t read_buf_bytes);
/* Frees the env's buffer and pooled requests; call once every transport on it closed. */
void transport_env_close(struct transport_env *env);

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

/* Writes n buffers, in order after any queued write. Returns 1 when every byte went out at
 * once (the buffers are free again, no callback follows), 0 when some were queued (the
 * buffers must stay valid until cb->on_written), or a UV_E* code (nothing queued; the
 * caller closes). */
static inline int transport_write(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    return t->ops->write(t, bufs, n);
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

/* The struct that embeds the transport as `member`. */
#define transport_owner(t, type, member) ((type *)((char *)(t)-offsetof(type, member)))

#endif
