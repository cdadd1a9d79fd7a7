/* test_transport_tls.c - the TLS transport on loopback: a server and clients built on
 * transport_tls_open()/_connect() in one libuv loop. Handshakes, large data both ways in
 * random pieces (with the owner lending buffers and pausing), client certificates under each
 * client_auth_type, the client's checks of the server's name and dates, session resumption,
 * plaintext HTTP to the TLS port, close_notify, and what an idle connection costs. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "tls_certs.h"
#include "transport_tls.h"

/* Most connections one test makes. */
#define MAX_ENDS 512
/* How long a test waits for a condition before it fails. */
#define WAIT_MS 10000
/* The longest wait of run_until(): WAIT_MS, or more in a test that does many handshakes
 * (the CI host may be shared and slow). */
static uint64_t wait_ms = WAIT_MS;

struct end {
    struct transport t;
    struct harness *h;
    bool server;
    bool used;
    bool connected;     /* client: on_connect(0) */
    int connect_status; /* client: what on_connect said */
    bool connect_called;
    bool handshaked; /* server: on_handshake */
    int read_err;    /* the error or UV_EOF on_read got */
    bool clean_end;  /* ... and whether the peer had sent close_notify */
    bool closed;
    char err[TLS_ERR_MAX];
    struct buf rx;
    bool echo; /* server: write back what it reads */
    bool shutdown_on_eof;
    size_t lend_max; /* lend buffers of 1..lend_max bytes (0: the env's) */
    char *lend;
    unsigned pause_pct; /* pause reading after a read this often (%) */
    uv_timer_t resume_timer;
    bool timer_init;
    unsigned written; /* on_written calls */
    int write_status;
};

struct harness {
    uv_loop_t loop;
    struct transport_env srv_env, cli_env;
    int listen_fd;
    uv_poll_t listen_poll;
    int port;
    struct tls_tickets tickets;
    struct tls_conf *srv_conf;
    struct tls_conf *cli_conf;
    struct end ends[MAX_ENDS];
    unsigned n_ends;
    /* for the next accepted connection */
    bool srv_echo;
    size_t srv_lend_max;
    unsigned srv_pause_pct;
    bool srv_shutdown_on_eof;
    uint64_t rng;
    uv_timer_t guard; /* wakes run_until() up */
};

static struct harness *H;

static unsigned rnd(struct harness *h, unsigned n)
{
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    return n ? (unsigned)(h->rng % n) : 0;
}

static struct end *end_of(struct transport *t)
{
    return transport_owner(t, struct end, t);
}

static struct end *new_end(struct harness *h, bool server)
{
    cr_assert(h->n_ends < MAX_ENDS);
    struct end *e = &h->ends[h->n_ends++];
    memset(e, 0, sizeof(*e));
    e->h = h;
    e->server = server;
    e->used = true;
    buf_init(&e->rx, 64u << 20);
    return e;
}

/* --- callbacks --- */

static void on_resume_timer(uv_timer_t *timer)
{
    struct end *e = timer->data;
    if (!e->closed && transport_is_open(&e->t))
        cr_assert_eq(transport_read_start(&e->t), 0);
}

static void on_alloc(struct transport *t, size_t suggested, uv_buf_t *buf)
{
    struct end *e = end_of(t);
    if (e->lend_max == 0 || rnd(e->h, 2) == 0)
        return; /* the env's buffer, half the time */
    if (!e->lend)
        e->lend = malloc(e->lend_max);
    *buf = uv_buf_init(e->lend, 1 + rnd(e->h, (unsigned)e->lend_max));
}

static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *buf)
{
    struct end *e = end_of(t);
    cr_assert_neq(nread, 0);
    if (nread < 0) {
        e->read_err = (int)nread;
        e->clean_end = transport_tls_clean_end(t);
        const char *why = transport_tls_error(t);
        snprintf(e->err, sizeof(e->err), "%s", why ? why : "");
        if (nread == UV_EOF && e->shutdown_on_eof) {
            transport_shutdown(t);
            return;
        }
        transport_close(t);
        return;
    }
    cr_assert_eq(buf_append(&e->rx, buf->base, (size_t)nread), 0);
    if (e->echo) {
        uv_buf_t got = uv_buf_init(buf->base, (unsigned)nread);
        int rc = transport_write_copy(t, &got, 1);
        cr_assert(rc == 0 || rc == 1, "echo write: %s", uv_strerror(rc));
    }
    if (e->pause_pct && rnd(e->h, 100) < e->pause_pct) {
        transport_read_stop(t);
        if (!e->timer_init) {
            uv_timer_init(&e->h->loop, &e->resume_timer);
            e->resume_timer.data = e;
            e->timer_init = true;
        }
        uv_timer_start(&e->resume_timer, on_resume_timer, rnd(e->h, 3), 0);
    }
}

