/* test_transport.c - transport_tcp_keepalive(): the socket options it sets, so the time a
 * silent peer is found in (idle + 3 x max(1 s, idle/3)) is what the flags' help says. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

static int closed;

static void on_closed(struct transport *t)
{
    (void)t;
    closed++;
}

static const struct transport_cb cb = {.on_closed = on_closed};

static int opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

/* Opens a TCP socket as a transport, applies idle_ms, checks the options, closes it. */
static void check(uint64_t idle_ms, int keepalive, int idle_s, int intvl_s, int cnt, int user_ms)
{
    uv_loop_t loop;
    struct transport_env env;
    struct transport t;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(transport_env_init(&env, &loop, &cb, 4096), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(transport_plain_open(&t, &env, fd), 0);
    cr_assert_eq(transport_tcp_keepalive(&t, idle_ms), 0);
    cr_assert_eq(opt(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, keepalive != 0, "idle %llu ms",
                 (unsigned long long)idle_ms);
    if (keepalive) {
        cr_assert_eq(opt(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle_s);
        cr_assert_eq(opt(fd, IPPROTO_TCP, TCP_KEEPINTVL), intvl_s);
        cr_assert_eq(opt(fd, IPPROTO_TCP, TCP_KEEPCNT), cnt);
        cr_assert_eq(opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), user_ms);
    }
    closed = 0;
    transport_close(&t);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(closed, 1);
    transport_env_close(&env);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(transport, keepalive_default_finds_a_silent_peer_in_twice_the_idle_time)
{
    check(30000, 1, 30, 10, 3, 60000);
}

Test(transport, keepalive_under_three_seconds_probes_each_second)
{
    check(2000, 1, 2, 1, 3, 5000);
    check(1, 1, 1, 1, 3, 4000); /* rounded up to a whole second */
}

Test(transport, keepalive_zero_is_off)
{
    check(0, 0, 0, 0, 0, 0);
}
