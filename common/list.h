/* list.h - intrusive doubly linked lists, as the Linux kernel's list_head and libuv's queue.
 *
 * A struct list is both the head of a list and the link a member embeds; an empty head
 * and an unlinked member point at themselves. Members are found from their links with
 * list_entry() (container_of). Every operation is O(1), allocates nothing and can't fail.
 * A zeroed link (a memset struct) counts as unlinked, so objects need not initialise
 * links they never use; list_remove() on an unlinked member does nothing.
 *
 * Ownership: a list and its members belong to whoever owns the head; nothing is locked. */
#ifndef PUSHPROX_LIST_H
#define PUSHPROX_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

#define list_entry(link, type, member) ((type *)((char *)(link)-offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

/* Whether a member's link is on some list. */
static inline bool list_linked(const struct list *link)
{
    return link->next != NULL && link->next != link;
}

static inline void list_insert_before(struct list *at, struct list *link)
{
    link->prev = at->prev;
    link->next = at;
    at->prev->next = link;
    at->prev = link;
}

/* Appends link at the end (the newest). */
static inline void list_push_back(struct list *head, struct list *link)
{
    list_insert_before(head, link);
}

/* Puts link first. */
static inline void list_push_front(struct list *head, struct list *link)
{
    list_insert_before(head->next, link);
}

/* Unlinks a member; it may be linked again, or removed again (a no-op). */
static inline void list_remove(struct list *link)
{
    if (!list_linked(link))
        return;
    link->prev->next = link->next;
    link->next->prev = link->prev;
    list_init(link);
}

/* The first (oldest) and last links, or NULL when the list is empty. */
static inline struct list *list_first(const struct list *head)
{
    return list_empty(head) ? NULL : head->next;
}

static inline struct list *list_last(const struct list *head)
{
    return list_empty(head) ? NULL : head->prev;
}

/* Unlinks and returns the first link, or NULL. */
static inline struct list *list_pop_front(struct list *head)
{
    struct list *l = list_first(head);
    if (l)
        list_remove(l);
    return l;
}

/* Moves every member of src, in order, to dst, which must be empty; src is left empty. */
static inline void list_take_all(struct list *dst, struct list *src)
{
    list_init(dst);
    if (list_empty(src))
        return;
    dst->next = src->next;
    dst->prev = src->prev;
    dst->next->prev = dst;
    dst->prev->next = dst;
    list_init(src);
}

/* Iterates over links; `pos` may be removed in the body (`tmp` holds the next one). */
#define list_for_each_safe(pos, tmp, head)                                                         \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
