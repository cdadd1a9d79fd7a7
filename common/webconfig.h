/* webconfig.h - the Prometheus exporter-toolkit web configuration file (--web.config.file).
 *
 * The file has exporter-toolkit's format and meaning (docs/web-configuration.md upstream):
 *
 *   tls_server_config:        TLS for the listener; absent or without any certificate,
 *     cert_file, key_file       key, CA or client_auth_type: plain HTTP
 *     cert, key                 (inline PEM; each exclusive with its *_file twin)
 *     client_ca_file, client_ca
 *     client_auth_type          NoClientCert (default), RequestClientCert,
 *                               RequireAnyClientCert (alias RequireClientCert),
 *                               VerifyClientCertIfGiven, RequireAndVerifyClientCert
 *     min_version, max_version  TLS10 TLS11 TLS12 TLS13; default TLS12..TLS13
 *     cipher_suites             Go's names (tls.CipherSuites()), e.g.
 *                               TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
 *     curve_preferences         CurveP256 CurveP384 CurveP521 X25519
 *     prefer_server_cipher_suites  boolean, default true
 *     client_allowed_sans       list of DNS/IP/e-mail/URI SANs, one must match
 *   http_server_config:
 *     http2                     boolean; accepted and ignored (we speak HTTP/1.1 only)
 *     headers                   Content-Security-Policy, X-Frame-Options (deny|sameorigin),
 *                               X-Content-Type-Options (nosniff), X-XSS-Protection,
 *                               Strict-Transport-Security; no other name
 *   basic_auth_users:         user: bcrypt hash ($2a$, $2b$ or $2y$)
 *   rate_limit:               interval (Go duration; 0 = off), burst (integer)
 *
 * As exporter-toolkit (which unmarshals strictly), an unknown or repeated key at any level
 * is refused, and so is a value of the wrong kind; every such error names the file, the
 * line and the key. Where mbedTLS 2.28 cannot do what the file asks (a TLS 1.3 minimum) or
 * where upstream would accept a file that cannot work, the file is refused with a message
 * saying so. Certificate files are only named here, never opened: the TLS layer loads them.
 *
 * Owner: a struct webconfig is plain data, filled once by webconfig_load/parse and read-only
 * afterwards, so any number of threads may read it; webconfig_close() frees it. No global
 * state. */
#ifndef PUSHPROX_WEBCONFIG_H
#define PUSHPROX_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ecp.h>

/* Largest file read. A web config holds a few paths, a few users and at most a few inline
 * PEM blocks; 1 MiB fits a CA bundle inline (Debian's whole system bundle is ~200 KiB) and
 * bounds what libyaml allocates for a hostile file (its node tree is a small multiple of
 * the input). */
#define WEBCONFIG_MAX_BYTES (1024 * 1024)
/* Longest ordinary string value (a path, a SAN, a header value, a user name): PATH_MAX. */
#define WEBCONFIG_MAX_STRING_BYTES 4096
/* Longest inline PEM value (cert, key, client_ca): the file limit bounds it anyway. */
#define WEBCONFIG_MAX_PEM_BYTES WEBCONFIG_MAX_BYTES
/* Most basic_auth_users. Upstream's own docs call basic auth a tool "for a few users";
 * every entry may cost a bcrypt run, so a larger table is a mistake, not a need. */
#define WEBCONFIG_MAX_USERS 1024
/* Most cipher_suites entries: Go knows 13 names; repeats are allowed as upstream. */
#define WEBCONFIG_MAX_CIPHER_SUITES 64
/* Most curve_preferences entries: 4 names, repeats allowed as upstream. */
#define WEBCONFIG_MAX_CURVES 16
/* Most client_allowed_sans entries. Each is compared with each SAN of each client
 * certificate, so the list stays small. */
#define WEBCONFIG_MAX_ALLOWED_SANS 1024
/* Longest error text built; messages name the file, the line and an escaped key. */
#define WEBCONFIG_ERR_MAX 512

/* tls_server_config.client_auth_type, in Go's crypto/tls order. */
enum webconfig_client_auth {
    WEBCONFIG_NO_CLIENT_CERT = 0,             /* no certificate asked for (the default) */
    WEBCONFIG_REQUEST_CLIENT_CERT,            /* asked for, not required, not verified */
    WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,        /* required, not verified */
    WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,    /* not required; verified if sent */
    WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT, /* required and verified: the secure one */
};

struct webconfig_header {
    char *name;  /* exactly one of the five names listed above, as written */
    char *value; /* never empty: a blank value means "unset" and is left out */
};

struct webconfig_user {
    char *name; /* any string without ':' (Basic credentials split at the first ':') */
    char *hash; /* a bcrypt hash, syntax checked by basic_auth_hash_valid() */
};

/* The parsed file. Every pointer is NULL and every count 0 when the file does not set it.
 * Strings are NUL-terminated copies that never contain a NUL byte. */
