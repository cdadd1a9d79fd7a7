/* webconf.h - one listener's web configuration (--web.config.file or
 * --scrape.web-config.file): the exporter-toolkit file as parsed (common/webconfig.h),
 * plus what serving needs made ready once: the extra response headers as one block, and
 * whether requests must authenticate.
 *
 * Owner: immutable once loaded, and shared by every worker: reference counted with atomic
 * operations, freed by whichever thread drops the last reference. A reload makes a new one
 * and hands it to each worker; requests already running keep the one they started with. */
#ifndef PROXY_WEBCONF_H
#define PROXY_WEBCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls.h"
#include "webconfig.h"

/* Longest error text of a load. */
#define WEBCONF_ERR_MAX 640
/* Most workers a webconf makes TLS configurations for (one each: mbedTLS's parsed keys and
 * certificates cache tables on first use, so threads must not share them). */
#define WEBCONF_MAX_WORKERS 256

struct webconf {
    int refs; /* atomic */
    struct webconfig wc;
    char *headers; /* http_server_config.headers as "Name: value\r\n" lines; NULL: none */
    size_t headers_len;
    bool auth;  /* basic_auth_users is not empty: every request must authenticate */
    char *path; /* the file, for logs; NULL: none given (plain HTTP, no auth) */
    /* TLS (tls_server_config with a certificate): one configuration per worker, each with
     * one reference held here; none for plain HTTP. */
    struct tls_conf *tls[WEBCONF_MAX_WORKERS];
    uint16_t n_tls;
    bool verified_clients;  /* client certificates are verified: identities are bound */
    int64_t cert_not_after; /* the serving certificate's expiry, Unix time; 0: no TLS */
};

/* Loads path (NULL or "": no file, the defaults) into a new webconf with one reference,
 * with TLS configurations for n_workers workers sharing the ticket key tk when the file
 * asks for TLS (the certificate, key and CAs are read and checked now). Returns 0, or a
 * negative errno with err naming the file, the line and what is wrong. */
int webconf_load(const char *path, uint16_t n_workers, struct tls_tickets *tk, struct webconf **out,
                 char *err, size_t err_len);

/* Takes one more reference; returns wc. Any thread. */
struct webconf *webconf_ref(struct webconf *wc);
/* Drops one; the last frees it. Accepts NULL. Any thread. */
void webconf_unref(struct webconf *wc);

#endif
