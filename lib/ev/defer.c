/*
 * defer.c - callbacks queued for the start of the next loop iteration.
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "ev/ev_private.h"

struct ev_defer {
	struct list_node node;
	ev_defer_fn *cb;
	void *ctx;
};

void ev_defer(struct ev *ev, ev_defer_fn *cb, void *ctx)
{
	struct ev_defer *d = xmalloc(sizeof(*d));

	d->cb = cb;
	d->ctx = ctx;
	list_push_back(&ev->defers, &d->node);
}

static void defer_cancel_in(struct list_node *head, ev_defer_fn *cb, void *ctx)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, head)
	{
		struct ev_defer *d = LIST_ENTRY(n, struct ev_defer, node);

		if (d->cb == cb && d->ctx == ctx) {
			list_remove(n);
			free(d);
		}
	}
}

void ev_defer_cancel(struct ev *ev, ev_defer_fn *cb, void *ctx)
{
	defer_cancel_in(&ev->defers, cb, ctx);
	if (ev->defer_batch != NULL)
		defer_cancel_in(ev->defer_batch, cb, ctx);
}

bool ev_defers_pending(const struct ev *ev)
{
	return !list_empty(&ev->defers);
}

void ev_defers_run(struct ev *ev)
{
	struct list_node batch;

	/* Move the current queue aside: callbacks queued while it runs wait
	 * for the next iteration.  ev_defer_cancel() also searches the
	 * batch, which is walked one node at a time from its head. */
	if (list_empty(&ev->defers))
		return;
	batch = ev->defers;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	list_init(&ev->defers);
	ev->defer_batch = &batch;
	while (!list_empty(&batch)) {
		struct ev_defer *d =
		    LIST_ENTRY(batch.next, struct ev_defer, node);
		ev_defer_fn *cb = d->cb;
		void *ctx = d->ctx;

		list_remove(&d->node);
		free(d);
		cb(ev, ctx);
		if (ev->stop) {
			/* Keep what is left for the next run. */
			while (!list_empty(&batch)) {
				struct list_node *n = batch.prev;

				list_remove(n);
				list_push_front(&ev->defers, n);
			}
		}
	}
	ev->defer_batch = NULL;
}

void ev_defers_free(struct ev *ev)
{
	while (!list_empty(&ev->defers)) {
		struct list_node *n = ev->defers.next;

		list_remove(n);
		free(LIST_ENTRY(n, struct ev_defer, node));
	}
}
