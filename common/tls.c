/* tls.c - mbedTLS configurations, sessions and certificate checks (see tls.h).
 * Owner: a conf belongs to the thread whose loop uses it (its references may be dropped from
 * any thread); a session to its connection's loop; the ticket context is shared by every
 * server conf of the process and locked by mbedTLS. The client's session cache lives in its
 * conf and is touched by that conf's one thread only. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>

/* Longest text of one certificate's names in an error ("a.example.com, 10.0.0.1, ..."). */
#define TLS_NAMES_TEXT_MAX 200

struct tls_session_slot {
    char host[TLS_HOST_MAX];
    int port;
    uint64_t used; /* the conf's session_clock when last stored */
    bool set;
    mbedtls_ssl_session s;
};

static int on_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags);
static struct tls_name cn_of(const mbedtls_x509_crt *crt);

static void mbed_err(int rc, const char *what, char *err, size_t err_len)
{
    char tmp[160];
    mbedtls_strerror(rc, tmp, sizeof(tmp));
    snprintf(err, err_len, "%s: %s (-0x%04x)", what, tmp, (unsigned)-rc);
}

/* A file we cannot open gets the OS's reason, which beats mbedTLS' "read failed". */
static int check_readable(const char *path, const char *what, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err, err_len, "%s: cannot read %s: %s", what, path, strerror(e));
        return -e;
    }
    fclose(f);
    return 0;
}

static int seed(mbedtls_ctr_drbg_context *drbg, mbedtls_entropy_context *entropy, const char *pers,
                char *err, size_t err_len)
{
    int rc = mbedtls_ctr_drbg_seed(drbg, mbedtls_entropy_func, entropy, (const unsigned char *)pers,
                                   strlen(pers));
    if (rc != 0) {
        mbed_err(rc, "tls: seeding the random generator", err, err_len);
        return -EIO;
    }
    return 0;
}

/* --- time --- */

static int64_t x509_time_unix(const mbedtls_x509_time *t)
{
    struct tm tm = {.tm_year = t->year - 1900,
                    .tm_mon = t->mon - 1,
                    .tm_mday = t->day,
                    .tm_hour = t->hour,
                    .tm_min = t->min,
                    .tm_sec = t->sec};
    return (int64_t)timegm(&tm);
}

static void x509_time_text(const mbedtls_x509_time *t, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day, t->hour,
             t->min, t->sec);
}

int64_t tls_cert_not_after(const mbedtls_x509_crt *crt)
{
    return x509_time_unix(&crt->valid_to);
}

/* --- tickets --- */

int tls_tickets_init(struct tls_tickets *tk, uint32_t lifetime_s, char *err, size_t err_len)
{
    int rc;

    mbedtls_ssl_ticket_init(&tk->ctx);
    mbedtls_entropy_init(&tk->entropy);
    mbedtls_ctr_drbg_init(&tk->drbg);
    if ((rc = seed(&tk->drbg, &tk->entropy, "pushprox tickets", err, err_len)) != 0)
        goto fail;
    rc = mbedtls_ssl_ticket_setup(&tk->ctx, mbedtls_ctr_drbg_random, &tk->drbg,
                                  MBEDTLS_CIPHER_AES_256_GCM, lifetime_s);
    if (rc != 0) {
        mbed_err(rc, "tls: session tickets", err, err_len);
        rc = -EIO;
        goto fail;
    }
    return 0;
fail:
    tls_tickets_close(tk);
    return rc;
}

void tls_tickets_close(struct tls_tickets *tk)
{
    mbedtls_ssl_ticket_free(&tk->ctx);
    mbedtls_ctr_drbg_free(&tk->drbg);
    mbedtls_entropy_free(&tk->entropy);
}

/* --- configurations --- */

static void conf_free(struct tls_conf *c)
{
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    for (size_t i = 0; i < c->n_allowed_sans; i++)
        free(c->allowed_sans[i]);
    free(c->allowed_sans);
    c->allowed_sans = NULL;
    c->n_allowed_sans = 0;
    if (c->sessions) {
        for (size_t i = 0; i < TLS_SESSION_CACHE_MAX; i++)
            mbedtls_ssl_session_free(&c->sessions[i].s);
        free(c->sessions);
        c->sessions = NULL;
    }
}

