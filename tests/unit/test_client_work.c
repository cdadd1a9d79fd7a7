/* test_client_work.c - parsing a poll answer into a scrape instruction, the exporter
 * request's header filter, the push bodies and the proxy URL. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../client/client.h"
#include "../../client/push.h"
#include "../../client/work.h"

static struct work w;

static void setup(void)
{
    work_init(&w);
}
static void teardown(void)
{
    work_close(&w);
}

static int parse(const char *s, const char **why)
{
    *why = NULL;
    return work_parse(&w, s, strlen(s), why);
}

#define REQ(extra) "GET http://node1:9100/metrics HTTP/1.1\r\nHost: node1:9100\r\n" extra "\r\n"

Test(work, poll_answer_with_id_and_timeout_is_parsed, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse(REQ("Id: abc-123\r\nX-Prometheus-Scrape-Timeout-Seconds: 9.5\r\n"), &why),
                 0);
    cr_assert_str_eq(w.id, "abc-123");
    cr_assert_eq(w.timeout_ms, 9500);
    cr_assert_null(w.timeout_why);
    cr_assert_null(w.target_why);
    cr_assert_str_eq(w.target.host, "node1");
    cr_assert_eq(w.target.port, 9100);
    cr_assert_str_eq(http_head_method(&w.head), "GET");
}

Test(work, id_header_name_is_case_insensitive, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse(REQ("id: x\r\nx-prometheus-scrape-timeout-seconds: 10\r\n"), &why), 0);
    cr_assert_str_eq(w.id, "x");
    cr_assert_eq(w.timeout_ms, 10000);
}

Test(work, missing_timeout_is_kept_for_a_pushed_500, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse(REQ("Id: x\r\n"), &why), 0);
    cr_assert_eq(w.timeout_ms, -1);
    cr_assert_not_null(w.timeout_why);
    cr_assert(strstr(w.timeout_why, "X-Prometheus-Scrape-Timeout-Seconds") != NULL);
}

Test(work, bad_timeouts_are_flagged, .init = setup, .fini = teardown)
{
    const char *why;
    const char *bad[] = {"abc", "-1", "nan", "1e400", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), REQ("Id: x\r\nX-Prometheus-Scrape-Timeout-Seconds: %s\r\n"),
                 bad[i]);
        cr_assert_eq(parse(req, &why), 0);
        cr_assert_eq(w.timeout_ms, -1, "[%s]", bad[i]);
        cr_assert_not_null(w.timeout_why);
    }
}

Test(work, huge_timeout_is_clamped, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse(REQ("Id: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 1e9\r\n"), &why), 0);
    cr_assert_eq((uint64_t)w.timeout_ms, WORK_TIMEOUT_MAX_MS);
}

Test(work, answer_without_id_is_not_work, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse(REQ("X-Prometheus-Scrape-Timeout-Seconds: 1\r\n"), &why), -EINVAL);
    cr_assert(strstr(why, "Id") != NULL);
}

Test(work, garbage_and_truncated_answers_are_not_work, .init = setup, .fini = teardown)
{
    const char *why;
    const char *bad[] = {"",
                         "this is not a request\r\n\r\n",
                         "<html>502 Bad Gateway</html>",
                         "GET http://h:1/ HTTP/1.1\r\nId: x\r\n",
                         "HTTP/1.1 200 OK\r\n\r\n",
                         "GET http://h:1/ HTTP/1.1\r\nId: a b\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i], &why), -EINVAL, "[%s] accepted", bad[i]);
        cr_assert_not_null(why);
    }
}

Test(work, relative_url_is_flagged_as_a_bad_target, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: h\r\nId: x\r\n\r\n", &why), 0);
    cr_assert_not_null(w.target_why);
}

Test(work, request_body_is_kept, .init = setup, .fini = teardown)
{
    const char *why;
    cr_assert_eq(parse("POST http://h:1/x HTTP/1.1\r\nId: x\r\nContent-Length: 3\r\n\r\nabc", &why),
                 0);
    cr_assert_eq(w.head.body.len, 3);
    cr_assert_eq(memcmp(w.head.body.base, "abc", 3), 0);
}

Test(push, exporter_head_drops_its_own_id_and_keeps_its_length)
{
    struct http_parser p;
    struct http_head h;
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    http_parser_begin(&p, &h);
    const char *res = "HTTP/1.1 200 OK\r\nId: theirs\r\nContent-Length: 7\r\n"
                      "X-Prometheus-Scrape-Timeout: 99\r\nKeep-Alive: timeout=5\r\n"
                      "Proxy-Connection: keep-alive\r\nX-Other: 1\r\n\r\n";
    size_t used;
    http_parser_execute(&p, res, strlen(res), &used);
    cr_assert(p.head_done);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(push_inner_head(&b, &h, "ours", 2.0, 0), 0);
    cr_assert_eq(buf_append(&b, "", 1), 0);
    cr_assert_str_eq(b.base, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Other: 1\r\n"
                             "Id: ours\r\nX-Prometheus-Scrape-Timeout: 2.000000\r\n\r\n");
    buf_close(&b);
    http_head_close(&h);
}

Test(push, error_push_is_a_500_with_id_and_remaining_time)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(push_inner_error(&b, "abc", 1.5, "boom"), 0);
    cr_assert_eq(buf_append(&b, "", 1), 0);
    cr_assert(strstr(b.base, "HTTP/1.1 500 ") == b.base);
    cr_assert(strstr(b.base, "\r\nId: abc\r\n") != NULL);
    cr_assert(strstr(b.base, "\r\nX-Prometheus-Scrape-Timeout: 1.500000\r\n") != NULL);
    cr_assert(strstr(b.base, "Content-Length: 4\r\n") != NULL);
    cr_assert(strstr(b.base, "\r\n\r\nboom") != NULL);
    buf_close(&b);
}

Test(push, exporter_head_keeps_headers_and_drops_hop_by_hop)
{
    struct http_parser p;
    struct http_head h;
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.body_max_bytes = 100;
    http_parser_begin(&p, &h);
    const char *res = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: keep-alive\r\n"
                      "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n";
    size_t used;
    http_parser_execute(&p, res, strlen(res), &used);
    cr_assert(p.head_done);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(push_framing(&h), PUSH_COLLECT);
    cr_assert_eq(push_inner_head(&b, &h, "id1", 2.0, 42), 0);
    cr_assert_eq(buf_append(&b, "", 1), 0);
    cr_assert(strstr(b.base, "HTTP/1.1 200 OK\r\n") == b.base);
    cr_assert(strstr(b.base, "Content-Encoding: gzip\r\n") != NULL);
    cr_assert(strstr(b.base, "Content-Type: text/plain\r\n") != NULL);
    cr_assert(strstr(b.base, "Content-Length: 42\r\n") != NULL);
    cr_assert(strstr(b.base, "Transfer-Encoding") == NULL);
    cr_assert(strstr(b.base, "Connection") == NULL);
    cr_assert(strstr(b.base, "Id: id1\r\n") != NULL);
    buf_close(&b);
    http_head_close(&h);
}

/* Parses an exporter's answer head (head_request: the request was HEAD), then writes the
 * inner push for it with no body (these answers have none) and checks that a response
 * parser that does not know the request, as the proxy's, finds the push complete: the
 * proxy and Prometheus are not left waiting for a body that never comes. */
