/* clients.h - GET /clients: the FQDNs with a poll open or seen within
 * --registration.timeout, as Prometheus http_sd JSON, gathered from every shard. */
#ifndef PROXY_CLIENTS_H
#define PROXY_CLIENTS_H

#include "msg.h"

struct conn;
struct worker;

void clients_start(struct conn *c);
void clients_on_req(struct worker *wk, struct msg *m);
void clients_on_reply(struct worker *wk, struct msg *m);
/* Frees what a /clients request gathered, if its connection closes first. */
void clients_cancel(struct conn *c);

#endif
