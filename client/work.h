/* work.h - a scrape instruction: the HTTP request a proxy hands over in a poll's answer.
 *
 * The body of a 200 answer to POST /poll is one serialized HTTP/1.1 request with an
 * absolute URI, an `Id` header and `X-Prometheus-Scrape-Timeout-Seconds`. work_parse()
 * checks it as far as it can without knowing the client: defects that make the request
 * unusable (not a request, no Id) are returned as errors; defects the proxy should hear
 * about (no timeout, a bad URL) are recorded in the work so the scrape pushes a 500. */
#ifndef PUSHPROX_WORK_H
#define PUSHPROX_WORK_H

#include <stdint.h>

#include "http.h"
#include "target.h"

/* Longest Id we echo back. Upstream's are UUIDs (36 characters); ours carry a little
 * routing information. 256 leaves room and keeps a garbled one out of the logs. */
#define WORK_ID_MAX 256
/* Largest body of a forwarded request (Prometheus sends none). */
#define WORK_BODY_MAX_BYTES (1024 * 1024)
/* Longest scrape timeout honoured. The proxy clamps to --scrape.max-timeout (5m); a
 * garbled huge value must not keep a scrape slot for days. */
#define WORK_TIMEOUT_MAX_MS (60ull * 60 * 1000)

struct work {
    struct http_head head; /* the forwarded request; its body in head.body */
    char id[WORK_ID_MAX];
    int64_t timeout_ms;      /* -1 when the header is missing or bad */
    const char *timeout_why; /* static text when timeout_ms is -1 */
    struct target target;
    const char *target_why; /* static text when the URL is unusable, else NULL */
};

/* Sets up an empty work. Allocates nothing; can't fail. */
void work_init(struct work *w);
void work_close(struct work *w);

/* Parses one poll answer's body into w. Returns 0, or -EINVAL with *why naming the
 * defect (static text). On 0, w->timeout_why and w->target_why may still say why the
 * scrape must be answered with a 500. */
int work_parse(struct work *w, const char *data, size_t len, const char **why);

#endif
