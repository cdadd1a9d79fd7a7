/* fuzz_client_push.c - libFuzzer target: an exporter's answer, as the client reads it,
 * turned into the inner response of a push (push_framing, push_inner_head) and read back
 * as the proxy reads a push: a response to a request it does not know, ending at the end
 * of the push body at the latest.
 *
 * Input: one configuration byte (bit 0: the scrape was a HEAD request), then the bytes
 * the exporter sent, up to the end of its connection. Checked for every answer the client
 * accepts (push_check_head): the push is one complete response within the proxy's default
 * limits using every byte of it (the proxy and the scraper wait for nothing more), with
 * the exporter's status and exactly its body (none for a 1xx, 204, 304 or HEAD answer). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "push.h"

/* The client's --scrape.max-size, small: inputs are small too (-max_len). */
#define FUZZ_PUSH_BODY_MAX_BYTES (256 * 1024)

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reads the inner response of a push as the proxy does; checks it against the exporter's. */
static void check_push(const struct buf *inner, const struct http_head *ex)
{
    struct http_parser p;
    struct http_head h;
    size_t used = 0;

    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.body_max_bytes = FUZZ_PUSH_BODY_MAX_BYTES;
    http_parser_begin(&p, &h);
    enum http_parse_result r = http_parser_execute(&p, inner->base, inner->len, &used);
    if (r == HTTP_PARSE_MORE)
        r = http_parser_finish(&p);
    else if (r == HTTP_PARSE_COMPLETE)
        FUZZ_CHECK(used == inner->len, "push of %zu bytes, the response ends after %zu", inner->len,
                   used);
    FUZZ_CHECK(r == HTTP_PARSE_COMPLETE, "push does not parse (%s): %.*s",
               p.error_msg ? p.error_msg : "incomplete", (int)inner->len, inner->base);
    FUZZ_CHECK(h.status == ex->status, "status %d pushed as %d", ex->status, h.status);
    FUZZ_CHECK(h.body.len == ex->body.len &&
                   (h.body.len == 0 || memcmp(h.body.base, ex->body.base, h.body.len) == 0),
               "body of %zu bytes pushed as %zu", ex->body.len, h.body.len);
    size_t id_len = 0;
    const char *id = http_head_get(&h, "Id", &id_len);
    FUZZ_CHECK(id != NULL && id_len == 3 && memcmp(id, "a.b", 3) == 0, "Id lost");
    http_head_close(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_parser p;
    struct http_head h;
    struct buf inner;
    size_t used = 0;

    if (size < 1)
        return 0;
    http_head_init(&h, 0);
    buf_init(&inner, PUSH_HEAD_MAX_BYTES + FUZZ_PUSH_BODY_MAX_BYTES);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.head_request = data[0] & 1;
    p.head_max_bytes = PUSH_EXPORTER_HEAD_MAX_BYTES; /* as the scrape reads exporters */
    p.body_max_bytes = FUZZ_PUSH_BODY_MAX_BYTES;
    http_parser_begin(&p, &h);
    enum http_parse_result r = http_parser_execute(&p, (const char *)data + 1, size - 1, &used);
    if (r == HTTP_PARSE_MORE)
        r = http_parser_finish(&p);
    /* httpc reads on after a 1xx other than 101; the scrape refuses a 101, and an answer
     * push_check_head() refuses (it pushes a 500 saying why instead). */
    const char *why = NULL;
    if (r != HTTP_PARSE_COMPLETE || http_head_is_interim(&h) || push_check_head(&h, &why) != 0)
        goto out;

    enum push_framing framing = push_framing(&h);
    if (framing == PUSH_NO_BODY)
        FUZZ_CHECK(h.body.len == 0, "%zu body bytes in a bodiless answer", h.body.len);
    if (framing == PUSH_STREAM)
        FUZZ_CHECK(h.content_length >= 0 && h.body.len == (size_t)h.content_length,
                   "streamed answer: Content-Length %lld, %zu body bytes",
                   (long long)h.content_length, h.body.len);
    FUZZ_CHECK(push_inner_head(&inner, &h, "a.b", 1.5, h.body.len) == 0, "inner head too large");
    if (framing != PUSH_NO_BODY)
        FUZZ_CHECK(buf_append(&inner, h.body.base, h.body.len) == 0, "push too large");
    check_push(&inner, &h);
out:
    buf_close(&inner);
    http_head_close(&h);
    return 0;
}
