/* test_webconfig.c - exporter-toolkit web config files: every key, its defaults, every
 * refusal (with file, line and key in the message), limits, and webconfig_load on disk.
 * The accepted shapes follow exporter-toolkit's own example and test files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "basic_auth.h"
#include "webconfig.h"

/* Valid bcrypt hashes: the first was made by Go/htpasswd (upstream's testdata, password
 * "alice123"), the second by libxcrypt. Only their shape matters in this file. */
#define HASH_Y "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby"
#define HASH_B "$2b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2"

static struct webconfig wc;
static char err[WEBCONFIG_ERR_MAX];

static void fini(void)
{
    webconfig_close(&wc);
}

TestSuite(webconfig, .fini = fini);

static int parse_at(const char *text, const char *path)
{
    return webconfig_parse(text, strlen(text), path, &wc, err, sizeof(err));
}

static int parse(const char *text)
{
    return parse_at(text, "/etc/pushprox/web.yml");
}

/* Asserts a refusal with rc whose message contains each of the given pieces. */
static void refused(const char *text, int rc, const char *piece1, const char *piece2)
{
    int got = parse(text);
    cr_assert_eq(got, rc, "want %d, got %d (err: %s) for:\n%s", rc, got, err, text);
    cr_assert(strstr(err, piece1), "error \"%s\" lacks \"%s\"", err, piece1);
    if (piece2)
        cr_assert(strstr(err, piece2), "error \"%s\" lacks \"%s\"", err, piece2);
    cr_assert_not(wc.tls, "a refused file leaves the struct empty");
    cr_assert_null(wc.cert_file);
    cr_assert_eq(wc.n_users, 0);
}

/* ---- what parses, with defaults ---- */

Test(webconfig, empty_file_is_plain_http_with_defaults)
{
    cr_assert_eq(parse(""), 0, "%s", err);
    cr_assert_not(wc.tls);
    cr_assert_eq(wc.client_auth, WEBCONFIG_NO_CLIENT_CERT);
    cr_assert_eq(wc.min_minor, MBEDTLS_SSL_MINOR_VERSION_3, "default minimum is TLS 1.2");
    cr_assert_eq(wc.max_minor, MBEDTLS_SSL_MINOR_VERSION_3);
    cr_assert(wc.prefer_server_cipher_suites, "upstream default is true");
    cr_assert(wc.http2, "upstream default is true");
    cr_assert_null(wc.cipher_suites);
    cr_assert_null(wc.curves);
    cr_assert_eq(wc.n_headers + wc.n_users + wc.n_allowed_sans, 0);
    cr_assert_eq(wc.rate_limit_interval_ns, 0);
    cr_assert_eq(err[0], '\0');
}

Test(webconfig, comments_and_null_sections_are_empty)
{
    cr_assert_eq(parse("# nothing here\n"), 0, "%s", err);
    webconfig_close(&wc);
    cr_assert_eq(parse("---\ntls_server_config:\nhttp_server_config: ~\nbasic_auth_users: "
                       "null\nrate_limit: {}\n"),
                 0, "%s", err);
    cr_assert_not(wc.tls);
    cr_assert(wc.http2);
}

Test(webconfig, minimal_tls_resolves_paths_against_the_config_directory)
{
    cr_assert_eq(parse("tls_server_config:\n  cert_file: server.crt\n  key_file: sub/server.key\n"),
                 0, "%s", err);
    cr_assert(wc.tls);
    cr_assert_str_eq(wc.cert_file, "/etc/pushprox/server.crt");
    cr_assert_str_eq(wc.key_file, "/etc/pushprox/sub/server.key");
    cr_assert_null(wc.client_ca_file);
    cr_assert_eq(wc.client_auth, WEBCONFIG_NO_CLIENT_CERT);
}

Test(webconfig, absolute_paths_are_kept)
{
    cr_assert_eq(parse("tls_server_config:\n  cert_file: /srv/tls/a.crt\n  key_file: "
                       "'/srv/tls/a.key'\n"),
                 0, "%s", err);
    cr_assert_str_eq(wc.cert_file, "/srv/tls/a.crt");
    cr_assert_str_eq(wc.key_file, "/srv/tls/a.key");
}

