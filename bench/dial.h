/* dial.h - how the bench opens its connections to the proxy: plain TCP, or TLS with a
 * client certificate (--tls.* flags, common/transport_tls.c).
 *
 * Simulated clients, scrapers and handshakers open every connection through dial_connect()
 * and from then on speak only through common/transport.h, as the proxy's connections do:
 * choosing TLS is the dial argument and nothing else.
 *
 * Owner: struct dial_tls (the flags) is filled by main before the fork and read-only
 * afterwards, shared by every thread. struct dial is one loop thread's: its tls_conf is
 * built by that thread's worker_init() and used by that thread only, because mbedTLS caches
 * tables inside parsed keys and CAs and a conf's random generator and session cache are
 * unlocked (tls.h). So every thread pays for its own parsed certificate and key (a few
 * KiB), and keeps its own sessions to resume: one per (server name, port), at most
 * TLS_SESSION_CACHE_MAX (tls.h), shared by every client and scraper of the thread. */
#ifndef BENCH_DIAL_H
#define BENCH_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "stats.h"
#include "tls.h"
#include "transport.h"

/* The client side of TLS for one run, from the --tls.* flags. */
struct dial_tls {
    struct tls_client_opts opts; /* cacert, cert, key ("what" names the flags) */
    const char *server_name;     /* checked against the proxy's certificate, sent as SNI */
    bool resume;                 /* offer the thread's last session (ticket) on reconnect */
};

/* One loop thread's way of connecting. */
struct dial {
    const struct dial_tls *tls; /* NULL: plain TCP */
    struct tls_conf *conf;      /* with tls: this thread's */
};

/* Sets d up for the calling thread: plain TCP when tls is NULL, else a client conf built
 * from tls. Returns 0, or -EINVAL with err saying which file and what is wrong. */
int dial_init(struct dial *d, const struct dial_tls *tls, char *err, size_t err_len);
/* Drops the conf (connections still open keep their own reference). */
void dial_close(struct dial *d);

/* Connects t to dst, from src when not NULL (its port chosen at connect time), over TLS
 * when d has a conf, else plain TCP; with TCP_NODELAY, because every request is written
 * whole and a push with the next poll behind it must not wait for an ACK.
 * Returns as transport_plain_connect(): 0, then cb->on_connect follows (with TLS, after
 * the handshake; a failed one comes with transport_tls_error()); or a UV_E* code, and
 * t->open says whether cb->on_closed follows. */
int dial_connect(struct transport *t, struct transport_env *env, struct dial *d,
                 const struct sockaddr *src, const struct sockaddr *dst);

/* Whether t's handshake resumed a session; false for plain TCP. */
bool dial_resumed(const struct transport *t);
/* Why t's TLS failed, or NULL (plain TCP, or the TCP connect failed). */
const char *dial_error(const struct transport *t);
/* Counts, from cb->on_connect, a connection that is up: a full or resumed handshake. */
void dial_count_up(const struct transport *t, struct stats *st);
/* Counts a failed connect: a handshake error when TLS says why, else a connect error. */
void dial_count_failed(const struct transport *t, struct stats *st);

#endif
