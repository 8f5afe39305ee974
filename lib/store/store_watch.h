/*
 * store_watch - change notification for Maildir++ folders: one inotify
 * descriptor per process, kernel watches shared by every subscriber of
 * the same directory (imapd IDLE and NOTIFY, the webmail's event
 * streams).
 *
 * A folder is watched on its new/ (deliveries) and cur/ (flag changes
 * and expunges are renames and unlinks there); a mailbox root on the
 * root directory itself, where only folder directories (".Name") and
 * the subscriptions file count (not the index files written all the
 * time).  The first subscriber of a directory adds the kernel watches,
 * the last one to leave removes them.  Callbacks only say "look again":
 * no event detail is passed, and a lost-events overflow calls every
 * subscriber.
 *
 * Threads: everything here runs on the loop thread of the struct ev;
 * callbacks are called from that loop and must only schedule work: they
 * may not add or remove subscriptions.  Errors: store_watch_new fails
 * with ERR_TEMP when inotify is not available; an add returns NULL when
 * no kernel watch could be added (the watch limit,
 * fs.inotify.max_user_watches, or a missing directory; logged): callers
 * then fall back to polling.
 */
#ifndef POSTERN_STORE_WATCH_H
#define POSTERN_STORE_WATCH_H

#include "core/error.h"

struct ev;
struct store_watch;
struct store_watch_sub;

typedef void store_watch_fn(void *ctx);

struct store_watch *store_watch_new(struct ev *ev, struct error *err);
/* Every subscription must have been removed. */
void store_watch_free(struct store_watch **w);

/* Watch DIR/new and DIR/cur (DIR: a folder's directory, as
 * store_folder_path gives it); cb(ctx) on the loop when they change. */
struct store_watch_sub *store_watch_folder(struct store_watch *w,
					   const char *dir, store_watch_fn *cb,
					   void *ctx);
/* Watch a mailbox ROOT: cb(ctx) when a folder directory or the
 * subscriptions file comes, goes or is replaced. */
struct store_watch_sub *store_watch_root(struct store_watch *w,
					 const char *root, store_watch_fn *cb,
					 void *ctx);
/* End a subscription (NULL is fine); *sub is set to NULL. */
void store_watch_remove(struct store_watch *w, struct store_watch_sub **sub);
/* Kernel watches held now (for logs and tests). */
unsigned store_watch_count(const struct store_watch *w);

#endif
