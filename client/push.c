/* push.c - formatting pushes (see push.h).
 * Owner: none; pure functions on caller-owned buffers. */
#include "push.h"

#include <string.h>

#include "client.h"

int push_inner_head(struct buf *out, const struct http_head *res, const char *id,
                    double remaining_s, bool rewrite_length, size_t body_len)
{
    int rc;
    const char *reason = http_head_str(res, res->reason_off);
    if (res->reason_len > 0)
        rc = buf_printf(out, "HTTP/1.1 %d %.*s\r\n", res->status, (int)res->reason_len, reason);
    else
        rc = buf_printf(out, "HTTP/1.1 %d %s\r\n", res->status, http_reason(res->status));
    for (uint32_t i = 0; i < res->n_headers && rc == 0; i++) {
        const struct http_header *h = &res->headers[i];
        const char *name = http_head_str(res, h->name_off);
        size_t nl = h->name_len;
        if (http_str_ieq(name, nl, "Connection") || http_str_ieq(name, nl, "Keep-Alive") ||
            http_str_ieq(name, nl, "Id") || http_str_ieq(name, nl, "X-Prometheus-Scrape-Timeout"))
            continue;
        if (rewrite_length && (http_str_ieq(name, nl, "Content-Length") ||
                               http_str_ieq(name, nl, "Transfer-Encoding")))
            continue;
        rc = buf_printf(out, "%.*s: %.*s\r\n", (int)nl, name, (int)h->value_len,
                        http_head_str(res, h->value_off));
    }
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

int push_outer_head(struct buf *out, const struct proxy_url *u, const char *fqdn, const char *id,
                    size_t content_length)
{
    return buf_printf(out,
                      "POST %s HTTP/1.1\r\n"
                      "Host: %s\r\n"
                      "User-Agent: pushprox-client/" PUSHPROX_VERSION "\r\n"
                      "X-PushProx-FQDN: %s\r\n"
                      "X-PushProx-Id: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      u->push_path, u->host_header, fqdn, id, content_length);
}
