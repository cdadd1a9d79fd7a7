/* clients.h - GET /clients: the FQDNs with a poll open or seen within
 * --registration.timeout, as Prometheus http_sd JSON, gathered from every shard. */
#ifndef PROXY_CLIENTS_H
#define PROXY_CLIENTS_H

#include "msg.h"

struct conn;
struct worker;

/* The route's handlers: a complete GET /clients on c (ask every shard), and c closing
 * before every shard answered (free what was gathered). */
void clients_on_request(struct conn *c);
void clients_on_cancel(struct conn *c);

/* Messages (msg.h). Each takes m. */
void clients_on_req(struct worker *wk, struct msg *m);
void clients_on_reply(struct worker *wk, struct msg *m);

#endif
