/* dispatch.h - every message a worker receives, by type, to its handler: the receiver
 * given to each worker's inbox. */
#ifndef PROXY_DISPATCH_H
#define PROXY_DISPATCH_H

#include "msg.h"

/* An inbox_receive_cb: ctx is the receiving struct worker. Takes m. */
void dispatch_msg(void *ctx, struct msg *m);

#endif
