/* fuzz_proxy_inproc.c - libFuzzer target: the whole proxy in one process, one worker, its loop run
 * by the fuzzer's thread. Each input is what three TCP connections on loopback send: a
 * client's poll, Prometheus's scrape (or anything else a scraper may send: /clients,
 * /metrics, /-/ready, pipelined), and a client's push answering the scrape. So everything
 * the proxy does with a request head runs as in production: conn.c's parsing and limits,
 * routing, the poll's FQDN and announcement headers, the scrape's target and timeout, the
 * scrape request written in proxy form and delivered to the poll, the push's inner
 * response, its Id and the relayed head, and the certificate a trusted front proxy
 * forwards (--web.trusted-proxy=127.0.0.1, header X-PushProx-Client-Cert).
 *
 * Input: up to three parts separated by FUZZ_PROXY_SEP ("\n--8<--\n"): the poll
 * connection's bytes, the scrape connection's, the push connection's. In the push part,
 * every "@ID@" is replaced by the Id the proxy wrote into the scrape request it delivered
 * on the poll connection (when it delivered one), so a valid push reaches the scrape; then
 * the first "@LEN@" by the number of bytes after the end of the head it is in (the
 * "\r\n\r\n" after it), so "Content-Length: @LEN@" frames the push whatever the Id's
 * length.
 * Steps: poll bytes sent, loop run; scrape bytes sent, loop run; push bytes sent, loop
 * run; the three connections closed, loop run until every connection has closed.
 *
 * The loop is run a fixed number of non-blocking turns per step (FUZZ_PROXY_TURNS), enough
 * for a request read, its messages through the worker's inbox to itself and the answer
 * written; no step waits for a timer. Checked: every answer the proxy wrote starts with
 * "HTTP/1.1 " and a status in 100..599 (no 1xx: the proxy sends none); the push
 * connection gets 200 only if the scrape connection got the relayed answer (so a push
 * never reports success that Prometheus did not get); and every connection closes once
 * the peers close theirs (no connection leaks), except one whose request waits with
 * another pipelined behind it (conn.c stops reading then), which is closed as at shutdown. ASan and
 * UBSan check the rest.
 *
 * FUZZ_PROXY_VERBOSE=1 in the environment prints what each connection got (to see what an
 * input does: FUZZ_PROXY_VERBOSE=1 build/fuzz/fuzz_proxy_inproc FILE).
 *
 * Flags as for a small proxy (FUZZ_PROXY_ARGS), so that inputs reach the limits. State
 * that outlives an input: the registry's clients (until --registration.timeout, which no
 * input reaches), the counters. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "budget.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "routes.h"
#include "worker.h"

#define FUZZ_PROXY_SEP "\n--8<--\n"
#define FUZZ_PROXY_ID_MARK "@ID@"
#define FUZZ_PROXY_LEN_MARK "@LEN@"
/* Non-blocking loop turns per step: a request read (1), its message to the FQDN's owner and
 * back through the inbox (2 more), the answer written (1), with room to spare. */
#define FUZZ_PROXY_TURNS 8
/* Turns allowed for every connection to close at the end of an input. */
#define FUZZ_PROXY_CLOSE_TURNS 64
/* What is read back from each connection (answers beyond it are drained and dropped). */
#define FUZZ_PROXY_ANSWER_MAX 65536
/* Longest Id copied from a delivered scrape request. */
#define FUZZ_PROXY_ID_MAX 128

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct worker_group group;
static struct worker *wk;
static int listen_fd = -1;

/* Small limits, so that inputs of a few KiB reach each of them. */
static char *fuzz_proxy_args[] = {
    "pushprox-proxy",
    "--workers=1",
    "--log.level=error",
    "--http.max-header-bytes=2KiB",
    "--push.max-size=4KiB",
    "--push.max-buffered=16KiB",
    "--scrape.max-in-flight=4",
    "--scrape.max-queued-per-fqdn=2",
    "--poll.max-per-fqdn=2",
    "--registration.max-fqdns=64",
    "--web.max-connections=32",
    "--web.trusted-proxy=127.0.0.1",
    NULL,
};

struct peer {
    int fd;
    char answer[FUZZ_PROXY_ANSWER_MAX];
    size_t len;
    bool eof;
};

static void turns(int n)
{
    for (int i = 0; i < n; i++)
        uv_run(&wk->loop, UV_RUN_NOWAIT);
}

/* Reads what the proxy wrote so far, without waiting. */
static void drain(struct peer *p)
{
    char scratch[4096];
    while (p->fd >= 0 && !p->eof) {
        char *dst = p->len < sizeof(p->answer) ? p->answer + p->len : scratch;
        size_t room = p->len < sizeof(p->answer) ? sizeof(p->answer) - p->len : sizeof(scratch);
        ssize_t n = recv(p->fd, dst, room, MSG_DONTWAIT);
        if (n > 0) {
            if (dst != scratch)
                p->len += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            p->eof = true;
        } else {
            break;
        }
    }
}

