/*
 * wm-compose.h - what wm-compose.c, wm-send.c and wm-upload.c share with
 * each other and the rest of the webmail: the session's uploads (files
 * waiting to be attached), the routes, a few message helpers.
 *
 * Uploads live on disk, one private directory per session (mode 0700)
 * below $webmail_upload_directory, named by a hash of the session id, so
 * nothing is kept in memory and nothing another session can name.  Each
 * upload is two files: ID (the bytes) and ID.json (file name, content
 * type, size).  They go away after a send that used them, at logout and
 * session expiry (wm_uploads_drop, called by the session code), and when
 * older than the session lifetime (a sweep at each upload).
 *
 * Threads: worker threads, under the session's lock (wm.h), except
 * wm_uploads_drop, which may run anywhere once no request of that
 * session runs.
 */
#ifndef POSTERN_WEBMAIL_WM_COMPOSE_H
#define POSTERN_WEBMAIL_WM_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/error.h"
#include "wm.h"

/* Remove every upload of the session (logout, expiry).  Never fails;
 * logs what it cannot remove. */
void wm_uploads_drop(struct wm_session *s);

struct wm_upload {
	char id[32];
	char *filename;
	char *content_type;
	struct buf *data;
};

/* Store bytes as a new upload of r's session (file name and type are
 * cleaned: last path component, valid UTF-8, no controls; a valid
 * type/subtype or application/octet-stream): its upload object (a new
 * reference), or NULL with err (ERR_TEMP: disk; ERR_PERM: too many). */
json_t *wm_upload_add(struct wm_req *r, const char *filename,
		      const char *content_type, const void *data, size_t len,
		      struct error *err);
/* Load an upload of r's session: 1 with *u filled (release with
 * wm_upload_clear), 0 when the id names none, -1 error. */
int wm_upload_load(struct wm_req *r, const char *id, struct wm_upload *u,
		   struct error *err);
void wm_upload_clear(struct wm_upload *u);
/* Delete one upload: 1 deleted, 0 none such. */
int wm_upload_delete(struct wm_req *r, const char *id);

/* Routes of wm-upload.c (listed in wm_routes_compose). */
void wm_upload_post(struct wm_req *r);	 /* POST /api/uploads */
void wm_upload_remove(struct wm_req *r); /* DELETE /api/uploads/{id} */

/* ---- Between wm-compose.c and wm-send.c. */

/* Routes of wm-send.c. */
void wm_drafts_post(struct wm_req *r); /* POST /api/drafts */
void wm_send_post(struct wm_req *r);   /* POST /api/send */

/* 422 naming the field: {"error": {"code": "invalid", "message",
 * "field"}}. */
void wm_invalid(struct wm_req *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A UID from text / from JSON (number or text); false / 0 when not. */
bool wm_parse_uid(const char *s, uint32_t *uid);
uint32_t wm_json_uid(json_t *v);
/* A string member of a JSON object, "" when absent. */
const char *wm_jstr(json_t *obj, const char *key);

struct mindex_folder;
struct wm_msg;
/* A message of the session's store, read into memory. */
struct wm_orig {
	struct mindex_folder *f;
	uint32_t uid, seq;
	time_t internaldate;
	struct buf *data;
	struct wm_msg *msg;
	json_t *json; /* wm_msg_json */
};
/* Open folder (an API id) / uid of the session's store and read the
 * message (0), or answer 404/503 and return -1. */
int wm_orig_open(struct wm_req *r, const char *folder, uint32_t uid, bool rw,
		 struct wm_orig *o);
void wm_orig_close(struct wm_orig *o);
/* References of a reply to the message o->json describes: its
 * References (the last few) plus its Message-ID; malloc'd. */
char *wm_reply_references(json_t *oj);

#endif
