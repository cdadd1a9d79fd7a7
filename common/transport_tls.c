/* transport_tls.c - TLS behind the transport interface (see transport_tls.h).
 *
 * Owner: each transport and its struct tls_conn belong to the loop thread of its env; so do
 * the env's buffers. Life: transport_tls_open()/_connect() allocate the tls_conn;
 * transport_close() closes the tcp handle (and the resume handle, if one was made); the
 * tls_conn is freed once both have called back, just before cb->on_closed.
 *
 * Data paths, for one connection:
 *   socket -> env->read_buf -> (BIO recv) mbedTLS in_buf -> owner's buffer or env plain buf
 *   owner's plaintext -> mbedTLS out_buf -> (BIO send) env->tls_stage -> uv_try_write
 *                                                      \-> rest copied into a chunk, uv_write
 * Nothing but mbedTLS's two record buffers and its session stays with an idle connection:
 * held input and chunks exist only while the owner paused or the socket is full. */
#include "transport_tls.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "list.h"

/* What Go's server writes to a plaintext HTTP request on its TLS port. */
#define TLS_HTTP_REFUSAL                                                                           \
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

/* A write the owner queued: its buffers (or, for write_copy, the copied rest) and how far
 * encryption got. */
struct tls_write {
    struct list link;
    uv_buf_t bufs[TRANSPORT_WRITE_BUFS_MAX];
    unsigned n, i;    /* buffers; the one being encrypted */
    size_t off;       /* bytes of bufs[i] encrypted */
    uint64_t seq_end; /* done once this many chunks are written */
    bool encrypted;
    char *copy; /* owned bytes, for transport_write_copy() */
};

/* Ciphertext the socket did not take at once. */
struct chunk {
    uv_write_t req;
    struct tls_conn *c;
    size_t len;
    char data[];
};

struct tls_conn {
    struct tls_sess sess;
    struct transport *t;
    /* input: the read being processed (in env->read_buf), and what was held back */
    const char *in;
    size_t in_len, in_off;
    char *held;
    size_t held_len, held_off;
    uv_idle_t *resume; /* made on first need: delivers held input on the next loop turn */
    int end;           /* EOF or error from the socket, delivered after what precedes it */
    /* output */
    struct list writes; /* struct tls_write, oldest first */
    size_t queued_bytes;
    uint64_t chunks_queued, chunks_done;
    int write_err;
    int closes_pending;
    bool client;
    bool connected;
    bool counted; /* in env->tls_handshakes */
    bool owner_reading;
    bool uv_reading;
    bool read_ended; /* the owner got EOF or an error; nothing more is read */
    bool first_seen;
    bool shutdown_wanted;
    bool shutdown_done;
};

static void on_tcp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_tcp_connect(uv_connect_t *req, int status);
static void on_chunk_written(uv_write_t *req, int status);
static void on_shutdown(uv_shutdown_t *req, int status);
static void on_resume(uv_idle_t *idle);
static void on_handle_closed(uv_handle_t *handle);
static int bio_send(void *ctx, const unsigned char *data, size_t len);
static int bio_recv(void *ctx, unsigned char *data, size_t len);

static int tls_read_start(struct transport *t);
static void tls_read_stop(struct transport *t);
static int tls_write(struct transport *t, const uv_buf_t *bufs, unsigned n);
static int tls_write_copy(struct transport *t, const uv_buf_t *bufs, unsigned n);
static int tls_shutdown(struct transport *t);
static void tls_close(struct transport *t);

static void pump(struct tls_conn *c);
static void progress(struct tls_conn *c);
static int sync_reading(struct tls_conn *c);
static void handshake_failed(struct tls_conn *c, int code);

