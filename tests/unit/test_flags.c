/* test_flags.c - flag tables: defaults, every type, errors (exit 2 with a message naming
 * the flag and value), --help and --version, and the value parsers on their own. Calls
 * that exit run in a forked child whose stdout and stderr are captured. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flags.h"

#define TEST_FLAGS(FLAG)                                                                           \
    FLAG(STR, listen, "web.listen-address", ":8080",                                               \
         "Address to listen on for proxy and client requests.")                                    \
    FLAG(STR, empty_str, "tls.cert", "", "TLS certificate file.")                                  \
    FLAG(INT, workers, "proxy.workers", "2", "Number of worker threads.")                          \
    FLAG(BOOL, verbose, "log.verbose", "false", "Log more.")                                       \
    FLAG(BOOL, on, "feature.on", "true", "A feature that is on by default.")                       \
    FLAG(DUR, max_timeout, "scrape.max-timeout", "5m", "Longest scrape timeout allowed.")          \
    FLAG(SIZE, body_max, "scrape.body-max-bytes", "64MiB", "Largest scrape body.")                 \
    FLAG(LIST, labels, "label", "", "A label to add.")                                             \
    FLAG(LIST, hosts, "host", "a.example", "Hosts to serve.")

struct test_flags {
#define X(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
    TEST_FLAGS(X)
#undef X
};

static const struct flag_def defs[] = {
#define X(type, field, name, def, help)                                                            \
    FLAGS_TABLE_ROW(struct test_flags, type, field, name, def, help)
    TEST_FLAGS(X)
#undef X
};
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

static const struct flags_program prog = {
    .name = "pushprox-proxy",
    .summary = "A proxy that scrapes clients behind NAT.",
    .version = "pushprox-proxy 0.1.0 (commit abc)",
};

static int parse(struct test_flags *f, char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return flags_parse(defs, N_DEFS, f, &prog, argc, argv);
}

#define ARGV(...) ((char *[]){"pushprox-proxy", __VA_ARGS__ __VA_OPT__(, ) NULL})

/* LeakSanitizer, in ASan builds, cannot check a child forked from Criterion's threaded
 * runner (it warns about threads it cannot suspend, on the stderr under test); the
 * parent's tests cover leaks. Ignored in builds without LSan. */
static int in_child;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return in_child;
}

struct outcome {
    int status; /* exit status, or -1 if the child did not exit */
    char out[16384];
    char err[4096];
};

static void read_all(int fd, char *text, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, text + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
}

