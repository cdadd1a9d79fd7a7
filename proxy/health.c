/* health.c - the health routes (see health.h). No state of its own: readiness is the
 * worker group's (every loop running, no drain begun), read with atomic loads. */
#include "health.h"

#include "conn.h"
#include "worker.h"

void health_on_healthy(struct conn *c)
{
    conn_release_head(c);
    conn_respond_text(c, 200, NULL, "pushprox-proxy is healthy.\n");
}

void health_on_ready(struct conn *c)
{
    const struct worker_group *g = worker_of(c)->group;

    conn_release_head(c);
    if (worker_group_ready(g))
        conn_respond_text(c, 200, NULL, "pushprox-proxy is ready.\n");
    else if (__atomic_load_n(&g->draining, __ATOMIC_ACQUIRE))
        conn_respond_text(c, 503, NULL, "pushprox-proxy is draining (shutting down).\n");
    else
        conn_respond_text(c, 503, NULL, "pushprox-proxy is starting.\n");
}
