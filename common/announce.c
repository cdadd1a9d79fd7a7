/* announce.c - a client's labels and exporters, written and read (see announce.h).
 * No state. */
#include "announce.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool announce_label_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > ANNOUNCE_LABEL_NAME_MAX || (len >= 2 && name[0] == '_' && name[1] == '_'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Whether s is well-formed UTF-8 with no NUL or other control character. */
static bool utf8_text(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return false;
        for (size_t k = 1; k <= n; k++)
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return false;
        /* Overlong 3- and 4-byte forms, surrogates and code points past U+10FFFF. */
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return false;
        i += n + 1;
    }
    return true;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int announce_add_label(struct buf *out, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc;

    if (!announce_label_name_valid(name, name_len) || value_len > ANNOUNCE_LABEL_VALUE_MAX ||
        !utf8_text((const unsigned char *)value, value_len))
        return -EINVAL;
    if ((out->len && (rc = buf_append(out, ",", 1)) != 0) ||
        (rc = buf_append(out, name, name_len)) != 0 || (rc = buf_append(out, "=", 1)) != 0)
        return rc;
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if ((rc = unreserved(c) ? buf_append(out, &value[i], 1) : buf_append(out, enc, 3)) != 0)
            return rc;
    }
    return out->len > ANNOUNCE_HEADER_MAX ? -E2BIG : 0;
}

