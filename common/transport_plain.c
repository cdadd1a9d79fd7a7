/* transport_plain.c - plain TCP behind the transport interface (see transport.h).
 * Owner: each transport belongs to the loop thread of its env; so do the env's read buffer
 * and write-request pool.
 * Life: transport_plain_open() or _connect() .. transport_close() -> cb->on_closed. */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A queued write whose bytes were copied (transport_write_copy()). */
struct copy_req {
    uv_write_t req;
    struct transport *t;
    char data[];
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_written(uv_write_t *req, int status);
static void on_copy_written(uv_write_t *req, int status);
static void on_connect(uv_connect_t *req, int status);
static void on_shutdown(uv_shutdown_t *req, int status);
static void on_closed(uv_handle_t *handle);

static int plain_read_start(struct transport *t);
static void plain_read_stop(struct transport *t);
static int plain_write(struct transport *t, const uv_buf_t *bufs, unsigned n);
static int plain_write_copy(struct transport *t, const uv_buf_t *bufs, unsigned n);
static int plain_shutdown(struct transport *t);
static void plain_close(struct transport *t);

static const struct transport_ops plain_ops = {
    .name = "tcp",
    .read_start = plain_read_start,
    .read_stop = plain_read_stop,
    .write = plain_write,
    .write_copy = plain_write_copy,
    .shutdown = plain_shutdown,
    .close = plain_close,
};

int transport_plain_open(struct transport *t, struct transport_env *env, int fd)
{
    int rc;

    transport_setup(t, env, &plain_ops);
    if ((rc = uv_tcp_init(env->loop, &t->tcp)) != 0)
        return rc;
    t->tcp.data = t;
    if ((rc = uv_tcp_open(&t->tcp, fd)) != 0) {
        /* The handle does not own the fd yet: close only the handle. */
        t->open = true;
        plain_close(t);
        return rc;
    }
    t->open = true;
    return 0;
}

int transport_plain_connect(struct transport *t, struct transport_env *env,
                            const struct sockaddr *src, const struct sockaddr *dst)
{
    uv_connect_t *req;
    int fd, rc;

    transport_setup(t, env, &plain_ops);
    if ((fd = transport_socket(src, dst)) < 0)
        return fd;
    if ((rc = uv_tcp_init(env->loop, &t->tcp)) != 0) {
        close(fd);
        return rc;
    }
    t->open = true;
    t->tcp.data = t;
    if ((rc = uv_tcp_open(&t->tcp, fd)) != 0) {
        close(fd);
        goto fail;
    }
    if (!(req = malloc(sizeof(*req)))) {
        rc = UV_ENOMEM;
        goto fail;
    }
    req->data = t;
    if ((rc = uv_tcp_connect(req, &t->tcp, dst, on_connect)) != 0) {
        free(req);
        goto fail;
    }
    return 0;
fail:
    plain_close(t); /* the handle exists: cb->on_closed follows, as the header says */
    return rc;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct transport *t = req->data;

    free(req);
    if (status == UV_ECANCELED || t->closing)
        return;
    t->env->cb->on_connect(t, status);
}

/* --- reading --- */

static int plain_read_start(struct transport *t)
{
    int rc;

    if (t->reading)
        return 0;
    if ((rc = uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read)) == 0)
        t->reading = true;
    return rc;
}

static void plain_read_stop(struct transport *t)
{
    if (t->reading) {
        uv_read_stop((uv_stream_t *)&t->tcp);
        t->reading = false;
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct transport *t = handle->data;
    struct transport_env *env = t->env;

    *buf = uv_buf_init(NULL, 0);
    if (env->cb->on_alloc)
        env->cb->on_alloc(t, suggested, buf);
    if (buf->len > 0)
        return;
    if (env->read_buf_lent) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS; alloc and read pair up */
        return;
    }
    env->read_buf_lent = true;
    *buf = uv_buf_init(env->read_buf, (unsigned)env->read_buf_bytes);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct transport *t = stream->data;

    if (buf->base == t->env->read_buf)
        t->env->read_buf_lent = false;
    if (nread == 0 || t->closing)
        return;
    t->env->cb->on_read(t, nread, buf);
}

