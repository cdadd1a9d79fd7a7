/* trust.h - --web.trusted-proxy: the addresses (CIDRs) of front proxies, such as nginx with
 * ssl_verify_client on, whose word about a client's certificate (the
 * X-PushProx-Client-Cert header) the proxy takes. From anyone else the header is ignored
 * and counted: a client cannot claim another's identity by sending it itself. */
#ifndef PROXY_TRUST_H
#define PROXY_TRUST_H

#include <stdbool.h>
#include <sys/socket.h>

/* The header a trusted front proxy puts the verified client certificate in, URL-escaped
 * PEM (nginx: $ssl_client_escaped_cert). */
#define TRUST_CERT_HEADER "X-PushProx-Client-Cert"
/* Most CIDRs --web.trusted-proxy may list. */
#define TRUST_MAX_CIDRS 64

/* Parses the CIDRs ("10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"). Returns NULL, or what is
 * wrong with which entry (a static or internal buffer). Main's thread, before workers. */
const char *trust_init(const char *const *cidrs, size_t n);
/* Whether any CIDR was given. Any thread. */
bool trust_any(void);
/* Whether addr (IPv4, IPv6, or IPv4-mapped IPv6) is in a trusted CIDR. Any thread. */
bool trust_contains(const struct sockaddr *addr);

#endif
