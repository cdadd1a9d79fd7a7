/* fqdn.c - checking FQDNs and finding their shard (see fqdn.h). No state. */
#include "fqdn.h"

#include <stddef.h>

const char *fqdn_invalid(const char *s, size_t len)
{
    if (len == 0)
        return "empty FQDN";
    if (len > FQDN_MAX)
        return "FQDN longer than FQDN_MAX (254) bytes";
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return "FQDN has a character outside [A-Za-z0-9._-]";
    }
    return NULL;
}

/* FNV-1a: cheap, and good enough to spread FQDNs over a few workers. */
uint16_t fqdn_owner(const char *fqdn, size_t len, uint16_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)fqdn[i]) * 1099511628211ULL;
    return (uint16_t)(h % n);
}
