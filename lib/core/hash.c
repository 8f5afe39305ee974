#include "hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "xmalloc.h"

struct entry {
	struct entry *next;
	uint64_t hash;
	void *value;
	char key[]; /* flexible: one allocation per entry */
};

struct hash {
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t seed;
	bool fold;
	void (*value_free)(void *);
};

static uint64_t hash_key(const struct hash *h, const char *key)
{
	/* FNV-1a over the (optionally folded) bytes, with a per-table seed
	 * so that collision sets differ between processes. */
	uint64_t x = 0xcbf29ce484222325ULL ^ h->seed;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		unsigned char c = *p;
		if (h->fold && c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		x ^= c;
		x *= 0x100000001b3ULL;
	}
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

struct hash *hash_new(enum hash_flags flags, void (*value_free)(void *))
{
	struct hash *h = xcalloc(1, sizeof(*h));
	h->nbuckets = 16;
	h->buckets = xcalloc(h->nbuckets, sizeof(*h->buckets));
	h->fold = (flags & HASH_FOLD_CASE) != 0;
	h->value_free = value_free;
	if (getrandom(&h->seed, sizeof(h->seed), GRND_NONBLOCK) !=
	    sizeof(h->seed))
		h->seed = (uint64_t)(uintptr_t)h;
	return h;
}

void hash_free(struct hash **hp)
{
	struct hash *h = *hp;
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct entry *e = h->buckets[i];
		while (e != NULL) {
			struct entry *next = e->next;
			if (h->value_free)
				h->value_free(e->value);
			free(e);
			e = next;
		}
	}
	free(h->buckets);
	free(h);
	*hp = NULL;
}

static bool key_eq(const struct hash *h, const char *a, const char *b)
{
	return h->fold ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static struct entry **find(const struct hash *h, const char *key,
			   uint64_t hv)
{
	struct entry **pp = &h->buckets[hv & (h->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == hv && key_eq(h, (*pp)->key, key))
			return pp;
	return pp;
}

static void grow(struct hash *h)
{
	size_t n = h->nbuckets * 2;
	struct entry **nb = xcalloc(n, sizeof(*nb));
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct entry *e = h->buckets[i];
		while (e != NULL) {
			struct entry *next = e->next;
			size_t j = e->hash & (n - 1);
			e->next = nb[j];
			nb[j] = e;
			e = next;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->nbuckets = n;
}

void hash_put(struct hash *h, const char *key, void *value)
{
	uint64_t hv = hash_key(h, key);
	struct entry **pp = find(h, key, hv);
	if (*pp != NULL) {
		if (h->value_free && (*pp)->value != value)
			h->value_free((*pp)->value);
		(*pp)->value = value;
		return;
	}
	size_t klen = strlen(key);
	struct entry *e = xmalloc(sizeof(*e) + klen + 1);
	memcpy(e->key, key, klen + 1);
	e->hash = hv;
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++h->count > h->nbuckets)
		grow(h);
}

void *hash_get(const struct hash *h, const char *key)
{
	struct entry **pp = find(h, key, hash_key(h, key));
	return *pp ? (*pp)->value : NULL;
}

bool hash_contains(const struct hash *h, const char *key)
{
	return *find(h, key, hash_key(h, key)) != NULL;
}

bool hash_del(struct hash *h, const char *key)
{
	struct entry **pp = find(h, key, hash_key(h, key));
	struct entry *e = *pp;
	if (e == NULL)
		return false;
	*pp = e->next;
	if (h->value_free)
		h->value_free(e->value);
	free(e);
	h->count--;
	return true;
}

size_t hash_count(const struct hash *h)
{
	return h->count;
}

bool hash_next(const struct hash *h, struct hash_iter *it, const char **key_r,
	       void **value_r)
{
	struct entry *e = it->entry;
	if (e != NULL)
		e = e->next;
	while (e == NULL && it->bucket < h->nbuckets)
		e = h->buckets[it->bucket++];
	it->entry = e;
	if (e == NULL)
		return false;
	if (key_r)
		*key_r = e->key;
	if (value_r)
		*value_r = e->value;
	return true;
}