/* Runs flags_parse in a child; the child exits 99 if flags_parse returned. */
static void run(struct outcome *o, char **argv)
{
    int po[2], pe[2];
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        in_child = 1;
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        struct test_flags f;
        parse(&f, argv);
        fflush(NULL);
        _exit(99);
    }
    close(po[1]);
    close(pe[1]);
    /* Outputs are far smaller than a pipe's buffer, so reading one after the other
     * cannot deadlock. */
    read_all(po[0], o->out, sizeof(o->out));
    read_all(pe[0], o->err, sizeof(o->err));
    close(po[0]);
    close(pe[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_error(char **argv, const char *err)
{
    struct outcome o;
    run(&o, argv);
    cr_assert_eq(o.status, 2, "exit status %d for %s", o.status, argv[1]);
    cr_assert_str_eq(o.err, err);
    cr_assert_str_eq(o.out, "");
}

Test(flags, defaults_apply_without_arguments)
{
    struct test_flags f;
    memset(&f, 0xa5, sizeof(f));
    cr_assert_eq(parse(&f, ARGV()), 0);
    cr_assert_str_eq(f.listen, ":8080");
    cr_assert_str_eq(f.empty_str, "");
    cr_assert_eq(f.workers, 2);
    cr_assert_eq(f.verbose, false);
    cr_assert_eq(f.on, true);
    cr_assert_eq(f.max_timeout, 5 * 60 * 1000);
    cr_assert_eq(f.body_max, 64ULL << 20);
    cr_assert_eq(f.labels.len, 0);
    cr_assert_eq(f.hosts.len, 1);
    cr_assert_str_eq(f.hosts.items[0], "a.example");
}

Test(flags, every_type_parses_with_equals_and_separate_value)
{
    struct test_flags f;
    cr_assert_eq(parse(&f, ARGV("--web.listen-address=127.0.0.1:9", "--tls.cert", "c.pem",
                                "--proxy.workers=-3", "--log.verbose", "--no-feature.on",
                                "--scrape.max-timeout", "1h30m", "--scrape.body-max-bytes=1KB",
                                "--label", "a=b", "--label=c=d", "--host=x", "--host", "y")),
                 0);
    cr_assert_str_eq(f.listen, "127.0.0.1:9");
    cr_assert_str_eq(f.empty_str, "c.pem");
    cr_assert_eq(f.workers, -3);
    cr_assert_eq(f.verbose, true);
    cr_assert_eq(f.on, false);
    cr_assert_eq(f.max_timeout, 90 * 60 * 1000);
    cr_assert_eq(f.body_max, 1000);
    cr_assert_eq(f.labels.len, 2);
    cr_assert_str_eq(f.labels.items[0], "a=b");
    cr_assert_str_eq(f.labels.items[1], "c=d");
    cr_assert_eq(f.hosts.len, 2, "given values replace the list's default");
    cr_assert_str_eq(f.hosts.items[0], "x");
    cr_assert_str_eq(f.hosts.items[1], "y");
}

Test(flags, bool_forms)
{
    struct test_flags f;
    cr_assert_eq(parse(&f, ARGV("--log.verbose=true", "--feature.on=false")), 0);
    cr_assert(f.verbose);
    cr_assert_not(f.on);
    cr_assert_eq(parse(&f, ARGV("--log.verbose=1", "--feature.on=0")), 0);
    cr_assert(f.verbose);
    cr_assert_not(f.on);
    cr_assert_eq(parse(&f, ARGV("--log.verbose", "--no-log.verbose")), 0);
    cr_assert_not(f.verbose, "the last one wins");
    /* A bool does not take the next argument as its value. */
    expect_error(ARGV("--log.verbose", "false"),
                 "pushprox-proxy: unexpected argument \"false\" (flags start with --)\n");
}

Test(flags, later_value_wins_and_value_may_start_with_dashes)
{
    struct test_flags f;
    cr_assert_eq(parse(&f, ARGV("--proxy.workers=1", "--proxy.workers", "4", "--tls.cert", "--x")),
                 0);
    cr_assert_eq(f.workers, 4);
    cr_assert_str_eq(f.empty_str, "--x");
    cr_assert_eq(parse(&f, ARGV("--web.listen-address=")), 0);
    cr_assert_str_eq(f.listen, "", "an explicit empty value is a value");
}

Test(flags, bad_values_exit_2_naming_flag_and_value)
{
    expect_error(ARGV("--scrape.max-timeout=5x"),
                 "pushprox-proxy: --scrape.max-timeout: \"5x\": not a duration\n");
    expect_error(ARGV("--scrape.max-timeout", "-1s"),
                 "pushprox-proxy: --scrape.max-timeout: \"-1s\": not a duration\n");
    expect_error(ARGV("--proxy.workers=two"),
                 "pushprox-proxy: --proxy.workers: \"two\": not an integer\n");
    expect_error(ARGV("--proxy.workers=99999999999999999999"),
                 "pushprox-proxy: --proxy.workers: \"99999999999999999999\": not an integer\n");
    expect_error(ARGV("--proxy.workers="),
                 "pushprox-proxy: --proxy.workers: \"\": not an integer\n");
    expect_error(ARGV("--scrape.body-max-bytes=1XB"),
                 "pushprox-proxy: --scrape.body-max-bytes: \"1XB\": not a size\n");
    expect_error(ARGV("--log.verbose=yes"),
                 "pushprox-proxy: --log.verbose: \"yes\": not a boolean (true or false)\n");
}

Test(flags, unknown_missing_and_positional_exit_2)
{
    expect_error(ARGV("--foo"), "pushprox-proxy: unknown flag --foo (see --help)\n");
    expect_error(ARGV("--foo=1"), "pushprox-proxy: unknown flag --foo (see --help)\n");
    expect_error(ARGV("-x"), "pushprox-proxy: unknown flag -x (see --help)\n");
    expect_error(ARGV("--no-proxy.workers"),
                 "pushprox-proxy: unknown flag --no-proxy.workers (see --help)\n");
    expect_error(ARGV("--no-log.verbose=true"),
                 "pushprox-proxy: --no-log.verbose takes no value\n");
    expect_error(ARGV("--scrape.max-timeout"),
                 "pushprox-proxy: --scrape.max-timeout needs a value\n");
    expect_error(ARGV("extra"),
                 "pushprox-proxy: unexpected argument \"extra\" (flags start with --)\n");
    expect_error(ARGV("--", "extra"), "pushprox-proxy: unexpected argument \"extra\"\n");
}

Test(flags, exit_code_is_2_on_bad_input, .exit_code = 2)
{
    struct test_flags f;
    fclose(stderr); /* keep Criterion's output clean */
    parse(&f, ARGV("--proxy.workers=x"));
}

Test(flags, version_prints_version_and_exits_0)
{
    struct outcome o;
    run(&o, ARGV("--version"));
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.out, "pushprox-proxy 0.1.0 (commit abc)\n");
    cr_assert_str_eq(o.err, "");
}

Test(flags, help_lists_every_flag_with_default)
{
    const char *want[] = {
        "usage: pushprox-proxy [<flags>]\n\nA proxy that scrapes clients behind NAT.\n\nFlags:\n",
        ("\n  -h, --[no-]help            Show context-sensitive help (also try --help-long and "
         "--help-man).\n"),
        "\n      --help-long            Show the long help",
        "\n      --help-man             Write a man page",
        ("\n      --web.listen-address=\":8080\"\n                             Address to listen "
         "on "
         "for proxy and client requests.\n"),
        "\n      --tls.cert=TLS.CERT\n                             TLS certificate file.\n",
        "\n      --proxy.workers=2\n                             Number of worker threads.\n",
        "\n      --[no-]log.verbose\n                             Log more.\n",
        "\n      --[no-]feature.on\n",
        "\n      --scrape.max-timeout=5m\n                             Longest scrape timeout",
        "\n      --scrape.body-max-bytes=64MiB\n",
        "\n      --label=LABEL\n                             A label to add. (repeatable)\n",
        "\n      --host=\"a.example\"\n                             Hosts to serve. (repeatable)\n",
        "\n      --[no-]version         Show application version.\n",
    };
    char *argvs[2][3] = {{"pushprox-proxy", "--help", NULL}, {"pushprox-proxy", "-h", NULL}};
    for (int k = 0; k < 2; k++) {
        struct outcome o;
        run(&o, argvs[k]);
        cr_assert_eq(o.status, 0);
        cr_assert_str_eq(o.err, "");
        cr_assert_eq(strncmp(o.out, want[0], strlen(want[0])), 0, "%s", o.out);
        for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++)
            cr_assert_not_null(strstr(o.out, want[i]), "missing %s in:\n%s", want[i], o.out);
    }
}

