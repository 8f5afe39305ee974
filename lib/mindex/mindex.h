/*
 * mindex - the mail index over the Maildir store (docs/index.md): what
 * IMAP needs beyond the files of lib/store.
 *
 *   - UIDs: dovecot-uidlist in each folder (Dovecot 2.3 format, version
 *     3) is the authority for UID <-> file and UIDVALIDITY, so a store
 *     written by Dovecot keeps its UIDs here and Dovecot reads ours.
 *   - Keywords: dovecot-keywords maps Dovecot's letters a-z in file names
 *     to keyword names (26 per folder at most).
 *   - Folders: Maildir++ ".Name" directories, names as on disk (modified
 *     UTF-7, "." separator; "INBOX"), and Dovecot's "subscriptions" file.
 *   - MODSEQ, expunge log and cached message data (ENVELOPE,
 *     BODYSTRUCTURE...): a per-user SQLite database
 *     ROOT/DOMAIN/LOCAL/postern-index.sqlite.  It is a cache: lost or
 *     corrupt, it is rebuilt from the files; HIGHESTMODSEQ never goes
 *     backwards (a rebuilt index starts above any modseq given before).
 *
 * Ownership: a struct mindex_user belongs to one session (or one
 * delivery); a struct mindex_folder to one session.  Pointers returned
 * by accessors (messages, names) stay valid until the next call that
 * changes the folder's view: mindex_folder_sync, mindex_store_flags,
 * mindex_expunge (a sync may renumber) or close.
 *
 * Shared state: the handles of one folder in one process share one
 * message table (docs/index.md, "Shared state"); a handle holds only
 * what its session was told (a reference to the table as it was then,
 * its \Recent UIDs, and while needed the messages others expunged that
 * it has not reported yet).  The disk is checked once for all of them,
 * and STORE, EXPUNGE, APPEND and COPY by one handle reach the others at
 * their next sync without any listing.
 *
 * Threads: one user/folder handle is used by one thread at a time;
 * different handles (on the same folder too) may be used concurrently
 * from several threads and processes (Dovecot included).  The shared
 * table has a mutex, taken by every call that syncs or changes a folder;
 * between those calls a handle's view is immutable (copy-on-write), so
 * everything a command reads through mindex_msg() is consistent for as
 * long as the command makes no such call, and reading takes no lock.
 * No SQLite connection is held while idle: each operation opens the
 * database (or takes a handle from a small per-process pool) and gives
 * it back.
 *
 * Errors: -1 with err.  ERR_TEMP for file system/database trouble,
 * ERR_PERM for what will not work; err->code tells imapd which IMAP
 * response code to send (MINDEX_ERR_* below, STORE_ERR_QUOTA,
 * STORE_ERR_NOSPACE, STORE_ERR_INVALID).  Nothing here logs.
 */
#ifndef POSTERN_MINDEX_H
#define POSTERN_MINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_name.h"

/* err->code values (static strings) -> IMAP response codes. */
#define MINDEX_ERR_EXISTS "already_exists" /* [ALREADYEXISTS] */
#define MINDEX_ERR_NOTFOUND "not_found"	   /* [NONEXISTENT] / [TRYCREATE] */
#define MINDEX_ERR_INVALID "invalid_name"  /* [CANNOT]; == STORE_ERR_INVALID */
#define MINDEX_ERR_HASCHILDREN "has_children" /* [CANNOT] / [INUSE] */
#define MINDEX_ERR_INBOX "inbox"	      /* [CANNOT]: DELETE INBOX... */
#define MINDEX_ERR_LIMIT "limit"	      /* [LIMIT]: 26 keywords used */
#define MINDEX_ERR_EXPUNGED "expunged"	      /* [EXPUNGEISSUED] */
#define MINDEX_ERR_READONLY "read_only"	      /* folder opened read-only */
/* The folder's UIDVALIDITY changed under an open view (its uidlist was
 * lost and recreated): imapd must end the session (BYE). */
#define MINDEX_ERR_UIDVALIDITY "uidvalidity_changed"

/* err->code == code (compares the strings; NULL-safe). */
bool mindex_err_is(const struct error *err, const char *code);

/* Maximum keywords per folder (Dovecot's letters a-z). */
#define MINDEX_KEYWORDS_MAX 26

/* Special-use folders (RFC 6154), by on-disk name; NULL: none. */
struct mindex_settings {
	const char *drafts;  /* "Drafts" -> \Drafts */
	const char *sent;    /* "Sent" -> \Sent */
	const char *trash;   /* "Trash" -> \Trash */
	const char *junk;    /* "Junk" -> \Junk */
	const char *archive; /* "Archive" -> \Archive */
};

