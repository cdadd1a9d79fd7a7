/* transport.c - what the transports share: the env, setting a transport up, and the
 * connecting socket (see transport.h).
 * Owner: an env and its transports belong to the loop thread of env->loop. */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

int transport_env_init(struct transport_env *env, uv_loop_t *loop, const struct transport_cb *cb,
                       size_t read_buf_bytes)
{
    env->loop = loop;
    env->cb = cb;
    env->read_buf_lent = false;
    env->read_buf_bytes = read_buf_bytes;
    env->tls_plain_buf = NULL;
    env->tls_plain_lent = false;
    env->tls_stage = NULL;
    env->tls_stage_len = 0;
    env->tls_stage_owner = NULL;
    env->tls_handshakes = 0;
    pool_init(&env->write_reqs, sizeof(struct transport_write_req), TRANSPORT_WRITE_POOL_MAX);
    env->read_buf = malloc(read_buf_bytes);
    return env->read_buf ? 0 : UV_ENOMEM;
}

void transport_env_close(struct transport_env *env)
{
    free(env->read_buf);
    free(env->tls_plain_buf);
    free(env->tls_stage);
    env->read_buf = env->tls_plain_buf = env->tls_stage = NULL;
    pool_close(&env->write_reqs);
}

#ifdef PUSHPROX_TSAN
/* libtsan's syscall hook (sanitizer/linux_syscall_hooks.h, which gcc does not ship). */
void __sanitizer_syscall_pre_impl_close(long fd);
#endif

void transport_tcp_close(struct transport *t, uv_close_cb cb)
{
#ifdef PUSHPROX_TSAN
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&t->tcp, &fd) == 0)
        __sanitizer_syscall_pre_impl_close(fd);
#endif
    uv_close((uv_handle_t *)&t->tcp, cb);
}

void transport_setup(struct transport *t, struct transport_env *env,
                     const struct transport_ops *ops)
{
    t->ops = ops;
    t->env = env;
    t->tls = NULL;
    t->writes_queued = 0;
    t->open = false;
    t->closing = false;
    t->reading = false;
}

int transport_socket(const struct sockaddr *src, const struct sockaddr *dst)
{
    int fd, rc;

    fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    if (src) {
        /* Without this, bind() picks the port and one source address holds ~28k connections
         * in all instead of ~28k per destination. */
        int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        socklen_t len =
            src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (bind(fd, src, len) != 0) {
            rc = uv_translate_sys_error(errno);
            close(fd);
            return rc;
        }
    }
    return fd;
}

int transport_peer_addr(const struct transport *t, struct sockaddr_storage *addr)
{
    int len = sizeof(*addr);
    return uv_tcp_getpeername(&t->tcp, (struct sockaddr *)addr, &len);
}

int transport_tcp_keepalive(struct transport *t, uint64_t idle_ms)
{
    if (idle_ms == 0)
        return 0;
    uint64_t idle_s64 = (idle_ms + 999) / 1000;
    /* The kernel takes at most 32767 s for TCP_KEEPIDLE and TCP_KEEPINTVL. */
    int idle_s = idle_s64 > 32767 ? 32767 : (int)idle_s64;
    int intvl = idle_s / TRANSPORT_KEEPALIVE_PROBES, cnt = TRANSPORT_KEEPALIVE_PROBES;
    if (intvl < 1)
        intvl = 1;
    unsigned user_ms = (unsigned)(idle_s + intvl * cnt) * 1000u;
    uv_os_fd_t fd;
    int rc = uv_fileno((const uv_handle_t *)&t->tcp, &fd);
    if (rc != 0)
        return rc;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms)) != 0)
        return uv_translate_sys_error(errno);
    return 0;
}
