/* proxyenv.c - the HTTP proxy to reach the PushProx proxy through (see proxyenv.h). No
 * state. */
#include "proxyenv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

/* Longest NO_PROXY entry we look at. */
#define PROXYENV_ENTRY_MAX 300

/* An address: 16 bytes (IPv4 as IPv4-mapped), or false when s is not one. */
static bool parse_addr(const char *s, unsigned char out[16])
{
    struct in_addr a4;

    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s, out) == 1;
}

static bool in_cidr(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* One NO_PROXY entry (lower-cased, trimmed, not empty, not "*") against host:port. */
static bool entry_matches(char *e, const char *host, bool host_is_ip,
                          const unsigned char *host_addr, int port)
{
    unsigned char net[16];
    char *slash = strchr(e, '/'), *colon;
    int eport = 0;

    if (slash) { /* a CIDR: IP-literal hosts only, any port */
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        *slash = '\0';
        if (*end || bits < 0 || !parse_addr(e, net))
            return false;
        bool v4 = strchr(e, ':') == NULL;
        if (bits > (v4 ? 32 : 128))
            return false;
        return host_is_ip && in_cidr(host_addr, net, (unsigned)bits + (v4 ? 96 : 0));
    }
    /* host:port, [v6]:port, or a bare name or address (a bare IPv6 has several colons). */
    if (e[0] == '[') {
        char *close = strchr(e, ']');
        if (!close)
            return false;
        *close = '\0';
        if (close[1] == ':')
            eport = atoi(close + 2);
        e++;
    } else if ((colon = strrchr(e, ':')) != NULL && strchr(e, ':') == colon) {
        *colon = '\0';
        eport = atoi(colon + 1);
        if (!e[0])
            return false; /* ":80" */
    }
    if (eport && eport != port)
        return false;
    if (parse_addr(e, net))
        return host_is_ip && memcmp(net, host_addr, 16) == 0;
    if (host_is_ip)
        return false; /* a domain never matches an IP literal */
    bool self = true;
    if (e[0] == '*' && e[1] == '.')
        e++;
    if (e[0] == '.') {
        self = false; /* subdomains only */
        e++;
    }
    size_t hl = strlen(host), el = strlen(e);
    if (self && hl == el && strcasecmp(host, e) == 0)
        return true;
    return hl > el && host[hl - el - 1] == '.' && strcasecmp(host + hl - el, e) == 0;
}

bool proxyenv_excluded(const char *no_proxy, const char *host, int port)
{
    unsigned char addr[16];
    bool is_ip = parse_addr(host, addr);

    if (strcmp(host, "localhost") == 0)
        return true;
    if (is_ip && (in_cidr(addr, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f", 104) ||
                  in_cidr(addr, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 128)))
        return true; /* 127.0.0.0/8 and ::1 */
    if (!no_proxy)
        return false;
    for (const char *p = no_proxy; *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        char e[PROXYENV_ENTRY_MAX];
        size_t n = 0;
        for (const char *q = p; q < end && n + 1 < sizeof(e); q++)
            if (!isspace((unsigned char)*q))
                e[n++] = (char)tolower((unsigned char)*q);
        e[n] = '\0';
        p = comma ? comma + 1 : end;
        if (!n)
            continue;
        if (strcmp(e, "*") == 0)
            return true;
        if (entry_matches(e, host, is_ip, addr, port))
            return true;
    }
    return false;
}

int proxyenv_parse(const char *url, struct httpc_via *via, const char **why)
{
    const char *p = url, *at, *hostp, *end;
    char hostport[HTTPC_HOST_MAX + 8];
    size_t n;

    memset(via, 0, sizeof(*via));
    if (strncasecmp(p, "https://", 8) == 0) {
        *why = "https:// proxies (TLS to the proxy itself) are not supported; use http://";
        return -EINVAL;
    }
    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://")) {
        *why = "not an http:// proxy URL";
        return -EINVAL;
    }
    end = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t)(end - p));
    hostp = at ? at + 1 : p;
    if (at) { /* user info: Proxy-Authorization: Basic */
        unsigned char b64[HTTPC_VIA_AUTH_MAX];
        size_t olen;
        if (mbedtls_base64_encode(b64, sizeof(b64) - 8, &olen, (const unsigned char *)p,
                                  (size_t)(at - p)) != 0) {
            *why = "user info too long";
            return -EINVAL;
        }
        snprintf(via->auth, sizeof(via->auth), "Basic %.*s", (int)olen, b64);
    }
    n = (size_t)(end - hostp);
    if (n == 0 || n >= sizeof(hostport)) {
        *why = "no host";
        return -EINVAL;
    }
    memcpy(hostport, hostp, n);
    hostport[n] = '\0';
    via->port = 80;
    if (hostport[0] == '[') {
        char *close = strchr(hostport, ']');
        if (!close) {
            *why = "an IPv6 address without its ']'";
            return -EINVAL;
        }
        *close = '\0';
        if (close[1] == ':')
            via->port = atoi(close + 2);
        memmove(hostport, hostport + 1, strlen(hostport));
    } else {
        char *colon = strrchr(hostport, ':');
        if (colon) {
            *colon = '\0';
            via->port = atoi(colon + 1);
        }
    }
    if (strlen(hostport) >= sizeof(via->host)) {
        *why = "host name too long";
        return -EINVAL;
    }
    memcpy(via->host, hostport, strlen(hostport) + 1);
    if (!via->host[0] || via->port <= 0 || via->port > 65535) {
        *why = "no host, or a port outside 1..65535";
        return -EINVAL;
    }
    via->use = true;
    return 0;
}

int proxyenv_select(bool https, const char *host, int port, const char *flag,
                    const char *https_proxy, const char *http_proxy, const char *no_proxy,
                    struct httpc_via *via, const char **why)
{
    const char *value = flag && flag[0] ? flag : https ? https_proxy : http_proxy;

    memset(via, 0, sizeof(*via));
    if (!value || !value[0] || proxyenv_excluded(no_proxy, host, port))
        return 0;
    return proxyenv_parse(value, via, why);
}

const char *proxyenv_getenv(const char *upper, const char *lower)
{
    const char *a = getenv(upper), *b = getenv(lower);
    return a && a[0] ? a : b && b[0] ? b : NULL;
}