struct mindex_user;
struct mindex_folder;

/*
 * A handle on one user's mailbox.  mbox is borrowed and must outlive the
 * handle; settings are copied.  Touches no file.
 */
struct mindex_user *mindex_user_open(struct store_mailbox *mbox,
				     const struct mindex_settings *set,
				     struct error *err);
void mindex_user_free(struct mindex_user **u);
struct store_mailbox *mindex_user_mailbox(struct mindex_user *u);

/* ------------------------------------------------------------------ */
/* Folders (names as on disk: "INBOX", "Sent", "Lists.postern").       */

enum {
	MINDEX_ATTR_HASCHILDREN = 1 << 0,
	MINDEX_ATTR_HASNOCHILDREN = 1 << 1,
	/* Not a folder (a subscription to a missing folder, or the parent
	 * "A" of an existing "A.B"); IMAP: \NonExistent (implies \Noselect). */
	MINDEX_ATTR_NONEXISTENT = 1 << 2,
	MINDEX_ATTR_SUBSCRIBED = 1 << 3,
	MINDEX_ATTR_DRAFTS = 1 << 4,
	MINDEX_ATTR_SENT = 1 << 5,
	MINDEX_ATTR_TRASH = 1 << 6,
	MINDEX_ATTR_JUNK = 1 << 7,
	MINDEX_ATTR_ARCHIVE = 1 << 8,
};
#define MINDEX_ATTR_SPECIAL_USE                                                \
	(MINDEX_ATTR_DRAFTS | MINDEX_ATTR_SENT | MINDEX_ATTR_TRASH |           \
	 MINDEX_ATTR_JUNK | MINDEX_ATTR_ARCHIVE)

struct mindex_folder_info {
	char *name; /* on disk, "INBOX" for the INBOX */
	unsigned attrs;
};

/*
 * Every folder (INBOX first, then sorted by name), plus subscribed names
 * that do not exist and missing parents of existing folders (both with
 * MINDEX_ATTR_NONEXISTENT).  Pattern matching (LIST "*" / "%") is the
 * caller's.  *list_r: array of struct mindex_folder_info *, free with
 * mindex_folder_list_free.
 */
int mindex_folder_list(struct mindex_user *u, struct array **list_r,
		       struct error *err);
void mindex_folder_list_free(struct array **list);
/* The special-use attribute (MINDEX_ATTR_DRAFTS...) of a name, or 0. */
unsigned mindex_special_use(struct mindex_user *u, const char *name);
/* 1 when the folder exists (INBOX: always), 0 when not, -1 invalid. */
int mindex_folder_exists(struct mindex_user *u, const char *name,
			 struct error *err);

/* CREATE: MINDEX_ERR_EXISTS when it exists, MINDEX_ERR_INVALID. */
int mindex_folder_create(struct mindex_user *u, const char *name,
			 struct error *err);
/* Create (and subscribe) every configured special-use folder that does
 * not exist yet; called by imapd at login.  Existing ones are left. */
int mindex_special_create(struct mindex_user *u, struct error *err);
/*
 * DELETE: removes the folder's messages and directory and its index
 * data.  INBOX: MINDEX_ERR_INBOX.  A folder with children:
 * MINDEX_ERR_HASCHILDREN ("Mailbox has children, delete them first",
 * as Dovecot with Maildir++ answers).  Missing: MINDEX_ERR_NOTFOUND.
 * Subscriptions are kept (RFC 3501 6.3.4).
 */
int mindex_folder_delete(struct mindex_user *u, const char *name,
			 struct error *err);
/*
 * RENAME: children move too ("A.B" -> "C.B").  MINDEX_ERR_EXISTS when
 * the target (or a child's target) exists, MINDEX_ERR_NOTFOUND.
 * Renaming INBOX creates the target and moves every INBOX message into
 * it (new UIDs there); INBOX stays, empty.  Subscriptions follow.
 */
int mindex_folder_rename(struct mindex_user *u, const char *from,
			 const char *to, struct error *err);

/* Subscriptions (Dovecot's "subscriptions" file at the mailbox root). */
int mindex_subscribe(struct mindex_user *u, const char *name, bool on,
		     struct error *err);
/* 1 subscribed, 0 not, -1 error. */
int mindex_is_subscribed(struct mindex_user *u, const char *name,
			 struct error *err);

/* STATUS without selecting. */
struct mindex_status {
	uint32_t messages;
	uint32_t recent; /* in new/ (not yet seen by any session) */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;
	uint64_t highestmodseq;
	uint64_t size; /* sum of vsizes (RFC 8438 STATUS SIZE) */
};
int mindex_folder_status(struct mindex_user *u, const char *name,
			 struct mindex_status *st, struct error *err);

