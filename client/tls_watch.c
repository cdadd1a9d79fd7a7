/* tls_watch.c - re-reading the client's certificate when it changes (see tls_watch.h).
 * Owner: the client's loop; cl->proxy_tls is swapped here and read by each new poll and
 * push when it starts. */
#include "tls_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static void on_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr);
static void on_settled(uv_timer_t *t);
static void on_poll_closed(uv_handle_t *h);

int tls_watch_start(struct tls_watch *w, struct client *cl)
{
    const char *paths[3] = {cl->f->tls_cert, cl->f->tls_key, cl->f->tls_cacert};
    int rc;

    memset(w, 0, sizeof(*w));
    w->cl = cl;
    w->reload_ok = 1;
    w->reload_ok_time_s = (uint64_t)time(NULL);
    if ((rc = uv_timer_init(cl->loop, &w->settle)) != 0)
        return rc;
    w->settle.data = w;
    if (!cl->proxy_tls)
        return 0;
    for (unsigned i = 0; i < 3; i++) {
        if (!paths[i] || !paths[i][0])
            continue;
        uv_fs_poll_t *p = &w->polls[w->n];
        if ((rc = uv_fs_poll_init(cl->loop, p)) != 0)
            return rc;
        p->data = w;
        if ((rc = uv_fs_poll_start(p, on_changed, paths[i], TLS_WATCH_INTERVAL_MS)) != 0) {
            uv_close((uv_handle_t *)p, NULL);
            return rc;
        }
        w->n++;
    }
    return 0;
}

void tls_watch_stop(struct tls_watch *w)
{
    for (unsigned i = 0; i < w->n; i++)
        uv_close((uv_handle_t *)&w->polls[i], on_poll_closed);
    w->n = 0;
    if (!uv_is_closing((uv_handle_t *)&w->settle))
        uv_close((uv_handle_t *)&w->settle, NULL);
}

static void on_poll_closed(uv_handle_t *h)
{
}

int tls_watch_reload(struct tls_watch *w)
{
    struct client *cl = w->cl;
    const struct client_flags *f = cl->f;
    struct tls_client_opts o = {
        .cacert = f->tls_cacert, .cert = f->tls_cert, .key = f->tls_key, .what = "--tls"};
    char err[TLS_ERR_MAX];
    struct tls_conf *fresh = tls_conf_new_client(&o, err, sizeof(err));

    if (!fresh) {
        log_error("tls", "certificate reload refused: the configuration in force stays",
                  LOG_STR("err", err));
        w->reload_ok = 0;
        return -EINVAL;
    }
    /* Connections in use hold their own reference to the old configuration. */
    tls_conf_unref(cl->proxy_tls);
    cl->proxy_tls = fresh;
    w->reload_ok = 1;
    w->reload_ok_time_s = (uint64_t)time(NULL);
    log_info("tls", "certificate reloaded", LOG_INT("expires", tls_conf_cert_not_after(fresh)));
    return 0;
}

static void on_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    struct tls_watch *w = h->data;
    uv_timer_start(&w->settle, on_settled, TLS_WATCH_SETTLE_MS, 0);
}

static void on_settled(uv_timer_t *t)
{
    tls_watch_reload(t->data);
}

int tls_watch_write_metrics(const struct tls_watch *w, struct buf *out)
{
    int rc = 0;

    if (!w->cl->proxy_tls)
        return 0;
    if (tls_conf_cert_not_after(w->cl->proxy_tls)) {
        rc = metrics_write_header(out, "pushprox_client_tls_certificate_expiry_timestamp_seconds",
                                  "gauge", "When the client certificate (--tls.cert) expires.");
        if (rc == 0)
            rc = metrics_write_sample(out,
                                      "pushprox_client_tls_certificate_expiry_timestamp_seconds",
                                      NULL, (double)tls_conf_cert_not_after(w->cl->proxy_tls));
    }
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_tls_last_reload_successful", "gauge",
                                  "Whether the last reload of the --tls.* files succeeded.");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_tls_last_reload_successful", NULL,
                                  (double)w->reload_ok);
    if (rc == 0)
        rc = metrics_write_header(out, "pushprox_client_tls_last_reload_success_timestamp_seconds",
                                  "gauge",
                                  "Unix time of the last successful load of the --tls.* files.");
    if (rc == 0)
        rc = metrics_write_sample(out, "pushprox_client_tls_last_reload_success_timestamp_seconds",
                                  NULL, (double)w->reload_ok_time_s);
    return rc;
}
