/* buf.h - bounded byte buffers.
 *
 * A buf is data, as HAProxy documents its buffers: `base` points at `cap` bytes of which
 * the first `len` hold data. The first two fields are laid out like a uv_buf_t's
 * (base, len), so buf_as_uv() costs nothing. Every append checks the buffer's own limit
 * `max` and returns -E2BIG past it; the caller turns that into an HTTP error and a log
 * line naming the limit. A zeroed struct buf is an empty, valid buffer with no limit
 * set (max == 0 means "cap may not grow"). */
#ifndef PUSHPROX_BUF_H
#define PUSHPROX_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <uv.h>

struct buf {
    char *base;
    size_t len;
    size_t cap;
    size_t max; /* the most cap may grow to; named by the caller's limit */
};

/* Sets an empty buffer that may grow to max bytes. Allocates nothing; can't fail. */
void buf_init(struct buf *b, size_t max);

/* Frees the storage; the buffer is empty and reusable afterwards. Accepts a zeroed buf. */
void buf_close(struct buf *b);

/* Makes room for at least n more bytes. Returns 0, -E2BIG past max, -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Appends n bytes. Returns 0, -E2BIG (nothing appended) or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);

/* printf-style append. Returns 0, -E2BIG (buffer unchanged) or -ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Drops the first n bytes (n <= len), keeping the rest. */
void buf_consume(struct buf *b, size_t n);

/* Empties the buffer but keeps its storage. */
static inline void buf_reset(struct buf *b)
{
    b->len = 0;
}

/* Hands the storage to the caller (who frees it with free()) and empties the buffer. */
char *buf_steal(struct buf *b);

static inline uv_buf_t buf_as_uv(const struct buf *b)
{
    return uv_buf_init(b->base, (unsigned int)b->len);
}

#endif
