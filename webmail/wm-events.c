/*
 * wm-events.c - GET /api/events: a server-sent event stream that tells
 * the browser when one of the user's folders changed (new mail, flags,
 * expunges, folders created or removed), so the list updates without a
 * reload.
 *
 * Streams are woken by the store's change notifications
 * (store/store_watch.h: inotify on each folder's new/ and cur/ and on the
 * mailbox root), which see every writer alike: lmtpd, imapd, Dovecot,
 * this process.  The watches belong to the user, not the stream: all the
 * streams of one address in this process share one root watch and one
 * watch per folder.  A change marks the folder dirty in each of the
 * user's streams and schedules a look in the worker pool: a stat() of
 * the folder's new/ and cur/ and mindex_folder_status() when their
 * mtimes moved; a change in total, unread, uidnext or highest modseq
 * sends
 *   event: folder
 *   data: {"folder": "INBOX", "total": 3, "unread": 1, "uidnext": 4}
 * A root change (a folder created, renamed or deleted) re-lists the
 * folders and updates the watches.  Looks of one stream are at least
 * webmail_events_interval apart, so a burst of deliveries costs one look
 * per interval, not one per message.
 *
 * Without changes the process does nothing for a stream but a tick every
 * 25 seconds: a keepalive comment for proxies, and a check that the
 * session still exists (in SQL: a logout on another process ends the
 * stream there within a tick).  When inotify is not available, or a
 * watch could not be added (fs.inotify.max_user_watches), the tick comes
 * every webmail_events_fallback_interval (30 s) instead and looks at
 * every folder.
 *
 * The response is a libmicrohttpd callback response: with nothing to
 * send the reader suspends the connection, and the loop resumes it when
 * there is.  While suspended, MHD does not watch the socket, so the
 * stream watches it itself (a closed tab frees its slot at once).  The
 * stream ends when its session does (logout, expiry) or at SIGTERM.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "store/store_watch.h"
#include "wm-core.h"

#define KEEPALIVE_MS 25000
/* A change is looked at this long after its first notification, so the
 * events of one delivery (or one EXPUNGE of many) make one look. */
#define SETTLE_MS 20
/* Folders watched per user at most (a mailbox with more is watched
 * for its first ones: INBOX and the special-use folders come first). */
#define MAX_FOLDERS 500

struct fsnap {
	struct timespec new_mt, cur_mt;
	uint32_t total, unread, uidnext;
	uint64_t modseq;
};

struct user_watch;

struct folder_watch {
	struct user_watch *uw;
	char *name;
	struct store_watch_sub *sub;
	bool keep; /* mark of watch_sync */
};

/* The watches of one address, shared by its streams (loop thread). */
struct user_watch {
	struct wm_events *evs;
	char *address;
	struct store_watch_sub *root_sub;
	struct hash *folders; /* folder name -> struct folder_watch */
	struct list_node streams;
	bool degraded; /* a watch is missing: the streams poll at each tick */
};

struct stream {
	struct wm_events *evs;
	struct wm_session *s;
	struct MHD_Connection *conn;
	struct user_watch *uw;
	struct list_node unode; /* in uw->streams */
	struct buf *pending;	/* loop thread */
	struct hash *dirty;	/* folder names changed since the last look */
	bool rescan;		/* list the folders again */
	/* The running job's (set before worker_submit, read in done): */
	struct buf *found;
	struct hash *snap;	 /* folder -> struct fsnap */
	struct hash *job_dirty;	 /* NULL: every folder */
	struct array *job_names; /* after a full look: the folder names */
	bool job_check;		 /* ask SQL whether the session lives */
	bool job_dead;		 /* it does not */
	int64_t last_write, last_look;
	int fd; /* watched while suspended, else -1 */
	unsigned refs;
	bool suspended, closed, gone, job, primed, again;
	bool peer_closed; /* the client went away */
	struct stream *prev, *next;
};

