/* webconf.c - a listener's web configuration, loaded and shared (see webconf.h).
 * Owner: nobody writes a webconf after webconf_load(); its reference count is the only
 * field that changes, atomically. */
#include "webconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Bound of the headers block: five headers of at most a web config string each. */
#define WEBCONF_HEADERS_MAX_BYTES (8 * 4096)

/* One TLS configuration per worker, from the file's tls_server_config. */
static int make_tls(struct webconf *wc, uint16_t n, struct tls_tickets *tk, char *err,
                    size_t err_len)
{
    const struct webconfig *f = &wc->wc;
    struct tls_server_opts o = {
        .cert_file = f->cert_file,
        .key_file = f->key_file,
        .client_ca_file = f->client_ca_file,
        .cert_pem = f->cert_pem,
        .key_pem = f->key_pem,
        .client_ca_pem = f->client_ca_pem,
        .client_auth = (enum tls_client_auth)f->client_auth,
        .min_minor = f->min_minor,
        .max_minor = f->max_minor,
        .cipher_suites = f->cipher_suites,
        .n_cipher_suites = f->n_cipher_suites,
        .curves = f->curves,
        .n_curves = f->n_curves,
        .allowed_sans = f->allowed_sans,
        .n_allowed_sans = f->n_allowed_sans,
    };
    char why[TLS_ERR_MAX];

    if (n > WEBCONF_MAX_WORKERS)
        n = WEBCONF_MAX_WORKERS;
    for (uint16_t i = 0; i < n; i++) {
        if (!(wc->tls[i] = tls_conf_new_server(&o, tk, why, sizeof(why)))) {
            snprintf(err, err_len, "%s: tls_server_config: %s", wc->path, why);
            return -EINVAL;
        }
        wc->n_tls = i + 1;
    }
    wc->cert_not_after = tls_conf_cert_not_after(wc->tls[0]);
    wc->verified_clients = f->client_auth == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN ||
                           f->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT;
    return 0;
}

int webconf_load(const char *path, uint16_t n_workers, struct tls_tickets *tk, struct webconf **out,
                 char *err, size_t err_len)
{
    struct webconf *wc = calloc(1, sizeof(*wc));
    struct buf h;
    int rc;

    *out = NULL;
    if (!wc) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    wc->refs = 1;
    buf_init(&h, WEBCONF_HEADERS_MAX_BYTES);
    if (path && path[0]) {
        if (!(wc->path = strdup(path))) {
            rc = -ENOMEM;
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        if ((rc = webconfig_load(path, &wc->wc, err, err_len)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < wc->wc.n_headers; i++) {
        if ((rc = buf_printf(&h, "%s: %s\r\n", wc->wc.headers[i].name, wc->wc.headers[i].value)) !=
            0) {
            snprintf(err, err_len, "%s: http_server_config.headers too large", path);
            goto fail;
        }
    }
    wc->headers_len = h.len;
    wc->headers = h.len ? buf_steal(&h) : NULL;
    wc->auth = wc->wc.n_users > 0;
    if (wc->wc.tls && (rc = make_tls(wc, n_workers, tk, err, err_len)) != 0)
        goto fail;
    *out = wc;
    return 0;
fail:
    buf_close(&h);
    webconf_unref(wc);
    return rc;
}

struct webconf *webconf_ref(struct webconf *wc)
{
    __atomic_add_fetch(&wc->refs, 1, __ATOMIC_RELAXED);
    return wc;
}

void webconf_unref(struct webconf *wc)
{
    if (!wc || __atomic_sub_fetch(&wc->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (uint16_t i = 0; i < wc->n_tls; i++)
        tls_conf_unref(wc->tls[i]); /* sessions still open keep theirs */
    webconfig_close(&wc->wc);
    free(wc->headers);
    free(wc->path);
    free(wc);
}
