/* test_log.c - log lines in logfmt and JSON: layout, quoting, escaping, cutting long
 * lines, level filtering, one write per line. Lines are caught on a SOCK_SEQPACKET
 * socket, where each write(2) arrives as one record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"

static int sv[2] = {-1, -1};

static void setup(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
    int sz = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT, sv[1]);
}

static void teardown(void)
{
    log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, 2);
    close(sv[0]);
    close(sv[1]);
}

/* Returns the next record (one write) as a string, or "" if none is waiting. */
static const char *next_line(void)
{
    static char text[LOG_LINE_MAX * 2];
    ssize_t n = recv(sv[0], text, sizeof(text) - 1, 0);
    if (n < 0)
        n = 0;
    text[n] = '\0';
    return text;
}

/* The line without its "ts=..." (logfmt) or "\"ts\":\"...\"," (JSON) prefix, after
 * checking the timestamp's shape. */
static const char *after_ts(const char *line)
{
    regex_t re;
    const char *pat =
        "^(ts=|\\{\"ts\":\")([0-9]{4})-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
        "\\.[0-9]{3}Z\"?[ ,]";
    cr_assert_eq(regcomp(&re, pat, REG_EXTENDED), 0);
    regmatch_t m[3];
    cr_assert_eq(regexec(&re, line, 3, m, 0), 0, "bad timestamp in: %s", line);
    regfree(&re);
    int year = atoi(line + m[2].rm_so);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    cr_assert(year == tm.tm_year + 1900 || year == tm.tm_year + 1899, "year %d", year);
    return line + m[0].rm_eo;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, logfmt_line_has_documented_layout)
{
    log_warn("scrape", "exporter timed out", LOG_STR("fqdn", "host1"), LOG_INT("after_ms", 5000));
    const char *line = next_line();
    cr_assert_str_eq(after_ts(line),
                     "level=warn module=scrape msg=\"exporter timed out\" fqdn=host1 "
                     "after_ms=5000\n");
    cr_assert_str_eq(next_line(), "", "exactly one write per line");
}

Test(log, json_line_has_documented_layout)
{
    log_setup(LOG_DEBUG, LOG_FORMAT_JSON, sv[1]);
    log_warn("scrape", "exporter timed out", LOG_STR("fqdn", "host1"), LOG_INT("after_ms", 5000),
             LOG_UINT("big", 18446744073709551615ULL), LOG_DBL("ratio", 0.25), LOG_INT("neg", -3));
    const char *line = next_line();
    cr_assert_str_eq(after_ts(line),
                     "\"level\":\"warn\",\"module\":\"scrape\",\"msg\":\"exporter timed out\","
                     "\"fqdn\":\"host1\",\"after_ms\":5000,\"big\":18446744073709551615,"
                     "\"ratio\":0.25,\"neg\":-3}\n");
}

Test(log, message_without_fields)
{
    log_info("main", "started");
    cr_assert_str_eq(after_ts(next_line()), "level=info module=main msg=started\n");
}

Test(log, logfmt_quotes_values_that_need_it)
{
    log_info("m", "x", LOG_STR("empty", ""), LOG_STR("space", "a b"), LOG_STR("eq", "a=b"),
             LOG_STR("quote", "say \"hi\""), LOG_STR("nl", "a\nb\tc"), LOG_STR("ctl", "a\x01z"),
             LOG_STR("bs", "a\\b"), LOG_STR("bsq", "a \\b"), LOG_STR("utf8", "h\xc3\xa9llo"),
             LOG_STR("bad", "a\xff"), LOG_STR("del", "a\x7f"), LOG_STR("null", NULL));
    cr_assert_str_eq(after_ts(next_line()),
                     "level=info module=m msg=x empty=\"\" space=\"a b\" eq=\"a=b\" "
                     "quote=\"say \\\"hi\\\"\" nl=\"a\\nb\\tc\" ctl=\"a\\x01z\" bs=a\\b "
                     "bsq=\"a \\\\b\" utf8=h\xc3\xa9llo bad=\"a\\xff\" del=\"a\\x7f\" "
                     "null=null\n");
}

