/* tls.h - mbedTLS 2.28 for libuv connections, memory-BIO style.
 *
 * mbedTLS never touches a socket here: the connection feeds received ciphertext with
 * tls_sess_feed(), takes plaintext out with tls_sess_read(), puts plaintext in with
 * tls_sess_write(), and writes whatever ciphertext has collected in sess->out to the
 * socket itself (then empties it). A tls_conf is shared by every session of one purpose
 * (the proxy's, the exporters'); both live on the client's one loop. mbedTLS error codes
 * stop here: functions return 0 or a negative errno/UV_E* code and fill a text that
 * says what is wrong (certificate verification flags in words). */
#ifndef PUSHPROX_TLS_H
#define PUSHPROX_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "buf.h"

/* Where Debian keeps the system's CA bundle, used when no CA file is given. */
#define TLS_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
/* Most ciphertext held on either side of a session: a few TLS records (16 KiB each)
 * plus one socket read (64 KiB). The connection drains both after every event. */
#define TLS_BUF_MAX_BYTES (1024 * 1024)
/* Longest error text we build. */
#define TLS_ERR_MAX 256

struct tls_conf {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool verify;
};

struct tls_conf_opts {
    const char *cacert; /* PEM file, or NULL/"" for the system's CAs */
    const char *cert;   /* client certificate, or NULL/"" */
    const char *key;    /* its key, required with cert */
    bool insecure;      /* skip verification of the peer */
    const char *what;   /* "--tls" or "--scrape.tls", to name flags in errors */
};

/* Loads certificates and keys and sets up a client configuration. Returns 0, or a
 * negative errno with err saying which file and what is wrong. tls_conf_close() must be
 * called either way. */
int tls_conf_init(struct tls_conf *c, const struct tls_conf_opts *o, char *err, size_t err_len);
void tls_conf_close(struct tls_conf *c);

struct tls_sess {
    mbedtls_ssl_context ssl;
    struct buf in;  /* received ciphertext not yet read by mbedTLS */
    size_t in_off;  /* bytes of in already read */
    struct buf out; /* ciphertext to write to the socket */
    bool handshake_done;
    bool ready;         /* set up, so close has something to free */
    char hostname[256]; /* checked against the certificate, for error texts */
};

/* Starts a client session that checks the peer's certificate against hostname (also
 * sent as SNI). Returns 0 or -ENOMEM/-EINVAL. tls_sess_close() must be called either way. */
int tls_sess_init(struct tls_sess *s, struct tls_conf *c, const char *hostname);
void tls_sess_close(struct tls_sess *s);

/* Ciphertext from the socket. Returns 0 or -E2BIG past TLS_BUF_MAX_BYTES. */
int tls_sess_feed(struct tls_sess *s, const char *data, size_t len);

/* Advances the handshake. Returns 0 when done, UV_EAGAIN when it needs more input
 * (write out s->out first), or a negative code with err describing the failure. */
int tls_sess_handshake(struct tls_sess *s, char *err, size_t err_len);

/* Decrypts into dst. Returns the byte count (> 0), 0 when it needs more input, UV_EOF
 * when the peer closed the session, or a negative code with err set. */
int tls_sess_read(struct tls_sess *s, char *dst, size_t cap, char *err, size_t err_len);

/* Encrypts all of data into s->out. Returns 0 or a negative code with err set. */
int tls_sess_write(struct tls_sess *s, const char *data, size_t len, char *err, size_t err_len);

#endif
