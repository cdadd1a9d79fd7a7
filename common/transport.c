/* transport.c - what the transports share: the env, setting a transport up, and the
 * connecting socket (see transport.h).
 * Owner: an env and its transports belong to the loop thread of env->loop. */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
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