/* Every context initialised before anything can fail, so one cleanup frees them all. */
static int conf_begin(struct tls_conf *c, bool server, char *err, size_t err_len)
{
    int rc;

    memset(c, 0, sizeof(*c));
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    atomic_init(&c->refs, 1);
    c->server = server;
    if ((rc = seed(&c->drbg, &c->entropy, server ? "pushprox server" : "pushprox client", err,
                   err_len)) != 0)
        return rc;
    rc = mbedtls_ssl_config_defaults(&c->conf,
                                     server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        mbed_err(rc, "tls: config defaults", err, err_len);
        return -EIO;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
    mbedtls_ssl_conf_max_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    /* No renegotiation, and no handshake with a peer that does not say it is safe from the
     * renegotiation attack (RFC 5746): Go, OpenSSL and mbedTLS all say so. */
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(&c->conf, MBEDTLS_SSL_LEGACY_BREAK_HANDSHAKE);
    return 0;
}

/* Parses a certificate (chain) from a file or inline PEM; what names it in errors. */
static int load_crt(mbedtls_x509_crt *crt, const char *file, const char *pem, const char *what,
                    char *err, size_t err_len)
{
    char name[96];
    int rc;

    if (file && file[0]) {
        if ((rc = check_readable(file, what, err, err_len)) != 0)
            return rc;
        if ((rc = mbedtls_x509_crt_parse_file(crt, file)) != 0) {
            snprintf(name, sizeof(name), "%s: %.60s: not a PEM certificate", what, file);
            mbed_err(rc, name, err, err_len);
            return -EINVAL;
        }
        return 0;
    }
    rc = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
    if (rc != 0) {
        snprintf(name, sizeof(name), "%s: not a PEM certificate", what);
        mbed_err(rc, name, err, err_len);
        return -EINVAL;
    }
    return 0;
}

static int load_key(mbedtls_pk_context *key, const char *file, const char *pem, const char *what,
                    char *err, size_t err_len)
{
    char name[96];
    int rc;

    if (file && file[0]) {
        if ((rc = check_readable(file, what, err, err_len)) != 0)
            return rc;
        if ((rc = mbedtls_pk_parse_keyfile(key, file, NULL)) != 0) {
            snprintf(name, sizeof(name), "%s: %.60s: not a usable private key", what, file);
            mbed_err(rc, name, err, err_len);
            return -EINVAL;
        }
        return 0;
    }
    rc = mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
    if (rc != 0) {
        snprintf(name, sizeof(name), "%s: not a usable private key", what);
        mbed_err(rc, name, err, err_len);
        return -EINVAL;
    }
    return 0;
}

/* The system's CAs; a bundle with a few unparsable entries still loads the rest (a positive
 * return counts them), so only "none at all" is an error. */
static int load_system_cas(mbedtls_x509_crt *ca, const char *what, char *err, size_t err_len)
{
    int rc = mbedtls_x509_crt_parse_file(ca, TLS_SYSTEM_CA_FILE);
    if (rc < 0 && ca->version == 0)
        rc = mbedtls_x509_crt_parse_path(ca, TLS_SYSTEM_CA_DIR);
    if (rc < 0 && ca->version == 0) {
        snprintf(err, err_len, "%s: no CA given and no system CAs in %s", what, TLS_SYSTEM_CA_FILE);
        return -ENOENT;
    }
    return 0;
}

static int own_cert(struct tls_conf *c, const char *cert_what, const char *key_what,
                    const char *cert_name, char *err, size_t err_len)
{
    int rc;

    if (mbedtls_pk_check_pair(&c->cert.pk, &c->key) != 0) {
        snprintf(err, err_len, "%s does not go with the certificate in %s (%s)", key_what,
                 cert_what, cert_name);
        return -EINVAL;
    }
    if ((rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
        mbed_err(rc, "tls: certificate and key do not go together", err, err_len);
        return -EINVAL;
    }
    c->has_cert = true;
    return 0;
}

int tls_conf_init_server(struct tls_conf *c, const struct tls_server_opts *o,
                         struct tls_tickets *tk, char *err, size_t err_len)
{
    bool cert_given = (o->cert_file && o->cert_file[0]) || o->cert_pem;
    bool key_given = (o->key_file && o->key_file[0]) || o->key_pem;
    bool ca_given = (o->client_ca_file && o->client_ca_file[0]) || o->client_ca_pem;
    int authmode, min = o->min_minor ? o->min_minor : MBEDTLS_SSL_MINOR_VERSION_3;
    int max = o->max_minor ? o->max_minor : MBEDTLS_SSL_MINOR_VERSION_3;
    int rc;

    if ((rc = conf_begin(c, true, err, err_len)) != 0)
        goto fail;
    c->client_auth = o->client_auth;
    if (!cert_given || !key_given) {
        snprintf(err, err_len, "tls: missing %s",
                 !cert_given ? "cert_file or cert" : "key_file or key");
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = load_crt(&c->cert, o->cert_file, o->cert_pem,
                       o->cert_file && o->cert_file[0] ? "cert_file" : "cert", err, err_len)) !=
            0 ||
        (rc = load_key(&c->key, o->key_file, o->key_pem,
                       o->key_file && o->key_file[0] ? "key_file" : "key", err, err_len)) != 0 ||
        (rc = own_cert(c, "cert_file", "key_file",
                       o->cert_file && o->cert_file[0] ? o->cert_file : "inline cert", err,
                       err_len)) != 0)
        goto fail;

    /* Go's five policies on mbedTLS's three modes: those mbedTLS cannot express are
     * OPTIONAL plus our checks after the client's Certificate (client_cert_check()). */
    switch (o->client_auth) {
    case TLS_NO_CLIENT_CERT: authmode = MBEDTLS_SSL_VERIFY_NONE; break;
    case TLS_REQUIRE_AND_VERIFY_CLIENT_CERT: authmode = MBEDTLS_SSL_VERIFY_REQUIRED; break;
    case TLS_REQUEST_CLIENT_CERT:
    case TLS_REQUIRE_ANY_CLIENT_CERT:
    case TLS_VERIFY_CLIENT_CERT_IF_GIVEN: authmode = MBEDTLS_SSL_VERIFY_OPTIONAL; break;
    default:
        snprintf(err, err_len, "tls: unknown client_auth_type %d", (int)o->client_auth);
        rc = -EINVAL;
        goto fail;
    }
    mbedtls_ssl_conf_authmode(&c->conf, authmode);
    c->verify = o->client_auth == TLS_VERIFY_CLIENT_CERT_IF_GIVEN ||
                o->client_auth == TLS_REQUIRE_AND_VERIFY_CLIENT_CERT;
    if (ca_given) {
        if ((rc = load_crt(&c->ca, o->client_ca_file, o->client_ca_pem,
                           o->client_ca_file && o->client_ca_file[0] ? "client_ca_file"
                                                                     : "client_ca",
                           err, err_len)) != 0)
            goto fail;
    } else if (c->verify) {
        /* As Go with ClientCAs unset: the system's pool. */
        if ((rc = load_system_cas(&c->ca, "client_ca_file", err, err_len)) != 0)
            goto fail;
    }
    if (c->ca.version != 0)
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);

    if (min < MBEDTLS_SSL_MINOR_VERSION_1 || max > MBEDTLS_SSL_MINOR_VERSION_3 || min > max) {
        snprintf(err, err_len,
                 "tls: versions TLS 1.%d .. TLS 1.%d not possible (mbedTLS has "
                 "TLS 1.0 to 1.2)",
                 min - 1, max - 1);
        rc = -EINVAL;
        goto fail;
    }
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, min);
    mbedtls_ssl_conf_max_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, max);
    if (o->n_cipher_suites > 0) {
        size_t n = 0;
        if (o->n_cipher_suites > TLS_CIPHER_SUITES_MAX) {
            snprintf(err, err_len, "tls: more than %d cipher_suites", TLS_CIPHER_SUITES_MAX);
            rc = -E2BIG;
            goto fail;
        }
        for (size_t i = 0; i < o->n_cipher_suites; i++)
            if (o->cipher_suites[i] != 0)
                c->cipher_suites[n++] = o->cipher_suites[i];
        c->cipher_suites[n] = 0;
        mbedtls_ssl_conf_ciphersuites(&c->conf, c->cipher_suites);
    }
    if (o->n_curves > 0) {
        size_t n = 0;
        if (o->n_curves > TLS_CURVES_MAX) {
            snprintf(err, err_len, "tls: more than %d curve_preferences", TLS_CURVES_MAX);
            rc = -E2BIG;
            goto fail;
        }
        for (size_t i = 0; i < o->n_curves; i++)
            if (o->curves[i] != MBEDTLS_ECP_DP_NONE)
                c->curves[n++] = o->curves[i];
        c->curves[n] = MBEDTLS_ECP_DP_NONE;
        mbedtls_ssl_conf_curves(&c->conf, c->curves);
    }
    if (o->n_allowed_sans > 0) {
        if (!(c->allowed_sans = calloc(o->n_allowed_sans, sizeof(*c->allowed_sans)))) {
            rc = -ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < o->n_allowed_sans; i++) {
            if (!(c->allowed_sans[i] = strdup(o->allowed_sans[i]))) {
                rc = -ENOMEM;
                goto fail;
            }
            c->n_allowed_sans++;
        }
    }
    if (tk)
        mbedtls_ssl_conf_session_tickets_cb(&c->conf, mbedtls_ssl_ticket_write,
                                            mbedtls_ssl_ticket_parse, &tk->ctx);
    return 0;
