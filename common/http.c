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
 * message, the rest being pipelined input for the next one.
 *
 * The raw check: while a head (or a chunked body's trailer section) is being read, scan()
 * walks its bytes before llhttp does and hands llhttp only those up to the section's end,
 * so a defect llhttp 8.1 would let through is refused before any callback of ours sees the
 * head, and no head byte past head_max_bytes is ever consumed. On a defect llhttp still
 * gets the bytes before it, so an error it finds earlier (a bad method, a 414) wins. Once
 * the section ends both must agree that it did: llhttp pauses there (end of head, or end
 * of message after trailers), else the message is refused as malformed. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

/* Which string llhttp handed us last, so a string split across reads is appended to. */
enum { CB_NONE = 0, CB_URL, CB_STATUS, CB_FIELD, CB_VALUE };

/* Where the next byte of a head or trailer section falls, for scan(). */
enum {
    SCAN_OFF = 0,  /* not in a section: llhttp alone reads the body */
    SCAN_LEAD,     /* empty lines before the start line, which llhttp skips */
    SCAN_LEAD_LF,  /* such an empty line's CR seen */
    SCAN_VERSION,  /* status line: the version, up to the first SP */
    SCAN_STATUS,   /* status line: the code's digits */
    SCAN_START,    /* the request line, or the status line's reason phrase */
    SCAN_START_LF, /* the start line's CR seen */
    SCAN_LINE,     /* the first byte of a header line, or of the blank line */
    SCAN_NAME,     /* a header name */
    SCAN_VALUE,    /* a header value */
    SCAN_VALUE_LF, /* a header line's CR seen */
    SCAN_END_LF,   /* the blank line's CR seen */
};

static int on_message_begin(llhttp_t *ll);
static int on_url(llhttp_t *ll, const char *at, size_t len);
static int on_status(llhttp_t *ll, const char *at, size_t len);
static int on_header_field(llhttp_t *ll, const char *at, size_t len);
static int on_header_value(llhttp_t *ll, const char *at, size_t len);
static int on_headers_complete(llhttp_t *ll);
static int on_body(llhttp_t *ll, const char *at, size_t len);
static int on_chunk_header(llhttp_t *ll);
static int on_message_complete(llhttp_t *ll);

static const llhttp_settings_t http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
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
    /* Off by default already; said here so that nobody turns one on by accident. Each
     * lets through what a peer downstream may read differently (RFC 9112 section 11.2). */
    llhttp_set_lenient_headers(&p->ll, 0);
    llhttp_set_lenient_chunked_length(&p->ll, 0);
    llhttp_set_lenient_keep_alive(&p->ll, 0);
    llhttp_set_lenient_transfer_encoding(&p->ll, 0);
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
    p->scan = SCAN_LEAD;
    p->scan_digits = 0;
    p->scan_bytes = 0;
}

/* RFC 9110 section 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks the next bytes of a head or trailer section (p->scan != SCAN_OFF). Sets *ok to
 * the bytes llhttp may have: all len, or up to and including the LF that ends the section
 * (p->scan is then SCAN_OFF), or the bytes before a defect. Returns 0, or the status of the
 * defect at data[*ok] (400, or 431 past head_max_bytes) with *msg naming it. */
static int scan(struct http_parser *p, const char *data, size_t len, size_t *ok, const char **msg)
{
    bool response = llhttp_get_type(&p->ll) == HTTP_RESPONSE;
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)data[i];
        if (p->scan_bytes >= p->head_max_bytes) {
            *ok = i;
            *msg = p->head_done ? "trailers exceed the head size limit"
                                : "head exceeds the head size limit";
            return 431;
        }
        switch (p->scan) {
        case SCAN_LEAD:
            if (c == '\r') {
                p->scan = SCAN_LEAD_LF;
                break;
            }
            if (c == '\n')
                goto bare_lf;
            p->scan = response ? SCAN_VERSION : SCAN_START;
            continue; /* this byte starts the line: look at it again in its state */
        case SCAN_LEAD_LF:
            if (c != '\n')
                goto bare_cr;
            p->scan = SCAN_LEAD;
            break;
        case SCAN_VERSION:
            if (c == ' ') {
                p->scan = SCAN_STATUS;
                p->scan_digits = 0;
            } else if (c == '\r' || c == '\n') {
                *msg = "status line has no status code";
                goto bad;
            }
            break;
        case SCAN_STATUS:
            if (c >= '0' && c <= '9' && p->scan_digits < 3) {
                p->scan_digits++;
                break;
            }
            if ((c != ' ' && c != '\r') || p->scan_digits != 3) {
                *msg = "status code is not three digits";
                goto bad;
            }
            p->scan = c == ' ' ? SCAN_START : SCAN_START_LF;
            break;
        case SCAN_START:
            if (c == '\r')
                p->scan = SCAN_START_LF;
            else if (c == '\n')
                goto bare_lf;
            break;
        case SCAN_START_LF:
            if (c != '\n')
                goto bare_cr;
            p->scan = SCAN_LINE;
            break;
        case SCAN_LINE:
            if (c == '\r') {
                p->scan = SCAN_END_LF;
                break;
            }
            if (c == ' ' || c == '\t') {
                *msg = "obsolete line folding (a header line starts with whitespace)";
                goto bad;
            }
            if (c == ':') {
                *msg = "empty header name";
                goto bad;
            }
            p->scan = SCAN_NAME;
            continue;
        case SCAN_NAME:
            if (c == ':') {
                p->scan = SCAN_VALUE;
            } else if (c == '\r' || c == '\n') {
                *msg = "header line without a colon";
                goto bad;
            } else if (!is_tchar(c)) {
                *msg = "header name has a character outside the token set";
                goto bad;
            }
            break;
        case SCAN_VALUE:
            if (c == '\r')
                p->scan = SCAN_VALUE_LF;
            else if (c == '\n')
                goto bare_lf;
            break;
        case SCAN_VALUE_LF:
            if (c != '\n')
                goto bare_cr;
            p->scan = SCAN_LINE;
            break;
        case SCAN_END_LF:
            if (c != '\n')
                goto bare_cr;
            p->scan = SCAN_OFF;
            p->scan_bytes++;
            *ok = i + 1;
            return 0;
        default: *msg = "parser state is corrupt"; goto bad;
        }
        p->scan_bytes++;
        i++;
    }
    *ok = len;
    return 0;
