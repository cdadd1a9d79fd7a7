/* stats.c - per-thread counters, merging and the pipe format (see stats.h).
 * Owner: a stats belongs to one thread; the pipe carries a fixed part then both Id vectors.
 * Life: stats_init() .. stats_close(). */
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof(*s));
    hist_init(&s->latency_ns);
}

void stats_close(struct stats *s)
{
    idvec_close(&s->pushed);
    idvec_close(&s->scraped);
}

int stats_merge(struct stats *dst, const struct stats *src)
{
    dst->scrapes_sent += src->scrapes_sent;
    dst->scrapes_ok += src->scrapes_ok;
    dst->scrapes_answered += src->scrapes_answered;
    dst->scrape_body_bytes += src->scrape_body_bytes;
    dst->scrapes_unsent += src->scrapes_unsent;
    dst->polls_sent += src->polls_sent;
    dst->polls_work += src->polls_work;
    dst->polls_expired += src->polls_expired;
    dst->pushes_sent += src->pushes_sent;
    dst->pushes_ok += src->pushes_ok;
    dst->connects_ok += src->connects_ok;
    dst->conns_opened_scrape += src->conns_opened_scrape;
    dst->conns_closed_extra += src->conns_closed_extra;
    dst->polls_wrong_host += src->polls_wrong_host;
    dst->handshakes_full += src->handshakes_full;
    dst->handshakes_resumed += src->handshakes_resumed;
    for (int i = 0; i < STATS_ERR_N; i++)
        dst->errors[i] += src->errors[i];
    hist_merge(&dst->latency_ns, &src->latency_ns);
    if (idvec_append(&dst->pushed, src->pushed.v, src->pushed.len) != 0 ||
        idvec_append(&dst->scraped, src->scraped.v, src->scraped.len) != 0)
        return -ENOMEM;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EPIPE;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The fixed part is the struct itself with the vector pointers meaningless; the receiver
 * is the same binary (a forked child), so the layout matches. */
int stats_write(int fd, const struct stats *s)
{
    int rc;
    if ((rc = write_all(fd, s, sizeof(*s))) != 0)
        return rc;
    if ((rc = write_all(fd, s->pushed.v, s->pushed.len * sizeof(uint64_t))) != 0)
        return rc;
    return write_all(fd, s->scraped.v, s->scraped.len * sizeof(uint64_t));
}

static int read_vec(int fd, struct idvec *iv, size_t n)
{
    iv->v = NULL;
    iv->len = iv->cap = 0;
    if (n == 0)
        return 0;
    iv->v = malloc(n * sizeof(uint64_t));
    if (!iv->v)
        return -ENOMEM;
    iv->cap = n;
    int rc = read_all(fd, iv->v, n * sizeof(uint64_t));
    if (rc == 0)
        iv->len = n;
    return rc;
}

int stats_read(int fd, struct stats *s)
{
    int rc = read_all(fd, s, sizeof(*s));
    if (rc != 0) {
        stats_init(s);
        return rc;
    }
    size_t np = s->pushed.len, ns = s->scraped.len;
    s->scraped.v = NULL;
    s->scraped.len = s->scraped.cap = 0;
    if ((rc = read_vec(fd, &s->pushed, np)) != 0)
        return rc;
    return read_vec(fd, &s->scraped, ns);
}

const char *stats_err_name(enum stats_err e)
{
    static const char *names[] = {
#define STATS_NAME(e, name, help) name,
        STATS_ERRORS(STATS_NAME)
#undef STATS_NAME
    };
    return (unsigned)e < STATS_ERR_N ? names[e] : "unknown";
}

const char *stats_err_help(enum stats_err e)
{
    static const char *helps[] = {
#define STATS_HELP(e, name, help) help,
        STATS_ERRORS(STATS_HELP)
#undef STATS_HELP
    };
    return (unsigned)e < STATS_ERR_N ? helps[e] : "";
}

uint64_t stats_fatal_errors(const struct stats *s)
{
    return s->errors[STATS_ERR_MISROUTED] + s->errors[STATS_ERR_LOST] +
           s->errors[STATS_ERR_DUPLICATE];
}

uint64_t stats_total_errors(const struct stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < STATS_ERR_N; i++)
        n += s->errors[i];
    return n;
}
