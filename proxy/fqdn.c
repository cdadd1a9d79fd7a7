/* fqdn.c - checking names and finding their shard (see fqdn.h). No state. */
#include "fqdn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool dns_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

const char *fqdn_normalize(const char *s, size_t len, char *out, size_t *out_len)
{
    bool colon = false, all_dns = true;
    char tmp[INET6_ADDRSTRLEN + 2];
    struct in6_addr a6;

    if (len == 0)
        return "empty FQDN";
    if (len > FQDN_MAX)
        return "FQDN longer than FQDN_MAX (254) bytes";
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':')
            colon = true;
        else if (!dns_char(s[i]) && s[i] != '[' && s[i] != ']')
            all_dns = false;
    }
    if (memmem(s, len, "://", 3))
        return "FQDN is a URL: give the host name alone";
    if (colon || s[0] == '[') {
        /* An IPv6 literal, bracketed or not; anything else with a colon is host:port. */
        const char *p = s;
        size_t n = len;
        if (n >= 2 && p[0] == '[' && p[n - 1] == ']')
            p++, n -= 2;
        if (n < sizeof(tmp) && memchr(p, '%', n) == NULL) {
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            if (inet_pton(AF_INET6, tmp, &a6) == 1 && inet_ntop(AF_INET6, &a6, out, FQDN_MAX + 1)) {
                *out_len = strlen(out);
                return NULL;
            }
        }
        if (memchr(p, '%', n))
            return "FQDN is an IPv6 address with a zone (%...), which no scrape URL can name";
        return "FQDN has a port or is not a valid IPv6 address: give the host name alone";
    }
    if (!all_dns || memchr(s, '[', len) || memchr(s, ']', len))
        return memchr(s, '/', len) ? "FQDN has a path or a slash: give the host name alone"
                                   : "FQDN has a character outside [A-Za-z0-9._-]";
    memcpy(out, s, len);
    out[len] = '\0';
    *out_len = len;
    return NULL;
}

bool fqdn_is_ipv6(const char *fqdn, size_t len)
{
    return memchr(fqdn, ':', len) != NULL;
}

/* FNV-1a: cheap, and good enough to spread FQDNs over a few workers. */
uint16_t fqdn_owner(const char *fqdn, size_t len, uint16_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)fqdn[i]) * 1099511628211ULL;
    return (uint16_t)(h % n);
}
