/* mindex_private.h - shared by the lib/mindex files only. */
#ifndef POSTERN_MINDEX_PRIVATE_H
#define POSTERN_MINDEX_PRIVATE_H

#include <sqlite3.h>
#include <sys/stat.h>

#include "core/hash.h"
#include "mindex.h"

#define MINDEX_FILE_MODE 0600
#define MINDEX_DIR_MODE 0700
#define MINDEX_UIDLIST "dovecot-uidlist"
#define MINDEX_KEYWORDS "dovecot-keywords"
#define MINDEX_SUBSCRIPTIONS "subscriptions"
#define MINDEX_DB "postern-index.sqlite"
/* Dovecot overrides a uidlist/keywords dotlock not touched for 2 min. */
#define MINDEX_LOCK_STALE_SECS 120
/* How long we wait for somebody else's lock before giving up. */
#define MINDEX_LOCK_WAIT_MS 10000

struct mindex_user {
	struct store_mailbox *mbox;
	char *root;	  /* ROOT/DOMAIN/LOCAL */
	char *special[5]; /* drafts sent trash junk archive (on-disk names) */
};

/* ---- dovecot-uidlist (mindex_uidlist.c) ---- */
struct uidlist_rec {
	uint32_t uid;
	char *base; /* file name up to ':' */
	char *ext;  /* extension fields as read (" W2101 S2048"), or NULL */
};

struct uidlist {
	uint32_t uidvalidity;
	uint32_t next_uid;	  /* max(header N, last uid + 1) */
	char *guid;		  /* G value, NULL: generate on write */
	char *hdr_ext;		  /* other header fields, kept verbatim */
	struct uidlist_rec *recs; /* ascending uid */
	size_t count, cap;
	/* identity of the file read */
	struct stat st;
	bool appendable;  /* last line ended with LF, version 3 */
	off_t parsed_len; /* bytes read up to the last complete line */
	char hdr[160];	  /* the first line (truncated): tells a rewrite */
};

void uidlist_init(struct uidlist *ul);
void uidlist_clear(struct uidlist *ul);
/* 1 read, 0 missing or unusable (header broken), -1 error. */
int uidlist_read(const char *dir, struct uidlist *ul, struct error *err);
/*
 * Read only the records appended since `offset` (a line start) to the
 * file with inode `ino`, adding them to ul (whose next_uid the caller
 * set).  1 read, 0 when the file was replaced or shrank (read it all).
 */
int uidlist_read_tail(const char *dir, struct uidlist *ul, off_t offset,
		      ino_t ino, const char *hdr, struct error *err);
/*
 * Only the header and the last record (no records kept): enough to
 * append (UIDVALIDITY, next UID, where the file ends).  1 read, 0 when
 * missing or not in a state to append to (read it all), -1 error.
 */
int uidlist_read_ends(const char *dir, struct uidlist *ul, struct error *err);
void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base,
		 const char *ext);
/* Binary search by uid; index or -1. */
ssize_t uidlist_find(const struct uidlist *ul, uint32_t uid);
/* Dotlock dir/NAME.lock (O_EXCL, stale ones overridden): fd or -1. */
int mindex_dotlock(const char *dir, const char *name, struct error *err);
/* Release without writing. */
void mindex_dotunlock(const char *dir, const char *name, int fd);
/* Write content into the lock file, fsync, rename it over dir/NAME
 * (this also releases the lock). */
int mindex_dotlock_replace(const char *dir, const char *name, int fd,
			   const void *data, size_t len, struct error *err);
/* Rewrite the whole uidlist through the held lock (releases it). */
int uidlist_write(const char *dir, int lockfd, struct uidlist *ul,
		  struct error *err);
/* Append records [first, count) to the existing file (lock held). */
int uidlist_append(const char *dir, struct uidlist *ul, size_t first,
		   struct error *err);
uint32_t mindex_new_uidvalidity(void);

/* ---- dovecot-keywords (mindex_keywords.c) ---- */
/* Read dir/dovecot-keywords into names[26] (malloc'd, NULL: unused). */
int keywords_read(const char *dir, char *names[MINDEX_KEYWORDS_MAX],
		  struct timespec *mtime_r, struct error *err);
void keywords_clear(char *names[MINDEX_KEYWORDS_MAX]);
/* Write it (caller holds the uidlist lock, as Dovecot requires). */
int keywords_write(const char *dir, char *const names[MINDEX_KEYWORDS_MAX],
		   struct error *err);

/* ---- the per-user SQLite database (mindex_db.c) ---- */
/* Open (creating or rebuilding a corrupt one); NULL with err. */
sqlite3 *mindex_db_open(struct mindex_user *u, struct error *err);
/* Give the handle back (to the per-process pool). */
void mindex_db_close(sqlite3 *db);
/* Close every pooled handle (tests; before removing a database). */
void mindex_db_pool_flush(void);
/* Was the error a corrupt database?  Then mindex_db_remove and retry. */
bool mindex_db_is_corrupt(const struct error *err);
void mindex_db_remove(struct mindex_user *u);
int mindex_db_exec(sqlite3 *db, const char *sql, struct error *err);
int mindex_db_error(sqlite3 *db, int rc, const char *what, struct error *err);
/* The folder's row id, creating it; resets it when uidvalidity changed.
 * hms_r: its highestmodseq, log_start_r: start of its expunge log. */