static const struct transport_ops tls_ops = {
    .name = "tls",
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .write = tls_write,
    .write_copy = tls_write_copy,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

static struct tls_conn *conn_of(const struct transport *t)
{
    return t->ops == &tls_ops ? t->tls : NULL;
}

/* --- setting up --- */

static int conn_new(struct transport *t, struct transport_env *env, struct tls_conf *conf,
                    const char *host, int port)
{
    struct tls_conn *c;
    int rc;

    transport_setup(t, env, &tls_ops);
    if (!env->tls_plain_buf && !(env->tls_plain_buf = malloc(TRANSPORT_TLS_PLAIN_BYTES)))
        return UV_ENOMEM;
    if (!env->tls_stage && !(env->tls_stage = malloc(TRANSPORT_TLS_STAGE_BYTES)))
        return UV_ENOMEM;
    if (!(c = calloc(1, sizeof(*c))))
        return UV_ENOMEM;
    c->t = t;
    c->client = host != NULL;
    list_init(&c->writes);
    if ((rc = tls_sess_init(&c->sess, conf, host, port)) != 0) {
        tls_sess_close(&c->sess);
        free(c);
        return rc;
    }
    mbedtls_ssl_set_bio(&c->sess.ssl, c, bio_send, bio_recv, NULL);
    t->tls = c;
    c->counted = true;
    env->tls_handshakes++;
    return 0;
}

static void conn_free(struct tls_conn *c)
{
    struct list *l;

    while ((l = list_pop_front(&c->writes))) {
        struct tls_write *w = list_entry(l, struct tls_write, link);
        free(w->copy);
        free(w);
    }
    if (c->counted)
        c->t->env->tls_handshakes--;
    free(c->held);
    tls_sess_close(&c->sess);
    c->t->tls = NULL;
    free(c);
}

int transport_tls_open(struct transport *t, struct transport_env *env, int fd,
                       struct tls_conf *conf)
{
    int rc;

    if ((rc = conn_new(t, env, conf, NULL, 0)) != 0)
        return rc;
    if ((rc = uv_tcp_init(env->loop, &t->tcp)) != 0) {
        conn_free(t->tls);
        return rc;
    }
    t->tcp.data = t;
    t->open = true;
    if ((rc = uv_tcp_open(&t->tcp, fd)) != 0) {
        tls_close(t); /* the handle does not own the fd yet: close only the handle */
        return rc;
    }
    ((struct tls_conn *)t->tls)->connected = true;
    return 0;
}

int transport_tls_connect(struct transport *t, struct transport_env *env,
                          const struct sockaddr *src, const struct sockaddr *dst,
                          struct tls_conf *conf, const char *hostname)
{
    uv_connect_t *req;
    int port = ntohs(dst->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)dst)->sin6_port
                                                : ((const struct sockaddr_in *)dst)->sin_port);
    int fd, rc;

    if ((rc = conn_new(t, env, conf, hostname ? hostname : "", port)) != 0)
        return rc;
    if ((fd = transport_socket(src, dst)) < 0) {
        conn_free(t->tls);
        return fd;
    }
    if ((rc = uv_tcp_init(env->loop, &t->tcp)) != 0) {
        close(fd);
        conn_free(t->tls);
        return rc;
    }
    t->tcp.data = t;
    t->open = true;
    if ((rc = uv_tcp_open(&t->tcp, fd)) != 0) {
        close(fd);
        goto fail;
    }
    if (!(req = malloc(sizeof(*req)))) {
        rc = UV_ENOMEM;
        goto fail;
    }
    req->data = t;
    if ((rc = uv_tcp_connect(req, &t->tcp, dst, on_tcp_connect)) != 0) {
        free(req);
        goto fail;
    }
    return 0;
fail:
    tls_close(t); /* the handle exists: cb->on_closed follows */
    return rc;
}

int transport_tls_upgrade(struct transport *t, struct tls_conf *conf, const char *hostname,
                          int port)
{
    struct transport_env *env = t->env;
    int rc;

    if (t->tls || !t->open || t->closing || t->writes_queued)
        return UV_EINVAL;
    uv_read_stop((uv_stream_t *)&t->tcp);
    if ((rc = conn_new(t, env, conf, hostname ? hostname : "", port)) != 0) {
        /* t is plain no more and not TLS yet: close it; cb->on_closed follows. */
        t->ops = &tls_ops;
        t->open = true;
        t->closing = true;
        transport_tcp_close(t, on_handle_closed);
        return rc;
    }
    t->open = true;
    ((struct tls_conn *)t->tls)->connected = true;
    if ((rc = sync_reading(t->tls)) != 0) {
        handshake_failed(t->tls, rc);
        return 0;
    }
    pump(t->tls); /* the ClientHello */
    return 0;
}

/* --- the env's staging buffer and the socket --- */

/* Hands ciphertext to the kernel: at once where it can (nothing queued before it), the rest
 * copied into a chunk. While closing, only what goes at once. */