static void push_of_bodiless_answer(const char *res, bool head_request, struct buf *b)
{
    struct http_parser p;
    struct http_head h;
    size_t used;
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.head_request = head_request;
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, res, strlen(res), &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(used, strlen(res));
    cr_assert_eq(push_framing(&h), PUSH_NO_BODY, "%s", res);
    cr_assert_eq(push_inner_head(b, &h, "id1", 2.0, 0), 0);

    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, b->base, b->len, &used), HTTP_PARSE_COMPLETE,
                 "the proxy would wait for more than the push has: %.*s", (int)b->len, b->base);
    cr_assert_eq(used, b->len);
    cr_assert_eq(h.body_bytes, 0);
    cr_assert_eq(buf_append(b, "", 1), 0);
    http_head_close(&h);
}

Test(push, not_modified_with_a_length_is_pushed_without_a_body)
{
    struct buf b;
    buf_init(&b, 4096);
    push_of_bodiless_answer(
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n", false, &b);
    cr_assert(strstr(b.base, "HTTP/1.1 304 Not Modified\r\n") == b.base);
    cr_assert(strstr(b.base, "Content-Length: 10\r\n") != NULL, "kept as sent: %s", b.base);
    cr_assert(strstr(b.base, "ETag: \"x\"\r\n") != NULL);
    buf_close(&b);
}

Test(push, no_content_with_length_or_chunked_is_pushed_without_a_body)
{
    struct buf b;
    buf_init(&b, 4096);
    push_of_bodiless_answer("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, &b);
    buf_reset(&b);
    push_of_bodiless_answer("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", false,
                            &b);
    buf_close(&b);
}

Test(push, answer_to_head_is_pushed_with_length_zero)
{
    struct buf b;
    buf_init(&b, 4096);
    push_of_bodiless_answer(
        "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n", true, &b);
    cr_assert(strstr(b.base, "HTTP/1.1 200 OK\r\n") == b.base);
    cr_assert(strstr(b.base, "Content-Length: 0\r\n") != NULL, "%s", b.base);
    cr_assert(strstr(b.base, "1234") == NULL, "%s", b.base);
    cr_assert(strstr(b.base, "Content-Type: text/plain\r\n") != NULL);
    buf_reset(&b);
    push_of_bodiless_answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &b);
    cr_assert(strstr(b.base, "Transfer-Encoding") == NULL, "%s", b.base);
    buf_close(&b);
}

Test(push, answer_with_length_is_streamed_unchanged)
{
    struct http_parser p;
    struct http_head h;
    size_t used;
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.body_max_bytes = 100;
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, res, strlen(res), &used), HTTP_PARSE_COMPLETE);
    cr_assert_eq(push_framing(&h), PUSH_STREAM);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(push_inner_head(&b, &h, "id1", 2.0, 0), 0);
    cr_assert_eq(buf_append(&b, "", 1), 0);
    cr_assert(strstr(b.base, "Content-Length: 3\r\n") != NULL, "%s", b.base);
    buf_close(&b);
    http_head_close(&h);
}

