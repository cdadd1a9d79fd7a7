/* pool.h - a free list of objects of one size, for one thread (HAProxy's pools, without the
 * sharing between threads).
 *
 * Objects on a hot path (connections, heads, write requests) are taken from a pool and put
 * back instead of malloc'd and freed each time. A pool keeps at most max_free free objects;
 * beyond that, put frees. Built with -DNO_POOLS (the ASan builds), get and put are plain
 * malloc and free, so the sanitizers see every object's life.
 *
 * Ownership: a pool belongs to one thread and is never locked; an object goes back to the
 * pool it came from. */
#ifndef PUSHPROX_POOL_H
#define PUSHPROX_POOL_H

#include <stddef.h>

struct pool {
    void *free_head; /* free objects, linked through their first word */
    size_t n_free;
    size_t max_free;
    size_t obj_size;
};

/* Sets up an empty pool of objects of obj_size bytes (at least a pointer's size). Allocates
 * nothing; can't fail. */
void pool_init(struct pool *p, size_t obj_size, size_t max_free);
/* Frees every free object. Objects still out are the caller's to free. */
void pool_close(struct pool *p);
/* An object (contents undefined), or NULL when malloc fails. */
void *pool_get(struct pool *p);
/* Gives an object back. Accepts NULL. */
void pool_put(struct pool *p, void *obj);

#endif