/* ------------------------------------------------------------------ */
/* A selected folder.                                                   */

struct mindex_msg {
	uint32_t uid;
	uint32_t flags;	   /* STORE_FLAG_* bits */
	uint32_t keywords; /* bit i: keyword i of the folder's table */
	uint64_t modseq;
	uint64_t size;	/* S=: bytes in the file (LF line ends) */
	uint64_t vsize; /* W=: RFC822.SIZE (CRLF) */
	/* Always false: entries are shared by the sessions of a process
	 * and \Recent is per session; use mindex_msg_recent(). */
	bool recent;
	/* Expunged by another session (or by mindex_expunge) but still in
	 * this view because the last sync did not allow expunges; such a
	 * message has its last known flags and cannot be opened. */
	bool expunged;
	const char *name; /* current file name (in cur/ or new/) */
	/* private: */
	bool in_new;
	time_t mtime; /* 0: not stat()ed yet */
};

/*
 * Open (SELECT: readonly false; EXAMINE or STATUS: true) and sync.
 * Creates dovecot-uidlist when missing.  A read-write open moves files
 * from new/ to cur/ (they become \Recent for this session), as Dovecot
 * does.  MINDEX_ERR_NOTFOUND when the folder does not exist.
 */
struct mindex_folder *mindex_folder_open(struct mindex_user *u,
					 const char *name, bool readonly,
					 struct error *err);
void mindex_folder_close(struct mindex_folder **f);
/*
 * Open a folder only as the target of APPEND or COPY (or an lmtpd
 * delivery that wants the UID): no directory scan, no SQLite; the view
 * is empty (count 0) but uidvalidity, uidnext and the keyword table are
 * there, so mindex_append / mindex_copy (as dst) / mindex_keyword_lookup
 * work and cost the same in a folder of 100,000 messages as in an empty
 * one.  Read-only in the mindex_folder_readonly sense.  Falls back to
 * mindex_folder_open(readonly) when the uidlist is missing.
 */
struct mindex_folder *mindex_folder_open_target(struct mindex_user *u,
						const char *name,
						struct error *err);

const char *mindex_folder_name(const struct mindex_folder *f);
bool mindex_folder_readonly(const struct mindex_folder *f);
uint32_t mindex_folder_uidvalidity(const struct mindex_folder *f);
uint32_t mindex_folder_uidnext(const struct mindex_folder *f);
uint64_t mindex_folder_highestmodseq(const struct mindex_folder *f);
/*
 * The folder's GUID (dovecot-uidlist's G field, hex): stable across
 * RENAME, kept by Dovecot (RFC 8474 MAILBOXID).  1 with *guid_r
 * malloc'd, 0 when the uidlist has none, -1 error (mindex_guid.c).
 */
int mindex_folder_guid(const struct mindex_folder *f, char **guid_r,
		       struct error *err);
/* Messages in the view (including ones marked expunged). */
uint32_t mindex_folder_count(const struct mindex_folder *f);
uint32_t mindex_folder_recent(const struct mindex_folder *f);

/* Message by sequence number 1..count; NULL outside. */
const struct mindex_msg *mindex_msg(const struct mindex_folder *f,
				    uint32_t seq);
/* \Recent for this session (RFC 3501 2.3.2), by sequence number or
 * by UID. */
bool mindex_msg_recent(const struct mindex_folder *f, uint32_t seq);
bool mindex_uid_recent(const struct mindex_folder *f, uint32_t uid);
/* Sequence number of a UID, 0 when not in the view (binary search). */
uint32_t mindex_seq_of_uid(const struct mindex_folder *f, uint32_t uid);
/* First sequence number whose UID >= uid (count + 1 when none). */
uint32_t mindex_seq_of_uid_ge(const struct mindex_folder *f, uint32_t uid);
/* INTERNALDATE: the file's mtime (stat()ed on first use, cached). */
time_t mindex_msg_internaldate(struct mindex_folder *f, uint32_t seq);

/*
 * Open the message file read-only.  When another session renamed it
 * (flags changed) since the last sync it is found again by its unique
 * part.  1 with *fd_r, 0 when it is really gone (expunged), -1 error.
 */
int mindex_msg_open(struct mindex_folder *f, uint32_t seq, int *fd_r,
		    struct error *err);