int mindex_db_folder(sqlite3 *db, const char *name, uint32_t uidvalidity,
		     int64_t *id_r, uint64_t *hms_r, uint64_t *log_start_r,
		     uint32_t *recent_uid_r, struct error *err);
int mindex_db_folder_set(sqlite3 *db, int64_t id, uint64_t hms,
			 uint32_t recent_uid, struct error *err);
int mindex_db_folder_delete(sqlite3 *db, const char *name, struct error *err);
int mindex_db_folder_rename(sqlite3 *db, const char *from, const char *to,
			    struct error *err);
uint64_t mindex_now_modseq(void);

/* ---- folders (mindex_folder.c) ---- */
struct mindex_folder {
	struct mindex_user *u;
	char *name;
	char *path; /* folder directory */
	bool readonly;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint64_t log_start;
	int64_t db_id;
	uint32_t db_recent_uid; /* first UID no session has had as \Recent */

	struct mindex_msg *msgs; /* ascending uid; name fields malloc'd */
	uint32_t count, cap;
	uint32_t recent_count;
	/* Some message of the view may be marked expunged (saves a walk of
	 * the view on every NOOP). */
	bool maybe_expunged;

	char *keywords[MINDEX_KEYWORDS_MAX];
	struct timespec kw_mtime;

	/* What the last scan saw, to skip the next one (see sync). */
	bool snap_valid;
	struct timespec snap_new, snap_cur, snap_uidlist, snap_kw;
	ino_t snap_uidlist_ino;
	off_t snap_uidlist_size;

	/* What this handle last knew of dovecot-uidlist, so an APPEND reads
	 * only what others appended since (see folder_assign_uids). */
	bool ul_known;
	ino_t ul_ino;
	off_t ul_len;
	uint32_t ul_next_uid;
	char ul_hdr[160];
};

/* Re-read dovecot-keywords if it changed. */
int folder_keywords_refresh(struct mindex_folder *f, bool *changed_r,
			    struct error *err);
/* Lock the uidlist and assign UIDs to files already in cur/ or new/ by
 * name (mindex_change.c uses it for append/copy). uids_r[i] for names[i]. */
int folder_assign_uids(struct mindex_folder *f, char *const *bases, size_t n,
		       uint32_t *uids_r, struct error *err);
/* Record modseqs for changed messages in SQLite (own changes). */
int folder_db_update_msgs(struct mindex_folder *f, const uint32_t *seqs,
			  size_t n, struct error *err);
/* Find a message renamed by someone else by its base name: 1 found (name
 * updated), 0 gone, -1 error. */
int folder_msg_refind(struct mindex_folder *f, struct mindex_msg *m,
		      struct error *err);
char *mindex_msg_path(const struct mindex_folder *f,
		      const struct mindex_msg *m);

/* ---- shared by mindex_folder.c, mindex_scan.c, mindex_sync.c ---- */
bool folder_ts_eq(const struct timespec *a, const struct timespec *b);
void folder_msg_free(struct mindex_msg *m);
void folder_view_free(struct mindex_msg *msgs, uint32_t count);
/* A file name's base: up to ':' (the uidlist key). */
size_t folder_base_len(const char *name);
char *folder_base_dup(const char *name);

/* One listing of new/ and cur/. */
struct scan {
	struct array *entries; /* struct store_entry * */
	struct hash *by_base;  /* base -> index + 1 */
	bool *matched;
};

void folder_scan_free(struct scan *s);
int folder_scan_dirs(struct mindex_folder *f, struct scan *s,
		     struct error *err);
struct store_entry *folder_scan_lookup(struct scan *s, const char *base,
				       size_t *idx_r);
/* The view: every uidlist record with a listed file. */
void folder_build_view(struct mindex_folder *f, struct uidlist *ul,
		       struct scan *s, struct mindex_msg **msgs_r,
		       uint32_t *count_r);
/* Are there listed files without a record? */
bool folder_scan_unmatched(struct uidlist *ul, struct scan *s);
/* Number the unmatched files under the lock (ul: the list written). */
int folder_assign_new(struct mindex_folder *f, struct uidlist *ul,
		      struct scan *s, struct error *err);
void folder_remember_uidlist(struct mindex_folder *f, const struct uidlist *ul);

/* ---- helpers ---- */
int mindex_errno(struct error *err, int e, const char *what, const char *path);
int mindex_read_small(const char *path, struct buf *out, struct stat *st_r,
		      struct error *err);
bool mindex_folder_name_ok(const char *name);

#endif
