/*
 * wm-events.c - GET /api/events: a server-sent event stream that tells
 * the browser when one of the user's folders changed (new mail, flags,
 * expunges), so the list updates without a reload.
 *
 * Each stream looks every webmail_events_interval at the user's folders
 * in the worker pool: a stat() of each folder's new/ and cur/ (a
 * delivery, a flag change and an expunge all change one of their
 * mtimes), and mindex_folder_status() only for a folder whose mtimes
 * moved.  A change in total, unread, uidnext or highest modseq sends
 *   event: folder
 *   data: {"folder": "INBOX", "total": 3, "unread": 1, "uidnext": 4}
 * and a comment line goes out every 25 seconds so proxies keep the
 * connection.  Polling rather than inotify keeps one simple bounded cost
 * (at most webmail_events_per_session streams per session), works on
 * every file system and sees changes from imapd, lmtpd and Dovecot alike.
 *
 * The response is a libmicrohttpd callback response: with nothing to
 * send the reader suspends the connection, and the loop resumes it when
 * there is.  The stream ends when its session does (logout, expiry) or
 * at SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-core.h"

#define KEEPALIVE_MS 25000
/* Folders watched per stream at most (a mailbox with more is watched
 * for its first ones: INBOX and the special-use folders come first). */
#define MAX_FOLDERS 500

struct fsnap {
	struct timespec new_mt, cur_mt;
	uint32_t total, unread, uidnext;
	uint64_t modseq;
};

struct stream {
	struct wm_events *evs;
	struct wm_session *s;
	struct MHD_Connection *conn;
	struct buf *pending; /* loop thread */
	struct buf *found;   /* the running job's */
	struct hash *snap;   /* folder -> struct fsnap (the job's) */
	int64_t last_write;
	unsigned refs;
	bool suspended, closed, gone, job, primed;
	bool peer_closed; /* the client went away */
	struct stream *prev, *next;
};

struct wm_events {
	struct wm_daemon *d;
	struct stream *head;
	bool stopping;
};

struct wm_events *wm_events_new(struct wm_daemon *d)
{
	struct wm_events *evs = xcalloc(1, sizeof(*evs));
	evs->d = d;
	return evs;
}

static void on_tick(struct ev *ev, struct stream *st);

static void wake(struct stream *st)
{
	if (st->suspended && !st->gone) {
		st->suspended = false;
		wm_http_resume(st->evs->d, st->conn);
	}
}

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
	free(st);
}

void wm_events_stop(struct wm_events *evs)
{
	if (evs == NULL)
		return;
	evs->stopping = true;
	for (struct stream *st = evs->head; st != NULL; st = st->next) {
		EV_TIMER_DEL(server_ev(evs->d->srv), on_tick, st);
		st->closed = true;
		wake(st);
	}
}

void wm_events_free(struct wm_events **evsp)
{
	struct wm_events *evs = *evsp;

	if (evs == NULL)
		return;
	/* http_server_free() has run: every response was destroyed. */
	free(evs);
	*evsp = NULL;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *st = cls;
	size_t n = buf_len(st->pending);

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
	st->suspended = true;
	MHD_suspend_connection(st->conn);
	return 0;
}

/* The connection is gone (client closed, stream ended, daemon stop). */
static void reader_free(void *cls)
{
	struct stream *st = cls;
	struct wm_events *evs = st->evs;

	st->gone = true;
	EV_TIMER_DEL(server_ev(evs->d->srv), on_tick, st);
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		evs->head = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
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
static void poll_folder(struct stream *st, const char *name)
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
	json_t *v = json_pack("{s:s,s:I,s:I,s:I}", "folder", name, "total",
			      (json_int_t)now.total, "unread",
			      (json_int_t)now.unread, "uidnext",
			      (json_int_t)now.uidnext);
	char *data = json_dumps(v, JSON_COMPACT);
	if (data != NULL)
		buf_printf(st->found, "event: folder\ndata: %s\n\n", data);
	free(data);
	json_decref(v);
}

static void poll_work(void *ctx)
{
	struct stream *st = ctx;
	struct array *list = NULL;
	struct error err;

	wm_session_lock(st->s);
	if (mindex_folder_list(st->s->mu, &list, &err) < 0) {
		log_warn("webmail(%s): events: %s", st->s->address, err.msg);
	} else {
		for (size_t i = 0; i < array_len(list) && i < MAX_FOLDERS;
		     i++) {
			const struct mindex_folder_info *fi = array_get(list, i);
			if (!(fi->attrs & MINDEX_ATTR_NONEXISTENT))
				poll_folder(st, fi->name);
		}
		mindex_folder_list_free(&list);
	}
	st->primed = true;
	wm_session_unlock(st->s);
}

static void poll_done(void *ctx)
{
	struct stream *st = ctx;
	struct ev *ev = server_ev(st->evs->d->srv);

	st->job = false;
	if (!st->gone && buf_len(st->found) > 0) {
		buf_append(st->pending, buf_data(st->found),
			   buf_len(st->found));
		st->last_write = ev_now(ev);
		wake(st);
	}
	buf_reset(st->found);
	stream_unref(st);
}

/* A suspended connection is not watched by MHD: see for ourselves
 * whether the client went away (EOF or error on its socket), so a
 * closed tab frees its slot at once rather than at the next keepalive. */
static bool peer_gone(struct stream *st)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	ssize_t n;

	if (!st->suspended || ci == NULL)
		return false;
	n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			  errno != EINTR);
}

static void on_tick(struct ev *ev, struct stream *st)
{
	struct wm_daemon *d = st->evs->d;

	if (st->gone || st->closed)
		return;
	if (peer_gone(st))
		st->peer_closed = true;
	if (st->peer_closed || !wm_session_alive(d, st->s)) {
		st->closed = true;
		wake(st);
		return;
	}
	if (ev_now(ev) - st->last_write >= KEEPALIVE_MS) {
		buf_append_str(st->pending, ": keepalive\n\n");
		st->last_write = ev_now(ev);
		wake(st);
	}
	if (!st->job) {
		st->job = true;
		st->refs++;
		worker_submit(d->pool, poll_work, poll_done, st);
	}
	EV_TIMER_ADD(ev, d->set.events_interval_ms, on_tick, st);
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status,
			      const char *code, const char *msg)
{
	json_t *v = json_pack("{s:{s:s,s:s}}", "error", "code", code,
			      "message", msg);
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
		return refuse(conn, 503, "unavailable", "the server is stopping");
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
	st->pending = buf_new();
	st->found = buf_new();
	st->snap = hash_new(HASH_DEFAULT, free);
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
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	wm_http_common_headers(resp);
	/* The first poll's reference, taken before the response can go. */
	st->job = true;
	st->refs++;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES) {
		/* reader_free has run. */
		stream_unref(st);
		return ret;
	}
	/* Prime the snapshot at once: later changes become events. */
	worker_submit(d->pool, poll_work, poll_done, st);
	EV_TIMER_ADD(ev, d->set.events_interval_ms, on_tick, st);
	return ret;
}
