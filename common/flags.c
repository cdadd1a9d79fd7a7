/* flags.c - parses argv against a binary's flag table (see flags.h) and prints --help,
 * --help-long and the man page (--help-man).
 * Owner: main() calls flags_parse() once, before any thread starts; tests and fuzzers call
 * flags_parse_args() as often as they like, from one thread. Lists are allocated once and
 * never freed by the binaries (they live as long as the process); each allocation is
 * chained from list_blocks so that leak checkers see it as reachable even when the
 * caller's flags struct was on a stack that is gone, and so flags_free_lists() can free
 * them all. */
#include "flags.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Column where help text starts in --help, as kingpin (node_exporter) lays it out. */
#define FLAGS_HELP_COLUMN 29
/* Width --help-long wraps the description and the extra sections to: a terminal's. */
#define FLAGS_WRAP_COLUMNS 80
/* Longest program name, section title or SEE ALSO name the man page writes in full (with
 * its NUL); longer ones are cut. Ours are under 20. */
#define FLAGS_MAN_NAME_MAX 64

/* Storage for list items: a block per list, chained so it stays reachable. */
struct list_block {
    struct list_block *next;
    const char *items[];
};

static struct list_block *list_blocks;

/* Room for n items, or NULL when out of memory. */
static const char **list_alloc(size_t n)
{
    struct list_block *b = calloc(1, sizeof(*b) + n * sizeof(b->items[0]));
    if (b == NULL)
        return NULL;
    b->next = list_blocks;
    list_blocks = b;
    return b->items;
}

void flags_free_lists(void)
{
    while (list_blocks != NULL) {
        struct list_block *b = list_blocks;
        list_blocks = b->next;
        free(b);
    }
}

/* Writes the message into err (cut to err_cap) and returns -EINVAL. */
static int bad(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;
    if (err_cap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int flags_parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

/* Reads decimal digits into *v, with an optional fraction counted in *frac (value) and
 * *frac_digits. Returns the number of characters read (0 if no digit), -ERANGE on overflow. */
static int read_number(const char *s, uint64_t *v, uint64_t *frac, int *frac_digits)
{
    const char *p = s;
    uint64_t x = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -ERANGE;
        x = x * 10 + d;
        p++;
    }
    size_t int_digits = (size_t)(p - s);
    *v = x;
    *frac = 0;
    *frac_digits = 0;
    if (frac != NULL && *p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            /* Six digits are a microsecond of a second or a byte of a MiB: enough for
             * what we keep, and small enough that frac * unit cannot overflow. */
            if (*frac_digits < 6) {
                *frac = *frac * 10 + (uint64_t)(*p - '0');
                (*frac_digits)++;
            }
            p++;
        }
        if (int_digits == 0 && *frac_digits == 0)
            return 0;
    } else if (int_digits == 0) {
        return 0;
    }
    return (int)(p - s);
}

/* v * unit + frac/10^digits * unit, into *out. -ERANGE on overflow. */
static int scale(uint64_t v, uint64_t frac, int digits, uint64_t unit, uint64_t *out)
{
    if (v != 0 && unit > UINT64_MAX / v)
        return -ERANGE;
    uint64_t r = v * unit;
    if (digits > 0) {
        uint64_t pow = 1;
        for (int i = 0; i < digits; i++)
            pow *= 10;
        /* frac < 10^6 and unit <= 2^40 (a TiB; a year is 2^35 ms): no overflow. */
        uint64_t add = frac * unit / pow;
        if (r > UINT64_MAX - add)
            return -ERANGE;
        r += add;
    }
    *out = r;
    return 0;
}

struct unit {
    const char *name;
    uint64_t mult;
};

/* Longest names first where one is a prefix of another ("ms" before "m"). */
static const struct unit duration_units[] = {
    {"ms", 1ULL},
    {"s", 1000ULL},
    {"m", 60ULL * 1000},
    {"h", 3600ULL * 1000},
    {"d", 24ULL * 3600 * 1000},
    {"w", 7ULL * 24 * 3600 * 1000},
    {"y", 365ULL * 24 * 3600 * 1000},
};

/* Prometheus durations ("1h30m", "500ms", "2d", "0"); Go-style fractions ("1.5s") are
 * accepted too, as upstream's Go flags take them. Sub-millisecond parts are dropped. */
