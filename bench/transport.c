/* transport.c - plaintext TCP behind the bench's transport interface (see transport.h).
 * Owner: each conn belongs to the loop thread that connected it; the read buffer is
 * per thread (_Thread_local) because parsing is synchronous inside on_read.
 * Life: transport_connect() .. transport_close() -> cb->on_close. */
#include "transport.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read buffer per thread: every read is parsed before the next one is made. */
#define TRANSPORT_READ_BYTES (64 * 1024)
static _Thread_local char read_buf[TRANSPORT_READ_BYTES];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_tcp_connect(uv_connect_t *req, int status);
static void on_tcp_write(uv_write_t *req, int status);
static void on_handle_closed(uv_handle_t *h);

int transport_connect(struct transport_conn *c, uv_loop_t *loop, const struct sockaddr_in *src,
                      const struct sockaddr_in *dst, const struct transport_cb *cb, void *data)
{
    c->cb = cb;
    c->data = data;
    c->open = false;
    c->closing = false;
    c->writing = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    if (src) {
        /* Without this, bind() picks the port and one source address holds only
         * ~28k connections in total instead of ~28k per destination. */
        int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        if (bind(fd, (const struct sockaddr *)src, sizeof(*src)) != 0) {
            int e = errno;
            close(fd);
            return uv_translate_sys_error(e);
        }
    }
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc) {
        close(fd);
        return rc;
    }
    c->tcp.data = c;
    c->open = true;
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc) {
        close(fd);
        goto fail;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)dst, on_tcp_connect);
    if (rc)
        goto fail;
    return 0;
fail:
    /* The handle exists: it closes now and cb->on_close follows, as the header says. */
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    return rc;
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
    struct transport_conn *c = req->data;
    if (status == 0 && !c->closing)
        status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read);
    if (status == UV_ECANCELED || c->closing)
        return;
    c->cb->on_connect(c, status);
}

int transport_write(struct transport_conn *c, const uv_buf_t *bufs, unsigned n)
{
    if (!transport_is_open(c) || c->writing)
        return UV_EINVAL;
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, n, on_tcp_write);
    if (rc == 0)
        c->writing = true;
    return rc;
}

static void on_tcp_write(uv_write_t *req, int status)
{
    struct transport_conn *c = req->data;
    c->writing = false;
    if (status == UV_ECANCELED || c->closing)
        return;
    if (c->cb->on_write)
        c->cb->on_write(c, status);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = read_buf;
    buf->len = sizeof(read_buf);
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct transport_conn *c = s->data;
    if (n == 0 || c->closing)
        return;
    c->cb->on_read(c, buf->base, n);
}

void transport_close(struct transport_conn *c)
{
    if (!c->open || c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct transport_conn *c = h->data;
    c->open = false;
    c->closing = false;
    c->writing = false;
    if (c->cb && c->cb->on_close)
        c->cb->on_close(c);
}
