/* pool.c - per-thread free lists of same-sized objects (see pool.h).
 * Owner: a pool belongs to the one thread that gets from it and puts to it.
 * Life: pool_init(), then pool_close() once no object will come back. */
#include "pool.h"

#include <stdlib.h>

void pool_init(struct pool *p, size_t obj_size, size_t max_free)
{
    p->free_head = NULL;
    p->n_free = 0;
    p->max_free = max_free;
    p->obj_size = obj_size < sizeof(void *) ? sizeof(void *) : obj_size;
}

void pool_close(struct pool *p)
{
    while (p->free_head) {
        void *obj = p->free_head;
        p->free_head = *(void **)obj;
        free(obj);
    }
    p->n_free = 0;
}

void *pool_get(struct pool *p)
{
#ifndef NO_POOLS
    if (p->free_head) {
        void *obj = p->free_head;
        p->free_head = *(void **)obj;
        p->n_free--;
        return obj;
    }
#endif
    return malloc(p->obj_size);
}

void pool_put(struct pool *p, void *obj)
{
    if (!obj)
        return;
#ifndef NO_POOLS
    if (p->n_free < p->max_free) {
        *(void **)obj = p->free_head;
        p->free_head = obj;
        p->n_free++;
        return;
    }
#endif
    free(obj);
}
