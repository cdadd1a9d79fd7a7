/* discovery.c - GET /clients, counted (see discovery.h).
 * Owner: the calling thread, for the length of one call; the socket, TLS conf and session,
 * parser, head and JSON reader are its locals and are all released before it returns. */
#include "discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>

#include "http.h"
#include "log.h"
#include "sd_json.h"

/* One read from the socket: the parser copies the body out of it. */
#define DISCOVERY_READ_BYTES (64 * 1024)
/* The request line and Host header. */
#define DISCOVERY_REQ_BYTES 256
/* Calls to mbedTLS that may ask to be repeated (it wants more input) before we give up;
 * with a blocking socket one is normally enough. */
#define DISCOVERY_TLS_TRIES 64

/* The connection: a blocking socket, and a TLS session on it when sess is set. */
struct stream {
    int fd;
    struct tls_sess *sess;
};

/* mbedTLS's BIO over the blocking socket (SO_RCVTIMEO/SO_SNDTIMEO bound each call). */
static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    ssize_t w;
    while ((w = write(*(int *)ctx, p, n)) < 0 && errno == EINTR)
        ;
    return w < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)w;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    ssize_t r;
    while ((r = read(*(int *)ctx, p, n)) < 0 && errno == EINTR)
        ;
    return r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : (int)r;
}

/* Reads up to n bytes: the count, 0 at the end of the stream, or a negative errno. */
static ssize_t stream_read(struct stream *st, char *p, size_t n)
{
    if (!st->sess) {
        ssize_t r;
        while ((r = read(st->fd, p, n)) < 0 && errno == EINTR)
            ;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        return r;
    }
    for (int i = 0; i < DISCOVERY_TLS_TRIES; i++) {
        int rc = tls_sess_read(st->sess, p, n);
        if (rc > 0)
            return rc;
        if (rc == UV_EOF)
            return 0;
        if (rc != UV_EAGAIN)
            return -EPROTO;
    }
    return -ETIMEDOUT;
}

static int stream_write(struct stream *st, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (st->sess) {
            int rc = tls_sess_write(st->sess, p, n);
            if (rc < 0)
                return -EPROTO;
            w = rc;
        } else if ((w = write(st->fd, p, n)) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The TLS handshake on st->fd with a conf made from tls. Returns 0 or -ECONNREFUSED
 * (logged with mbedTLS's reason) or -ENOMEM. */
static int stream_tls(struct stream *st, struct tls_sess *sess, const struct dial_tls *tls,
                      int port)
{
    char err[TLS_ERR_MAX];
    struct tls_conf *conf = tls_conf_new_client(&tls->opts, err, sizeof(err));
    int rc = UV_EAGAIN;

    memset(sess, 0, sizeof(*sess));
    if (!conf) {
        log_warn("discovery", "TLS configuration refused", LOG_STR("err", err));
        return -ECONNREFUSED;
    }
    rc = tls_sess_init(sess, conf, tls->server_name, port);
    tls_conf_unref(conf); /* the session holds its own reference */
    if (rc != 0)
        return -ENOMEM;
    st->sess = sess;
    mbedtls_ssl_set_bio(&sess->ssl, &st->fd, bio_send, bio_recv, NULL);
    for (int i = 0; i < DISCOVERY_TLS_TRIES && (rc = tls_sess_handshake(sess)) == UV_EAGAIN; i++)
        ;
    if (rc != 0) {
        log_warn("discovery", "TLS handshake for /clients failed",
                 LOG_STR("reason", sess->err ? sess->err : "?"));
        return -ECONNREFUSED;
    }
    return 0;
}

/* Reads one response into head, until it is complete (by its length, its chunks, or the
 * end of the stream). Returns 0, or a negative errno. */
static int read_response(struct stream *stream, struct http_head *head)
{
    struct http_parser p;
    char *chunk = malloc(DISCOVERY_READ_BYTES);
    int rc = -EPROTO;

    if (!chunk)
        return -ENOMEM;
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.body_max_bytes = DISCOVERY_MAX_BYTES;
    http_parser_begin(&p, head);
    for (;;) {
        ssize_t n = stream_read(stream, chunk, DISCOVERY_READ_BYTES);
        enum http_parse_result r;
        size_t used = 0;
        if (n < 0) {
            rc = (int)n;
            break;
        }
        r = n == 0 ? http_parser_finish(&p) : http_parser_execute(&p, chunk, (size_t)n, &used);
        if (r == HTTP_PARSE_COMPLETE) {
            rc = 0;
            break;
        }
        if (r == HTTP_PARSE_ERROR || n == 0) {
            log_debug("discovery", "bad /clients response",
                      LOG_STR("reason", p.error_msg ? p.error_msg : "truncated"));
            break;
        }
    }
    free(chunk);
    return rc;
}

int discovery_count(const struct sockaddr_in *proxy, const char *host, const struct dial_tls *tls,
                    uint64_t *count)
{
    struct stream stream = {.fd = -1};
    struct tls_sess sess = {0};
    struct timeval tv = {.tv_sec = DISCOVERY_TIMEOUT_S};
    struct http_head head;
    struct sd_json *sd = NULL;
    char req[DISCOVERY_REQ_BYTES];
    const char *body;
    int fd, n, rc;

    http_head_init(&head, DISCOVERY_MAX_BYTES);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)proxy, sizeof(*proxy)) != 0) {
        rc = -errno;
        goto out;
    }
    stream.fd = fd;
    if (tls && (rc = stream_tls(&stream, &sess, tls, ntohs(proxy->sin_port))) != 0)
        goto out;
    n = snprintf(req, sizeof(req), "GET /clients HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        rc = -E2BIG;
        goto out;
    }
    if ((rc = stream_write(&stream, req, (size_t)n)) != 0)
        goto out;
    if ((rc = read_response(&stream, &head)) != 0)
        goto out;
    if (head.status != 200) {
        log_debug("discovery", "/clients answered other than 200", LOG_INT("status", head.status));
        rc = -EPROTO;
        goto out;
    }
    if (!(sd = malloc(sizeof(*sd)))) {
        rc = -ENOMEM;
        goto out;
    }
    body = head.body.base ? head.body.base : "";
    if ((rc = sd_json_read(sd, body, head.body.len, NULL, NULL)) != 0) {
        /* The bytes around the defect, so the log names the bad input. */
        size_t at = sd->err_offset, from = at > 40 ? at - 40 : 0;
        size_t to = head.body.len - at > 40 ? at + 40 : head.body.len;
        log_warn("discovery", "/clients is not http_sd JSON", LOG_STR("reason", sd->err_msg),
                 LOG_UINT("offset", at), LOG_STRN("near", body + from, to - from));
        goto out;
    }
    *count = sd->n_targets;
out:
    free(sd);
    tls_sess_close(&sess);
    http_head_close(&head);
    if (fd >= 0)
        close(fd);
    return rc;
}
