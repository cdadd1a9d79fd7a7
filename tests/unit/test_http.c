/* test_http.c - the llhttp wrapper: heads, bodies, limits, pipelining, responses. */
#include <criterion/criterion.h>
#include <string.h>

#include "http.h"

static struct http_parser p;
static struct http_head h;

static void setup_req(void)
{
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_REQUEST, NULL, NULL);
    p.body_max_bytes = 1 << 20;
    http_parser_begin(&p, &h);
}

static void setup_res(void)
{
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.body_max_bytes = 1 << 20;
    http_parser_begin(&p, &h);
}

static void teardown(void)
{
    http_head_close(&h);
}

static enum http_parse_result feed(const char *s, size_t *used)
{
    size_t u;
    enum http_parse_result r = http_parser_execute(&p, s, strlen(s), used ? used : &u);
    return r;
}

static const char *header(const char *name)
{
    static char out[256];
    size_t len;
    const char *v = http_head_get(&h, name, &len);
    if (!v)
        return NULL;
    snprintf(out, sizeof(out), "%.*s", (int)len, v);
    return out;
}

Test(http, absolute_uri_request_without_body_completes_at_end_of_data, .init = setup_req,
     .fini = teardown)
{
    const char *req =
        "GET http://node1.example.com:9100/metrics?x=1 HTTP/1.1\r\n"
        "Host: node1.example.com:9100\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
    size_t used;
    cr_assert_eq(feed(req, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen(req));
    cr_assert_eq(h.head_bytes, strlen(req));
    cr_assert_str_eq(http_head_method(&h), "GET");
    cr_assert_eq(h.url_len, strlen("http://node1.example.com:9100/metrics?x=1"));
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "http://node1", 12), 0);
    cr_assert_str_eq(header("x-prometheus-scrape-timeout-seconds"), "10");
    cr_assert(h.keep_alive);
}

Test(http, request_split_byte_by_byte_gives_same_head, .init = setup_req, .fini = teardown)
{
    const char *req = "POST /poll HTTP/1.1\r\nHost: p\r\nContent-Length: 10\r\n\r\nnode1.test";
    enum http_parse_result r = HTTP_PARSE_MORE;
    size_t used;
    for (size_t i = 0; i < strlen(req); i++) {
        r = http_parser_execute(&p, req + i, 1, &used);
        cr_assert_eq(used, 1);
        if (i + 1 < strlen(req))
            cr_assert_eq(r, HTTP_PARSE_MORE, "completed early at byte %zu", i);
    }
    cr_assert_eq(r, HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.body.len, 10);
    cr_assert_eq(memcmp(h.body.base, "node1.test", 10), 0);
    cr_assert_str_eq(header("Host"), "p");
}

Test(http, pipelined_requests_stop_at_each_message_boundary, .init = setup_req, .fini = teardown)
{
    const char *two =
        "GET /clients HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: b\r\n\r\n";
    size_t used;
    cr_assert_eq(feed(two, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen("GET /clients HTTP/1.1\r\nHost: a\r\n\r\n"));
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "/clients", 8), 0);
    http_parser_begin(&p, &h);
    size_t used2;
    cr_assert_eq(http_parser_execute(&p, two + used, strlen(two) - used, &used2),
                 HTTP_PARSE_COMPLETE);
    cr_assert_eq(used + used2, strlen(two));
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "/metrics", 8), 0);
    cr_assert_str_eq(header("host"), "b");
}

Test(http, chunked_body_is_collected_decoded, .init = setup_req, .fini = teardown)
{
    const char *req = "POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    cr_assert_eq(feed(req, NULL), HTTP_PARSE_COMPLETE);
    cr_assert(h.chunked);
    cr_assert_eq(h.body.len, 11);
    cr_assert_eq(memcmp(h.body.base, "hello world", 11), 0);
}

Test(http, body_over_limit_by_content_length_is_413, .init = setup_req, .fini = teardown)
{
    p.body_max_bytes = 4;
    cr_assert_eq(feed("POST /push HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", NULL),
                 HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 413);
}

