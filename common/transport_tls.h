/* transport_tls.h - TLS behind the transport interface (transport.h), both roles, on mbedTLS
 * (tls.h) and the owner's libuv loop; nothing here blocks.
 *
 * Reading: ciphertext is read into the env's read buffer and handed to mbedTLS from there;
 * plaintext is decrypted into the buffer the owner lends in cb->on_alloc (so a body is still
 * read in place), else into the env's plaintext buffer. When the owner stops reading in
 * the middle of a read, only the ciphertext mbedTLS has not taken yet is copied (held), and
 * delivered, before anything newer, once the owner reads again (from the next loop turn,
 * never from inside transport_read_start()).
 *
 * Writing: plaintext is encrypted record by record into the env's staging buffer, which is
 * written with one uv_try_write(); what the socket does not take is copied into a queued
 * write. While more than TRANSPORT_TLS_QUEUE_MAX_BYTES of ciphertext waits for the socket,
 * the rest of the owner's plaintext is not encrypted yet (transport_write() keeps pointing at
 * it, as it may; transport_write_copy() copies it): a peer that does not read costs at most
 * that much. Each queued transport_write() ends with one cb->on_written, in order, once its
 * last record went to the kernel.
 *
 * Closing: transport_shutdown() sends close_notify, then FIN, after the queued writes;
 * transport_close() sends close_notify if the socket takes it at once, then closes.
 * An accepted connection whose first bytes are a plaintext HTTP request gets Go's answer
 * ("HTTP/1.0 400 Bad Request" ... "Client sent an HTTP request to an HTTPS server.") and
 * fails its handshake.
 *
 * Owner: as every transport, the loop thread of its env; the conf is that thread's too
 * (tls.h). A transport holds a reference to its conf until it is closed. */
#ifndef PUSHPROX_TRANSPORT_TLS_H
#define PUSHPROX_TRANSPORT_TLS_H

#include <stdbool.h>

#include "tls.h"
#include "transport.h"

/* The ciphertext of one record at most: content plus header, IV, MAC and padding
 * (mbedTLS's own MBEDTLS_SSL_OUT_BUFFER_LEN is a little smaller). */
#define TRANSPORT_TLS_RECORD_MAX_BYTES (MBEDTLS_SSL_OUT_CONTENT_LEN + 1024)
/* Ciphertext a connection queues for the socket before it stops encrypting: four records
 * keep the socket busy between write callbacks, and bound what a peer that does not read
 * costs beyond its kernel buffer. */
#define TRANSPORT_TLS_QUEUE_MAX_BYTES (4 * TRANSPORT_TLS_RECORD_MAX_BYTES)
/* The env's staging buffer: the ciphertext of one call (a handshake flight, a response's
 * head and body records) goes out with one system call. */
#define TRANSPORT_TLS_STAGE_BYTES (4 * TRANSPORT_TLS_RECORD_MAX_BYTES)
/* The env's plaintext buffer: one record's content, what one mbedtls_ssl_read() gives. */
#define TRANSPORT_TLS_PLAIN_BYTES MBEDTLS_SSL_IN_CONTENT_LEN

/* Takes an accepted socket fd as a TLS server connection with conf (a server conf). The
 * handshake is driven by the reads the owner starts; cb->on_handshake says when it is done,
 * a failure comes to cb->on_read as an error (transport_tls_error() says why). Returns 0,
 * or a UV_E* code: the fd is then still the caller's, and if t->open is set the handle is
 * closing and cb->on_closed follows. */
int transport_tls_open(struct transport *t, struct transport_env *env, int fd,
                       struct tls_conf *conf);

/* Connects to dst (from src when given) and shakes hands as a client with conf, checking the
 * server's certificate against hostname (a DNS name, or an IP address). cb->on_connect
 * follows with 0 once the handshake is done, or a UV_E* code: without transport_tls_error()
 * the TCP connect failed, with it the handshake did. Returns 0, or a UV_E* code with
 * t->open telling whether cb->on_closed follows. */
int transport_tls_connect(struct transport *t, struct transport_env *env,
                          const struct sockaddr *src, const struct sockaddr *dst,
                          struct tls_conf *conf, const char *hostname);

/* Why the handshake or the connection failed, or NULL; valid until cb->on_closed. NULL
 * for a plain transport. */
/* Turns an open, connected plain transport (nothing queued, e.g. a tunnel an HTTP proxy
 * opened with CONNECT) into a TLS client session to hostname:port on the same socket; the
 * handshake starts at once and ends in cb->on_connect, as for transport_tls_connect().
 * Returns 0, or a UV_E* code: then the transport is closing and cb->on_closed follows. */
int transport_tls_upgrade(struct transport *t, struct tls_conf *conf, const char *hostname,
                          int port);

const char *transport_tls_error(const struct transport *t);

/* The peer's certificate once the handshake is done (a client's only if it sent one), or
 * NULL; valid until cb->on_closed. */
const mbedtls_x509_crt *transport_tls_peer_cert(const struct transport *t);

/* Whether the handshake is done; whether it resumed an earlier session (a ticket). */
bool transport_tls_handshake_done(const struct transport *t);
bool transport_tls_resumed(const struct transport *t);
/* Whether the peer ended its side with close_notify (rather than a FIN alone, which may be a
 * truncation). */
bool transport_tls_clean_end(const struct transport *t);

#endif