Test(flags, help_wins_even_after_other_flags)
{
    struct outcome o;
    run(&o, ARGV("--proxy.workers=3", "--help"));
    cr_assert_eq(o.status, 0);
    cr_assert_not_null(strstr(o.out, "Flags:"));
}

Test(flags, bad_default_in_table_is_reported)
{
    static const struct flag_def bad[] = {{FLAG_DUR, "x.timeout", "soon", "Broken.", 0}};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        in_child = 1;
        uint64_t v;
        freopen("/dev/null", "w", stderr);
        flags_parse(bad, 1, &v, &prog, 1, ARGV());
        _exit(99);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

static int parse_args(struct test_flags *f, char **argv, enum flags_request *req, char *err)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return flags_parse_args(defs, N_DEFS, f, argc, argv, req, err, FLAGS_ERR_MAX);
}

Test(flags, parse_args_returns_the_error_instead_of_exiting)
{
    struct test_flags f;
    enum flags_request req;
    char err[FLAGS_ERR_MAX];
    cr_assert_eq(parse_args(&f, ARGV("--scrape.max-timeout=5x"), &req, err), -EINVAL);
    cr_assert_str_eq(err, "--scrape.max-timeout: \"5x\": not a duration");
    cr_assert_eq(parse_args(&f, ARGV("--nope"), &req, err), -EINVAL);
    cr_assert_str_eq(err, "unknown flag --nope (see --help)");
    cr_assert_eq(parse_args(&f, ARGV("--proxy.workers"), &req, err), -EINVAL);
    cr_assert_str_eq(err, "--proxy.workers needs a value");
    cr_assert_eq(parse_args(&f, ARGV("x"), &req, err), -EINVAL);
    cr_assert_str_eq(err, "unexpected argument \"x\" (flags start with --)");
    static const struct flag_def bad_def[] = {{FLAG_DUR, "x.timeout", "soon", "Broken.", 0}};
    uint64_t v;
    cr_assert_eq(flags_parse_args(bad_def, 1, &v, 1, ARGV(), &req, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "--x.timeout: default \"soon\": not a duration");
    flags_free_lists();
}

Test(flags, parse_args_reports_help_and_version_requests)
{
    struct test_flags f;
    enum flags_request req;
    char err[FLAGS_ERR_MAX];
    cr_assert_eq(parse_args(&f, ARGV("--proxy.workers=3"), &req, err), 0);
    cr_assert_eq(req, FLAGS_RUN);
    cr_assert_eq(f.workers, 3);
    cr_assert_eq(parse_args(&f, ARGV("--proxy.workers=3", "-h"), &req, err), 0);
    cr_assert_eq(req, FLAGS_HELP);
    cr_assert_eq(parse_args(&f, ARGV("--version", "--nope"), &req, err), 0);
    cr_assert_eq(req, FLAGS_VERSION, "the first request wins, as flags_parse exits there");
    cr_assert_eq(parse_args(&f, ARGV("--proxy.workers=3", "--help-long", "-h"), &req, err), 0);
    cr_assert_eq(req, FLAGS_HELP_LONG);
    cr_assert_eq(parse_args(&f, ARGV("--help-man", "--nope"), &req, err), 0);
    cr_assert_eq(req, FLAGS_HELP_MAN);
    cr_assert_eq(parse_args(&f, ARGV("--help-man=x"), &req, err), -EINVAL,
                 "the meta flags take no value");
    flags_free_lists();
}

Test(flags, parse_args_error_message_is_cut_to_the_buffer)
{
    struct test_flags f;
    enum flags_request req;
    char err[16];
    char arg[2048] = "--";
    memset(arg + 2, 'x', sizeof(arg) - 3);
    arg[sizeof(arg) - 1] = '\0';
    char *argv[] = {"p", arg, NULL};
    cr_assert_eq(flags_parse_args(defs, N_DEFS, &f, 2, argv, &req, err, sizeof(err)), -EINVAL);
    cr_assert_eq(strlen(err), sizeof(err) - 1);
    cr_assert_eq(strncmp(err, "unknown flag --", 15), 0);
}

Test(flags, lists_are_freed_on_request)
{
    struct test_flags f;
    enum flags_request req;
    char err[FLAGS_ERR_MAX];
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(parse_args(&f, ARGV("--label=a", "--label", "b"), &req, err), 0);
        cr_assert_eq(f.labels.len, 2);
        cr_assert_str_eq(f.labels.items[1], "b");
        cr_assert_eq(f.hosts.len, 1);
        flags_free_lists(); /* under ASan, a list used after this would be reported */
    }
}

