/* tls.h - mbedTLS 2.28 for the proxy (server), the client and the bench: configurations,
 * sessions, and the checks mbedTLS does not make the way Go does.
 *
 * A struct tls_conf holds what every session of one purpose shares: certificates, keys,
 * CAs, the protocol settings, a random generator and mbedTLS's config. It is used by one
 * loop thread at a time and is never locked: mbedTLS caches tables inside the parsed EC keys
 * and CA certificates on first use (ecp.c keeps grp->T), so two threads must not share
 * them, and a generator per thread needs no lock. A server with several worker threads
 * builds one conf per worker from the same struct tls_server_opts; the workers share only
 * struct tls_tickets. A conf is reference counted: every session holds a reference, so a
 * rotated certificate can be swapped in for new connections while open ones keep the old
 * conf until they close.
 *
 * A struct tls_sess is one connection's mbedTLS context and what we check beyond it. Its
 * I/O goes through the BIO callbacks its owner sets (transport_tls.c). mbedTLS error codes
 * stop here: functions return 0, UV_EAGAIN or a UV_E* code, and a failed session keeps a
 * text that says what is wrong in words (which certificate, which name, which date).
 *
 * Certificate checks done here rather than by mbedTLS:
 *   - client side, the server's name, as Go checks it: an IP address against IP SANs
 *     (mbedTLS 2.28 knows only DNS names), a name against DNS SANs only: a certificate
 *     without any SAN is refused, as Go refuses it, instead of matching its CN;
 *   - server side, the five client_auth_type policies of exporter-toolkit (mbedTLS has
 *     three modes) and client_allowed_sans;
 *   - tls_cert_names_fqdn(), for binding a client certificate to the FQDN it polls for. */
#ifndef PUSHPROX_TLS_H
#define PUSHPROX_TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "buf.h"

/* Where Debian keeps the system's CA bundle, used when no CA file is given. */
#define TLS_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_SYSTEM_CA_DIR "/etc/ssl/certs"
/* Longest error text we build: a reason plus a few certificate names and a date. */
#define TLS_ERR_MAX 512
/* How long a session ticket is honoured, and how often the ticket key changes (mbedTLS
 * keeps the previous key too). A resumed session skips certificate verification, so this
 * bounds how long a client may come back on a verification made earlier; an hour lets a
 * fleet that reconnects after a network blip or a proxy reload skip most handshake cost. */
#define TLS_TICKET_LIFETIME_S 3600
/* Sessions a client keeps to offer again, one per (host, port): the proxy and a few https
 * exporters. The least recently used one goes first. */
#define TLS_SESSION_CACHE_MAX 16
/* Most cipher_suites and curve_preferences entries (exporter-toolkit's lists are shorter:
 * Go knows 13 suite names and 4 curves; webconfig.h bounds them the same way). */
#define TLS_CIPHER_SUITES_MAX 64
#define TLS_CURVES_MAX 16
/* Most SANs of one kind tls_cert_info() lists (a certificate with more is listed in part). */
#define TLS_CERT_NAMES_MAX 32
/* Longest subject string for logs ("CN=node1.example.com, O=Example"). */
#define TLS_SUBJECT_MAX 256
/* Longest host name a client session checks (RFC 1035: 253, plus room). */
#define TLS_HOST_MAX 256

/* exporter-toolkit's client_auth_type, in the order (and with the values) of
 * webconfig.h's enum webconfig_client_auth, so a parsed file converts by value. */
enum tls_client_auth {
    TLS_NO_CLIENT_CERT = 0,             /* none asked for */
    TLS_REQUEST_CLIENT_CERT,            /* asked for, not required, not verified */
    TLS_REQUIRE_ANY_CLIENT_CERT,        /* required, not verified */
    TLS_VERIFY_CLIENT_CERT_IF_GIVEN,    /* not required, verified if sent */
    TLS_REQUIRE_AND_VERIFY_CLIENT_CERT, /* required and verified */
};

/* A server's settings, with the field names of struct webconfig (webconfig.h), so the
 * proxy passes a parsed --web.config.file through. Strings and lists are copied or parsed
 * by tls_conf_init_server(); the caller keeps ownership. */