/* A connection to the proxy: connect on loopback, the accepted end given to the worker as
 * its listener would. */
static bool peer_open(struct peer *p)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    p->fd = -1;
    p->len = 0;
    p->eof = false;
    FUZZ_CHECK(getsockname(listen_fd, (struct sockaddr *)&a, &alen) == 0, "getsockname");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    /* libFuzzer's timer signal may interrupt connect(); on loopback the connection then
     * completes on its own, and accept4() waits for it. */
    int rc = connect(fd, (struct sockaddr *)&a, alen);
    FUZZ_CHECK(rc == 0 || errno == EINTR, "connect: %s", strerror(errno));
    int s;
    do
        s = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (s < 0 && errno == EINTR);
    FUZZ_CHECK(s >= 0, "accept: %s", strerror(errno));
    if (conn_accept(&wk->conns, s, 0) != 0) {
        /* --web.max-connections: the proxy refuses it as the server would. */
        close(s);
        close(fd);
        return false;
    }
    p->fd = fd;
    return true;
}

/* Sends bytes whole; the proxy reads as they come, so the loop turns between pieces when
 * the socket's buffer is full. */
static void peer_send(struct peer *p, const char *data, size_t len)
{
    size_t off = 0;
    for (int tries = 0; p->fd >= 0 && off < len && tries < 1000; tries++) {
        ssize_t n = send(p->fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break; /* the proxy closed it */
        turns(1);
        drain(p);
    }
}

static void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* The status of the first answer, or -1 if it has none. Checks its status line. */
static int first_status(const struct peer *p)
{
    if (p->len == 0)
        return -1;
    FUZZ_CHECK(p->len >= 12 && memcmp(p->answer, "HTTP/1.1 ", 9) == 0, "answer starts %.*s",
               (int)(p->len < 40 ? p->len : 40), p->answer);
    int st = (p->answer[9] - '0') * 100 + (p->answer[10] - '0') * 10 + (p->answer[11] - '0');
    FUZZ_CHECK(st >= 200 && st <= 599, "status %d", st);
    return st;
}

/* The Id the proxy wrote into the scrape request delivered on the poll connection. */
static size_t delivered_id(const struct peer *p, char *id)
{
    static const char key[] = "\r\nId: ";
    const char *end = p->answer + p->len;
    const char *hdr = memmem(p->answer, p->len, "\r\n\r\n", 4);
    if (!hdr)
        return 0;
    /* the scrape request is the poll answer's body */
    const char *body = hdr + 4;
    const char *k = memmem(body, (size_t)(end - body), key, sizeof(key) - 1);
    if (!k)
        return 0;
    const char *v = k + sizeof(key) - 1;
    const char *e = memmem(v, (size_t)(end - v), "\r\n", 2);
    if (!e || e - v == 0 || e - v >= FUZZ_PROXY_ID_MAX)
        return 0;
    memcpy(id, v, (size_t)(e - v));
    return (size_t)(e - v);
}

/* The push part with every "@ID@" replaced by id. */
static char *with_id(const char *s, size_t len, const char *id, size_t id_len, size_t *out_len)
{
    size_t marks = 0, mlen = sizeof(FUZZ_PROXY_ID_MARK) - 1;
    for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), FUZZ_PROXY_ID_MARK, mlen));
         p += mlen)
        marks++;
    char *out = malloc(len + marks * id_len + 1), *o = out;
    if (!out)
        return NULL;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), FUZZ_PROXY_ID_MARK, mlen);
        size_t n = m ? (size_t)(m - p) : (size_t)(end - p);
        memcpy(o, p, n);
        o += n;
        if (!m)
            break;
        memcpy(o, id, id_len);
        o += id_len;
        p = m + mlen;
    }
    *out_len = (size_t)(o - out);
    return out;
}

/* The first "@LEN@" in s replaced by the count of bytes after the next "\r\n\r\n". */
static char *with_len(char *s, size_t len, size_t *out_len)
{
    size_t mlen = sizeof(FUZZ_PROXY_LEN_MARK) - 1;
    char *m = memmem(s, len, FUZZ_PROXY_LEN_MARK, mlen), *out;
    *out_len = len;
    if (!m)
        return s;
    const char *after = m + mlen, *end = s + len;
    const char *hend = memmem(after, (size_t)(end - after), "\r\n\r\n", 4);
    char num[24];
    int n = snprintf(num, sizeof(num), "%zu", hend ? (size_t)(end - hend - 4) : (size_t)0);
    if (!(out = malloc(len - mlen + (size_t)n))) {
        free(s);
        return NULL;
    }
    size_t pre = (size_t)(m - s);
    memcpy(out, s, pre);
    memcpy(out + pre, num, (size_t)n);
    memcpy(out + pre + (size_t)n, after, (size_t)(end - after));
    *out_len = len - mlen + (size_t)n;
    free(s);
    return out;
}

