/* trust.c - trusted front proxies (see trust.h). Owner: the table is written once by
 * main's thread before the workers start and only read afterwards. */
#include "trust.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cidr {
    unsigned char addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    unsigned prefix;        /* of the 128 bits */
};

static struct cidr table[TRUST_MAX_CIDRS];
static size_t n_table;
static char why[256];

static void mapped(const struct in_addr *a4, unsigned char out[16])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, a4, 4);
}

const char *trust_init(const char *const *cidrs, size_t n)
{
    n_table = 0;
    for (size_t i = 0; i < n; i++) {
        char text[INET6_ADDRSTRLEN + 8];
        const char *slash;
        struct in_addr a4;
        struct in6_addr a6;
        long bits = -1;
        bool v4;

        if (n_table == TRUST_MAX_CIDRS) {
            snprintf(why, sizeof(why), "more than TRUST_MAX_CIDRS (%d) entries", TRUST_MAX_CIDRS);
            return why;
        }
        if (strlen(cidrs[i]) >= sizeof(text))
            goto bad;
        strcpy(text, cidrs[i]);
        if ((slash = strchr(text, '/')) != NULL) {
            char *end;
            bits = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end)
                goto bad;
            text[slash - text] = '\0';
        }
        v4 = inet_pton(AF_INET, text, &a4) == 1;
        if (!v4 && inet_pton(AF_INET6, text, &a6) != 1)
            goto bad;
        if (bits < 0)
            bits = v4 ? 32 : 128;
        if (bits > (v4 ? 32 : 128))
            goto bad;
        if (v4)
            mapped(&a4, table[n_table].addr);
        else
            memcpy(table[n_table].addr, &a6, 16);
        table[n_table].prefix = (unsigned)bits + (v4 ? 96 : 0);
        n_table++;
        continue;
    bad:
        snprintf(why, sizeof(why), "\"%s\": not an IP address or CIDR", cidrs[i]);
        return why;
    }
    return NULL;
}

bool trust_any(void)
{
    return n_table > 0;
}

static bool in_prefix(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, net, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

bool trust_contains(const struct sockaddr *addr)
{
    unsigned char a[16];

    if (addr->sa_family == AF_INET)
        mapped(&((const struct sockaddr_in *)addr)->sin_addr, a);
    else if (addr->sa_family == AF_INET6)
        memcpy(a, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
    else
        return false;
    for (size_t i = 0; i < n_table; i++)
        if (in_prefix(a, table[i].addr, table[i].prefix))
            return true;
    return false;
}
