/*
 * net_limit.c - per-process and per-client connection counters.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/net.h"

struct net_limit {
	unsigned max_total, max_per_addr;
	unsigned total;
	struct hash *per_addr; /* address -> count, stored in the pointer */
};

struct net_limit *net_limit_new(unsigned max_total, unsigned max_per_addr)
{
	struct net_limit *lim = xcalloc(1, sizeof(*lim));

	lim->max_total = max_total;
	lim->max_per_addr = max_per_addr;
	lim->per_addr = hash_new(HASH_FOLD_CASE, NULL);
	return lim;
}

void net_limit_free(struct net_limit **limp)
{
	if (*limp == NULL)
		return;
	hash_free(&(*limp)->per_addr);
	XFREE(*limp);
}

unsigned net_limit_count(const struct net_limit *lim, const char *addr)
{
	return (unsigned)(uintptr_t)hash_get(lim->per_addr, addr);
}

unsigned net_limit_total(const struct net_limit *lim)
{
	return lim->total;
}

enum net_limit_result net_limit_acquire(struct net_limit *lim, const char *addr)
{
	unsigned n = net_limit_count(lim, addr);

	if (lim->max_total != 0 && lim->total >= lim->max_total)
		return NET_LIMIT_TOTAL;
	if (lim->max_per_addr != 0 && n >= lim->max_per_addr)
		return NET_LIMIT_PER_ADDR;
	lim->total++;
	hash_put(lim->per_addr, addr, (void *)(uintptr_t)(n + 1));
	return NET_LIMIT_OK;
}

void net_limit_release(struct net_limit *lim, const char *addr)
{
	unsigned n = net_limit_count(lim, addr);

	if (n == 0 || lim->total == 0)
		panic("net_limit_release: %s was not counted", addr);
	lim->total--;
	if (n == 1)
		hash_del(lim->per_addr, addr);
	else
		hash_put(lim->per_addr, addr, (void *)(uintptr_t)(n - 1));
}