bare_lf:
    *msg = "bare LF where CRLF is required";
    goto bad;
bare_cr:
    *msg = "CR not followed by LF";
bad:
    *ok = i;
    return 400;
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
    if (data == NULL)
        data = ""; /* len is 0: nothing to read, and no arithmetic on NULL below */
    while (off < len || resumed) {
        size_t n = len - off;
        int bad = 0;
        const char *bad_msg = NULL;
        bool section_ends = false;

        if (p->scan != SCAN_OFF) {
            bad = scan(p, data + off, n, &n, &bad_msg);
            section_ends = !bad && p->scan == SCAN_OFF;
        }
        llhttp_errno_t e = llhttp_execute(&p->ll, data + off, n);
        resumed = false;
        if (e == HPE_OK) {
            p->msg_bytes += n;
            off += n;
            if (bad) {
                fail(p, bad, bad_msg);
                return HTTP_PARSE_ERROR;
            }
            if (section_ends) { /* llhttp read on where the check saw the section end */
                fail(p, 400, "malformed head or trailers");
                return HTTP_PARSE_ERROR;
            }
            continue;
        }
        if (e == HPE_PAUSED) {
            size_t k = (size_t)(llhttp_get_error_pos(&p->ll) - (data + off));
            p->msg_bytes += k;
            off += k;
            llhttp_resume(&p->ll);
            if (section_ends && k != n) {
                fail(p, 400, "malformed head or trailers");
                return HTTP_PARSE_ERROR;
            }
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
    bool response = llhttp_get_type(ll) == HTTP_RESPONSE;
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
    /* llhttp ended the head before the raw check saw its blank line: they disagree on
     * where it ends (an HTTP/0.9 request line does that: no headers follow it). */
    if (p->scan != SCAN_OFF)
        return fail(p, 400,
                    h->http_major == 0 ? "request line without an HTTP version" : "malformed head");
    /* HTTP/0.9 (no version), 2.0 and the rest are not what this parser reads. */
    if (h->http_major != 1 || h->http_minor > 1)
        return fail(p, 400, "HTTP version is not 1.0 or 1.1");
    if (response && (h->status < 100 || h->status > 599))
        return fail(p, 400, "status code outside 100..599");
    /* CONNECT turns the connection into a tunnel, which nothing here serves; its body
     * (if it says it has one) must not be read as the next request. */
    if (!response && h->method == HTTP_CONNECT)
        return fail(p, 400, "CONNECT is not supported");
    /* Upgrade is ignored, as RFC 9110 section 7.8 lets a server do: the message is framed
     * as HTTP (llhttp would end it after the head and leave its body to be read as the next
     * message), and what follows it is the next message. */
    ll->upgrade = 0;
    /* 1xx, 204 and 304 answers, and answers to HEAD, have no body whatever their headers
     * say (RFC 9112 section 6.3). */
    h->no_body = response && (http_head_is_interim(h) || h->status == 204 || h->status == 304 ||
                              p->head_request);
    if (p->cb && p->cb->on_head && (rc = p->cb->on_head(p)) != 0)
        return fail(p, rc, p->error_msg ? p->error_msg : "refused by the handler");
    if (h->no_body)
        return 1; /* llhttp must be told; the message completes here, without a pause */
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

/* The last chunk's size line is read: a trailer section follows, up to a blank line. Pause
 * so that http_parser_execute() checks it raw, as it does a head. */
static int on_chunk_header(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    if (ll->content_length != 0)
        return 0;
    p->scan = SCAN_LINE;
    p->scan_bytes = 0;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll)
{
    struct http_parser *p = parser_of(ll);

    if (p->scan != SCAN_OFF) /* llhttp saw the end of the trailers before the raw check */
        return fail(p, 400, "malformed trailers");
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
    h->no_body = false;
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
    int rc = 0, n = 0;

    for (uint32_t i = 0; rc == 0 && i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = http_head_str(h, hd->name_off);
        if (http_header_is_hop_by_hop(name, hd->name_len) ||
            ((flags & HTTP_COPY_DROP_FRAMING) && header_listed(name, hd->name_len, framing)) ||
            header_listed(name, hd->name_len, drop))
            continue;
        rc = buf_printf(out, "%.*s: %.*s\r\n", (int)hd->name_len, name, (int)hd->value_len,
                        http_head_str(h, hd->value_off));
        n++;
    }
    return rc < 0 ? rc : n;
}

const char *http_head_get(const struct http_head *h, const char *name, size_t *len)
{
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hdr = &h->headers[i];
        if (http_str_ieq(http_head_str(h, hdr->name_off), hdr->name_len, name)) {
            if (len)
                *len = hdr->value_len;
            return http_head_str(h, hdr->value_off);
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