static void send_direct(struct tls_conn *c, const char *data, size_t len)
{
    struct transport *t = c->t;
    struct chunk *ch;
    uv_buf_t b;
    int rc;

    if (len == 0 || c->write_err)
        return;
    if (c->chunks_queued == c->chunks_done) {
        b = uv_buf_init((char *)data, (unsigned)len);
        rc = uv_try_write((uv_stream_t *)&t->tcp, &b, 1);
        if (rc > 0) {
            data += rc;
            len -= (size_t)rc;
        } else if (rc != UV_EAGAIN) {
            c->write_err = rc;
            return;
        }
    }
    if (len == 0 || t->closing)
        return;
    if (!(ch = malloc(sizeof(*ch) + len))) {
        c->write_err = UV_ENOMEM;
        return;
    }
    ch->c = c;
    ch->len = len;
    memcpy(ch->data, data, len);
    b = uv_buf_init(ch->data, (unsigned)len);
    if ((rc = uv_write(&ch->req, (uv_stream_t *)&t->tcp, &b, 1, on_chunk_written)) != 0) {
        free(ch);
        c->write_err = rc;
        return;
    }
    c->chunks_queued++;
    c->queued_bytes += len;
}

/* Writes out what the staging buffer holds, for whichever connection it holds it. */
static void stage_flush(struct transport_env *env)
{
    struct transport *owner = env->tls_stage_owner;
    size_t len = env->tls_stage_len;

    env->tls_stage_owner = NULL;
    env->tls_stage_len = 0;
    if (owner && owner->tls)
        send_direct(owner->tls, env->tls_stage, len);
}

static void stage_flush_own(struct tls_conn *c)
{
    if (c->t->env->tls_stage_owner == c->t)
        stage_flush(c->t->env);
}

/* mbedTLS's output: one record (or alert) at a time. Always taken whole, so mbedTLS never
 * keeps a record half-sent in its out_buf. */
static int bio_send(void *ctx, const unsigned char *data, size_t len)
{
    struct tls_conn *c = ctx;
    struct transport_env *env = c->t->env;

    if (env->tls_stage_owner && env->tls_stage_owner != c->t)
        stage_flush(env); /* another connection's, written from inside an owner callback */
    if (env->tls_stage_len + len > TRANSPORT_TLS_STAGE_BYTES)
        stage_flush(env);
    if (len > TRANSPORT_TLS_STAGE_BYTES) {
        send_direct(c, (const char *)data, len);
        return (int)len;
    }
    memcpy(env->tls_stage + env->tls_stage_len, data, len);
    env->tls_stage_len += len;
    env->tls_stage_owner = c->t;
    return (int)len;
}

/* mbedTLS's input: what was held back first, then the read being processed. */
static int bio_recv(void *ctx, unsigned char *data, size_t len)
{
    struct tls_conn *c = ctx;
    size_t n;

    if (c->held_off < c->held_len) {
        n = c->held_len - c->held_off < len ? c->held_len - c->held_off : len;
        memcpy(data, c->held + c->held_off, n);
        c->held_off += n;
        if (c->held_off == c->held_len) {
            free(c->held);
            c->held = NULL;
            c->held_len = c->held_off = 0;
        }
        return (int)n;
    }
    if (c->in && c->in_off < c->in_len) {
        n = c->in_len - c->in_off < len ? c->in_len - c->in_off : len;
        memcpy(data, c->in + c->in_off, n);
        c->in_off += n;
        return (int)n;
    }
    return MBEDTLS_ERR_SSL_WANT_READ;
}

static bool input_left(const struct tls_conn *c)
{
    return c->held_off < c->held_len || (c->in && c->in_off < c->in_len);
}

/* Keeps the part of the current read mbedTLS has not taken (the owner paused). */
static int hold_rest(struct tls_conn *c)
{
    size_t rest, kept;
    char *p;

    if (!c->in || c->in_off >= c->in_len)
        return 0;
    rest = c->in_len - c->in_off;
    kept = c->held_len - c->held_off;
    if (!(p = malloc(kept + rest)))
        return UV_ENOMEM;
    if (kept)
        memcpy(p, c->held + c->held_off, kept);
    memcpy(p + kept, c->in + c->in_off, rest);
    free(c->held);
    c->held = p;
    c->held_off = 0;
    c->held_len = kept + rest;
    c->in_off = c->in_len;
    return 0;
}

