/* fqdn.h - the names clients poll under and scrapes are routed by. */
#ifndef PROXY_FQDN_H
#define PROXY_FQDN_H

#include <stddef.h>
#include <stdint.h>

/* Longest FQDN a poll or scrape may name (DNS: 253, plus room for a trailing dot). */
#define FQDN_MAX 254

/* Checks an FQDN as polled or scraped: 1..FQDN_MAX bytes of [A-Za-z0-9._-]. Returns NULL
 * if fine, else a static text saying what is wrong. */
const char *fqdn_invalid(const char *s, size_t len);

/* Which of n workers owns fqdn's shard of the client table. Any thread. */
uint16_t fqdn_owner(const char *fqdn, size_t len, uint16_t n);

#endif
