/* webconf.c - a listener's web configuration, loaded and shared (see webconf.h).
 * Owner: nobody writes a webconf after webconf_load(); its reference count is the only
 * field that changes, atomically. */
#include "webconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Bound of the headers block: five headers of at most a web config string each. */
#define WEBCONF_HEADERS_MAX_BYTES (8 * 4096)

int webconf_load(const char *path, struct webconf **out, char *err, size_t err_len)
{
    struct webconf *wc = calloc(1, sizeof(*wc));
    struct buf h;
    int rc;

    *out = NULL;
    if (!wc) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    wc->refs = 1;
    buf_init(&h, WEBCONF_HEADERS_MAX_BYTES);
    if (path && path[0]) {
        if (!(wc->path = strdup(path))) {
            rc = -ENOMEM;
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        if ((rc = webconfig_load(path, &wc->wc, err, err_len)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < wc->wc.n_headers; i++) {
        if ((rc = buf_printf(&h, "%s: %s\r\n", wc->wc.headers[i].name, wc->wc.headers[i].value)) !=
            0) {
            snprintf(err, err_len, "%s: http_server_config.headers too large", path);
            goto fail;
        }
    }
    wc->headers_len = h.len;
    wc->headers = h.len ? buf_steal(&h) : NULL;
    wc->auth = wc->wc.n_users > 0;
    *out = wc;
    return 0;
fail:
    buf_close(&h);
    webconf_unref(wc);
    return rc;
}

struct webconf *webconf_ref(struct webconf *wc)
{
    __atomic_add_fetch(&wc->refs, 1, __ATOMIC_RELAXED);
    return wc;
}

void webconf_unref(struct webconf *wc)
{
    if (!wc || __atomic_sub_fetch(&wc->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    webconfig_close(&wc->wc);
    free(wc->headers);
    free(wc->path);
    free(wc);
}
