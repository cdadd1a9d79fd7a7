/* buf.c - bounded byte buffers (see buf.h).
 * Owner: a buf belongs to whoever embeds it; nothing here is shared or locked.
 * Life: buf_init() (or a zeroed struct), then buf_close() or buf_steal(). */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small buffers start at this size so a few short appends don't each realloc. */
#define BUF_MIN_CAP 256

void buf_init(struct buf *b, size_t max)
{
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_close(struct buf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Grows cap to hold len + n bytes: doubling (at least BUF_MIN_CAP) but never past max.
 * max == 0 forbids growth. Returns 0, -E2BIG (nothing changed) or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n)
{
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX - b->len)
        return -E2BIG;
    size_t need = b->len + n;
    if (need > b->max)
        return -E2BIG;
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need && cap <= SIZE_MAX / 2)
        cap *= 2;
    if (cap < need)
        cap = need;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->base, cap);
    if (p == NULL)
        return -ENOMEM;
    b->base = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->base + b->len, data, n);
    b->len += n;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Formats straight into the free room; if it does not fit, grows once to the exact size
 * vsnprintf reported and formats again. len only moves on success, so a failed call
 * leaves the data as it was (the terminating NUL vsnprintf writes lies past len). */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? b->base + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    /* +1 for the NUL vsnprintf insists on writing. */
    int rc = buf_reserve(b, (size_t)n + 1);
    size_t limit = b->cap > b->max ? b->cap : b->max;
    if (rc == -E2BIG && (size_t)n <= limit - b->len) {
        /* The text fits exactly but its NUL does not: format into a scratch copy. */
        char *tmp = malloc((size_t)n + 1);
        if (tmp == NULL)
            return -ENOMEM;
        va_copy(ap2, ap);
        vsnprintf(tmp, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        rc = buf_append(b, tmp, (size_t)n);
        free(tmp);
        return rc;
    }
    if (rc < 0)
        return rc;
    va_copy(ap2, ap);
    vsnprintf(b->base + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

char *buf_steal(struct buf *b)
{
    char *p = b->base;
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
