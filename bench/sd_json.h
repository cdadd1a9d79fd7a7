/* sd_json.h - a bounded reader of Prometheus http_sd JSON, the shape of the proxy's /clients:
 *
 *   [{"targets": ["c1.bench", ...], "labels": {"name": "value", ...}}, ...]
 *
 * One pass over the text, nothing allocated: each group (one object of the array) is read
 * into the reader's struct sd_json_group, its strings unescaped, and handed to the caller
 * before the next group is read; the reader also counts groups and targets.
 *
 * Accepted: exactly that shape, with either key absent or empty, in any order, any JSON
 * whitespace, and every JSON string escape (\uXXXX surrogate pairs become UTF-8; other
 * bytes of 0x80 and above pass through unchecked). Refused as malformed (-EINVAL): any
 * other key or value type (null included), a key twice in one group or a label name twice,
 * raw control characters in strings, \u0000, a lone surrogate, bytes after the array.
 * Refused as too big (-E2BIG): a string, or a group's targets, labels or bytes, past the
 * limits below. Either way the reader says where (err_offset) and why (err_msg).
 *
 * Owner: a reader belongs to its caller; nothing outlives one sd_json_read() but the
 * counts and the error. */
#ifndef BENCH_SD_JSON_H
#define BENCH_SD_JSON_H

#include <stddef.h>
#include <stdint.h>

/* One string, unescaped: a target is an fqdn[:port] (at most ~260 bytes), a label value
 * is short text; 4 KiB leaves room and keeps a hostile string from costing much. */
#define SD_JSON_STR_MAX_BYTES 4096
/* Targets in one group: the proxy lists one per group; other http_sd servers list more. */
#define SD_JSON_TARGETS_MAX 1024
/* Labels in one group: far above what service discovery attaches (a handful). */
#define SD_JSON_LABELS_MAX 64
/* Every unescaped string of one group with its NUL: bounds the group's storage. */
#define SD_JSON_GROUP_MAX_BYTES (64 * 1024)

/* A string in group->strs: NUL-terminated there, len excludes the NUL. */
struct sd_json_str {
    uint32_t off, len;
};

struct sd_json_label {
    struct sd_json_str name, value;
};

/* The group being read: valid during the callback only. */
struct sd_json_group {
    unsigned n_targets, n_labels;
    struct sd_json_str targets[SD_JSON_TARGETS_MAX];
    struct sd_json_label labels[SD_JSON_LABELS_MAX];
    size_t strs_len;
    char strs[SD_JSON_GROUP_MAX_BYTES];
};

/* Called once per group, in order. Returns 0 to go on, or a negative errno to stop reading
 * (sd_json_read() then returns it). */
typedef int (*sd_json_group_cb)(const struct sd_json_group *g, void *ctx);

struct sd_json {
    struct sd_json_group group;
    /* Counts of what was read, complete groups only. */
    uint64_t n_groups, n_targets;
    /* Set when sd_json_read() fails on the text: the byte offset of the defect, and a
     * static phrase naming it. NULL after a success. */
    size_t err_offset;
    const char *err_msg;
    /* The cursor (internal). */
    const char *text;
    size_t len, pos;
};

/* Reads len bytes of text (no NUL needed), calling on_group (NULL: none) for each group.
 * Returns 0; -EINVAL when the text is not the shape above, -E2BIG when it passes a limit
 * (r->err_offset and r->err_msg then say where and why); or the first negative value
 * on_group returned. r may be reused; it holds no resources. */
int sd_json_read(struct sd_json *r, const char *text, size_t len, sd_json_group_cb on_group,
                 void *ctx);

/* A string of g (NUL-terminated). */
static inline const char *sd_json_str(const struct sd_json_group *g, struct sd_json_str s)
{
    return g->strs + s.off;
}

#endif
