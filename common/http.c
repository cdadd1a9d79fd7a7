/* http.c - HTTP/1.1 message parsing on top of llhttp.
 *
 * Owner: a parser and the head it fills belong to the thread that feeds them; nothing
 * here is shared. The llhttp settings table is one static const for every parser: the
 * owner's callbacks live in p->cb, so a parser costs its llhttp_t plus a few words.
 *
 * How a message is cut out of a stream: our on_headers_complete and on_message_complete
 * return HPE_PAUSED, so llhttp_execute() stops right after the head and right after the
 * message, and llhttp_get_error_pos() tells where. The first stop gives head_bytes (where
 * the body starts on the wire); the second tells the caller how many bytes belong to this
 * message, the rest being pipelined input for the next one. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

/* Which string llhttp handed us last, so a string split across reads is appended to. */
enum { CB_NONE = 0, CB_URL, CB_STATUS, CB_FIELD, CB_VALUE };

static int on_message_begin(llhttp_t *ll);
static int on_url(llhttp_t *ll, const char *at, size_t len);
static int on_status(llhttp_t *ll, const char *at, size_t len);
static int on_header_field(llhttp_t *ll, const char *at, size_t len);
static int on_header_value(llhttp_t *ll, const char *at, size_t len);
static int on_headers_complete(llhttp_t *ll);
static int on_body(llhttp_t *ll, const char *at, size_t len);
static int on_message_complete(llhttp_t *ll);

static const llhttp_settings_t http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static struct http_parser *parser_of(llhttp_t *ll)
{
    return (struct http_parser *)ll; /* ll is the first member */
}

/* Marks the message failed with an HTTP status; llhttp then returns HPE_USER. */
static int fail(struct http_parser *p, int status, const char *msg)
{
    p->error_status = status;
    p->error_msg = msg;
    return HPE_USER;
}

void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_parser_cb *cb,
                      void *data)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, (llhttp_type_t)kind, &http_settings);
    p->cb = cb;
    p->data = data;
    p->head_max_bytes = HTTP_HEAD_MAX_BYTES_DEFAULT;
}

void http_parser_begin(struct http_parser *p, struct http_head *head)
{
    p->head = head;
    http_head_reset(head);
    head->strs.max = p->head_max_bytes;
    p->msg_bytes = 0;
    p->last_cb = CB_NONE;
    p->in_message = false;
    p->head_done = false;
    p->complete = false;
    p->body_mode = HTTP_BODY_COLLECT;
}

enum http_parse_result http_parser_execute(struct http_parser *p, const char *data, size_t len,
                                           size_t *used)
{
    size_t off = 0;
    /* After the pause at the end of the head, llhttp must run once more even with no byte
     * left: a message without a body completes without consuming anything. */
    bool resumed = false;

    *used = 0;
    if (p->error_status)
        return HTTP_PARSE_ERROR;
    while (off < len || resumed) {
        llhttp_errno_t e = llhttp_execute(&p->ll, data + off, len - off);
        resumed = false;
        if (e == HPE_OK) {
            p->msg_bytes += len - off;
            off = len;
            break;
        }
        if (e == HPE_PAUSED) {
            size_t n = (size_t)(llhttp_get_error_pos(&p->ll) - (data + off));
            p->msg_bytes += n;
            off += n;
            llhttp_resume(&p->ll);
            if (p->complete) {
                if (p->head_done && p->head->head_bytes == 0)
                    p->head->head_bytes = p->msg_bytes; /* a bodiless answer: no pause */
                *used = off;
                return HTTP_PARSE_COMPLETE;
            }
            if (p->head_done && p->head->head_bytes == 0)
                p->head->head_bytes = p->msg_bytes;
            resumed = true;
            continue;
        }
        if (e == HPE_PAUSED_UPGRADE) {
            fail(p, 400, "protocol upgrade and CONNECT are not supported");
            return HTTP_PARSE_ERROR;
        }
        /* Our callbacks set error_status before failing; llhttp reports those as HPE_USER
         * or HPE_CB_*, and anything else is a defect of the input. */
        if (!p->error_status)
            fail(p, 400,
                 llhttp_get_error_reason(&p->ll) ? llhttp_get_error_reason(&p->ll)
                                                 : llhttp_errno_name(e));
        return HTTP_PARSE_ERROR;
    }
    *used = off;
    return HTTP_PARSE_MORE;
}