struct wm_events {
	struct wm_daemon *d;
	struct stream *head;
	struct store_watch *sw; /* NULL: no inotify, poll at each tick */
	struct hash *users;	/* address -> struct user_watch */
	bool stopping;
};

/* Folder looks (status reads) since start, for the debug log. */
static atomic_ulong folder_looks;

struct wm_events *wm_events_new(struct wm_daemon *d)
{
	struct wm_events *evs = xcalloc(1, sizeof(*evs));
	struct error err;

	evs->d = d;
	evs->users = hash_new(HASH_DEFAULT, NULL);
	evs->sw = store_watch_new(server_ev(d->srv), &err);
	if (evs->sw == NULL)
		log_warn("webmail: events: %s; folders are polled every %lld s",
			 err.msg, (long long)d->set.events_fallback_ms / 1000);
	return evs;
}

static void on_tick(struct ev *ev, struct stream *st);
static void on_kick(struct ev *ev, struct stream *st);

static void fd_unwatch(struct stream *st)
{
	if (st->fd >= 0) {
		ev_fd_del(server_ev(st->evs->d->srv), st->fd);
		st->fd = -1;
	}
}

static void wake(struct stream *st)
{
	if (st->suspended && !st->gone) {
		st->suspended = false;
		fd_unwatch(st);
		wm_http_resume(st->evs->d, st->conn);
	}
}

static void stream_kick(struct stream *st)
{
	struct wm_daemon *d = st->evs->d;
	struct ev *ev = server_ev(d->srv);
	int64_t delay;

	if (st->gone || st->closed)
		return;
	if (st->job) {
		st->again = true;
		return;
	}
	if (ev_timer_pending(ev, (ev_timer_fn *)(void (*)(void))on_kick, st))
		return;
	delay = st->last_look + d->set.events_interval_ms - ev_now(ev);
	if (delay < SETTLE_MS)
		delay = SETTLE_MS;
	EV_TIMER_ADD(ev, delay, on_kick, st);
}

/* ---- the user's watches ---- */

static void on_folder_change(void *ctx)
{
	struct folder_watch *fw = ctx;
	struct list_node *ln, *tmp;

	LIST_FOREACH(ln, tmp, &fw->uw->streams)
	{
		struct stream *st = LIST_ENTRY(ln, struct stream, unode);
		hash_put(st->dirty, fw->name, st);
		stream_kick(st);
	}
}

static void on_root_change(void *ctx)
{
	struct user_watch *uw = ctx;
	struct list_node *ln, *tmp;

	LIST_FOREACH(ln, tmp, &uw->streams)
	{
		struct stream *st = LIST_ENTRY(ln, struct stream, unode);
		st->rescan = true;
		stream_kick(st);
	}
}

static void folder_watch_free(void *p)
{
	struct folder_watch *fw = p;

	store_watch_remove(fw->uw->evs->sw, &fw->sub);
	free(fw->name);
	free(fw);
}

static struct user_watch *user_watch_get(struct wm_events *evs,
					 struct wm_session *s)
{
	struct user_watch *uw = hash_get(evs->users, s->address);

	if (uw != NULL)
		return uw;
	uw = xcalloc(1, sizeof(*uw));
	uw->evs = evs;
	uw->address = xstrdup(s->address);
	uw->folders = hash_new(HASH_DEFAULT, folder_watch_free);
	list_init(&uw->streams);
	if (evs->sw != NULL) {
		uw->root_sub = store_watch_root(
		    evs->sw, store_mailbox_path(s->mbox), on_root_change, uw);
		uw->degraded = uw->root_sub == NULL;
	}
	hash_put(evs->users, uw->address, uw);
	return uw;
}

static void user_watch_release(struct wm_events *evs, struct user_watch *uw)
{
	if (!list_empty(&uw->streams))
		return;
	hash_del(evs->users, uw->address);
	hash_free(&uw->folders);
	store_watch_remove(evs->sw, &uw->root_sub);
	free(uw->address);
	free(uw);
}

static int64_t tick_ms(const struct stream *st);

