/* target.h - scrape targets: the URL of a scrape request, the checks upstream makes on
 * it (_scheme=https, host must be the client's FQDN) and the --scrape.allow list.
 * Pure functions on caller-owned structs; no I/O, no allocation. */
#ifndef PUSHPROX_TARGET_H
#define PUSHPROX_TARGET_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host name (RFC 1035: 253 characters plus brackets for IPv6 and a NUL). */
#define TARGET_HOST_MAX 256
/* Longest path plus query we pass on to an exporter (HTTP_URL_MAX_BYTES in http.h). */
#define TARGET_PATH_MAX 8192
/* Most --scrape.allow entries. A host exposes a handful of exporters; 64 is plenty. */
#define TARGET_ALLOW_MAX 64
/* Longest PATH_PREFIX in one --scrape.allow entry. */
#define TARGET_ALLOW_PREFIX_MAX 256

struct target {
    bool https;                 /* scheme after the _scheme=https rewrite */
    char host[TARGET_HOST_MAX]; /* hostname without port or brackets */
    int port;                   /* explicit, or 80/443 from the scheme */
    char path[TARGET_PATH_MAX]; /* path and "?query" as sent to the exporter */
    size_t path_len;            /* of the path alone, without the query */
};

struct target_allow {
    int port;
    char prefix[TARGET_ALLOW_PREFIX_MAX]; /* "" allows every path */
};

struct target_allowlist {
    struct target_allow items[TARGET_ALLOW_MAX];
    size_t n;
};

/* Parses an absolute http(s) URL (as found in a request forwarded by the proxy) into t,
 * removing a `_scheme=https` query parameter and switching to https as upstream does.
 * Returns 0, or -EINVAL with *why set to a static text naming the defect. */
int target_parse(const char *url, size_t len, struct target *t, const char **why);

/* True if t->host is fqdn (ASCII case-insensitive, as DNS names compare). */
bool target_host_matches(const struct target *t, const char *fqdn);

/* Adds "PORT" or "PORT/PATH_PREFIX". Returns 0, -EINVAL (bad spec) or -E2BIG (list full). */
int target_allowlist_add(struct target_allowlist *al, const char *spec);

/* True if al is empty, or if t's port is listed and its path starts with the listed
 * prefix at a segment boundary ("/metrics" allows "/metrics" and "/metrics/x", not
 * "/metricsx"). A path with "." or ".." segments or encoded slashes or dots is refused
 * when a prefix is set, so a prefix cannot be escaped. */
bool target_allowed(const struct target_allowlist *al, const struct target *t);

/* Writes the URL back ("https://host:port/path?q") for logs and error texts. */
int target_format(const struct target *t, char *out, size_t cap);

#endif
