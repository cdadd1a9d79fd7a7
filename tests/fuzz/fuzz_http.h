/* fuzz_http.h - the harness behind fuzz_http_request and fuzz_http_response: common/http.c
 * fed a stream of messages cut into random pieces, with its contract checked after every
 * call (FUZZ_CHECK aborts, so libFuzzer keeps the input as a crash).
 *
 * Input: FUZZ_HTTP_CONFIG_BYTES of settings, then the bytes of the stream.
 *   byte 0  bit 0: bodies streamed to on_body (else collected into head->body)
 *           bit 1: collected bodies are read into the body's free space, as the proxy
 *                  reads a push (the parser must see them in place, not copy them)
 *           bit 2: responses: the request was HEAD (p->head_request)
 *           bit 3: small limits (head_max_bytes and body_max_bytes of a few hundred bytes)
 *   byte 1  most bytes per piece fed to http_parser_execute(): 1 + byte, or all if 255
 *   byte 2  seed of the sizes of the pieces (each 1..most)
 *   byte 3  reserved (0); keeps the stream aligned in a hex dump
 * Seeds in tests/fuzz/corpus/ start with "\x00\xff\x00\x00": collected, one piece.
 *
 * Checked after each call: used <= len; MORE used all of it; no head larger than
 * head_max_bytes was read; every string of the head lies within head->strs; header names
 * are non-empty tokens and values have no CR, LF or NUL; the version is 1.0 or 1.1 and a
 * response's status is in 100..599; a response has no_body exactly when it is a 1xx, 204
 * or 304 or answers a HEAD; in COLLECT mode body_bytes == body.len, in STREAM mode
 * body_bytes is what on_body got; a complete message with a Content-Length (and a body)
 * has exactly that many body bytes, one without a body none. Then the head is written
 * back as the proxy and the client forward heads ("name: value" lines) and parsed again:
 * what was accepted must read back the same, or the forwarded copy is not what was
 * checked. Messages go on while the last was keep-alive, as the proxy's connections do;
 * at the end of the input, http_parser_finish() as at EOF. */
#ifndef PUSHPROX_FUZZ_HTTP_H
#define PUSHPROX_FUZZ_HTTP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"

#define FUZZ_HTTP_CONFIG_BYTES 4
/* The limits of the "small" setting: small enough that random inputs reach them. */
#define FUZZ_HTTP_SMALL_HEAD_BYTES 300
#define FUZZ_HTTP_SMALL_BODY_BYTES 200
/* The body limit otherwise: above any input (-max_len), so only the small one is hit. */
#define FUZZ_HTTP_BODY_BYTES (1 << 20)
/* Room for a head written back: names and values of at most head_max_bytes, plus ": ",
 * CRLF per header and the start line. */
#define FUZZ_HTTP_REWRITE_BYTES (2 * HTTP_HEAD_MAX_BYTES_DEFAULT + 4 * HTTP_MAX_HEADERS + 64)

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fuzz_http {
    struct http_parser p;
    struct http_head h;
    size_t streamed; /* bytes on_body got for the current message */
    uint32_t rng;
};

static int fuzz_http_on_body(struct http_parser *p, const char *at, size_t len)
{
    struct fuzz_http *f = p->data;
    FUZZ_CHECK(len > 0 && at != NULL, "on_body with %zu bytes", len);
    f->streamed += len;
    return 0;
}

static int fuzz_http_on_head(struct http_parser *p);

static const struct http_parser_cb fuzz_http_cb = {
    .on_head = fuzz_http_on_head,
    .on_body = fuzz_http_on_body,
};

