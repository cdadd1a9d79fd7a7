/* dial.c - the one place a bench connection is opened (see dial.h).
 * Owner: struct dial is its loop thread's; struct dial_tls is read-only. */
#include "dial.h"

#include <errno.h>

#include "transport_tls.h"

int dial_init(struct dial *d, const struct dial_tls *tls, char *err, size_t err_len)
{
    d->tls = tls;
    d->conf = NULL;
    if (!tls)
        return 0;
    if (!(d->conf = tls_conf_new_client(&tls->opts, err, err_len)))
        return -EINVAL;
    if (!tls->resume) {
        /* Without a ticket extension the proxy issues none, and the session offered back
         * carries no ticket it could take: every handshake is a full one. */
        mbedtls_ssl_conf_session_tickets(&d->conf->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    }
    return 0;
}

void dial_close(struct dial *d)
{
    if (d->conf)
        tls_conf_unref(d->conf);
    d->conf = NULL;
}

static void nodelay(struct transport *t)
{
    /* The socket is open and connecting; the option holds from the first write. */
    if (t->open)
        uv_tcp_nodelay(&t->tcp, 1);
}

int dial_connect(struct transport *t, struct transport_env *env, struct dial *d,
                 const struct sockaddr *src, const struct sockaddr *dst)
{
    int rc;

    if (d && d->conf)
        rc = transport_tls_connect(t, env, src, dst, d->conf, d->tls->server_name);
    else
        rc = transport_plain_connect(t, env, src, dst);
    if (rc != 0)
        return rc;
    nodelay(t);
    return 0;
}

bool dial_resumed(const struct transport *t)
{
    return t->tls && transport_tls_resumed(t);
}

const char *dial_error(const struct transport *t)
{
    return t->tls ? transport_tls_error(t) : NULL;
}

void dial_count_up(const struct transport *t, struct stats *st)
{
    if (!t->tls)
        return;
    if (transport_tls_resumed(t))
        st->handshakes_resumed++;
    else
        st->handshakes_full++;
}

void dial_count_failed(const struct transport *t, struct stats *st)
{
    st->errors[dial_error(t) ? STATS_ERR_HANDSHAKE : STATS_ERR_CONNECT]++;
}
