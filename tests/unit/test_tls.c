/* test_tls.c - tls.c without a network: which FQDNs a certificate may speak for, the facts
 * read from a certificate, and what loading a configuration says when a file is wrong. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls.h"
#include "tls_certs.h"

static mbedtls_x509_crt crt;

static void setup(void)
{
    mbedtls_x509_crt_init(&crt);
}

static void teardown(void)
{
    mbedtls_x509_crt_free(&crt);
}

TestSuite(tls, .init = setup, .fini = teardown);

static void load(const char *name)
{
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_init(&crt);
    cr_assert_eq(mbedtls_x509_crt_parse_file(&crt, cert_path(name)), 0, "parse %s", name);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "open %s", path);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

struct name_case {
    const char *cert;
    const char *fqdn;
    bool want;
};

Test(tls, names_fqdn_table)
{
    static const struct name_case cases[] = {
        /* DNS SANs: exact, case-insensitive, a trailing dot is the same name */
        {"node1.crt", "node1.example.com", true},
        {"node1.crt", "NODE1.Example.com", true},
        {"node1.crt", "node1.example.com.", true},
        {"node1.crt", "node2.example.com", false},
        {"node1.crt", "example.com", false},
        {"node1.crt", "node1.example.com.evil", false},
        {"node1.crt", "xnode1.example.com", false},
        {"node1.crt", "", false},
        /* a wildcard is the whole left-most label and stands for exactly one label */
        {"wildcard.crt", "a.example.com", true},
        {"wildcard.crt", "Node-7.EXAMPLE.com", true},
        {"wildcard.crt", "a.b.example.com", false},
        {"wildcard.crt", "example.com", false},
        {"wildcard.crt", ".example.com", false},
        {"wildcard.crt", "a.example.org", false},
        /* the CN counts only when the certificate has no SAN at all */
        {"nosan.crt", "nosan.example.com", true},
        {"nosan.crt", "NOSAN.example.com", true},
        {"nosan.crt", "other.example.com", false},
        {"mixed.crt", "cn.example.com", false},
        {"urionly.crt", "uri.example.com", false},
        /* DNS SAN with capitals in the certificate */
        {"mixed.crt", "node3.example.com", true},
        /* IP SANs, compared as addresses, only for IP-literal FQDNs */
        {"mixed.crt", "192.0.2.7", true},
        {"mixed.crt", "2001:db8::7", true},
        {"mixed.crt", "[2001:db8::7]", true},
        {"mixed.crt", "2001:0db8:0:0:0:0:0:7", true},
        {"mixed.crt", "::ffff:192.0.2.7", true},
        {"mixed.crt", "192.0.2.8", false},
        {"mixed.crt", "2001:db8::8", false},
        {"mixed.crt", "ops@example.com", false},
        {"mixed.crt", "spiffe://example.com/node3", false},
        {"ipv4only.crt", "192.0.2.9", true},
        {"ipv4only.crt", "192.0.2.10", false},
        {"server.crt", "localhost", true},
        {"server.crt", "127.0.0.1", true},
        {"server.crt", "::1", true},
        {"server.crt", "127.0.0.2", false},
        /* a DNS SAN never names an IP literal, nor an IP SAN a name */
        {"server_other.crt", "10.0.0.1", true},
        {"server_other.crt", "proxy.example.com", true},
        {"server_other.crt", "127.0.0.1", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf id;
        load(cases[i].cert);
        cr_expect_eq(tls_cert_names_fqdn(&crt, cases[i].fqdn), cases[i].want,
                     "%s names %s: want %d", cases[i].cert, cases[i].fqdn, cases[i].want);
        /* The identity that travels between workers decides the same. */
        buf_init(&id, 1 << 16);
        cr_assert_eq(tls_identity_write(&crt, &id), 0);
        cr_expect_eq(tls_identity_names_fqdn(id.base, id.len, cases[i].fqdn), cases[i].want,
                     "identity of %s names %s: want %d", cases[i].cert, cases[i].fqdn,
                     cases[i].want);
        size_t n;
        cr_expect_gt(tls_identity_subject(id.base, id.len, &n) ? n : 0, 0, "a subject");
        buf_close(&id);
    }
}

