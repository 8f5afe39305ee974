/*
 * array - a growable vector of pointers.
 *
 * The array does not own the elements unless the caller says so: pass a
 * free function to array_free_with() to release them too.
 */
#ifndef POSTERN_ARRAY_H
#define POSTERN_ARRAY_H

#include <stddef.h>

struct array;

struct array *array_new(void);
void array_free(struct array **a);
/* Free the array and call free_fn on every element. */
void array_free_with(struct array **a, void (*free_fn)(void *));

size_t array_len(const struct array *a);
/* Element i (i < array_len); borrowed. */
void *array_get(const struct array *a, size_t i);
void array_set(struct array *a, size_t i, void *elem);
void array_push(struct array *a, void *elem);
/* Remove and return the last element, NULL if empty. */
void *array_pop(struct array *a);
/* Remove element i, keeping the order of the rest. */
void array_remove(struct array *a, size_t i);
void array_clear(struct array *a);
void array_sort(struct array *a, int (*cmp)(const void *pa, const void *pb));

#endif
