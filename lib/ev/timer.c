/*
 * timer.c - one-shot timers in a binary heap ordered by (deadline, seq).
 *
 * Postfix's contract: one timer per (callback, context) pair, found
 * through a hash index so re-adding is O(log n) even with thousands of
 * sessions each holding an idle timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/xmalloc.h"
#include "ev/ev_private.h"

static void timer_key(char *key, size_t size, ev_timer_fn *cb, void *ctx)
{
	snprintf(key, size, "%p:%p", (void *)(uintptr_t)cb, ctx);
}

static bool timer_less(const struct ev_timer *a, const struct ev_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void heap_place(struct ev *ev, size_t i, struct ev_timer *t)
{
	ev->heap[i] = t;
	t->idx = i;
}

static void heap_up(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_less(t, ev->heap[parent]))
			break;
		heap_place(ev, i, ev->heap[parent]);
		i = parent;
	}
	heap_place(ev, i, t);
}

static void heap_down(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= ev->ntimers)
			break;
		if (c + 1 < ev->ntimers &&
		    timer_less(ev->heap[c + 1], ev->heap[c]))
			c++;
		if (!timer_less(ev->heap[c], t))
			break;
		heap_place(ev, i, ev->heap[c]);
		i = c;
	}
	heap_place(ev, i, t);
}

static void heap_remove(struct ev *ev, struct ev_timer *t)
{
	size_t i = t->idx;
	struct ev_timer *last = ev->heap[--ev->ntimers];

	if (last == t)
		return;
	heap_place(ev, i, last);
	heap_down(ev, i);
	heap_up(ev, last->idx);
}

void ev_timers_init(struct ev *ev)
{
	ev->timer_index = hash_new(HASH_DEFAULT, NULL);
}

void ev_timers_free(struct ev *ev)
{
	size_t i;

	for (i = 0; i < ev->ntimers; i++)
		free(ev->heap[i]);
	free(ev->heap);
	ev->heap = NULL;
	ev->ntimers = 0;
	hash_free(&ev->timer_index);
}

void ev_timer_add(struct ev *ev, int64_t delay_ms, ev_timer_fn *cb, void *ctx)
{
	char key[40];
	struct ev_timer *t;

	if (delay_ms < 0)
		delay_ms = 0;
	timer_key(key, sizeof(key), cb, ctx);
	t = hash_get(ev->timer_index, key);
	if (t != NULL) {
		heap_remove(ev, t);
	} else {
		t = xcalloc(1, sizeof(*t));
		t->cb = cb;
		t->ctx = ctx;
		memcpy(t->key, key, sizeof(key));
		hash_put(ev->timer_index, t->key, t);
	}
	t->deadline = ev->now + delay_ms;
	t->seq = ev->timer_seq++;
	if (ev->ntimers == ev->heap_cap) {
		ev->heap_cap = ev->heap_cap ? ev->heap_cap * 2 : 16;
		ev->heap =
		    xreallocarray(ev->heap, ev->heap_cap, sizeof(*ev->heap));
	}
	heap_place(ev, ev->ntimers++, t);
	heap_up(ev, t->idx);
}

bool ev_timer_del(struct ev *ev, ev_timer_fn *cb, void *ctx)
{
	char key[40];
	struct ev_timer *t;

	timer_key(key, sizeof(key), cb, ctx);
	t = hash_get(ev->timer_index, key);
	if (t == NULL)
		return false;
	heap_remove(ev, t);
	hash_del(ev->timer_index, key);
	free(t);
	return true;
}

bool ev_timer_pending(const struct ev *ev, ev_timer_fn *cb, void *ctx)
{
	char key[40];

	timer_key(key, sizeof(key), cb, ctx);
	return hash_contains(ev->timer_index, key);
}

int64_t ev_timers_wait_ms(struct ev *ev)
{
	int64_t d;

	if (ev->ntimers == 0)
		return -1;
	d = ev->heap[0]->deadline - ev->now;
	return d < 0 ? 0 : d;
}

void ev_timers_run(struct ev *ev)
{
	/* Timers added by the callbacks below wait for the next iteration,
	 * so a zero-delay timer that re-adds itself cannot starve I/O. */
	uint64_t limit = ev->timer_seq;

	while (ev->ntimers > 0) {
		struct ev_timer *t = ev->heap[0];
		ev_timer_fn *cb = t->cb;
		void *ctx = t->ctx;

		if (t->deadline > ev->now || t->seq >= limit)
			break;
		heap_remove(ev, t);
		hash_del(ev->timer_index, t->key);
		free(t);
		cb(ev, ctx);
	}
}
