/*
 * imapd-notify.c - imapd's names for lib/store's folder watches
 * (store/store_watch.h): one inotify descriptor per process, kernel
 * watches shared by every session waiting on the same folder (IDLE,
 * NOTIFY).  Sessions past the kernel's watch limit get NULL and fall
 * back to polling (imapd-idle.c).
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "store/store_watch.h"

#include "imapd.h"

struct imapd_notify {
	struct store_watch *w;
};

struct imapd_watch {
	struct store_watch_sub *sub;
};

struct imapd_notify *imapd_notify_new(struct ev *ev, struct error *err)
{
	struct store_watch *w = store_watch_new(ev, err);
	struct imapd_notify *n;

	if (w == NULL)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->w = w;
	return n;
}

void imapd_notify_free(struct imapd_notify **np)
{
	struct imapd_notify *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	store_watch_free(&n->w);
	free(n);
}

static struct imapd_watch *wrap(struct store_watch_sub *sub)
{
	struct imapd_watch *iw;

	if (sub == NULL)
		return NULL;
	iw = xcalloc(1, sizeof(*iw));
	iw->sub = sub;
	return iw;
}

struct imapd_watch *imapd_notify_add(struct imapd_notify *n, const char *dir,
				     imapd_notify_fn *cb, void *ctx)
{
	if (n == NULL)
		return NULL;
	return wrap(store_watch_folder(n->w, dir, cb, ctx));
}

struct imapd_watch *imapd_notify_add_root(struct imapd_notify *n,
					  const char *root, imapd_notify_fn *cb,
					  void *ctx)
{
	if (n == NULL)
		return NULL;
	return wrap(store_watch_root(n->w, root, cb, ctx));
}

void imapd_notify_remove(struct imapd_notify *n, struct imapd_watch **subp)
{
	struct imapd_watch *iw = *subp;

	if (iw == NULL)
		return;
	*subp = NULL;
	store_watch_remove(n != NULL ? n->w : NULL, &iw->sub);
	free(iw);
}
