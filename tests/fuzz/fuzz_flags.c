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
 * input (flags_free_lists), so a list used after that is an ASan report. */
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
    free(copy);
    return 0;
}
