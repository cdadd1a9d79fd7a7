/* dial.c - the one place a bench connection is opened (see dial.h).
 * Owner: nothing of its own; the transport is the caller's. */
#include "dial.h"

int dial_connect(struct transport *t, struct transport_env *env, const struct dial_tls *tls,
                 const struct sockaddr *src, const struct sockaddr *dst)
{
    int rc;

    if (tls)
        return UV_ENOTSUP; /* transport_tls_connect(), with tls's settings, goes here */
    if ((rc = transport_plain_connect(t, env, src, dst)) != 0)
        return rc;
    /* The socket is open and connecting; the option holds from the first write. */
    uv_tcp_nodelay(&t->tcp, 1);
    return 0;
}
