/* target.c - scrape target URLs, upstream's checks on them, and --scrape.allow.
 * Owner: none; pure functions on caller-owned structs (see target.h). */
#include "target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool starts_ci(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Copies the query without any `_scheme` parameter (upstream deletes every one once the
 * first says https). Other parameters keep their order and encoding. */
static size_t strip_scheme_param(const char *q, size_t q_len, char *out)
{
    size_t o = 0, i = 0;
    while (i <= q_len) {
        size_t j = i;
        while (j < q_len && q[j] != '&')
            j++;
        size_t n = j - i;
        bool is_scheme =
            (n >= 7 && memcmp(q + i, "_scheme", 7) == 0 && (n == 7 || q[i + 7] == '='));
        if (!is_scheme && n > 0) {
            if (o > 0)
                out[o++] = '&';
            memcpy(out + o, q + i, n);
            o += n;
        }
        i = j + 1;
    }
    return o;
}

/* The first `_scheme` value in the query is "https". */
static bool query_wants_https(const char *q, size_t q_len)
{
    size_t i = 0;
    while (i < q_len) {
        size_t j = i;
        while (j < q_len && q[j] != '&')
            j++;
        if (j - i >= 8 && memcmp(q + i, "_scheme=", 8) == 0)
            return j - i == 13 && memcmp(q + i + 8, "https", 5) == 0;
        i = j + 1;
    }
    return false;
}

int target_parse(const char *url, size_t len, struct target *t, const char **why)
{
    memset(t, 0, sizeof(*t));
    size_t i;
    if (starts_ci(url, len, "http://")) {
        i = 7;
    } else if (starts_ci(url, len, "https://")) {
        t->https = true;
        i = 8;
    } else {
        *why = "scrape URL is not an absolute http URL";
        return -EINVAL;
    }
    size_t auth_start = i;
    while (i < len && url[i] != '/' && url[i] != '?' && url[i] != '#')
        i++;
    const char *auth = url + auth_start;
    size_t auth_len = i - auth_start;
    if (memchr(auth, '@', auth_len) != NULL) {
        *why = "scrape URL has user info, which is not supported";
        return -EINVAL;
    }
    /* Split host and port; an IPv6 literal is in brackets. */
    const char *host = auth, *port_s = NULL;
    size_t host_len = auth_len, port_len = 0;
    if (auth_len > 0 && auth[0] == '[') {
        const char *rb = memchr(auth, ']', auth_len);
        if (rb == NULL) {
            *why = "scrape URL has an unterminated IPv6 address";
            return -EINVAL;
        }
        host = auth + 1;
        host_len = (size_t)(rb - auth) - 1;
        size_t rest = auth_len - (size_t)(rb - auth) - 1;
        if (rest > 0) {
            if (rb[1] != ':') {
                *why = "scrape URL has junk after its IPv6 address";
                return -EINVAL;
            }
            port_s = rb + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        if (colon != NULL) {
            host_len = (size_t)(colon - auth);
            port_s = colon + 1;
            port_len = auth_len - host_len - 1;
        }
    }
    if (host_len == 0 || host_len >= TARGET_HOST_MAX) {
        *why = host_len == 0 ? "scrape URL has no host" : "scrape URL host is too long";
        return -EINVAL;
    }
    for (size_t k = 0; k < host_len; k++) {
        unsigned char c = (unsigned char)host[k];
        /* Brackets only delimit an IPv6 literal: inside a host, the name would be written
         * back (target_format) as a URL that does not parse. */
        if (c <= ' ' || c >= 0x7f || c == '%' || c == '/' || c == '\\' || c == '[' || c == ']') {
            *why = "scrape URL host has a character not allowed in a host name";
            return -EINVAL;
        }
    }
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    if (port_s != NULL && port_len > 0) {
        int port = 0;
        for (size_t k = 0; k < port_len; k++) {
            if (port_s[k] < '0' || port_s[k] > '9' || k >= 5) {
                *why = "scrape URL has a bad port";
                return -EINVAL;
            }
            port = port * 10 + (port_s[k] - '0');
        }
        if (port < 1 || port > 65535) {
            *why = "scrape URL has a bad port";
            return -EINVAL;
        }
        t->port = port;
    }
    /* Path and query; a fragment is dropped as a client would. */
    size_t path_start = i;
    while (i < len && url[i] != '?' && url[i] != '#')
        i++;
    size_t path_len = i - path_start;
    const char *q = NULL;
    size_t q_len = 0;
    if (i < len && url[i] == '?') {
        q = url + i + 1;
        size_t j = i + 1;
        while (j < len && url[j] != '#')
            j++;
        q_len = j - i - 1;
    }
    if (path_len + 1 + q_len + 2 > TARGET_PATH_MAX) {
        *why = "scrape URL is too long";
        return -EINVAL;
    }
    size_t o = 0;
    if (path_len == 0) {
        t->path[o++] = '/';
    } else {
        memcpy(t->path, url + path_start, path_len);
        o = path_len;
    }
    t->path_len = o;
    if (q != NULL) {
        for (size_t k = 0; k < q_len; k++) {
            if ((unsigned char)q[k] <= ' ' || q[k] == 0x7f) {
                *why = "scrape URL query has a control character";
                return -EINVAL;
            }
        }
        if (query_wants_https(q, q_len)) {
            t->https = true;
            char *dst = t->path + o + 1;
            size_t n = strip_scheme_param(q, q_len, dst);
            if (n > 0) {
                t->path[o] = '?';
                o += 1 + n;
            }
        } else if (q_len > 0) {
            t->path[o++] = '?';
            memcpy(t->path + o, q, q_len);
            o += q_len;
        }
    }
    t->path[o] = '\0';
    for (size_t k = 0; k < t->path_len; k++) {
        if ((unsigned char)t->path[k] <= ' ' || t->path[k] == 0x7f) {
            *why = "scrape URL path has a control character";
            return -EINVAL;
        }
    }
    if (t->port == 0)
        t->port = t->https ? 443 : 80;
    return 0;
}

bool target_host_matches(const struct target *t, const char *fqdn)
{
    return strcasecmp(t->host, fqdn) == 0;
}

int target_allowlist_add(struct target_allowlist *al, const char *spec)
{
    if (al->n >= TARGET_ALLOW_MAX)
        return -E2BIG;
    const char *slash = strchr(spec, '/');
    size_t port_len = slash ? (size_t)(slash - spec) : strlen(spec);
    if (port_len == 0 || port_len > 5)
        return -EINVAL;
    int port = 0;
    for (size_t k = 0; k < port_len; k++) {
        if (spec[k] < '0' || spec[k] > '9')
            return -EINVAL;
        port = port * 10 + (spec[k] - '0');
    }
    if (port < 1 || port > 65535)
        return -EINVAL;
    struct target_allow *a = &al->items[al->n];
    a->port = port;
    a->prefix[0] = '\0';
    if (slash != NULL) {
        size_t n = strlen(slash);
        /* Trailing slashes add nothing to a segment-boundary match: "/a/" is "/a". */
        while (n > 1 && slash[n - 1] == '/')
            n--;
        if (n >= TARGET_ALLOW_PREFIX_MAX)
            return -EINVAL;
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)slash[k] <= ' ' || slash[k] == '?' || slash[k] == '#')
                return -EINVAL;
        if (!(n == 1 && slash[0] == '/')) {
            memcpy(a->prefix, slash, n);
            a->prefix[n] = '\0';
        }
    }
    al->n++;
    return 0;
}