Test(tls, cert_info_lists_sans_cn_subject_and_dates)
{
    struct tls_cert_info info;
    time_t now = time(NULL);

    load("mixed.crt");
    tls_cert_info(&crt, &info);
    cr_assert(info.has_san);
    cr_assert_eq(info.n_dns, 1);
    cr_assert_eq(info.dns[0].len, strlen("Node3.Example.COM"));
    cr_assert(memcmp(info.dns[0].p, "Node3.Example.COM", info.dns[0].len) == 0);
    cr_assert_eq(info.n_ip, 2);
    cr_assert_eq(info.ip[0].len, 4);
    cr_assert(memcmp(info.ip[0].addr, "\xc0\x00\x02\x07", 4) == 0);
    cr_assert_eq(info.ip[1].len, 16);
    cr_assert_eq(info.n_other, 2, "e-mail and URI");
    cr_assert_eq(info.cn.len, strlen("cn.example.com"));
    cr_assert(memcmp(info.cn.p, "cn.example.com", info.cn.len) == 0);
    cr_assert(strstr(info.subject, "CN=cn.example.com"), "subject %s", info.subject);
    cr_assert(info.not_before <= now && info.not_before > now - 3600);
    cr_assert(info.not_after > now + 29 * 86400 && info.not_after <= now + 31 * 86400);
    cr_assert(!info.truncated);

    load("nosan.crt");
    tls_cert_info(&crt, &info);
    cr_assert(!info.has_san);
    cr_assert_eq(info.n_dns + info.n_ip + info.n_other, 0);
}

Test(tls, not_after_is_unix_time)
{
    load("expired.crt");
    cr_assert_eq(tls_cert_not_after(&crt), 1580515200, "2020-02-01T00:00:00Z");
}

static int server_conf(const struct tls_server_opts *o, char *err, size_t err_len)
{
    struct tls_conf c;
    int rc = tls_conf_init_server(&c, o, NULL, err, err_len);
    if (rc == 0)
        tls_conf_unref(&c);
    return rc;
}

Test(tls, server_conf_loads_files_and_inline_pem)
{
    char err[TLS_ERR_MAX] = "";
    struct tls_server_opts o = {.cert_file = cert_path("server.crt"),
                                .key_file = cert_path("server.key")};
    cr_assert_eq(server_conf(&o, err, sizeof(err)), 0, "%s", err);

    char *cert = slurp(cert_path("server.crt")), *key = slurp(cert_path("server.key"));
    char *ca = slurp(cert_path("ca.crt"));
    struct tls_server_opts inl = {.cert_pem = cert,
                                  .key_pem = key,
                                  .client_ca_pem = ca,
                                  .client_auth = TLS_REQUIRE_AND_VERIFY_CLIENT_CERT};
    cr_assert_eq(server_conf(&inl, err, sizeof(err)), 0, "%s", err);
    free(cert);
    free(key);
    free(ca);
}

