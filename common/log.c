/* log.c - structured log lines in logfmt or JSON (see log.h).
 * Owner: the three settings below are written once by log_setup() before any thread
 * starts and only read afterwards, so no lock is needed. Each line is built on the
 * caller's stack and written with one write(2), so lines from several threads never
 * interleave. */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static enum log_level log_min_level = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Room kept free at the end of the line for what closes it after a cut value:
 * `..."` (4), `}` (1), `\n` (1). */
#define LOG_TAIL_ROOM 6

/* A line under construction. `full` is set once a value had to be cut; nothing more
 * is added after that. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    size_t limit; /* LOG_LINE_MAX - LOG_TAIL_ROOM */
    int full;
    enum log_format fmt;
};

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0) {
        *out = LOG_FORMAT_LOGFMT;
        return 0;
    }
    if (strcmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return -EINVAL;
}

void log_setup(enum log_level level, enum log_format format, int fd)
{
    log_min_level = level;
    log_fmt = format;
    log_fd = fd;
}

int log_enabled(enum log_level level)
{
    return level >= log_min_level;
}

const char *log_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err > 0)
        err = -err;
    /* uv_strerror() leaks a string for codes it does not know, so look the code up in
     * libuv's own table first and fall back to the C library's static descriptions. */
    switch (err) {
#define LOG_UV_ERR(code, text)                                                                     \
    case UV_##code: return text;
        UV_ERRNO_MAP(LOG_UV_ERR)
#undef LOG_UV_ERR
    default: break;
    }
    const char *s = strerrordesc_np(-err);
    return s ? s : "unknown error";
}

static void put_raw(struct line *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (n > l->limit - l->len) {
        n = l->limit - l->len;
        l->full = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0 if the
 * bytes there are not valid UTF-8. ASCII is handled by the caller. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t want;
    unsigned int cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        want = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        want = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        want = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < want)
        return 0;
    for (size_t i = 1; i < want; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((want == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (want == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return want;
}

/* Whether a logfmt value must be quoted: empty, or holding a space, '=', '"', a
 * control byte or bytes that are not UTF-8. */
static int logfmt_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (u[i] <= ' ' || u[i] == '=' || u[i] == '"' || u[i] == 0x7f)
            return 1;
        if (u[i] >= 0x80) {
            size_t k = utf8_len(u + i, n - i);
            if (k == 0)
                return 1;
            i += k - 1;
        }
    }
    return 0;
}

/* Appends s escaped for the line's format: \" \\ \n \t, and any other control byte or
 * byte that is not UTF-8 as \xNN (logfmt) or \u00NN (JSON). A value that does not fit
 * is cut at a character boundary and ends with "...". */
static void put_escaped(struct line *l, const char *s, size_t n, int escape)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && !l->full;) {
        char tmp[8];
        const char *out = (const char *)u + i;
        size_t out_len = 1, step = 1;
        unsigned char c = u[i];
        if (escape && (c == '"' || c == '\\')) {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            out = tmp;
            out_len = 2;
        } else if (escape && c == '\n') {
            out = "\\n";
            out_len = 2;
        } else if (escape && c == '\t') {
            out = "\\t";
            out_len = 2;
        } else if (c >= 0x80 && (step = utf8_len(u + i, n - i)) > 0) {
            out_len = step;
        } else if (escape && (c < 0x20 || c >= 0x7f)) {
            step = 1;
            out_len = (size_t)snprintf(tmp, sizeof(tmp),
                                       l->fmt == LOG_FORMAT_JSON ? "\\u%04x" : "\\x%02x", c);
            out = tmp;
        } else {
            step = 1;
        }
        /* Keep room for "..." after whatever is written now. */
        if (out_len + 3 > l->limit - l->len) {
            put_raw(l, "...", 3);
            l->full = 1;
            return;
        }
        put_raw(l, out, out_len);
        i += step;
    }
}

static void put_string_value(struct line *l, const char *s, size_t n)
{
    if (l->fmt == LOG_FORMAT_JSON || logfmt_needs_quotes(s, n)) {
        put_raw(l, "\"", 1);
        put_escaped(l, s, n, 1);
        /* The closing quote is written even after a cut: LOG_TAIL_ROOM kept room for it. */
        l->buf[l->len++] = '"';
    } else {
        put_escaped(l, s, n, 0);
    }
}

/* Writes the separator and key, but only if the key and value_room more bytes fit;
 * otherwise the line is marked full and the field is dropped whole. */
static void put_key(struct line *l, const char *key, size_t value_room)
{
    if (l->full)
        return;
    size_t klen = strlen(key);
    if (klen + 4 + value_room > l->limit - l->len) {
        l->full = 1;
        return;
    }
    if (l->fmt == LOG_FORMAT_JSON) {
        put_raw(l, l->len > 1 ? ",\"" : "\"", l->len > 1 ? 2 : 1);
        put_escaped(l, key, klen, 1);
        put_raw(l, "\":", 2);
    } else {
        if (l->len > 0)
            put_raw(l, " ", 1);
        put_raw(l, key, klen);
        put_raw(l, "=", 1);
    }
}