Test(webconfig, paths_of_a_file_in_the_cwd_or_without_a_path_stay_as_written)
{
    const char *text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    cr_assert_eq(parse_at(text, "web.yml"), 0, "%s", err);
    cr_assert_str_eq(wc.cert_file, "server.crt");
    webconfig_close(&wc);
    cr_assert_eq(webconfig_parse(text, strlen(text), NULL, &wc, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(wc.key_file, "server.key");
    webconfig_close(&wc);
    cr_assert_eq(parse_at(text, "/web.yml"), 0, "%s", err);
    cr_assert_str_eq(wc.cert_file, "/server.crt");
}

Test(webconfig, full_tls_section_with_every_key)
{
    const char *text = "tls_server_config:\n"
                       "  cert_file: \"server.crt\"\n"
                       "  key_file: \"server.key\"\n"
                       "  client_auth_type: \"RequireAndVerifyClientCert\"\n"
                       "  client_ca_file: \"client_ca.pem\"\n"
                       "  min_version: TLS12\n"
                       "  max_version: TLS13\n"
                       "  cipher_suites:\n"
                       "  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                       "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
                       "  prefer_server_cipher_suites: false\n"
                       "  curve_preferences:\n"
                       "    - X25519\n"
                       "    - CurveP256\n"
                       "  client_allowed_sans:\n"
                       "    - \"one\"\n"
                       "    - test3.example.net\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert(wc.tls);
    cr_assert_str_eq(wc.client_ca_file, "/etc/pushprox/client_ca.pem");
    cr_assert_eq(wc.client_auth, WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT);
    cr_assert_eq(wc.min_minor, MBEDTLS_SSL_MINOR_VERSION_3);
    cr_assert_eq(wc.max_minor, MBEDTLS_SSL_MINOR_VERSION_3, "TLS13 max: the highest we have");
    cr_assert_eq(wc.n_cipher_suites, 2);
    cr_assert_eq(wc.cipher_suites[0], MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
    cr_assert_eq(wc.cipher_suites[1], MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    cr_assert_eq(wc.cipher_suites[2], 0, "0-terminated");
    cr_assert_not(wc.prefer_server_cipher_suites);
    cr_assert_eq(wc.n_curves, 2);
    cr_assert_eq(wc.curves[0], MBEDTLS_ECP_DP_CURVE25519);
    cr_assert_eq(wc.curves[1], MBEDTLS_ECP_DP_SECP256R1);
    cr_assert_eq(wc.curves[2], MBEDTLS_ECP_DP_NONE, "NONE-terminated");
    cr_assert_eq(wc.n_allowed_sans, 2);
    cr_assert_str_eq(wc.allowed_sans[0], "one");
    cr_assert_str_eq(wc.allowed_sans[1], "test3.example.net");
}

Test(webconfig, inline_cert_key_and_client_ca)
{
    const char *text = "tls_server_config:\n"
                       "  cert: |\n"
                       "    -----BEGIN CERTIFICATE-----\n"
                       "    AAAA\n"
                       "    -----END CERTIFICATE-----\n"
                       "  key: |\n"
                       "    -----BEGIN PRIVATE KEY-----\n"
                       "    BBBB\n"
                       "    -----END PRIVATE KEY-----\n"
                       "  client_ca: \"-----BEGIN CERTIFICATE-----\\nCCCC\\n-----END "
                       "CERTIFICATE-----\\n\"\n"
                       "  client_auth_type: VerifyClientCertIfGiven\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert(wc.tls);
    cr_assert_null(wc.cert_file);
    cr_assert_str_eq(wc.cert_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    cr_assert_str_eq(wc.key_pem, "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n");
    cr_assert_str_eq(wc.client_ca_pem,
                     "-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n");
    cr_assert_eq(wc.client_auth, WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN);
}

Test(webconfig, file_cert_with_inline_key_mixes_forms)
{
    /* upstream's tls_config_noAuth.requireanyclientcertkeyinline.good.yml */
    cr_assert_eq(parse("tls_server_config:\n  cert_file: server.crt\n  key: |\n    -----BEGIN "
                       "PRIVATE KEY-----\n    x\n  client_auth_type: RequireAnyClientCert\n"),
                 0, "%s", err);
    cr_assert_str_eq(wc.cert_file, "/etc/pushprox/server.crt");
    cr_assert_not_null(wc.key_pem);
    cr_assert_eq(wc.client_auth, WEBCONFIG_REQUIRE_ANY_CLIENT_CERT);
}

Test(webconfig, every_client_auth_type)
{
    static const struct {
        const char *name;
        enum webconfig_client_auth want;
        const char *ca;
    } cases[] = {
        {"NoClientCert", WEBCONFIG_NO_CLIENT_CERT, ""},
        {"\"\"", WEBCONFIG_NO_CLIENT_CERT, ""},
        {"RequestClientCert", WEBCONFIG_REQUEST_CLIENT_CERT, ""},
        {"RequireAnyClientCert", WEBCONFIG_REQUIRE_ANY_CLIENT_CERT, ""},
        {"RequireClientCert", WEBCONFIG_REQUIRE_ANY_CLIENT_CERT, ""},
        {"VerifyClientCertIfGiven", WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN, ""},
        {"RequireAndVerifyClientCert", WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
         "  client_ca_file: ca.pem\n"},
        /* Without a client CA: Go verifies against the system pool; upstream's own
         * examples do this (web_config_noAuth.good.yml). */
        {"RequireAndVerifyClientCert", WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
                 "  client_auth_type: %s\n%s",
                 cases[i].name, cases[i].ca);
        cr_assert_eq(parse(text), 0, "%s: %s", cases[i].name, err);
        cr_assert_eq(wc.client_auth, cases[i].want, "%s", cases[i].name);
        cr_assert(wc.tls);
        webconfig_close(&wc);
    }
    cr_assert_str_eq(webconfig_client_auth_name(WEBCONFIG_REQUIRE_ANY_CLIENT_CERT),
                     "RequireAnyClientCert");
}

Test(webconfig, tls_versions_map_to_mbedtls_minor_numbers)
{
    static const struct {
        const char *min, *max;
        int want_min, want_max;
    } cases[] = {
        {"TLS10", "TLS10", MBEDTLS_SSL_MINOR_VERSION_1, MBEDTLS_SSL_MINOR_VERSION_1},
        {"TLS10", "TLS11", MBEDTLS_SSL_MINOR_VERSION_1, MBEDTLS_SSL_MINOR_VERSION_2},
        {"TLS11", "TLS12", MBEDTLS_SSL_MINOR_VERSION_2, MBEDTLS_SSL_MINOR_VERSION_3},
        {"TLS12", "TLS12", MBEDTLS_SSL_MINOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3},
        {"TLS12", "TLS13", MBEDTLS_SSL_MINOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3},
        {"~", "~", MBEDTLS_SSL_MINOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "tls_server_config:\n  min_version: %s\n  max_version: %s\n",
                 cases[i].min, cases[i].max);
        cr_assert_eq(parse(text), 0, "%s..%s: %s", cases[i].min, cases[i].max, err);
        cr_assert_eq(wc.min_minor, cases[i].want_min, "%s", cases[i].min);
        cr_assert_eq(wc.max_minor, cases[i].want_max, "%s", cases[i].max);
        webconfig_close(&wc);
    }
}

Test(webconfig, every_go_cipher_suite_name_is_known)
{
    /* upstream's web_config_noAuth_allCiphers.good.yml: Go's whole tls.CipherSuites() list */
    const char *text = "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n"
                       "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
                       "  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n"
                       "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                       "  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                       "  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
                       "  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"
                       "  - TLS_AES_128_GCM_SHA256\n"
                       "  - TLS_AES_256_GCM_SHA384\n"
                       "  - TLS_CHACHA20_POLY1305_SHA256\n"
                       "  - TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\n"
                       "  - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n"
                       "  - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n"
                       "  - TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    static const int want[] = {
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        /* the three TLS 1.3 names are left out, as Go ignores them in a config */
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        0,
    };
    cr_assert_eq(wc.n_cipher_suites, 10);
    for (size_t i = 0; i <= wc.n_cipher_suites; i++)
        cr_assert_eq(wc.cipher_suites[i], want[i], "entry %zu: %#x", i, wc.cipher_suites[i]);
}

Test(webconfig, every_curve_name_is_known)
{
    cr_assert_eq(parse("tls_server_config:\n  curve_preferences: [CurveP256, CurveP384, "
                       "CurveP521, X25519, CurveP256]\n"),
                 0, "%s", err);
    static const mbedtls_ecp_group_id want[] = {
        MBEDTLS_ECP_DP_SECP256R1,  MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1,
        MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE,
    };
    cr_assert_eq(wc.n_curves, 5);
    for (size_t i = 0; i <= wc.n_curves; i++)
        cr_assert_eq(wc.curves[i], want[i], "entry %zu", i);
}

Test(webconfig, booleans_take_yaml_1_1_forms)
{
    static const struct {
        const char *v;
        bool want;
    } cases[] = {{"true", true}, {"True", true},   {"yes", true},    {"on", true},
                 {"y", true},    {"false", false}, {"FALSE", false}, {"no", false},
                 {"off", false}, {"N", false},     {"~", false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "tls_server_config:\n  prefer_server_cipher_suites: %s\nhttp_server_config:\n"
                 "  http2: %s\n",
                 cases[i].v, cases[i].v);
        cr_assert_eq(parse(text), 0, "%s: %s", cases[i].v, err);
        cr_assert_eq(wc.prefer_server_cipher_suites, cases[i].want, "%s", cases[i].v);
        cr_assert_eq(wc.http2, cases[i].want, "%s", cases[i].v);
        webconfig_close(&wc);
    }
}

Test(webconfig, headers_upstream_example)
{
    /* upstream's web_config_headers.good.yml, plus a blank one ("unset if blank") */
    const char *text = "http_server_config:\n"
                       "  headers:\n"
                       "    X-Frame-Options: deny\n"
                       "    Strict-Transport-Security: max-age=31536000; includeSubDomains\n"
                       "    X-Content-Type-Options: nosniff\n"
                       "    X-XSS-Protection: 1\n"
                       "    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_eq(wc.n_headers, 5);
    cr_assert_str_eq(wc.headers[0].name, "X-Frame-Options");
    cr_assert_str_eq(wc.headers[0].value, "deny");
    cr_assert_str_eq(wc.headers[1].value, "max-age=31536000; includeSubDomains");
    cr_assert_str_eq(wc.headers[3].name, "X-XSS-Protection");
    cr_assert_str_eq(wc.headers[3].value, "1", "a YAML integer is taken as its text");
    cr_assert_str_eq(wc.headers[4].value, "default-src 'self' *.test.example.net");
    cr_assert_not(wc.tls);
    webconfig_close(&wc);
    cr_assert_eq(parse("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n"
                       "    Content-Security-Policy: ''\n    X-XSS-Protection:\n"),
                 0, "%s", err);
    cr_assert_eq(wc.n_headers, 1, "blank values are unset");
    cr_assert_str_eq(wc.headers[0].value, "sameorigin");
}

Test(webconfig, users_map_to_hashes)
{
    cr_assert_eq(parse("basic_auth_users:\n  alice: " HASH_Y "\n  bob: '" HASH_B "'\n"
                       "  \"carol smith\": " HASH_Y "\n"),
                 0, "%s", err);
    cr_assert_eq(wc.n_users, 3);
    cr_assert_str_eq(wc.users[0].name, "alice");
    cr_assert_str_eq(wc.users[0].hash, HASH_Y);
    cr_assert_str_eq(wc.users[1].hash, HASH_B);
    cr_assert_str_eq(webconfig_user_hash(&wc, "bob"), HASH_B);
    cr_assert_str_eq(webconfig_user_hash(&wc, "carol smith"), HASH_Y);
    cr_assert_null(webconfig_user_hash(&wc, "mallory"));
    cr_assert_null(webconfig_user_hash(&wc, "Alice"), "user names are case-sensitive");
    cr_assert_not(wc.tls, "users alone do not turn TLS on");
}

Test(webconfig, anchors_and_aliases_resolve)
{
    cr_assert_eq(parse("basic_auth_users:\n  alice: &h " HASH_Y "\n  bob: *h\n"), 0, "%s", err);
    cr_assert_eq(wc.n_users, 2);
    cr_assert_str_eq(wc.users[1].hash, HASH_Y);
}

Test(webconfig, rate_limit_takes_go_durations_and_yaml_v2_integers)
{
    static const struct {
        const char *interval;
        uint64_t want_ns;
    } cases[] = {
        {"\"1s\"", 1000000000ull},
        {"1s", 1000000000ull},
        {"0", 0},
        {"250ms", 250000000ull},
        {"1m30s", 90000000000ull},
        {"1.5h", 5400000000000ull},
        {"100us", 100000ull},
        {"\"100\xc2\xb5s\"", 100000ull},
        {"42ns", 42},
        {"1500000000", 1500000000ull},
        {"'0'", 0},
        {".5s", 500000000ull},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "rate_limit:\n  interval: %s\n  burst: 20\n",
                 cases[i].interval);
        cr_assert_eq(parse(text), 0, "%s: %s", cases[i].interval, err);
        cr_assert_eq(wc.rate_limit_interval_ns, cases[i].want_ns, "%s: got %llu", cases[i].interval,
                     (unsigned long long)wc.rate_limit_interval_ns);
        cr_assert_eq(wc.rate_limit_burst, 20);
        webconfig_close(&wc);
    }
}

/* ---- refusals ---- */

Test(webconfig, unknown_key_at_every_level_names_key_line_and_file)
{
    refused("tls_server_confi:\n  cert_file: a\n", -EINVAL,
            "/etc/pushprox/web.yml:1:1:", "unknown key \"tls_server_confi\" in the top level");
    refused("tls_server_config:\n  cert_filse: \"server.crt\"\n", -EINVAL,
            "web.yml:2:3:", "unknown key \"cert_filse\" in tls_server_config");
    refused("http_server_config:\n  http2: true\n  header: {}\n", -EINVAL,
            "web.yml:3:3:", "unknown key \"header\" in http_server_config");
    refused("rate_limit:\n  interval: 1s\n  bursts: 3\n", -EINVAL,
            "web.yml:3:3:", "unknown key \"bursts\" in rate_limit");
    refused("tls_server_config:\n  rate_limit: {}\n", -EINVAL,
            ":2:3:", "unknown key \"rate_limit\" in tls_server_config");
}

Test(webconfig, repeated_keys_are_refused)
{
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_file: c\n", -EINVAL,
            ":4:3:", "key \"cert_file\" appears twice in tls_server_config");
    refused("rate_limit: {}\nrate_limit: {}\n", -EINVAL, ":2:1:", "appears twice");
    refused("basic_auth_users:\n  alice: " HASH_Y "\n  alice: " HASH_B "\n", -EINVAL,
            ":3:3:", "user \"alice\" appears twice");
    refused("http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: "
            "deny\n",
            -EINVAL, ":4:5:", "header \"X-Frame-Options\" appears twice");
}

Test(webconfig, values_of_the_wrong_kind_are_refused)
{
    refused("- a\n- b\n", -EINVAL, ":1:1:", "the top level must be a mapping");
    /* upstream's web_config_junk.yml is one long plain scalar */
    refused("hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\n", -EINVAL, ":1:1:", "must be a mapping");
    refused("tls_server_config: [a]\n", -EINVAL, ":1:20:", "tls_server_config must be a mapping");
    refused("tls_server_config:\n  cert_file: {a: b}\n", -EINVAL,
            ":2:14:", "cert_file must be a string, not a mapping");
    refused("tls_server_config:\n  cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n", -EINVAL,
            ":2:18:", "cipher_suites must be a list");
    refused("tls_server_config:\n  cipher_suites: [[TLS_AES_128_GCM_SHA256]]\n", -EINVAL,
            ":2:19:", "an entry of tls_server_config.cipher_suites must be a string");
    refused("basic_auth_users: [alice]\n", -EINVAL, ":1:19:", "basic_auth_users must be a mapping");
    refused("http_server_config:\n  headers: nosniff\n", -EINVAL,
            ":2:12:", "headers must be a mapping");
    refused("{[a]: 1}\n", -EINVAL, ":1:2:", "a key must be a string, not a list");
}

Test(webconfig, bad_enum_values_are_refused)
{
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: "
            "VerifyClientCert\n",
            -EINVAL, ":4:21:", "client_auth_type: invalid value \"VerifyClientCert\"");
    refused("tls_server_config:\n  client_auth_type: noclientcert\n", -EINVAL,
            "invalid value \"noclientcert\"", NULL);
    refused("tls_server_config:\n  min_version: TLS111\n", -EINVAL,
            ":2:16:", "unknown TLS version \"TLS111\"");
    refused("tls_server_config:\n  max_version: tls12\n", -EINVAL, "unknown TLS version \"tls12\"",
            NULL);
    refused("tls_server_config:\n  prefer_server_cipher_suites: maybe\n", -EINVAL,
            ":2:32:", "\"maybe\" is not a boolean");
    refused("tls_server_config:\n  prefer_server_cipher_suites: \"true\"\n", -EINVAL,
            "is not a boolean", NULL);
    refused("http_server_config:\n  http2: 1\n", -EINVAL, "http2: \"1\" is not a boolean", NULL);
}

Test(webconfig, unknown_cipher_suites_are_refused_by_name)
{
    refused("tls_server_config:\n  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\n",
            -EINVAL, ":3:5:", "unknown cipher suite \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\"");
    /* Go's InsecureCipherSuites() are unknown to upstream too. */
    refused("tls_server_config:\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", -EINVAL,
            "unknown cipher suite \"TLS_RSA_WITH_RC4_128_SHA\"", NULL);
    refused("tls_server_config:\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256]\n",
            -EINVAL, "unknown cipher suite", NULL);
    /* mbedTLS's spelling is not Go's. */
    refused("tls_server_config:\n  cipher_suites: [TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256]\n",
            -EINVAL, "unknown cipher suite", NULL);
    refused("tls_server_config:\n  cipher_suites: [~]\n", -EINVAL, "unknown cipher suite \"\"",
            NULL);
}

Test(webconfig, only_tls13_cipher_suites_are_refused)
{
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: "
            "[TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256]\n",
            -EINVAL, "names only TLS 1.3 suites", NULL);
}

