/* metrics_page.h - GET /metrics: the proxy's own metrics, summed over every worker. */
#ifndef PROXY_METRICS_PAGE_H
#define PROXY_METRICS_PAGE_H

#include "buf.h"

struct conn;
struct worker;

/* The route's handler: answers at once. */
void metrics_page_on_request(struct conn *c);

/* Writes the page as seen from wk (every worker of its group). Returns 0, or -E2BIG /
 * -ENOMEM from out. */
int metrics_page_write(struct worker *wk, struct buf *out);

#endif