/* Room a string value needs at least: an opening quote and "...". */
#define LOG_STR_ROOM 4

/* Shortest "%.*g" text that reads back as the same double. */
static void format_double(char *out, size_t cap, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static void put_field(struct line *l, const struct log_field *f)
{
    char num[40];
    const char *key = f->key ? f->key : "?";
    const char *s = NULL;
    size_t n = 0;
    switch (f->type) {
    case LOG_T_STR:
    case LOG_T_STRN:
        if (f->v.s == NULL) {
            snprintf(num, sizeof(num), "null");
            break;
        }
        s = f->v.s;
        n = f->type == LOG_T_STR ? strlen(s) : f->n;
        break;
    case LOG_T_INT: snprintf(num, sizeof(num), "%lld", f->v.i); break;
    case LOG_T_UINT: snprintf(num, sizeof(num), "%llu", f->v.u); break;
    case LOG_T_DBL:
        if (isnan(f->v.d) || isinf(f->v.d)) {
            /* JSON has no literal for these, so they go as strings there; logfmt readers
             * take the same spelling bare. */
            s = isnan(f->v.d) ? "NaN" : f->v.d > 0 ? "+Inf" : "-Inf";
            n = strlen(s);
            if (l->fmt == LOG_FORMAT_LOGFMT) {
                snprintf(num, sizeof(num), "%s", s);
                s = NULL;
            }
        } else {
            format_double(num, sizeof(num), f->v.d);
        }
        break;
    default: return;
    }
    if (s != NULL) {
        put_key(l, key, LOG_STR_ROOM);
        if (!l->full)
            put_string_value(l, s, n);
    } else {
        put_key(l, key, strlen(num));
        if (!l->full)
            put_raw(l, num, strlen(num));
    }
}

static void put_timestamp(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char text[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof(text) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    put_key(l, "ts", LOG_STR_ROOM);
    put_string_value(l, text, strlen(text));
}

/* One message's rate, per thread (see LOG_LIMIT_BURST). */
struct limit_slot {
    const char *module, *msg; /* the call site's literals: compared by address */
    uint64_t window_start_ms;
    uint32_t in_window;
    uint64_t suppressed;
};

static _Thread_local struct limit_slot limit_slots[LOG_LIMIT_SLOTS];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether this line may be written; *suppressed gets the count of lines of the same
 * message dropped since the last one written. */
static bool limit_allows(const char *module, const char *msg, uint64_t *suppressed)
{
    uintptr_t key = (uintptr_t)msg ^ ((uintptr_t)module >> 4);
    struct limit_slot *s = &limit_slots[(key >> 3) % LOG_LIMIT_SLOTS];
    uint64_t now = now_ms();

    *suppressed = 0;
    if (s->module != module || s->msg != msg) {
        s->module = module;
        s->msg = msg;
        s->window_start_ms = now;
        s->in_window = 0;
        s->suppressed = 0;
    }
    if (now - s->window_start_ms >= LOG_LIMIT_WINDOW_MS) {
        s->window_start_ms = now;
        s->in_window = 0;
    }
    if (s->in_window >= LOG_LIMIT_BURST) {
        s->suppressed++;
        return false;
    }
    s->in_window++;
    *suppressed = s->suppressed;
    s->suppressed = 0;
    return true;
}

void log_emit(enum log_level level, const char *module, const char *msg,
              const struct log_field *fields)
{
    uint64_t suppressed = 0;

    if (!log_enabled(level))
        return;
    if (level >= LOG_INFO && !limit_allows(module, msg, &suppressed))
        return;
    struct line l;
    l.len = 0;
    l.limit = LOG_LINE_MAX - LOG_TAIL_ROOM;
    l.full = 0;
    l.fmt = log_fmt;
    if (l.fmt == LOG_FORMAT_JSON)
        put_raw(&l, "{", 1);
    put_timestamp(&l);
    put_key(&l, "level", LOG_STR_ROOM);
    const char *lvl = (unsigned)level <= LOG_ERROR ? level_names[level] : "unknown";
    put_string_value(&l, lvl, strlen(lvl));
    if (module != NULL) {
        put_key(&l, "module", LOG_STR_ROOM);
        if (!l.full)
            put_string_value(&l, module, strlen(module));
    }
    if (msg != NULL) {
        put_key(&l, "msg", LOG_STR_ROOM);
        if (!l.full)
            put_string_value(&l, msg, strlen(msg));
    }
    for (const struct log_field *f = fields; f != NULL && f->type != LOG_T_END; f++)
        put_field(&l, f);
    if (suppressed) {
        struct log_field f = LOG_UINT("suppressed", suppressed);
        put_field(&l, &f);
    }
    if (l.fmt == LOG_FORMAT_JSON)
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';

    /* One write per line; retry only on EINTR. A short write to a pipe of at most
     * PIPE_BUF bytes cannot happen; longer lines may be split by the kernel, which is
     * acceptable for a log. */
    size_t off = 0;
    while (off < l.len) {
        ssize_t w = write(log_fd, l.buf + off, l.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}