static void on_written(struct transport *t, int status)
{
    struct end *e = end_of(t);
    e->written++;
    if (status < 0)
        e->write_status = status;
}

static void on_closed(struct transport *t)
{
    end_of(t)->closed = true;
}

static void on_connect(struct transport *t, int status)
{
    struct end *e = end_of(t);
    e->connect_called = true;
    e->connect_status = status;
    if (status != 0) {
        const char *why = transport_tls_error(t);
        snprintf(e->err, sizeof(e->err), "%s", why ? why : uv_strerror(status));
        transport_close(t);
        return;
    }
    e->connected = true;
    cr_assert_eq(transport_read_start(t), 0);
}

static void on_handshake(struct transport *t)
{
    struct end *e = end_of(t);
    e->handshaked = true;
    cr_assert(transport_tls_handshake_done(t));
}

static const struct transport_cb srv_cb = {
    .on_alloc = on_alloc,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
    .on_handshake = on_handshake,
};

static const struct transport_cb cli_cb = {
    .on_connect = on_connect,
    .on_alloc = on_alloc,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};

static void on_listen(uv_poll_t *p, int status, int events)
{
    struct harness *h = p->data;
    int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct end *e = new_end(h, true);
    e->echo = h->srv_echo;
    e->lend_max = h->srv_lend_max;
    e->pause_pct = h->srv_pause_pct;
    e->shutdown_on_eof = h->srv_shutdown_on_eof;
    int rc = transport_tls_open(&e->t, &h->srv_env, fd, h->srv_conf);
    cr_assert_eq(rc, 0, "open: %s", uv_strerror(rc));
    cr_assert_eq(transport_read_start(&e->t), 0);
}

/* --- set-up --- */

static struct tls_conf *server_conf(const char *cert, enum tls_client_auth auth, const char *ca)
{
    char err[TLS_ERR_MAX];
    struct tls_server_opts o = {.client_auth = auth};
    char crt[64], key[64];
    snprintf(crt, sizeof(crt), "%s.crt", cert);
    snprintf(key, sizeof(key), "%s.key", cert);
    o.cert_file = cert_path(crt);
    o.key_file = cert_path(key);
    o.client_ca_file = ca ? cert_path(ca) : NULL;
    struct tls_conf *c = tls_conf_new_server(&o, &H->tickets, err, sizeof(err));
    cr_assert(c, "server conf: %s", err);
    return c;
}

static struct tls_conf *client_conf(const char *ca, const char *cert)
{
    char err[TLS_ERR_MAX], crt[64] = "", key[64] = "";
    if (cert) {
        snprintf(crt, sizeof(crt), "%s.crt", cert);
        snprintf(key, sizeof(key), "%s.key", cert);
    }
    struct tls_client_opts o = {.cacert = cert_path(ca),
                                .cert = cert ? cert_path(crt) : NULL,
                                .key = cert ? cert_path(key) : NULL,
                                .what = "--tls"};
    struct tls_conf *c = tls_conf_new_client(&o, err, sizeof(err));
    cr_assert(c, "client conf: %s", err);
    return c;
}

