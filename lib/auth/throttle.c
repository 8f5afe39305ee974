/*
 * throttle.c - failed-login counters in a fixed table (see throttle.h).
 *
 * Open addressing with linear probing over a short run (PROBE slots):
 * a key lives in one of the PROBE slots after its home slot; when none
 * is free, the one with the oldest window start in that run is reused.
 * Bounded lookups and bounded memory, no deletion tombstones needed
 * (an empty slot is hash 0, and hash 0 is remapped to 1).
 */
#include "auth/throttle.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define PROBE 16

struct slot {
	uint64_t hash; /* 0: empty */
	time_t start;  /* first failure of the window */
	unsigned failures;
};

struct auth_throttle {
	pthread_mutex_t lock;
	unsigned max_failures;
	unsigned window;
	struct slot slots[AUTH_THROTTLE_SLOTS];
};

/* FNV-1a 64, then a final mix (keys are short, attacker-chosen strings
 * only shift which slot they land in). */
static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

struct auth_throttle *auth_throttle_new(unsigned max_failures,
					unsigned window_seconds)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	t->max_failures = max_failures;
	t->window = window_seconds > 0 ? window_seconds : 1;
	return t;
}

void auth_throttle_free(struct auth_throttle **tp)
{
	if (*tp == NULL)
		return;
	pthread_mutex_destroy(&(*tp)->lock);
	free(*tp);
	*tp = NULL;
}

/* The slot holding h, or NULL. */
static struct slot *find(struct auth_throttle *t, uint64_t h)
{
	size_t i, home = (size_t)(h % AUTH_THROTTLE_SLOTS);

	for (i = 0; i < PROBE; i++) {
		struct slot *s = &t->slots[(home + i) % AUTH_THROTTLE_SLOTS];
		if (s->hash == h)
			return s;
	}
	return NULL;
}

/* A slot for h: its own, an empty or expired one, or the oldest. */
static struct slot *claim(struct auth_throttle *t, uint64_t h, time_t now)
{
	size_t i, home = (size_t)(h % AUTH_THROTTLE_SLOTS);
	struct slot *victim = NULL, *s;

	if ((s = find(t, h)) != NULL)
		return s;
	for (i = 0; i < PROBE; i++) {
		s = &t->slots[(home + i) % AUTH_THROTTLE_SLOTS];
		if (s->hash == 0 || now - s->start >= (time_t)t->window) {
			victim = s;
			break;
		}
		if (victim == NULL || s->start < victim->start)
			victim = s;
	}
	victim->hash = h;
	victim->start = now;
	victim->failures = 0;
	return victim;
}

/* Failures of s in the window that holds now (expired: 0). */
static unsigned live_failures(const struct auth_throttle *t,
			      const struct slot *s, time_t now)
{
	if (s == NULL || now - s->start >= (time_t)t->window || now < s->start)
		return 0;
	return s->failures;
}

bool auth_throttle_blocked(struct auth_throttle *t, const char *key, time_t now)
{
	bool blocked;

	if (t == NULL || t->max_failures == 0)
		return false;
	pthread_mutex_lock(&t->lock);
	blocked =
	    live_failures(t, find(t, key_hash(key)), now) >= t->max_failures;
	pthread_mutex_unlock(&t->lock);
	return blocked;
}

unsigned auth_throttle_failures(struct auth_throttle *t, const char *key,
				time_t now)
{
	unsigned n;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->lock);
	n = live_failures(t, find(t, key_hash(key)), now);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void auth_throttle_failure(struct auth_throttle *t, const char *key, time_t now)
{
	struct slot *s;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	s = claim(t, key_hash(key), now);
	if (now - s->start >= (time_t)t->window || now < s->start) {
		s->start = now;
		s->failures = 0;
	}
	if (s->failures < UINT32_MAX)
		s->failures++;
	pthread_mutex_unlock(&t->lock);
}

void auth_throttle_success(struct auth_throttle *t, const char *key)
{
	struct slot *s;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	s = find(t, key_hash(key));
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&t->lock);
}
