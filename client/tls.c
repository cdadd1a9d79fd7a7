/* tls.c - mbedTLS sessions over memory buffers for libuv connections (see tls.h).
 * Owner: the client's loop thread; confs live from start-up to exit, a session lives
 * and dies with its connection (httpc.c). */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include <mbedtls/error.h>

static int bio_send(void *ctx, const unsigned char *data, size_t len);
static int bio_recv(void *ctx, unsigned char *data, size_t len);

static void mbed_err(int rc, const char *what, char *err, size_t err_len)
{
    char tmp[160];
    mbedtls_strerror(rc, tmp, sizeof(tmp));
    snprintf(err, err_len, "%s: %s (-0x%04x)", what, tmp, (unsigned)-rc);
}

/* A file we cannot open gets the OS's reason, which beats mbedTLS' "read failed". */
static int check_readable(const char *path, const char *flag, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err, err_len, "%s: cannot read %s: %s", flag, path, strerror(e));
        return -e;
    }
    fclose(f);
    return 0;
}

void tls_conf_close(struct tls_conf *c)
{
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

int tls_conf_init(struct tls_conf *c, const struct tls_conf_opts *o, char *err, size_t err_len)
{
    char flag[64];
    int rc;

    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    c->verify = !o->insecure;

    static const char pers[] = "pushprox-client";
    rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                               (const unsigned char *)pers, sizeof(pers) - 1);
    if (rc != 0) {
        mbed_err(rc, "tls: seeding the random generator", err, err_len);
        return -EIO;
    }
    rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        mbed_err(rc, "tls: config defaults", err, err_len);
        return -EIO;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */

    if (o->cacert && o->cacert[0]) {
        snprintf(flag, sizeof(flag), "%s.cacert", o->what);
        if ((rc = check_readable(o->cacert, flag, err, err_len)) != 0)
            return rc;
        rc = mbedtls_x509_crt_parse_file(&c->ca, o->cacert);
        if (rc != 0) {
            char what[128];
            snprintf(what, sizeof(what), "%s: %s: not a PEM certificate", flag, o->cacert);
            mbed_err(rc, what, err, err_len);
            return -EINVAL;
        }
    } else if (!o->insecure) {
        /* The system's CAs; a bundle with a few unparsable entries still loads the rest
         * (a positive return counts them), so only "none at all" is an error. */
        rc = mbedtls_x509_crt_parse_file(&c->ca, TLS_SYSTEM_CA_FILE);
        if (rc < 0 && c->ca.version == 0)
            rc = mbedtls_x509_crt_parse_path(&c->ca, "/etc/ssl/certs");
        if (rc < 0 && c->ca.version == 0) {
            snprintf(err, err_len, "%s.cacert: no CA given and no system CAs in %s", o->what,
                     TLS_SYSTEM_CA_FILE);
            return -ENOENT;
        }
    }
    if ((o->cert && o->cert[0]) != (o->key && o->key[0])) {
        snprintf(err, err_len, "%s.cert and %s.key must be given together", o->what, o->what);
        return -EINVAL;
    }
    if (o->cert && o->cert[0]) {
        snprintf(flag, sizeof(flag), "%s.cert", o->what);
        if ((rc = check_readable(o->cert, flag, err, err_len)) != 0)
            return rc;
        rc = mbedtls_x509_crt_parse_file(&c->cert, o->cert);
        if (rc != 0) {
            char what[128];
            snprintf(what, sizeof(what), "%s: %s: not a PEM certificate", flag, o->cert);
            mbed_err(rc, what, err, err_len);
            return -EINVAL;
        }
        snprintf(flag, sizeof(flag), "%s.key", o->what);
        if ((rc = check_readable(o->key, flag, err, err_len)) != 0)
            return rc;
        rc = mbedtls_pk_parse_keyfile(&c->key, o->key, NULL);
        if (rc != 0) {
            char what[128];
            snprintf(what, sizeof(what), "%s: %s: not a usable private key", flag, o->key);
            mbed_err(rc, what, err, err_len);
            return -EINVAL;
        }
        rc = mbedtls_pk_check_pair(&c->cert.pk, &c->key);
        if (rc != 0) {
            snprintf(err, err_len, "%s: %s does not go with the certificate in %s.cert (%s)", flag,
                     o->key, o->what, o->cert);
            return -EINVAL;
        }
        rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key);
        if (rc != 0) {
            mbed_err(rc, "tls: certificate and key do not go together", err, err_len);
            return -EINVAL;
        }
    }
    mbedtls_ssl_conf_authmode(&c->conf,
                              o->insecure ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    return 0;
}