int flags_parse_duration(const char *s, uint64_t *ms)
{
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*s == '\0')
        return -EINVAL;
    uint64_t total = 0;
    const char *p = s;
    while (*p != '\0') {
        uint64_t v, frac;
        int digits;
        int n = read_number(p, &v, &frac, &digits);
        if (n <= 0)
            return -EINVAL;
        p += n;
        const struct unit *u = NULL;
        for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
            size_t len = strlen(duration_units[i].name);
            if (strncmp(p, duration_units[i].name, len) == 0) {
                u = &duration_units[i];
                break;
            }
        }
        if (u == NULL)
            return -EINVAL;
        p += strlen(u->name);
        uint64_t part;
        if (scale(v, frac, digits, u->mult, &part) < 0 || total > UINT64_MAX - part)
            return -EINVAL;
        total += part;
    }
    *ms = total;
    return 0;
}

static const struct unit size_units[] = {
    {"", 1ULL},
    {"B", 1ULL},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
    {"KB", 1000ULL},
    {"kB", 1000ULL},
    {"MB", 1000ULL * 1000},
    {"GB", 1000ULL * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000},
    {"k", 1ULL << 10},
    {"K", 1ULL << 10},
    {"M", 1ULL << 20},
    {"G", 1ULL << 30},
    {"T", 1ULL << 40},
};

/* Bytes: a number, optionally with a fraction, then one of size_units. */
int flags_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v, frac;
    int digits;
    int n = read_number(s, &v, &frac, &digits);
    if (n <= 0)
        return -EINVAL;
    const char *p = s + n;
    for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
        if (strcmp(p, size_units[i].name) == 0) {
            uint64_t r;
            if (scale(v, frac, digits, size_units[i].mult, &r) < 0)
                return -EINVAL;
            *bytes = r;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_int(const char *s, long long *out)
{
    /* strtoll would also take leading blanks and a '+'; a flag value should not. */
    if (!(*s == '-' || (*s >= '0' && *s <= '9')))
        return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s)
        return -EINVAL;
    *out = v;
    return 0;
}

int flags_split_hostport(const char *s, char *host, size_t host_cap, int *port)
{
    const char *h, *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        if (hlen == 0) {
            h = "::";
            hlen = 2;
        }
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -EINVAL; /* no port, or an IPv6 address without brackets */
        h = s;
        hlen = (size_t)(colon - s);
        if (hlen == 0) {
            h = "0.0.0.0";
            hlen = 7;
        }
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -EINVAL;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535 || hlen + 1 > host_cap)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = v;
    return 0;
}

static const char *type_error(enum flag_type t)
{
    switch (t) {
    case FLAG_INT: return "not an integer";
    case FLAG_BOOL: return "not a boolean (true or false)";
    case FLAG_DUR: return "not a duration";
    case FLAG_SIZE: return "not a size";
    default: return "bad value";
    }
}

/* Stores value into the flag's field. For a LIST, *list_fresh tells whether the
 * command line has already replaced the default. Returns 0, -EINVAL or -ENOMEM. */
static int set_value(const struct flag_def *d, void *dst, const char *value, int argc,
                     bool *list_fresh)
{
    char *field = (char *)dst + d->offset;
    switch (d->type) {
    case FLAG_STR: *(char **)field = (char *)value; return 0;
    case FLAG_INT: return parse_int(value, (long long *)field);
    case FLAG_BOOL: return flags_parse_bool(value, (bool *)field);
    case FLAG_DUR: return flags_parse_duration(value, (uint64_t *)field);
    case FLAG_SIZE: return flags_parse_size(value, (uint64_t *)field);
    case FLAG_LIST: {
        struct flag_list *l = (struct flag_list *)field;
        if (list_fresh != NULL && !*list_fresh) {
            /* The first use on the command line replaces the default; the list can
             * hold at most one item per argument. */
            *list_fresh = true;
            l->items = list_alloc((size_t)argc + 1);
            l->len = 0;
            if (l->items == NULL)
                return -ENOMEM;
        }
        l->items[l->len++] = value;
        return 0;
    }
    }
    return -EINVAL;
}

