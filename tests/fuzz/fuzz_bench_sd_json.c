/* fuzz_bench_sd_json.c - libFuzzer target: the http_sd JSON the bench reads from a proxy's
 * /clients (bench/sd_json.c), and what a client announces about itself on each poll, which
 * the proxy turns into that JSON (common/announce.c).
 *
 * Input: one byte choosing the mode (its low 2 bits), then the text.
 *   0, 3  the text is http_sd JSON, read with sd_json_read(). Checked: the result is 0,
 *         -EINVAL or -E2BIG, with err_msg and an err_offset within the text exactly on
 *         failure; each group's counts and strings are within the limits and each string
 *         is NUL-terminated where its length says, with no NUL inside; the group count is
 *         the number of callbacks and the target count their sum. Every group read is
 *         written back as JSON (announce_json_escape) and read again: the same groups.
 *   1     the text is an X-PushProx-Labels value: when announce_labels_to_json() accepts
 *         it, the JSON it writes is read by sd_json_read() as one group's labels, each name
 *         with the "__meta_pushprox_label_" prefix and a valid label name after it, and
 *         the labels written again with announce_add_label() read back the same; when it
 *         refuses, it says why.
 *   2     the text is an X-PushProx-Exporters value: when announce_exporters_normalize()
 *         accepts it, the normal form is a fixed point (normalising it again gives the
 *         same), and announce_exporters_next() walks it giving ports in 1..65535 and
 *         paths starting with '/'. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "buf.h"
#include "sd_json.h"

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Room for a text written back: every byte escaped as \u00XX at most. */
#define FUZZ_SD_OUT_MAX (8 * 1024 * 1024)
#define FUZZ_SD_PREFIX "__meta_pushprox_label_"

/* The reader is large (a group's storage): one, reused. */
static struct sd_json reader;

struct written {
    struct buf out;
    uint64_t groups, targets;
};

/* Whether two byte strings are equal (either may be NULL when empty). */
static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_str(const struct sd_json_group *g, struct sd_json_str s)
{
    FUZZ_CHECK((size_t)s.off + s.len < g->strs_len, "string at %u+%u past %zu", s.off, s.len,
               g->strs_len);
    FUZZ_CHECK(g->strs[s.off + s.len] == '\0', "string not terminated");
    FUZZ_CHECK(strlen(g->strs + s.off) == s.len, "NUL inside a string");
    FUZZ_CHECK(s.len <= SD_JSON_STR_MAX_BYTES, "string of %u bytes", s.len);
}

static int write_group(const struct sd_json_group *g, void *ctx)
{
    struct written *w = ctx;
    FUZZ_CHECK(g->n_targets <= SD_JSON_TARGETS_MAX && g->n_labels <= SD_JSON_LABELS_MAX,
               "%u targets, %u labels", g->n_targets, g->n_labels);
    FUZZ_CHECK(g->strs_len <= SD_JSON_GROUP_MAX_BYTES, "group of %zu bytes", g->strs_len);
    w->groups++;
    w->targets += g->n_targets;
    int rc = buf_append_str(&w->out, w->groups > 1 ? ",{\"targets\":[" : "{\"targets\":[");
    for (unsigned i = 0; rc == 0 && i < g->n_targets; i++) {
        check_str(g, g->targets[i]);
        rc = buf_append_str(&w->out, i ? ",\"" : "\"");
        rc = rc ? rc
                : announce_json_escape(&w->out, sd_json_str(g, g->targets[i]), g->targets[i].len);
        rc = rc ? rc : buf_append_str(&w->out, "\"");
    }
    rc = rc ? rc : buf_append_str(&w->out, "],\"labels\":{");
    for (unsigned i = 0; rc == 0 && i < g->n_labels; i++) {
        const struct sd_json_label *l = &g->labels[i];
        check_str(g, l->name);
        check_str(g, l->value);
        for (unsigned j = 0; j < i; j++)
            FUZZ_CHECK(g->labels[j].name.len != l->name.len ||
                           memcmp(sd_json_str(g, g->labels[j].name), sd_json_str(g, l->name),
                                  l->name.len) != 0,
                       "label %s twice", sd_json_str(g, l->name));
        rc = buf_append_str(&w->out, i ? ",\"" : "\"");
        rc = rc ? rc : announce_json_escape(&w->out, sd_json_str(g, l->name), l->name.len);
        rc = rc ? rc : buf_append_str(&w->out, "\":\"");
        rc = rc ? rc : announce_json_escape(&w->out, sd_json_str(g, l->value), l->value.len);
        rc = rc ? rc : buf_append_str(&w->out, "\"");
    }
    rc = rc ? rc : buf_append_str(&w->out, "}}");
    FUZZ_CHECK(rc == 0, "writing back: %d", rc);
    return 0;
}

