/* flags.c - parses argv against a binary's flag table (see flags.h) and prints --help.
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

    if (flags_parse_args(defs, n_defs, dst, argc, argv, &req, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog->name, err);
        exit(2);
    }
    if (req == FLAGS_HELP) {
        flags_usage(defs, n_defs, prog);
        exit(0);
    }
    if (req == FLAGS_VERSION) {
        printf("%s\n", prog->version ? prog->version : "");
        exit(0);
    }
    return 0;
}

/* Writes the flag's left column ("      --name=DEFAULT") and returns its width. */
static int print_flag_name(FILE *out, const struct flag_def *d)
{
    const char *def = d->def != NULL ? d->def : "";
    if (d->type == FLAG_BOOL)
        return fprintf(out, "      --[no-]%s", d->name);
    if (def[0] == '\0') {
        /* kingpin's placeholder for a flag without default: its name in capitals. */
        int n = fprintf(out, "      --%s=", d->name);
        for (const char *p = d->name; *p; p++)
            fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, out);
        return n + (int)strlen(d->name);
    }
    if (d->type == FLAG_STR || d->type == FLAG_LIST) {
        int n = fprintf(out, "      --%s=\"", d->name);
        for (const char *p = def; *p; p++) {
            if (*p == '"' || *p == '\\') {
                fputc('\\', out);
                n++;
            }
            fputc(*p, out);
            n++;
        }
        fputc('"', out);
        return n + 1;
    }
    return fprintf(out, "      --%s=%s", d->name, def);
}

static void print_help_text(FILE *out, int width, const char *help, const char *extra)
{
    if (width < FLAGS_HELP_COLUMN - 1)
        fprintf(out, "%*s", FLAGS_HELP_COLUMN - width, "");
    else
        fprintf(out, "\n%*s", FLAGS_HELP_COLUMN, "");
    fprintf(out, "%s%s\n", help ? help : "", extra);
}

void flags_usage(const struct flag_def *defs, size_t n_defs, const struct flags_program *prog)
{
    FILE *out = stdout;
    fprintf(out, "usage: %s [<flags>]\n\n", prog->name);
    if (prog->summary != NULL && prog->summary[0] != '\0')
        fprintf(out, "%s\n\n", prog->summary);
    fprintf(out, "Flags:\n");
    int w = fprintf(out, "  -h, --[no-]help");
    print_help_text(out, w, "Show context-sensitive help.", "");
    for (size_t i = 0; i < n_defs; i++) {
        const struct flag_def *d = &defs[i];
        /* Flags always put their help on the next line, so a script can read name and
         * default from one line and help from the next. */
        print_flag_name(out, d);
        print_help_text(out, FLAGS_HELP_COLUMN, d->help,
                        d->type == FLAG_LIST ? " (repeatable)" : "");
    }
    w = fprintf(out, "      --[no-]version");
    print_help_text(out, w, "Show application version.", "");
    fflush(out);
}