/* Sets the flag's default. Returns 0, -EINVAL (a default its type cannot read: err says
 * so) or -ENOMEM. */
static int set_default(const struct flag_def *d, void *dst, char *err, size_t err_cap)
{
    char *field = (char *)dst + d->offset;
    if (d->type == FLAG_LIST) {
        struct flag_list *l = (struct flag_list *)field;
        l->items = NULL;
        l->len = 0;
        if (d->def != NULL && d->def[0] != '\0') {
            l->items = list_alloc(1);
            if (l->items == NULL)
                return -ENOMEM;
            l->items[l->len++] = d->def;
        }
        return 0;
    }
    const char *def = d->def != NULL ? d->def : "";
    if (def[0] == '\0') {
        /* No default: the zero value of the type. */
        switch (d->type) {
        case FLAG_STR: *(char **)field = (char *)def; break;
        case FLAG_INT: *(long long *)field = 0; break;
        case FLAG_BOOL: *(bool *)field = false; break;
        default: *(uint64_t *)field = 0; break;
        }
        return 0;
    }
    if (set_value(d, dst, def, 0, NULL) < 0)
        return bad(err, err_cap, "--%s: default \"%s\": %s", d->name, def, type_error(d->type));
    return 0;
}

static const struct flag_def *find(const struct flag_def *defs, size_t n, const char *name,
                                   size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(defs[i].name) == len && strncmp(defs[i].name, name, len) == 0)
            return &defs[i];
    }
    return NULL;
}

int flags_parse_args(const struct flag_def *defs, size_t n_defs, void *dst, int argc, char **argv,
                     enum flags_request *req, char *err, size_t err_cap)
{
    bool *fresh = NULL;
    int rc = 0;

    *req = FLAGS_RUN;
    if (err_cap > 0)
        err[0] = '\0';
    fresh = calloc(n_defs ? n_defs : 1, sizeof(*fresh));
    if (fresh == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_defs && rc == 0; i++)
        rc = set_default(&defs[i], dst, err, err_cap);

    for (int i = 1; i < argc && rc == 0; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            *req = FLAGS_HELP;
            goto out;
        }
        if (strcmp(arg, "--version") == 0) {
            *req = FLAGS_VERSION;
            goto out;
        }
        if (strcmp(arg, "--help-long") == 0) {
            *req = FLAGS_HELP_LONG;
            goto out;
        }
        if (strcmp(arg, "--help-man") == 0) {
            *req = FLAGS_HELP_MAN;
            goto out;
        }
        if (strcmp(arg, "--") == 0) {
            if (i + 1 < argc)
                rc = bad(err, err_cap, "unexpected argument \"%s\"", argv[i + 1]);
            break;
        }
        if (arg[0] != '-' || arg[1] != '-' || arg[2] == '\0') {
            if (arg[0] == '-')
                rc = bad(err, err_cap, "unknown flag %s (see --help)", arg);
            else
                rc = bad(err, err_cap, "unexpected argument \"%s\" (flags start with --)", arg);
            break;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;

        const struct flag_def *d = find(defs, n_defs, name, name_len);
        if (d == NULL && name_len > 3 && strncmp(name, "no-", 3) == 0) {
            const struct flag_def *nd = find(defs, n_defs, name + 3, name_len - 3);
            if (nd != NULL && nd->type == FLAG_BOOL) {
                if (value != NULL) {
                    rc = bad(err, err_cap, "--%.*s takes no value", (int)name_len, name);
                    break;
                }
                *(bool *)((char *)dst + nd->offset) = false;
                continue;
            }
        }
        if (d == NULL) {
            rc = bad(err, err_cap, "unknown flag --%.*s (see --help)", (int)name_len, name);
            break;
        }
        if (value == NULL) {
            if (d->type == FLAG_BOOL) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                rc = bad(err, err_cap, "--%s needs a value", d->name);
                break;
            }
        }
        rc = set_value(d, dst, value, argc, &fresh[d - defs]);
        if (rc == -EINVAL)
            bad(err, err_cap, "--%s: \"%s\": %s", d->name, value, type_error(d->type));
    }
out:
    if (rc == -ENOMEM && err_cap > 0)
        snprintf(err, err_cap, "out of memory");
    free(fresh);
    return rc;
}

