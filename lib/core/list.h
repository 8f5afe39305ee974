/*
 * list - intrusive doubly-linked lists.
 *
 * Embed a `struct list_node` in your struct and link it into a
 * `struct list_node` head; LIST_ENTRY gets the container back.  No
 * allocation happens here, so removal and insertion cannot fail.
 * An empty list's head points to itself.
 */
#ifndef POSTERN_LIST_H
#define POSTERN_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

#define LIST_ENTRY(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))

/* Iterate; the body may unlink `node` (the next one is saved first). */
#define LIST_FOREACH(node, tmp, head)                                  \
	for ((node) = (head)->next, (tmp) = (node)->next; (node) != (head); \
	     (node) = (tmp), (tmp) = (node)->next)

static inline void list_init(struct list_node *head)
{
	head->prev = head->next = head;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

static inline void list_insert_between(struct list_node *n,
				       struct list_node *prev,
				       struct list_node *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
	list_insert_between(n, head->prev, head);
}

static inline void list_push_front(struct list_node *head, struct list_node *n)
{
	list_insert_between(n, head, head->next);
}

/* Unlink n; n is left pointing to itself so a second remove is harmless. */
static inline void list_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* First node or NULL when empty. */
static inline struct list_node *list_first(const struct list_node *head)
{
	return list_empty(head) ? NULL : head->next;
}

size_t list_count(const struct list_node *head);

#endif
