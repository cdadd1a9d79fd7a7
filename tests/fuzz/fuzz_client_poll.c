/* fuzz_client_poll.c - libFuzzer target: what the client reads from the proxy and from its
 * operator. The input is the body of a poll answer (a serialized scrape request, as
 * tests/fuzz/corpus/client_poll/ shows), given to work_parse() as poll.c does; the same
 * bytes up to the first NUL are also a --proxy-url (client_parse_proxy_url) and a
 * --scrape.allow spec (target_allowlist_add).
 *
 * Checked on an accepted answer: the Id is 1..WORK_ID_MAX-1 visible ASCII characters; a
 * timeout is 0..WORK_TIMEOUT_MAX_MS, or missing with a reason; a usable target has a host
 * without blanks, a port in 1..65535 and a path starting with '/' without control
 * characters, and writing it back (target_format) and reading it again gives the same
 * target; --scrape.allow lets through only what it lists. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "target.h"
#include "work.h"

/* Longest string given to the operator-facing parsers: a command-line argument. */
#define FUZZ_POLL_ARG_MAX 4096

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct target_allowlist allow;
static bool allow_ready;

static void check_target(const struct target *t)
{
    size_t host_len = strnlen(t->host, sizeof(t->host));
    size_t path_len = strnlen(t->path, sizeof(t->path));
    FUZZ_CHECK(host_len > 0 && host_len < sizeof(t->host), "host of %zu bytes", host_len);
    for (size_t i = 0; i < host_len; i++)
        FUZZ_CHECK((unsigned char)t->host[i] > ' ' && (unsigned char)t->host[i] < 0x7f,
                   "host byte 0x%02x", (unsigned char)t->host[i]);
    FUZZ_CHECK(t->port >= 1 && t->port <= 65535, "port %d", t->port);
    FUZZ_CHECK(path_len > 0 && path_len < sizeof(t->path) && t->path[0] == '/', "path %.*s",
               (int)path_len, t->path);
    FUZZ_CHECK(t->path_len <= path_len, "path_len %zu > %zu", t->path_len, path_len);
    for (size_t i = 0; i < path_len; i++)
        FUZZ_CHECK((unsigned char)t->path[i] > ' ' && t->path[i] != 0x7f, "path byte 0x%02x",
                   (unsigned char)t->path[i]);

    /* Written back and read again: the same target (the URL in logs and error pushes is the
     * one scraped). */
    char url[TARGET_HOST_MAX + TARGET_PATH_MAX + 32];
    struct target t2;
    const char *why = NULL;
    FUZZ_CHECK(target_format(t, url, sizeof(url)) == 0, "target does not format");
    FUZZ_CHECK(target_parse(url, strlen(url), &t2, &why) == 0, "%s reads back as: %s", url, why);
    FUZZ_CHECK(t2.https == t->https && t2.port == t->port && strcmp(t2.host, t->host) == 0 &&
                   strcmp(t2.path, t->path) == 0 && t2.path_len == t->path_len,
               "%s reads back as another target", url);

    /* --scrape.allow=9100 --scrape.allow=8080/probe: only those. */
    if (target_allowed(&allow, t)) {
        FUZZ_CHECK(t->port == 9100 || t->port == 8080, "port %d allowed", t->port);
        if (t->port == 8080)
            FUZZ_CHECK(t->path_len >= 6 && memcmp(t->path, "/probe", 6) == 0 &&
                           (t->path_len == 6 || t->path[6] == '/'),
                       "path %s allowed on 8080", t->path);
    }
    (void)target_host_matches(t, "node1.example.com");
}

static void check_work(const char *data, size_t size)
{
    struct work w;
    const char *why = NULL;

    work_init(&w);
    int rc = work_parse(&w, data, size, &why);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "work_parse rc %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0', "refused without a reason");
        work_close(&w);
        return;
    }
    size_t id_len = strnlen(w.id, sizeof(w.id));
    FUZZ_CHECK(id_len > 0 && id_len < WORK_ID_MAX, "Id of %zu bytes", id_len);
    for (size_t i = 0; i < id_len; i++)
        FUZZ_CHECK((unsigned char)w.id[i] > ' ' && (unsigned char)w.id[i] < 0x7f, "Id byte 0x%02x",
                   (unsigned char)w.id[i]);
    if (w.timeout_why == NULL)
        FUZZ_CHECK(w.timeout_ms >= 0 && (uint64_t)w.timeout_ms <= WORK_TIMEOUT_MAX_MS,
                   "timeout %lld ms", (long long)w.timeout_ms);
    else
        FUZZ_CHECK(w.timeout_ms == -1, "timeout %lld ms with a reason", (long long)w.timeout_ms);
    FUZZ_CHECK(w.head.http_major == 1 && w.head.http_minor <= 1, "HTTP/%d.%d", w.head.http_major,
               w.head.http_minor);
    if (w.target_why == NULL)
        check_target(&w.target);
    for (uint32_t i = 0; i < w.head.n_headers; i++)
        (void)http_header_is_hop_by_hop(http_head_str(&w.head, w.head.headers[i].name_off),
                                        w.head.headers[i].name_len);
    work_close(&w);
}

static void check_operator_input(const char *s)
{
    struct proxy_url u;
    const char *why = NULL;
    if (client_parse_proxy_url(s, &u, &why) == 0) {
        FUZZ_CHECK(u.host[0] != '\0' && u.port >= 1 && u.port <= 65535, "proxy %s:%d", u.host,
                   u.port);
        FUZZ_CHECK(u.poll_path[0] == '/' && u.push_path[0] == '/', "paths %s %s", u.poll_path,
                   u.push_path);
    } else {
        FUZZ_CHECK(why != NULL, "proxy URL refused without a reason");
    }

    struct target_allowlist al = {.n = 0};
    int rc = target_allowlist_add(&al, s);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "allowlist rc %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(al.n == 1, "%zu entries", al.n);
        FUZZ_CHECK(al.items[0].port >= 1 && al.items[0].port <= 65535, "port %d", al.items[0].port);
        FUZZ_CHECK(memchr(al.items[0].prefix, '\0', sizeof(al.items[0].prefix)) != NULL,
                   "prefix not terminated");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!allow_ready) {
        FUZZ_CHECK(target_allowlist_add(&allow, "9100") == 0, "allowlist");
        FUZZ_CHECK(target_allowlist_add(&allow, "8080/probe") == 0, "allowlist");
        allow_ready = true;
    }
    /* A copy of exactly size bytes, so ASan sees any read past the answer. */
    char *body = malloc(size ? size : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    check_work(body, size);
    free(body);

    size_t n = strnlen((const char *)data, size);
    if (n < FUZZ_POLL_ARG_MAX) {
        char arg[FUZZ_POLL_ARG_MAX];
        memcpy(arg, data, n);
        arg[n] = '\0';
        check_operator_input(arg);
    }
    return 0;
}