enum http_parse_result http_parser_finish(struct http_parser *p)
{
    llhttp_errno_t e;

    if (p->error_status)
        return HTTP_PARSE_ERROR;
    if (!p->in_message || p->complete)
        return p->complete ? HTTP_PARSE_COMPLETE : HTTP_PARSE_MORE;
    e = llhttp_finish(&p->ll);
    if ((e == HPE_OK || e == HPE_PAUSED) && p->complete)
        return HTTP_PARSE_COMPLETE;
    if (!p->error_status)
        fail(p, 400, "message truncated by end of stream");
    return HTTP_PARSE_ERROR;
}

/* Appends a piece of the string llhttp is handing us; a new string starts at strs.len. */
static int append_str(struct http_parser *p, uint8_t kind, const char *at, size_t len,
                      uint32_t *off, uint32_t *slen, size_t max, int status, const char *msg)
{
    struct http_head *h = p->head;

    if (p->last_cb != kind) {
        *off = (uint32_t)h->strs.len;
        *slen = 0;
        p->last_cb = kind;
    }
    if (*slen + len > max || buf_append(&h->strs, at, len) != 0)
        return fail(p, status, msg);
    *slen += (uint32_t)len;
    return 0;
}

static int on_message_begin(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    if (!p->head)
        return fail(p, 500, "parser has no head to fill");
    if (p->in_message) /* a second message before the caller called begin() */
        return fail(p, 500, "message began before the previous one was taken");
    p->in_message = true;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = parser_of(ll);
    return append_str(p, CB_URL, at, len, &p->head->url_off, &p->head->url_len, HTTP_URL_MAX_BYTES,
                      414, "request target longer than HTTP_URL_MAX_BYTES");
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = parser_of(ll);
    return append_str(p, CB_STATUS, at, len, &p->head->reason_off, &p->head->reason_len,
                      p->head_max_bytes, 431, "reason phrase exceeds the head size limit");
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = parser_of(ll);
    struct http_head *h = p->head;
    struct http_header *hdr;

    if (p->head_done)
        return 0; /* a chunked body's trailer: it stays in the raw body, not in the head */

    if (p->last_cb != CB_FIELD) {
        if (h->n_headers == HTTP_MAX_HEADERS)
            return fail(p, 431, "more than HTTP_MAX_HEADERS headers");
        hdr = &h->headers[h->n_headers++];
        hdr->value_off = hdr->value_len = 0;
    }
    hdr = &h->headers[h->n_headers - 1];
    return append_str(p, CB_FIELD, at, len, &hdr->name_off, &hdr->name_len, p->head_max_bytes, 431,
                      "headers exceed the head size limit");
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = parser_of(ll);

    if (p->head_done)
        return 0;
    struct http_header *hdr = &p->head->headers[p->head->n_headers - 1];

    return append_str(p, CB_VALUE, at, len, &hdr->value_off, &hdr->value_len, p->head_max_bytes,
                      431, "headers exceed the head size limit");
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);
    struct http_head *h = p->head;
    int rc;

    p->last_cb = CB_NONE;
    h->method = llhttp_get_method(ll);
    h->status = llhttp_get_status_code(ll);
    h->http_major = llhttp_get_http_major(ll);
    h->http_minor = llhttp_get_http_minor(ll);
    h->content_length = (ll->flags & F_CONTENT_LENGTH) ? (int64_t)ll->content_length : -1;
    h->chunked = (ll->flags & F_CHUNKED) != 0;
    h->keep_alive = llhttp_should_keep_alive(ll) != 0;
    p->head_done = true;
    if (p->cb && p->cb->on_head && (rc = p->cb->on_head(p)) != 0)
        return fail(p, rc, p->error_msg ? p->error_msg : "refused by the handler");
    /* 1xx, 204 and 304 answers have no body whatever their headers say (RFC 9112 6.3);
     * llhttp wants to be told. The message completes here, without a pause. */
    if (llhttp_get_type(ll) == HTTP_RESPONSE &&
        ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304))
        return 1;
    if (h->content_length > 0 && (uint64_t)h->content_length > p->body_max_bytes)
        return fail(p, 413, "Content-Length exceeds the body size limit");
    if (p->body_mode == HTTP_BODY_COLLECT)
        h->body.max = p->body_max_bytes;
    return HPE_PAUSED; /* so the caller learns where the body starts */
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = parser_of(ll);
    struct http_head *h = p->head;
    int rc;

    if (h->body_bytes + len > p->body_max_bytes)
        return fail(p, 413, "body exceeds the body size limit");
    h->body_bytes += len;
    if (p->body_mode == HTTP_BODY_STREAM) {
        if (p->cb && p->cb->on_body && (rc = p->cb->on_body(p, at, len)) != 0)
            return fail(p, rc, p->error_msg ? p->error_msg : "body refused by the handler");
        return 0;
    }
    if (h->body.base && at == h->body.base + h->body.len && len <= h->body.cap - h->body.len) {
        h->body.len += len; /* read straight into the body's free space: already in place */
        return 0;
    }
    if (buf_append(&h->body, at, len) != 0)
        return fail(p, 413, "body exceeds the body size limit");
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    p->complete = true;
    return HPE_PAUSED; /* stop at the message boundary: what follows is pipelined input */
}