/* --- reading --- */

static int sync_reading(struct tls_conn *c)
{
    struct transport *t = c->t;
    bool want = !t->closing && c->connected && !c->read_ended && !c->end &&
                (c->owner_reading || (c->client && !c->sess.handshake_done));
    int rc;

    if (want && !c->uv_reading) {
        if ((rc = uv_read_start((uv_stream_t *)&t->tcp, on_tcp_alloc, on_tcp_read)) != 0)
            return rc;
        c->uv_reading = true;
    } else if (!want && c->uv_reading) {
        uv_read_stop((uv_stream_t *)&t->tcp);
        c->uv_reading = false;
    }
    return 0;
}

static void end_reading(struct tls_conn *c, int code)
{
    uv_buf_t none = uv_buf_init(NULL, 0);

    c->read_ended = true;
    sync_reading(c);
    c->t->env->cb->on_read(c->t, code, &none);
}

static void handshake_failed(struct tls_conn *c, int code)
{
    struct transport *t = c->t;
    uv_buf_t none = uv_buf_init(NULL, 0);

    if (code == UV_EOF)
        tls_sess_fail(&c->sess, code, "tls handshake: the %s closed the connection",
                      c->client ? "server" : "client");
    else
        tls_sess_fail(&c->sess, code, "tls handshake: %s", uv_strerror(code));
    if (c->counted) {
        c->counted = false;
        t->env->tls_handshakes--;
    }
    c->read_ended = true;
    sync_reading(c);
    if (c->client)
        t->env->cb->on_connect(t, code);
    else
        t->env->cb->on_read(t, code, &none);
}

static void handshake_done(struct tls_conn *c)
{
    struct transport *t = c->t;

    if (c->counted) {
        c->counted = false;
        t->env->tls_handshakes--;
    }
    if (c->client)
        t->env->cb->on_connect(t, 0); /* it starts reading there, as a rule */
    else if (t->env->cb->on_handshake)
        t->env->cb->on_handshake(t);
    if (t->closing)
        return;
    sync_reading(c); /* a client the owner does not read stops reading now */
    progress(c);     /* writes the owner queued before the handshake ended */
}

/* Go's check (net/http, tlsRecordHeaderLooksLikeHTTP): a TLS port read a request line. */
static bool looks_like_http(const char *p, size_t len)
{
    static const char *const starts[] = {"GET /", "HEAD ", "POST ", "PUT /", "OPTIO"};
    if (len < 5)
        return false;
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (memcmp(p, starts[i], 5) == 0)
            return true;
    return false;
}

static void refuse_plaintext(struct tls_conn *c)
{
    uv_buf_t b = uv_buf_init(TLS_HTTP_REFUSAL, sizeof(TLS_HTTP_REFUSAL) - 1);

    (void)uv_try_write((uv_stream_t *)&c->t->tcp, &b, 1); /* best effort, as Go's */
    c->in_off = c->in_len;
    tls_sess_fail(&c->sess, UV_EPROTO,
                  "tls handshake: client sent an HTTP request to an HTTPS server");
    handshake_failed(c, UV_EPROTO);
}

/* Runs the handshake and decrypts for the owner for as long as there is input and the owner
 * reads. Every owner callback may close the transport, so each is followed by a check. */
static void pump(struct tls_conn *c)
{
    struct transport *t = c->t;
    struct transport_env *env = t->env;
    int rc;

    if (c->read_ended)
        return; /* failed, or the owner got its end */
    while (!t->closing) {
        if (!c->sess.handshake_done) {
            if (!c->client && !c->owner_reading)
                break;
            rc = tls_sess_handshake(&c->sess);
            stage_flush_own(c);
            if (rc == UV_EAGAIN && c->write_err)
                rc = c->write_err;
            if (rc == UV_EAGAIN)
                break;
            if (rc != 0) {
                handshake_failed(c, rc);
                return;
            }
            handshake_done(c);
            continue;
        }
        if (!c->owner_reading || c->read_ended)
            break;
        if (!input_left(c) && !mbedtls_ssl_check_pending(&c->sess.ssl))
            break;
        uv_buf_t buf = uv_buf_init(NULL, 0);
        bool plain = false;
        if (env->cb->on_alloc)
            env->cb->on_alloc(t, TRANSPORT_TLS_PLAIN_BYTES, &buf);
        if (buf.len == 0) {
            buf = uv_buf_init(env->tls_plain_buf, TRANSPORT_TLS_PLAIN_BYTES);
            env->tls_plain_lent = plain = true;
        }
        rc = tls_sess_read(&c->sess, buf.base, buf.len);
        stage_flush_own(c); /* alerts mbedTLS answered with */
        if (rc > 0)
            env->cb->on_read(t, rc, &buf);
        if (plain)
            env->tls_plain_lent = false;
        if (rc > 0 || rc == UV_EAGAIN)
            continue;
        end_reading(c, rc);
        return;
    }
    if (t->closing)
        return;
    if (c->end && !c->sess.handshake_done && !input_left(c)) {
        handshake_failed(c, c->end);
        return;
    }
    if (c->end && c->owner_reading && !c->read_ended && !input_left(c) &&
        !mbedtls_ssl_check_pending(&c->sess.ssl))
        end_reading(c, c->end); /* the socket's end comes after all it brought */
}