fail:
    if (rc == -ENOMEM)
        snprintf(err, err_len, "tls: out of memory");
    conf_free(c);
    return rc;
}

int tls_conf_init_client(struct tls_conf *c, const struct tls_client_opts *o, char *err,
                         size_t err_len)
{
    char what[64];
    int rc;

    if ((rc = conf_begin(c, false, err, err_len)) != 0)
        goto fail;
    c->verify = !o->insecure;
    if (o->cacert && o->cacert[0]) {
        snprintf(what, sizeof(what), "%s.cacert", o->what);
        if ((rc = load_crt(&c->ca, o->cacert, NULL, what, err, err_len)) != 0)
            goto fail;
    } else if (!o->insecure) {
        snprintf(what, sizeof(what), "%s.cacert", o->what);
        if ((rc = load_system_cas(&c->ca, what, err, err_len)) != 0)
            goto fail;
    }
    if ((o->cert && o->cert[0]) != (o->key && o->key[0])) {
        snprintf(err, err_len, "%s.cert and %s.key must be given together", o->what, o->what);
        rc = -EINVAL;
        goto fail;
    }
    if (o->cert && o->cert[0]) {
        char key_what[64];
        snprintf(what, sizeof(what), "%s.cert", o->what);
        snprintf(key_what, sizeof(key_what), "%s.key", o->what);
        if ((rc = load_crt(&c->cert, o->cert, NULL, what, err, err_len)) != 0 ||
            (rc = load_key(&c->key, o->key, NULL, key_what, err, err_len)) != 0)
            goto fail;
        char key_text[TLS_HOST_MAX + 64];
        snprintf(key_text, sizeof(key_text), "%s: %s", key_what, o->key);
        if ((rc = own_cert(c, what, key_text, o->cert, err, err_len)) != 0)
            goto fail;
    }
    mbedtls_ssl_conf_authmode(&c->conf,
                              o->insecure ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    return 0;
fail:
    conf_free(c);
    return rc;
}

struct tls_conf *tls_conf_new_server(const struct tls_server_opts *o, struct tls_tickets *tk,
                                     char *err, size_t err_len)
{
    struct tls_conf *c = malloc(sizeof(*c));
    if (!c) {
        snprintf(err, err_len, "tls: out of memory");
        return NULL;
    }
    if (tls_conf_init_server(c, o, tk, err, err_len) != 0) {
        free(c);
        return NULL;
    }
    c->heap = true;
    return c;
}

struct tls_conf *tls_conf_new_client(const struct tls_client_opts *o, char *err, size_t err_len)
{
    struct tls_conf *c = malloc(sizeof(*c));
    if (!c) {
        snprintf(err, err_len, "tls: out of memory");
        return NULL;
    }
    if (tls_conf_init_client(c, o, err, err_len) != 0) {
        free(c);
        return NULL;
    }
    c->heap = true;
    return c;
}

struct tls_conf *tls_conf_ref(struct tls_conf *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void tls_conf_unref(struct tls_conf *c)
{
    /* acq_rel: whatever a session did with the conf happens before the last one frees it. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    conf_free(c);
    if (c->heap)
        free(c);
}

int64_t tls_conf_cert_not_after(const struct tls_conf *c)
{
    return c->has_cert ? tls_cert_not_after(&c->cert) : 0;
}

/* --- the client's session cache --- */

static struct tls_session_slot *session_find(struct tls_conf *c, const char *host, int port)
{
    if (!c->sessions)
        return NULL;
    for (size_t i = 0; i < TLS_SESSION_CACHE_MAX; i++) {
        struct tls_session_slot *sl = &c->sessions[i];
        if (sl->set && sl->port == port && strcmp(sl->host, host) == 0)
            return sl;
    }
    return NULL;
}

static void session_drop(struct tls_session_slot *sl)
{
    mbedtls_ssl_session_free(&sl->s);
    sl->set = false;
}

/* Keeps the session s just established, replacing the one of the same (host, port) or the
 * least recently stored. Failing to keep it only costs a full handshake next time. */
static void session_store(struct tls_sess *s)
{
    struct tls_conf *c = s->conf;
    struct tls_session_slot *sl;

    if (!c->sessions && !(c->sessions = calloc(TLS_SESSION_CACHE_MAX, sizeof(*c->sessions))))
        return;
    if (!(sl = session_find(c, s->host, s->port))) {
        sl = &c->sessions[0];
        for (size_t i = 0; i < TLS_SESSION_CACHE_MAX; i++) {
            struct tls_session_slot *x = &c->sessions[i];
            if (!x->set) {
                sl = x;
                break;
            }
            if (x->used < sl->used)
                sl = x;
        }
    }
    session_drop(sl);
    mbedtls_ssl_session_init(&sl->s);
    if (mbedtls_ssl_get_session(&s->ssl, &sl->s) != 0) {
        mbedtls_ssl_session_free(&sl->s);
        return;
    }
    snprintf(sl->host, sizeof(sl->host), "%s", s->host);
    sl->port = s->port;
    sl->used = ++c->session_clock;
    sl->set = true;
}

/* --- sessions --- */

static bool parse_ip(const char *s, struct tls_ip *ip)
{
    char tmp[64];
    size_t n = strlen(s);

    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof(tmp))
            return false;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        s = tmp;
    }
    if (inet_pton(AF_INET, s, ip->addr) == 1) {
        ip->len = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, ip->addr) == 1) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        ip->len = 16;
        if (memcmp(ip->addr, v4mapped, 12) == 0) {
            /* ::ffff:a.b.c.d is a.b.c.d, as Go's net.IP.Equal has it. */
            memmove(ip->addr, ip->addr + 12, 4);
            ip->len = 4;
        }
        return true;
    }
    return false;
}

