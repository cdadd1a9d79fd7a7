/* tls_watch.h - the client's certificate rotation: --tls.cert, --tls.key and --tls.cacert
 * are watched (a Kubernetes secret volume swapping its ..data symlink, cert-manager or Vault
 * writing in place) and re-read when they change; the new configuration serves the next
 * connection to the proxy, and open connections go on with the old one until they close. A
 * broken file is refused with a log line and the old configuration stays.
 *
 * Owner: the client's loop. Life: tls_watch_start() once the proxy's TLS configuration
 * exists, tls_watch_stop() before the loop closes. */
#ifndef PUSHPROX_TLS_WATCH_H
#define PUSHPROX_TLS_WATCH_H

#include <stdint.h>
#include <uv.h>

#include "client.h"

/* How often the files are checked, and how long after a change the reload waits for the
 * rest of a certificate-and-key update to land. */
#define TLS_WATCH_INTERVAL_MS 2000
#define TLS_WATCH_SETTLE_MS 500

struct tls_watch {
    struct client *cl;
    uv_fs_poll_t polls[3];
    unsigned n;
    uv_timer_t settle;
    /* For /metrics. */
    uint64_t reload_ok;        /* 1 if the last reload succeeded */
    uint64_t reload_ok_time_s; /* Unix time of the last successful (re)load */
};

/* Watches the --tls.* files of cl (nothing to watch without them). Returns 0 or a UV_E*. */
int tls_watch_start(struct tls_watch *w, struct client *cl);
void tls_watch_stop(struct tls_watch *w);
/* Re-reads the files now (also on a change). Returns 0, or a negative errno (logged; the
 * configuration in force stays). */
int tls_watch_reload(struct tls_watch *w);
/* Appends the TLS metrics: the certificate's expiry and the reloads. */
int tls_watch_write_metrics(const struct tls_watch *w, struct buf *out);

#endif
