/* fqdn.h - the names clients poll under and scrapes are routed by.
 *
 * A name is a DNS name or an IP address literal. IPv6 literals arrive bracketed in scrape
 * URLs ([fd00::1]:9100) and bare or bracketed in poll bodies (rancher-style
 * --fqdn=$(HOST_IP)); both are kept in one canonical form (inet_ntop's, no brackets), so a
 * poll for "fd00:0::1" and a scrape of http://[fd00::1]:9100/ meet. */
#ifndef PROXY_FQDN_H
#define PROXY_FQDN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest FQDN a poll or scrape may name (DNS: 253, plus room for a trailing dot). */
#define FQDN_MAX 254

/* Checks a name as polled or scraped and writes its canonical form into out (FQDN_MAX + 1
 * bytes, NUL-terminated; *out_len its length): 1..FQDN_MAX bytes of [A-Za-z0-9._-], or an
 * IPv6 literal, bracketed or not. Returns NULL if fine, else a static text saying what is
 * wrong in words a user can act on (a port, a scheme, a path, a character). */
const char *fqdn_normalize(const char *s, size_t len, char *out, size_t *out_len);

/* Whether a canonical name is an IPv6 literal (written bracketed in targets and URLs). */
bool fqdn_is_ipv6(const char *fqdn, size_t len);

/* Which of n workers owns fqdn's shard. Any thread. */
uint16_t fqdn_owner(const char *fqdn, size_t len, uint16_t n);

#endif