int tls_sess_init(struct tls_sess *s, struct tls_conf *c, const char *host, int port)
{
    struct tls_ip ip;
    int rc;

    memset(s, 0, sizeof(*s));
    mbedtls_ssl_init(&s->ssl);
    s->ready = true;
    s->conf = tls_conf_ref(c);
    s->port = port;
    if ((rc = mbedtls_ssl_setup(&s->ssl, &c->conf)) != 0)
        return tls_sess_fail(s, UV_ENOMEM, "tls: session setup: out of memory");
    mbedtls_ssl_set_verify(&s->ssl, on_verify, s);
    if (c->server)
        return 0;
    if (!host || strlen(host) >= TLS_HOST_MAX || !(s->host = strdup(host)))
        return tls_sess_fail(s, UV_EINVAL, "tls: bad host name");
    /* An IP address is not sent as SNI (RFC 6066) and is checked by on_verify() alone;
     * a name goes to mbedTLS for SNI, and its own name check is replaced by ours too. */
    if (!parse_ip(host, &ip) && mbedtls_ssl_set_hostname(&s->ssl, host) != 0)
        return tls_sess_fail(s, UV_EINVAL, "tls: bad host name %s", host);
    struct tls_session_slot *sl = session_find(c, host, port);
    if (sl && mbedtls_ssl_set_session(&s->ssl, &sl->s) == 0)
        s->offered = true;
    return 0;
}

void tls_sess_close(struct tls_sess *s)
{
    if (!s->ready)
        return;
    mbedtls_ssl_free(&s->ssl);
    if (s->conf)
        tls_conf_unref(s->conf);
    free(s->host);
    free(s->err);
    s->conf = NULL;
    s->host = s->err = NULL;
    s->ready = false;
}

static int sess_vfail(struct tls_sess *s, bool replace, const char *fmt, va_list ap)
{
    char tmp[TLS_ERR_MAX];
    if (s->err && !replace)
        return 0;
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    free(s->err);
    s->err = strdup(tmp);
    return 0;
}

