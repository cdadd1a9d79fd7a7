/* check.c - bench body format and response judging (see check.h).
 * Owner: pure functions; idvecs belong to their caller. */
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_PREFIX "# bench fqdn="

int check_parse_line(const char *body, size_t len, struct check_line *out)
{
    size_t plen = sizeof(LINE_PREFIX) - 1;
    const char *nl = memchr(body, '\n', len < CHECK_LINE_MAX ? len : CHECK_LINE_MAX);
    if (!nl || (size_t)(nl - body) < plen || memcmp(body, LINE_PREFIX, plen) != 0)
        return -EINVAL;
    const char *p = body + plen, *end = nl;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp || sp == p)
        return -EINVAL;
    out->fqdn = p;
    out->fqdn_len = (size_t)(sp - p);
    p = sp + 1;
    if (end - p < 3 || memcmp(p, "id=", 3) != 0)
        return -EINVAL;
    p += 3;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp || sp == p)
        return -EINVAL;
    out->id = p;
    out->id_len = (size_t)(sp - p);
    p = sp + 1;
    if (end - p < 5 || memcmp(p, "len=", 4) != 0)
        return -EINVAL;
    p += 4;
    uint64_t n = 0;
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9' && p - d < 19)
        n = n * 10 + (uint64_t)(*p++ - '0');
    if (p == d)
        return -EINVAL;
    while (p < end && *p == ' ')
        p++;
    if (p != end)
        return -EINVAL;
    out->len = n;
    return 0;
}

int check_write_line(char *out, size_t cap, const char *fqdn, const char *id, size_t id_len,
                     uint64_t body_bytes, uint64_t *total)
{
    /* The length field has a fixed width so the line's length does not depend on it. */
    int n = snprintf(out, cap, LINE_PREFIX "%s id=%.*s len=", fqdn, (int)id_len, id);
    if (n < 0 || (size_t)n + 10 + CHECK_FILLER_LINE + 1 >= cap || n + 11 >= CHECK_LINE_MAX)
        return -E2BIG;
    size_t line = (size_t)n + 10 + 1; /* digits and '\n' */
    size_t pad = 0;
    uint64_t t = line;
    if (body_bytes > line) {
        pad = (size_t)((body_bytes - line) % CHECK_FILLER_LINE);
        t = body_bytes;
    }
    snprintf(out + n, cap - (size_t)n, "%010llu", (unsigned long long)t);
    memset(out + n + 10, ' ', pad);
    out[n + 10 + pad] = '\n';
    *total = t;
    return (int)(line + pad);
}

void check_fill(char *out, size_t len)
{
    char line[CHECK_FILLER_LINE + 1];
    for (size_t off = 0, i = 0; off + CHECK_FILLER_LINE <= len; off += CHECK_FILLER_LINE, i++) {
        int n = snprintf(line, sizeof(line), "bench_filler_metric{series=\"%06zu\"} %zu",
                         i % 1000000, i * 7919 % 100000);
        memset(line + n, ' ', (size_t)(CHECK_FILLER_LINE - 1 - n));
        line[CHECK_FILLER_LINE - 1] = '\n';
        memcpy(out + off, line, CHECK_FILLER_LINE);
    }
}

enum check_result check_response(const char *want_fqdn, int status, const char *body,
                                 size_t body_len, uint64_t min_len, uint64_t *id_hash)
{
    static const char timeout_prefix[] = "Error scraping";
    if (status != 200) {
        if (status == 500 && body_len >= sizeof(timeout_prefix) - 1 &&
            memcmp(body, timeout_prefix, sizeof(timeout_prefix) - 1) == 0)
            return CHECK_TIMEOUT;
        return CHECK_STATUS;
    }
    struct check_line ln;
    if (check_parse_line(body, body_len, &ln) != 0)
        return CHECK_BODY;
    if (strlen(want_fqdn) != ln.fqdn_len || memcmp(want_fqdn, ln.fqdn, ln.fqdn_len) != 0)
        return CHECK_MISROUTED;
    if (ln.len != body_len || body_len < min_len)
        return CHECK_BODY;
    *id_hash = check_id_hash(ln.id, ln.id_len);
    return CHECK_OK;
}

const char *check_result_name(enum check_result r)
{
    switch (r) {
    case CHECK_OK: return "ok";
    case CHECK_STATUS: return "status";
    case CHECK_TIMEOUT: return "timeout";
    case CHECK_MISROUTED: return "misrouted";
    case CHECK_BODY: return "body";
    }
    return "unknown";
}

uint64_t check_id_hash(const char *id, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

int idvec_push(struct idvec *iv, uint64_t h)
{
    return idvec_append(iv, &h, 1);
}

int idvec_append(struct idvec *dst, const uint64_t *v, size_t n)
{
    if (dst->len + n > dst->cap) {
        size_t cap = dst->cap ? dst->cap : 1024;
        while (cap < dst->len + n)
            cap *= 2;
        uint64_t *nv = realloc(dst->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        dst->v = nv;
        dst->cap = cap;
    }
    if (n)
        memcpy(dst->v + dst->len, v, n * sizeof(*v));
    dst->len += n;
    return 0;
}

void idvec_close(struct idvec *iv)
{
    free(iv->v);
    iv->v = NULL;
    iv->len = iv->cap = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void idvec_sort(struct idvec *iv)
{
    if (iv->len > 1)
        qsort(iv->v, iv->len, sizeof(*iv->v), cmp_u64);
}

uint64_t check_idvec_dups(const struct idvec *s)
{
    uint64_t d = 0;
    for (size_t i = 1; i < s->len; i++)
        if (s->v[i] == s->v[i - 1])
            d++;
    return d;
}

uint64_t check_idvec_missing(const struct idvec *a, const struct idvec *b)
{
    uint64_t miss = 0;
    size_t j = 0;
    for (size_t i = 0; i < a->len; i++) {
        while (j < b->len && b->v[j] < a->v[i])
            j++;
        if (j == b->len || b->v[j] != a->v[i])
            miss++;
    }
    return miss;
}