/* After a full look: watch exactly the folders that exist. */
static void watch_sync(struct stream *st, struct array *names)
{
	struct user_watch *uw = st->uw;
	struct hash_iter it = {0};
	struct array *drop = array_new();
	const char *key;
	void *v;

	if (st->evs->sw == NULL)
		return;
	bool missing = uw->root_sub == NULL, was_degraded = uw->degraded;
	bool relook = false;

	while (hash_next(uw->folders, &it, &key, &v))
		((struct folder_watch *)v)->keep = false;
	for (size_t i = 0; i < array_len(names); i++) {
		const char *name = array_get(names, i);
		struct folder_watch *fw = hash_get(uw->folders, name);
		struct error err;
		char *dir;

		if (fw != NULL) {
			fw->keep = true;
			continue;
		}
		dir = store_folder_path(st->s->mbox, name, &err);
		if (dir == NULL)
			continue;
		fw = xcalloc(1, sizeof(*fw));
		fw->uw = uw;
		fw->name = xstrdup(name);
		fw->keep = true;
		fw->sub =
		    store_watch_folder(st->evs->sw, dir, on_folder_change, fw);
		free(dir);
		if (fw->sub == NULL) {
			/* Not kept: the next full look (a fallback poll)
			 * tries again, e.g. a folder seen before its cur/
			 * and new/ were made by a tool that is not
			 * Postern. */
			if (!uw->degraded)
				log_warn("webmail(%s): events: no watch on %s; "
					 "polling every %lld s",
					 uw->address, name,
					 (long long)st->evs->d->set
						 .events_fallback_ms /
					     1000);
			uw->degraded = missing = true;
			free(fw->name);
			free(fw);
			continue;
		}
		hash_put(uw->folders, name, fw);
		/* The look that found the folder read it before this watch
		 * existed: a change in between gave no notification.  Look
		 * at it once more, now that any later change gives one. */
		on_folder_change(fw);
		relook = true;
	}
	memset(&it, 0, sizeof(it));
	while (hash_next(uw->folders, &it, &key, &v))
		if (!((struct folder_watch *)v)->keep)
			array_push(drop, xstrdup(key));
	for (size_t i = 0; i < array_len(drop); i++)
		hash_del(uw->folders, array_get(drop, i));
	array_free_with(&drop, free);
	uw->degraded = missing;
	if (was_degraded && !missing)
		log_info("webmail(%s): events: every folder watched again",
			 uw->address);
	if (uw->degraded || was_degraded) {
		struct list_node *ln, *tmp;

		/* The streams' ticks become the fallback polls, or, once
		 * every folder is watched, keepalives again (a poll already
		 * due would be a look of its own, for nothing). */
		LIST_FOREACH(ln, tmp, &uw->streams)
		{
			struct stream *o = LIST_ENTRY(ln, struct stream, unode);
			if (!o->closed && !o->gone)
				EV_TIMER_ADD(server_ev(o->evs->d->srv),
					     tick_ms(o), on_tick, o);
		}
	}
	/* This stream's look is over (look_done): the new watches' second
	 * look comes at once, not after webmail_events_interval; it is a
	 * stat() of new/ and cur/ per folder unless something changed. */
	if (relook)
		EV_TIMER_ADD(server_ev(st->evs->d->srv), SETTLE_MS, on_kick,
			     st);
	log_debug(LOG_TRACE_EV,
		  "webmail(%s): events: %zu folder watch(es), "
		  "%u kernel watches in the process",
		  uw->address, hash_count(uw->folders),
		  store_watch_count(st->evs->sw));
}

/* ---- streams ---- */

static void stream_unref(struct stream *st)
{
	struct wm_daemon *d = st->evs->d;

	if (--st->refs > 0)
		return;
	wm_session_stream_del(d, st->s);
	wm_session_unref(d, st->s);
	buf_free(&st->pending);
	buf_free(&st->found);
	hash_free(&st->snap);
	hash_free(&st->dirty);
	hash_free(&st->job_dirty);
	array_free_with(&st->job_names, free);
	free(st);
}

