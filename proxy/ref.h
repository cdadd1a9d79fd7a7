/* ref.h - how one worker names another worker's object.
 *
 * Workers share no objects. A ref {worker, index, generation} names a connection's current
 * request or a scrape slot: the owner looks the index up and compares generations, so a
 * ref to something closed or reused since is seen to be stale and never touches the wrong
 * object. */
#ifndef PROXY_REF_H
#define PROXY_REF_H

#include <stdbool.h>
#include <stdint.h>

struct ref {
    uint16_t wk;
    uint32_t idx;
    uint32_t gen;
};

static inline bool ref_eq(struct ref a, struct ref b)
{
    return a.wk == b.wk && a.idx == b.idx && a.gen == b.gen;
}

#endif
