/* flags.h - command-line flags from one table per binary.
 *
 * Each binary declares its flags once, in an X-macro file (proxy/flags.def):
 *
 *   FLAG(STR, web_listen_address, "web.listen-address", ":8080",
 *        "Address to listen on for proxy and client requests.")
 *
 * and gets from it a struct with one field per flag (FLAGS_STRUCT), the table that
 * flags_parse() reads (FLAGS_TABLE), and --help. Flags are given as --name=value or
 * --name value; booleans as --name, --name=true|false or --no-name. A LIST flag may be
 * given several times. Types and what a value looks like:
 *
 *   STR   any string                           char *
 *   INT   a decimal integer                    long long
 *   BOOL  true|false|1|0                       bool
 *   DUR   Prometheus-style duration: 0, 15s, 1m30s, 500ms, 2h, 1d   uint64_t, milliseconds
 *   SIZE  bytes: 4096, 64KiB, 64MiB, 1GiB (also KB/MB/GB = 1000^n)  uint64_t, bytes
 *   LIST  STR, repeatable                      struct flag_list
 *
 * A bad value or an unknown flag prints "prog: --name: "value": not a duration" (or
 * what is wrong) to stderr and exits with status 2, as node_exporter does (flags_parse;
 * flags_parse_args returns the same message instead, for tests and fuzzing). --help prints
 * every flag with its default and exits 0; --version prints the version line and exits 0.
 * As upstream's kingpin does, --help-long prints the long help (for these programs, which
 * have no subcommands: --help plus the description and the extra sections of
 * flags_program) and --help-man a man page in groff (man(7)) to stdout; both exit 0.
 * Strings in the parsed struct point into argv or the table's defaults and live as long
 * as the process; lists are allocated once and never freed. */
#ifndef PUSHPROX_FLAGS_H
#define PUSHPROX_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct flag_list {
    const char **items;
    size_t len;
};

typedef char *flag_STR;
typedef long long flag_INT;
typedef bool flag_BOOL;
typedef uint64_t flag_DUR;
typedef uint64_t flag_SIZE;
typedef struct flag_list flag_LIST;

enum flag_type { FLAG_STR, FLAG_INT, FLAG_BOOL, FLAG_DUR, FLAG_SIZE, FLAG_LIST };

struct flag_def {
    enum flag_type type;
    const char *name; /* without the leading "--" */
    const char *def;  /* default, as it would be typed; "" for none */
    const char *help;
    size_t offset; /* of the field in the binary's flags struct */
};

/* One entry of an extra section: a term ("HTTPS_PROXY", "SIGHUP") and what it does.
 * Paragraphs of text are separated by "\n\n". */
struct flags_doc_item {
    const char *term;
    const char *text;
};

/* A section of --help-long and of the man page after the flags ("Environment",
 * "Signals"): an optional paragraph, then items up to one whose term is NULL. */
struct flags_doc_section {
    const char *title; /* as --help-long prints it; the man page capitalises it */
    const char *intro; /* NULL for none */
    const struct flags_doc_item *items;
};

/* What the binary is, for --help, --help-long, --help-man and --version. Every field but
 * name may be NULL. */
struct flags_program {
    const char *name;    /* "pushprox-proxy" */
    const char *summary; /* one line under the usage line; the man page's NAME */
    const char *version; /* the --version text, without trailing newline */
    const char *source;  /* "pushprox-c 0.1.0": the man page's title line names it */
    /* What the program does, paragraphs separated by "\n\n" (--help-long, DESCRIPTION). */
    const char *description;
    /* Extra sections, up to one whose title is NULL. */
    const struct flags_doc_section *sections;
    /* Related man pages, "prometheus(1)", up to a NULL (SEE ALSO). */
    const char *const *see_also;
};

/* Expands a flags.def into struct members / table rows. */
#define FLAGS_STRUCT_MEMBER(type, field, name, def, help) flag_##type field;
#define FLAGS_TABLE_ROW(stype, type, field, name, def, help)                                       \
    {FLAG_##type, name, def, help, offsetof(stype, field)},

/* Longest error message of flags_parse_args(), with its NUL; longer ones are cut. */
#define FLAGS_ERR_MAX 512

/* What the command line asks for besides running: flags_parse_args() stops at the first
 * --help/-h, --help-long, --help-man or --version, as flags_parse() exits there. */
enum flags_request { FLAGS_RUN = 0, FLAGS_HELP, FLAGS_VERSION, FLAGS_HELP_LONG, FLAGS_HELP_MAN };

/* Sets every flag to its default, then applies argv (argv[0] is the program and is
 * skipped). Returns 0 with *req saying which request (enum flags_request) came first, or -EINVAL
 * (a bad value or default, an unknown flag, a missing value, a positional argument) with
 * err holding a message that names the flag and the value, as flags_parse() prints it
 * after "prog: ". Never exits and never writes to stdout or stderr. The fields of dst may
 * be partly set on error. List storage is kept until flags_free_lists(). */
int flags_parse_args(const struct flag_def *defs, size_t n_defs, void *dst, int argc, char **argv,
                     enum flags_request *req, char *err, size_t err_cap);

/* Frees every list flags_parse_args() has allocated; lists of structs it filled are
 * dangling afterwards. For tests and fuzzing, which parse many times; the binaries parse
 * once and keep their lists for the life of the process. */
void flags_free_lists(void);

/* flags_parse_args() for a binary's main(): returns 0 when all parsed. Exits the process
 * on --help, --help-long, --help-man and --version (status 0, the text on stdout; status 1
 * if stdout cannot be written) and on any bad input (status 2, "prog: <message>" on
 * stderr). */
int flags_parse(const struct flag_def *defs, size_t n_defs, void *dst,
                const struct flags_program *prog, int argc, char **argv);

/* Writes --help to stdout. */
void flags_usage(const struct flag_def *defs, size_t n_defs, const struct flags_program *prog);

/* Writes --help (long false) or --help-long (long true) to out. Returns 0, or -EIO when
 * out reports an error. */
int flags_write_usage(FILE *out, const struct flag_def *defs, size_t n_defs,
                      const struct flags_program *prog, bool long_help);

/* Writes --help-man to out: a man page (section 1) with NAME, SYNOPSIS, DESCRIPTION,
 * OPTIONS (every flag of the table and the meta flags, each with its default, as --help
 * shows them), the program's extra sections, SEE ALSO and VERSION. Text is escaped for
 * roff: backslashes, hyphens (so options render as ASCII minus signs and can be copied),
 * apostrophes, backquotes, '^' and '~' (roff would typeset them), a '.' or a space that
 * would start a line, '"' in macro arguments, and characters beyond ASCII (\[uXXXX]).
 * Returns 0, or -EIO when out reports an error. */
int flags_write_man(FILE *out, const struct flag_def *defs, size_t n_defs,
                    const struct flags_program *prog);

/* Parsers behind flags_parse, usable on their own. Return 0 or -EINVAL. */
int flags_parse_duration(const char *s, uint64_t *ms);
int flags_parse_size(const char *s, uint64_t *bytes);
int flags_parse_bool(const char *s, bool *out);

/* Splits "host:port" (":8080" means all addresses, "[::1]:80" IPv6) for uv_ip*_addr.
 * host gets "0.0.0.0" when empty. Returns 0 or -EINVAL. */
int flags_split_hostport(const char *s, char *host, size_t host_cap, int *port);

#endif
