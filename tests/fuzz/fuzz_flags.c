/* fuzz_flags.c - libFuzzer target: common/flags.c, what the operator types. The input is
 * split at NUL bytes into strings; each is read as a duration, a size, a boolean and a
 * host:port, then all of them together are the argv of flags_parse_args() against the
 * client's real flag table (client/flags.def) plus one flag of every type.
 *
 * Checked: each parser returns 0 or -EINVAL, gives the same answer twice, and leaves its
 * output alone on -EINVAL; a size or duration written back in its smallest unit reads back
 * the same; a split host is NUL-terminated within its buffer with a port in 0..65535;
 * flags_parse_args() returns 0 or -EINVAL, with a non-empty NUL-terminated message within
 * FLAGS_ERR_MAX on -EINVAL, and lists no longer than argc. Lists are freed after each
 * input (flags_free_lists), so a list used after that is an ASan report.
 *
 * The same strings are then the names, defaults and help texts of a small table and the
 * description and an extra section of a program, written as --help-long and as a man page
 * (--help-man). Checked on the page: it is printable ASCII, lines end with a newline and
 * none is empty, a line starting with '.' or an apostrophe is one of the requests the
 * writer makes with its arguments' quotes paired, and every backslash starts one of the
 * escapes it writes. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"

/* Most strings taken from one input: argv stays small, as a command line is. */
#define FUZZ_FLAGS_MAX_ARGS 64
/* Room for a host from flags_split_hostport(); as the client's metrics listener has. */
#define FUZZ_FLAGS_HOST_MAX 256

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_FLAGS(FLAG)                                                                           \
    FLAG(STR, s, "fuzz.str", "x", "A string.")                                                     \
    FLAG(INT, i, "fuzz.int", "-3", "An integer.")                                                  \
    FLAG(BOOL, b, "fuzz.bool", "true", "A boolean.")                                               \
    FLAG(DUR, d, "fuzz.dur", "1m30s", "A duration.")                                               \
    FLAG(SIZE, z, "fuzz.size", "64KiB", "A size.")                                                 \
    FLAG(LIST, l, "fuzz.list", "a", "A list.")

struct fuzz_flags {
#define FLAG(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
#include "../../client/flags.def"
    FUZZ_FLAGS(FLAG)
#undef FLAG
};

static const struct flag_def fuzz_flag_defs[] = {
#define FLAG(type, field, name, def, help)                                                         \
    FLAGS_TABLE_ROW(struct fuzz_flags, type, field, name, def, help)
#include "../../client/flags.def"
    FUZZ_FLAGS(FLAG)
#undef FLAG
};

static void check_value_parsers(const char *s)
{
    uint64_t v = 7, v2 = 7;
    int rc = flags_parse_duration(s, &v);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "duration rc %d", rc);
    FUZZ_CHECK(flags_parse_duration(s, &v2) == rc && v == v2, "duration not deterministic");
    if (rc != 0) {
        FUZZ_CHECK(v == 7, "failed duration wrote %" PRIu64, v);
    } else {
        char text[32];
        snprintf(text, sizeof(text), "%" PRIu64 "ms", v);
        FUZZ_CHECK(flags_parse_duration(text, &v2) == 0 && v2 == v, "%s reads back as %" PRIu64,
                   text, v2);
    }

    v = v2 = 7;
    rc = flags_parse_size(s, &v);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "size rc %d", rc);
    FUZZ_CHECK(flags_parse_size(s, &v2) == rc && v == v2, "size not deterministic");
    if (rc != 0) {
        FUZZ_CHECK(v == 7, "failed size wrote %" PRIu64, v);
    } else {
        char text[32];
        snprintf(text, sizeof(text), "%" PRIu64, v);
        FUZZ_CHECK(flags_parse_size(text, &v2) == 0 && v2 == v, "%s reads back as %" PRIu64, text,
                   v2);
    }

    bool b = true;
    rc = flags_parse_bool(s, &b);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "bool rc %d", rc);
    if (rc == 0)
        FUZZ_CHECK(b == (strcmp(s, "true") == 0 || strcmp(s, "1") == 0), "bool %s is %d", s, b);

    char host[FUZZ_FLAGS_HOST_MAX];
    int port = -1;
    memset(host, 'X', sizeof(host));
    rc = flags_split_hostport(s, host, sizeof(host), &port);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "hostport rc %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(memchr(host, '\0', sizeof(host)) != NULL, "host not terminated");
        FUZZ_CHECK(port >= 0 && port <= 65535, "port %d", port);
    }
}

