#include "array.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct array {
	void **items;
	size_t len, cap;
};

struct array *array_new(void)
{
	return xcalloc(1, sizeof(struct array));
}

void array_free(struct array **ap)
{
	if (*ap == NULL)
		return;
	free((*ap)->items);
	free(*ap);
	*ap = NULL;
}

void array_free_with(struct array **ap, void (*free_fn)(void *))
{
	if (*ap == NULL)
		return;
	for (size_t i = 0; i < (*ap)->len; i++)
		free_fn((*ap)->items[i]);
	array_free(ap);
}

size_t array_len(const struct array *a)
{
	return a->len;
}

void *array_get(const struct array *a, size_t i)
{
	return i < a->len ? a->items[i] : NULL;
}

void array_set(struct array *a, size_t i, void *elem)
{
	if (i < a->len)
		a->items[i] = elem;
}

void array_push(struct array *a, void *elem)
{
	if (a->len == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->items = xreallocarray(a->items, a->cap, sizeof(void *));
	}
	a->items[a->len++] = elem;
}

void *array_pop(struct array *a)
{
	return a->len ? a->items[--a->len] : NULL;
}

void array_remove(struct array *a, size_t i)
{
	if (i >= a->len)
		return;
	memmove(&a->items[i], &a->items[i + 1],
		(a->len - i - 1) * sizeof(void *));
	a->len--;
}

void array_clear(struct array *a)
{
	a->len = 0;
}

void array_sort(struct array *a, int (*cmp)(const void *pa, const void *pb))
{
	if (a->len > 1)
		qsort(a->items, a->len, sizeof(void *), cmp);
}
