/*
 * imapd-notify.c - one inotify descriptor per process, watches shared by
 * every session waiting on the same folder (IDLE).
 *
 * A folder is watched on its new/ (deliveries) and cur/ (flag changes
 * and expunges are renames and unlinks there).  The first session that
 * IDLEs on a folder adds the two kernel watches, the last one to leave
 * removes them; 10,000 sessions on 10,000 folders cost 20,000 watches
 * (fs.inotify.max_user_watches is 8192 by default on older kernels:
 * raise it, or sessions past it fall back to polling, see imapd-idle.c).
 * Events only schedule work: each subscriber's callback runs on the
 * loop and typically starts a sync on the worker pool.
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

#include "imapd.h"

#define WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |     \
	 IN_ONLYDIR)

struct watch_dir {
	char *dir;   /* also the key in by_dir ("R" + root for a root) */
	bool root;   /* the mailbox root itself (NOTIFY), not new/ + cur/ */
	int wd_new, wd_cur;
	struct list_node subscribers;
};

struct imapd_watch {
	struct list_node node;
	struct watch_dir *wdir;
	imapd_notify_fn *cb;
	void *ctx;
};

struct imapd_notify {
	struct ev *ev;
	int fd;
	struct hash *by_dir; /* dir -> struct watch_dir */
	struct hash *by_wd;  /* "%d" -> struct watch_dir (borrowed) */
};

static void notify_read(struct ev *ev, int fd, unsigned events, void *ctx);

struct imapd_notify *imapd_notify_new(struct ev *ev, struct error *err)
{
	struct imapd_notify *n;
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
	if (ev_fd_add(ev, fd, EV_READ | EV_FD_WEAK, notify_read, n, err) < 0) {
		hash_free(&n->by_dir);
		hash_free(&n->by_wd);
		close(fd);
		free(n);
		return NULL;
	}
	return n;
}

void imapd_notify_free(struct imapd_notify **np)
{
	struct imapd_notify *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	ev_fd_del(n->ev, n->fd);
	close(n->fd);
	/* Sessions are gone by now: every watch_dir was removed. */
	hash_free(&n->by_dir);
	hash_free(&n->by_wd);
	free(n);
}

static void wd_key(int wd, char *key, size_t size)
{
	snprintf(key, size, "%d", wd);
}

static int add_one(struct imapd_notify *n, struct watch_dir *w, const char *sub)
{
	char *path = xasprintf("%s/%s", w->root ? w->dir + 1 : w->dir, sub);
	char key[16];
	int wd = inotify_add_watch(n->fd, path, WATCH_MASK);

	if (wd < 0)
		log_warn("inotify_add_watch %s: %s", path, strerror(errno));
	free(path);
	if (wd >= 0) {
		wd_key(wd, key, sizeof(key));
		hash_put(n->by_wd, key, w);
	}
	return wd;
}

static void drop_one(struct imapd_notify *n, int wd)
{
	char key[16];

	if (wd < 0)
		return;
	wd_key(wd, key, sizeof(key));
	hash_del(n->by_wd, key);
	inotify_rm_watch(n->fd, wd);
}

static struct imapd_watch *watch_add(struct imapd_notify *n, const char *dir,
				     bool root, imapd_notify_fn *cb, void *ctx)
{
	struct watch_dir *w;
	struct imapd_watch *sub;
	char *key;

	if (n == NULL)
		return NULL;
	/* INBOX's folder directory is the root: keep the two apart. */
	key = root ? xasprintf("R%s", dir) : xstrdup(dir);
	w = hash_get(n->by_dir, key);
	free(key);
	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->dir = root ? xasprintf("R%s", dir) : xstrdup(dir);
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
	}
	sub = xcalloc(1, sizeof(*sub));
	sub->wdir = w;
	sub->cb = cb;
	sub->ctx = ctx;
	list_push_back(&w->subscribers, &sub->node);
	return sub;
}

struct imapd_watch *imapd_notify_add(struct imapd_notify *n, const char *dir,
				     imapd_notify_fn *cb, void *ctx)
{
	return watch_add(n, dir, false, cb, ctx);
}

struct imapd_watch *imapd_notify_add_root(struct imapd_notify *n,
					  const char *root, imapd_notify_fn *cb,
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

void imapd_notify_remove(struct imapd_notify *n, struct imapd_watch **subp)
{
	struct imapd_watch *sub = *subp;
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

static void notify_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct imapd_notify *n = ctx;
	char buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

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

				while (hash_next(n->by_dir, &it, &k, &v)) {
					struct list_node *ln, *tmp;
					w = v;
					LIST_FOREACH(ln, tmp, &w->subscribers)
					{
						struct imapd_watch *s =
						    LIST_ENTRY(
							ln, struct imapd_watch,
							node);
						s->cb(s->ctx);
					}
				}
				continue;
			}
			if (e->mask & IN_IGNORED)
				continue;
			wd_key(e->wd, key, sizeof(key));
			w = hash_get(n->by_wd, key);
			if (w != NULL && w->root && !root_event_matters(e))
				continue;
			if (w != NULL) {
				struct list_node *ln, *tmp;

				LIST_FOREACH(ln, tmp, &w->subscribers)
				{
					struct imapd_watch *s = LIST_ENTRY(
					    ln, struct imapd_watch, node);
					s->cb(s->ctx);
				}
			}
		}
	}
}
