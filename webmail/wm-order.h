/*
 * wm-order.h - the message list's sorted orders and conversations of a
 * folder, kept per (user, folder) in the process, so a page of a large
 * folder costs O(page) after the first request.
 *
 * An entry holds, for every message of the folder (ascending UIDs): its
 * sort and thread keys (date, sender, base subject, message ids), size
 * and flags; the THREAD=REFERENCES grouping over all of them
 * (lib/imap/imap_thread.h: a thread's id is the UID of its first message
 * in the IMAP answer, as imapd's THREAD gives it); and, built on first
 * use and kept, the order of each sort key (date, from, subject, size)
 * over all messages and over the newest message of each thread.  A
 * descending order is the ascending one read backwards.
 *
 * Refresh: the caller passes the stamp of its folder view (UIDVALIDITY,
 * UIDNEXT, message count, HIGHESTMODSEQ).  The same stamp as last time:
 * nothing is done.  Otherwise the caller's list of messages (UID, flags,
 * size: memory only) is compared with the entry: flag changes update the
 * flags and the unread count and nothing else; new UIDs get their keys
 * from the caller's loader (only the new ones), and new or gone messages
 * rebuild the threads from memory and drop the orders (rebuilt on the
 * next request that wants them).  Another UIDVALIDITY starts over.
 *
 * Memory: at most WM_ORDER_MAX_FOLDERS entries; an entry nobody uses
 * for WM_ORDER_IDLE_SECONDS is freed, and when the table is full the one
 * used least recently goes.  About 150 bytes per message plus its keys,
 * and up to WM_ORDER_TEXT_MAX of kept texts.
 *
 * Threads: the table and each entry have a mutex; wm_order_get returns
 * the entry locked (and referenced) until wm_order_put, so a handler
 * reads a consistent entry while other threads wait for that one folder
 * only.  Errors: the loader's (-1 with err), nothing else fails.
 */
#ifndef POSTERN_WEBMAIL_WM_ORDER_H
#define POSTERN_WEBMAIL_WM_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define WM_ORDER_MAX_FOLDERS 32
#define WM_ORDER_IDLE_SECONDS 600

enum wm_order_key {
	WM_ORDER_DATE,
	WM_ORDER_FROM,
	WM_ORDER_SUBJECT,
	WM_ORDER_SIZE,
	WM_ORDER_NKEYS
};

/* What identifies a state of the caller's folder view. */
struct wm_order_stamp {
	uint32_t uidvalidity, uidnext, count;
	uint64_t highestmodseq;
};

/* A message of the view. */
struct wm_order_msg {
	uint32_t uid;
	uint32_t flags; /* STORE_FLAG_* */
	uint64_t size;
};

/* The keys of a message, from the loader; strings are copied. */
struct wm_order_keys {
	int64_t date;	     /* sent date (INTERNALDATE without one) */
	bool reply;	     /* the subject had Re:/Fwd: */
	const char *msgid;   /* "<id>", "" or NULL when none */
	const char *base;    /* RFC 5256 base subject */
	const char *fromkey; /* sender's name, else address */
	const char *refs;    /* "<a@b> <c@d>": References, else In-Reply-To */
};

struct wm_order_source {
	struct wm_order_stamp stamp;
	/* Every message of the view, ascending UIDs (*msgs_r malloc'd,
	 * freed by the caller of the callback); called only when the stamp
	 * is not the entry's. */
	size_t (*list)(void *ctx, struct wm_order_msg **msgs_r);
	/* The keys of uids[0..n) (ascending) into keys_r[0..n); strings
	 * must stay valid until the next call or the end of wm_order_get. */
	int (*keys)(void *ctx, const uint32_t *uids, size_t n,
		    struct wm_order_keys *keys_r, struct error *err);
	void *ctx;
};

struct wm_order;

/*
 * The entry of (user, folder), brought up to date with src, locked and
 * referenced: give it back with wm_order_put.  NULL with err when the
 * loader failed.
 */
struct wm_order *wm_order_get(const char *user, const char *folder,
			      const struct wm_order_source *src,
			      struct error *err);
void wm_order_put(struct wm_order **o);
/* As wm_order_get, but only when the process has an entry for (user,
 * folder) already; NULL without an error when it has none. */
struct wm_order *wm_order_peek(const char *user, const char *folder,
			       const struct wm_order_source *src,
			       struct error *err);

/* Messages, unread ones (no \Seen), threads. */
size_t wm_order_count(const struct wm_order *o);
size_t wm_order_unread(const struct wm_order *o);
size_t wm_order_threads(const struct wm_order *o);

/* One message of a page. */
struct wm_order_item {
	uint32_t uid;
	uint32_t flags;
	uint64_t size;
	int64_t date;
	uint32_t thread;       /* UID of the thread's first message */
	uint32_t thread_count; /* messages in the thread */
};

/*
 * Items [offset, offset+limit) of the list sorted by key (ties: by
 * UID), descending when desc; threads: one item per thread, its newest
 * message (latest date, then highest UID).  Returns how many were
 * written to items_r (room for limit).  The order is built on the first
 * call for (key, threads) and kept until messages come or go.
 */
size_t wm_order_page(struct wm_order *o, enum wm_order_key key, bool desc,
		     bool threads, size_t offset, size_t limit,
		     struct wm_order_item *items_r);
/* The item of uid: true, false when it is not in the entry. */
bool wm_order_item(const struct wm_order *o, uint32_t uid,
		   struct wm_order_item *item_r);
/*
 * The messages of uid's thread, by date ascending (ties: UID), into
 * *items_r (malloc'd); returns the count, 0 when uid is not there.
 */
size_t wm_order_thread_items(const struct wm_order *o, uint32_t uid,
			     struct wm_order_item **items_r);

/*
 * A text the caller keeps with a message of the entry (the list keeps
 * the rendered fixed part of its summary, so a page costs no JSON
 * parsing).  It goes with the message; at most WM_ORDER_TEXT_MAX bytes
 * per entry (when a new one would pass that, every text of the entry is
 * dropped first).  wm_order_text: NULL when none; valid until the next
 * wm_order_set_text or wm_order_put.  set_text copies; ignored when uid
 * is not in the entry.
 */
#define WM_ORDER_TEXT_MAX (2u << 20)
const char *wm_order_text(const struct wm_order *o, uint32_t uid);
void wm_order_set_text(struct wm_order *o, uint32_t uid, const char *text);

/* Counters (tests, bench): full thread builds, order sorts, key loads
 * (messages whose keys were asked of a loader). */
struct wm_order_stats {
	unsigned long long thread_builds, sorts, keys_loaded, refreshes;
};
void wm_order_stats_get(struct wm_order_stats *st);
/* Free every entry nobody holds (tests). */
void wm_order_forget(void);

#endif