/* ---- found by fuzz_client_push ---- */

/* Parses an exporter answer as the client does and, if push_check_head() lets it through,
 * writes its push and parses that as the proxy does, with the default limits. Returns
 * push_check_head()'s result. */
static int push_with_default_limits(const char *res)
{
    struct http_parser p;
    struct http_head h;
    struct buf b;
    size_t used;
    const char *why = NULL;
    char id[WORK_ID_MAX];
    memset(id, 'i', sizeof(id) - 1); /* the longest Id */
    id[sizeof(id) - 1] = '\0';
    http_head_init(&h, 0);
    http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
    p.head_max_bytes = PUSH_EXPORTER_HEAD_MAX_BYTES;
    p.body_max_bytes = 100;
    http_parser_begin(&p, &h);
    cr_assert_eq(http_parser_execute(&p, res, strlen(res), &used), HTTP_PARSE_COMPLETE, "%s",
                 p.error_msg);
    int rc = push_check_head(&h, &why);
    if (rc == 0) {
        buf_init(&b, PUSH_HEAD_MAX_BYTES);
        cr_assert_eq(push_inner_head(&b, &h, id, WORK_TIMEOUT_MAX_MS / 1000.0, 0), 0);
        http_parser_init(&p, HTTP_KIND_RESPONSE, NULL, NULL);
        http_parser_begin(&p, &h);
        cr_assert_eq(http_parser_execute(&p, b.base, b.len, &used), HTTP_PARSE_COMPLETE,
                     "the proxy refuses the push: %s", p.error_msg ? p.error_msg : "incomplete");
        buf_close(&b);
    } else {
        cr_assert_not_null(why);
    }
    http_head_close(&h);
    return rc;
}