static void stream_stop_timers(struct stream *st)
{
	struct ev *ev = server_ev(st->evs->d->srv);

	EV_TIMER_DEL(ev, on_tick, st);
	EV_TIMER_DEL(ev, on_kick, st);
}

void wm_events_stop(struct wm_events *evs)
{
	if (evs == NULL)
		return;
	evs->stopping = true;
	/* wake() may end the stream at once (its response is resumed and
	 * destroyed), so the next one is taken first. */
	struct stream *next;
	for (struct stream *st = evs->head; st != NULL; st = next) {
		next = st->next;
		stream_stop_timers(st);
		st->closed = true;
		wake(st);
	}
}

void wm_events_session_gone(struct wm_daemon *d, struct wm_session *s)
{
	struct wm_events *evs = d->events;

	if (evs == NULL)
		return;
	struct stream *next;
	/* As in wm_events_stop: wake() may free st. */
	for (struct stream *st = evs->head; st != NULL; st = next) {
		next = st->next;
		if (st->s == s && !st->closed) {
			stream_stop_timers(st);
			st->closed = true;
			wake(st);
		}
	}
}

void wm_events_free(struct wm_events **evsp)
{
	struct wm_events *evs = *evsp;

	if (evs == NULL)
		return;
	/* http_server_free() has run: every response was destroyed, and
	 * with them every stream and user watch. */
	hash_free(&evs->users);
	store_watch_free(&evs->sw);
	free(evs);
	*evsp = NULL;
}

/* The suspended connection's socket is readable: the client closed it
 * (or sent something, which an event stream client does not). */
static void on_peer(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct stream *st = ctx;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	(void)ev;
	(void)events;
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	fd_unwatch(st);
	if (n > 0)
		return; /* bytes (a TLS alert, a pipelined request): the tick */
	st->peer_closed = true;
	st->closed = true;
	stream_stop_timers(st);
	wake(st);
}

static void suspend(struct stream *st)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct error err;

	st->suspended = true;
	MHD_suspend_connection(st->conn);
	if (ci != NULL && st->fd < 0 &&
	    ev_fd_add(server_ev(st->evs->d->srv), ci->connect_fd,
		      EV_READ | EV_FD_WEAK, on_peer, st, &err) == 0)
		st->fd = ci->connect_fd;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *st = cls;
	size_t n = buf_len(st->pending);

	(void)pos;
	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(out, buf_data(st->pending), n);
		buf_consume(st->pending, n);
		return (ssize_t)n;
	}
	if (st->closed)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing to send: wait without MHD polling us (wake()). */
	suspend(st);
	return 0;
}

/* The connection is gone (client closed, stream ended, daemon stop). */
static void reader_free(void *cls)
{
	struct stream *st = cls;
	struct wm_events *evs = st->evs;

	st->gone = true;
	fd_unwatch(st);
	stream_stop_timers(st);
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		evs->head = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	if (st->uw != NULL) {
		list_remove(&st->unode);
		user_watch_release(evs, st->uw);
		st->uw = NULL;
	}
	stream_unref(st);
}

