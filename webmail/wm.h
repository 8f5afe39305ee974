/*
 * wm.h - private interface of postern-webmail (this folder only): the
 * contract between the HTTP front (wm-http.c: collecting, routing,
 * sessions, CSRF, static files, events) and the handlers (wm-folders.c,
 * wm-list.c, wm-view.c, wm-search.c, wm-compose.c, ...).
 *
 * A request is collected on the loop thread (method, path, query,
 * cookies, headers, body up to webmail_body_limit), routed by method and
 * path pattern, its session looked up and, for every method but GET and
 * HEAD, its CSRF token checked (header X-CSRF-Token == the session's
 * token).  Then the connection is suspended and the handler runs as one
 * job in the worker pool: it may block on the store, the index, SQL.
 * Requests of one session are serialised (the session's lock is held
 * around the handler), because a mindex_user handle is used by one
 * thread at a time.  The answer is queued when the connection resumes.
 *
 * Handlers answer through wm_json / wm_error / wm_body: one answer per
 * request, the last call wins.  Error body as the admin API's:
 * {"error": {"code": "...", "message": "..."}}.  docs/webmail-api.md is
 * the reference of every route.
 */
#ifndef POSTERN_WEBMAIL_WM_H
#define POSTERN_WEBMAIL_WM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"

struct conf;
struct db;
struct mindex_user;
struct store;
struct store_mailbox;

/* Process-wide state, read-only after start (wm-main.c). */
struct wm {
	const struct conf *conf;
	struct db *db;		 /* SQL: logins, mailbox rows */
	struct store *store;	 /* mail_directory */
	char *queue_socket;	 /* for sending (lib/queue/submit.h) */
	unsigned char secret[32]; /* HMAC key: image proxy URLs, tokens */
	bool tls;		 /* served over HTTPS: Secure cookies */
	/* passdb reads: replicas first, then the primary (db_open_read);
	 * NULL when it could not be opened (then db is used). */
	struct db *read_db;
	char *content_filter; /* $content_filter for sent mail, "" none */
};

/* A logged-in user (wm-session.c).  Owned by the session table; valid
 * while a handler runs. */
struct wm_session {
	char id[44];		 /* cookie value (random, base64url) */
	char csrf[44];		 /* X-CSRF-Token value */
	char *address;		 /* the mailbox address, normalised */
	char *name;		 /* display name from SQL, may be "" */
	struct store_mailbox *mbox;
	struct mindex_user *mu;	 /* the store index handle */
	uint64_t quota_bytes;	 /* 0: unlimited */
};

/* One request, as the handler sees it. */
struct wm_req {
	const struct wm *wm;
	struct wm_session *session; /* NULL only for routes without login */
	const char *method;	    /* "GET", "POST"... */
	const char *path;	    /* decoded, e.g. "/api/folders/INBOX" */
	/* {placeholders} of the route pattern, decoded, in order. */
	const char *args[4];
	size_t nargs;
	struct array *query;	    /* char *: name, value, name, value... */
	const char *content_type;   /* request Content-Type or "" */
	const struct buf *body;	    /* request body (may be empty) */
	const char *client;	    /* client address text */

	/* The answer, filled by the handler. */
	unsigned status;
	const char *ctype;	    /* static string */
	struct buf *out;	    /* answer body */
	struct array *headers;	    /* char *: name, value... (extra) */
};

/* Query parameter by name, NULL when absent. */
const char *wm_query(const struct wm_req *r, const char *name);
/* Integer query parameter with a default and bounds (clamped). */
long long wm_query_int(const struct wm_req *r, const char *name, long long def,
		       long long min, long long max);
/* Parse the body as a JSON object; NULL after answering 400 itself. */
json_t *wm_body_json(struct wm_req *r);

/* Answer JSON (takes the reference of v). */
void wm_json(struct wm_req *r, unsigned status, json_t *v);
/* Answer {"error": {...}}. */
void wm_error(struct wm_req *r, unsigned status, const char *code,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer an error from a struct error: ERR_TEMP -> 503 "unavailable",
 * not_found codes -> 404, others -> 500; logs ERR_TEMP/500 ones. */
void wm_fail(struct wm_req *r, const struct error *err);
/* Answer raw bytes with a content type (static string); the body is
 * copied. */
void wm_body(struct wm_req *r, unsigned status, const char *ctype,
	     const void *data, size_t len);
/* Add a response header (copied) to the answer already set: a later
 * wm_json / wm_error / wm_fail / wm_body drops it with the answer. */
void wm_header(struct wm_req *r, const char *name, const char *value);

typedef void wm_handler(struct wm_req *r);

/* One route: method and a pattern with {x} segments that match one path
 * segment each, or {x*} (last) matching the rest of the path. */
struct wm_route {
	const char *method;
	const char *pattern;	    /* "/api/folders/{folder}/messages" */
	wm_handler *fn;
	bool no_session;	    /* login, static files */
};

/* Route tables, each ending with {NULL}; wm-http.c routes over all. */
extern const struct wm_route wm_routes_session[];  /* wm-session.c */
extern const struct wm_route wm_routes_folders[];  /* wm-folders.c */
extern const struct wm_route wm_routes_list[];	   /* wm-list.c */
extern const struct wm_route wm_routes_view[];	   /* wm-view.c */
extern const struct wm_route wm_routes_search[];   /* wm-search.c */
extern const struct wm_route wm_routes_compose[];  /* wm-compose.c */

/* Folder names: the API uses the on-disk name ("INBOX", "Sent",
 * "Lists.postern", modified UTF-7) as the folder id, and a display name
 * in UTF-8 with "/" between levels.  wm-folders.c. */
char *wm_folder_display(const char *disk_name);
/* Display (UTF-8, "/") to on-disk; NULL when invalid. */
char *wm_folder_from_display(const char *display);

#endif