static void setup(void)
{
    wait_ms = WAIT_MS;
    char err[TLS_ERR_MAX];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    signal(SIGPIPE, SIG_IGN);
    H = calloc(1, sizeof(*H));
    H->rng = 0x9e3779b97f4a7c15ull;
    cr_assert_eq(uv_loop_init(&H->loop), 0);
    cr_assert_eq(transport_env_init(&H->srv_env, &H->loop, &srv_cb, 64 * 1024), 0);
    cr_assert_eq(transport_env_init(&H->cli_env, &H->loop, &cli_cb, 64 * 1024), 0);
    cr_assert_eq(tls_tickets_init(&H->tickets, TLS_TICKET_LIFETIME_S, err, sizeof(err)), 0);
    H->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert(H->listen_fd >= 0);
    cr_assert_eq(bind(H->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(H->listen_fd, 512), 0);
    cr_assert_eq(getsockname(H->listen_fd, (struct sockaddr *)&sa, &len), 0);
    H->port = ntohs(sa.sin_port);
    cr_assert_eq(uv_poll_init(&H->loop, &H->listen_poll, H->listen_fd), 0);
    H->listen_poll.data = H;
    cr_assert_eq(uv_poll_start(&H->listen_poll, UV_READABLE, on_listen), 0);
    cr_assert_eq(uv_timer_init(&H->loop, &H->guard), 0);
}

static bool all_closed(struct harness *h)
{
    for (unsigned i = 0; i < h->n_ends; i++)
        if (h->ends[i].used && transport_is_open(&h->ends[i].t))
            return false;
    for (unsigned i = 0; i < h->n_ends; i++)
        if (h->ends[i].used && h->ends[i].t.open)
            return false;
    return true;
}

static void on_walk_close(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void teardown(void)
{
    struct harness *h = H;
    for (unsigned i = 0; i < h->n_ends; i++)
        if (h->ends[i].used)
            transport_close(&h->ends[i].t);
    uv_close((uv_handle_t *)&h->listen_poll, NULL);
    uv_close((uv_handle_t *)&h->guard, NULL);
    while (!all_closed(h))
        uv_run(&h->loop, UV_RUN_ONCE);
    for (unsigned i = 0; i < h->n_ends; i++)
        if (h->ends[i].timer_init)
            uv_close((uv_handle_t *)&h->ends[i].resume_timer, NULL);
    uv_walk(&h->loop, on_walk_close, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&h->loop), 0);
    close(h->listen_fd);
    cr_assert_eq(h->srv_env.tls_handshakes, 0);
    cr_assert_eq(h->cli_env.tls_handshakes, 0);
    transport_env_close(&h->srv_env);
    transport_env_close(&h->cli_env);
    for (unsigned i = 0; i < h->n_ends; i++) {
        buf_close(&h->ends[i].rx);
        free(h->ends[i].lend);
    }
    if (h->srv_conf)
        tls_conf_unref(h->srv_conf);
    if (h->cli_conf)
        tls_conf_unref(h->cli_conf);
    tls_tickets_close(&h->tickets);
    free(h);
}

TestSuite(transport_tls, .init = setup, .fini = teardown, .timeout = 60);

static void on_guard(uv_timer_t *t)
{
}

/* Runs the loop until cond holds; fails after wait_ms. */
static void run_until(bool (*cond)(void *), void *arg, const char *what)
{
    uint64_t start = uv_now(&H->loop);
    uv_timer_start(&H->guard, on_guard, 5, 5);
    while (!cond(arg)) {
        uv_run(&H->loop, UV_RUN_ONCE);
        uv_update_time(&H->loop);
        if (uv_now(&H->loop) - start > wait_ms) {
            uv_timer_stop(&H->guard);
            cr_assert_fail("timed out waiting for %s", what);
        }
    }
    uv_timer_stop(&H->guard);
}

static struct end *connect_to(const char *host, const char *addr, struct tls_conf *conf)
{
    struct end *e = new_end(H, false);
    struct sockaddr_storage ss;
    if (uv_ip4_addr(addr, H->port, (struct sockaddr_in *)&ss) != 0)
        cr_assert_eq(uv_ip6_addr(addr, H->port, (struct sockaddr_in6 *)&ss), 0);
    int rc = transport_tls_connect(&e->t, &H->cli_env, NULL, (struct sockaddr *)&ss, conf, host);
    cr_assert_eq(rc, 0, "connect: %s", uv_strerror(rc));
    return e;
}

static bool connect_done(void *arg)
{
    return ((struct end *)arg)->connect_called;
}

/* The server side of the n-th accepted connection, once there is one. */
static struct end *server_end(unsigned n)
{
    for (unsigned i = 0; i < H->n_ends; i++)
        if (H->ends[i].server && n-- == 0)
            return &H->ends[i];
    return NULL;
}

static bool is_closed(void *arg)
{
    return ((struct end *)arg)->closed;
}

/* --- tests --- */

Test(transport_tls, handshake_counts_and_on_handshake)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    struct end *c = connect_to("localhost", "127.0.0.1", H->cli_conf);
    cr_assert_eq(H->cli_env.tls_handshakes, 1, "counted from the connect");
    run_until(connect_done, c, "the handshake");
    cr_assert_eq(c->connect_status, 0, "%s", c->err);
    cr_assert(transport_tls_handshake_done(&c->t));
    cr_assert(!transport_tls_resumed(&c->t));
    cr_assert_eq(H->cli_env.tls_handshakes, 0);
    struct end *s = server_end(0);
    cr_assert(s && s->handshaked, "the server heard the handshake end");
    cr_assert_eq(H->srv_env.tls_handshakes, 0);
    cr_assert_null(transport_tls_peer_cert(&s->t), "no client certificate asked for");
    const mbedtls_x509_crt *peer = transport_tls_peer_cert(&c->t);
    cr_assert(peer && tls_cert_names_fqdn(peer, "localhost"));
    cr_assert_null(transport_tls_error(&c->t));
}

