/* test_bench_dial.c - the bench opens its connections through dial_connect(): plain TCP to
 * a listener on loopback, from the source address asked for, with TCP_NODELAY; a thread's
 * TLS settings load (or name the bad file), --no-tls.resume turns tickets off, and a TLS
 * connection whose peer hangs up mid-handshake fails with a reason counted as a
 * handshake error. Certificates from tls_certs.sh. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "../../bench/dial.h"
#include "tls_certs.h"

/* Loopback is 127/8 on Linux: this source address exists without any setup. */
#define TEST_SRC_ADDR "127.0.0.2"
/* Test loop turns before giving up (each runs until no handle is active or one event). */
#define TEST_MAX_TURNS 1000

struct test_ctx {
    uv_loop_t loop;
    uv_tcp_t server;
    uv_tcp_t accepted;
    struct sockaddr_in dst;
    struct transport_env env;
    struct transport t;
    int connect_status; /* 1: not called yet */
    int closed;
    int accepted_n;
    struct sockaddr_storage peer;
};

static struct test_ctx ctx;

static void on_connect(struct transport *t, int status)
{
    ctx.connect_status = status;
}

static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *buf)
{
}

static void on_written(struct transport *t, int status)
{
}

static void on_closed(struct transport *t)
{
    ctx.closed++;
}

static const struct transport_cb test_cb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_written = on_written,
    .on_closed = on_closed,
};

/* Set by a test: the listener closes each connection it accepts at once. */
static bool hang_up;

static void on_connection(uv_stream_t *server, int status)
{
    int len = sizeof(ctx.peer);

    cr_assert_eq(status, 0);
    uv_tcp_init(&ctx.loop, &ctx.accepted);
    cr_assert_eq(uv_accept(server, (uv_stream_t *)&ctx.accepted), 0);
    uv_tcp_getpeername(&ctx.accepted, (struct sockaddr *)&ctx.peer, &len);
    ctx.accepted_n++;
    if (hang_up) {
        uv_close((uv_handle_t *)&ctx.accepted, NULL);
        ctx.accepted_n = -1; /* closed already: teardown leaves it */
    }
}

static void setup(void)
{
    int len = sizeof(ctx.dst);

    memset(&ctx, 0, sizeof(ctx));
    ctx.connect_status = 1;
    cr_assert_eq(uv_loop_init(&ctx.loop), 0);
    cr_assert_eq(transport_env_init(&ctx.env, &ctx.loop, &test_cb, 4096), 0);
    uv_tcp_init(&ctx.loop, &ctx.server);
    uv_ip4_addr("127.0.0.1", 0, &ctx.dst);
    cr_assert_eq(uv_tcp_bind(&ctx.server, (const struct sockaddr *)&ctx.dst, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&ctx.server, 8, on_connection), 0);
    uv_tcp_getsockname(&ctx.server, (struct sockaddr *)&ctx.dst, &len);
}

static void teardown(void)
{
    uv_close((uv_handle_t *)&ctx.server, NULL);
    if (ctx.accepted_n > 0)
        uv_close((uv_handle_t *)&ctx.accepted, NULL);
    for (int i = 0; i < TEST_MAX_TURNS && uv_run(&ctx.loop, UV_RUN_NOWAIT); i++)
        ;
    transport_env_close(&ctx.env);
    uv_loop_close(&ctx.loop);
}

/* Turns the loop until cond holds (or TEST_MAX_TURNS). */
#define RUN_UNTIL(cond)                                                                            \
    for (int turn_ = 0; turn_ < TEST_MAX_TURNS && !(cond); turn_++)                                \
    uv_run(&ctx.loop, UV_RUN_ONCE)

TestSuite(bench_dial, .init = setup, .fini = teardown, .timeout = 10);