int flags_parse(const struct flag_def *defs, size_t n_defs, void *dst,
                const struct flags_program *prog, int argc, char **argv)
{
    char err[FLAGS_ERR_MAX];
    enum flags_request req;
    int rc = 0;

    if (flags_parse_args(defs, n_defs, dst, argc, argv, &req, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog->name, err);
        exit(2);
    }
    switch (req) {
    case FLAGS_RUN: return 0;
    case FLAGS_HELP: rc = flags_write_usage(stdout, defs, n_defs, prog, false); break;
    case FLAGS_HELP_LONG: rc = flags_write_usage(stdout, defs, n_defs, prog, true); break;
    case FLAGS_HELP_MAN: rc = flags_write_man(stdout, defs, n_defs, prog); break;
    case FLAGS_VERSION:
        if (printf("%s\n", prog->version ? prog->version : "") < 0)
            rc = -EIO;
        break;
    }
    if (rc != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "%s: cannot write to stdout\n", prog->name);
        exit(1);
    }
    exit(0);
}

/* Where text goes: as it is (--help, --help-long) or escaped for roff (--help-man). bol
 * says whether the next character starts an output line, where roff reads '.' and an
 * apostrophe as the start of a request. */
struct sink {
    FILE *f;
    bool man;
    bool bol;
};

/* Writes raw roff (requests, font escapes) or plain text unchanged. */
static void put_raw(struct sink *o, const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return;
    fputs(s, o->f);
    o->bol = s[len - 1] == '\n';
}

/* Reads one UTF-8 character from s (len > 0) into *cp; returns the bytes it took. A
 * malformed sequence takes one byte and reads as U+FFFD. */
static size_t utf8_read(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n;
    uint32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        n = 2, c = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, c = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        *cp = 0xfffd;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= len || (s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        c = 0xfffd;
    *cp = c;
    return n;
}

/* Writes s[0..len) as text: unchanged, or for roff with every character that roff would
 * read as something else escaped. Newlines are kept (an empty line would be a roff blank
 * line, so runs of them are written as one), other control characters dropped. */
static void put_text(struct sink *o, const char *s, size_t len)
{
    if (!o->man) {
        fwrite(s, 1, len, o->f);
        if (len > 0)
            o->bol = s[len - 1] == '\n';
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '\n') {
            if (!o->bol)
                fputc('\n', o->f);
            o->bol = true;
            i++;
            continue;
        }
        if (c >= 0x80) {
            uint32_t cp;
            i += utf8_read(p + i, len - i, &cp);
            fprintf(o->f, "\\[u%04X]", (unsigned)cp);
            o->bol = false;
            continue;
        }
        i++;
        if (c == '\t')
            c = ' ';
        if (c < 0x20 || c == 0x7f)
            continue;
        /* A line starting with '.' would be a request, one starting with a space a break:
         * \& (a character of no width) in front makes it plain text. An apostrophe, which
         * starts requests too, is always written as \(aq below. */
        if (o->bol && (c == '.' || c == ' '))
            fputs("\\&", o->f);
        o->bol = false;
        switch (c) {
        case '\\': fputs("\\e", o->f); break;
        /* ASCII hyphen-minus, as typed in a shell: roff's '-' is a hyphen (U+2010). */
        case '-': fputs("\\-", o->f); break;
        /* roff prints these as typographic quotes and accents; keep them ASCII. */
        case '\'': fputs("\\(aq", o->f); break;
        case '`': fputs("\\(ga", o->f); break;
        case '^': fputs("\\(ha", o->f); break;
        case '~': fputs("\\(ti", o->f); break;
        default: fputc(c, o->f); break;
        }
    }
}

static void put_str(struct sink *o, const char *s)
{
    put_text(o, s, strlen(s));
}

/* Text inside a quoted macro argument: escaped as text, '"' as \(dq, newlines dropped. */
static void put_arg_text(struct sink *o, const char *s)
{
    while (*s != '\0') {
        size_t len = strcspn(s, "\"\n");
        put_text(o, s, len);
        s += len;
        if (*s == '"')
            put_raw(o, "\\(dq");
        if (*s != '\0')
            s++;
    }
}

