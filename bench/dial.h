/* dial.h - how the bench opens its connections to the proxy: plain TCP, or TLS with a
 * client certificate once the bench has --tls.* flags (common/transport_tls.c).
 *
 * Simulated clients and scrapers open every connection through dial_connect() and from then
 * on speak only through common/transport.h, as the proxy's connections do: choosing TLS is
 * the tls argument and nothing else. A run's tls settings are read-only and shared by
 * every thread.
 * Owner: the transport belongs to the loop thread of env. */
#ifndef BENCH_DIAL_H
#define BENCH_DIAL_H

#include <sys/socket.h>

#include "transport.h"

/* The client side of TLS for one run (CA, certificate, key, server name), to be filled
 * from --tls.* flags; a NULL pointer means plain TCP. */
struct dial_tls;

/* Connects t to dst, from src when not NULL (its port chosen at connect time), over TLS
 * when tls is set, else plain TCP; with TCP_NODELAY, because every request is written
 * whole and a push with the next poll behind it must not wait for an ACK.
 * Returns as transport_plain_connect(): 0, then cb->on_connect follows; or a UV_E* code,
 * and t->open says whether cb->on_closed follows. UV_ENOTSUP for TLS, not built yet. */
int dial_connect(struct transport *t, struct transport_env *env, const struct dial_tls *tls,
                 const struct sockaddr *src, const struct sockaddr *dst);

#endif
