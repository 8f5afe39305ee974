/*
 * hash - a hash table from NUL-terminated string keys to pointers.
 *
 * Keys are copied in; values are borrowed unless the table was created
 * with a value free function.  Tables made with HASH_FOLD_CASE compare
 * keys ASCII case-insensitively (mail domains and local parts of lookup
 * keys).  The hash is seeded per table, so clients cannot predict
 * collisions from the outside.
 */
#ifndef POSTERN_HASH_H
#define POSTERN_HASH_H

#include <stdbool.h>
#include <stddef.h>

struct hash;

enum hash_flags {
	HASH_DEFAULT = 0,
	HASH_FOLD_CASE = 1 << 0,
};

struct hash *hash_new(enum hash_flags flags, void (*value_free)(void *));
void hash_free(struct hash **h);

/* Insert or replace; a replaced value is released with value_free. */
void hash_put(struct hash *h, const char *key, void *value);
/* The value, or NULL when absent (store non-NULL values only). */
void *hash_get(const struct hash *h, const char *key);
bool hash_contains(const struct hash *h, const char *key);
/* Remove the key; returns true if it was there. */
bool hash_del(struct hash *h, const char *key);
size_t hash_count(const struct hash *h);

/*
 * Iteration: `struct hash_iter it = {0}; while (hash_next(h, &it,
 * &key, &val)) ...`.  The table must not change during the walk.
 */
struct hash_iter {
	size_t bucket;
	void *entry;
};
bool hash_next(const struct hash *h, struct hash_iter *it, const char **key_r,
	       void **value_r);

#endif