struct echo_state {
    struct end *c;
    size_t want;
};

static bool echoed(void *arg)
{
    struct echo_state *st = arg;
    return st->c->rx.len >= st->want || st->c->read_err || st->c->closed;
}

/* Large data both ways: the client writes in random pieces (some queued, some copied),
 * lends random buffers and pauses; the server echoes with write_copy, lends and pauses too. */
static void echo_round(const char *host, const char *addr, size_t total)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    H->srv_echo = true;
    H->srv_lend_max = 7000;
    H->srv_pause_pct = 10;
    struct end *c = connect_to(host, addr, H->cli_conf);
    c->lend_max = 40000;
    c->pause_pct = 10;
    run_until(connect_done, c, "the handshake");
    cr_assert_eq(c->connect_status, 0, "%s", c->err);

    char *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)(rnd(H, 256));
    unsigned queued = 0;
    for (size_t off = 0; off < total;) {
        size_t n = 1 + rnd(H, 100000);
        if (n > total - off)
            n = total - off;
        uv_buf_t b[2];
        unsigned nb = 1;
        b[0] = uv_buf_init(data + off, (unsigned)n);
        if (n > 10 && rnd(H, 2)) { /* two buffers in one write */
            b[0].len = (unsigned)(n / 3);
            b[1] = uv_buf_init(data + off + n / 3, (unsigned)(n - n / 3));
            nb = 2;
        }
        int rc =
            rnd(H, 3) == 0 ? transport_write_copy(&c->t, b, nb) : transport_write(&c->t, b, nb);
        cr_assert(rc == 0 || rc == 1, "write: %s", uv_strerror(rc));
        queued += rc == 0;
        off += n;
        if (rnd(H, 4) == 0)
            uv_run(&H->loop, UV_RUN_NOWAIT);
    }
    struct echo_state st = {c, total};
    run_until(echoed, &st, "the echo");
    cr_assert_eq(c->rx.len, total, "got %zu of %zu (%s)", c->rx.len, total, c->err);
    cr_assert(memcmp(c->rx.base, data, total) == 0, "the echo differs");
    cr_assert_eq(c->written, queued, "one on_written per queued write");
    cr_assert_eq(c->t.writes_queued, 0);
    cr_assert_eq(c->write_status, 0);
    free(data);
}

Test(transport_tls, echo_large_data_in_random_pieces)
{
    echo_round("localhost", "127.0.0.1", 6u << 20);
}

Test(transport_tls, echo_over_ipv6_checked_against_the_ip_san)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        cr_skip_test("no IPv6 loopback");
    }
    close(fd);
    /* The listener is IPv4; connect by IPv4 but check the name "::1" is refused, then
     * "127.0.0.1" is accepted by its IP SAN. */
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    struct end *c = connect_to("127.0.0.1", "127.0.0.1", H->cli_conf);
    run_until(connect_done, c, "the handshake");
    cr_assert_eq(c->connect_status, 0, "%s", c->err);
    struct end *c6 = connect_to("::1", "127.0.0.1", H->cli_conf);
    run_until(connect_done, c6, "the handshake");
    cr_assert_eq(c6->connect_status, 0, "::1 is an IP SAN of server.crt: %s", c6->err);
}

Test(transport_tls, echo_small_pieces_many_records)
{
    echo_round("127.0.0.1", "127.0.0.1", 300000);
}

/* Client certificates under each client_auth_type, as Go's crypto/tls decides. */
struct auth_case {
    enum tls_client_auth auth;
    const char *client_cert; /* NULL: none */
    bool accepted;
    const char *srv_text; /* in the server's error when refused */
};

