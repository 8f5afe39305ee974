/*
 * store_watch.c - see store_watch.h.  Moved from imapd-notify.c so the
 * webmail's event streams share the code (and the rules of what counts
 * as a change) with IMAP IDLE and NOTIFY.
 *
 * 10,000 sessions on 10,000 folders cost 20,000 kernel watches
 * (fs.inotify.max_user_watches is 8192 by default on older kernels:
 * raise it, or subscribers past it fall back to polling).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "store/store_watch.h"

#define WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |     \
	 IN_ONLYDIR)

struct watch_dir {
	char *dir; /* also the key in by_dir ("R" + root for a root) */
	bool root; /* the mailbox root itself, not new/ + cur/ */
	int wd_new, wd_cur;
	struct list_node subscribers;
};

struct store_watch_sub {
	struct list_node node;
	struct watch_dir *wdir;
	store_watch_fn *cb;
	void *ctx;
};

struct store_watch {
	struct ev *ev;
	int fd;
	unsigned kernel_watches;
	struct hash *by_dir; /* dir -> struct watch_dir */
	struct hash *by_wd;  /* "%d" -> struct watch_dir (borrowed) */
};

static void watch_read(struct ev *ev, int fd, unsigned events, void *ctx);

struct store_watch *store_watch_new(struct ev *ev, struct error *err)
{
	struct store_watch *n;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		error_set(err, ERR_TEMP, "inotify_init1: %s", strerror(errno));
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->ev = ev;
	n->fd = fd;
	n->by_dir = hash_new(HASH_DEFAULT, NULL);
	n->by_wd = hash_new(HASH_DEFAULT, NULL);
	if (ev_fd_add(ev, fd, EV_READ | EV_FD_WEAK, watch_read, n, err) < 0) {
		hash_free(&n->by_dir);
		hash_free(&n->by_wd);
		close(fd);
		free(n);
		return NULL;
	}
	return n;
}

void store_watch_free(struct store_watch **np)
{
	struct store_watch *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	ev_fd_del(n->ev, n->fd);
	close(n->fd);
	hash_free(&n->by_dir);
	hash_free(&n->by_wd);
	free(n);
}

unsigned store_watch_count(const struct store_watch *w)
{
	return w != NULL ? w->kernel_watches : 0;
}

static void wd_key(int wd, char *key, size_t size)
{
	snprintf(key, size, "%d", wd);
}

static int add_one(struct store_watch *n, struct watch_dir *w, const char *sub)
{
	char *path = xasprintf("%s/%s", w->root ? w->dir + 1 : w->dir, sub);
	char key[16];
	int wd = inotify_add_watch(n->fd, path, WATCH_MASK);

	if (wd < 0)
		log_warn("inotify_add_watch %s: %s", path, strerror(errno));
	free(path);
	if (wd >= 0) {
		wd_key(wd, key, sizeof(key));
		/* The kernel gives one wd per inode: two paths to the same
		 * directory would share it (not for Maildir folders). */
		if (hash_get(n->by_wd, key) == NULL)
			n->kernel_watches++;
		hash_put(n->by_wd, key, w);
	}
	return wd;
}

static void drop_one(struct store_watch *n, int wd)
{
	char key[16];

	if (wd < 0)
		return;
	wd_key(wd, key, sizeof(key));
	if (hash_get(n->by_wd, key) != NULL && n->kernel_watches > 0)
		n->kernel_watches--;
	hash_del(n->by_wd, key);
	inotify_rm_watch(n->fd, wd);
}

static struct store_watch_sub *watch_add(struct store_watch *n, const char *dir,
					 bool root, store_watch_fn *cb,
					 void *ctx)
{
	struct watch_dir *w;
	struct store_watch_sub *sub;
	char *key;

	if (n == NULL)
		return NULL;
	/* INBOX's folder directory is the root: keep the two apart. */
	key = root ? xasprintf("R%s", dir) : xstrdup(dir);
	w = hash_get(n->by_dir, key);
	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->dir = key;
		w->root = root;
		list_init(&w->subscribers);
		w->wd_new = add_one(n, w, root ? "." : "new");
		w->wd_cur = root ? -1 : add_one(n, w, "cur");
		if (w->wd_new < 0 && w->wd_cur < 0) {
			free(w->dir);
			free(w);
			return NULL;
		}
		hash_put(n->by_dir, w->dir, w);
	} else {
		free(key);
	}
	sub = xcalloc(1, sizeof(*sub));
	sub->wdir = w;
	sub->cb = cb;
	sub->ctx = ctx;
	list_push_back(&w->subscribers, &sub->node);
	return sub;
}

struct store_watch_sub *store_watch_folder(struct store_watch *n,
					   const char *dir, store_watch_fn *cb,
					   void *ctx)
{
	return watch_add(n, dir, false, cb, ctx);
}

struct store_watch_sub *store_watch_root(struct store_watch *n,
					 const char *root, store_watch_fn *cb,
					 void *ctx)
{
	return watch_add(n, root, true, cb, ctx);
}

/* In the root only folder directories and the subscriptions file
 * matter, not the index databases and uidlists written all the time. */
static bool root_event_matters(const struct inotify_event *e)
{
	if (e->len == 0)
		return (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) != 0;
	if (e->name[0] == '.')
		return (e->mask & IN_ISDIR) != 0 && strcmp(e->name, ".") != 0 &&
		       strcmp(e->name, "..") != 0;
	return strcmp(e->name, "subscriptions") == 0;
}

void store_watch_remove(struct store_watch *n, struct store_watch_sub **subp)
{
	struct store_watch_sub *sub = *subp;
	struct watch_dir *w;

	if (sub == NULL)
		return;
	*subp = NULL;
	w = sub->wdir;
	list_remove(&sub->node);
	free(sub);
	if (n == NULL || !list_empty(&w->subscribers))
		return;
	drop_one(n, w->wd_new);
	drop_one(n, w->wd_cur);
	hash_del(n->by_dir, w->dir);
	free(w->dir);
	free(w);
}

static void call_all(struct watch_dir *w)
{
	struct list_node *ln, *tmp;

	LIST_FOREACH(ln, tmp, &w->subscribers)
	{
		struct store_watch_sub *s =
		    LIST_ENTRY(ln, struct store_watch_sub, node);
		s->cb(s->ctx);
	}
}

static void watch_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct store_watch *n = ctx;
	char buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	(void)ev;
	(void)events;
	for (;;) {
		const char *p;

		len = read(fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return;
		for (p = buf; p < buf + len;) {
			const struct inotify_event *e = (const void *)p;
			char key[16];
			struct watch_dir *w;

			p += sizeof(*e) + e->len;
			if (e->mask & IN_Q_OVERFLOW) {
				/* Lost events: wake everyone. */
				struct hash_iter it = {0};
				const char *k;
				void *v;

				while (hash_next(n->by_dir, &it, &k, &v))
					call_all(v);
				continue;
			}
			if (e->mask & IN_IGNORED)
				continue;
			wd_key(e->wd, key, sizeof(key));
			w = hash_get(n->by_wd, key);
			if (w == NULL || (w->root && !root_event_matters(e)))
				continue;
			call_all(w);
		}
	}
}
