/* push.h - a client's push (the scrape's answer) on the worker that receives it (X): the
 * handler of POST /push. */
#ifndef PROXY_PUSH_H
#define PROXY_PUSH_H

#include "msg.h"

struct conn;
struct worker;

/* The route's handler: a complete POST /push on c. Parses the pushed response, finds its
 * Id, hands it to the scrape's worker and waits for the verdict. */
void push_on_request(struct conn *c);
/* The verdict (msg.h). Takes m. */
void push_on_result(struct worker *wk, struct msg *m);

#endif
