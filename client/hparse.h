/* hparse.h - http_parser_execute() plus one step common/http.c (as of this writing)
 * leaves out: when a head ends exactly at the end of the bytes given and the message has
 * no body (a GET, a "Content-Length: 0" answer), llhttp only reports the message complete
 * on its next execute call, which never comes if the peer has nothing more to send. One
 * zero-length llhttp_execute() lets it finish. Harmless once http.c does this itself. */
#ifndef PUSHPROX_HPARSE_H
#define PUSHPROX_HPARSE_H

#include "http.h"

static inline enum http_parse_result hparse_execute(struct http_parser *p, const char *data,
                                                    size_t len, size_t *used)
{
    enum http_parse_result r = http_parser_execute(p, data, len, used);
    if (r == HTTP_PARSE_MORE && p->head_done && !p->complete && !p->error_status) {
        llhttp_errno_t e = llhttp_execute(&p->ll, data + len, 0);
        if (e == HPE_PAUSED) {
            llhttp_resume(&p->ll);
            if (p->complete)
                return HTTP_PARSE_COMPLETE;
        }
    }
    return r;
}

#endif