/* A path whose meaning a server might change by normalising it: dot segments, encoded
 * dots or slashes, backslashes. */
static bool path_is_tricky(const char *p, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (p[k] == '\\')
            return true;
        if (p[k] == '%' && k + 2 < len) {
            char a = p[k + 1], b = p[k + 2];
            if (a == '2' && (b == 'e' || b == 'E' || b == 'f' || b == 'F'))
                return true;
            if (a == '5' && (b == 'c' || b == 'C'))
                return true;
        }
        if (p[k] == '/' && k + 1 < len && p[k + 1] == '.') {
            size_t e = k + 2;
            if (e < len && p[e] == '.')
                e++;
            if (e == len || p[e] == '/')
                return true;
        }
    }
    return false;
}

bool target_allowed(const struct target_allowlist *al, const struct target *t)
{
    if (al->n == 0)
        return true;
    for (size_t i = 0; i < al->n; i++) {
        const struct target_allow *a = &al->items[i];
        if (a->port != t->port)
            continue;
        if (a->prefix[0] == '\0')
            return true;
        if (path_is_tricky(t->path, t->path_len))
            return false;
        size_t n = strlen(a->prefix);
        if (t->path_len >= n && memcmp(t->path, a->prefix, n) == 0 &&
            (t->path_len == n || t->path[n] == '/'))
            return true;
    }
    return false;
}

int target_format(const struct target *t, char *out, size_t cap)
{
    bool v6 = strchr(t->host, ':') != NULL;
    int n = snprintf(out, cap, "%s://%s%s%s:%d%s", t->https ? "https" : "http", v6 ? "[" : "",
                     t->host, v6 ? "]" : "", t->port, t->path);
    return (n < 0 || (size_t)n >= cap) ? -E2BIG : 0;
}