static void on_tcp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct transport *t = handle->data;
    struct transport_env *env = t->env;

    if (env->read_buf_lent) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS; alloc and read pair up */
        return;
    }
    env->read_buf_lent = true;
    *buf = uv_buf_init(env->read_buf, (unsigned)env->read_buf_bytes);
}

static void on_tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct transport *t = stream->data;
    struct tls_conn *c = t->tls;
    bool mine = buf->base == t->env->read_buf;

    if (nread > 0 && !t->closing) {
        c->in = buf->base;
        c->in_len = (size_t)nread;
        c->in_off = 0;
        if (!c->client && !c->first_seen) {
            c->first_seen = true;
            if (looks_like_http(c->in, c->in_len))
                refuse_plaintext(c);
        }
        pump(c);
        if (!t->closing && hold_rest(c) != 0)
            end_reading(c, UV_ENOMEM);
        c->in = NULL;
    } else if (nread < 0 && !t->closing && !c->read_ended) {
        c->end = (int)nread;
        sync_reading(c);
        pump(c);
    }
    if (mine)
        t->env->read_buf_lent = false;
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
    struct transport *t = req->data;
    struct tls_conn *c = t->tls;
    int rc;

    free(req);
    if (status == UV_ECANCELED || t->closing)
        return;
    if (status < 0) {
        t->env->cb->on_connect(t, status);
        return;
    }
    c->connected = true;
    if ((rc = sync_reading(c)) != 0) {
        handshake_failed(c, rc);
        return;
    }
    pump(c); /* the ClientHello */
}

static bool backlog(const struct tls_conn *c)
{
    return input_left(c) || (c->sess.handshake_done && mbedtls_ssl_check_pending(&c->sess.ssl)) ||
           (c->end && !c->read_ended);
}

static int tls_read_start(struct transport *t)
{
    struct tls_conn *c = t->tls;
    int rc;

    c->owner_reading = t->reading = true;
    if ((rc = sync_reading(c)) != 0)
        return rc;
    if (backlog(c) && !c->read_ended) {
        if (!c->resume) {
            if (!(c->resume = malloc(sizeof(*c->resume))))
                return UV_ENOMEM;
            if ((rc = uv_idle_init(t->env->loop, c->resume)) != 0) {
                free(c->resume);
                c->resume = NULL;
                return rc;
            }
            c->resume->data = c;
        }
        uv_idle_start(c->resume, on_resume);
    }
    return 0;
}

static void on_resume(uv_idle_t *idle)
{
    struct tls_conn *c = idle->data;

    uv_idle_stop(idle);
    if (!c->t->closing && c->owner_reading)
        pump(c);
}

static void tls_read_stop(struct transport *t)
{
    struct tls_conn *c = t->tls;

    c->owner_reading = t->reading = false;
    sync_reading(c);
    if (c->resume)
        uv_idle_stop(c->resume);
}

/* --- writing --- */

/* Encrypts queued writes, oldest first, while the socket's queue has room; then writes the
 * staged ciphertext. A write fully encrypted is done once the chunks queued by then are. */