void http_head_init(struct http_head *h, size_t body_max_bytes)
{
    memset(h, 0, sizeof(*h));
    buf_init(&h->strs, HTTP_HEAD_MAX_BYTES_DEFAULT);
    buf_init(&h->body, body_max_bytes);
    h->content_length = -1;
}

void http_head_close(struct http_head *h)
{
    buf_close(&h->strs);
    buf_close(&h->body);
}

void http_head_reset(struct http_head *h)
{
    buf_reset(&h->strs);
    buf_reset(&h->body);
    h->url_off = h->url_len = 0;
    h->reason_off = h->reason_len = 0;
    h->method = 0;
    h->status = 0;
    h->http_major = h->http_minor = 0;
    h->n_headers = 0;
    h->content_length = -1;
    h->chunked = false;
    h->keep_alive = false;
    h->head_bytes = 0;
    h->body_bytes = 0;
}

bool http_str_ieq(const char *a, size_t a_len, const char *b)
{
    return strlen(b) == a_len && strncasecmp(a, b, a_len) == 0;
}

bool http_header_is_hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
        "TE",         "Trailer",    "Upgrade",
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (http_str_ieq(name, len, hop[i]))
            return true;
    return false;
}

static bool header_listed(const char *name, size_t len, const char *const *list)
{
    for (; list && *list; list++)
        if (http_str_ieq(name, len, *list))
            return true;
    return false;
}

int http_write_headers(struct buf *out, const struct http_head *h, unsigned flags,
                       const char *const *drop)
{
    static const char *const framing[] = {"Content-Length", "Transfer-Encoding", NULL};
    int rc = 0;

    for (uint32_t i = 0; rc == 0 && i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = http_head_str(h, hd->name_off);
        if (http_header_is_hop_by_hop(name, hd->name_len) ||
            ((flags & HTTP_COPY_DROP_FRAMING) && header_listed(name, hd->name_len, framing)) ||
            header_listed(name, hd->name_len, drop))
            continue;
        rc = buf_printf(out, "%.*s: %.*s\r\n", (int)hd->name_len, name, (int)hd->value_len,
                        http_head_str(h, hd->value_off));
    }
    return rc;
}

const char *http_head_get(const struct http_head *h, const char *name, size_t *len)
{
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hdr = &h->headers[i];
        if (http_str_ieq(h->strs.base + hdr->name_off, hdr->name_len, name)) {
            if (len)
                *len = hdr->value_len;
            return hdr->value_len ? h->strs.base + hdr->value_off : "";
        }
    }
    return NULL;
}

const char *http_head_method(const struct http_head *h)
{
    return llhttp_method_name((llhttp_method_t)h->method);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 201: return "Created";
    case 202: return "Accepted";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 401: return "Unauthorized";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    default: return "Unknown"; /* llhttp_status_name() aborts on codes it lacks */
    }
}

int http_write_status_line(struct buf *out, int status)
{
    return buf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
}

int http_write_simple(struct buf *out, int status, const char *extra_headers, const char *body,
                      size_t body_len)
{
    int rc;

    if ((rc = http_write_status_line(out, status)) != 0 ||
        (rc = buf_printf(out,
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: %zu\r\n%s\r\n",
                         body_len, extra_headers ? extra_headers : "")) != 0)
        return rc;
    return body_len ? buf_append(out, body, body_len) : 0;
}