struct tls_server_opts {
    /* The certificate (with its chain) and key: a file or inline PEM of each. */
    const char *cert_file, *key_file, *client_ca_file;
    const char *cert_pem, *key_pem, *client_ca_pem;
    enum tls_client_auth client_auth;
    /* TLS 1.x minor versions (MBEDTLS_SSL_MINOR_VERSION_1 = TLS 1.0 .. _3 = TLS 1.2);
     * 0: TLS 1.2, the lowest we accept by default and the highest mbedTLS 2.28 has. */
    int min_minor, max_minor;
    /* mbedTLS ciphersuite ids in preference order; NULL/0: mbedTLS's defaults. */
    const int *cipher_suites;
    size_t n_cipher_suites;
    /* Curves in preference order; NULL/0: mbedTLS's defaults. */
    const mbedtls_ecp_group_id *curves;
    size_t n_curves;
    /* With n_allowed_sans > 0, a client certificate must carry one of these SANs (DNS
     * name, IP address as text, e-mail or URI; exact match), and a client without one is
     * refused. */
    char *const *allowed_sans;
    size_t n_allowed_sans;
};

/* A client's settings. */
struct tls_client_opts {
    const char *cacert; /* PEM file, or NULL/"" for the system's CAs */
    const char *cert;   /* client certificate, or NULL/"" */
    const char *key;    /* its key, required with cert */
    bool insecure;      /* skip verification of the peer */
    const char *what;   /* "--tls" or "--scrape.tls", to name flags in errors */
};

/* The session ticket key, shared by every server conf of a process (every worker): a
 * ticket one worker issued resumes on any other. mbedTLS locks the ticket context with
 * its own mutex (MBEDTLS_THREADING_C); that lock is taken only while a ticket is written
 * or read, i.e. once per handshake, never for application data, so scrapes never wait on
 * it. Its generator is its own, used under that same lock. */