Test(webconfig, bad_curves_are_refused)
{
    refused("tls_server_config:\n  curve_preferences:\n    - CurveP257\n", -EINVAL,
            ":3:7:", "unknown curve \"CurveP257\"");
    refused("tls_server_config:\n  curve_preferences: [secp256r1]\n", -EINVAL,
            "unknown curve \"secp256r1\"", NULL);
    refused("tls_server_config:\n  curve_preferences: [X25519MLKEM768]\n", -EINVAL, "unknown curve",
            NULL);
}

Test(webconfig, tls13_minimum_is_refused_clearly)
{
    /* upstream's web_config_noAuth_someCurves.good.yml asks for it */
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n", -EINVAL,
            ":4:16:", "TLS13 is not available");
    refused("tls_server_config:\n  min_version: TLS12\n  max_version: TLS11\n", -EINVAL,
            "min_version TLS12 is above max_version TLS11", NULL);
    refused("tls_server_config:\n  max_version: TLS10\n", -EINVAL,
            "min_version TLS12 is above max_version TLS10", NULL);
}

Test(webconfig, cert_and_key_must_come_together)
{
    refused("tls_server_config:\n  cert_file: server.crt\n", -EINVAL,
            ":2:3:", "missing one of key or key_file");
    refused("tls_server_config:\n  key_file: server.key\n", -EINVAL,
            "missing one of cert or cert_file", NULL);
    /* upstream's *_empty.bad.yml files: an empty value is unset */
    refused("tls_server_config:\n  cert_file: \"\"\n  key_file: \"server.key\"\n", -EINVAL,
            "missing one of cert or cert_file", NULL);
    refused("tls_server_config:\n  cert_file: \"server.crt\"\n  key: \"\"\n", -EINVAL,
            "missing one of key or key_file", NULL);
    /* client_auth_type alone turns TLS on (upstream's IsEnabled) */
    refused("tls_server_config:\n  client_auth_type: RequireAnyClientCert\n", -EINVAL,
            "missing one of cert or cert_file", NULL);
    refused("tls_server_config:\n  client_ca_file: ca.pem\n", -EINVAL,
            "missing one of cert or cert_file", NULL);
}