/* Reads text, checks the reader's promises, writes what it read into w (as one array). */
static int read_and_write(const char *text, size_t len, struct written *w)
{
    memset(w, 0, sizeof(*w));
    buf_init(&w->out, FUZZ_SD_OUT_MAX);
    FUZZ_CHECK(buf_append_str(&w->out, "[") == 0, "buf");
    int rc = sd_json_read(&reader, text, len, write_group, w);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG, "rc %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(reader.err_msg != NULL && reader.err_offset <= len, "error %s at %zu of %zu",
                   reader.err_msg ? reader.err_msg : "(none)", reader.err_offset, len);
        return rc;
    }
    FUZZ_CHECK(reader.err_msg == NULL, "error %s after a success", reader.err_msg);
    FUZZ_CHECK(reader.n_groups == w->groups && reader.n_targets == w->targets,
               "counted %llu groups %llu targets, saw %llu %llu",
               (unsigned long long)reader.n_groups, (unsigned long long)reader.n_targets,
               (unsigned long long)w->groups, (unsigned long long)w->targets);
    FUZZ_CHECK(buf_append_str(&w->out, "]") == 0, "buf");
    return 0;
}

static void check_sd(const char *text, size_t len)
{
    struct written a, b;
    if (read_and_write(text, len, &a) == 0) {
        int rc = read_and_write(a.out.base, a.out.len, &b);
        FUZZ_CHECK(rc == 0, "written back, not read again: %s at %zu: %.*s",
                   reader.err_msg ? reader.err_msg : "", reader.err_offset, (int)a.out.len,
                   a.out.base);
        FUZZ_CHECK(same(a.out.base, a.out.len, b.out.base, b.out.len),
                   "read back differently:\n%.*s\n%.*s", (int)a.out.len, a.out.base, (int)b.out.len,
                   b.out.base);
        buf_close(&b.out);
    }
    buf_close(&a.out);
}

struct labels_seen {
    struct buf again; /* the labels written again with announce_add_label() */
    unsigned n;
    bool bad_add;
};

static int relabel(const struct sd_json_group *g, void *ctx)
{
    struct labels_seen *s = ctx;
    size_t plen = sizeof(FUZZ_SD_PREFIX) - 1;
    for (unsigned i = 0; i < g->n_labels; i++) {
        const char *name = sd_json_str(g, g->labels[i].name);
        FUZZ_CHECK(g->labels[i].name.len > plen && memcmp(name, FUZZ_SD_PREFIX, plen) == 0,
                   "label %s without the prefix", name);
        FUZZ_CHECK(announce_label_name_valid(name + plen, g->labels[i].name.len - plen),
                   "label name %s", name + plen);
        if (announce_add_label(&s->again, name + plen, g->labels[i].name.len - plen,
                               sd_json_str(g, g->labels[i].value), g->labels[i].value.len) != 0)
            s->bad_add = true;
        s->n++;
    }
    return 0;
}