struct tls_tickets {
    mbedtls_ssl_ticket_context ctx;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

/* Sets up the ticket key (AES-256-GCM), rotated every lifetime_s. Returns 0, or -EIO with
 * err set and nothing to free. Close after every conf using it. */
int tls_tickets_init(struct tls_tickets *tk, uint32_t lifetime_s, char *err, size_t err_len);
void tls_tickets_close(struct tls_tickets *tk);

struct tls_session_slot;

struct tls_conf {
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    int cipher_suites[TLS_CIPHER_SUITES_MAX + 1];    /* 0-terminated, as mbedTLS keeps */
    mbedtls_ecp_group_id curves[TLS_CURVES_MAX + 1]; /* NONE-terminated */
    char **allowed_sans;
    size_t n_allowed_sans;
    enum tls_client_auth client_auth;
    bool server;
    bool verify;
    bool has_cert;
    bool heap; /* made by tls_conf_new_*(): the last unref frees it */
    atomic_uint refs;
    struct tls_session_slot *sessions; /* client: TLS_SESSION_CACHE_MAX, allocated on use */
    uint64_t session_clock;
};

/* Loads the certificate, key and client CAs and sets up a server configuration with
 * session tickets from tk (which must outlive the conf), renegotiation off. Returns 0 with
 * one reference held by the caller, or a negative errno with err naming the field, the
 * file and what is wrong, and nothing to free. */
int tls_conf_init_server(struct tls_conf *c, const struct tls_server_opts *o,
                         struct tls_tickets *tk, char *err, size_t err_len);

/* Loads CAs and an optional client certificate and sets up a client configuration.
 * Returns as tls_conf_init_server(). */
int tls_conf_init_client(struct tls_conf *c, const struct tls_client_opts *o, char *err,
                         size_t err_len);

/* As the init functions, on a conf of its own: NULL on failure (err set). The last
 * tls_conf_unref() frees it. */
struct tls_conf *tls_conf_new_server(const struct tls_server_opts *o, struct tls_tickets *tk,
                                     char *err, size_t err_len);
struct tls_conf *tls_conf_new_client(const struct tls_client_opts *o, char *err, size_t err_len);

/* Takes a reference; returns c. Any thread. */
struct tls_conf *tls_conf_ref(struct tls_conf *c);
/* Drops a reference; the last one frees what the conf holds (and the conf itself if made
 * by tls_conf_new_*()). Any thread, once no session of the conf is in use. */
void tls_conf_unref(struct tls_conf *c);

/* The notAfter of the conf's own certificate (the leaf) as a Unix time, 0 without one: for
 * an expiry metric. */
int64_t tls_conf_cert_not_after(const struct tls_conf *c);

/* One connection. */
struct tls_sess {
    mbedtls_ssl_context ssl;
    struct tls_conf *conf; /* a reference */
    char *host;            /* client: the name checked (and the session cache key) */
    char *err;             /* what failed, once something did */
    uint32_t chain_flags;  /* verification flags of the chain, gathered by the callback */
    int port;
    bool handshake_done;
    bool resumed;        /* the handshake resumed an earlier session */
    bool key_exchanged;  /* the handshake got as far as a key exchange (not resumed) */
    bool close_notified; /* the peer ended with close_notify, not a bare FIN */
    bool offered;        /* client: a cached session was offered */
    bool ready;          /* set up: close has something to free */
};

/* Sets up a session of conf c: a server (host NULL) or a client that checks the server's
 * certificate against host (a DNS name, sent as SNI, or an IP address) and offers the
 * session it last had with (host, port). Returns 0 or UV_ENOMEM/UV_EINVAL (err set);
 * tls_sess_close() must be called either way. The owner sets the BIO with
 * mbedtls_ssl_set_bio() before the handshake. */
int tls_sess_init(struct tls_sess *s, struct tls_conf *c, const char *host, int port);
/* Frees the session and drops its conf reference. Accepts a session never set up. */
void tls_sess_close(struct tls_sess *s);

/* Advances the handshake. Returns 0 when done (a client then keeps the session to offer
 * next time), UV_EAGAIN when it needs more input, or a UV_E* code with s->err saying what
 * failed (UV_EPROTO for TLS failures, UV_EOF when the peer closed). */
int tls_sess_handshake(struct tls_sess *s);

/* Decrypts at most cap bytes into dst. Returns the count (> 0), UV_EAGAIN when it needs
 * more input, UV_EOF when the peer sent close_notify, or UV_EPROTO with s->err set. */
int tls_sess_read(struct tls_sess *s, char *dst, size_t cap);

/* Encrypts at most one record of data (the BIO's send takes the ciphertext). Returns the
 * plaintext bytes used (> 0) or UV_EPROTO with s->err set. */
int tls_sess_write(struct tls_sess *s, const char *data, size_t len);

/* Records that the connection failed for reason (printf-style), unless an earlier reason
 * is kept. Returns code. */
int tls_sess_fail(struct tls_sess *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A SAN or the CN as it is in the certificate: not NUL-terminated, not copied. */
struct tls_name {
    const char *p;
    size_t len;
};

struct tls_ip {
    unsigned char addr[16];
    unsigned char len; /* 4 or 16 */
};

/* What the proxy needs to know of a (client) certificate. Names point into the
 * certificate and live as long as it does. */
struct tls_cert_info {
    struct tls_name cn; /* len 0 when the subject has none */
    struct tls_name dns[TLS_CERT_NAMES_MAX];
    size_t n_dns;
    struct tls_ip ip[TLS_CERT_NAMES_MAX];
    size_t n_ip;
    size_t n_other; /* SANs of other kinds (e-mail, URI, ...) */
    bool has_san;   /* the certificate has a subjectAltName extension */
    bool truncated; /* more than TLS_CERT_NAMES_MAX of a kind; the rest are not listed */
    int64_t not_before, not_after; /* Unix times */
    char subject[TLS_SUBJECT_MAX]; /* for logs */
};

/* Fills info from crt. Can't fail. */
void tls_cert_info(const mbedtls_x509_crt *crt, struct tls_cert_info *info);

/* Whether crt may speak for fqdn: a DNS SAN equal to it (ASCII case-insensitive) or a
 * wildcard SAN whose "*" is the whole left-most label and stands for exactly one label
 * ("*.example.com" names "a.example.com", not "a.b.example.com" nor "example.com"); for an
 * IP literal (IPv4, or IPv6 with or without brackets) an IP SAN of the same address, and
 * nothing else; the CN (exact, no wildcard) only when the certificate has no SAN at all. */
bool tls_cert_names_fqdn(const mbedtls_x509_crt *crt, const char *fqdn);

/* crt's notAfter as a Unix time. */
int64_t tls_cert_not_after(const mbedtls_x509_crt *crt);

/* A certificate's identity as tls_cert_names_fqdn() sees it, as compact text that can
 * travel between threads and be matched there without the certificate: lines "S" (it has
 * a subjectAltName), "D <dns name>", "I <ip address>", "C <common name>", "N <subject>"
 * (for messages). Names holding a control character are left out (they can name no FQDN).
 * Appends to out; returns 0 or -E2BIG/-ENOMEM from it. */
int tls_identity_write(const mbedtls_x509_crt *crt, struct buf *out);
/* tls_cert_names_fqdn() over an identity written by tls_identity_write(). */
bool tls_identity_names_fqdn(const char *id, size_t len, const char *fqdn);
/* The identity's subject ("N" line), or "" ; *n_len its length. */
const char *tls_identity_subject(const char *id, size_t len, size_t *n_len);

#endif