Test(webconfig, file_and_inline_forms_are_exclusive)
{
    refused("tls_server_config:\n  cert_file: a\n  cert: x\n  key_file: b\n", -EINVAL,
            "cert and cert_file are both set", NULL);
    refused("tls_server_config:\n  cert_file: a\n  key: x\n  key_file: b\n", -EINVAL,
            "key and key_file are both set", NULL);
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca: x\n  "
            "client_ca_file: c\n  client_auth_type: RequireAndVerifyClientCert\n",
            -EINVAL, "client_ca and client_ca_file are both set", NULL);
}

Test(webconfig, client_ca_without_client_auth_is_refused)
{
    /* upstream's web_config_noAuth.bad.yml */
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: /dev/null\n",
            -EINVAL, "a client CA is configured but client_auth_type is NoClientCert", NULL);
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca: x\n  "
            "client_auth_type: NoClientCert\n",
            -EINVAL, "client_auth_type is NoClientCert", NULL);
}

Test(webconfig, allowed_sans_need_a_client_cert_and_entries)
{
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [one]\n",
            -EINVAL, "client_allowed_sans is set but client_auth_type is NoClientCert", NULL);
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: "
            "RequireAnyClientCert\n  client_allowed_sans: []\n",
            -EINVAL, "client_allowed_sans is empty", NULL);
    refused("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: "
            "RequireAnyClientCert\n  client_allowed_sans: [one, '']\n",
            -EINVAL, "an entry is empty", NULL);
}

