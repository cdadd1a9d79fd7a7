/* test_bench_sd_json.c - the http_sd JSON reader: the proxy's /clients, labels, escapes,
 * malformed input (refused with a place and a reason) and every limit at and past its edge. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/sd_json.h"

static struct sd_json *r;

static void setup(void)
{
    r = malloc(sizeof(*r));
    cr_assert_not_null(r);
}

static void teardown(void)
{
    free(r);
}

static int read_str(const char *text)
{
    return sd_json_read(r, text, strlen(text), NULL, NULL);
}

/* What the callback saw: every target and label as "t:<target>" / "l:<name>=<value>",
 * groups separated by "|". */
struct seen {
    char text[4096];
    size_t len;
    int calls;
    int stop_at; /* return -ECANCELED on this call (1-based); 0 = never */
};

static int on_group(const struct sd_json_group *g, void *ctx)
{
    struct seen *s = ctx;
    s->calls++;
    if (s->calls > 1)
        s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "|");
    for (unsigned i = 0; i < g->n_targets; i++)
        s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "t:%s ",
                                   sd_json_str(g, g->targets[i]));
    for (unsigned i = 0; i < g->n_labels; i++)
        s->len +=
            (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "l:%s=%s ",
                             sd_json_str(g, g->labels[i].name), sd_json_str(g, g->labels[i].value));
    return s->calls == s->stop_at ? -ECANCELED : 0;
}

TestSuite(bench_sd_json, .init = setup, .fini = teardown);

Test(bench_sd_json, reads_the_proxys_clients_listing)
{
    const char *text = "[{\"targets\":[\"c0.bench\"],\"labels\":{}},"
                       "{\"targets\":[\"c1.bench\"],\"labels\":{}}]";
    struct seen s = {0};
    cr_assert_eq(sd_json_read(r, text, strlen(text), on_group, &s), 0);
    cr_assert_eq(r->n_groups, 2);
    cr_assert_eq(r->n_targets, 2);
    cr_assert_eq(s.calls, 2);
    cr_assert_str_eq(s.text, "t:c0.bench |t:c1.bench ");
    cr_assert_null(r->err_msg);
}

Test(bench_sd_json, empty_listing_is_no_groups)
{
    cr_assert_eq(read_str("[]"), 0);
    cr_assert_eq(r->n_groups, 0);
    cr_assert_eq(read_str(" \n[ \t]\r\n"), 0);
    cr_assert_eq(r->n_groups, 0);
    cr_assert_eq(read_str("[{}]"), 0);
    cr_assert_eq(r->n_groups, 1);
    cr_assert_eq(r->n_targets, 0);
}

Test(bench_sd_json, labels_and_several_targets_in_any_order)
{
    const char *text = "[ { \"labels\" : { \"job\" : \"node\", \"env\":\"prod\" } ,\n"
                       "    \"targets\" : [ \"a:9100\" , \"b:9100\" ] } ]";
    struct seen s = {0};
    cr_assert_eq(sd_json_read(r, text, strlen(text), on_group, &s), 0);
    cr_assert_eq(r->n_groups, 1);
    cr_assert_eq(r->n_targets, 2);
    cr_assert_str_eq(s.text, "t:a:9100 t:b:9100 l:job=node l:env=prod ");
}