int tls_sess_fail(struct tls_sess *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sess_vfail(s, false, fmt, ap);
    va_end(ap);
    return code;
}

/* Sets the reason even when one is kept: a better one was found. */
static void sess_reason(struct tls_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sess_reason(struct tls_sess *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sess_vfail(s, true, fmt, ap);
    va_end(ap);
}

static const char *peer_role(const struct tls_sess *s)
{
    return s->conf->server ? "client" : "server";
}

static const char *alert_name(int code)
{
    switch (code) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 22: return "record_overflow";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    }
    return "unknown";
}

/* The text of a failure rc from mbedTLS, unless a better one is kept. */
static int sess_mbed_fail(struct tls_sess *s, int rc, const char *what)
{
    char tmp[TLS_ERR_MAX];

    if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        int a = s->ssl.in_msg ? s->ssl.in_msg[1] : -1;
        return tls_sess_fail(s, UV_EPROTO, "%s: the %s refused it with alert %s (%d)", what,
                             peer_role(s), alert_name(a), a);
    }
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
        return tls_sess_fail(s, UV_EPROTO,
                             "%s: the client sent no certificate (client_auth_type "
                             "RequireAndVerifyClientCert)",
                             what);
    mbed_err(rc, what, tmp, sizeof(tmp));
    return tls_sess_fail(s, UV_EPROTO, "%s", tmp);
}

/* "a.example.com, *.example.com, 10.0.0.1" (the certificate's DNS and IP SANs). */
static void names_text(const mbedtls_x509_crt *crt, char *out, size_t cap)
{
    struct tls_cert_info info;
    size_t n = 0;

    tls_cert_info(crt, &info);
    out[0] = '\0';
    for (size_t i = 0; i < info.n_dns && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? ", " : "", (int)info.dns[i].len,
                              info.dns[i].p);
    for (size_t i = 0; i < info.n_ip && n < cap; i++) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(info.ip[i].len == 4 ? AF_INET : AF_INET6, info.ip[i].addr, a, sizeof(a));
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", a);
    }
    if (n == 0)
        snprintf(out, cap, "no DNS name or IP address");
}

/* Whether crt names the host the way Go's client checks a server: an IP literal against IP
 * SANs, a name against DNS SANs, never the CN. On a mismatch, why goes to why[]. */
static bool server_name_ok(const struct tls_sess *s, const mbedtls_x509_crt *crt, char *why,
                           size_t why_len)
{
    char names[TLS_NAMES_TEXT_MAX];
    struct tls_ip ip;

    if (!parse_ip(s->host, &ip) && !(crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME)) {
        struct tls_name cn = cn_of(crt);
        snprintf(why, why_len,
                 "tls handshake: server certificate not accepted: the certificate for CN=%.*s "
                 "has no subjectAltName, and a CN is no host name to Go's client (nor so to "
                 "upstream's): \"x509: certificate relies on legacy Common Name field, use SANs "
                 "instead\"; it needs a DNS SAN for %s",
                 (int)cn.len, cn.p, s->host);
        return false;
    }
    if (tls_cert_names_fqdn(crt, s->host))
        return true;
    names_text(crt, names, sizeof(names));
    snprintf(why, why_len,
             "tls handshake: server certificate not accepted: certificate for %s does not name %s",
             names, s->host);
    return false;
}

/* The reason for verification flags, in Go's order: validity period, authority, the rest
 * (names are checked apart). crt, when known, is the certificate the flags are about, at
 * depth (0: the peer's own). */
static void chain_reason(struct tls_sess *s, const mbedtls_x509_crt *crt, int depth, uint32_t flags)
{
    const char *who = s->conf->server ? "client" : "server";
    const char *which = depth > 0 ? "its CA's certificate" : "certificate";
    char when[40];

    flags &= ~MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if ((flags & MBEDTLS_X509_BADCERT_EXPIRED) && crt) {
        x509_time_text(&crt->valid_to, when, sizeof(when));
        sess_reason(s, "tls handshake: %s certificate not accepted: %s expired on %s", who, which,
                    when);
    } else if ((flags & MBEDTLS_X509_BADCERT_FUTURE) && crt) {
        x509_time_text(&crt->valid_from, when, sizeof(when));
        sess_reason(s, "tls handshake: %s certificate not accepted: %s is not valid before %s", who,
                    which, when);
    } else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
        sess_reason(s,
                    "tls handshake: %s certificate not accepted: signed by an unknown "
                    "authority (the certificate is not correctly signed by the trusted CA)",
                    who);
    } else if (flags) {
        char info[200];
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
        /* verify_info ends every reason with a newline; keep one line. */
        for (int i = 0; i < n && info[i]; i++)
            if (info[i] == '\n')
                info[i] = (info[i + 1] ? ';' : '\0');
        sess_reason(s, "tls handshake: %s certificate not accepted: %s", who, info);
    }
}

/* mbedTLS calls this for every certificate of the chain, root first and the peer's own last
 * (depth 0), so the last call knows the whole chain and picks the reason to keep. */
