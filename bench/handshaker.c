/* handshaker.c - one connection slot of the --handshakes phase (see handshaker.h).
 * Owner: the loop thread of its env. A slot's connection is closed only through
 * transport_close(); the slot is free again from on_closed. */
#include "handshaker.h"

#include <string.h>

#include "log.h"

static void on_connect(struct transport *t, int status);
static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *buf);
static void on_closed(struct transport *t);

static const struct transport_cb handshaker_tcb = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_closed = on_closed,
};

static struct handshaker *handshaker_of(struct transport *t)
{
    return transport_owner(t, struct handshaker, tr);
}

int handshaker_env_init(struct handshaker_env *env, uv_loop_t *loop, const struct run *run,
                        struct dial *dial, struct stats *st,
                        void (*on_free)(struct handshaker_env *env, struct handshaker *h))
{
    memset(env, 0, sizeof(*env));
    env->run = run;
    env->dial = dial;
    env->st = st;
    env->on_free = on_free;
    return transport_env_init(&env->tr_env, loop, &handshaker_tcb, HANDSHAKER_READ_BYTES);
}

void handshaker_env_close(struct handshaker_env *env)
{
    transport_env_close(&env->tr_env);
}

void handshaker_init(struct handshaker *h, struct handshaker_env *env, uint64_t idx)
{
    memset(h, 0, sizeof(*h));
    h->env = env;
    h->idx = idx;
}

int handshaker_start(struct handshaker *h)
{
    struct handshaker_env *env = h->env;
    const struct run *run = env->run;
    struct sockaddr_in src, *srcp = NULL;

    if (run->source_addrs > 0) {
        /* As the clients: spread over 127.0.0.2.. so the closed connections' TIME_WAIT
         * entries (ours: we close first) do not run out of ports. */
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(h->idx % run->source_addrs));
        srcp = &src;
    }
    h->busy = true;
    h->started_ns = run_now_ns();
    env->in_flight++;
    int rc = dial_connect(&h->tr, &env->tr_env, env->dial, (const struct sockaddr *)srcp,
                          (const struct sockaddr *)&run->proxy);
    if (rc != 0) {
        env->st->errors[STATS_ERR_CONNECT]++;
        log_debug("handshake", "connect failed", LOG_ERR(rc));
        if (!h->tr.open) {
            h->busy = false;
            env->in_flight--;
        }
    }
    return rc;
}

void handshaker_stop(struct handshaker *h)
{
    h->stopping = true;
    transport_close(&h->tr);
}

static void on_connect(struct transport *t, int status)
{
    struct handshaker *h = handshaker_of(t);
    struct handshaker_env *env = h->env;

    if (status != 0) {
        const char *why = dial_error(t);
        dial_count_failed(t, env->st);
        log_debug("handshake", "failed", LOG_ERR(status), LOG_STR("reason", why ? why : ""));
    } else {
        dial_count_up(t, env->st);
        hist_record(&env->st->latency_ns, run_now_ns() - h->started_ns);
    }
    /* Done with it either way: close_notify if the socket takes it, then close. */
    transport_close(t);
}

static void on_read(struct transport *t, ssize_t nread, const uv_buf_t *buf)
{
    (void)nread;
    (void)buf;
    transport_close(t); /* never reads; nothing is expected */
}

static void on_closed(struct transport *t)
{
    struct handshaker *h = handshaker_of(t);
    struct handshaker_env *env = h->env;

    h->busy = false;
    if (env->in_flight > 0)
        env->in_flight--;
    if (!h->stopping)
        env->on_free(env, h);
}