Test(tls, server_conf_errors_name_the_field_and_the_file)
{
    char err[TLS_ERR_MAX];
    struct tls_server_opts o = {.cert_file = "/nonexistent/server.crt",
                                .key_file = cert_path("server.key")};
    cr_assert_eq(server_conf(&o, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "cert_file: cannot read /nonexistent/server.crt"), "%s", err);

    o.cert_file = cert_path("server.crt");
    o.key_file = cert_path("server.csr");
    cr_assert_eq(server_conf(&o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "key_file") && strstr(err, "not a usable private key"), "%s", err);

    o.key_file = cert_path("node1.key");
    cr_assert_eq(server_conf(&o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "does not go with the certificate"), "%s", err);

    o.key_file = cert_path("server.key");
    o.client_ca_file = cert_path("server.key");
    o.client_auth = TLS_REQUIRE_AND_VERIFY_CLIENT_CERT;
    cr_assert_eq(server_conf(&o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "client_ca_file") && strstr(err, "not a PEM certificate"), "%s", err);

    o.client_ca_file = NULL;
    o.min_minor = MBEDTLS_SSL_MINOR_VERSION_3;
    o.max_minor = MBEDTLS_SSL_MINOR_VERSION_2;
    cr_assert_eq(server_conf(&o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "TLS 1.2 .. TLS 1.1"), "%s", err);

    struct tls_server_opts none = {.key_file = cert_path("server.key")};
    cr_assert_eq(server_conf(&none, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "missing cert_file or cert"), "%s", err);

    struct tls_server_opts bad_auth = {.cert_file = cert_path("server.crt"),
                                       .key_file = cert_path("server.key"),
                                       .client_auth = (enum tls_client_auth)9};
    cr_assert_eq(server_conf(&bad_auth, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "client_auth_type"), "%s", err);
}

Test(tls, client_conf_errors)
{
    char err[TLS_ERR_MAX];
    struct tls_conf c;
    struct tls_client_opts o = {
        .cacert = cert_path("ca.crt"), .cert = cert_path("node1.crt"), .what = "--tls"};
    cr_assert_eq(tls_conf_init_client(&c, &o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "--tls.cert and --tls.key must be given together"), "%s", err);

    o.key = cert_path("node2.key");
    cr_assert_eq(tls_conf_init_client(&c, &o, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "--tls.key") && strstr(err, "does not go with the certificate"), "%s",
              err);

    o.key = cert_path("node1.key");
    o.cacert = "/nonexistent/ca.crt";
    cr_assert_eq(tls_conf_init_client(&c, &o, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "--tls.cacert: cannot read /nonexistent/ca.crt"), "%s", err);

    o.cacert = cert_path("ca.crt");
    cr_assert_eq(tls_conf_init_client(&c, &o, err, sizeof(err)), 0, "%s", err);
    cr_assert(tls_conf_cert_not_after(&c) > time(NULL));
    tls_conf_unref(&c);
}

/* Under ASan a leak or a double free here fails the test. */
Test(tls, conf_lives_until_the_last_reference)
{
    char err[TLS_ERR_MAX];
    struct tls_tickets tk;
    struct tls_server_opts o = {.cert_file = cert_path("server.crt"),
                                .key_file = cert_path("server.key")};

    cr_assert_eq(tls_tickets_init(&tk, TLS_TICKET_LIFETIME_S, err, sizeof(err)), 0, "%s", err);
    struct tls_conf *c = tls_conf_new_server(&o, &tk, err, sizeof(err));
    cr_assert(c, "%s", err);
    struct tls_sess s;
    cr_assert_eq(tls_sess_init(&s, c, NULL, 0), 0);
    cr_assert_eq(atomic_load(&c->refs), 2);
    tls_conf_unref(c); /* the owner's; the session keeps it */
    cr_assert_eq(atomic_load(&c->refs), 1);
    cr_assert(c->has_cert, "still whole");
    tls_sess_close(&s); /* frees it */
    tls_tickets_close(&tk);
}

Test(tls, failure_text_keeps_the_first_reason)
{
    char err[TLS_ERR_MAX];
    struct tls_client_opts o = {.cacert = cert_path("ca.crt"), .what = "--tls"};
    struct tls_conf *c = tls_conf_new_client(&o, err, sizeof(err));
    struct tls_sess s;

    cr_assert(c, "%s", err);
    cr_assert_eq(tls_sess_init(&s, c, "localhost", 443), 0);
    cr_assert_eq(tls_sess_fail(&s, -5, "first %d", 1), -5);
    tls_sess_fail(&s, -6, "second");
    cr_assert_str_eq(s.err, "first 1");
    tls_sess_close(&s);
    tls_conf_unref(c);
}
