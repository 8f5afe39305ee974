/*
 * wm-core.h - the daemon's own state, behind wm.h (wm-main.c, wm-http.c,
 * wm-session.c, wm-events.c only; handlers see struct wm and wm_req).
 *
 * Threads: the session table has its own mutex, so lookups (loop thread)
 * and logins/logouts (worker threads) may run at once.  A session is
 * reference-counted: the table holds one reference, every running
 * request and event stream one more; the last unref frees it (closing
 * its mindex and store handles).  Each session has a lock that is held
 * around every handler and event poll, because its mindex_user handle
 * is used by one thread at a time.
 */
#ifndef POSTERN_WEBMAIL_WM_CORE_H
#define POSTERN_WEBMAIL_WM_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "server/http.h"
#include "wm.h"

struct auth_throttle;
struct mindex_folder;
struct worker_pool;
struct wm_sessions;
struct wm_events;

struct wm_settings {
	int64_t session_timeout;  /* seconds of idleness */
	int64_t session_lifetime; /* seconds since login */
	size_t body_limit;
	size_t upload_limit;	  /* POST /api/uploads bodies */
	unsigned events_per_session;
	int64_t events_interval_ms;  /* looks of one stream at most this often */
	int64_t events_fallback_ms;  /* without inotify: poll this often */
	bool cookie_secure;
	char *default_scheme;
	bool password_upgrade;
	unsigned auth_window;	  /* Retry-After of a 429 */
	unsigned max_failures;	  /* auth_throttle_max_failures */
};

struct wm_daemon {
	struct wm wm; /* first: handlers get &d->wm */
	struct wm_settings set;
	struct server *srv;
	struct http_server *hs;
	struct worker_pool *pool;
	struct wm_sessions *sessions;
	struct wm_events *events;
	struct auth_throttle *throttle;	   /* per address */
	struct auth_throttle *throttle_ip; /* per client address */
	char *mail_dir;
	unsigned running; /* requests in the worker pool (loop thread) */
	bool stopping;	  /* SIGTERM: end HTTP once running is 0 */
};

static inline struct wm_daemon *wm_daemon(const struct wm *wm)
{
	return (struct wm_daemon *)(void *)wm;
}

/* ---- wm-session.c: the session table ---- */

struct wm_sessions *wm_sessions_new(void);
/* Drops every session (at exit; no request may run). */
void wm_sessions_free(struct wm_sessions **t);
/* The live session of a cookie value, with a reference; NULL when none
 * or expired (then it is removed).  touch: count as activity.  Checks
 * SQL (and opens the mailbox of a session another process made): worker
 * threads only. */
struct wm_session *wm_session_get(struct wm_daemon *d, const char *id,
				  bool touch);
/* The loop's lookup, from this process's cache only: 1 and *s_r (with a
 * reference) when cached and checked against SQL less than a second ago,
 * 0 when the id cannot be a session, -1 when wm_session_get must decide
 * (in the worker pool). */
int wm_session_find(struct wm_daemon *d, const char *id, bool touch,
		    struct wm_session **s_r);
void wm_session_unref(struct wm_daemon *d, struct wm_session *s);
/* Still in the table and not expired (event streams ask each poll). */
bool wm_session_alive(struct wm_daemon *d, struct wm_session *s);
/* wm_session_alive, and still in SQL (a logout on another process):
 * worker threads only (a query). */
bool wm_session_revalidate(struct wm_daemon *d, struct wm_session *s);
/* Serialise the requests of one session. */
void wm_session_lock(struct wm_session *s);
void wm_session_unlock(struct wm_session *s);
/* The folder the list keeps open between requests of the session
 * (wm-list.c; used under the session lock, closed with the session). */
