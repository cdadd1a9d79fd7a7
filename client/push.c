/* push.c - formatting pushes (see push.h).
 * Owner: none; pure functions on caller-owned buffers. */
#include "push.h"

#include <errno.h>
#include <string.h>

#include "client.h"

int push_check_head(const struct http_head *res, const char **why)
{
    if (res->n_headers > PUSH_EXPORTER_MAX_HEADERS) {
        *why = "the answer has more headers than a push may carry (PUSH_EXPORTER_MAX_HEADERS)";
        return -E2BIG;
    }
    return 0;
}

enum push_framing push_framing(const struct http_head *res)
{
    if (res->no_body)
        return PUSH_NO_BODY;
    if (res->content_length >= 0 && !res->chunked)
        return PUSH_STREAM;
    return PUSH_COLLECT;
}

int push_inner_head(struct buf *out, const struct http_head *res, const char *id,
                    double remaining_s, size_t body_len)
{
    enum push_framing framing = push_framing(res);
    /* The answer to a HEAD: no body, whatever its status, unless the status says so. */
    bool head_answer = framing == PUSH_NO_BODY && !http_head_is_interim(res) &&
                       res->status != 204 && res->status != 304;
    bool rewrite_length = framing == PUSH_COLLECT || head_answer;
    uint32_t written = 2 + (rewrite_length ? 1 : 0); /* Id, X-Prometheus-Scrape-Timeout */
    int rc;

    if (head_answer)
        body_len = 0;
    const char *reason = http_head_str(res, res->reason_off);
    if (res->reason_len > 0)
        rc = buf_printf(out, "HTTP/1.1 %d %.*s\r\n", res->status, (int)res->reason_len, reason);
    else
        rc = buf_printf(out, "HTTP/1.1 %d %s\r\n", res->status, http_reason(res->status));
    /* Hop-by-hop headers are the exporter connection's; Id and the timeout are ours. */
    static const char *const drop[] = {"Id", "X-Prometheus-Scrape-Timeout", NULL};
    int n = 0;
    if (rc == 0)
        n = rc = http_write_headers(out, res,
                                    rewrite_length ? HTTP_COPY_DROP_FRAMING : HTTP_COPY_ALL, drop);
    if (rc > 0)
        rc = 0;
    if (rc == 0 && written + (uint32_t)n > HTTP_MAX_HEADERS)
        return -E2BIG; /* the proxy would refuse the push */
    if (rc == 0 && rewrite_length)
        rc = buf_printf(out, "Content-Length: %zu\r\n", body_len);
    if (rc == 0)
        rc = buf_printf(out, "Id: %s\r\nX-Prometheus-Scrape-Timeout: %f\r\n\r\n", id, remaining_s);
    return rc;
}

int push_inner_error(struct buf *out, const char *id, double remaining_s, const char *text)
{
    size_t len = strlen(text);
    int rc = buf_printf(out,
                        "HTTP/1.1 500 Internal Server Error\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n"
                        "Id: %s\r\n"
                        "X-Prometheus-Scrape-Timeout: %f\r\n\r\n",
                        len, id, remaining_s);
    if (rc == 0)
        rc = buf_append(out, text, len);
    return rc;
}

int push_outer_head(struct buf *out, const struct client *cl, const char *fqdn, const char *id,
                    size_t content_length)
{
    return buf_printf(out,
                      "POST %s HTTP/1.1\r\n"
                      "Host: %s\r\n"
                      "User-Agent: pushprox-client/" PUSHPROX_VERSION "\r\n"
                      "X-PushProx-FQDN: %s\r\n"
                      "X-PushProx-Id: %s\r\n"
                      "%s"
                      "Content-Length: %zu\r\n\r\n",
                      cl->proxy.push_path, cl->proxy.host_header, fqdn, id, cl->via_headers,
                      content_length);
}