Test(webconfig, forbidden_headers_and_values_are_refused)
{
    refused("http_server_config:\n  headers:\n    Content-Type: foo\n", -EINVAL,
            ":3:5:", "HTTP header \"Content-Type\" can not be configured");
    refused("http_server_config:\n  headers:\n    x-frame-options: deny\n", -EINVAL,
            "HTTP header \"x-frame-options\" can not be configured", NULL);
    refused("http_server_config:\n  headers:\n    Server: pushprox\n", -EINVAL,
            "can not be configured", NULL);
    refused("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", -EINVAL,
            ":3:29:", "invalid value for X-Content-Type-Options: \"sniff\" (want nosniff)");
    refused("http_server_config:\n  headers:\n    X-Frame-Options: foo\n", -EINVAL,
            "invalid value for X-Frame-Options: \"foo\" (want deny or sameorigin)", NULL);
    refused("http_server_config:\n  headers:\n    X-Frame-Options: DENY\n", -EINVAL,
            "invalid value for X-Frame-Options", NULL);
    refused("http_server_config:\n  headers:\n    X-Frame-Options: ''\n", -EINVAL,
            "invalid value for X-Frame-Options: \"\"", NULL);
    refused("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\r\\nSet-Cookie: "
            "x\"\n",
            -EINVAL, "contains a control character", NULL);
}