static int on_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct tls_sess *s = ctx;
    struct tls_conf *c = s->conf;
    const uint32_t dates = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE;
    char name_why[TLS_ERR_MAX];
    bool name_bad = false;

    if (c->server && !c->verify) {
        *flags = 0; /* RequestClientCert, RequireAnyClientCert: a certificate is not checked */
        return 0;
    }
    if (depth > 0) {
        if ((*flags & dates) && !(s->chain_flags & dates))
            chain_reason(s, crt, depth, *flags & dates);
        s->chain_flags |= *flags;
        return 0;
    }
    if (!c->server) {
        /* mbedTLS compared the name its own way (CN included): ours replaces it. */
        *flags &= ~MBEDTLS_X509_BADCERT_CN_MISMATCH;
        if ((name_bad = !server_name_ok(s, crt, name_why, sizeof(name_why))))
            *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    if (*flags & dates)
        chain_reason(s, crt, 0, *flags & dates);
    else if (s->chain_flags & dates)
        ; /* a CA's dates, said above */
    else if ((*flags | s->chain_flags) & ~MBEDTLS_X509_BADCERT_CN_MISMATCH)
        chain_reason(s, crt, 0, *flags | s->chain_flags);
    else if (name_bad)
        sess_reason(s, "%s", name_why);
    s->chain_flags |= *flags;
    return 0;
}

static bool san_allowed(const struct tls_conf *c, const char *p, size_t len)
{
    for (size_t i = 0; i < c->n_allowed_sans; i++)
        if (strlen(c->allowed_sans[i]) == len && memcmp(c->allowed_sans[i], p, len) == 0)
            return true;
    return false;
}

/* client_allowed_sans: one of the leaf's DNS, IP, e-mail or URI SANs must be listed. */
static bool allowed_sans_ok(const struct tls_conf *c, const mbedtls_x509_crt *crt)
{
    for (const mbedtls_x509_sequence *cur = &crt->subject_alt_names; cur; cur = cur->next) {
        const mbedtls_x509_buf *b = &cur->buf;
        int tag = b->tag & ~MBEDTLS_ASN1_CONTEXT_SPECIFIC;
        if (!(b->tag & MBEDTLS_ASN1_CONTEXT_SPECIFIC) || !b->p)
            continue;
        if (tag == 1 || tag == 2 || tag == 6) { /* rfc822Name, dNSName, URI */
            if (san_allowed(c, (const char *)b->p, b->len))
                return true;
        } else if (tag == 7 && (b->len == 4 || b->len == 16)) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, a, sizeof(a));
            if (san_allowed(c, a, strlen(a)))
                return true;
        }
    }
    return false;
}

static const char *auth_name(enum tls_client_auth a)
{
    switch (a) {
    case TLS_NO_CLIENT_CERT: return "NoClientCert";
    case TLS_REQUEST_CLIENT_CERT: return "RequestClientCert";
    case TLS_REQUIRE_ANY_CLIENT_CERT: return "RequireAnyClientCert";
    case TLS_VERIFY_CLIENT_CERT_IF_GIVEN: return "VerifyClientCertIfGiven";
    case TLS_REQUIRE_AND_VERIFY_CLIENT_CERT: return "RequireAndVerifyClientCert";
    }
    return "?";
}

/* Server side: the policy on the client's certificate that mbedTLS's modes do not express,
 * once the client's Certificate message is in (or at the end of a resumed handshake, whose
 * session may come from a ticket issued under another policy). Returns 0, or sends a
 * fatal alert and returns UV_EPROTO with the reason kept. */
