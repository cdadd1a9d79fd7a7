/* sd_json.c - the http_sd JSON reader (see sd_json.h).
 * Owner: the caller's struct sd_json; a recursive descent over a fixed shape (array, group,
 * string list, string map), so the depth is bounded by the grammar, not by the input.
 * Every function returns 0 or a negative errno and leaves the cursor past what it read. */
#include "sd_json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Room for the keys we look for ("targets", "labels"); a longer key is an unknown one. */
#define KEY_MAX_BYTES 16

static int fail(struct sd_json *r, int rc, const char *msg)
{
    r->err_offset = r->pos;
    r->err_msg = msg;
    return rc;
}

static void skip_ws(struct sd_json *r)
{
    while (r->pos < r->len) {
        char c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        r->pos++;
    }
}

/* Skips whitespace; then true, consuming it, if the next byte is c. */
static bool take(struct sd_json *r, char c)
{
    skip_ws(r);
    if (r->pos < r->len && r->text[r->pos] == c) {
        r->pos++;
        return true;
    }
    return false;
}

static int hex4(struct sd_json *r, unsigned *out)
{
    unsigned v = 0;

    if (r->len - r->pos < 4)
        return fail(r, -EINVAL, "\\u escape needs 4 hex digits");
    for (int i = 0; i < 4; i++) {
        char c = r->text[r->pos + (size_t)i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(r, -EINVAL, "\\u escape needs 4 hex digits");
        v = v << 4 | d;
    }
    r->pos += 4;
    *out = v;
    return 0;
}

/* After "\u": a code point, pairing surrogates; written as UTF-8 into out (4 bytes room).
 * Returns the byte count or a negative errno. */
static int unicode_escape(struct sd_json *r, char *out)
{
    unsigned cp, lo;
    int rc;

    if ((rc = hex4(r, &cp)) != 0)
        return rc;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(r, -EINVAL, "lone low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->len - r->pos < 2 || r->text[r->pos] != '\\' || r->text[r->pos + 1] != 'u')
            return fail(r, -EINVAL, "high surrogate without its low half");
        r->pos += 2;
        if ((rc = hex4(r, &lo)) != 0)
            return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(r, -EINVAL, "high surrogate without its low half");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return fail(r, -EINVAL, "\\u0000 in a string");
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at the cursor (after whitespace), unescaped into dst (cap bytes, NUL included;
 * at most SD_JSON_STR_MAX_BYTES before the NUL). *len gets its length without the NUL. */
static int read_string(struct sd_json *r, char *dst, size_t cap, size_t *len)
{
    size_t n = 0;
    char utf8[4];

    if (!take(r, '"'))
        return fail(r, -EINVAL, "expected a string");
    for (;;) {
        const char *piece;
        int piece_len;
        if (r->pos >= r->len)
            return fail(r, -EINVAL, "unterminated string");
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c == '"') {
            r->pos++;
            break;
        }
        if (c < 0x20)
            return fail(r, -EINVAL, "raw control character in a string");
        if (c != '\\') {
            piece = &r->text[r->pos++];
            piece_len = 1;
        } else {
            if (++r->pos >= r->len)
                return fail(r, -EINVAL, "unterminated string");
            char e = r->text[r->pos++];
            piece = utf8;
            piece_len = 1;
            switch (e) {
            case '"': utf8[0] = '"'; break;
            case '\\': utf8[0] = '\\'; break;
            case '/': utf8[0] = '/'; break;
            case 'b': utf8[0] = '\b'; break;
            case 'f': utf8[0] = '\f'; break;
            case 'n': utf8[0] = '\n'; break;
            case 'r': utf8[0] = '\r'; break;
            case 't': utf8[0] = '\t'; break;
            case 'u':
                if ((piece_len = unicode_escape(r, utf8)) < 0)
                    return piece_len;
                break;
            default: r->pos--; return fail(r, -EINVAL, "unknown escape in a string");
            }
        }
        if (n + (size_t)piece_len > SD_JSON_STR_MAX_BYTES)
            return fail(r, -E2BIG, "string longer than SD_JSON_STR_MAX_BYTES");
        if (n + (size_t)piece_len + 1 > cap)
            return fail(r, -E2BIG, "group's strings longer than SD_JSON_GROUP_MAX_BYTES");
        memcpy(dst + n, piece, (size_t)piece_len);
        n += (size_t)piece_len;
    }
    dst[n] = '\0';
    *len = n;
    return 0;
}

/* A string into the group's storage. */
static int read_group_string(struct sd_json *r, struct sd_json_str *out)
{
    struct sd_json_group *g = &r->group;
    size_t len;
    int rc;

    if ((rc = read_string(r, g->strs + g->strs_len, sizeof(g->strs) - g->strs_len, &len)) != 0)
        return rc;
    out->off = (uint32_t)g->strs_len;
    out->len = (uint32_t)len;
    g->strs_len += len + 1;
    return 0;
}

/* ["target", ...] */
static int read_targets(struct sd_json *r)
{
    struct sd_json_group *g = &r->group;
    int rc;

    if (!take(r, '['))
        return fail(r, -EINVAL, "\"targets\" is not an array");
    if (take(r, ']'))
        return 0;
    do {
        skip_ws(r);
        if (g->n_targets == SD_JSON_TARGETS_MAX)
            return fail(r, -E2BIG, "more targets in a group than SD_JSON_TARGETS_MAX");
        if ((rc = read_group_string(r, &g->targets[g->n_targets])) != 0)
            return rc;
        g->n_targets++;
    } while (take(r, ','));
    if (!take(r, ']'))
        return fail(r, -EINVAL, "expected , or ] in \"targets\"");
    return 0;
}

/* {"name": "value", ...} */
static int read_labels(struct sd_json *r)
{
    struct sd_json_group *g = &r->group;
    int rc;

    if (!take(r, '{'))
        return fail(r, -EINVAL, "\"labels\" is not an object");
    if (take(r, '}'))
        return 0;
    do {
        skip_ws(r);
        if (g->n_labels == SD_JSON_LABELS_MAX)
            return fail(r, -E2BIG, "more labels in a group than SD_JSON_LABELS_MAX");
        struct sd_json_label *l = &g->labels[g->n_labels];
        size_t name_at = r->pos;
        if ((rc = read_group_string(r, &l->name)) != 0)
            return rc;
        for (unsigned i = 0; i < g->n_labels; i++) {
            if (g->labels[i].name.len == l->name.len &&
                memcmp(sd_json_str(g, g->labels[i].name), sd_json_str(g, l->name), l->name.len) ==
                    0) {
                r->pos = name_at;
                return fail(r, -EINVAL, "label name twice in one group");
            }
        }
        if (!take(r, ':'))
            return fail(r, -EINVAL, "expected : after a label name");
        skip_ws(r);
        if (r->pos < r->len && r->text[r->pos] != '"')
            return fail(r, -EINVAL, "label value is not a string");
        if ((rc = read_group_string(r, &l->value)) != 0)
            return rc;
        g->n_labels++;
    } while (take(r, ','));
    if (!take(r, '}'))
        return fail(r, -EINVAL, "expected , or } in \"labels\"");
    return 0;
}

/* {"targets": [...], "labels": {...}} */
static int read_group(struct sd_json *r)
{
    struct sd_json_group *g = &r->group;
    bool seen_targets = false, seen_labels = false;
    char key[KEY_MAX_BYTES];
    int rc;

    g->n_targets = 0;
    g->n_labels = 0;
    g->strs_len = 0;
    if (!take(r, '{'))
        return fail(r, -EINVAL, "expected a group object");
    if (take(r, '}'))
        return 0;
    do {
        skip_ws(r);
        size_t key_at = r->pos, key_len;
        /* A key too long for the buffer is neither of ours. */
        if ((rc = read_string(r, key, sizeof(key), &key_len)) == -E2BIG) {
            r->pos = key_at;
            return fail(r, -EINVAL, "unknown key in a group");
        }
        if (rc != 0)
            return rc;
        if (!take(r, ':'))
            return fail(r, -EINVAL, "expected : after a key");
        bool *seen = strcmp(key, "targets") == 0  ? &seen_targets
                     : strcmp(key, "labels") == 0 ? &seen_labels
                                                  : NULL;
        if (!seen || *seen) {
            r->pos = key_at;
            return fail(r, -EINVAL, seen ? "key twice in one group" : "unknown key in a group");
        }
        *seen = true;
        if ((rc = seen == &seen_targets ? read_targets(r) : read_labels(r)) != 0)
            return rc;
    } while (take(r, ','));
    if (!take(r, '}'))
        return fail(r, -EINVAL, "expected , or } in a group");
    return 0;
}

int sd_json_read(struct sd_json *r, const char *text, size_t len, sd_json_group_cb on_group,
                 void *ctx)
{
    int rc;

    r->text = text;
    r->len = len;
    r->pos = 0;
    r->n_groups = 0;
    r->n_targets = 0;
    r->err_offset = 0;
    r->err_msg = NULL;
    if (!take(r, '['))
        return fail(r, -EINVAL, "expected an array of groups");
    if (!take(r, ']')) {
        do {
            if ((rc = read_group(r)) != 0)
                return rc;
            r->n_groups++;
            r->n_targets += r->group.n_targets;
            if (on_group && (rc = on_group(&r->group, ctx)) != 0)
                return rc;
        } while (take(r, ','));
        if (!take(r, ']'))
            return fail(r, -EINVAL, "expected , or ] after a group");
    }
    skip_ws(r);
    if (r->pos != r->len)
        return fail(r, -EINVAL, "bytes after the array");
    return 0;
}