Test(webconfig, non_bcrypt_hashes_are_refused)
{
    static const char *const bad[] = {
        "doe",                                /* upstream's */
        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", /* MD5 crypt */
        "$6$saltsalt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXY",
        "$2x$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2", /* bug-compat */
        "$2b$03$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2", /* cost < 4 */
        "$2b$32$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2", /* cost > 31 */
        "$2b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS",  /* 59 chars */
        "ab01234567890",                                                /* DES */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "basic_auth_users:\n  john: '%s'\n", bad[i]);
        int rc = parse(text);
        cr_assert_eq(rc, -EINVAL, "%s accepted", bad[i]);
        cr_assert(strstr(err, ":2:9:") && strstr(err, "user \"john\": the password is not a "
                                                      "bcrypt hash"),
                  "%s", err);
        cr_assert_null(strstr(err, bad[i][0] ? bad[i] : "\x01"), "the hash is not echoed");
        webconfig_close(&wc);
    }
}

Test(webconfig, user_names_with_a_colon_are_refused)
{
    refused("basic_auth_users:\n  \"a:b\": " HASH_Y "\n", -EINVAL,
            ":2:3:", "user \"a:b\" contains ':'");
}

Test(webconfig, bad_rate_limits_are_refused)
{
    refused("rate_limit:\n  interval: -1s\n", -EINVAL, ":2:13:", "\"-1s\" is not a duration");
    refused("rate_limit:\n  interval: \"1000\"\n", -EINVAL, "is not a duration", NULL);
    refused("rate_limit:\n  interval: 1x\n", -EINVAL, "is not a duration", NULL);
    refused("rate_limit:\n  interval: 10000000000h\n", -EINVAL, "is not a duration", NULL);
    refused("rate_limit:\n  burst: -1\n", -EINVAL,
            ":2:10:", "\"-1\" is not a non-negative integer");
    refused("rate_limit:\n  burst: '5'\n", -EINVAL, "is not a non-negative integer", NULL);
    refused("rate_limit:\n  burst: 99999999999999999999\n", -EINVAL,
            "is not a non-negative integer", NULL);
}