static int client_cert_check(struct tls_sess *s, const mbedtls_ssl_session *sess)
{
    const struct tls_conf *c = s->conf;
    const mbedtls_x509_crt *crt = sess->peer_cert;
    unsigned char alert = MBEDTLS_SSL_ALERT_MSG_BAD_CERT;

    if (c->client_auth == TLS_NO_CLIENT_CERT)
        return 0;
    if (!crt) {
        if (c->client_auth == TLS_REQUIRE_ANY_CLIENT_CERT ||
            c->client_auth == TLS_REQUIRE_AND_VERIFY_CLIENT_CERT) {
            tls_sess_fail(s, UV_EPROTO,
                          "tls handshake: the client sent no certificate (client_auth_type %s)",
                          auth_name(c->client_auth));
            goto refuse;
        }
        if (c->n_allowed_sans > 0) {
            tls_sess_fail(s, UV_EPROTO,
                          "tls handshake: the client sent no certificate, and "
                          "client_allowed_sans needs one");
            goto refuse;
        }
        return 0;
    }
    if (c->verify && sess->verify_result != 0) {
        if (!s->err)
            chain_reason(s, crt, 0, sess->verify_result);
        if (sess->verify_result & MBEDTLS_X509_BADCERT_EXPIRED)
            alert = MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
        else if (sess->verify_result & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
            alert = MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
        goto refuse;
    }
    if (c->verify && mbedtls_x509_time_is_past(&crt->valid_to)) {
        /* Resumed after the certificate expired: verified once, no longer valid. */
        chain_reason(s, crt, 0, MBEDTLS_X509_BADCERT_EXPIRED);
        alert = MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
        goto refuse;
    }
    if (c->n_allowed_sans > 0 && !allowed_sans_ok(c, crt)) {
        char names[TLS_NAMES_TEXT_MAX];
        names_text(crt, names, sizeof(names));
        tls_sess_fail(s, UV_EPROTO,
                      "tls handshake: client certificate not accepted: none of its SANs (%s) "
                      "is in client_allowed_sans",
                      names);
        goto refuse;
    }
    return 0;
refuse:
    mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
    return UV_EPROTO;
}

int tls_sess_handshake(struct tls_sess *s)
{
    mbedtls_ssl_context *ssl = &s->ssl;
    int rc;

    if (s->handshake_done)
        return 0;
    while (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        int st = ssl->state;
        /* A resumed handshake (RFC 5246 7.3) has no key exchange: both sides skip it. */
        if (st == MBEDTLS_SSL_CLIENT_KEY_EXCHANGE)
            s->key_exchanged = true;
        if (st == MBEDTLS_SSL_HANDSHAKE_WRAPUP)
            s->resumed = !s->key_exchanged;
        rc = mbedtls_ssl_handshake_step(ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return UV_EAGAIN;
        if (rc != 0)
            goto fail;
        if (s->conf->server && st == MBEDTLS_SSL_CLIENT_CERTIFICATE && ssl->state != st &&
            (rc = client_cert_check(s, ssl->session_negotiate)) != 0)
            goto fail;
    }
    if (s->conf->server && s->resumed && (rc = client_cert_check(s, ssl->session)) != 0)
        goto fail;
    s->handshake_done = true;
    if (!s->conf->server)
        session_store(s);
    return 0;
fail:
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
        /* mbedTLS 2.28 gives up here without a word, and the client sees only the
         * connection close (Go's client: "EOF"); Go's server sends bad_certificate. */
        mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
    if (s->offered) {
        /* The session offered may be why: the next connection starts afresh. */
        struct tls_session_slot *sl = session_find(s->conf, s->host, s->port);
        if (sl)
            session_drop(sl);
    }
    if (rc == UV_EPROTO)
        return rc;
    if ((rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) &&
        !s->err && ssl->session_negotiate && ssl->session_negotiate->verify_result)
        chain_reason(s, NULL, 0, ssl->session_negotiate->verify_result);
    if ((rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) &&
        s->err)
        return UV_EPROTO;
    return sess_mbed_fail(s, rc, "tls handshake");
}

int tls_sess_read(struct tls_sess *s, char *dst, size_t cap)
{
    int rc = mbedtls_ssl_read(&s->ssl, (unsigned char *)dst, cap);
    if (rc > 0)
        return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return UV_EAGAIN;
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        s->close_notified = true;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return UV_EOF;
    return sess_mbed_fail(s, rc, "tls read");
}

int tls_sess_write(struct tls_sess *s, const char *data, size_t len)
{
    int rc = mbedtls_ssl_write(&s->ssl, (const unsigned char *)data, len);
    if (rc > 0)
        return rc;
    return sess_mbed_fail(s, rc == 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : rc, "tls write");
}

/* --- certificate facts --- */

/* Each SAN of crt, as (tag number, bytes): 1 rfc822Name, 2 dNSName, 6 URI, 7 iPAddress. */
#define SAN_FOR_EACH(cur, crt) for (cur = &(crt)->subject_alt_names; cur; cur = cur->next)

static int san_tag(const mbedtls_x509_buf *b)
{
    if (!b->p || !(b->tag & MBEDTLS_ASN1_CONTEXT_SPECIFIC))
        return -1;
    return b->tag & 0x1f;
}

static struct tls_name cn_of(const mbedtls_x509_crt *crt)
{
    for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next)
        if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            return (struct tls_name){(const char *)n->val.p, n->val.len};
    return (struct tls_name){"", 0};
}

void tls_cert_info(const mbedtls_x509_crt *crt, struct tls_cert_info *info)
{
    const mbedtls_x509_sequence *cur;

    memset(info, 0, sizeof(*info));
    info->cn = cn_of(crt);
    info->has_san = (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) != 0;
    info->not_before = x509_time_unix(&crt->valid_from);
    info->not_after = x509_time_unix(&crt->valid_to);
    if (mbedtls_x509_dn_gets(info->subject, sizeof(info->subject), &crt->subject) < 0)
        snprintf(info->subject, sizeof(info->subject), "CN=%.*s", (int)info->cn.len, info->cn.p);
    if (!info->has_san)
        return;
    SAN_FOR_EACH(cur, crt)
    {
        const mbedtls_x509_buf *b = &cur->buf;
        int tag = san_tag(b);
        if (tag == 2) {
            if (info->n_dns == TLS_CERT_NAMES_MAX) {
                info->truncated = true;
                continue;
            }
            info->dns[info->n_dns++] = (struct tls_name){(const char *)b->p, b->len};
        } else if (tag == 7 && (b->len == 4 || b->len == 16)) {
            if (info->n_ip == TLS_CERT_NAMES_MAX) {
                info->truncated = true;
                continue;
            }
            memcpy(info->ip[info->n_ip].addr, b->p, b->len);
            info->ip[info->n_ip++].len = (unsigned char)b->len;
        } else if (tag >= 0) {
            info->n_other++;
        }
    }
}

static bool ieq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

/* A DNS SAN pattern against a host name (both without a trailing dot). */
static bool dns_matches(const char *pat, size_t pat_len, const char *host, size_t host_len)
{
    if (pat_len == 0 || memchr(pat, '\0', pat_len))
        return false;
    if (pat_len > 2 && pat[0] == '*' && pat[1] == '.') {
        /* "*" is the whole first label and stands for exactly one non-empty label. */
        const char *dot = memchr(host, '.', host_len);
        if (!dot || dot == host)
            return false;
        return ieq(pat + 1, pat_len - 1, dot, host_len - (size_t)(dot - host));
    }
    return ieq(pat, pat_len, host, host_len);
}

static size_t trim_dot(const char *s, size_t len)
{
    return len > 1 && s[len - 1] == '.' ? len - 1 : len;
}

bool tls_cert_names_fqdn(const mbedtls_x509_crt *crt, const char *fqdn)
{
    const mbedtls_x509_sequence *cur;
    struct tls_ip want;
    bool has_san = (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) != 0;
    size_t len = trim_dot(fqdn, strlen(fqdn));

    if (len == 0)
        return false;
    if (parse_ip(fqdn, &want)) {
        if (!has_san)
            return false;
        SAN_FOR_EACH(cur, crt)
        {
            struct tls_ip got;
            const mbedtls_x509_buf *b = &cur->buf;
            char text[INET6_ADDRSTRLEN];
            if (san_tag(b) != 7 || (b->len != 4 && b->len != 16))
                continue;
            /* Through text, so a v4-mapped IPv6 SAN compares as its IPv4 address. */
            inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, text, sizeof(text));
            if (parse_ip(text, &got) && got.len == want.len &&
                memcmp(got.addr, want.addr, want.len) == 0)
                return true;
        }
        return false;
    }
    if (!has_san) {
        struct tls_name cn = cn_of(crt);
        return ieq(cn.p, trim_dot(cn.p, cn.len), fqdn, len);
    }
    SAN_FOR_EACH(cur, crt)
    {
        const mbedtls_x509_buf *b = &cur->buf;
        if (san_tag(b) == 2 &&
            dns_matches((const char *)b->p, trim_dot((const char *)b->p, b->len), fqdn, len))
            return true;
    }
    return false;
}