struct webconfig {
    /* tls_server_config. tls is true when the section sets any of cert_file, cert, key_file,
     * key, client_ca_file, client_ca or client_auth_type (upstream's TLSConfig.IsEnabled);
     * parsing then guarantees a certificate and a key (one of each form). */
    bool tls;
    /* Paths, relative ones joined to the config file's directory as upstream does
     * (config_util.JoinDir: absolute paths kept, others "dir/path"). */
    char *cert_file, *key_file, *client_ca_file;
    /* Inline PEM (cert, key, client_ca): pass to mbedtls_x509_crt_parse() /
     * mbedtls_pk_parse_key() with strlen() + 1 bytes, since PEM input must include its NUL.
     * Never set together with the matching *_file. */
    char *cert_pem, *key_pem, *client_ca_pem;
    /* Any mode but NO_CLIENT_CERT needs mbedtls_ssl_conf_authmode(): REQUEST and
     * REQUIRE_ANY map to OPTIONAL with verification results ignored (REQUIRE_ANY also
     * refusing a client that sent none), VERIFY_IF_GIVEN to OPTIONAL with results enforced
     * when a certificate came, REQUIRE_AND_VERIFY to REQUIRED. A verifying mode without a
     * client CA (file or inline) verifies against the system's CA pool, as Go does with
     * ClientCAs unset; upstream's own examples use VerifyClientCertIfGiven that way. */
    enum webconfig_client_auth client_auth;
    /* TLS 1.x minor version numbers for mbedtls_ssl_conf_min_version() / _max_version()
     * (MBEDTLS_SSL_MINOR_VERSION_1 = TLS 1.0 ... _3 = TLS 1.2). Default: TLS 1.2 .. the
     * highest we have. max_version TLS13 means "the highest we have" (1.2 with mbedTLS
     * 2.28); min_version TLS13 is refused; min > max is refused. Set even without TLS. */
    int min_minor, max_minor;
    /* cipher_suites as mbedTLS ids in the file's order, for mbedtls_ssl_conf_ciphersuites()
     * (the array is 0-terminated: cipher_suites[n_cipher_suites] == 0). NULL means the
     * file named none: use mbedTLS's defaults. Go's TLS 1.3 names (TLS_AES_128_GCM_SHA256,
     * TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) are accepted and left out, as
     * Go ignores them too; a list of only those is refused (it would allow nothing here). */
    int *cipher_suites;
    size_t n_cipher_suites;
    /* curve_preferences for mbedtls_ssl_conf_curves(), MBEDTLS_ECP_DP_NONE-terminated; NULL
     * means mbedTLS's defaults. */
    mbedtls_ecp_group_id *curves;
    size_t n_curves;
    /* Accepted as upstream; mbedTLS servers always pick by their own order, so this is
     * informative only. Default true. */
    bool prefer_server_cipher_suites;
    /* client_allowed_sans: when n_allowed_sans > 0 a client certificate must carry a SAN
     * (DNS name, IP address in text form, e-mail or URI) equal to one entry, and a client
     * that sends no certificate is refused. Parsing refuses the list with NoClientCert
     * (no certificate would ever be checked) and refuses an empty list. */
    char **allowed_sans;
    size_t n_allowed_sans;

    /* http_server_config. http2 is accepted (default true) and ignored. */
    bool http2;
    struct webconfig_header *headers; /* to add to every response */
    size_t n_headers;

    /* basic_auth_users, in file order; names are unique. n_users == 0: no auth. */
    struct webconfig_user *users;
    size_t n_users;

    /* rate_limit: a token bucket refilled one token per interval, holding at most burst
     * tokens (golang.org/x/time/rate as upstream); interval 0 (the default) disables it.
     * Upstream answers 429 when the bucket is empty, so burst 0 with an interval refuses
     * every request, as there. */
    uint64_t rate_limit_interval_ns;
    uint64_t rate_limit_burst;
};

/* Reads and parses the file at path (see webconfig_parse). Returns 0, or a negative errno
 * (-ENOENT etc. from open/read, -EFBIG past WEBCONFIG_MAX_BYTES, -EINVAL for bad content,
 * -ENOMEM) with err saying what is wrong, naming the file. On error wc holds nothing to
 * free, but webconfig_close() may be called either way. */
int webconfig_load(const char *path, struct webconfig *wc, char *err, size_t err_len);

/* Parses len bytes of YAML text (no NUL needed). path_for_errors names the file in errors
 * and gives the directory relative paths are joined to; NULL means "<input>" and paths are
 * kept as written. Fills *wc (which it zeroes first). Returns 0, or -EINVAL with err
 * naming file, line and key, -EFBIG when len > WEBCONFIG_MAX_BYTES, -E2BIG when a string or
 * list is over its limit, -ENOMEM. On error *wc is left empty. The caller frees with
 * webconfig_close(). err is always NUL-terminated when err_len > 0. */
int webconfig_parse(const char *text, size_t len, const char *path_for_errors, struct webconfig *wc,
                    char *err, size_t err_len);

/* Frees everything in *wc and zeroes it. Accepts a zeroed or half-filled struct. */
void webconfig_close(struct webconfig *wc);

/* The bcrypt hash of user, or NULL if the file has no such user. The string belongs to wc.
 * Can't fail. Callers check an unknown user against BASIC_AUTH_DUMMY_HASH anyway, so the
 * time taken does not tell whether the user exists (see basic_auth.h). */
const char *webconfig_user_hash(const struct webconfig *wc, const char *user);

/* The name exporter-toolkit uses for a client_auth_type value ("NoClientCert", ...). */
const char *webconfig_client_auth_name(enum webconfig_client_auth a);

#endif