/* Keyword table of the folder (dovecot-keywords). */
unsigned mindex_keyword_count(const struct mindex_folder *f);
/* Name of keyword i, NULL when unused. */
const char *mindex_keyword_name(const struct mindex_folder *f, unsigned i);
/*
 * Index of a keyword (case-insensitive, as IMAP flags are).  Not
 * present: creates it when `create` (written to dovecot-keywords at
 * once), else -1 with MINDEX_ERR_NOTFOUND; -1 with MINDEX_ERR_LIMIT when
 * all 26 letters are taken.
 */
int mindex_keyword_lookup(struct mindex_folder *f, const char *name,
			  bool create, struct error *err);

/*
 * Bytes of message table this handle holds of its own (0 when its view
 * is the shared table itself): a private view while expunges are
 * pending, or copied chunks right after its own STORE until its next
 * sync.
 */
size_t mindex_folder_private_bytes(const struct mindex_folder *f);

/* Per-process counters (tests, benchmarks): first loads of a folder's
 * table (all of its SQLite rows), full scans (uidlist, numbering) and
 * cheap listings compared with the table. */
struct mindex_stats {
	unsigned long long loads, full_scans, fast_scans;
	/* Idle folder states kept now, the bytes they hold, and how many
	 * were dropped to stay within mindex_cache_limits (not counting
	 * those that expired or mindex_forget_idle freed). */
	unsigned long long idle_states, idle_bytes, evictions;
};
void mindex_stats_get(struct mindex_stats *st);
/* A folder's shared state outlives its last handle for a while
 * (minutes), so the next open of it is cheap; this frees those nobody
 * uses now (tests; memory). */
void mindex_forget_idle(void);

/*
 * Bounds on those idle states, per process (docs/index.md, "Idle
 * states"): at most `bytes` of memory (their message tables, file
 * names and keyword strings, counted as the allocator takes them) and
 * at most `states` of them; the least recently used go first.  0 keeps
 * none.  Defaults until called: MINDEX_CACHE_SIZE_DEFAULT and
 * MINDEX_CACHE_STATES_DEFAULT (the config parameters mindex_cache_size
 * and mindex_cache_folder_limit).  Applies at once; thread-safe.
 */
#define MINDEX_CACHE_SIZE_DEFAULT ((size_t)64 << 20)
#define MINDEX_CACHE_STATES_DEFAULT 1000u
void mindex_cache_limits(size_t bytes, unsigned states);

/* ------------------------------------------------------------------ */
/* Sync: what changed on disk since the last sync of this handle.       */

enum {
	/* Keep expunged messages in the view (marked expunged) instead of
	 * reporting them: during FETCH, STORE, SEARCH (RFC 3501 7.4.1). */
	MINDEX_SYNC_NO_EXPUNGE = 1 << 0,
	/* Scan the directories even when their mtimes did not change. */
	MINDEX_SYNC_FORCE = 1 << 1,
};

struct mindex_sync_result {
	/*
	 * Expunged messages: sequence numbers in the view before this sync,
	 * ascending, and their UIDs.  Send EXPUNGE responses from the last
	 * to the first (then each number is still right), or VANISHED with
	 * the UIDs.
	 */
	uint32_t *expunged_seqs;
	uint32_t *expunged_uids;
	size_t expunged_count;
	/* Messages now in the view (EXISTS), and how many are new. */
	uint32_t exists;
	uint32_t new_count;
	uint32_t recent; /* \Recent count for RECENT when it changed */
	/* Sequence numbers (after this sync) of messages whose flags or
	 * keywords another session changed: FETCH (FLAGS). */
	uint32_t *changed_seqs;
	size_t changed_count;
	/* Keywords added to the table (new FLAGS response needed). */
	bool keywords_changed;
	uint64_t highestmodseq;
	uint32_t uidnext;
};

/*
 * -1 with MINDEX_ERR_UIDVALIDITY when the folder's uidlist was recreated
 * under the view, MINDEX_ERR_NOTFOUND when the folder was deleted or
 * renamed away by another session (imapd: BYE / leave the selected
 * state).  The cheap path (nothing changed) costs four stat() calls,
 * or none when another handle of the process checked the folder after
 * this call began.  Changes made by other handles of the same process
 * are taken from the shared table without reading the disk.
 */
int mindex_folder_sync(struct mindex_folder *f, unsigned sync_flags,
		       struct mindex_sync_result *r, struct error *err);
void mindex_sync_result_free(struct mindex_sync_result *r);

/* ------------------------------------------------------------------ */
/* Changes.                                                             */

enum mindex_flags_mode {
	MINDEX_FLAGS_SET,
	MINDEX_FLAGS_ADD,
	MINDEX_FLAGS_REMOVE,
};