static int fuzz_http_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* What a handler may rely on once the head is complete. */
static void fuzz_http_check_head(const struct http_parser *p, const struct http_head *h)
{
    size_t strs = h->strs.len;
    FUZZ_CHECK(strs <= p->head_max_bytes, "kept %zu > head_max_bytes %zu", strs, p->head_max_bytes);
    FUZZ_CHECK(http_head_str(h, 0) != NULL, "NULL string");
    FUZZ_CHECK(h->n_headers <= HTTP_MAX_HEADERS, "%u headers", h->n_headers);
    FUZZ_CHECK((size_t)h->url_off + h->url_len <= strs || h->url_len == 0, "url outside strs");
    FUZZ_CHECK((size_t)h->reason_off + h->reason_len <= strs || h->reason_len == 0,
               "reason outside strs");
    FUZZ_CHECK(h->http_major == 1 && h->http_minor <= 1, "HTTP/%d.%d accepted", h->http_major,
               h->http_minor);
    if (p->ll.type == HTTP_RESPONSE)
        FUZZ_CHECK(h->status >= 100 && h->status <= 599, "status %d accepted", h->status);
    else
        FUZZ_CHECK(h->url_len > 0, "request without a target accepted");
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *name = http_head_str(h, hd->name_off);
        const char *value = http_head_str(h, hd->value_off);
        FUZZ_CHECK(hd->name_len > 0, "header %u: empty name accepted", i);
        FUZZ_CHECK((size_t)hd->name_off + hd->name_len <= strs, "header %u name outside strs", i);
        FUZZ_CHECK((size_t)hd->value_off + hd->value_len <= strs || hd->value_len == 0,
                   "header %u value outside strs", i);
        for (uint32_t k = 0; k < hd->name_len; k++)
            FUZZ_CHECK(fuzz_http_is_tchar((unsigned char)name[k]),
                       "header %u: name byte 0x%02x is not a token character", i,
                       (unsigned char)name[k]);
        for (uint32_t k = 0; k < hd->value_len; k++)
            FUZZ_CHECK(value[k] != '\r' && value[k] != '\n' && value[k] != '\0',
                       "header %u: value byte 0x%02x", i, (unsigned char)value[k]);
    }
    FUZZ_CHECK(h->head_bytes <= p->head_max_bytes, "head of %zu bytes read, limit %zu",
               h->head_bytes, p->head_max_bytes);
}

static int fuzz_http_on_head(struct http_parser *p)
{
    struct fuzz_http *f = p->data;
    /* head_bytes is set after this callback; the bytes read so far bound it. */
    FUZZ_CHECK(p->msg_bytes <= p->head_max_bytes, "on_head after %zu bytes, limit %zu",
               p->msg_bytes, p->head_max_bytes);
    fuzz_http_check_head(p, p->head);
    f->streamed = 0;
    return 0;
}

/* Header names that describe framing: left out of a head written back without its body. */
static int fuzz_http_is_framing(const char *name, size_t len)
{
    return http_str_ieq(name, len, "Content-Length") ||
           http_str_ieq(name, len, "Transfer-Encoding");
}

