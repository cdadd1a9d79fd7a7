/* test_announce.c - a client's labels and exporters: written by the client, read by the
 * proxy, every refusal. */
#include <criterion/criterion.h>
#include <string.h>

#include "announce.h"

static struct buf out, json;

static void setup(void)
{
    buf_init(&out, 1 << 20);
    buf_init(&json, 1 << 20);
}

static void teardown(void)
{
    buf_close(&out);
    buf_close(&json);
}

TestSuite(announce, .init = setup, .fini = teardown);

static const char *str(const struct buf *b)
{
    static char text[65536];
    memcpy(text, b->base ? b->base : "", b->len);
    text[b->len] = '\0';
    return text;
}

Test(announce, labels_round_trip_with_awkward_values)
{
    cr_assert_eq(announce_add_label(&out, "rack", 4, "r12", 3), 0);
    cr_assert_eq(announce_add_label(&out, "note", 4, "a,b=c %d \"q\"", 12), 0);
    cr_assert_eq(announce_add_label(&out, "city", 4, "Zürich", 7), 0);
    cr_assert_str_eq(str(&out), "rack=r12,note=a%2Cb%3Dc%20%25d%20%22q%22,city=Z%C3%BCrich");
    cr_assert_null(
        announce_labels_to_json(out.base, out.len, "__meta_pushprox_label_", false, &json));
    cr_assert_str_eq(str(&json), "\"__meta_pushprox_label_rack\":\"r12\","
                                 "\"__meta_pushprox_label_note\":\"a,b=c %d \\\"q\\\"\","
                                 "\"__meta_pushprox_label_city\":\"Zürich\"");
}

Test(announce, label_names_follow_prometheus)
{
    cr_assert(announce_label_name_valid("rack", 4));
    cr_assert(announce_label_name_valid("_x9", 3));
    cr_assert_not(announce_label_name_valid("9x", 2));
    cr_assert_not(announce_label_name_valid("a-b", 3));
    cr_assert_not(announce_label_name_valid("__meta", 6), "reserved prefix");
    cr_assert_not(announce_label_name_valid("", 0));
    cr_assert_eq(announce_add_label(&out, "a-b", 3, "v", 1), -EINVAL);
    cr_assert_eq(announce_add_label(&out, "ok", 2, "\x01", 1), -EINVAL, "control character");
    cr_assert_eq(announce_add_label(&out, "ok", 2, "\xc3", 1), -EINVAL, "cut UTF-8");
    cr_assert_eq(announce_add_label(&out, "ok", 2, "\xed\xa0\x80", 3), -EINVAL, "surrogate");
}

Test(announce, bad_labels_headers_are_refused_with_a_reason)
{
    static const char *const bad[] = {
        "rack",        /* no = */
        "9rack=x",     /* bad name */
        "__meta_x=y",  /* reserved */
        "a=%zz",       /* bad escape */
        "a=%",         /* cut escape */
        "a=%ff",       /* not UTF-8 */
        "a=%00",       /* NUL */
        "a=1,b=2,a=3", /* a name twice: a JSON key twice in /clients (found by fuzzing) */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&json);
        cr_assert_not_null(announce_labels_to_json(bad[i], strlen(bad[i]), "p_", false, &json),
                           "%s", bad[i]);
    }
    char many[4096] = "";
    for (int i = 0; i < ANNOUNCE_MAX_LABELS + 1; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sl%d=v", i ? "," : "", i);
    cr_assert_not_null(
        strstr(announce_labels_to_json(many, strlen(many), "p_", false, &json), "32"));
    buf_reset(&json);
    cr_assert_null(announce_labels_to_json(" a=1 , ,b=2", 11, "p_", false, &json),
                   "spaces and empties");
    cr_assert_str_eq(str(&json), "\"p_a\":\"1\",\"p_b\":\"2\"");
    buf_reset(&json);
    cr_assert_null(announce_labels_to_json("a=1", 3, "p_", true, &json));
    cr_assert_str_eq(str(&json), ",\"p_a\":\"1\"", "lead adds the comma");
    cr_assert_null(announce_labels_to_json("a=1", 3, "p_", true, NULL), "check only");
}

Test(announce, exporters_normalise_and_iterate)
{
    const char *in = "9100, 9187/metrics,8080/app/metrics";
    cr_assert_null(announce_exporters_normalize(in, strlen(in), &out));
    cr_assert_str_eq(str(&out), "9100,9187/metrics,8080/app/metrics");
    size_t pos = 0, plen;
    int port;
    const char *path;
    cr_assert(announce_exporters_next(out.base, out.len, &pos, &port, &path, &plen));
    cr_assert_eq(port, 9100);
    cr_assert_eq(plen, 0);
    cr_assert(announce_exporters_next(out.base, out.len, &pos, &port, &path, &plen));
    cr_assert_eq(port, 9187);
    cr_assert_eq(plen, 8);
    cr_assert_eq(memcmp(path, "/metrics", 8), 0);
    cr_assert(announce_exporters_next(out.base, out.len, &pos, &port, &path, &plen));
    cr_assert_eq(port, 8080);
    cr_assert_not(announce_exporters_next(out.base, out.len, &pos, &port, &path, &plen));
}

Test(announce, bad_exporters_are_refused)
{
    static const char *const bad[] = {"0",           "65536",    "abc",      "/metrics",
                                      "9100metrics", "9100/a b", "9100/a?b", "123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&out);
        cr_assert_not_null(announce_exporters_normalize(bad[i], strlen(bad[i]), &out), "%s",
                           bad[i]);
    }
    cr_assert_eq(announce_add_exporter(&out, 70000, NULL, 0), -EINVAL);
    cr_assert_eq(announce_add_exporter(&out, 80, "metrics", 7), -EINVAL);
}