static void encrypt_writes(struct tls_conn *c)
{
    struct list *l;

    if (!c->sess.handshake_done || c->write_err)
        return;
    for (l = c->writes.next; l != &c->writes; l = l->next) {
        struct tls_write *w = list_entry(l, struct tls_write, link);
        while (!w->encrypted && c->queued_bytes < TRANSPORT_TLS_QUEUE_MAX_BYTES) {
            const uv_buf_t *b = &w->bufs[w->i];
            if (w->off < b->len) {
                int rc = tls_sess_write(&c->sess, b->base + w->off, b->len - w->off);
                if (rc < 0) {
                    c->write_err = rc;
                    return;
                }
                w->off += (size_t)rc;
            }
            if (w->off >= b->len) {
                w->i++;
                w->off = 0;
            }
            if (w->i >= w->n) {
                w->encrypted = true;
                w->seq_end = UINT64_MAX; /* set below, once staged bytes are queued */
            }
        }
        if (!w->encrypted)
            break;
    }
    stage_flush_own(c);
    for (l = c->writes.next; l != &c->writes; l = l->next) {
        struct tls_write *w = list_entry(l, struct tls_write, link);
        if (w->encrypted && w->seq_end == UINT64_MAX)
            w->seq_end = c->chunks_queued;
    }
}

static void maybe_shutdown(struct tls_conn *c)
{
    struct transport *t = c->t;
    uv_shutdown_t *req;

    if (!c->shutdown_wanted || c->shutdown_done || t->closing)
        return;
    if (!list_empty(&c->writes)) {
        struct tls_write *last = list_entry(c->writes.prev, struct tls_write, link);
        if (!last->encrypted)
            return;
    }
    c->shutdown_done = true;
    if (c->sess.handshake_done) {
        mbedtls_ssl_close_notify(&c->sess.ssl);
        stage_flush_own(c);
    }
    /* libuv sends the FIN once the queued chunks are written. */
    if (!(req = malloc(sizeof(*req))))
        return;
    if (uv_shutdown(req, (uv_stream_t *)&t->tcp, on_shutdown) != 0)
        free(req);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    free(req); /* the owner learns the end from the peer's EOF, or closes */
}

/* Ends the writes whose last record reached the kernel, in order. */
static void complete_writes(struct tls_conn *c)
{
    struct transport *t = c->t;

    while (!t->closing && !list_empty(&c->writes)) {
        struct tls_write *w = list_entry(c->writes.next, struct tls_write, link);
        if (!w->encrypted || w->seq_end > c->chunks_done)
            return;
        list_remove(&w->link);
        free(w->copy);
        free(w);
        t->writes_queued--;
        t->env->cb->on_written(t, 0);
    }
}

/* A write to the socket failed: the oldest write says so, as with plain TCP, and the owner
 * closes. */
static void fail_writes(struct tls_conn *c)
{
    struct transport *t = c->t;
    struct list *l = list_pop_front(&c->writes);

    if (!l)
        return;
    struct tls_write *w = list_entry(l, struct tls_write, link);
    free(w->copy);
    free(w);
    t->writes_queued--;
    t->env->cb->on_written(t, c->write_err);
}

static void progress(struct tls_conn *c)
{
    encrypt_writes(c);
    if (c->write_err) {
        fail_writes(c);
        return;
    }
    complete_writes(c);
    if (!c->t->closing)
        maybe_shutdown(c);
}

static void on_chunk_written(uv_write_t *req, int status)
{
    struct chunk *ch = (struct chunk *)req;
    struct tls_conn *c = ch->c;
    struct transport *t = c->t;

    c->queued_bytes -= ch->len;
    c->chunks_done++;
    free(ch);
    if (status == UV_ECANCELED || t->closing)
        return;
    if (status < 0 && !c->write_err) {
        c->write_err = status;
        fail_writes(c);
        return;
    }
    progress(c);
}

/* Copies the part of w not yet encrypted into memory of its own. */
static int own_rest(struct tls_write *w)
{
    size_t len = 0, at = 0;
    char *p;

    for (unsigned i = w->i; i < w->n; i++)
        len += w->bufs[i].len - (i == w->i ? w->off : 0);
    if (!(p = malloc(len ? len : 1)))
        return UV_ENOMEM;
    for (unsigned i = w->i; i < w->n; i++) {
        size_t from = i == w->i ? w->off : 0;
        memcpy(p + at, w->bufs[i].base + from, w->bufs[i].len - from);
        at += w->bufs[i].len - from;
    }
    w->copy = p;
    w->bufs[0] = uv_buf_init(p, (unsigned)len);
    w->n = 1;
    w->i = 0;
    w->off = 0;
    return 0;
}

