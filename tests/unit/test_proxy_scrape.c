/* test_proxy_scrape.c - scrape Ids (the only key a push has), target host parsing and
 * FQDN checks. */
#include <criterion/criterion.h>
#include <string.h>

#include "fqdn.h"
#include "scrape.h"
#include "scrape_slot.h"

Test(proxy_scrape, id_round_trips)
{
    char id[SCRAPE_SLOT_ID_MAX];
    struct ref ref;
    uint64_t token;
    struct scrape_slot slot = {
        .wk_id = 3, .idx = 0xabcdef, .gen = 0xffffffff, .token = 0x0123456789abcdefULL};
    int n = scrape_slot_id_format(id, sizeof(id), &slot);
    cr_assert_gt(n, 0);
    cr_assert_eq(scrape_slot_id_parse(id, (size_t)n, &ref, &token), 0);
    cr_assert_eq(ref.wk, 3);
    cr_assert_eq(ref.idx, 0xabcdef);
    cr_assert_eq(ref.gen, 0xffffffff);
    cr_assert_eq(token, 0x0123456789abcdefULL);
    cr_assert_null(memchr(id, ' ', (size_t)n), "an Id has no spaces");
}

Test(proxy_scrape, forged_ids_are_rejected)
{
    static const char *const bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "1..3.4",
        "x.2.3.4",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.-4",
        "1.2.3.0x4",
        "1.123456789.3.4",                      /* slot over 32 bits */
        "1.2.3.12345678901234567",              /* token over 64 bits */
        "10000.2.3.4",                          /* worker over 16 bits */
        "6a1c4c3e-8f5b-4e1a-9d3c-0b2e7f1a2c3d", /* an upstream UUID */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ref ref;
        uint64_t token;
        cr_assert_neq(scrape_slot_id_parse(bad[i], strlen(bad[i]), &ref, &token), 0,
                      "accepted \"%s\"", bad[i]);
    }
}

static void check_host(const char *url, const char *want)
{
    const char *host;
    size_t len;
    int rc = scrape_url_host(url, strlen(url), &host, &len);
    if (!want) {
        cr_assert_neq(rc, 0, "accepted %s", url);
        return;
    }
    cr_assert_eq(rc, 0, "refused %s", url);
    cr_assert_eq(len, strlen(want), "%s: host length %zu", url, len);
    cr_assert_eq(memcmp(host, want, len), 0, "%s: wrong host", url);
}

Test(proxy_scrape, target_host_is_the_url_hostname)
{
    check_host("http://node1.example.com:9100/metrics", "node1.example.com");
    check_host("http://node1.example.com/metrics", "node1.example.com");
    check_host("http://node1.example.com", "node1.example.com");
    check_host("http://node1:9100?x=1", "node1");
    check_host("http://user:pw@node1:9100/m", "node1");
    check_host("https://[::1]:9100/metrics", "::1");
    check_host("http:///metrics", NULL);
    check_host("http://:9100/metrics", NULL);
    check_host("node1:9100/metrics", NULL);
}

static const char *fqdn_invalid(const char *s, size_t len)
{
    char out[FQDN_MAX + 1];
    size_t n;
    return fqdn_normalize(s, len, out, &n);
}

Test(proxy_scrape, fqdn_charset_and_length_are_checked)
{
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    cr_assert_null(fqdn_invalid("node-1.example_x.com", 20));
    cr_assert_not_null(fqdn_invalid("", 0));
    cr_assert_not_null(fqdn_invalid("a b", 3));
    cr_assert_not_null(fqdn_invalid("a/b", 3));
    cr_assert_not_null(fqdn_invalid("a\nb", 3));
    cr_assert_null(fqdn_invalid(long_name, 254));
    cr_assert_not_null(fqdn_invalid(long_name, 255));
}

/* IPv6 literals, bracketed or not, end in one canonical form; what can never match a
 * scrape URL's host is refused with a reason naming it. */
Test(proxy_scrape, ipv6_literals_are_canonical_and_hosts_with_ports_refused)
{
    char out[FQDN_MAX + 1];
    size_t n;
    static const char *const same[] = {"fd00::1", "[fd00::1]", "fd00:0:0::1", "FD00::0001"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        cr_assert_null(fqdn_normalize(same[i], strlen(same[i]), out, &n), "%s", same[i]);
        cr_assert_str_eq(out, "fd00::1", "%s", same[i]);
        cr_assert_eq(n, 7);
    }
    cr_assert(fqdn_is_ipv6(out, n));
    cr_assert_null(fqdn_normalize("10.0.0.1", 8, out, &n));
    cr_assert_not(fqdn_is_ipv6(out, n));
    const char *why = fqdn_normalize("node1:9100", 10, out, &n);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, "port"), "%s", why);
    cr_assert_not_null(strstr(fqdn_normalize("http://node1", 12, out, &n), "URL"));
    cr_assert_not_null(strstr(fqdn_normalize("fe80::1%eth0", 12, out, &n), "zone"));
    cr_assert_not_null(fqdn_normalize("[node1]", 7, out, &n));
    cr_assert_not_null(fqdn_normalize("fd00::1::2", 10, out, &n));
}