/* A macro argument: a space, then the text in double quotes. */
static void put_arg(struct sink *o, const char *s)
{
    put_raw(o, " \"");
    put_arg_text(o, s);
    put_raw(o, "\"");
}

/* Writes the flag's term as --help shows it, without indent: "--name=DEFAULT",
 * "--name=PLACEHOLDER", "--[no-]name". Returns its width in plain output. */
static int put_term(struct sink *o, const struct flag_def *d)
{
    const char *def = d->def != NULL ? d->def : "";
    int n = 0;
    if (o->man)
        put_raw(o, "\\fB");
    put_str(o, d->type == FLAG_BOOL ? "--[no-]" : "--");
    put_str(o, d->name);
    n += (d->type == FLAG_BOOL ? 7 : 2) + (int)strlen(d->name);
    if (o->man)
        put_raw(o, "\\fR");
    if (d->type == FLAG_BOOL)
        return n;
    put_str(o, "=");
    n++;
    if (o->man)
        put_raw(o, "\\fI");
    /* Text goes to put_text in runs, never split inside a UTF-8 character. */
    if (def[0] == '\0') {
        /* kingpin's placeholder for a flag without default: its name in capitals. */
        for (const char *p = d->name; *p;) {
            size_t len = strcspn(p, "abcdefghijklmnopqrstuvwxyz");
            put_text(o, p, len);
            if (p[len] != '\0') {
                char up = (char)(p[len] - 'a' + 'A');
                put_text(o, &up, 1);
                len++;
            }
            p += len;
            n += (int)len;
        }
    } else if (d->type == FLAG_STR || d->type == FLAG_LIST) {
        /* Quoted, '"' and '\\' escaped with '\\', as kingpin shows a string. */
        put_str(o, "\"");
        for (const char *p = def; *p;) {
            size_t len = strcspn(p, "\"\\");
            put_text(o, p, len);
            n += (int)len;
            p += len;
            if (*p != '\0') {
                put_str(o, "\\");
                put_text(o, p, 1);
                n += 2;
                p++;
            }
        }
        put_str(o, "\"");
        n += 2;
    } else {
        put_str(o, def);
        n += (int)strlen(def);
    }
    if (o->man)
        put_raw(o, "\\fR");
    return n;
}

/* The help text of --help: on the term's line when the term is narrow enough, else on the
 * next, at FLAGS_HELP_COLUMN. */
static void print_help_text(FILE *out, int width, const char *help, const char *extra)
{
    if (width < FLAGS_HELP_COLUMN - 1)
        fprintf(out, "%*s", FLAGS_HELP_COLUMN - width, "");
    else
        fprintf(out, "\n%*s", FLAGS_HELP_COLUMN, "");
    fprintf(out, "%s%s\n", help ? help : "", extra);
}

/* Flags every binary has besides its table, as --help lists them: help first, version
 * last (node_exporter's order). The terms carry --help's indent. */
struct meta_flag {
    const char *term;
    const char *help;
};

static const struct meta_flag meta_first[] = {
    {"  -h, --[no-]help", "Show context-sensitive help (also try --help-long and --help-man)."},
    {"      --help-long", "Show the long help: this and what the program does."},
    {"      --help-man", "Write a man page (groff) to stdout, e.g. for man -l -."},
};
static const struct meta_flag meta_version = {"      --[no-]version", "Show application version."};

static void print_meta(FILE *out, const struct meta_flag *m)
{
    int w = fprintf(out, "%s", m->term);
    print_help_text(out, w, m->help, "");
}

/* Writes text word-wrapped to FLAGS_WRAP_COLUMNS, every line indented by indent spaces.
 * "\n\n" separates paragraphs (written with an empty line between), a single "\n" breaks
 * the line. A word longer than the line gets a line of its own. */
static void put_wrapped(FILE *out, const char *text, int indent)
{
    const char *p = text;
    int col = 0;
    while (*p != '\0') {
        if (*p == '\n') {
            fputc('\n', out);
            col = 0;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \n");
        if (col > 0 && col + 1 + (int)len > FLAGS_WRAP_COLUMNS) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0)
            col = fprintf(out, "%*s", indent, "");
        else
            col += fprintf(out, " ");
        fwrite(p, 1, len, out);
        col += (int)len;
        p += len;
    }
    if (col > 0)
        fputc('\n', out);
}