static bool server_heard(void *arg)
{
    struct end *s = server_end(*(unsigned *)arg);
    return s && (s->handshaked || s->read_err || s->closed);
}

Test(transport_tls, client_auth_types_accept_and_refuse)
{
    static const struct auth_case cases[] = {
        {TLS_NO_CLIENT_CERT, NULL, true, NULL},
        {TLS_NO_CLIENT_CERT, "otherca", true, NULL},
        {TLS_REQUEST_CLIENT_CERT, NULL, true, NULL},
        {TLS_REQUEST_CLIENT_CERT, "otherca", true, NULL},
        {TLS_REQUEST_CLIENT_CERT, "expired", true, NULL},
        {TLS_REQUIRE_ANY_CLIENT_CERT, NULL, false,
         "the client sent no certificate (client_auth_type RequireAnyClientCert)"},
        {TLS_REQUIRE_ANY_CLIENT_CERT, "node1", true, NULL},
        {TLS_REQUIRE_ANY_CLIENT_CERT, "otherca", true, NULL},
        {TLS_REQUIRE_ANY_CLIENT_CERT, "expired", true, NULL},
        {TLS_VERIFY_CLIENT_CERT_IF_GIVEN, NULL, true, NULL},
        {TLS_VERIFY_CLIENT_CERT_IF_GIVEN, "node1", true, NULL},
        {TLS_VERIFY_CLIENT_CERT_IF_GIVEN, "otherca", false,
         "client certificate not accepted: signed by an unknown authority"},
        {TLS_VERIFY_CLIENT_CERT_IF_GIVEN, "expired", false,
         "client certificate not accepted: certificate expired on 2020-02-01 00:00:00 UTC"},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, NULL, false, "the client sent no certificate"},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "node1", true, NULL},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "wildcard", true, NULL},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "nosan", true, NULL},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "otherca", false,
         "client certificate not accepted: signed by an unknown authority"},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "expired", false,
         "client certificate not accepted: certificate expired on 2020-02-01 00:00:00 UTC"},
        {TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "future", false,
         "client certificate not accepted: certificate is not valid before 2099-01-01"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct auth_case *k = &cases[i];
        if (H->srv_conf)
            tls_conf_unref(H->srv_conf);
        H->srv_conf =
            server_conf("server", k->auth, k->auth == TLS_NO_CLIENT_CERT ? NULL : "ca.crt");
        struct tls_conf *cc = client_conf("ca.crt", k->client_cert);
        struct end *c = connect_to("localhost", "127.0.0.1", cc);
        tls_conf_unref(cc); /* the connection keeps its own reference */
        run_until(connect_done, c, "the client's handshake");
        run_until(server_heard, &i, "the server's handshake");
        struct end *s = server_end(i);
        const char *who = k->client_cert ? k->client_cert : "none";
        if (k->accepted) {
            cr_expect_eq(c->connect_status, 0, "case %u (%s): refused: %s", i, who, c->err);
            cr_expect(s->handshaked, "case %u (%s): server: %s", i, who, s->err);
            bool asked = k->auth != TLS_NO_CLIENT_CERT && k->client_cert;
            cr_expect_eq(transport_tls_peer_cert(&s->t) != NULL, asked,
                         "case %u (%s): the server has the certificate sent", i, who);
        } else {
            cr_expect_neq(c->connect_status, 0, "case %u (%s): accepted", i, who);
            cr_expect_eq(s->read_err, UV_EPROTO, "case %u (%s)", i, who);
            cr_expect(strstr(s->err, k->srv_text), "case %u (%s): server said \"%s\"", i, who,
                      s->err);
            cr_expect(strstr(c->err, "tls handshake"), "case %u (%s): client said \"%s\"", i, who,
                      c->err);
            /* Told why, as Go's server tells it, not just a closed connection. */
            if (!k->client_cert)
                cr_expect(strstr(c->err, "alert bad_certificate"),
                          "case %u (%s): client said \"%s\"", i, who, c->err);
        }
    }
}

