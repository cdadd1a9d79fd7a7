/* test_client_proxyenv.c - which HTTP proxy the client uses: Go's ProxyFromEnvironment rules
 * (HTTPS_PROXY for https, HTTP_PROXY for http, NO_PROXY, loopback never proxied). */
#include <criterion/criterion.h>
#include <string.h>

#include "proxyenv.h"

Test(proxyenv, no_proxy_entries_match_as_go_does)
{
    static const struct {
        const char *no_proxy, *host;
        int port;
        bool excluded;
    } cases[] = {
        {"", "proxy.example.com", 443, false},
        {NULL, "localhost", 443, true}, /* loopback is never proxied */
        {NULL, "127.0.0.2", 443, true},
        {NULL, "::1", 443, true},
        {"*", "proxy.example.com", 443, true},
        {"a.com, *", "proxy.example.com", 443, true}, /* "*" anywhere in the list */
        {"example.com", "example.com", 443, true},
        {"example.com", "proxy.example.com", 443, true}, /* subdomains too */
        {"example.com", "badexample.com", 443, false},   /* on a label boundary */
        {".example.com", "example.com", 443, false},     /* leading dot: subdomains only */
        {".example.com", "proxy.example.com", 443, true},
        {"*.example.com", "proxy.example.com", 443, true},
        {"*.example.com", "example.com", 443, false},
        {"EXAMPLE.com", "Proxy.Example.COM", 443, true},       /* case-insensitive */
        {"example.com:8443", "proxy.example.com", 443, false}, /* a port must be equal */
        {"example.com:443", "proxy.example.com", 443, true},
        {"10.0.0.0/8", "10.1.2.3", 8080, true}, /* CIDR: IP hosts, any port */
        {"10.0.0.0/8", "11.1.2.3", 8080, false},
        {"10.0.0.0/8", "ten.example.com", 8080, false}, /* never a name */
        {"10.1.2.3", "10.1.2.3", 80, true},
        {"10.1.2.3:80", "10.1.2.3", 8080, false},
        {"fd00::/8", "fd00::1", 443, true},
        {"fd00::1", "fd00::1", 443, true}, /* a bare IPv6 address */
        {"[fd00::1]:443", "fd00::1", 443, true},
        {"example.com", "10.0.0.1", 443, false}, /* domains never match IPs */
        {" , ,", "proxy.example.com", 443, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(proxyenv_excluded(cases[i].no_proxy, cases[i].host, cases[i].port),
                     cases[i].excluded, "NO_PROXY=\"%s\" host %s:%d: want %d",
                     cases[i].no_proxy ? cases[i].no_proxy : "(unset)", cases[i].host,
                     cases[i].port, cases[i].excluded);
}

Test(proxyenv, the_scheme_picks_the_variable)
{
    struct httpc_via via;
    const char *why = NULL;

    /* https: HTTPS_PROXY only, never HTTP_PROXY. */
    cr_assert_eq(
        proxyenv_select(true, "p.example.com", 443, "", NULL, "http://h:3128", NULL, &via, &why),
        0);
    cr_assert_not(via.use);
    cr_assert_eq(
        proxyenv_select(true, "p.example.com", 443, "", "corp:3128", NULL, NULL, &via, &why), 0);
    cr_assert(via.use);
    cr_assert_str_eq(via.host, "corp");
    cr_assert_eq(via.port, 3128);
    /* http: HTTP_PROXY, default port 80, user info as Basic credentials. */
    cr_assert_eq(proxyenv_select(false, "p.example.com", 8080, "", "x:1", "http://u:p@corp", NULL,
                                 &via, &why),
                 0);
    cr_assert(via.use);
    cr_assert_eq(via.port, 80);
    cr_assert_str_eq(via.auth, "Basic dTpw");
    /* NO_PROXY applies to the flag as well; the flag wins over the environment. */
    cr_assert_eq(proxyenv_select(true, "p.example.com", 443, "http://flag:1", "env:2", NULL,
                                 "example.com", &via, &why),
                 0);
    cr_assert_not(via.use);
    cr_assert_eq(proxyenv_select(true, "p.other.com", 443, "http://flag:1", "env:2", NULL,
                                 "example.com", &via, &why),
                 0);
    cr_assert_str_eq(via.host, "flag");
    /* IPv6 proxies, bracketed. */
    cr_assert_eq(proxyenv_select(true, "p.example.com", 443, "", "http://[fd00::9]:3128", NULL,
                                 NULL, &via, &why),
                 0);
    cr_assert_str_eq(via.host, "fd00::9");
}

Test(proxyenv, unusable_proxy_urls_are_refused_with_a_reason)
{
    struct httpc_via via;
    const char *why = NULL;
    cr_assert_eq(proxyenv_parse("https://corp:3128", &via, &why), -EINVAL);
    cr_assert_not_null(strstr(why, "https://"));
    cr_assert_eq(proxyenv_parse("socks5://corp:1080", &via, &why), -EINVAL);
    cr_assert_eq(proxyenv_parse("http://", &via, &why), -EINVAL);
    cr_assert_eq(proxyenv_parse("http://corp:99999", &via, &why), -EINVAL);
    cr_assert_eq(proxyenv_parse("http://[fd00::1", &via, &why), -EINVAL);
}