/* --- identities that travel --- */

static bool printable(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

int tls_identity_write(const mbedtls_x509_crt *crt, struct buf *out)
{
    struct tls_cert_info info;
    char text[INET6_ADDRSTRLEN];
    int rc = 0;

    tls_cert_info(crt, &info);
    if (info.has_san)
        rc = buf_append(out, "S\n", 2);
    for (size_t i = 0; rc == 0 && i < info.n_dns; i++)
        if (printable(info.dns[i].p, info.dns[i].len))
            rc = buf_printf(out, "D %.*s\n", (int)info.dns[i].len, info.dns[i].p);
    for (size_t i = 0; rc == 0 && i < info.n_ip; i++) {
        inet_ntop(info.ip[i].len == 4 ? AF_INET : AF_INET6, info.ip[i].addr, text, sizeof(text));
        rc = buf_printf(out, "I %s\n", text);
    }
    if (rc == 0 && info.cn.len && printable(info.cn.p, info.cn.len))
        rc = buf_printf(out, "C %.*s\n", (int)info.cn.len, info.cn.p);
    if (rc == 0 && printable(info.subject, strlen(info.subject)))
        rc = buf_printf(out, "N %s\n", info.subject);
    return rc;
}

/* Calls back for each line "<kind> <value>" of an identity; stops when it returns true. */
static bool identity_any(const char *id, size_t len, char kind,
                         bool (*fn)(const char *v, size_t n, const void *arg), const void *arg)
{
    for (const char *p = id, *end = id + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n >= 2 && p[0] == kind && p[1] == ' ' && fn(p + 2, n - 2, arg))
            return true;
        if (n == 1 && p[0] == kind && fn(p, 0, arg))
            return true;
        p += n + 1;
    }
    return false;
}

struct want_name {
    const char *host;
    size_t len;
    const struct tls_ip *ip;
};

static bool line_present(const char *v, size_t n, const void *arg)
{
    return true;
}

static bool dns_line_matches(const char *v, size_t n, const void *arg)
{
    const struct want_name *w = arg;
    return dns_matches(v, trim_dot(v, n), w->host, w->len);
}

static bool cn_line_matches(const char *v, size_t n, const void *arg)
{
    const struct want_name *w = arg;
    return ieq(v, trim_dot(v, n), w->host, w->len);
}

static bool ip_line_matches(const char *v, size_t n, const void *arg)
{
    const struct want_name *w = arg;
    char text[INET6_ADDRSTRLEN + 1];
    struct tls_ip got;

    if (n >= sizeof(text))
        return false;
    memcpy(text, v, n);
    text[n] = '\0';
    return parse_ip(text, &got) && got.len == w->ip->len &&
           memcmp(got.addr, w->ip->addr, got.len) == 0;
}

bool tls_identity_names_fqdn(const char *id, size_t len, const char *fqdn)
{
    struct tls_ip want_ip;
    struct want_name w = {fqdn, trim_dot(fqdn, strlen(fqdn)), &want_ip};
    bool has_san = identity_any(id, len, 'S', line_present, NULL);

    if (w.len == 0)
        return false;
    if (parse_ip(fqdn, &want_ip))
        return has_san && identity_any(id, len, 'I', ip_line_matches, &w);
    if (!has_san)
        return identity_any(id, len, 'C', cn_line_matches, &w);
    return identity_any(id, len, 'D', dns_line_matches, &w);
}

const char *tls_identity_subject(const char *id, size_t len, size_t *n_len)
{
    for (const char *p = id, *end = id + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n >= 2 && p[0] == 'N' && p[1] == ' ') {
            *n_len = n - 2;
            return p + 2;
        }
        p += n + 1;
    }
    *n_len = 0;
    return "";
}
