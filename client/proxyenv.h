/* proxyenv.h - which HTTP proxy the client reaches --proxy-url through: Go's
 * ProxyFromEnvironment (golang.org/x/net/http/httpproxy), which upstream's client honours,
 * or --proxy.http-proxy-url.
 *
 *   HTTPS_PROXY (else https_proxy) for an https:// --proxy-url, HTTP_PROXY (else http_proxy)
 *   for an http:// one; an empty value counts as unset. A value without a scheme is
 *   http://. NO_PROXY (else no_proxy): comma-separated, "*" (nothing is proxied), IP
 *   addresses and CIDRs (for IP-literal hosts, any port), domain names (the name and its
 *   subdomains; a leading "." or "*." subdomains only), each optionally with ":port".
 *   localhost and loopback addresses are never proxied.
 * Pure functions over strings; the environment is read by the caller. */
#ifndef PUSHPROX_PROXYENV_H
#define PUSHPROX_PROXYENV_H

#include <stdbool.h>

#include "httpc.h"

/* Whether no_proxy excludes host:port (host without brackets). */
bool proxyenv_excluded(const char *no_proxy, const char *host, int port);

/* Parses a proxy URL (http://[user:pass@]host[:port], or host[:port]) into via (use set,
 * the port 80 unless given, auth "Basic ..." from the user info). Returns 0 or -EINVAL
 * with *why: https:// proxies (TLS to the proxy itself) are not supported. */
int proxyenv_parse(const char *url, struct httpc_via *via, const char **why);

/* The proxy for a request to scheme://host:port from flag (--proxy.http-proxy-url, used
 * when not empty, NO_PROXY still applying) or from the environment values given (each may
 * be NULL). Fills via (use false: direct). Returns 0 or -EINVAL with *why for a value that
 * does not parse. */
int proxyenv_select(bool https, const char *host, int port, const char *flag,
                    const char *https_proxy, const char *http_proxy, const char *no_proxy,
                    struct httpc_via *via, const char **why);

/* The value of upper, else of lower, when set and not empty (Go: uppercase wins, an
 * empty one falls through); NULL otherwise. */
const char *proxyenv_getenv(const char *upper, const char *lower);

#endif