static int write_common(struct transport *t, const uv_buf_t *bufs, unsigned n, bool copy)
{
    struct tls_conn *c = t->tls;
    struct tls_write *w;
    bool fast;

    if (n > TRANSPORT_WRITE_BUFS_MAX)
        return UV_EINVAL;
    if (c->write_err)
        return c->write_err;
    if (c->shutdown_wanted)
        return UV_EPIPE;
    if (!(w = calloc(1, sizeof(*w))))
        return UV_ENOMEM;
    memcpy(w->bufs, bufs, n * sizeof(*bufs));
    w->n = n;
    if (n == 0)
        w->encrypted = true;
    fast = list_empty(&c->writes) && c->sess.handshake_done;
    list_push_back(&c->writes, &w->link);
    encrypt_writes(c);
    if (c->write_err) {
        list_remove(&w->link);
        free(w);
        return c->write_err;
    }
    if (fast && w->encrypted && c->chunks_done >= c->chunks_queued) {
        /* Every record went to the kernel at once: no callback. */
        list_remove(&w->link);
        free(w);
        return 1;
    }
    if (copy && !w->encrypted && own_rest(w) != 0) {
        list_remove(&w->link);
        free(w);
        return UV_ENOMEM;
    }
    t->writes_queued++;
    return 0;
}

static int tls_write(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    return write_common(t, bufs, n, false);
}

static int tls_write_copy(struct transport *t, const uv_buf_t *bufs, unsigned n)
{
    return write_common(t, bufs, n, true);
}

static int tls_shutdown(struct transport *t)
{
    struct tls_conn *c = t->tls;

    c->shutdown_wanted = true;
    maybe_shutdown(c);
    return c->write_err;
}

/* --- closing --- */

static void tls_close(struct transport *t)
{
    struct tls_conn *c = t->tls;
    struct transport_env *env = t->env;

    if (c && c->sess.handshake_done && !c->shutdown_done && !c->write_err &&
        list_empty(&c->writes) && c->chunks_done == c->chunks_queued) {
        /* close_notify if the socket takes it at once (send_direct queues nothing while
         * closing); the peer reads a clean end instead of a truncation. */
        c->shutdown_done = true;
        t->closing = true;
        mbedtls_ssl_close_notify(&c->sess.ssl);
        stage_flush_own(c);
    }
    t->closing = true;
    t->reading = false;
    if (env->tls_stage_owner == t) {
        env->tls_stage_owner = NULL;
        env->tls_stage_len = 0;
    }
    if (c) {
        if (c->counted) {
            c->counted = false;
            env->tls_handshakes--;
        }
        c->uv_reading = false;
        c->closes_pending = 1;
        if (c->resume) {
            c->closes_pending++;
            c->resume->data = t;
            uv_close((uv_handle_t *)c->resume, on_handle_closed);
        }
    }
    transport_tcp_close(t, on_handle_closed);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct transport *t = handle->data;
    struct tls_conn *c = t->tls;

    if (handle != (uv_handle_t *)&t->tcp)
        free(handle);
    if (c && --c->closes_pending > 0)
        return;
    if (c) {
        c->resume = NULL;
        conn_free(c);
    }
    t->open = false;
    t->closing = false;
    t->env->cb->on_closed(t);
}

/* --- what the owner may ask --- */

const char *transport_tls_error(const struct transport *t)
{
    const struct tls_conn *c = conn_of(t);
    return c ? c->sess.err : NULL;
}

const mbedtls_x509_crt *transport_tls_peer_cert(const struct transport *t)
{
    const struct tls_conn *c = conn_of(t);
    if (!c || !c->sess.handshake_done)
        return NULL;
    return mbedtls_ssl_get_peer_cert(&c->sess.ssl);
}

bool transport_tls_handshake_done(const struct transport *t)
{
    const struct tls_conn *c = conn_of(t);
    return c && c->sess.handshake_done;
}

bool transport_tls_resumed(const struct transport *t)
{
    const struct tls_conn *c = conn_of(t);
    return c && c->sess.handshake_done && c->sess.resumed;
}

bool transport_tls_clean_end(const struct transport *t)
{
    const struct tls_conn *c = conn_of(t);
    return c && c->sess.close_notified;
}
