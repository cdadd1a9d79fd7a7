/* push.h - a client's push (the scrape's answer) on the worker that receives it (X). */
#ifndef PROXY_PUSH_H
#define PROXY_PUSH_H

#include "msg.h"

struct conn;
struct worker;

/* A complete POST /push on c: parse the pushed response, find its Id, hand it to the
 * scrape's worker, and wait for the verdict. */
void push_start(struct conn *c);
void push_on_result(struct worker *wk, struct msg *m);

#endif
