/* http.h - HTTP/1.1 message parsing on top of llhttp, and the few writers we need.
 *
 * One struct http_parser reads a stream of messages (requests on a server connection,
 * responses on a client one): keep-alive, pipelined input, chunked bodies and absolute-form
 * request targets all come from llhttp. The parser copies what it must keep of a head (the
 * target, the reason phrase, header names and values) into a struct http_head, bounded by
 * head_max_bytes and HTTP_MAX_HEADERS; the body is either handed to on_body as it arrives
 * (no copy) or collected into head->body up to body_max_bytes.
 *
 * http_parser_execute() stops at the end of each message and says how many bytes it used,
 * so pipelined bytes after a message are the caller's to keep until it is ready for the
 * next one. Errors carry the HTTP status a server should answer (400, 413, 431) and a
 * reason naming the limit or the defect.
 *
 * Strictness: what is forwarded must be what RFC 9110/9112 allow, since a lenient reading
 * here and a different one downstream is how requests get smuggled. llhttp 8.1 is built in
 * its strict mode (the Makefile), with no lenient flag on, and its leniencies that remain
 * are refused here with 400: the raw bytes of each head, and of a chunked body's trailer
 * section, are checked before llhttp sees them (CRLF line ends only, no obsolete line
 * folding, header names made of token characters, a status code of exactly three digits),
 * and a complete head must be HTTP/1.0 or 1.1 with a status in 100..599. The same check
 * bounds a head by the bytes READ (head_max_bytes: start line, headers, the blank line and
 * any empty lines before the start line, as on the wire): llhttp is never handed a byte of
 * a head beyond that limit.
 *
 * Ownership: a parser and its head belong to the one thread that feeds it. */
#ifndef PUSHPROX_HTTP_H
#define PUSHPROX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "buf.h"

/* Most headers in one message. Go's net/http has no count limit, only a 1 MiB head; 100
 * is far beyond what Prometheus or an exporter sends and keeps a head's index small. */
#define HTTP_MAX_HEADERS 100
/* Default bound for one head (request/status line, headers and the blank line), in bytes
 * read from the wire. Go's net/http allows 1 MiB; exporters send a few hundred bytes. */
#define HTTP_HEAD_MAX_BYTES_DEFAULT (64 * 1024)
/* Longest request target we accept (a scrape URL with its query). */
#define HTTP_URL_MAX_BYTES 8192

enum http_kind { HTTP_KIND_REQUEST = HTTP_REQUEST, HTTP_KIND_RESPONSE = HTTP_RESPONSE };

/* Body handling chosen by the caller for the message being parsed. */
enum http_body_mode {
    /* Into head->body, bounded by body_max_bytes (default). A caller may read from the
     * socket straight into head->body's free space (base + len, up to cap) and execute
     * on those bytes: they are recognised as in place and not copied. */
    HTTP_BODY_COLLECT = 0,
    HTTP_BODY_STREAM, /* to cb.on_body as it arrives; counted against body_max_bytes */
};

struct http_header {
    uint32_t name_off, name_len;   /* in head->strs */
    uint32_t value_off, value_len; /* in head->strs */
};

/* The parsed head of one message, plus its body in COLLECT mode. */
struct http_head {
    struct buf strs;                 /* target, reason, header names and values, back to back */
    uint32_t url_off, url_len;       /* requests */
    uint32_t reason_off, reason_len; /* responses */
    int method;                      /* llhttp_method_t, requests */
    int status;                      /* responses */
    int http_major, http_minor;
    uint32_t n_headers;
    struct http_header headers[HTTP_MAX_HEADERS];
    int64_t content_length; /* -1 if none was given */
    bool chunked;
    bool keep_alive; /* valid once the head is complete */
    /* Responses: no body follows, whatever Content-Length or Transfer-Encoding say: a 1xx,
     * 204 or 304 answer, or the answer to a HEAD request (RFC 9112 section 6.3). Set before
     * on_head is called; content_length and chunked still report the headers as sent. */
    bool no_body;
    size_t head_bytes; /* bytes of the head on the wire, including the blank line */
    size_t body_bytes; /* body bytes seen so far (decoded, without chunk framing) */
    struct buf body;   /* HTTP_BODY_COLLECT */
};

struct http_parser;

struct http_parser_cb {
    /* The head is complete. Return 0 to go on, or an HTTP status (>= 400) to fail the
     * message with that status (http_parser_execute then returns HTTP_PARSE_ERROR). The
     * callback may change p->body_mode and p->body_max_bytes for this message. */
    int (*on_head)(struct http_parser *p);
    /* HTTP_BODY_STREAM only: a piece of body. at points into the data being executed.
     * Return 0, or an HTTP status to fail the message. */
    int (*on_body)(struct http_parser *p, const char *at, size_t len);
};