int tls_sess_init(struct tls_sess *s, struct tls_conf *c, const char *hostname)
{
    memset(s, 0, sizeof(*s));
    mbedtls_ssl_init(&s->ssl);
    buf_init(&s->in, TLS_BUF_MAX_BYTES);
    buf_init(&s->out, TLS_BUF_MAX_BYTES);
    s->ready = true;
    if (mbedtls_ssl_setup(&s->ssl, &c->conf) != 0)
        return -ENOMEM;
    if (hostname) {
        snprintf(s->hostname, sizeof(s->hostname), "%s", hostname);
        if (mbedtls_ssl_set_hostname(&s->ssl, hostname) != 0)
            return -EINVAL;
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    return 0;
}

void tls_sess_close(struct tls_sess *s)
{
    if (!s->ready)
        return;
    mbedtls_ssl_free(&s->ssl);
    buf_close(&s->in);
    buf_close(&s->out);
    s->ready = false;
}

static int bio_send(void *ctx, const unsigned char *data, size_t len)
{
    struct tls_sess *s = ctx;
    if (buf_append(&s->out, data, len) != 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *data, size_t len)
{
    struct tls_sess *s = ctx;
    size_t avail = s->in.len - s->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(data, s->in.base + s->in_off, len);
    s->in_off += len;
    if (s->in_off == s->in.len) {
        s->in_off = 0;
        buf_reset(&s->in);
    }
    return (int)len;
}

int tls_sess_feed(struct tls_sess *s, const char *data, size_t len)
{
    if (s->in_off > 0) {
        buf_consume(&s->in, s->in_off);
        s->in_off = 0;
    }
    return buf_append(&s->in, data, len);
}

int tls_sess_handshake(struct tls_sess *s, char *err, size_t err_len)
{
    if (s->handshake_done)
        return 0;
    int rc = mbedtls_ssl_handshake(&s->ssl);
    if (rc == 0) {
        s->handshake_done = true;
        return 0;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return UV_EAGAIN;
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        char info[200];
        uint32_t flags = mbedtls_ssl_get_verify_result(&s->ssl);
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
        /* verify_info ends every reason with a newline; keep one line. */
        for (int i = 0; i < n && info[i]; i++)
            if (info[i] == '\n')
                info[i] = (info[i + 1] ? ';' : '\0');
        if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
            snprintf(
                err, err_len,
                "tls handshake: server name %s is not in the server's certificate (SAN/CN): %s",
                s->hostname, info);
        else
            snprintf(err, err_len, "tls handshake: server certificate not accepted: %s", info);
        return UV_EPROTO;
    }
    mbed_err(rc, "tls handshake", err, err_len);
    return UV_EPROTO;
}

int tls_sess_read(struct tls_sess *s, char *dst, size_t cap, char *err, size_t err_len)
{
    int rc = mbedtls_ssl_read(&s->ssl, (unsigned char *)dst, cap);
    if (rc > 0)
        return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return UV_EOF;
    mbed_err(rc, "tls read", err, err_len);
    return UV_EPROTO;
}

int tls_sess_write(struct tls_sess *s, const char *data, size_t len, char *err, size_t err_len)
{
    while (len > 0) {
        int rc = mbedtls_ssl_write(&s->ssl, (const unsigned char *)data, len);
        if (rc < 0) {
            mbed_err(rc, "tls write", err, err_len);
            return UV_EPROTO;
        }
        data += rc;
        len -= (size_t)rc;
    }
    return 0;
}