Test(transport_tls, client_allowed_sans_need_a_listed_san)
{
    char err[TLS_ERR_MAX];
    char *allowed[] = {"node1.example.com", "192.0.2.7"};
    struct tls_server_opts o = {.cert_file = cert_path("server.crt"),
                                .key_file = cert_path("server.key"),
                                .client_ca_file = cert_path("ca.crt"),
                                .client_auth = TLS_REQUIRE_AND_VERIFY_CLIENT_CERT,
                                .allowed_sans = allowed,
                                .n_allowed_sans = 2};
    H->srv_conf = tls_conf_new_server(&o, &H->tickets, err, sizeof(err));
    cr_assert(H->srv_conf, "%s", err);
    const char *certs[] = {"node1", "node2", "mixed"};
    const bool ok[] = {true, false, true};
    for (unsigned i = 0; i < 3; i++) {
        struct tls_conf *cc = client_conf("ca.crt", certs[i]);
        struct end *c = connect_to("localhost", "127.0.0.1", cc);
        tls_conf_unref(cc);
        run_until(connect_done, c, "the handshake");
        run_until(server_heard, &i, "the server");
        cr_expect_eq(c->connect_status == 0, ok[i], "%s: %s", certs[i], c->err);
        if (!ok[i])
            cr_expect(strstr(server_end(i)->err,
                             "none of its SANs (node2.example.com) is in client_allowed_sans"),
                      "%s", server_end(i)->err);
    }
}

struct check_case {
    const char *server_cert;
    const char *ca;
    const char *host;
    const char *text; /* NULL: accepted */
};

Test(transport_tls, client_checks_say_what_is_wrong)
{
    static const struct check_case cases[] = {
        {"server", "ca.crt", "localhost", NULL},
        {"server", "ca.crt", "LOCALHOST", NULL},
        {"server", "ca.crt", "127.0.0.1", NULL},
        {"server", "ca.crt", "wrong.example.com",
         "server certificate not accepted: certificate for localhost, 127.0.0.1, ::1 does not "
         "name wrong.example.com"},
        {"server", "ca.crt", "127.0.0.2",
         "certificate for localhost, 127.0.0.1, ::1 does not name 127.0.0.2"},
        {"server_other", "ca.crt", "localhost",
         "certificate for proxy.example.com, 10.0.0.1 does not name localhost"},
        {"server_other", "ca.crt", "127.0.0.1", "does not name 127.0.0.1"},
        {"server_expired", "ca.crt", "localhost",
         "server certificate not accepted: certificate expired on 2020-02-01 00:00:00 UTC"},
        {"server", "ca2.crt", "localhost",
         "server certificate not accepted: signed by an unknown authority (the certificate "
         "is not correctly signed by the trusted CA)"},
        {"server_nosan", "ca.crt", "localhost",
         "the certificate for CN=localhost has no subjectAltName, and a CN is no host name to "
         "Go's client"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct check_case *k = &cases[i];
        if (H->srv_conf)
            tls_conf_unref(H->srv_conf);
        H->srv_conf = server_conf(k->server_cert, TLS_NO_CLIENT_CERT, NULL);
        struct tls_conf *cc = client_conf(k->ca, NULL);
        struct end *c = connect_to(k->host, "127.0.0.1", cc);
        tls_conf_unref(cc);
        run_until(connect_done, c, "the handshake");
        if (!k->text) {
            cr_expect_eq(c->connect_status, 0, "case %u (%s): %s", i, k->host, c->err);
            continue;
        }
        cr_expect_eq(c->connect_status, UV_EPROTO, "case %u (%s)", i, k->host);
        cr_expect(strstr(c->err, k->text), "case %u (%s): said \"%s\"", i, k->host, c->err);
        cr_expect(!strstr(c->err, "\n"), "one line");
    }
}

Test(transport_tls, second_connection_resumes_with_a_ticket)
{
    H->srv_conf = server_conf("server", TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "ca.crt");
    H->cli_conf = client_conf("ca.crt", "node1");
    struct end *a = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, a, "the first handshake");
    cr_assert_eq(a->connect_status, 0, "%s", a->err);
    cr_assert(!transport_tls_resumed(&a->t));

    struct end *b = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, b, "the second handshake");
    cr_assert_eq(b->connect_status, 0, "%s", b->err);
    cr_assert(transport_tls_resumed(&b->t), "the client resumed");
    unsigned one = 1;
    run_until(server_heard, &one, "the server");
    cr_assert(transport_tls_resumed(&server_end(1)->t), "the server resumed");
    const mbedtls_x509_crt *peer = transport_tls_peer_cert(&server_end(1)->t);
    cr_assert(peer && tls_cert_names_fqdn(peer, "node1.example.com"),
              "the ticket carries the client's certificate");

    /* Another worker's conf with the same ticket key resumes too. */
    struct tls_conf *other = server_conf("server", TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "ca.crt");
    tls_conf_unref(H->srv_conf);
    H->srv_conf = other;
    struct end *c = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, c, "the third handshake");
    cr_assert_eq(c->connect_status, 0, "%s", c->err);
    cr_assert(transport_tls_resumed(&c->t));

    /* Another host name is another cache entry: a full handshake. */
    struct end *d = connect_to("127.0.0.1", "127.0.0.1", H->cli_conf);
    run_until(connect_done, d, "the fourth handshake");
    cr_assert_eq(d->connect_status, 0, "%s", d->err);
    cr_assert(!transport_tls_resumed(&d->t));
}

