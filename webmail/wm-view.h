/*
 * wm-view.h - what wm-view.c shares with the other handlers
 * (wm-search.c): opening a folder of the session's own store.
 */
#ifndef POSTERN_WEBMAIL_WM_VIEW_H
#define POSTERN_WEBMAIL_WM_VIEW_H

#include <stdbool.h>

#include "wm.h"

struct mindex_folder;

/*
 * Open folder `id` (the API's folder id: the on-disk name, checked by
 * wm_folder_arg of wm-folders.c) of the session's store, read-write
 * when rw (that also moves new/ to cur/, as an IMAP SELECT).  -1 after
 * answering the error: 401 without a session, 404 for a name that is
 * invalid or not there (both alike: nothing tells a user which names
 * exist elsewhere), 503 for trouble.
 */
int wm_view_open_folder(struct wm_req *r, const char *id, bool rw,
			struct mindex_folder **f_r);

#endif
