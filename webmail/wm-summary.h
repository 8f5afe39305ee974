/*
 * wm-summary.h - the summary object of docs/webmail-api.md ("Summary":
 * uid, thread, thread_count, date, from, to, subject, size, flags,
 * has_attachments, preview) for handlers other than the list: search
 * results (wm-search.c) and the message view (wm-view.c).
 *
 * Errors: -1 with err (ERR_TEMP for file trouble).  Threads: as the
 * mindex_folder handle (one thread at a time).
 */
#ifndef POSTERN_WEBMAIL_WM_SUMMARY_H
#define POSTERN_WEBMAIL_WM_SUMMARY_H

#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "wm.h"

struct mindex_folder;

/* The flag fields (seen, flagged, answered, draft) of a STORE_FLAG_*
 * set into obj. */
void wm_summary_flags(uint32_t flags, json_t *obj);
/*
 * The summary of message seq of f: the list's (wm_list_summary, cached
 * in the index), so both show the same.  1 with *obj_r (a new
 * reference), 0 when the message is gone (expunged meanwhile), -1 error.
 * Its thread is set as wm_summary_thread does, except that a folder the
 * process has no list state for is only summarised whole for it when it
 * has at most 5,000 messages; a hit in a bigger one stands alone
 * (thread = uid, thread_count 1) until the folder is listed.
 */
int wm_summary_build(struct wm_req *r, struct mindex_folder *f, uint32_t seq,
		     json_t **obj_r, struct error *err);
/* Set "thread" and "thread_count" of obj (message uid of f) from the
 * list's order state of (session user, folder) (wm-order.h), so they
 * are the list's: THREAD=REFERENCES over the folder.  The first call on
 * a folder the process has no entry for reads every message's keys
 * (as the list's first request); later ones cost a stamp comparison. */
void wm_summary_thread(struct wm_req *r, struct mindex_folder *f, uint32_t uid,
		       json_t *obj);

#endif