Test(log, json_escapes_strings)
{
    log_setup(LOG_DEBUG, LOG_FORMAT_JSON, sv[1]);
    log_info("m", "a \"q\"", LOG_STR("v", "b\\s\n\t\x01\x1f"), LOG_STR("u", "h\xc3\xa9"),
             LOG_STR("bad", "\xc3"), LOG_STR("empty", ""), LOG_DBL("nan", NAN),
             LOG_DBL("inf", INFINITY));
    cr_assert_str_eq(after_ts(next_line()),
                     "\"level\":\"info\",\"module\":\"m\",\"msg\":\"a \\\"q\\\"\","
                     "\"v\":\"b\\\\s\\n\\t\\u0001\\u001f\",\"u\":\"h\xc3\xa9\","
                     "\"bad\":\"\\u00c3\",\"empty\":\"\",\"nan\":\"NaN\",\"inf\":\"+Inf\"}\n");
}

Test(log, strn_uses_only_n_bytes)
{
    const char raw[] = {'a', 'b', 'c', 'd'};
    log_info("m", "x", LOG_STRN("v", raw, 3), LOG_STRN("e", raw, 0));
    cr_assert_str_eq(after_ts(next_line()), "level=info module=m msg=x v=abc e=\"\"\n");
}

Test(log, doubles_use_shortest_exact_form)
{
    log_info("m", "x", LOG_DBL("a", 0.1), LOG_DBL("b", 1.0 / 3), LOG_DBL("c", 1e21),
             LOG_DBL("d", -INFINITY));
    cr_assert_str_eq(after_ts(next_line()),
                     "level=info module=m msg=x a=0.1 b=0.3333333333333333 c=1e+21 d=-Inf\n");
}

Test(log, level_filter_drops_lower_levels)
{
    log_setup(LOG_WARN, LOG_FORMAT_LOGFMT, sv[1]);
    cr_assert_not(log_enabled(LOG_DEBUG));
    cr_assert_not(log_enabled(LOG_INFO));
    cr_assert(log_enabled(LOG_WARN));
    cr_assert(log_enabled(LOG_ERROR));
    log_info("m", "dropped");
    log_debug("m", "dropped");
    log_emit(LOG_INFO, "m", "dropped too", NULL);
    cr_assert_str_eq(next_line(), "");
    log_error("m", "kept");
    cr_assert_str_eq(after_ts(next_line()), "level=error module=m msg=kept\n");
    log_emit(LOG_WARN, NULL, "no module", NULL);
    cr_assert_str_eq(after_ts(next_line()), "level=warn msg=\"no module\"\n");
}

/* No fixture: Criterion runs each test in a fresh process, so these are the defaults. */
Test(log_defaults, info_level_logfmt_on_stderr)
{
    cr_assert_not(log_enabled(LOG_DEBUG));
    cr_assert(log_enabled(LOG_INFO));
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
    int saved = dup(2);
    cr_assert_eq(dup2(sv[1], 2), 2);
    log_debug("m", "hidden");
    log_info("m", "shown");
    dup2(saved, 2);
    close(saved);
    cr_assert_str_eq(after_ts(next_line()), "level=info module=m msg=shown\n");
    cr_assert_str_eq(next_line(), "");
    close(sv[0]);
    close(sv[1]);
}

Test(log, long_value_is_cut_with_ellipsis)
{
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    big[5000] = ' ';
    log_info("m", "long", LOG_STR("v", big), LOG_INT("after", 1));
    const char *line = next_line();
    size_t n = strlen(line);
    cr_assert_leq(n, LOG_LINE_MAX);
    cr_assert_geq(n, LOG_LINE_MAX - 16, "the line is filled, not dropped: %zu", n);
    cr_assert_str_eq(line + n - 5, "...\"\n");
    cr_assert_null(strstr(line, "after="), "fields after a cut are dropped");
}

Test(log, long_json_value_is_cut_and_still_json)
{
    log_setup(LOG_DEBUG, LOG_FORMAT_JSON, sv[1]);
    static char big[10000];
    memset(big, '"', sizeof(big) - 1); /* every byte needs two bytes escaped */
    log_info("m", "long", LOG_STR("v", big));
    const char *line = next_line();
    size_t n = strlen(line);
    cr_assert_leq(n, LOG_LINE_MAX);
    cr_assert_str_eq(line + n - 6, "...\"}\n");
    cr_assert_neq(line[n - 7], '\\', "a cut never splits an escape: %s", line + n - 12);
}

Test(log, long_unquoted_value_is_cut)
{
    static char big[10000];
    memset(big, 'y', sizeof(big) - 1);
    log_info("m", "long", LOG_STR("v", big));
    const char *line = next_line();
    size_t n = strlen(line);
    cr_assert_leq(n, LOG_LINE_MAX);
    cr_assert_str_eq(line + n - 5, "y...\n");
}