/* Writes h back as a forwarded head and parses it again: same start line, same headers. */
static void fuzz_http_reparse(enum http_kind kind, const struct http_head *h)
{
    struct buf out;
    struct http_parser p2;
    struct http_head h2;
    size_t used = 0;
    uint32_t kept = 0;
    int rc;

    buf_init(&out, FUZZ_HTTP_REWRITE_BYTES);
    if (kind == HTTP_KIND_REQUEST)
        rc = buf_printf(&out, "%s %.*s HTTP/1.1\r\n", http_head_method(h), (int)h->url_len,
                        http_head_str(h, h->url_off));
    else
        rc = buf_printf(&out, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason_len,
                        http_head_str(h, h->reason_off));
    for (uint32_t i = 0; i < h->n_headers && rc == 0; i++) {
        const struct http_header *hd = &h->headers[i];
        if (fuzz_http_is_framing(http_head_str(h, hd->name_off), hd->name_len))
            continue;
        kept++;
        rc = buf_printf(&out, "%.*s: %.*s\r\n", (int)hd->name_len, http_head_str(h, hd->name_off),
                        (int)hd->value_len, http_head_str(h, hd->value_off));
    }
    if (rc == 0)
        rc = buf_append_str(&out, "\r\n");
    FUZZ_CHECK(rc == 0, "writing the head back: %d", rc);

    http_head_init(&h2, 0);
    http_parser_init(&p2, kind, NULL, NULL);
    p2.head_max_bytes = FUZZ_HTTP_REWRITE_BYTES;
    p2.head_request = true; /* a response head alone: no body follows */
    http_parser_begin(&p2, &h2);
    enum http_parse_result r = http_parser_execute(&p2, out.base, out.len, &used);
    if (r == HTTP_PARSE_MORE && kind == HTTP_KIND_RESPONSE)
        r = http_parser_finish(&p2);
    FUZZ_CHECK(r == HTTP_PARSE_COMPLETE, "head written back does not parse (%s): %.*s",
               p2.error_msg ? p2.error_msg : "incomplete", (int)out.len, out.base);
    FUZZ_CHECK(used == out.len, "head written back: %zu of %zu bytes used", used, out.len);
    FUZZ_CHECK(h2.n_headers == kept, "%u headers read back, %u written", h2.n_headers, kept);
    if (kind == HTTP_KIND_REQUEST) {
        FUZZ_CHECK(h2.method == h->method, "method changed");
        FUZZ_CHECK(h2.url_len == h->url_len &&
                       memcmp(http_head_str(&h2, h2.url_off), http_head_str(h, h->url_off),
                              h->url_len) == 0,
                   "target changed");
    } else {
        FUZZ_CHECK(h2.status == h->status, "status changed");
    }
    for (uint32_t i = 0, j = 0; i < h->n_headers; i++) {
        const struct http_header *a = &h->headers[i];
        if (fuzz_http_is_framing(http_head_str(h, a->name_off), a->name_len))
            continue;
        const struct http_header *b = &h2.headers[j++];
        FUZZ_CHECK(a->name_len == b->name_len && a->value_len == b->value_len &&
                       memcmp(http_head_str(h, a->name_off), http_head_str(&h2, b->name_off),
                              a->name_len) == 0 &&
                       memcmp(http_head_str(h, a->value_off), http_head_str(&h2, b->value_off),
                              a->value_len) == 0,
                   "header %u reads back different: %.*s: %.*s", i, (int)a->name_len,
                   http_head_str(h, a->name_off), (int)a->value_len,
                   http_head_str(h, a->value_off));
    }
    http_head_close(&h2);
    buf_close(&out);
}

/* A complete message: the body is what its head announced. */
static void fuzz_http_check_complete(struct fuzz_http *f, enum http_kind kind, bool at_eof)
{
    struct http_parser *p = &f->p;
    struct http_head *h = &f->h;

    FUZZ_CHECK(p->head_done, "complete without a head");
    fuzz_http_check_head(p, h);
    if (p->body_mode == HTTP_BODY_COLLECT)
        FUZZ_CHECK(h->body_bytes == h->body.len, "body_bytes %zu, body.len %zu", h->body_bytes,
                   h->body.len);
    else
        FUZZ_CHECK(h->body_bytes == f->streamed && h->body.len == 0,
                   "body_bytes %zu, streamed %zu, body.len %zu", h->body_bytes, f->streamed,
                   h->body.len);
    FUZZ_CHECK(h->body_bytes <= p->body_max_bytes, "body of %zu bytes, limit %zu", h->body_bytes,
               p->body_max_bytes);
    if (kind == HTTP_KIND_RESPONSE)
        FUZZ_CHECK(h->no_body == (p->head_request || http_head_is_interim(h) || h->status == 204 ||
                                  h->status == 304),
                   "status %d, head_request %d: no_body %d", h->status, p->head_request,
                   h->no_body);
    else
        FUZZ_CHECK(!h->no_body, "a request without a body by status");
    if (h->no_body)
        FUZZ_CHECK(h->body_bytes == 0, "%zu body bytes in a bodiless answer", h->body_bytes);
    else if (h->content_length >= 0 && !h->chunked)
        FUZZ_CHECK(h->body_bytes == (size_t)h->content_length,
                   "Content-Length %lld, %zu body bytes", (long long)h->content_length,
                   h->body_bytes);
    else if (kind == HTTP_KIND_REQUEST && !h->chunked)
        FUZZ_CHECK(h->body_bytes == 0, "a request without length has %zu body bytes",
                   h->body_bytes);
    if (at_eof) /* only a response whose body is delimited by the end of the stream */
        FUZZ_CHECK(kind == HTTP_KIND_RESPONSE && h->content_length < 0 && !h->chunked &&
                       !h->no_body,
                   "completed by EOF");
    fuzz_http_reparse(kind, h);
}