static void read_labels_json(const struct buf *json, struct labels_seen *s)
{
    struct buf doc;
    buf_init(&doc, FUZZ_SD_OUT_MAX);
    FUZZ_CHECK(buf_append_str(&doc, "[{\"targets\":[\"n.test\"],\"labels\":{") == 0 &&
                   (json->len == 0 || buf_append(&doc, json->base, json->len) == 0) &&
                   buf_append_str(&doc, "}}]") == 0,
               "buf");
    int rc = sd_json_read(&reader, doc.base, doc.len, relabel, s);
    FUZZ_CHECK(rc == 0, "labels JSON refused: %s at %zu: %.*s",
               reader.err_msg ? reader.err_msg : "", reader.err_offset, (int)doc.len, doc.base);
    buf_close(&doc);
}

static void check_labels(const char *text, size_t len)
{
    struct buf json, json2;
    struct labels_seen s = {.n = 0};

    FUZZ_CHECK(announce_labels_to_json(text, len, FUZZ_SD_PREFIX, false, NULL) ==
                   announce_labels_to_json(text, len, FUZZ_SD_PREFIX, true, NULL),
               "check and lead disagree");
    buf_init(&json, FUZZ_SD_OUT_MAX);
    const char *bad = announce_labels_to_json(text, len, FUZZ_SD_PREFIX, false, &json);
    if (bad) {
        FUZZ_CHECK(bad[0] != '\0', "refused without a reason");
        FUZZ_CHECK(announce_labels_to_json(text, len, "", false, NULL) != NULL,
                   "refused only when writing: %s", bad);
        buf_close(&json);
        return;
    }
    buf_init(&s.again, ANNOUNCE_HEADER_MAX * 4);
    read_labels_json(&json, &s);
    if (reader.err_msg == NULL && !s.bad_add) {
        /* Written again as a header and read again: the same JSON. */
        buf_init(&json2, FUZZ_SD_OUT_MAX);
        bad = announce_labels_to_json(s.again.base ? s.again.base : "", s.again.len, FUZZ_SD_PREFIX,
                                      false, &json2);
        FUZZ_CHECK(bad == NULL, "labels written again are refused: %s: %.*s", bad, (int)s.again.len,
                   s.again.base);
        FUZZ_CHECK(same(json.base, json.len, json2.base, json2.len),
                   "labels read back differently:\n%.*s\n%.*s", (int)json.len, json.base,
                   (int)json2.len, json2.base);
        buf_close(&json2);
    }
    FUZZ_CHECK(!s.bad_add, "a label accepted from a header is refused by announce_add_label");
    buf_close(&s.again);
    buf_close(&json);
}

static void check_exporters(const char *text, size_t len)
{
    struct buf a, b;
    buf_init(&a, ANNOUNCE_HEADER_MAX * 2);
    buf_init(&b, ANNOUNCE_HEADER_MAX * 2);
    const char *bad = announce_exporters_normalize(text, len, &a);
    if (bad) {
        FUZZ_CHECK(bad[0] != '\0', "refused without a reason");
    } else {
        const char *s = a.base ? a.base : "";
        bad = announce_exporters_normalize(s, a.len, &b);
        FUZZ_CHECK(bad == NULL, "normal form refused: %s: %.*s", bad, (int)a.len, s);
        FUZZ_CHECK(same(s, a.len, b.base, b.len), "normal form not a fixed point: %.*s -> %.*s",
                   (int)a.len, s, (int)b.len, b.base);
        size_t pos = 0, path_len = 0;
        int port = 0;
        const char *path = NULL;
        unsigned n = 0;
        while (announce_exporters_next(s, a.len, &pos, &port, &path, &path_len)) {
            FUZZ_CHECK(++n <= ANNOUNCE_MAX_EXPORTERS, "%u exporters", n);
            FUZZ_CHECK(port >= 1 && port <= 65535, "port %d", port);
            FUZZ_CHECK(path_len == 0 || (path_len <= ANNOUNCE_PATH_MAX && path[0] == '/'),
                       "path %.*s", (int)path_len, path);
        }
    }
    buf_close(&a);
    buf_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* A copy of exactly the text, so ASan sees any read past it. */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    switch (data[0] & 3) {
    case 1: check_labels(text, len); break;
    case 2: check_exporters(text, len); break;
    default: check_sd(text, len); break;
    }
    free(text);
    return 0;
}