/* --- writing --- */

/* Hands what the socket takes at once to the kernel and describes the rest in rest[] (*k
 * buffers). Returns 0 or a UV_E* code. */
static int try_write(struct transport *t, const uv_buf_t *bufs, unsigned n, uv_buf_t *rest,
                     unsigned *k)
{
    size_t done;
    int rc;

    *k = 0;
    if (n > TRANSPORT_WRITE_BUFS_MAX)
        return UV_EINVAL;
    rc = uv_try_write((uv_stream_t *)&t->tcp, bufs, n);
    if (rc < 0 && rc != UV_EAGAIN)
        return rc;
    done = rc > 0 ? (size_t)rc : 0;
    for (unsigned i = 0; i < n; i++) {
        if (done >= bufs[i].len) {
            done -= bufs[i].len;
            continue;
        }
        rest[(*k)++] = uv_buf_init(bufs[i].base + done, (unsigned)(bufs[i].len - done));
        done = 0;
    }
    return 0;
}

static int plain_write(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    uv_buf_t rest[TRANSPORT_WRITE_BUFS_MAX];
    struct transport_write_req *w;
    unsigned k;
    int rc;

    if ((rc = try_write(t, bufs, n, rest, &k)) != 0)
        return rc;
    if (k == 0)
        return 1;
    if (!(w = pool_get(&t->env->write_reqs)))
        return UV_ENOMEM;
    w->t = t;
    if ((rc = uv_write(&w->req, (uv_stream_t *)&t->tcp, rest, k, on_written)) != 0) {
        pool_put(&t->env->write_reqs, w);
        return rc;
    }
    t->writes_queued++;
    return 0;
}

static int plain_write_copy(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    uv_buf_t rest[TRANSPORT_WRITE_BUFS_MAX], b;
    struct copy_req *w;
    size_t len = 0;
    unsigned k;
    int rc;

    if ((rc = try_write(t, bufs, n, rest, &k)) != 0)
        return rc;
    if (k == 0)
        return 1;
    for (unsigned i = 0; i < k; i++)
        len += rest[i].len;
    if (!(w = malloc(sizeof(*w) + len)))
        return UV_ENOMEM;
    w->t = t;
    len = 0;
    for (unsigned i = 0; i < k; i++) {
        memcpy(w->data + len, rest[i].base, rest[i].len);
        len += rest[i].len;
    }
    b = uv_buf_init(w->data, (unsigned)len);
    if ((rc = uv_write(&w->req, (uv_stream_t *)&t->tcp, &b, 1, on_copy_written)) != 0) {
        free(w);
        return rc;
    }
    t->writes_queued++;
    return 0;
}

static void on_written(uv_write_t *req, int status)
{
    struct transport_write_req *w = (struct transport_write_req *)req;
    struct transport *t = w->t;

    pool_put(&t->env->write_reqs, w);
    t->writes_queued--;
    if (status == UV_ECANCELED || t->closing)
        return;
    t->env->cb->on_written(t, status);
}

static void on_copy_written(uv_write_t *req, int status)
{
    struct copy_req *w = (struct copy_req *)req;
    struct transport *t = w->t;

    free(w);
    t->writes_queued--;
    if (status == UV_ECANCELED || t->closing)
        return;
    t->env->cb->on_written(t, status);
}

static int plain_shutdown(struct transport *t)
{
    uv_shutdown_t *req = malloc(sizeof(*req));
    int rc;

    if (!req)
        return UV_ENOMEM;
    if ((rc = uv_shutdown(req, (uv_stream_t *)&t->tcp, on_shutdown)) != 0)
        free(req);
    return rc;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    free(req); /* the owner learns the end from the peer's EOF, or closes */
}

/* --- closing --- */

static void plain_close(struct transport *t)
{
    t->closing = true;
    t->reading = false;
    transport_tcp_close(t, on_closed);
}

static void on_closed(uv_handle_t *handle)
{
    struct transport *t = handle->data;
    struct transport_env *env = t->env;

    t->open = false;
    t->closing = false;
    env->cb->on_closed(t);
}
