/* test_client_target.c - scrape URL parsing, upstream's checks and --scrape.allow. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../client/target.h"

static struct target t;
static const char *why;

static int parse(const char *url)
{
    why = NULL;
    return target_parse(url, strlen(url), &t, &why);
}

Test(target, absolute_url_is_split_into_host_port_and_path)
{
    cr_assert_eq(parse("http://node1.example.com:9100/metrics?x=1"), 0);
    cr_assert(!t.https);
    cr_assert_str_eq(t.host, "node1.example.com");
    cr_assert_eq(t.port, 9100);
    cr_assert_str_eq(t.path, "/metrics?x=1");
    cr_assert_eq(t.path_len, strlen("/metrics"));
}

Test(target, missing_port_and_path_get_defaults)
{
    cr_assert_eq(parse("http://host"), 0);
    cr_assert_eq(t.port, 80);
    cr_assert_str_eq(t.path, "/");
}

Test(target, scheme_https_param_switches_to_https_and_is_removed)
{
    cr_assert_eq(parse("http://h:9100/metrics?a=1&_scheme=https&b=2"), 0);
    cr_assert(t.https);
    cr_assert_eq(t.port, 9100);
    cr_assert_str_eq(t.path, "/metrics?a=1&b=2");
    cr_assert_eq(parse("http://h/metrics?_scheme=https"), 0);
    cr_assert(t.https);
    cr_assert_eq(t.port, 443);
    cr_assert_str_eq(t.path, "/metrics");
}

Test(target, other_scheme_param_is_left_alone)
{
    cr_assert_eq(parse("http://h:1/m?_scheme=http&x=y"), 0);
    cr_assert(!t.https);
    cr_assert_str_eq(t.path, "/m?_scheme=http&x=y");
}

Test(target, ipv6_literal_loses_its_brackets)
{
    cr_assert_eq(parse("http://[::1]:9100/metrics"), 0);
    cr_assert_str_eq(t.host, "::1");
    cr_assert_eq(t.port, 9100);
    char out[128];
    cr_assert_eq(target_format(&t, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "http://[::1]:9100/metrics");
}

Test(target, brackets_inside_a_host_are_refused)
{
    /* "[[a]" would give the host "[a", which target_format writes back as a URL that does
     * not parse: what is logged and pushed back must be the target that was scraped. */
    cr_assert_eq(parse("http://[[a]:1/"), -EINVAL);
    cr_assert_not_null(why);
    cr_assert_eq(parse("http://a[b:1/"), -EINVAL);
    cr_assert_eq(parse("http://[a]b]:1/"), -EINVAL);
    cr_assert_eq(parse("http://[::1]/"), 0, "an IPv6 literal still parses");
}

Test(target, bad_urls_are_refused_with_a_reason)
{
    const char *bad[] = {"/metrics",      "ftp://h/x",         "http://:9100/", "http://h:99999/",
                         "http://h:12a/", "http://user:pw@h/", "http://[::1/",  "http://h x/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i]), -EINVAL, "%s was accepted", bad[i]);
        cr_assert_not_null(why);
    }
}

Test(target, host_must_match_fqdn_ignoring_case)
{
    cr_assert_eq(parse("http://Node1.Example.com:9100/metrics"), 0);
    cr_assert(target_host_matches(&t, "node1.example.com"));
    cr_assert(!target_host_matches(&t, "node2.example.com"));
    cr_assert(!target_host_matches(&t, "node1.example.com.evil"));
}

Test(allowlist, empty_list_allows_everything)
{
    struct target_allowlist al = {0};
    cr_assert_eq(parse("http://h:1234/anything"), 0);
    cr_assert(target_allowed(&al, &t));
}

Test(allowlist, port_entry_allows_every_path_on_that_port_only)
{
    struct target_allowlist al = {0};
    cr_assert_eq(target_allowlist_add(&al, "9100"), 0);
    cr_assert_eq(parse("http://h:9100/whatever?x"), 0);
    cr_assert(target_allowed(&al, &t));
    cr_assert_eq(parse("http://h:9101/metrics"), 0);
    cr_assert(!target_allowed(&al, &t));
}

Test(allowlist, path_prefix_matches_at_segment_boundary)
{
    struct target_allowlist al = {0};
    cr_assert_eq(target_allowlist_add(&al, "8080/metrics"), 0);
    cr_assert_eq(parse("http://h:8080/metrics"), 0);
    cr_assert(target_allowed(&al, &t));
    cr_assert_eq(parse("http://h:8080/metrics/sub?x=1"), 0);
    cr_assert(target_allowed(&al, &t));
    cr_assert_eq(parse("http://h:8080/metricsx"), 0);
    cr_assert(!target_allowed(&al, &t));
    cr_assert_eq(parse("http://h:8080/admin"), 0);
    cr_assert(!target_allowed(&al, &t));
}

Test(allowlist, dot_segments_and_encoded_slashes_cannot_escape_a_prefix)
{
    struct target_allowlist al = {0};
    cr_assert_eq(target_allowlist_add(&al, "8080/metrics"), 0);
    const char *tricky[] = {"http://h:8080/metrics/../admin", "http://h:8080/metrics/%2e%2e/admin",
                            "http://h:8080/metrics%2f..%2fadmin", "http://h:8080/metrics/./x",
                            "http://h:8080/metrics\\..\\admin"};
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        cr_assert_eq(parse(tricky[i]), 0, "%s", tricky[i]);
        cr_assert(!target_allowed(&al, &t), "%s was allowed", tricky[i]);
    }
}

Test(allowlist, bad_specs_are_refused)
{
    struct target_allowlist al = {0};
    const char *bad[] = {"", "abc", "0", "70000", "/metrics", "91 00", "9100/a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(target_allowlist_add(&al, bad[i]), -EINVAL, "[%s] accepted", bad[i]);
    cr_assert_eq(al.n, 0);
}

Test(allowlist, list_has_a_limit)
{
    struct target_allowlist al = {0};
    for (int i = 0; i < TARGET_ALLOW_MAX; i++)
        cr_assert_eq(target_allowlist_add(&al, "9100"), 0);
    cr_assert_eq(target_allowlist_add(&al, "9100"), -E2BIG);
}