Test(bench_dial, plain_connects_from_the_source_address_with_nodelay)
{
    struct sockaddr_in src;
    uv_os_fd_t fd;
    int nodelay = 0;
    socklen_t len = sizeof(nodelay);

    uv_ip4_addr(TEST_SRC_ADDR, 0, &src);
    cr_assert_eq(dial_connect(&ctx.t, &ctx.env, NULL, (const struct sockaddr *)&src,
                              (const struct sockaddr *)&ctx.dst),
                 0);
    RUN_UNTIL(ctx.connect_status != 1 && ctx.accepted_n == 1);
    cr_assert_eq(ctx.connect_status, 0);
    cr_assert_eq(ctx.accepted_n, 1);
    char peer[INET_ADDRSTRLEN];
    uv_ip4_name((const struct sockaddr_in *)&ctx.peer, peer, sizeof(peer));
    cr_assert_str_eq(peer, TEST_SRC_ADDR);

    cr_assert_eq(uv_fileno((const uv_handle_t *)&ctx.t.tcp, &fd), 0);
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    cr_assert_neq(nodelay, 0);

    transport_close(&ctx.t);
    RUN_UNTIL(ctx.closed == 1);
    cr_assert_eq(ctx.closed, 1);
}

Test(bench_dial, no_source_address_is_any)
{
    cr_assert_eq(dial_connect(&ctx.t, &ctx.env, NULL, NULL, (const struct sockaddr *)&ctx.dst), 0);
    RUN_UNTIL(ctx.connect_status != 1 && ctx.accepted_n == 1);
    cr_assert_eq(ctx.connect_status, 0);
    transport_close(&ctx.t);
    RUN_UNTIL(ctx.closed == 1);
    cr_assert_eq(ctx.closed, 1);
}

static struct dial_tls bench_tls(void)
{
    struct dial_tls tls = {
        .opts = {.cacert = cert_path("ca.crt"),
                 .cert = cert_path("wildcard.crt"),
                 .key = cert_path("wildcard.key"),
                 .what = "--tls"},
        .server_name = "localhost",
        .resume = true,
    };
    return tls;
}

Test(bench_dial, tls_settings_load_per_thread)
{
    struct dial_tls tls = bench_tls();
    struct dial d;
    char err[TLS_ERR_MAX];

    cr_assert_eq(dial_init(&d, NULL, err, sizeof(err)), 0);
    cr_assert_null(d.conf, "no settings: plain TCP");
    dial_close(&d);

    cr_assert_eq(dial_init(&d, &tls, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(d.conf);
    cr_assert(d.conf->has_cert);
    dial_close(&d);
    cr_assert_null(d.conf);

    tls.opts.key = cert_path("no-such.key");
    cr_assert_eq(dial_init(&d, &tls, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "no-such.key"), "the error names the file: %s", err);
}

Test(bench_dial, no_resume_turns_session_tickets_off)
{
    struct dial_tls tls = bench_tls();
    struct dial d;
    char err[TLS_ERR_MAX];

    cr_assert_eq(dial_init(&d, &tls, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(d.conf->conf.session_tickets, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    dial_close(&d);
    tls.resume = false;
    cr_assert_eq(dial_init(&d, &tls, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(d.conf->conf.session_tickets, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    dial_close(&d);
}

Test(bench_dial, tls_handshake_cut_short_is_a_handshake_error)
{
    struct dial_tls tls = bench_tls();
    struct dial d;
    struct stats st;
    char err[TLS_ERR_MAX];

    hang_up = true;
    stats_init(&st);
    cr_assert_eq(dial_init(&d, &tls, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(dial_connect(&ctx.t, &ctx.env, &d, NULL, (const struct sockaddr *)&ctx.dst), 0);
    RUN_UNTIL(ctx.connect_status != 1);
    cr_assert_neq(ctx.connect_status, 0, "the handshake cannot succeed");
    cr_assert_not_null(dial_error(&ctx.t), "TLS says why");
    cr_assert(!dial_resumed(&ctx.t));
    dial_count_failed(&ctx.t, &st);
    cr_assert_eq(st.errors[STATS_ERR_HANDSHAKE], 1);
    cr_assert_eq(st.errors[STATS_ERR_CONNECT], 0);
    transport_close(&ctx.t);
    RUN_UNTIL(ctx.closed == 1);
    cr_assert_eq(ctx.closed, 1);
    dial_close(&d);
    stats_close(&st);
    hang_up = false;
}