Test(bench_sd_json, escapes_are_decoded)
{
    /* \" \\ \/ \n, a 2-byte, a 3-byte and a surrogate pair (4-byte) code point. */
    const char *text = "[{\"targets\":[\"a\\\"b\\\\c\\/d\\te\\u00e9\\u20AC\\ud83d\\ude00\"],"
                       "\"l\\u0061bels\":{\"k\\n\":\"v\"}}]";
    cr_assert_eq(read_str(text), 0);
    const struct sd_json_group *g = &r->group;
    cr_assert_eq(g->n_targets, 1);
    cr_assert_str_eq(sd_json_str(g, g->targets[0]),
                     "a\"b\\c/d\te\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    cr_assert_eq(g->targets[0].len, strlen(sd_json_str(g, g->targets[0])));
    cr_assert_eq(g->n_labels, 1);
    cr_assert_str_eq(sd_json_str(g, g->labels[0].name), "k\n");
}

Test(bench_sd_json, text_need_not_end_in_a_nul)
{
    const char text[] = "[]garbage";
    cr_assert_eq(sd_json_read(r, text, 2, NULL, NULL), 0);
    cr_assert_eq(sd_json_read(r, text, sizeof(text) - 1, NULL, NULL), -EINVAL);
    cr_assert_eq(r->err_offset, 2);
}

Test(bench_sd_json, malformed_input_is_refused_with_a_reason)
{
    static const char *const bad[] = {
        "",
        "null",
        "{}",
        "[",
        "[{]",
        "[{}",
        "[{},]",
        "[,]",
        "[\"c1.bench\"]",
        "[null]",
        "[{\"targets\":\"c1\"}]",
        "[{\"targets\":[1]}]",
        "[{\"targets\":null}]",
        "[{\"targets\":[\"a\",]}]",
        "[{\"targets\":[\"a\" \"b\"]}]",
        "[{\"labels\":[]}]",
        "[{\"labels\":{\"a\":1}}]",
        "[{\"labels\":{\"a\":null}}]",
        "[{\"labels\":{\"a\" \"1\"}}]",
        "[{\"labels\":{\"a\":\"1\",}}]",
        "[{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}]",
        "[{\"other\":[]}]",
        "[{\"targetsandmorethansixteen\":[]}]",
        "[{\"targets\":[],\"targets\":[]}]",
        "[{\"targets\" []}]",
        "[{\"targets\":[]} {}]",
        "[]]",
        "[] x",
        "[{\"targets\":[\"abc",
        "[{\"targets\":[\"abc\\",
        "[{\"targets\":[\"a\nb\"]}]",
        "[{\"targets\":[\"\\x\"]}]",
        "[{\"targets\":[\"\\u12\"]}]",
        "[{\"targets\":[\"\\u12g4\"]}]",
        "[{\"targets\":[\"\\u0000\"]}]",
        "[{\"targets\":[\"\\ud800\"]}]",
        "[{\"targets\":[\"\\ud800\\u0041\"]}]",
        "[{\"targets\":[\"\\udc00\"]}]",
        "[{\"targets\":[\"a\"]}]\0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]) + (i == sizeof(bad) / sizeof(bad[0]) - 1 ? 1 : 0);
        struct seen s = {0};
        int rc = sd_json_read(r, bad[i], len, on_group, &s);
        cr_assert_eq(rc, -EINVAL, "case %zu (%s): %d", i, bad[i], rc);
        cr_assert_not_null(r->err_msg, "case %zu", i);
        cr_assert_leq(r->err_offset, len, "case %zu", i);
    }
}

Test(bench_sd_json, error_names_the_place)
{
    cr_assert_eq(read_str("[{\"targets\":[\"a\"]},{\"tags\":[]}]"), -EINVAL);
    cr_assert_eq(r->err_offset, 20); /* the key "tags" */
    cr_assert_str_eq(r->err_msg, "unknown key in a group");
    cr_assert_eq(r->n_groups, 1);

    cr_assert_eq(read_str("[{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}]"), -EINVAL);
    cr_assert_eq(r->err_offset, 20);
    cr_assert_str_eq(r->err_msg, "label name twice in one group");

    cr_assert_eq(read_str("[{\"targets\":[\"a\\qb\"]}]"), -EINVAL);
    cr_assert_eq(r->err_offset, 16); /* the q */
}

Test(bench_sd_json, callback_stops_the_reading)
{
    const char *text = "[{\"targets\":[\"a\"]},{\"targets\":[\"b\"]},{\"targets\":[\"c\"]}]";
    struct seen s = {.stop_at = 2};
    cr_assert_eq(sd_json_read(r, text, strlen(text), on_group, &s), -ECANCELED);
    cr_assert_eq(s.calls, 2);
    cr_assert_str_eq(s.text, "t:a |t:b ");
}

/* A listing of one group with n targets of `bytes` bytes each (malloc'd). */
static char *group_of_targets(unsigned n, size_t bytes)
{
    size_t cap = 64 + (size_t)n * (bytes + 3);
    char *t = malloc(cap), *p = t;
    p += sprintf(p, "[{\"targets\":[");
    for (unsigned i = 0; i < n; i++) {
        *p++ = '"';
        memset(p, 'a' + (char)(i % 26), bytes);
        p += bytes;
        *p++ = '"';
        if (i + 1 < n)
            *p++ = ',';
    }
    strcpy(p, "]}]");
    return t;
}

Test(bench_sd_json, string_limit)
{
    char *ok = group_of_targets(1, SD_JSON_STR_MAX_BYTES);
    char *big = group_of_targets(1, SD_JSON_STR_MAX_BYTES + 1);
    cr_assert_eq(read_str(ok), 0);
    cr_assert_eq(r->group.targets[0].len, SD_JSON_STR_MAX_BYTES);
    cr_assert_eq(read_str(big), -E2BIG);
    cr_assert_not_null(r->err_msg);
    free(ok);
    free(big);
}

Test(bench_sd_json, targets_limit)
{
    char *ok = group_of_targets(SD_JSON_TARGETS_MAX, 1);
    char *big = group_of_targets(SD_JSON_TARGETS_MAX + 1, 1);
    cr_assert_eq(read_str(ok), 0);
    cr_assert_eq(r->n_targets, SD_JSON_TARGETS_MAX);
    cr_assert_eq(read_str(big), -E2BIG);
    free(ok);
    free(big);
}

Test(bench_sd_json, group_bytes_limit_is_per_group)
{
    /* 15 strings of 4,096 bytes (61,455 with NULs) fit a group; 16 (65,552) do not. */
    unsigned fit = SD_JSON_GROUP_MAX_BYTES / (SD_JSON_STR_MAX_BYTES + 1);
    char *big = group_of_targets(fit + 1, SD_JSON_STR_MAX_BYTES);
    cr_assert_eq(read_str(big), -E2BIG);
    cr_assert_str_eq(r->err_msg, "group's strings longer than SD_JSON_GROUP_MAX_BYTES");
    free(big);

    /* Two full groups in one listing: each starts with empty storage. */
    char *one = group_of_targets(fit, SD_JSON_STR_MAX_BYTES);
    size_t len = strlen(one);
    char *two = malloc(2 * len + 2);
    memcpy(two, one, len - 1); /* without the closing ] */
    two[len - 1] = ',';
    memcpy(two + len, one + 1, len - 1); /* without the opening [ */
    cr_assert_eq(sd_json_read(r, two, 2 * len - 1, NULL, NULL), 0);
    cr_assert_eq(r->n_groups, 2);
    cr_assert_eq(r->n_targets, 2 * fit);
    free(one);
    free(two);
}

Test(bench_sd_json, labels_limit)
{
    char text[SD_JSON_LABELS_MAX * 16 + 64];
    for (unsigned n = SD_JSON_LABELS_MAX; n <= SD_JSON_LABELS_MAX + 1; n++) {
        char *p = text + sprintf(text, "[{\"labels\":{");
        for (unsigned i = 0; i < n; i++)
            p += sprintf(p, "%s\"l%u\":\"v\"", i ? "," : "", i);
        strcpy(p, "}}]");
        int rc = read_str(text);
        cr_assert_eq(rc, n == SD_JSON_LABELS_MAX ? 0 : -E2BIG, "%u labels: %d", n, rc);
    }
    cr_assert_str_eq(r->err_msg, "more labels in a group than SD_JSON_LABELS_MAX");
}