Test(webconfig, yaml_syntax_errors_name_the_line)
{
    refused("tls_server_config:\n  cert_file: [a\n", -EINVAL, "web.yml:3:1: YAML:", NULL);
    refused("tls_server_config:\n\tcert_file: a\n", -EINVAL, "web.yml:2:", "YAML:");
    refused("a: *nowhere\n", -EINVAL, "YAML:", "undefined alias");
    refused("k\xc3\x28: 1\n", -EINVAL, "YAML:", NULL); /* not UTF-8 */
}

Test(webconfig, a_second_document_is_refused)
{
    refused("rate_limit: {}\n---\nrate_limit: {}\n", -EINVAL, ":3:1:", "a second YAML document");
}

Test(webconfig, explicit_tags_and_nul_bytes_are_refused)
{
    refused("tls_server_config:\n  cert_file: !!binary YWJj\n", -EINVAL,
            ":2:14:", "YAML tag \"tag:yaml.org,2002:binary\" is not supported");
    refused("rate_limit:\n  burst: !!int 3\n", -EINVAL, "is not supported", NULL);
    refused("tls_server_config:\n  cert_file: \"a\\0b\"\n  key_file: b\n", -EINVAL,
            ":2:14:", "cert_file contains a NUL byte");
}

Test(webconfig, odd_bytes_in_keys_are_escaped_in_errors)
{
    refused("\"a\\x01\\\"b\": 1\n", -EINVAL, "unknown key \"a\\x01\\\"b\"", NULL);
    char text[600];
    memset(text, 'k', 500);
    memcpy(text + 500, ": 1\n", 5);
    refused(text, -EINVAL, "unknown key \"kkkk", "...");
    cr_assert_lt(strlen(err), 200, "a long key is cut: %zu", strlen(err));
}

Test(webconfig, self_referencing_alias_cannot_loop)
{
    refused("tls_server_config:\n  cipher_suites: &a [*a]\n", -EINVAL,
            "must be a string, not a list", NULL);
    refused("&r {tls_server_config: *r}\n", -EINVAL,
            "unknown key \"tls_server_config\" in tls_server_config", NULL);
}

/* ---- limits ---- */

Test(webconfig, oversized_input_is_refused_before_parsing)
{
    size_t len = WEBCONFIG_MAX_BYTES + 1;
    char *text = malloc(len);
    cr_assert_not_null(text);
    memset(text, '#', len);
    int rc = webconfig_parse(text, len, "big.yml", &wc, err, sizeof(err));
    free(text);
    cr_assert_eq(rc, -EFBIG);
    cr_assert(strstr(err, "big.yml: file is larger than"), "%s", err);
}

Test(webconfig, long_strings_are_refused)
{
    size_t n = WEBCONFIG_MAX_STRING_BYTES + 1;
    char *text = malloc(n + 64);
    cr_assert_not_null(text);
    int off = sprintf(text, "tls_server_config:\n  cert_file: ");
    memset(text + off, 'p', n);
    strcpy(text + off + n, "\n");
    refused(text, -E2BIG, ":2:14:", "cert_file is longer than 4096 bytes");
    /* one byte less fits */
    text[off + n - 1] = '\n';
    text[off + n] = '\0';
    strcat(text, "  key_file: k\n");
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_eq(strlen(wc.cert_file), strlen("/etc/pushprox/") + n - 1);
    free(text);
}