int flags_write_usage(FILE *out, const struct flag_def *defs, size_t n_defs,
                      const struct flags_program *prog, bool long_help)
{
    struct sink o = {out, false, true};
    fprintf(out, "usage: %s [<flags>]\n\n", prog->name);
    if (prog->summary != NULL && prog->summary[0] != '\0')
        fprintf(out, "%s\n\n", prog->summary);
    if (long_help && prog->description != NULL) {
        put_wrapped(out, prog->description, 0);
        fputc('\n', out);
    }
    fprintf(out, "Flags:\n");
    for (size_t i = 0; i < sizeof(meta_first) / sizeof(meta_first[0]); i++)
        print_meta(out, &meta_first[i]);
    for (size_t i = 0; i < n_defs; i++) {
        const struct flag_def *d = &defs[i];
        /* Flags always put their help on the next line, so a script can read name and
         * default from one line and help from the next. */
        fputs("      ", out);
        put_term(&o, d);
        print_help_text(out, FLAGS_HELP_COLUMN, d->help,
                        d->type == FLAG_LIST ? " (repeatable)" : "");
    }
    print_meta(out, &meta_version);
    if (long_help) {
        for (const struct flags_doc_section *s = prog->sections; s && s->title; s++) {
            fprintf(out, "\n%s:\n", s->title);
            if (s->intro != NULL) {
                put_wrapped(out, s->intro, 2);
                if (s->items != NULL && s->items[0].term != NULL)
                    fputc('\n', out);
            }
            for (const struct flags_doc_item *it = s->items; it && it->term; it++) {
                fprintf(out, "  %s\n", it->term);
                put_wrapped(out, it->text ? it->text : "", 6);
            }
        }
        if (prog->see_also != NULL && prog->see_also[0] != NULL) {
            fprintf(out, "\nSee also:");
            for (const char *const *p = prog->see_also; *p; p++)
                fprintf(out, " %s%s", *p, p[1] ? "," : "\n");
        }
    }
    return ferror(out) ? -EIO : 0;
}

void flags_usage(const struct flag_def *defs, size_t n_defs, const struct flags_program *prog)
{
    flags_write_usage(stdout, defs, n_defs, prog, false);
    fflush(stdout);
}

/* Paragraphs separated by "\n\n", each as roff text, with sep (".PP", ".IP") between. */
static void put_paragraphs(struct sink *o, const char *text, const char *sep)
{
    const char *p = text;
    while (*p != '\0') {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            put_text(o, p, len);
            if (!o->bol)
                put_raw(o, "\n");
        }
        if (end == NULL)
            break;
        p = end;
        while (*p == '\n')
            p++;
        if (*p != '\0') {
            put_raw(o, sep);
            put_raw(o, "\n");
        }
    }
}

/* A .TP entry: the term in bold (or as put_term writes it), the text under it. */
static void put_item(struct sink *o, const char *term, const struct flag_def *d, const char *text,
                     const char *extra)
{
    put_raw(o, ".TP\n");
    if (d != NULL) {
        put_term(o, d);
    } else {
        put_raw(o, "\\fB");
        put_str(o, term);
        put_raw(o, "\\fR");
    }
    put_raw(o, "\n");
    put_paragraphs(o, text ? text : "", ".IP");
    if (extra != NULL) {
        put_str(o, extra);
        put_raw(o, "\n");
    }
}