static void setup(void)
{
    int argc = (int)(sizeof(fuzz_proxy_args) / sizeof(fuzz_proxy_args[0])) - 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    signal(SIGPIPE, SIG_IGN);
    config_parse(argc, fuzz_proxy_args);
    log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT, 2);
    budget_init(config.push_max_buffered);
    FUZZ_CHECK(worker_group_init(&group, 1) == 0, "worker_group_init");
    wk = &group.workers[0];
    FUZZ_CHECK(worker_init(wk, &group, 0, routes_table(), dispatch_msg) == 0, "worker_init");
    conn_table_set_listener(&wk->conns, 0, PLANE_ALL, NULL);
    group.running = 1;

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(listen_fd >= 0, "socket");
    FUZZ_CHECK(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
    FUZZ_CHECK(listen(listen_fd, 16) == 0, "listen");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct peer peers[3];
    static const char *const names[3] = {"poll", "scrape", "push"};
    static bool verbose;
    const char *parts[3] = {NULL, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    const char *s = (const char *)data, *end = s + size;
    size_t sep = sizeof(FUZZ_PROXY_SEP) - 1;
    char id[FUZZ_PROXY_ID_MAX];
    size_t id_len = 0;

    if (!wk) {
        setup();
        verbose = getenv("FUZZ_PROXY_VERBOSE") != NULL;
    }
    for (int i = 0; i < 3 && s <= end; i++) {
        const char *m = i < 2 ? memmem(s, (size_t)(end - s), FUZZ_PROXY_SEP, sep) : NULL;
        parts[i] = s;
        lens[i] = m ? (size_t)(m - s) : (size_t)(end - s);
        if (!m)
            break;
        s = m + sep;
    }

    for (int i = 0; i < 3; i++) {
        struct peer *p = &peers[i];
        p->fd = -1;
        p->len = 0;
        p->eof = false;
        if (!parts[i] || lens[i] == 0 || !peer_open(p))
            continue;
        if (i == 2) {
            id_len = delivered_id(&peers[0], id);
            size_t n = 0;
            char *push = with_id(parts[2], lens[2], id, id_len, &n);
            if (push)
                push = with_len(push, n, &n);
            if (push)
                peer_send(p, push, n);
            free(push);
        } else {
            peer_send(p, parts[i], lens[i]);
        }
        turns(FUZZ_PROXY_TURNS);
        for (int j = 0; j <= i; j++)
            drain(&peers[j]);
    }

    /* A push (the push connection's first request) the proxy accepted (200) was relayed to the
     * scrape, which got it as its first answer or after earlier pipelined ones. */
    for (int i = 0; i < 3; i++) {
        if (verbose)
            fprintf(stderr, "--- %s connection got %zu bytes:\n%.*s\n", names[i], peers[i].len,
                    (int)peers[i].len, peers[i].answer);
        (void)first_status(&peers[i]);
    }
    if (first_status(&peers[2]) == 200 && id_len > 0 && lens[2] > 11 &&
        memcmp(parts[2], "POST /push", 10) == 0 && (parts[2][10] == ' ' || parts[2][10] == '?'))
        FUZZ_CHECK(peers[1].len > 0, "push accepted, scrape got nothing");

    for (int i = 0; i < 3; i++)
        peer_close(&peers[i]);
    for (int i = 0; i < FUZZ_PROXY_CLOSE_TURNS && wk->conns.n_open > 0; i++)
        turns(1);
    /* A request that waits (a held poll, a scrape) with another pipelined behind it stops
     * the reading (conn.c, TCP's back-pressure, as Go's server), so its peer's close is seen
     * only when that request ends: such a connection may stay. No other may. */
    for (uint32_t i = 0; i < wk->conns.cap; i++) {
        const struct conn *c = wk->conns.slots[i].c;
        FUZZ_CHECK(!c || (c->state == CONN_WAITING && c->read_stopped && c->pending.len > 0),
                   "connection %u still open in state %d after its peer closed (pending %zu)",
                   (unsigned)i, c ? c->state : -1, c ? c->pending.len : (size_t)0);
    }
    if (wk->conns.n_open > 0) {
        conn_table_close_all(&wk->conns, "fuzz input done");
        for (int i = 0; i < FUZZ_PROXY_CLOSE_TURNS && wk->conns.n_open > 0; i++)
            turns(1);
        FUZZ_CHECK(wk->conns.n_open == 0, "%u connections open after closing all",
                   (unsigned)wk->conns.n_open);
    }
    return 0;
}