struct wm_folder_cache {
	char *name;
	struct mindex_folder *f;
};
struct wm_folder_cache *wm_session_folder_cache(struct wm_session *s);
/* Count an event stream: false when the session has its maximum. */
bool wm_session_stream_add(struct wm_daemon *d, struct wm_session *s);
void wm_session_stream_del(struct wm_daemon *d, struct wm_session *s);
/* Remove expired sessions (a timer calls it). */
void wm_sessions_sweep(struct wm_daemon *d);
/* The login route (wm-session.c) wants the previous cookie's session
 * ended: wm-http.c passes the cookie value through this field. */
const char *wm_req_cookie(const struct wm_req *r);
/* The Set-Cookie value of a session id ("" id: clear the cookie). */
char *wm_cookie_value(const struct wm_daemon *d, const char *id);

/* ---- wm-events.c: GET /api/events ---- */

struct wm_events *wm_events_new(struct wm_daemon *d);
/* End every stream (SIGTERM), so the loop can stop. */
void wm_events_stop(struct wm_events *ev);
void wm_events_free(struct wm_events **ev);
/* Answer GET /api/events on conn for session s (takes its reference). */
enum MHD_Result wm_events_start(struct wm_daemon *d,
				struct MHD_Connection *conn,
				struct wm_session *s);
/* The session ended (logout, expiry): end its streams now (loop). */
void wm_events_session_gone(struct wm_daemon *d, struct wm_session *s);
/* Resume a suspended stream connection (the loop). */
void wm_http_resume(struct wm_daemon *d, struct MHD_Connection *conn);
/* Add the headers every answer has (nosniff, referrer, frame). */
void wm_http_common_headers(struct MHD_Response *resp);

/* ---- wm-folders.c / wm-list.c: helpers other handlers may use ---- */

struct mindex_folder;
/* The on-disk name of a folder id of s ("INBOX" for any spelling of
 * it), malloc'd; NULL with MINDEX_ERR_NOTFOUND when the id is invalid
 * or no such folder exists (never another user's: names cannot leave
 * the session's mailbox). */
char *wm_folder_check(struct wm_session *s, const char *id, struct error *err);
/* wm_folder_check answering the request (404/503) on failure. */
char *wm_folder_arg(struct wm_req *r, const char *id);
/* "inbox", "drafts", "sent", "junk", "trash", "archive" or NULL. */
const char *wm_folder_role(struct wm_session *s, const char *name);
/* Expunge every message of a folder. */
int wm_folder_expunge_all(struct wm_session *s, const char *name,
			  struct error *err);
/* The summary object (docs/webmail-api.md) of one message of an open
 * folder (thread = its own UID, thread_count 1). */
json_t *wm_list_summary(struct mindex_folder *f, uint32_t seq, struct error *err);
/* The thread id (UID of its first message) and size of uid's
 * conversation in f of user (the session's address), as the list gives
 * them (the same wm-order.h entry).  When the process has no entry for
 * the folder yet, one is built (every message's keys read, summaries
 * computed for those without) only if f has at most build_max messages
 * (UINT32_MAX: always).  1; 0 when uid is not in the view or the folder
 * was too big to build (then *thread_r = uid, *count_r = 1); -1 error. */
int wm_list_thread_of(const char *user, struct mindex_folder *f, uint32_t uid,
		      uint32_t build_max, uint32_t *thread_r, uint32_t *count_r,
		      struct error *err);

/* ---- wm-http.c ---- */

struct http_server *wm_http_start(struct wm_daemon *d, const char *cert_pem,
				  const char *key_pem, struct error *err);
/* SIGTERM: close every connection once the running requests are done
 * (idle keep-alive connections would otherwise hold the loop, through
 * MHD's timeout timer, until they time out). */
void wm_http_stop(struct wm_daemon *d);
/* The page served until webmail/static/ has an index.html. */
extern const char wm_builtin_page[];

/* webmail/static/, embedded at build time (embed_static.cmake); ends
 * with a NULL name. */
struct wm_static_file {
	const char *name; /* relative to static/: "app.js", "img/x.svg" */
	const unsigned char *data;
	size_t len;
};
extern const struct wm_static_file wm_static_files[];

#endif