struct dur_case {
    const char *s;
    uint64_t ms;
};

Test(flags, duration_parser_accepts_prometheus_units)
{
    const struct dur_case ok[] = {
        {"0", 0},
        {"0s", 0},
        {"15s", 15000},
        {"500ms", 500},
        {"1m30s", 90000},
        {"2h", 7200000},
        {"1h30m", 5400000},
        {"1d", 86400000},
        {"1w", 604800000},
        {"1y", 31536000000ULL},
        {"1h1m1s1ms", 3661001},
        {"1.5s", 1500},
        {"0.25m", 15000},
        {"5m", 300000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        cr_assert_eq(flags_parse_duration(ok[i].s, &ms), 0, "%s", ok[i].s);
        cr_assert_eq(ms, ok[i].ms, "%s: %llu", ok[i].s, (unsigned long long)ms);
    }
}

Test(flags, duration_parser_rejects_garbage)
{
    const char *bad[] = {"",
                         "5",
                         "5x",
                         "-1s",
                         "s",
                         "1 s",
                         " 1s",
                         "1s ",
                         "1S",
                         "+1s",
                         "1h-30m",
                         "1.2.3s",
                         ".s",
                         "ms",
                         "18446744073709551616ms",
                         "584942418y",
                         "99999999999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 7;
        cr_assert_eq(flags_parse_duration(bad[i], &ms), -EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(ms, 7, "output untouched on error");
    }
}

struct size_case {
    const char *s;
    uint64_t bytes;
};

Test(flags, size_parser_accepts_units)
{
    const struct size_case ok[] = {
        {"0", 0},
        {"4096", 4096},
        {"10B", 10},
        {"64KiB", 64ULL << 10},
        {"64MiB", 64ULL << 20},
        {"1GiB", 1ULL << 30},
        {"2TiB", 2ULL << 40},
        {"1KB", 1000},
        {"3MB", 3000000},
        {"1GB", 1000000000},
        {"1TB", 1000000000000ULL},
        {"1k", 1024},
        {"1K", 1024},
        {"2M", 2ULL << 20},
        {"1G", 1ULL << 30},
        {"1.5KiB", 1536},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ULL << 40},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t b = 12345;
        cr_assert_eq(flags_parse_size(ok[i].s, &b), 0, "%s", ok[i].s);
        cr_assert_eq(b, ok[i].bytes, "%s: %llu", ok[i].s, (unsigned long long)b);
    }
}

Test(flags, size_parser_rejects_garbage_and_overflow)
{
    const char *bad[] = {"",
                         "KiB",
                         "1XB",
                         "-1",
                         "1 KiB",
                         " 1",
                         "1KiB ",
                         "1kib2",
                         "0x10",
                         "1e3",
                         "1.2.3",
                         "18446744073709551616",
                         "16777216TiB",
                         "17179869184GiB"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t b = 7;
        cr_assert_eq(flags_parse_size(bad[i], &b), -EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(b, 7);
    }
}

Test(flags, bool_parser)
{
    bool b = false;
    cr_assert_eq(flags_parse_bool("true", &b), 0);
    cr_assert(b);
    cr_assert_eq(flags_parse_bool("0", &b), 0);
    cr_assert_not(b);
    cr_assert_eq(flags_parse_bool("1", &b), 0);
    cr_assert(b);
    cr_assert_eq(flags_parse_bool("false", &b), 0);
    cr_assert_not(b);
    cr_assert_eq(flags_parse_bool("yes", &b), -EINVAL);
    cr_assert_eq(flags_parse_bool("", &b), -EINVAL);
}

struct hp_case {
    const char *s;
    const char *host;
    int port;
};

Test(flags, split_hostport_accepts_common_forms)
{
    const struct hp_case ok[] = {
        {":8080", "0.0.0.0", 8080},
        {"127.0.0.1:9", "127.0.0.1", 9},
        {"[::1]:80", "::1", 80},
        {"localhost:80", "localhost", 80},
        {"0.0.0.0:65535", "0.0.0.0", 65535},
        {"127.0.0.1:0", "127.0.0.1", 0},
        {"[fe80::1%lo]:443", "fe80::1%lo", 443},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char host[64];
        int port = -1;
        cr_assert_eq(flags_split_hostport(ok[i].s, host, sizeof(host), &port), 0, "%s", ok[i].s);
        cr_assert_str_eq(host, ok[i].host);
        cr_assert_eq(port, ok[i].port);
    }
}

Test(flags, split_hostport_rejects_bad_input)
{
    const char *bad[] = {"",       "8080",      "localhost", "localhost:", ":",
                         ":65536", ":99999999", ":-1",       ":80x",       "::1:80",
                         "[::1]",  "[::1]80",   "[::1:80",   "host:80:90", ": 80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "untouched";
        int port = -1;
        cr_assert_eq(flags_split_hostport(bad[i], host, sizeof(host), &port), -EINVAL,
                     "accepted \"%s\"", bad[i]);
        cr_assert_eq(port, -1);
    }
    char small[4];
    int port;
    cr_assert_eq(flags_split_hostport("localhost:80", small, sizeof(small), &port), -EINVAL,
                 "a host longer than the caller's buffer is refused");
    cr_assert_eq(flags_split_hostport("abc:80", small, sizeof(small), &port), 0);
    cr_assert_str_eq(small, "abc");
}

/* --help-long and --help-man: a table with the texts roff could misread, and a program
 * with every part of the man page. */
#define DOC_FLAGS(FLAG)                                                                            \
    FLAG(STR, path, "store.path", "C:\\dir\\\"q\"",                                                \
         "Where to keep data, e.g. C:\\dir\\file (backslashes kept).")                             \
    FLAG(STR, dotted, "log.prefix", "", ".starts with a dot\n'and an apostrophe line")             \
    FLAG(BOOL, on, "feature.on", "true", "A feature -- on by default. Café \xff.")                 \
    FLAG(BOOL, off, "feature.off", "", "A feature, off.")                                          \
    FLAG(DUR, wait, "retry.wait", "1m30s", "Wait ~2^n `seconds`.")                                 \
    FLAG(LIST, labels, "label", "", "A label to add.")

struct doc_flags {
#define X(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
    DOC_FLAGS(X)
#undef X
};

static const struct flag_def doc_defs[] = {
#define X(type, field, name, def, help)                                                            \
    FLAGS_TABLE_ROW(struct doc_flags, type, field, name, def, help)
    DOC_FLAGS(X)
#undef X
};
#define N_DOC_DEFS (sizeof(doc_defs) / sizeof(doc_defs[0]))

static const struct flags_doc_item doc_env[] = {
    {"HTTPS_PROXY", "The proxy for https URLs.\n\n.A second paragraph."},
    {"NO_PROXY", "Hosts reached directly."},
    {NULL, NULL},
};
static const struct flags_doc_section doc_sections[] = {
    {"Environment", "Read at start.", doc_env},
    {"Signals", NULL, (const struct flags_doc_item[]){{"SIGHUP", "Reloads."}, {NULL, NULL}}},
    {NULL, NULL, NULL},
};
static const struct flags_program doc_prog = {
    .name = "pushprox-proxy",
    .summary = "Routes scrapes to clients behind NAT.",
    .version = "pushprox-proxy version 9.8.7 (commit abc)",
    .source = "pushprox-c 9.8.7",
    .description = "The first paragraph of the description, which is long enough to be wrapped "
                   "by --help-long at eighty columns, word by word.\n\n"
                   ".The second paragraph starts with a dot.",
    .sections = doc_sections,
    .see_also = (const char *const[]){"pushprox-client(1)", "prometheus(1)", NULL},
};

/* Output of a writer, NUL-terminated; free() it. */
static char *capture(bool man, const struct flags_program *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    int rc = man ? flags_write_man(f, doc_defs, N_DOC_DEFS, p)
                 : flags_write_usage(f, doc_defs, N_DOC_DEFS, p, true);
    cr_assert_eq(rc, 0);
    cr_assert_eq(fclose(f), 0);
    return text;
}

static void assert_has(const char *text, const char *want)
{
    cr_assert_not_null(strstr(text, want), "missing:\n%s\nin:\n%s", want, text);
}

Test(flags, man_page_has_every_section_and_flag_with_its_default)
{
    char *man = capture(true, &doc_prog);
    const char *want[] = {
        ".TH \"PUSHPROX\\-PROXY\" 1 \"\" \"pushprox\\-c 9.8.7\" \"User Commands\"\n",
        "\n.SH NAME\npushprox\\-proxy \\- Routes scrapes to clients behind NAT\n.SH SYNOPSIS\n",
        "\n.SH DESCRIPTION\nThe first paragraph",
        "\n.SH OPTIONS\n.TP\n\\fB\\-h, \\-\\-[no\\-]help\\fR\nShow context\\-sensitive help",
        "\n.TP\n\\fB\\-\\-help\\-long\\fR\n",
        "\n.TP\n\\fB\\-\\-help\\-man\\fR\n",
        /* every flag with its default as --help shows it, the value in italics */
        "\n.TP\n\\fB\\-\\-store.path\\fR=\\fI\"C:\\e\\edir\\e\\e\\e\"q\\e\"\"\\fR\n",
        "\n.TP\n\\fB\\-\\-log.prefix\\fR=\\fILOG.PREFIX\\fR\n",
        "\n.TP\n\\fB\\-\\-[no\\-]feature.on\\fR\n",
        "\nDefault: true.\n",
        "\n.TP\n\\fB\\-\\-[no\\-]feature.off\\fR\nA feature, off.\nDefault: false.\n",
        "\n.TP\n\\fB\\-\\-retry.wait\\fR=\\fI1m30s\\fR\n",
        "\n.TP\n\\fB\\-\\-label\\fR=\\fILABEL\\fR\nA label to add.\nMay be given several times",
        "\n.TP\n\\fB\\-\\-[no\\-]version\\fR\nShow application version.\n",
        "\n.SH \"ENVIRONMENT\"\nRead at start.\n.TP\n\\fBHTTPS_PROXY\\fR\n",
        "\n.TP\n\\fBNO_PROXY\\fR\nHosts reached directly.\n",
        "\n.SH \"SIGNALS\"\n.TP\n\\fBSIGHUP\\fR\nReloads.\n",
        "\n.SH \"SEE ALSO\"\n.BR \"pushprox\\-client\" \"(1),\"\n.BR \"prometheus\" \"(1)\"\n",
        "\n.SH VERSION\nThis page describes pushprox\\-proxy version 9.8.7 (commit abc).\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_has(man, want[i]);
    free(man);
}

Test(flags, man_page_escapes_what_roff_would_misread)
{
    char *man = capture(true, &doc_prog);
    /* backslashes print as themselves, hyphens as ASCII minus signs */
    assert_has(man, "e.g. C:\\edir\\efile (backslashes kept).\n");
    assert_has(man, "A feature \\-\\- on by default.");
    /* a line that would start with a request is plain text */
    assert_has(man, "\n\\&.starts with a dot\n\\(aqand an apostrophe line\n");
    assert_has(man, "\n.PP\n\\&.The second paragraph starts with a dot.\n");
    assert_has(man, "The proxy for https URLs.\n.IP\n\\&.A second paragraph.\n");
    /* beyond ASCII: a character by its code point, a bad byte as U+FFFD */
    assert_has(man, "Caf\\[u00E9] \\[uFFFD].");
    /* characters roff prints as typographic marks */
    assert_has(man, "Wait \\(ti2\\(han \\(gaseconds\\(ga.");

    /* Every line starting with '.' or an apostrophe is a request this writer makes, and
     * none is empty (a blank line in roff is vertical space). */
    const char *requests[] = {".\\\" ", ".TH ",  ".nh\n", ".ad l\n", ".SH ",
                              ".TP\n",  ".PP\n", ".IP\n", ".BR "};
    int lines = 0;
    for (const char *line = man; *line; lines++) {
        const char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "the page ends with a newline");
        cr_assert_neq(nl, line, "empty line %d", lines + 1);
        if (line[0] == '.' || line[0] == '\'') {
            bool known = false;
            for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
                known = known || strncmp(line, requests[i], strlen(requests[i])) == 0;
            cr_assert(known, "line %d is an unexpected request: %.*s", lines + 1, (int)(nl - line),
                      line);
        }
        line = nl + 1;
    }
    cr_assert_gt(lines, 40);
    free(man);
}

Test(flags, man_page_keeps_utf8_whole_in_defaults_names_and_arguments)
{
    static const struct flag_def utf8_defs[] = {
        {FLAG_STR, "site.name", "Z\xc3\xbcrich \"\xe2\x82\xac\"", "Where.", 0},
        {FLAG_STR, "caf\xc3\xa9", "", "A name beyond ASCII.", 0},
    };
    const struct flags_program p = {
        .name = "tool",
        .source = "\xc3\x9c"
                  "ber \"1\"",
        .sections = (const struct flags_doc_section[]){{"\xc3\x9c"
                                                        "ber",
                                                        NULL, NULL},
                                                       {NULL, NULL, NULL}},
        .see_also = (const char *const[]){"na\xc3\xafve(7\")", NULL},
    };
    char *man = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&man, &len);
    cr_assert_not_null(f);
    cr_assert_eq(flags_write_man(f, utf8_defs, 2, &p), 0);
    cr_assert_eq(fclose(f), 0);
    assert_has(man, "\\fB\\-\\-site.name\\fR=\\fI\"Z\\[u00FC]rich \\e\"\\[u20AC]\\e\"\"\\fR\n");
    assert_has(man, "\\fB\\-\\-caf\\[u00E9]\\fR=\\fICAF\\[u00E9]\\fR\n");
    assert_has(man, " 1 \"\" \"\\[u00DC]ber \\(dq1\\(dq\" \"User Commands\"\n");
    assert_has(man, "\n.SH \"\\[u00DC]BER\"\n");
    assert_has(man, "\n.BR \"na\\[u00EF]ve\" \"(7\\(dq)\"\n");
    cr_assert_null(strstr(man, "FFFD"), "a character was split:\n%s", man);
    free(man);
}

Test(flags, man_page_of_a_bare_program)
{
    const struct flags_program bare = {.name = "tool"};
    char *man = capture(true, &bare);
    assert_has(man, ".TH \"TOOL\" 1 \"\" \"tool\" \"User Commands\"\n");
    assert_has(man, "\n.SH NAME\ntool\n.SH SYNOPSIS\n\\fBtool\\fR [\\fIflags\\fR]\n");
    assert_has(man, "\n.SH DESCRIPTION\ntool\n.SH OPTIONS\n");
    cr_assert_null(strstr(man, "SEE ALSO"));
    cr_assert_null(strstr(man, "VERSION"));
    free(man);
}

Test(flags, help_long_is_help_with_description_and_sections)
{
    char *text = capture(false, &doc_prog);
    const char *want[] = {
        "usage: pushprox-proxy [<flags>]\n\nRoutes scrapes to clients behind NAT.\n\n"
        "The first paragraph of the description, which is long enough to be wrapped by\n"
        "--help-long at eighty columns, word by word.\n\n"
        ".The second paragraph starts with a dot.\n\nFlags:\n",
        "\n      --store.path=\"C:\\\\dir\\\\\\\"q\\\"\"\n",
        "\n      --[no-]feature.on\n",
        "\n      --retry.wait=1m30s\n",
        "\n      --label=LABEL\n                             A label to add. (repeatable)\n",
        "\n      --[no-]version         Show application version.\n\nEnvironment:\n"
        "  Read at start.\n\n  HTTPS_PROXY\n      The proxy for https URLs.\n\n"
        "      .A second paragraph.\n  NO_PROXY\n      Hosts reached directly.\n\n"
        "Signals:\n  SIGHUP\n      Reloads.\n\nSee also: pushprox-client(1), prometheus(1)\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_has(text, want[i]);
    free(text);
}

Test(flags, help_long_and_help_man_exit_0)
{
    struct outcome o;
    run(&o, ARGV("--help-long"));
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.err, "");
    cr_assert_not_null(strstr(o.out, "\n      --[no-]feature.on\n"));
    run(&o, ARGV("--proxy.workers=3", "--help-man"));
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.err, "");
    cr_assert_eq(strncmp(o.out, ".\\\" ", 4), 0, "%s", o.out);
    cr_assert_not_null(strstr(o.out, "\n.TP\n\\fB\\-\\-scrape.max\\-timeout\\fR=\\fI5m\\fR\n"));
}