Test(http, chunked_body_over_limit_is_413, .init = setup_req, .fini = teardown)
{
    p.body_max_bytes = 4;
    cr_assert_eq(
        feed("POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
             NULL),
        HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 413);
}

Test(http, too_many_headers_is_431, .init = setup_req, .fini = teardown)
{
    char req[8192] = "GET /metrics HTTP/1.1\r\n";
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        snprintf(req + strlen(req), sizeof(req) - strlen(req), "X-H%d: v\r\n", i);
    strcat(req, "\r\n");
    cr_assert_eq(feed(req, NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, head_over_limit_is_431, .init = setup_req, .fini = teardown)
{
    static char req[8192];
    p.head_max_bytes = 1024;
    http_parser_begin(&p, &h);
    strcpy(req, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(req + strlen(req), 'a', 2000);
    strcat(req, "\r\n\r\n");
    cr_assert_eq(feed(req, NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, url_over_limit_is_414, .init = setup_req, .fini = teardown)
{
    static char req[HTTP_URL_MAX_BYTES + 100];
    strcpy(req, "GET /");
    memset(req + 5, 'a', HTTP_URL_MAX_BYTES);
    strcpy(req + 5 + HTTP_URL_MAX_BYTES, " HTTP/1.1\r\n\r\n");
    cr_assert_eq(feed(req, NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 414);
}

Test(http, garbage_is_400_and_parser_stays_failed, .init = setup_req, .fini = teardown)
{
    cr_assert_eq(feed("\x01\x02 not http\r\n\r\n", NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 400);
    cr_assert_not_null(p.error_msg);
    cr_assert_eq(feed("GET / HTTP/1.1\r\n\r\n", NULL), HTTP_PARSE_ERROR);
}

Test(http, connection_close_request_is_not_keep_alive, .init = setup_req, .fini = teardown)
{
    cr_assert_eq(feed("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", NULL),
                 HTTP_PARSE_COMPLETE);
    cr_assert_not(h.keep_alive);
}

Test(http, response_with_length_reports_head_bytes_and_status, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: a.b\r\n\r\nabcEXTRA";
    size_t used;
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.content_length, 3);
    cr_assert_eq(h.head_bytes, strlen(res) - strlen("abcEXTRA"));
    cr_assert_eq(used, strlen(res) - strlen("EXTRA"));
    cr_assert_str_eq(header("id"), "a.b");
    cr_assert_eq(h.reason_len, 2);
}

Test(http, response_without_length_ends_at_finish, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until eof";
    cr_assert_eq(feed(res, NULL), HTTP_PARSE_MORE);
    cr_assert_eq(http_parser_finish(&p), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.body.len, strlen("body until eof"));
}

Test(http, truncated_response_fails_at_finish, .init = setup_res, .fini = teardown)
{
    cr_assert_eq(feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", NULL), HTTP_PARSE_MORE);
    cr_assert_eq(http_parser_finish(&p), HTTP_PARSE_ERROR);
}

static size_t streamed;
static int count_body(struct http_parser *sp, const char *at, size_t len)
{
    streamed += len;
    return 0;
}
static const struct http_parser_cb stream_cb = {.on_body = count_body};

Test(http, stream_mode_hands_body_to_callback_without_collecting, .fini = teardown)
{
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, &stream_cb, NULL);
    p.body_max_bytes = 100;
    http_parser_begin(&p, &h);
    p.body_mode = HTTP_BODY_STREAM;
    streamed = 0;
    cr_assert_eq(feed("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n1234567", NULL),
                 HTTP_PARSE_COMPLETE);
    cr_assert_eq(streamed, 7);
    cr_assert_eq(h.body.len, 0);
    cr_assert_eq(h.body_bytes, 7);
}

Test(http, write_simple_makes_a_complete_response)
{
    struct buf out;
    buf_init(&out, 4096);
    cr_assert_eq(http_write_simple(&out, 404, NULL, "nope\n", 5), 0);
    cr_assert_eq(memcmp(out.base, "HTTP/1.1 404 Not Found\r\n", 24), 0);
    cr_assert_not_null(memmem(out.base, out.len, "Content-Length: 5\r\n", 19));
    cr_assert_eq(memcmp(out.base + out.len - 9, "\r\n\r\nnope\n", 9), 0);
    cr_assert_str_eq(http_reason(799), "Unknown");
    buf_close(&out);
}

Test(http, body_read_into_its_own_free_space_is_not_copied, .init = setup_req, .fini = teardown)
{
    const char *head = "POST /push HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    cr_assert_eq(feed(head, NULL), HTTP_PARSE_MORE);
    cr_assert_eq(h.body.len, 4);
    cr_assert_eq(buf_reserve(&h.body, 6), 0);
    char *tail = h.body.base + h.body.len;
    memcpy(tail, "456789", 6); /* as a socket read into the free space would */
    size_t used;
    cr_assert_eq(http_parser_execute(&p, tail, 6, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.body.len, 10);
    cr_assert_eq(memcmp(h.body.base, "0123456789", 10), 0);
}

Test(http, trailers_stay_out_of_the_head, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nId: 1\r\n\r\n"
                      "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
    size_t used;
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen(res));
    cr_assert_eq(h.n_headers, 2);
    cr_assert_null(header("X-Trailer"));
}

Test(http, not_modified_with_content_length_has_no_body, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\n";
    size_t used;
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"));
    cr_assert_eq(h.head_bytes, used);
    cr_assert_eq(h.status, 304);
}

Test(http, continue_is_a_message_of_its_own, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t used, used2;
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.status, 100);
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, res + used, strlen(res) - used, &used2),
                 HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.body.len, 2);
}

/* ---- hardening: what a fuzz run (libFuzzer, clang ASan+UBSan) found ---- */

Test(http, head_strings_are_never_null_even_when_nothing_was_stored, .init = setup_req,
     .fini = teardown)
{
    /* A head whose strings are all empty never allocates its store; pointer arithmetic
     * on that NULL is undefined (clang's UBSan aborts on it). */
    cr_assert_null(h.strs.base);
    cr_assert_not_null(http_head_str(&h, h.url_off));
    cr_assert_null(http_head_get(&h, "Host", NULL));
    cr_assert_eq(feed("CONNECT \r\n\r\n", NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 400);
    cr_assert_not_null(http_head_str(&h, h.url_off));
    cr_assert_null(http_head_get(&h, "Host", NULL));
}

Test(http, response_header_with_empty_name_is_400, .init = setup_res, .fini = teardown)
{
    cr_assert_eq(feed("HTTP/1.1 200 OK\r\n:\r\n\r\n", NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 400);
    cr_assert_not_null(http_head_str(&h, 0));
}

/* Each must be refused with 400; llhttp 8.1 lets them all through. */
static const char *const bad_requests[] = {
    "GET / HTTP/1.1\r\n: x\r\n\r\n",         /* empty header name */
    "GET / HTTP/1.1\r\nA b: x\r\n\r\n",      /* space in a header name */
    "GET / HTTP/1.1\r\nAb : x\r\n\r\n",      /* space before the colon */
    "GET / HTTP/1.1\r\nA\"b: x\r\n\r\n",     /* '"' is not a token character */
    "GET / HTTP/1.1\r\nA\x80: x\r\n\r\n",    /* nor is a non-ASCII byte */
    "GET /\r\n\r\n",                         /* HTTP/0.9: no version */
    "CONNECT \r\n\r\n",                      /* no target, no version */
    "GET / HTTP/0.9\r\n\r\n",                /* version 0.9 */
    "GET / HTTP/2.0\r\n\r\n",                /* version 2.0 */
    "GET / HTTP/1.1\r\nA: x\r\n y\r\n\r\n",  /* obsolete line folding */
    "GET / HTTP/1.1\r\nA: x\r\n\ty\r\n\r\n", /* folding with a tab */
    "GET / HTTP/1.1\r\n A: x\r\n\r\n",       /* whitespace before the first header */
    "GET / HTTP/1.1\r\nA: x\r\n\n",          /* bare LF ends the head */
    "GET / HTTP/1.1\n\r\n",                  /* bare LF ends the request line */
    "GET / HTTP/1.1\r\nA: x\nB: y\r\n\r\n",  /* bare LF ends a header */
    "GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",     /* bare CR in a header */
    "\nGET / HTTP/1.1\r\n\r\n",              /* bare LF before the request line */
    "GET /\ta HTTP/1.1\r\n\r\n",             /* a tab in the target */
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n: t\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA b: t\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: t\r\n u\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: t\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n",
};

Test(http, requests_llhttp_is_lenient_about_are_400)
{
    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
        setup_req();
        enum http_parse_result r = feed(bad_requests[i], NULL);
        if (r == HTTP_PARSE_MORE)
            r = http_parser_finish(&p);
        cr_assert_eq(r, HTTP_PARSE_ERROR, "accepted bad request %zu: %s", i, bad_requests[i]);
        cr_assert_eq(p.error_status, 400, "request %zu: status %d", i, p.error_status);
        cr_assert_not_null(p.error_msg);
        teardown();
    }
}

static const char *const bad_responses[] = {
    "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n",        /* empty header name */
    "HTTP/1.1 200 OK\r\nA b: x\r\nContent-Length: 0\r\n\r\n",     /* space in a header name */
    "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n",               /* below 100 */
    "HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n",               /* above 599 */
    "HTTP/1.1 1 OK\r\nContent-Length: 0\r\n\r\n",                 /* one digit */
    "HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n",              /* four digits */
    "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",              /* two spaces: no code */
    "HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",               /* not a number */
    "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",               /* version 2.0 */
    "HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n",               /* version 0.9 */
    "HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n", /* folding */
    "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",                 /* bare LF: status line */
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",                 /* bare LF: blank line */
    "HTTP/1.1 200 OK\r\nContent-Length: 0\rX: y\r\n\r\n",         /* bare CR */
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n:x\r\n\r\n",
};

Test(http, responses_llhttp_is_lenient_about_are_400)
{
    for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
        setup_res();
        enum http_parse_result r = feed(bad_responses[i], NULL);
        if (r == HTTP_PARSE_MORE)
            r = http_parser_finish(&p);
        cr_assert_eq(r, HTTP_PARSE_ERROR, "accepted bad response %zu: %s", i, bad_responses[i]);
        cr_assert_eq(p.error_status, 400, "response %zu: status %d", i, p.error_status);
        teardown();
    }
}

/* What must still pass: the checks above are not a blanket refusal. */
static const char *const good_requests[] = {
    "GET / HTTP/1.0\r\n\r\n",
    "\r\n\r\nGET / HTTP/1.1\r\n\r\n", /* empty lines before a request are skipped */
    "GET / HTTP/1.1\r\nX-a!#$%&'*+-.^_`|~09: v a l\r\nEmpty:\r\n\r\n",
    "GET / HTTP/1.1\r\nUtf8: caf\xc3\xa9\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;e=1\r\nx\r\n0\r\nT: 1\r\n\r\n",
};

static const char *const good_responses[] = {
    "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", /* no reason phrase, no space */
    "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.0 599 Whatever it is\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
};

Test(http, strict_checks_keep_ordinary_messages)
{
    for (size_t i = 0; i < sizeof(good_requests) / sizeof(good_requests[0]); i++) {
        setup_req();
        cr_assert_eq(feed(good_requests[i], NULL), HTTP_PARSE_COMPLETE, "request %zu: %s", i,
                     p.error_msg ? p.error_msg : "incomplete");
        teardown();
    }
    for (size_t i = 0; i < sizeof(good_responses) / sizeof(good_responses[0]); i++) {
        setup_res();
        cr_assert_eq(feed(good_responses[i], NULL), HTTP_PARSE_COMPLETE, "response %zu: %s", i,
                     p.error_msg ? p.error_msg : "incomplete");
        teardown();
    }
}

Test(http, strict_checks_hold_when_fed_byte_by_byte)
{
    /* The checks see the raw bytes; a defect split across reads is still found. */
    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
        setup_req();
        enum http_parse_result r = HTTP_PARSE_MORE;
        size_t used;
        for (size_t k = 0; k < strlen(bad_requests[i]) && r == HTTP_PARSE_MORE; k++)
            r = http_parser_execute(&p, bad_requests[i] + k, 1, &used);
        if (r == HTTP_PARSE_MORE)
            r = http_parser_finish(&p);
        cr_assert_eq(r, HTTP_PARSE_ERROR, "accepted bad request %zu byte by byte", i);
        teardown();
    }
    for (size_t i = 0; i < sizeof(good_requests) / sizeof(good_requests[0]); i++) {
        setup_req();
        enum http_parse_result r = HTTP_PARSE_MORE;
        size_t used;
        for (size_t k = 0; k < strlen(good_requests[i]) && r == HTTP_PARSE_MORE; k++)
            r = http_parser_execute(&p, good_requests[i] + k, 1, &used);
        cr_assert_eq(r, HTTP_PARSE_COMPLETE, "request %zu byte by byte: %s", i,
                     p.error_msg ? p.error_msg : "incomplete");
        teardown();
    }
}

Test(http, no_lenient_flag_is_on, .init = setup_req, .fini = teardown)
{
    cr_assert_eq(p.ll.lenient_flags, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    cr_assert_eq(p.ll.lenient_flags, 0);
}

Test(http, head_limit_counts_bytes_read_not_kept, .init = setup_req, .fini = teardown)
{
    /* 200,000 spaces before the target: llhttp skips them, nothing is kept, yet they are
     * head bytes on the wire. */
    static char req[200100];
    size_t used;
    strcpy(req, "GET");
    memset(req + 3, ' ', 200000);
    strcpy(req + 200003, "/ HTTP/1.1\r\n\r\n");
    cr_assert_eq(http_parser_execute(&p, req, strlen(req), &used), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, head_limit_is_exact_and_includes_leading_empty_lines, .fini = teardown)
{
    const char *req = "\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t used;
    setup_req();
    p.head_max_bytes = strlen(req);
    http_parser_begin(&p, &h);
    cr_assert_eq(feed(req, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.head_bytes, strlen(req));
    teardown();

    setup_req();
    p.head_max_bytes = strlen(req) - 1;
    http_parser_begin(&p, &h);
    cr_assert_eq(feed(req, &used), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, response_head_limit_counts_bytes_read, .init = setup_res, .fini = teardown)
{
    static char res[8192];
    size_t used;
    p.head_max_bytes = 1024;
    http_parser_begin(&p, &h);
    strcpy(res, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 90; i++)
        strcat(res, "A: b\r\n"); /* 540 bytes on the wire */
    strcat(res, "Content-Length: 0\r\n\r\n");
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE, "%s", p.error_msg);
    http_parser_begin(&p, &h);
    strcpy(res, "HTTP/1.1 200 OK\r\nA:");
    memset(res + strlen(res), ' ', 1100); /* value whitespace: skipped, not kept */
    strcat(res, "b\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(feed(res, &used), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, trailers_are_bounded_by_the_head_limit, .init = setup_req, .fini = teardown)
{
    static char req[8192];
    p.head_max_bytes = 1024;
    http_parser_begin(&p, &h);
    strcpy(req, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n");
    for (int i = 0; i < 200; i++)
        strcat(req, "T: t\r\n");
    strcat(req, "\r\n");
    cr_assert_eq(feed(req, NULL), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 431);
}

Test(http, pipelined_messages_after_trailers_still_parse, .init = setup_req, .fini = teardown)
{
    const char *two = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n"
                      "\r\nGET /b HTTP/1.1\r\n\r\n";
    size_t used, used2;
    cr_assert_eq(feed(two, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.body.len, 1);
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, two + used, strlen(two) - used, &used2),
                 HTTP_PARSE_COMPLETE);
    cr_assert_eq(used + used2, strlen(two));
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "/b", 2), 0);
}

Test(http, answers_without_a_body_say_so, .init = setup_res, .fini = teardown)
{
    const char *bodiless[] = {
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nContent-Length: 10\r\n\r\n",
    };
    size_t used;
    for (size_t i = 0; i < sizeof(bodiless) / sizeof(bodiless[0]); i++) {
        http_parser_begin(&p, &h);
        cr_assert_eq(feed(bodiless[i], &used), HTTP_PARSE_COMPLETE, "answer %zu", i);
        cr_assert_eq(used, strlen(bodiless[i]));
        cr_assert(h.no_body, "answer %zu", i);
        cr_assert_eq(h.body_bytes, 0);
    }
    http_parser_begin(&p, &h);
    cr_assert_eq(feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &used),
                 HTTP_PARSE_COMPLETE);
    cr_assert_not(h.no_body);
}

Test(http, answer_to_head_has_no_body_whatever_its_length, .init = setup_res, .fini = teardown)
{
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n";
    size_t used;
    p.head_request = true;
    http_parser_begin(&p, &h);
    cr_assert(p.head_request, "begin keeps the caller's setting");
    cr_assert_eq(feed(res, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"));
    cr_assert(h.no_body);
    cr_assert_eq(h.content_length, 1234, "the header is reported as sent");
}

Test(http, interim_answers_are_recognised, .init = setup_res, .fini = teardown)
{
    size_t used;
    cr_assert_eq(feed("HTTP/1.1 100 Continue\r\n\r\n", &used), HTTP_PARSE_COMPLETE);
    cr_assert(http_head_is_interim(&h));
    http_parser_begin(&p, &h);
    cr_assert_eq(feed("HTTP/1.1 199 Odd\r\n\r\n", &used), HTTP_PARSE_COMPLETE);
    cr_assert(http_head_is_interim(&h));
    http_parser_begin(&p, &h);
    cr_assert_eq(feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &used), HTTP_PARSE_COMPLETE);
    cr_assert_not(http_head_is_interim(&h));
}

Test(http, interim_check_is_false_for_requests, .init = setup_req, .fini = teardown)
{
    cr_assert_eq(feed("GET / HTTP/1.1\r\n\r\n", NULL), HTTP_PARSE_COMPLETE);
    cr_assert_not(http_head_is_interim(&h));
}

Test(http, execute_accepts_an_empty_null_buffer, .init = setup_req, .fini = teardown)
{
    size_t used = 1;
    cr_assert_eq(http_parser_execute(&p, NULL, 0, &used), HTTP_PARSE_MORE);
    cr_assert_eq(used, 0);
}

/* ---- found by fuzz_http_request ---- */

Test(http, connect_is_refused_not_completed_without_its_body, .init = setup_req, .fini = teardown)
{
    /* The body of a CONNECT (here a request of its own) was left to be parsed as the
     * next request: the message completed with Content-Length 19 and no body read. */
    const char *req = "CONNECT sh HTTP/1.1\r\nHost: p\r\nContent-Length: 19\r\n\r\n"
                      "GET /x HTTP/1.1\r\n\r\n";
    size_t used;
    cr_assert_eq(feed(req, &used), HTTP_PARSE_ERROR);
    cr_assert_eq(p.error_status, 400);
}

Test(http, upgrade_request_is_read_as_http_with_its_body, .init = setup_req, .fini = teardown)
{
    /* A server may ignore Upgrade (RFC 9110 section 7.8); then the body is the body, and
     * what follows it the next request, not the start of another protocol. */
    const char *req = "POST /push HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
                      "Content-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n\r\n";
    size_t used, used2;
    cr_assert_eq(feed(req, &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(h.body.len, 5);
    cr_assert_eq(memcmp(h.body.base, "hello", 5), 0);
    cr_assert_eq(used, strlen(req) - strlen("GET /next HTTP/1.1\r\n\r\n"));
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, req + used, strlen(req) - used, &used2),
                 HTTP_PARSE_COMPLETE);
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "/next", 5), 0);
}

Test(http, upgrade_request_without_body_is_an_ordinary_request, .init = setup_req, .fini = teardown)
{
    const char *two = "GET /metrics HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                      "GET /clients HTTP/1.1\r\n\r\n";
    size_t used, used2;
    cr_assert_eq(feed(two, &used), HTTP_PARSE_COMPLETE);
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, two + used, strlen(two) - used, &used2),
                 HTTP_PARSE_COMPLETE, "%s", p.error_msg ? p.error_msg : "incomplete");
    cr_assert_eq(memcmp(http_head_str(&h, h.url_off), "/clients", 8), 0);
}