static bool path_valid(const char *path, size_t len)
{
    if (len == 0 || len > ANNOUNCE_PATH_MAX || path[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!unreserved((unsigned char)path[i]) && path[i] != '/')
            return false;
    return true;
}

/* Appends one exporter, after a comma unless first. */
static int add_exporter(struct buf *out, bool first, int port, const char *path, size_t path_len)
{
    int rc;

    if (port < 1 || port > 65535 || (path_len && !path_valid(path, path_len)))
        return -EINVAL;
    if ((rc = buf_printf(out, "%s%d", first ? "" : ",", port)) != 0 ||
        (path_len && (rc = buf_append(out, path, path_len)) != 0))
        return rc;
    return 0;
}

int announce_add_exporter(struct buf *out, int port, const char *path, size_t path_len)
{
    int rc = add_exporter(out, out->len == 0, port, path, path_len);
    return rc ? rc : out->len > ANNOUNCE_HEADER_MAX ? -E2BIG : 0;
}

int announce_json_escape(struct buf *out, const char *s, size_t len)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = buf_printf(out, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(out, "\\u%04x", c);
        else
            rc = buf_append(out, &s[i], 1);
    }
    return rc;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *announce_labels_to_json(const char *value, size_t len, const char *prefix, bool lead,
                                    struct buf *out)
{
    char name[ANNOUNCE_LABEL_NAME_MAX + 1], val[ANNOUNCE_LABEL_VALUE_MAX];
    /* The names seen so far: a name twice would be a JSON object's key twice in /clients,
     * which http_sd readers take differently (Prometheus keeps the last, others refuse). */
    const char *seen[ANNOUNCE_MAX_LABELS];
    size_t seen_len[ANNOUNCE_MAX_LABELS];
    size_t pos = 0;
    unsigned n = 0;

    if (len > ANNOUNCE_HEADER_MAX)
        return "labels header longer than ANNOUNCE_HEADER_MAX";
    while (pos < len) {
        const char *elem = value + pos, *end = memchr(elem, ',', len - pos), *eq;
        size_t elen = end ? (size_t)(end - elem) : len - pos, nlen, vlen = 0;
        pos += elen + (end ? 1 : 0);
        /* Surrounding spaces, as after a comma in a hand-written header. */
        while (elen && *elem == ' ')
            elem++, elen--;
        while (elen && elem[elen - 1] == ' ')
            elen--;
        if (elen == 0)
            continue;
        if (++n > ANNOUNCE_MAX_LABELS)
            return "more labels than ANNOUNCE_MAX_LABELS (32)";
        if (!(eq = memchr(elem, '=', elen)))
            return "a label without '=' (want name=value)";
        nlen = (size_t)(eq - elem);
        if (!announce_label_name_valid(elem, nlen))
            return "a label name that is not [a-zA-Z_][a-zA-Z0-9_]* (up to 64 bytes, not "
                   "starting with __)";
        for (unsigned i = 0; i + 1 < n; i++)
            if (seen_len[i] == nlen && memcmp(seen[i], elem, nlen) == 0)
                return "a label name twice";
        seen[n - 1] = elem;
        seen_len[n - 1] = nlen;
        memcpy(name, elem, nlen);
        name[nlen] = '\0';
        for (const char *p = eq + 1; p < elem + elen; p++) {
            int hi, lo;
            if (vlen == sizeof(val))
                return "a label value longer than ANNOUNCE_LABEL_VALUE_MAX (256) bytes";
            if (*p != '%') {
                val[vlen++] = *p;
                continue;
            }
            if (p + 2 >= elem + elen || (hi = hex_digit(p[1])) < 0 || (lo = hex_digit(p[2])) < 0)
                return "a label value with a bad percent escape";
            val[vlen++] = (char)(hi << 4 | lo);
            p += 2;
        }
        if (!utf8_text((const unsigned char *)val, vlen))
            return "a label value that is not UTF-8 text";
        if (out && (buf_printf(out, "%s\"%s%s\":\"", lead || n > 1 ? "," : "", prefix, name) != 0 ||
                    announce_json_escape(out, val, vlen) != 0 || buf_append(out, "\"", 1) != 0))
            return "labels too large";
    }
    return NULL;
}

bool announce_exporters_next(const char *list, size_t len, size_t *pos, int *port,
                             const char **path, size_t *path_len)
{
    const char *elem, *end, *slash;
    size_t elen;
    int v = 0;

    if (*pos >= len)
        return false;
    elem = list + *pos;
    end = memchr(elem, ',', len - *pos);
    elen = end ? (size_t)(end - elem) : len - *pos;
    *pos += elen + (end ? 1 : 0);
    slash = memchr(elem, '/', elen);
    for (const char *p = elem; p < (slash ? slash : elem + elen); p++)
        v = v * 10 + (*p - '0');
    *port = v;
    *path = slash;
    *path_len = slash ? (size_t)(elem + elen - slash) : 0;
    return true;
}

const char *announce_exporters_normalize(const char *value, size_t len, struct buf *out)
{
    size_t pos = 0;
    unsigned n = 0;

    if (len > ANNOUNCE_HEADER_MAX)
        return "exporters header longer than ANNOUNCE_HEADER_MAX";
    while (pos < len) {
        const char *elem = value + pos, *end = memchr(elem, ',', len - pos), *slash;
        size_t elen = end ? (size_t)(end - elem) : len - pos, digits;
        long port = 0;
        pos += elen + (end ? 1 : 0);
        while (elen && *elem == ' ')
            elem++, elen--;
        while (elen && elem[elen - 1] == ' ')
            elen--;
        if (elen == 0)
            continue;
        if (++n > ANNOUNCE_MAX_EXPORTERS)
            return "more exporters than ANNOUNCE_MAX_EXPORTERS (32)";
        slash = memchr(elem, '/', elen);
        digits = slash ? (size_t)(slash - elem) : elen;
        if (digits == 0 || digits > 5)
            return "an exporter without a port (want PORT or PORT/PATH)";
        for (size_t i = 0; i < digits; i++) {
            if (elem[i] < '0' || elem[i] > '9')
                return "an exporter port that is not a number";
            port = port * 10 + (elem[i] - '0');
        }
        if (add_exporter(out, n == 1, (int)port, slash, slash ? elen - digits : 0) != 0)
            return "an exporter with a port outside 1..65535 or a path that is not "
                   "/[A-Za-z0-9/._~-]* (up to 256 bytes)";
    }
    return NULL;
}