Test(log, parses_level_and_format)
{
    enum log_level l;
    enum log_format f;
    cr_assert_eq(log_level_parse("debug", &l), 0);
    cr_assert_eq(l, LOG_DEBUG);
    cr_assert_eq(log_level_parse("info", &l), 0);
    cr_assert_eq(l, LOG_INFO);
    cr_assert_eq(log_level_parse("warn", &l), 0);
    cr_assert_eq(l, LOG_WARN);
    cr_assert_eq(log_level_parse("error", &l), 0);
    cr_assert_eq(l, LOG_ERROR);
    cr_assert_eq(log_level_parse("verbose", &l), -EINVAL);
    cr_assert_eq(log_level_parse("", &l), -EINVAL);
    cr_assert_eq(log_format_parse("logfmt", &f), 0);
    cr_assert_eq(f, LOG_FORMAT_LOGFMT);
    cr_assert_eq(log_format_parse("json", &f), 0);
    cr_assert_eq(f, LOG_FORMAT_JSON);
    cr_assert_eq(log_format_parse("xml", &f), -EINVAL);
}

Test(log, strerror_names_uv_and_errno_codes)
{
    cr_assert_str_eq(log_strerror(UV_ECONNREFUSED), "connection refused");
    cr_assert_str_eq(log_strerror(-ENOENT), uv_strerror(UV_ENOENT));
    cr_assert_str_eq(log_strerror(UV_EOF), "end of file");
    cr_assert_str_eq(log_strerror(-E2BIG), "argument list too long");
    const char *s = log_strerror(-ENOMEDIUM); /* not in libuv's table */
    cr_assert_not_null(s);
    cr_assert_gt(strlen(s), 0);
    cr_assert_not_null(log_strerror(-99999));
    log_info("m", "x", LOG_ERR(UV_ETIMEDOUT));
    cr_assert_str_eq(after_ts(next_line()),
                     "level=info module=m msg=x err=\"connection timed out\"\n");
}

#define THREADS 4
#define LINES 200

static void *log_many(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES; i++)
        log_debug("thread", "hello from a thread", LOG_INT("id", id), LOG_INT("i", i));
    return NULL;
}

Test(log, threads_never_interleave_lines)
{
    /* The writers block when the socket is full, so read while they write. */
    cr_assert_eq(fcntl(sv[1], F_SETFL, 0), 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, log_many, (void *)i), 0);
    int seen[THREADS] = {0};
    for (int k = 0; k < THREADS * LINES; k++) {
        struct pollfd pfd = {.fd = sv[0], .events = POLLIN};
        cr_assert_eq(poll(&pfd, 1, 10000), 1, "line %d never came", k);
        const char *rest = after_ts(next_line());
        long id;
        int i, used = 0;
        cr_assert_eq(sscanf(rest,
                            "level=debug module=thread msg=\"hello from a thread\" id=%ld "
                            "i=%d\n%n",
                            &id, &i, &used),
                     2, "line %d: %s", k, rest);
        cr_assert_eq((size_t)used, strlen(rest));
        cr_assert_eq(i, seen[id], "per-thread order kept");
        seen[id]++;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_str_eq(next_line(), "");
}

/* A message repeated in a loop is written LOG_LIMIT_BURST times per window; the next line
 * of it written after the window says how many were dropped. Other messages are not held
 * back by it. */
Test(log, repeated_message_is_rate_limited_with_a_count)
{
    int n = 0;
    for (int i = 0; i < 100; i++)
        log_warn("conn", "bad request", LOG_INT("i", i));
    log_warn("conn", "another message");
    for (const char *l = next_line(); *l; l = next_line()) {
        if (strstr(l, "msg=\"bad request\""))
            n++;
        else
            cr_assert(strstr(l, "msg=\"another message\""), "unexpected line: %s", l);
    }
    cr_assert_eq(n, LOG_LIMIT_BURST);
    struct timespec pause = {.tv_sec = LOG_LIMIT_WINDOW_MS / 1000 + 1};
    nanosleep(&pause, NULL);
    log_warn("conn", "bad request", LOG_INT("i", 100));
    const char *rest = after_ts(next_line());
    cr_assert_str_eq(rest, "level=warn module=conn msg=\"bad request\" i=100 suppressed=90\n");
    /* Debug lines are never limited. */
    for (int i = 0; i < 50; i++)
        log_debug("conn", "debug detail");
    n = 0;
    for (const char *l = next_line(); *l; l = next_line())
        n++;
    cr_assert_eq(n, 50);
}