static size_t fuzz_http_piece(struct fuzz_http *f, uint8_t most, size_t left)
{
    size_t n;
    if (most == 255)
        return left;
    f->rng = f->rng * 1103515245u + 12345u; /* any fixed sequence will do */
    n = 1 + (f->rng >> 16) % ((size_t)most + 1);
    return n < left ? n : left;
}

static int fuzz_http_run(enum http_kind kind, const uint8_t *data, size_t size)
{
    struct fuzz_http f;
    uint8_t mode, most;
    const char *in;
    size_t len, off = 0;
    size_t limit_head = HTTP_HEAD_MAX_BYTES_DEFAULT;

    if (size < FUZZ_HTTP_CONFIG_BYTES)
        return 0;
    mode = data[0];
    most = data[1];
    memset(&f, 0, sizeof(f));
    f.rng = data[2];
    in = (const char *)data + FUZZ_HTTP_CONFIG_BYTES;
    len = size - FUZZ_HTTP_CONFIG_BYTES;

    http_head_init(&f.h, 0);
    http_parser_init(&f.p, kind, &fuzz_http_cb, &f);
    if (mode & 8)
        limit_head = FUZZ_HTTP_SMALL_HEAD_BYTES;
    for (;;) {
        enum http_parse_result r = HTTP_PARSE_MORE;
        size_t used = 0;
        size_t start = off;

        f.p.head_max_bytes = limit_head;
        f.p.body_max_bytes = (mode & 8) ? FUZZ_HTTP_SMALL_BODY_BYTES : FUZZ_HTTP_BODY_BYTES;
        f.p.head_request = kind == HTTP_KIND_RESPONSE && (mode & 4);
        http_parser_begin(&f.p, &f.h);
        f.streamed = 0;
        if (mode & 1)
            f.p.body_mode = HTTP_BODY_STREAM;
        while (off < len) {
            size_t n = fuzz_http_piece(&f, most, len - off);
            const char *at = in + off;
            /* The proxy reads the rest of a push body of known length into the body's own
             * free space (never more than that rest); do so too, so the in-place path of
             * on_body is taken. */
            if ((mode & 2) && f.p.head_done && !f.p.complete &&
                f.p.body_mode == HTTP_BODY_COLLECT && f.h.content_length > 0 && !f.h.chunked &&
                !f.h.no_body) {
                size_t want = (size_t)f.h.content_length - f.h.body_bytes;
                if (n > want)
                    n = want;
                if (n > 0 && buf_reserve(&f.h.body, n) == 0) {
                    memcpy(f.h.body.base + f.h.body.len, at, n);
                    at = f.h.body.base + f.h.body.len;
                }
            }
            r = http_parser_execute(&f.p, at, n, &used);
            FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
            if (r == HTTP_PARSE_MORE)
                FUZZ_CHECK(used == n, "MORE after %zu of %zu bytes", used, n);
            if (r == HTTP_PARSE_ERROR) {
                FUZZ_CHECK(f.p.error_status >= 400 && f.p.error_status <= 599 && f.p.error_msg,
                           "error %d without a reason", f.p.error_status);
                FUZZ_CHECK(http_parser_execute(&f.p, at, n, &used) == HTTP_PARSE_ERROR,
                           "a failed parser went on");
                goto done;
            }
            off += used;
            FUZZ_CHECK(f.p.head_done || off - start <= f.p.head_max_bytes,
                       "%zu head bytes read, limit %zu", off - start, f.p.head_max_bytes);
            if (r == HTTP_PARSE_COMPLETE)
                break;
        }
        if (r != HTTP_PARSE_COMPLETE) {
            bool busy = http_parser_busy(&f.p);
            r = http_parser_finish(&f.p);
            if (r == HTTP_PARSE_COMPLETE) {
                FUZZ_CHECK(busy, "finish completed a message that had not begun");
                fuzz_http_check_complete(&f, kind, true);
            }
            goto done;
        }
        fuzz_http_check_complete(&f, kind, false);
        if (!f.h.keep_alive || off == len)
            goto done; /* callers close after a message that is not keep-alive */
    }
done:
    http_head_close(&f.h);
    return 0;
}

#endif