int flags_write_man(FILE *out, const struct flag_def *defs, size_t n_defs,
                    const struct flags_program *prog)
{
    struct sink o = {out, true, true};
    char upper[FLAGS_MAN_NAME_MAX];
    size_t i;

    for (i = 0; prog->name[i] != '\0' && i + 1 < sizeof(upper); i++)
        upper[i] = prog->name[i] >= 'a' && prog->name[i] <= 'z' ? (char)(prog->name[i] - 'a' + 'A')
                                                                : prog->name[i];
    upper[i] = '\0';

    /* The title line: name, section, date (none: the page is the same for every build of
     * a version), source, manual. */
    fprintf(out, ".\\\" Written by %s --help-man from its flag table.\n", prog->name);
    put_raw(&o, ".TH");
    put_arg(&o, upper);
    put_raw(&o, " 1 \"\"");
    put_arg(&o, prog->source ? prog->source : prog->name);
    put_arg(&o, "User Commands");
    /* No hyphenation and a ragged right margin: flag names stay whole and searchable. */
    put_raw(&o, "\n.nh\n.ad l\n");

    put_raw(&o, ".SH NAME\n");
    put_str(&o, prog->name);
    if (prog->summary != NULL && prog->summary[0] != '\0') {
        /* "name \- summary" on one line, as whatis(1) and lexgrog read it. */
        size_t len = strcspn(prog->summary, "\n");
        if (len > 0 && prog->summary[len - 1] == '.')
            len--;
        put_raw(&o, " \\- ");
        put_text(&o, prog->summary, len);
    }
    put_raw(&o, "\n.SH SYNOPSIS\n\\fB");
    put_str(&o, prog->name);
    put_raw(&o, "\\fR [\\fIflags\\fR]\n");

    put_raw(&o, ".SH DESCRIPTION\n");
    put_paragraphs(&o,
                   prog->description ? prog->description
                   : prog->summary   ? prog->summary
                                     : prog->name,
                   ".PP");

    put_raw(&o, ".SH OPTIONS\n");
    for (i = 0; i < sizeof(meta_first) / sizeof(meta_first[0]); i++)
        put_item(&o, meta_first[i].term + strspn(meta_first[i].term, " "), NULL, meta_first[i].help,
                 NULL);
    for (i = 0; i < n_defs; i++) {
        const struct flag_def *d = &defs[i];
        const char *extra = NULL;
        if (d->type == FLAG_LIST)
            extra = "May be given several times; the first use replaces the default.";
        else if (d->type == FLAG_BOOL)
            extra = d->def != NULL && (strcmp(d->def, "true") == 0 || strcmp(d->def, "1") == 0)
                        ? "Default: true."
                        : "Default: false.";
        put_item(&o, NULL, d, d->help, extra);
    }
    put_item(&o, meta_version.term + strspn(meta_version.term, " "), NULL, meta_version.help, NULL);

    for (const struct flags_doc_section *s = prog->sections; s && s->title; s++) {
        put_raw(&o, ".SH");
        char title[FLAGS_MAN_NAME_MAX];
        for (i = 0; s->title[i] != '\0' && i + 1 < sizeof(title); i++)
            title[i] = s->title[i] >= 'a' && s->title[i] <= 'z' ? (char)(s->title[i] - 'a' + 'A')
                                                                : s->title[i];
        title[i] = '\0';
        put_arg(&o, title);
        put_raw(&o, "\n");
        if (s->intro != NULL)
            put_paragraphs(&o, s->intro, ".PP");
        for (const struct flags_doc_item *it = s->items; it && it->term; it++)
            put_item(&o, it->term, NULL, it->text, NULL);
    }

    if (prog->see_also != NULL && prog->see_also[0] != NULL) {
        put_raw(&o, ".SH \"SEE ALSO\"\n");
        for (const char *const *p = prog->see_also; *p; p++) {
            /* "prometheus(1)": the name in bold, the section in roman (.BR). */
            const char *paren = strchr(*p, '(');
            put_raw(&o, ".BR");
            if (paren != NULL) {
                char name[FLAGS_MAN_NAME_MAX];
                size_t len = (size_t)(paren - *p);
                if (len >= sizeof(name))
                    len = sizeof(name) - 1;
                memcpy(name, *p, len);
                name[len] = '\0';
                put_arg(&o, name);
                put_raw(&o, " \"");
                put_arg_text(&o, paren);
                put_raw(&o, p[1] ? ",\"\n" : "\"\n");
            } else {
                put_arg(&o, *p);
                put_raw(&o, p[1] ? " \",\"\n" : "\n");
            }
        }
    }

    if (prog->version != NULL) {
        put_raw(&o, ".SH VERSION\n");
        put_str(&o, "This page describes ");
        put_str(&o, prog->version);
        put_str(&o, ".");
        put_raw(&o, "\n");
    }
    return ferror(out) ? -EIO : 0;
}