enum mindex_store_result {
	MINDEX_STORE_UNCHANGED = 0, /* already so: no new modseq */
	MINDEX_STORE_CHANGED,	    /* renamed, new modseq */
	MINDEX_STORE_CONFLICT,	    /* modseq > unchangedsince: MODIFIED */
	MINDEX_STORE_EXPUNGED,	    /* gone meanwhile */
};

/*
 * STORE on n messages (sequence numbers): flags (STORE_FLAG_*; \Recent
 * cannot be stored) and keywords (bits of the folder's table).
 * unchangedsince 0: no condition (CONDSTORE UNCHANGEDSINCE otherwise).
 * results[i] tells what happened to seqs[i].  Updates the view (not
 * reported by the next sync).  MINDEX_ERR_READONLY on a read-only open.
 */
int mindex_store_flags(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		       enum mindex_flags_mode mode, uint32_t flags,
		       uint32_t keywords, uint64_t unchangedsince,
		       enum mindex_store_result *results, struct error *err);

/*
 * APPEND: write the message (CRLF converted to LF) to tmp/, then cur/
 * with the flags and keywords (bits of f's table), mtime = internaldate
 * (0: now), and assign its UID at once (APPENDUID uidvalidity uid_r).
 * quota may be NULL (unlimited): over quota is STORE_ERR_QUOTA.  The
 * message shows in f's view at the next sync (EXISTS).  f may be opened
 * read-only (APPEND to a folder other than the selected one).
 */
int mindex_append(struct mindex_folder *f, struct store_input *in,
		  uint32_t flags, uint32_t keywords, time_t internaldate,
		  const struct store_quota *quota, uint32_t *uid_r,
		  struct error *err);

/*
 * COPY n messages (sequence numbers of src) to dst (not the same
 * folder): hard links where possible, else copies; keywords mapped by
 * name into dst's table (created there; a keyword that does not fit is
 * dropped); internaldate kept.  uids_r[i] is the new UID of seqs[i] (0
 * when it was expunged meanwhile and skipped).  All or nothing for
 * errors: on -1 nothing is left in dst.
 */
int mindex_copy(struct mindex_folder *src, const uint32_t *seqs, size_t n,
		struct mindex_folder *dst, const struct store_quota *quota,
		uint32_t *uids_r, struct error *err);

/*
 * EXPUNGE n messages (sequence numbers): unlink the files and log the
 * expunges with a new modseq.  The messages stay in the view marked
 * expunged; the next mindex_folder_sync without MINDEX_SYNC_NO_EXPUNGE
 * reports them (so EXPUNGE and MOVE send the responses from the sync).
 */
int mindex_expunge(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		   struct error *err);

/*
 * QRESYNC: UIDs expunged with a modseq > modseq, ascending, malloc'd.
 * Returns 1 when the list is exact, 0 when the log does not reach back
 * that far (rebuilt index): then the caller must treat every UID it
 * knows that is not in the view as vanished.
 */
int mindex_expunged_since(struct mindex_folder *f, uint64_t modseq,
			  uint32_t **uids_r, size_t *count_r,
			  struct error *err);

/* ------------------------------------------------------------------ */
/* Cached data per message (imapd: "envelope", "bodystructure", "body",
 * "preview"...).  Dropped with the message; a rebuilt index is empty.  */

/* 1 with the value appended to out, 0 when not cached, -1 error. */
int mindex_cache_get(struct mindex_folder *f, uint32_t uid, const char *field,
		     struct buf *out, struct error *err);
int mindex_cache_put(struct mindex_folder *f, uint32_t uid, const char *field,
		     const void *data, size_t len, struct error *err);

/*
 * Batched forms, for FETCH/SORT/THREAD over many messages: one
 * connection, one read transaction and one prepared statement for the
 * whole batch instead of one of each per message.
 *
 * get_many: uids[] ascending (duplicates allowed); calls cb(ctx, i,
 * data, len) for each uids[i] that has a value for field (data valid
 * only during the call, never NULL; len may be 0).  Returns the number of values
 * found, -1 error (cb may have been called for some before).
 */
typedef void mindex_cache_cb(void *ctx, size_t i, const void *data,
			     size_t len);
int mindex_cache_get_many(struct mindex_folder *f, const uint32_t *uids,
			  size_t n, const char *field, mindex_cache_cb *cb,
			  void *ctx, struct error *err);

/* One value to store; put_many writes all in one transaction (a uid the
 * index no longer knows is skipped, as with mindex_cache_put). */
struct mindex_cache_item {
	uint32_t uid;
	const void *data;
	size_t len;
};
int mindex_cache_put_many(struct mindex_folder *f, const char *field,
			  const struct mindex_cache_item *items, size_t n,
			  struct error *err);

#endif
