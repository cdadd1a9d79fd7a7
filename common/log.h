/* log.h - structured logs in logfmt or JSON, like Prometheus' own (--log.level,
 * --log.format).
 *
 *   log_warn("scrape", "exporter timed out", LOG_STR("fqdn", fqdn), LOG_INT("after_ms", 5000));
 *
 * prints, with --log.format=logfmt (the default),
 *
 *   ts=2026-11-28T06:53:48.123Z level=warn module=scrape msg="exporter timed out" fqdn=host1
 * after_ms=5000
 *
 * and with --log.format=json the same fields as one JSON object per line. Values are
 * quoted and escaped as each format needs, so any input (a bad FQDN, a header) can be
 * logged safely. Lines go to stderr with one write(2) each, so lines from several
 * threads never interleave. Any thread may log; the level and format are set once at
 * start-up, before threads start. */
#ifndef PUSHPROX_LOG_H
#define PUSHPROX_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };

enum log_field_type { LOG_T_END = 0, LOG_T_STR, LOG_T_STRN, LOG_T_INT, LOG_T_UINT, LOG_T_DBL };

struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        const char *s;
        long long i;
        unsigned long long u;
        double d;
    } v;
    size_t n; /* LOG_T_STRN: length of v.s, which need not be NUL-terminated */
};

#define LOG_STR(k, s_) ((struct log_field){.key = (k), .type = LOG_T_STR, .v.s = (s_)})
#define LOG_STRN(k, s_, n_)                                                                        \
    ((struct log_field){.key = (k), .type = LOG_T_STRN, .v.s = (s_), .n = (n_)})
#define LOG_INT(k, i_) ((struct log_field){.key = (k), .type = LOG_T_INT, .v.i = (i_)})
#define LOG_UINT(k, u_) ((struct log_field){.key = (k), .type = LOG_T_UINT, .v.u = (u_)})
#define LOG_DBL(k, d_) ((struct log_field){.key = (k), .type = LOG_T_DBL, .v.d = (d_)})
/* An error code from libuv or a negative errno, logged as its name and message. */
#define LOG_ERR(e_) LOG_STR("err", log_strerror(e_))

/* The longest line written; longer values are cut and end with "...". */
#define LOG_LINE_MAX 4096
/* Lines that cannot flood: per thread, each message (module and msg text) at info level or
 * above is written at most LOG_LIMIT_BURST times per LOG_LIMIT_WINDOW_MS; the rest are
 * counted, and the next line of that message written says how many were dropped
 * (suppressed=N). A peer sending garbage in a loop costs a few lines a second, not gigabytes.
 * Debug lines are never limited: they are asked for. */
#define LOG_LIMIT_BURST 10
#define LOG_LIMIT_WINDOW_MS 1000
/* Messages tracked per thread; a message whose slot another took starts afresh. */
#define LOG_LIMIT_SLOTS 64

/* Parses "debug|info|warn|error" and "logfmt|json". Return 0, or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

/* Set once at start-up, before any thread starts. */
void log_setup(enum log_level level, enum log_format format, int fd);

int log_enabled(enum log_level level);

/* Writes one line if level is enabled and the message is not over its rate (see
 * LOG_LIMIT_BURST). fields ends with an entry whose type is LOG_T_END. Can't fail (a
 * failed write is ignored). Any thread. */
void log_emit(enum log_level level, const char *module, const char *msg,
              const struct log_field *fields);

/* uv_strerror() for libuv codes and negative errnos alike. */
const char *log_strerror(int err);

#define LOG_AT(lvl, module, msg, ...)                                                              \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_emit(lvl, module, msg,                                                             \
                     (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ){.type = LOG_T_END}});   \
    } while (0)

#define log_debug(module, msg, ...) LOG_AT(LOG_DEBUG, module, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_info(module, msg, ...) LOG_AT(LOG_INFO, module, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_warn(module, msg, ...) LOG_AT(LOG_WARN, module, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_error(module, msg, ...) LOG_AT(LOG_ERROR, module, msg __VA_OPT__(, ) __VA_ARGS__)

#endif