static char *many(const char *head, const char *item, size_t count)
{
    size_t cap = strlen(head) + count * (strlen(item) + 16) + 1;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t off = (size_t)sprintf(text, "%s", head);
    for (size_t i = 0; i < count; i++)
        off += (size_t)snprintf(text + off, cap - off, item, i);
    return text;
}

Test(webconfig, list_lengths_are_bounded)
{
    char *text = many("basic_auth_users:\n", "  u%zu: " HASH_B "\n", WEBCONFIG_MAX_USERS);
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_eq(wc.n_users, WEBCONFIG_MAX_USERS);
    cr_assert_str_eq(webconfig_user_hash(&wc, "u1023"), HASH_B);
    webconfig_close(&wc);
    free(text);
    text = many("basic_auth_users:\n", "  u%zu: " HASH_B "\n", WEBCONFIG_MAX_USERS + 1);
    refused(text, -E2BIG, "basic_auth_users has more than 1024 users", NULL);
    free(text);
    text = many("tls_server_config:\n  curve_preferences:\n", "  - X25519 #%zu\n",
                WEBCONFIG_MAX_CURVES + 1);
    refused(text, -E2BIG, "curve_preferences has more than 16 entries", NULL);
    free(text);
    text =
        many("tls_server_config:\n  cipher_suites:\n",
             "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 #%zu\n", WEBCONFIG_MAX_CIPHER_SUITES + 1);
    refused(text, -E2BIG, "cipher_suites has more than 64 entries", NULL);
    free(text);
    text = many("tls_server_config:\n  client_allowed_sans:\n", "  - host%zu\n",
                WEBCONFIG_MAX_ALLOWED_SANS + 1);
    refused(text, -E2BIG, "client_allowed_sans has more than 1024 entries", NULL);
    free(text);
}

Test(webconfig, error_buffer_may_be_small_or_absent)
{
    char small[8];
    const char *text = "nope: 1\n";
    cr_assert_eq(webconfig_parse(text, strlen(text), "web.yml", &wc, small, sizeof(small)),
                 -EINVAL);
    cr_assert_eq(strlen(small), sizeof(small) - 1, "cut, NUL-terminated");
    cr_assert_eq(webconfig_parse(text, strlen(text), "web.yml", &wc, NULL, 0), -EINVAL);
}

/* ---- close ---- */

Test(webconfig, close_accepts_zeroed_and_closed_structs)
{
    struct webconfig z = {0};
    webconfig_close(&z);
    cr_assert_eq(parse("basic_auth_users:\n  a: " HASH_Y "\n"), 0, "%s", err);
    webconfig_close(&wc);
    cr_assert_null(wc.users);
    cr_assert_eq(wc.n_users, 0);
    webconfig_close(&wc);
}

/* ---- load ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void load_init(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_webconfig.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void load_fini(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    webconfig_close(&wc);
}

Test(webconfig_load, reads_the_file_and_joins_its_directory, .init = load_init, .fini = load_fini)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/web.yml", tmpdir);
    write_file(path, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                     "basic_auth_users:\n  alice: " HASH_Y "\n");
    cr_assert_eq(webconfig_load(path, &wc, err, sizeof(err)), 0, "%s", err);
    char want[160];
    snprintf(want, sizeof(want), "%s/server.crt", tmpdir);
    cr_assert_str_eq(wc.cert_file, want);
    cr_assert_eq(wc.n_users, 1);
}

Test(webconfig_load, missing_file_names_it, .init = load_init, .fini = load_fini)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/absent.yml", tmpdir);
    cr_assert_eq(webconfig_load(path, &wc, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, path) && strstr(err, "No such file"), "%s", err);
}

Test(webconfig_load, errors_name_the_file_and_line, .init = load_init, .fini = load_fini)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.yml", tmpdir);
    write_file(path, "# a comment\ntls_server_config:\n  cert_filse: x\n");
    cr_assert_eq(webconfig_load(path, &wc, err, sizeof(err)), -EINVAL);
    char want[160];
    snprintf(want, sizeof(want), "%s:3:3: unknown key \"cert_filse\"", path);
    cr_assert(strstr(err, want), "%s", err);
}

Test(webconfig_load, oversized_file_is_refused, .init = load_init, .fini = load_fini)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/big.yml", tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (long written = 0; written <= WEBCONFIG_MAX_BYTES; written += 16)
        fputs("# a comment ...\n", f); /* 16 bytes */
    fclose(f);
    cr_assert_eq(webconfig_load(path, &wc, err, sizeof(err)), -EFBIG);
    cr_assert(strstr(err, "larger than"), "%s", err);
}

Test(webconfig_load, a_directory_is_an_error, .init = load_init, .fini = load_fini)
{
    cr_assert_eq(webconfig_load(tmpdir, &wc, err, sizeof(err)), -EISDIR);
    cr_assert(strstr(err, tmpdir), "%s", err);
}