/* Whether the man page line (without its newline) is text roff reads as we mean it. */
static bool man_line_ok(const char *line, size_t len)
{
    static const char *const requests[] = {".TH ", ".nh", ".ad l", ".SH ",
                                           ".TP",  ".PP", ".IP",   ".BR "};
    static const char *const escapes[] = {"\\e",   "\\-",   "\\&",  "\\(aq", "\\(ga", "\\(ha",
                                          "\\(ti", "\\(dq", "\\fB", "\\fI",  "\\fR",  "\\[u"};
    if (len == 0)
        return false;
    if (line[0] == '.' || line[0] == '\'') {
        bool known = false;
        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
            size_t n = strlen(requests[i]);
            known = known || (len >= n && memcmp(line, requests[i], n) == 0 &&
                              (requests[i][n - 1] == ' ' || len == n));
        }
        if (!known)
            return false;
        /* Arguments are quoted: an odd '"' would split or join them. */
        size_t quotes = 0;
        for (size_t i = 0; i < len; i++)
            quotes += line[i] == '"';
        if (quotes % 2 != 0)
            return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c > 0x7e)
            return false;
        if (c != '\\')
            continue;
        bool known = false;
        for (size_t k = 0; k < sizeof(escapes) / sizeof(escapes[0]) && !known; k++) {
            size_t n = strlen(escapes[k]);
            known = len - i >= n && memcmp(line + i, escapes[k], n) == 0;
        }
        if (!known)
            return false;
    }
    return true;
}

/* --help-long and --help-man with the input's strings as table and program texts. */
static void check_docs(char **argv, int argc)
{
    const char *s[6];
    for (int i = 0; i < 6; i++)
        s[i] = i + 1 < argc ? argv[i + 1] : "";
    const struct flag_def defs[] = {
        {FLAG_STR, s[0], s[1], s[2], 0},
        {FLAG_LIST, s[1], s[0], s[3], 0},
        {FLAG_BOOL, s[2], s[1], s[0], 0},
    };
    const struct flags_doc_item items[] = {{s[4], s[5]}, {NULL, NULL}};
    const struct flags_doc_section sections[] = {{s[3], s[4], items}, {NULL, NULL, NULL}};
    const char *see_also[] = {s[5], s[0], NULL};
    const struct flags_program prog = {
        .name = "pushprox-client",
        .summary = s[0],
        .version = s[1],
        .source = s[2],
        .description = s[3],
        .sections = s[3][0] ? sections : NULL,
        .see_also = see_also,
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return;
    FUZZ_CHECK(flags_write_usage(f, defs, 3, &prog, true) == 0, "--help-long failed");
    fclose(f);
    free(text);

    text = NULL;
    f = open_memstream(&text, &len);
    if (f == NULL)
        return;
    FUZZ_CHECK(flags_write_man(f, defs, 3, &prog) == 0, "--help-man failed");
    fclose(f);
    FUZZ_CHECK(len > 0 && text[len - 1] == '\n', "page without final newline");
    FUZZ_CHECK(strlen(text) == len, "NUL in the page");
    /* The first line is our comment; the rest is checked line by line. */
    const char *line = strchr(text, '\n') + 1;
    while (line < text + len) {
        const char *nl = strchr(line, '\n');
        FUZZ_CHECK(man_line_ok(line, (size_t)(nl - line)), "bad man line: %.*s", (int)(nl - line),
                   line);
        line = nl + 1;
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *argv[FUZZ_FLAGS_MAX_ARGS + 2];
    int argc = 0;
    struct fuzz_flags f;
    enum flags_request req;
    char err[FLAGS_ERR_MAX];
    size_t n_defs = sizeof(fuzz_flag_defs) / sizeof(fuzz_flag_defs[0]);

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    argv[argc++] = "pushprox-client";
    for (char *p = copy; p <= copy + size && argc <= FUZZ_FLAGS_MAX_ARGS;) {
        size_t len = strlen(p);
        check_value_parsers(p);
        argv[argc++] = p;
        p += len + 1;
    }
    argv[argc] = NULL;

    memset(err, 'X', sizeof(err));
    int rc = flags_parse_args(fuzz_flag_defs, n_defs, &f, argc, argv, &req, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "flags_parse_args rc %d", rc);
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "message not terminated");
    if (rc == -EINVAL) {
        FUZZ_CHECK(err[0] != '\0', "-EINVAL without a message");
    } else if (req == FLAGS_RUN) {
        FUZZ_CHECK(f.l.len >= 1 && f.l.len <= (size_t)argc, "list of %zu items", f.l.len);
        for (size_t i = 0; i < f.l.len; i++)
            FUZZ_CHECK(f.l.items[i] != NULL, "list item %zu is NULL", i);
        FUZZ_CHECK(f.fqdn.len <= (size_t)argc && f.scrape_allow.len <= (size_t)argc,
                   "client lists too long");
        FUZZ_CHECK(f.s != NULL && f.proxy_url != NULL, "string flag NULL");
    }
    flags_free_lists();
    check_docs(argv, argc);
    free(copy);
    return 0;
}