Test(transport_tls, ticket_from_a_laxer_policy_does_not_let_a_client_in)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    struct end *a = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, a, "the first handshake");
    cr_assert_eq(a->connect_status, 0, "%s", a->err);

    /* The certificate policy changed (a rotation), the ticket key did not. */
    tls_conf_unref(H->srv_conf);
    H->srv_conf = server_conf("server", TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "ca.crt");
    struct end *b = connect_to("localhost", "127.0.0.1", H->cli_conf);
    unsigned one = 1;
    run_until(server_heard, &one, "the server");
    struct end *s = server_end(1);
    cr_assert_eq(s->read_err, UV_EPROTO, "refused");
    cr_assert(transport_tls_resumed(&s->t) || strstr(s->err, "sent no certificate"), "%s", s->err);
    run_until(is_closed, b, "the client to see the refusal");
    cr_assert(b->connect_status != 0 || b->read_err != 0, "the client saw it");
}

struct raw {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t w;
    char got[512];
    size_t len;
    bool eof;
};

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    struct raw *r = h->data;
    *b = uv_buf_init(r->got + r->len, (unsigned)(sizeof(r->got) - 1 - r->len));
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct raw *r = st->data;
    if (n > 0)
        r->len += (size_t)n;
    else if (n < 0)
        r->eof = true;
}

static void raw_written(uv_write_t *w, int status)
{
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw *r = req->handle->data;
    static char msg[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);
    cr_assert_eq(status, 0);
    uv_write(&r->w, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static bool raw_done(void *arg)
{
    return ((struct raw *)arg)->eof;
}

Test(transport_tls, plaintext_http_gets_gos_400_and_fails_the_handshake)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    static struct raw r; /* its handle closes in the teardown's loop run */
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", H->port, &sa);
    uv_tcp_init(&H->loop, &r.tcp);
    r.tcp.data = &r;
    uv_tcp_connect(&r.conn, &r.tcp, (struct sockaddr *)&sa, raw_connected);
    run_until(raw_done, &r, "the answer");
    r.got[r.len] = '\0';
    cr_assert_str_eq(r.got, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an "
                            "HTTPS server.\n");
    struct end *s = server_end(0);
    cr_assert(s);
    cr_assert_eq(s->read_err, UV_EPROTO);
    cr_assert(strstr(s->err, "client sent an HTTP request to an HTTPS server"), "%s", s->err);
    cr_assert_eq(H->srv_env.tls_handshakes, 0);
    uv_close((uv_handle_t *)&r.tcp, NULL);
}

static bool both_ended(void *arg)
{
    struct end *c = arg;
    struct end *s = server_end(0);
    return c->read_err && s && s->read_err;
}

Test(transport_tls, shutdown_sends_close_notify_then_fin)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    H->srv_echo = true;
    H->srv_shutdown_on_eof = true;
    struct end *c = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, c, "the handshake");
    static char ping[] = "ping";
    uv_buf_t b = uv_buf_init(ping, 4);
    int rc = transport_write(&c->t, &b, 1);
    cr_assert(rc == 0 || rc == 1);
    cr_assert_eq(transport_shutdown(&c->t), 0);
    c->shutdown_on_eof = true; /* keep the connection to look at it */
    run_until(both_ended, c, "both ends");
    struct end *s = server_end(0);
    cr_assert_eq(s->read_err, UV_EOF);
    cr_assert(transport_tls_clean_end(&s->t), "the server read close_notify");
    cr_assert_eq(c->read_err, UV_EOF);
    cr_assert(transport_tls_clean_end(&c->t), "the client read close_notify");
    cr_assert_eq(c->rx.len, 4, "the echo came before the end");
    cr_assert(memcmp(c->rx.base, "ping", 4) == 0);
}

