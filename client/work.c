/* work.c - parsing a scrape instruction from a poll's answer (see work.h).
 * Owner: the scrape that embeds the work; no shared state. */
#include "work.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void work_init(struct work *w)
{
    memset(w, 0, sizeof(*w));
    http_head_init(&w->head, WORK_BODY_MAX_BYTES);
    w->timeout_ms = -1;
}

void work_close(struct work *w)
{
    http_head_close(&w->head);
}

static int parse_timeout(const char *v, size_t len, int64_t *ms)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    char *end = NULL;
    double s = strtod(tmp, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (end == tmp || *end != '\0' || !isfinite(s) || s < 0)
        return -EINVAL;
    double m = s * 1000.0;
    *ms = m > (double)WORK_TIMEOUT_MAX_MS ? (int64_t)WORK_TIMEOUT_MAX_MS : (int64_t)m;
    return 0;
}

int work_parse(struct work *w, const char *data, size_t len, const char **why)
{
    struct http_parser p;
    size_t used = 0;

    http_parser_init(&p, HTTP_KIND_REQUEST, NULL, w);
    p.body_max_bytes = WORK_BODY_MAX_BYTES;
    http_parser_begin(&p, &w->head);
    w->id[0] = '\0';
    w->timeout_ms = -1;
    w->timeout_why = NULL;
    w->target_why = NULL;
    if (len == 0) {
        *why = "empty poll answer";
        return -EINVAL;
    }
    enum http_parse_result r = http_parser_execute(&p, data, len, &used);
    if (r == HTTP_PARSE_MORE)
        r = http_parser_finish(&p);
    if (r == HTTP_PARSE_ERROR) {
        *why = p.error_msg ? p.error_msg : "not an HTTP request";
        return -EINVAL;
    }
    if (r != HTTP_PARSE_COMPLETE) {
        *why = "truncated HTTP request";
        return -EINVAL;
    }
    size_t id_len = 0;
    const char *id = http_head_get(&w->head, "Id", &id_len);
    if (id == NULL || id_len == 0) {
        *why = "request has no Id header";
        return -EINVAL;
    }
    if (id_len >= WORK_ID_MAX) {
        *why = "request Id is too long";
        return -EINVAL;
    }
    for (size_t i = 0; i < id_len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= ' ' || c >= 0x7f) {
            *why = "request Id has a space or a non-ASCII byte";
            return -EINVAL;
        }
    }
    memcpy(w->id, id, id_len);
    w->id[id_len] = '\0';

    size_t t_len = 0;
    const char *t = http_head_get(&w->head, "X-Prometheus-Scrape-Timeout-Seconds", &t_len);
    if (t == NULL)
        w->timeout_why = "missing X-Prometheus-Scrape-Timeout-Seconds header";
    else if (parse_timeout(t, t_len, &w->timeout_ms) != 0)
        w->timeout_why = "bad X-Prometheus-Scrape-Timeout-Seconds header";

    const char *twhy = NULL;
    if (target_parse(http_head_str(&w->head, w->head.url_off), w->head.url_len, &w->target,
                     &twhy) != 0)
        w->target_why = twhy;
    return 0;
}
