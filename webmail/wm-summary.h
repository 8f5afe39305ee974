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
 * Its thread is the message alone (thread = uid, thread_count 1).
 */
int wm_summary_build(struct wm_req *r, struct mindex_folder *f, uint32_t seq,
		     json_t **obj_r, struct error *err);
/* Set "thread" and "thread_count" of obj (message uid of f): the
 * message alone, as wm_list_summary does for single messages; the list
 * (wm-list.c) computes real threads over the whole folder. */
void wm_summary_thread(struct wm_req *r, struct mindex_folder *f, uint32_t uid,
		       json_t *obj);

#endif
