/* discovery.c - GET /clients, counted (see discovery.h).
 * Owner: the calling thread, for the length of one call; the socket, parser, head and
 * JSON reader are its locals and are all released before it returns. */
#include "discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "sd_json.h"

/* One read from the socket: the parser copies the body out of it. */
#define DISCOVERY_READ_BYTES (64 * 1024)
/* The request line and Host header. */
#define DISCOVERY_REQ_BYTES 256

/* Reads one response into head, until it is complete (by its length, its chunks, or the
 * end of the stream). Returns 0, or a negative errno. */
static int read_response(int fd, struct http_head *head)
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
        ssize_t n = read(fd, chunk, DISCOVERY_READ_BYTES);
        enum http_parse_result r;
        size_t used = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
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

int discovery_count(const struct sockaddr_in *proxy, const char *host, uint64_t *count)
{
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
    n = snprintf(req, sizeof(req), "GET /clients HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        rc = -E2BIG;
        goto out;
    }
    errno = 0;
    if (write(fd, req, (size_t)n) != n) {
        rc = errno ? -errno : -EIO;
        goto out;
    }
    if ((rc = read_response(fd, &head)) != 0)
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
    http_head_close(&head);
    if (fd >= 0)
        close(fd);
    return rc;
}