Test(transport_tls, close_sends_close_notify_when_it_can)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    struct end *c = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(connect_done, c, "the handshake");
    unsigned zero = 0;
    run_until(server_heard, &zero, "the server");
    transport_close(&server_end(0)->t);
    run_until(is_closed, c, "the client to close");
    cr_assert_eq(c->read_err, UV_EOF);
    cr_assert(c->clean_end, "close_notify came before the FIN");
}

Test(transport_tls, peer_closing_mid_handshake_is_an_eof_with_a_text)
{
    H->srv_conf = server_conf("server", TLS_NO_CLIENT_CERT, NULL);
    H->cli_conf = client_conf("ca.crt", NULL);
    /* A server that accepts and closes: the client's handshake sees EOF. */
    uv_poll_stop(&H->listen_poll);
    struct end *c = connect_to("localhost", "127.0.0.1", H->cli_conf);
    int fd = -1;
    for (int i = 0; i < 1000 && fd < 0; i++) {
        uv_run(&H->loop, UV_RUN_NOWAIT);
        fd = accept(H->listen_fd, NULL, NULL);
        if (fd < 0)
            usleep(1000);
    }
    cr_assert(fd >= 0);
    close(fd);
    run_until(connect_done, c, "the handshake to fail");
    cr_assert(c->connect_status == UV_EOF || c->connect_status == UV_ECONNRESET, "%s",
              uv_strerror(c->connect_status));
    cr_assert(strstr(c->err, "tls handshake"), "%s", c->err);
}

static bool all_connected(void *arg)
{
    unsigned n = *(unsigned *)arg, done = 0;
    for (unsigned i = 0; i < H->n_ends; i++)
        done += (H->ends[i].server && H->ends[i].handshaked) ||
                (!H->ends[i].server && H->ends[i].connected);
    return done >= 2 * n;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* What an idle TLS connection costs each side, beyond sizeof(struct transport): the heap
 * measured with mallinfo2 over IDLE_CONNS connections made after a first one warmed every
 * shared buffer up. Printed for the record; bounded so a new per-connection buffer shows. */
#define IDLE_CONNS 40
Test(transport_tls, idle_connection_costs_little_beyond_the_record_buffers)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("ASan's allocator does not report to mallinfo2");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    cr_skip_test("ASan's allocator does not report to mallinfo2");
#endif
#endif
    H->srv_conf = server_conf("server", TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, "ca.crt");
    H->cli_conf = client_conf("ca.crt", "node1");
    unsigned one = 1;
    struct end *w = connect_to("localhost", "127.0.0.1", H->cli_conf);
    run_until(all_connected, &one, "the warm-up connection");
    cr_assert_eq(w->connect_status, 0, "%s", w->err);
    static char ping[] = "ping";
    uv_buf_t b = uv_buf_init(ping, 4);
    transport_write(&w->t, &b, 1);
    for (int i = 0; i < 20; i++)
        uv_run(&H->loop, UV_RUN_NOWAIT);

    size_t before = heap_used();
    unsigned n = IDLE_CONNS + 1;
    wait_ms = 50000; /* 40 full handshakes, both sides on this thread, on a busy host */
    for (unsigned i = 0; i < IDLE_CONNS; i++)
        connect_to("127.0.0.1", "127.0.0.1", H->cli_conf);
    run_until(all_connected, &n, "the idle connections");
    for (int i = 0; i < 50; i++)
        uv_run(&H->loop, UV_RUN_NOWAIT);
    size_t after = heap_used();
    size_t per_pair = (after - before) / IDLE_CONNS;
    printf("idle TLS connection pair (server + client, mutual TLS, ECDSA P-256): %zu bytes of "
           "heap; sizeof(struct transport) = %zu; record buffers %d + %d bytes per side\n",
           per_pair, sizeof(struct transport), MBEDTLS_SSL_IN_CONTENT_LEN,
           MBEDTLS_SSL_OUT_CONTENT_LEN);
    /* Two sides, each with two record buffers of ~16.7 KiB (content plus overhead) and a
     * session: anything near another 16 KiB per side is a buffer that should not be there. */
    cr_assert_lt(per_pair, 2 * (2 * 16717 + 12 * 1024), "%zu bytes per pair", per_pair);
}