struct http_parser {
    llhttp_t ll;
    const struct http_parser_cb *cb; /* static, shared by every parser of one kind of owner */
    void *data;                      /* the owner's, untouched */
    struct http_head *head; /* set with http_parser_begin() before the first byte of a message */
    size_t head_max_bytes;  /* bytes read for one head, and for one trailer section */
    size_t body_max_bytes;
    enum http_body_mode body_mode;
    /* Responses: the request was HEAD, so the answer has no body. Set by the caller before
     * the response's first byte; http_parser_begin() keeps it (a 1xx before the answer
     * does not change it), http_parser_init() clears it. */
    bool head_request;
    /* Parsing state of the current message. */
    size_t msg_bytes; /* wire bytes of the current message consumed so far */
    uint8_t last_cb;  /* which string llhttp last handed us (internal) */
    /* The raw check of a head or trailer section (internal, see http.c). */
    uint8_t scan;        /* where in the section the next byte falls; 0 outside one */
    uint8_t scan_digits; /* digits of the status code seen so far */
    size_t scan_bytes;   /* bytes of the section read so far */
    bool in_message;
    bool head_done;
    bool complete;
    /* Set when http_parser_execute() returns HTTP_PARSE_ERROR. */
    int error_status;      /* 400, 413, 431, or the status on_head/on_body returned */
    const char *error_msg; /* static text naming the defect or limit */
};

enum http_parse_result {
    HTTP_PARSE_ERROR = -1,
    HTTP_PARSE_MORE = 0,     /* every byte used; the message is not complete */
    HTTP_PARSE_COMPLETE = 1, /* one message is complete; *used may be < len */
};

/* Sets up a parser for requests or responses. cb must outlive the parser (make it a
 * static const). Allocates nothing; can't fail. */
void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_parser_cb *cb,
                      void *data);

/* Gives the parser the head to fill for the next message and resets that head (its
 * storage is kept). Call before feeding the first byte of each message. */
void http_parser_begin(struct http_parser *p, struct http_head *head);

/* Feeds bytes (data may be NULL when len is 0). Stops at the end of a message (HTTP_PARSE_COMPLETE;
 * *used says how many bytes it took) or when the bytes run out (HTTP_PARSE_MORE, *used == len).
 * After COMPLETE, call http_parser_begin() before feeding the rest. On HTTP_PARSE_ERROR the parser
 * is dead: answer p->error_status and close the connection. */
enum http_parse_result http_parser_execute(struct http_parser *p, const char *data, size_t len,
                                           size_t *used);

/* The peer closed the stream. Completes a message whose body ends at EOF (a response
 * without Content-Length). Returns HTTP_PARSE_COMPLETE, HTTP_PARSE_MORE when no message
 * had begun, or HTTP_PARSE_ERROR for a truncated one. */
enum http_parse_result http_parser_finish(struct http_parser *p);

/* True while a message has begun and is not complete. */
static inline bool http_parser_busy(const struct http_parser *p)
{
    return p->in_message && !p->complete;
}

void http_head_init(struct http_head *h, size_t body_max_bytes);
void http_head_close(struct http_head *h);
void http_head_reset(struct http_head *h);

/* The string at off in the head's store. Never NULL: a head whose strings are all empty
 * has no store (strs.base is NULL) and gets "" for every offset, which is 0 for them all. */
static inline const char *http_head_str(const struct http_head *h, uint32_t off)
{
    return h->strs.base != NULL ? h->strs.base + off : "";
}
/* True for an interim (1xx) response. Such an answer is never a request's final answer:
 * an HTTP client reads on for the real one, and a push whose inner response is a 1xx (the
 * parser completes it with its head, since a 1xx has no body) must be refused, not relayed:
 *     if (http_head_is_interim(ih)) refuse("pushed response is an interim (1xx) answer");
 * Requests have status 0, so this is false for them. */
static inline bool http_head_is_interim(const struct http_head *h)
{
    return h->status >= 100 && h->status < 200;
}
/* The first header with this name (case-insensitive), or NULL. *len gets its length.
 * Values are not NUL-terminated. */
const char *http_head_get(const struct http_head *h, const char *name, size_t *len);
/* Method name ("GET"), for requests. */
const char *http_head_method(const struct http_head *h);

/* Writes "HTTP/1.1 <status> <reason>\r\n". */
int http_write_status_line(struct buf *out, int status);
/* The standard reason phrase ("Not Found"), "Unknown" if none. */
const char *http_reason(int status);
/* A whole short response: status line, Content-Type: text/plain; charset=utf-8,
 * Content-Length, an optional extra header block (lines ending in \r\n, or NULL),
 * a blank line and body. */
int http_write_simple(struct buf *out, int status, const char *extra_headers, const char *body,
                      size_t body_len);

/* Case-insensitive comparison of a counted string with a C string. */
bool http_str_ieq(const char *a, size_t a_len, const char *b);

/* Whether a header describes one hop (one connection) rather than the message, and so is
 * never forwarded from one connection to the next (RFC 9110 7.6.1): Connection,
 * Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Trailer, Upgrade. */
bool http_header_is_hop_by_hop(const char *name, size_t len);

/* What http_write_headers() leaves out besides the hop-by-hop headers. */
enum http_copy_flags {
    HTTP_COPY_ALL = 0,
    /* Content-Length and Transfer-Encoding: the writer frames the body itself. */
    HTTP_COPY_DROP_FRAMING = 1,
};

/* Appends "Name: value\r\n" for each header of h in order, except the hop-by-hop ones, the
 * framing ones when flags say so, and those named in drop (a NULL-terminated list, or
 * NULL). Returns how many it wrote, or -E2BIG/-ENOMEM from buf (out then holds a partial
 * list). */
int http_write_headers(struct buf *out, const struct http_head *h, unsigned flags,
                       const char *const *drop);

#endif