static bool mtime_of(const char *dir, const char *sub, struct timespec *ts)
{
	char *p = xasprintf("%s/%s", dir, sub);
	struct stat sb;
	bool ok = stat(p, &sb) == 0;

	free(p);
	if (ok)
		*ts = sb.st_mtim;
	else
		memset(ts, 0, sizeof(*ts));
	return ok;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* One folder: append an event when it changed since the last look. */
static void look_folder(struct stream *st, const char *name)
{
	struct wm_session *s = st->s;
	struct fsnap *fs = hash_get(st->snap, name), now;
	struct mindex_status ms;
	struct error err;
	char *dir = store_folder_path(s->mbox, name, &err);

	if (dir == NULL)
		return;
	mtime_of(dir, "new", &now.new_mt);
	mtime_of(dir, "cur", &now.cur_mt);
	free(dir);
	if (fs != NULL && ts_eq(&fs->new_mt, &now.new_mt) &&
	    ts_eq(&fs->cur_mt, &now.cur_mt))
		return;
	atomic_fetch_add(&folder_looks, 1);
	if (mindex_folder_status(s->mu, name, &ms, &err) < 0)
		return;
	now.total = ms.messages;
	now.unread = ms.unseen;
	now.uidnext = ms.uidnext;
	now.modseq = ms.highestmodseq;
	if (fs == NULL) {
		fs = xmalloc(sizeof(*fs));
		*fs = now;
		hash_put(st->snap, name, fs);
		if (!st->primed)
			return;
	} else if (fs->total == now.total && fs->unread == now.unread &&
		   fs->uidnext == now.uidnext && fs->modseq == now.modseq) {
		*fs = now;
		return;
	}
	*fs = now;
	json_t *v =
	    json_pack("{s:s,s:I,s:I,s:I}", "folder", name, "total",
		      (json_int_t)now.total, "unread", (json_int_t)now.unread,
		      "uidnext", (json_int_t)now.uidnext);
	char *data = json_dumps(v, JSON_COMPACT);
	if (data != NULL)
		buf_printf(st->found, "event: folder\ndata: %s\n\n", data);
	free(data);
	json_decref(v);
}

static void look_work(void *ctx)
{
	struct stream *st = ctx;
	struct wm_daemon *d = st->evs->d;
	struct array *list = NULL;
	struct error err;
	unsigned long before = atomic_load(&folder_looks);

	if (st->job_check && !wm_session_revalidate(d, st->s)) {
		st->job_dead = true;
		return;
	}
	wm_session_lock(st->s);
	if (st->job_dirty != NULL) {
		struct hash_iter it = {0};
		const char *name;
		void *v;

		while (hash_next(st->job_dirty, &it, &name, &v))
			look_folder(st, name);
	} else if (mindex_folder_list(st->s->mu, &list, &err) < 0) {
		log_warn("webmail(%s): events: %s", st->s->address, err.msg);
	} else {
		st->job_names = array_new();
		for (size_t i = 0; i < array_len(list) && i < MAX_FOLDERS;
		     i++) {
			const struct mindex_folder_info *fi =
			    array_get(list, i);
			if (fi->attrs & MINDEX_ATTR_NONEXISTENT)
				continue;
			array_push(st->job_names, xstrdup(fi->name));
			look_folder(st, fi->name);
		}
		mindex_folder_list_free(&list);
	}
	st->primed = true;
	wm_session_unlock(st->s);
	log_debug(LOG_TRACE_EV,
		  "webmail(%s): events: looked at %s: %lu folder status "
		  "read(s), %lu in the process",
		  st->s->address,
		  st->job_dirty != NULL ? "changed folders" : "every folder",
		  atomic_load(&folder_looks) - before,
		  atomic_load(&folder_looks));
}

static void look_start(struct stream *st, bool check);

static void look_done(void *ctx)
{
	struct stream *st = ctx;
	struct ev *ev = server_ev(st->evs->d->srv);

	st->job = false;
	hash_free(&st->job_dirty);
	if (!st->gone && st->job_dead) {
		st->closed = true;
		stream_stop_timers(st);
		wake(st);
	} else if (!st->gone) {
		if (st->job_names != NULL && st->uw != NULL)
			watch_sync(st, st->job_names);
		if (buf_len(st->found) > 0) {
			buf_append(st->pending, buf_data(st->found),
				   buf_len(st->found));
			st->last_write = ev_now(ev);
			wake(st);
		}
		if (st->again) {
			st->again = false;
			stream_kick(st);
		}
	}
	array_free_with(&st->job_names, free);
	buf_reset(st->found);
	stream_unref(st);
}

/* Hand the dirty set (or a full look) to a job. */
static void look_start(struct stream *st, bool check)
{
	struct wm_daemon *d = st->evs->d;

	st->job = true;
	st->job_check = check;
	st->job_dead = false;
	if (st->rescan || !st->primed) {
		st->rescan = false;
		hash_free(&st->dirty);
		st->dirty = hash_new(HASH_DEFAULT, NULL);
		st->job_dirty = NULL;
	} else {
		st->job_dirty = st->dirty;
		st->dirty = hash_new(HASH_DEFAULT, NULL);
	}
	st->last_look = ev_now(server_ev(d->srv));
	st->refs++;
	worker_submit(d->pool, look_work, look_done, st);
}

static void on_kick(struct ev *ev, struct stream *st)
{
	(void)ev;
	if (st->gone || st->closed)
		return;
	if (st->job) {
		st->again = true;
		return;
	}
	if (st->rescan || hash_count(st->dirty) > 0)
		look_start(st, false);
}

static bool polling(const struct stream *st)
{
	return st->evs->sw == NULL || (st->uw != NULL && st->uw->degraded);
}

static int64_t tick_ms(const struct stream *st)
{
	return polling(st) ? st->evs->d->set.events_fallback_ms : KEEPALIVE_MS;
}

static void on_tick(struct ev *ev, struct stream *st)
{
	struct wm_daemon *d = st->evs->d;

	if (st->gone || st->closed)
		return;
	if (st->peer_closed || !wm_session_alive(d, st->s)) {
		st->closed = true;
		wake(st);
		return;
	}
	if (ev_now(ev) - st->last_write >= KEEPALIVE_MS - 100) {
		buf_append_str(st->pending, ": keepalive\n\n");
		st->last_write = ev_now(ev);
		wake(st);
	}
	if (!st->job) {
		if (polling(st))
			st->rescan = true;
		look_start(st, true);
	}
	EV_TIMER_ADD(ev, tick_ms(st), on_tick, st);
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status,
			      const char *code, const char *msg)
{
	json_t *v =
	    json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
	char *body = json_dumps(v, JSON_COMPACT);
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	json_decref(v);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	wm_http_common_headers(resp);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result wm_events_start(struct wm_daemon *d,
				struct MHD_Connection *conn,
				struct wm_session *s)
{
	struct wm_events *evs = d->events;
	struct ev *ev = server_ev(d->srv);
	struct MHD_Response *resp;
	struct stream *st;
	enum MHD_Result ret;

	if (evs->stopping) {
		wm_session_unref(d, s);
		return refuse(conn, 503, "unavailable",
			      "the server is stopping");
	}
	if (!wm_session_stream_add(d, s)) {
		wm_session_unref(d, s);
		return refuse(conn, 429, "throttled",
			      "too many event streams for this session");
	}
	st = xcalloc(1, sizeof(*st));
	st->evs = evs;
	st->s = s;
	st->conn = conn;
	st->fd = -1;
	st->pending = buf_new();
	st->found = buf_new();
	st->snap = hash_new(HASH_DEFAULT, free);
	st->dirty = hash_new(HASH_DEFAULT, NULL);
	st->refs = 1;
	st->last_write = ev_now(ev);
	/* The retry hint and a first line, so clients see the stream open. */
	buf_append_str(st->pending, "retry: 5000\n: connected\n\n");
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader,
						 st, reader_free);
	if (resp == NULL) {
		stream_unref(st);
		return MHD_NO;
	}
	st->next = evs->head;
	if (evs->head != NULL)
		evs->head->prev = st;
	evs->head = st;
	st->uw = user_watch_get(evs, s);
	list_push_back(&st->uw->streams, &st->unode);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	wm_http_common_headers(resp);
	/* The first look's reference, taken before the response can go. */
	st->refs++;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES) {
		/* reader_free has run. */
		stream_unref(st);
		return ret;
	}
	st->refs--;
	/* Prime the snapshot (and the watches) at once: later changes
	 * become events. */
	look_start(st, false);
	EV_TIMER_ADD(ev, tick_ms(st), on_tick, st);
	return ret;
}