static char *answer_with_headers(int n)
{
    static char res[HTTP_HEAD_MAX_BYTES_DEFAULT];
    strcpy(res, "HTTP/1.1 200\r\nContent-Length: 0\r\n");
    for (int i = 1; i < n; i++)
        snprintf(res + strlen(res), sizeof(res) - strlen(res), "X-%d:v\r\n", i);
    strcat(res, "\r\n");
    return res;
}

Test(push, answer_with_too_many_headers_for_a_push_is_refused_by_the_client)
{
    /* 100 headers were read, the push added Id and X-Prometheus-Scrape-Timeout, and the
     * proxy refused a push of 102 headers while the scraper waited. */
    cr_assert_eq(push_with_default_limits(answer_with_headers(PUSH_EXPORTER_MAX_HEADERS)), 0);
    cr_assert_eq(push_with_default_limits(answer_with_headers(PUSH_EXPORTER_MAX_HEADERS + 1)),
                 -E2BIG);
    cr_assert_eq(push_with_default_limits(answer_with_headers(HTTP_MAX_HEADERS)), -E2BIG);
}

Test(push, largest_exporter_head_still_fits_a_push)
{
    /* A head of PUSH_EXPORTER_HEAD_MAX_BYTES on the wire, with as many "n:v" headers as
     * allowed and no reason phrase, grows the most; its push must fit the proxy's limit. */
    static char res[HTTP_HEAD_MAX_BYTES_DEFAULT];
    strcpy(res, answer_with_headers(PUSH_EXPORTER_MAX_HEADERS - 1));
    res[strlen(res) - 2] = '\0'; /* reopen the head */
    size_t room = PUSH_EXPORTER_HEAD_MAX_BYTES - strlen(res) - strlen("B:\r\n\r\n");
    strcat(res, "B:");
    memset(res + strlen(res), 'b', room);
    strcpy(res + strlen(res), "\r\n\r\n");
    cr_assert_eq(strlen(res), PUSH_EXPORTER_HEAD_MAX_BYTES);
    cr_assert_eq(push_with_default_limits(res), 0);
}

Test(proxy_url, poll_and_push_paths_resolve_like_go)
{
    struct proxy_url u;
    const char *why;
    cr_assert_eq(client_parse_proxy_url("http://proxy:8080", &u, &why), 0);
    cr_assert_str_eq(u.host, "proxy");
    cr_assert_eq(u.port, 8080);
    cr_assert_str_eq(u.poll_path, "/poll");
    cr_assert_str_eq(u.push_path, "/push");
    cr_assert_str_eq(u.host_header, "proxy:8080");
    cr_assert_eq(client_parse_proxy_url("https://p.example.com/sub/", &u, &why), 0);
    cr_assert(u.tls);
    cr_assert_eq(u.port, 443);
    cr_assert_str_eq(u.poll_path, "/sub/poll");
    cr_assert_eq(client_parse_proxy_url("http://p/sub", &u, &why), 0);
    cr_assert_eq(u.port, 80);
    cr_assert_str_eq(u.push_path, "/push");
    /* An IP address is checked against the certificate's IP SANs (tls.c): accepted. */
    cr_assert_eq(client_parse_proxy_url("https://10.0.0.5:8443/", &u, &why), 0);
    cr_assert_str_eq(u.host, "10.0.0.5");
    cr_assert_eq(client_parse_proxy_url("https://[fd00::5]/", &u, &why), 0);
    cr_assert_str_eq(u.host, "fd00::5");
    cr_assert_neq(client_parse_proxy_url("proxy:8080", &u, &why), 0);
    cr_assert_neq(client_parse_proxy_url("http://", &u, &why), 0);
}
