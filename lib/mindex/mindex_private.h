/* mindex_private.h - shared by the lib/mindex files only. */
#ifndef POSTERN_MINDEX_PRIVATE_H
#define POSTERN_MINDEX_PRIVATE_H

#include <pthread.h>
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

/* ---- the per-process shared folder state (mindex_fstate.c) ---- */

/*
 * A message table is a "view": an array of pointers to chunks of
 * FS_CHUNK entries (struct mindex_msg, names malloc'd and owned by the
 * chunk).  Views and chunks are refcounted and copy-on-write: a view or
 * chunk referenced more than once is never changed in place, so a
 * session reads its own view without any lock while others change the
 * shared one.  Every refcount change and every write happens under the
 * fstate's mutex.
 */
#define FS_CHUNK 128

struct fs_chunk {
	unsigned refs;
	uint32_t n; /* entries used (FS_CHUNK except in the last chunk) */
	struct mindex_msg m[FS_CHUNK];
};

struct fs_view {
	unsigned refs;
	uint32_t count;
	uint32_t nchunks, cap;
	struct fs_chunk **chunks;
};

static inline struct mindex_msg *fs_view_at(const struct fs_view *v, uint32_t i)
{
	return &v->chunks[i / FS_CHUNK]->m[i % FS_CHUNK];
}

struct fs_view *fs_view_new(void);
void fs_view_ref(struct fs_view *v);
void fs_view_unref(struct fs_view **v);
/* A writable entry i of *vp: copies the view and/or the chunk first when
 * they are shared (*vp may change). */
struct mindex_msg *fs_view_mut(struct fs_view **vp, uint32_t i);
/* Append an entry (its name is copied); uid above every other one. */
void fs_view_push(struct fs_view **vp, const struct mindex_msg *m);
/* A new view of n entries; takes the names (msgs[] itself is freed). */
struct fs_view *fs_view_from_array(struct mindex_msg *msgs, uint32_t n);
/* Index of uid in v, -1 when absent (binary search). */
int64_t fs_view_find(const struct fs_view *v, uint32_t uid);
uint32_t fs_view_ge(const struct fs_view *v, uint32_t uid);
/* Set the name of a (writable) entry. */
void fs_msg_set_name(struct mindex_msg *m, const char *name);

struct fstate {
	/* registry (under the registry's mutex) */
	char *path;
	unsigned refs;
	struct fstate *next;
	bool idle;		    /* no handle: kept for a later open */
	struct timespec idle_since; /* CLOCK_MONOTONIC */
	/* the idle list, least recently used first, and what this state
	 * was counted for in it (see mindex_cache_limits) */
	struct fstate *idle_prev, *idle_next;
	size_t idle_bytes;

	pthread_mutex_t lock; /* everything below */
	char *name;
	bool loaded; /* the table was read (first full scan done) */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq, log_start;
	int64_t db_id;
	uint32_t recent_uid; /* first UID no read-write session had */
	struct fs_view *latest;
	uint64_t gen;	 /* bumped at every change of latest */
	bool revalidate; /* reattached after idling: check the database */
	bool any_new;	 /* some message is still in new/ */

	char *keywords[MINDEX_KEYWORDS_MAX];
	struct timespec kw_mtime;
	uint64_t kw_gen;

	/* what the last check of the disk saw (see fs_refresh) */
	bool snap_valid; /* trusted: unchanged mtimes mean no change */
	bool snap_taken;
	struct timespec snap_new, snap_cur, snap_uidlist, snap_kw;
	ino_t snap_uidlist_ino;
	off_t snap_uidlist_size;
	struct timespec last_check; /* CLOCK_MONOTONIC start of it */
	/* Our own renames were taken as the only change of cur/; a listing
	 * at verify_at makes sure (see fs_own_change_end). */
	bool verify_pending;
	struct timespec verify_at;
};

/* Attach f to the state of its folder (creating it): f->fs. */
void fs_attach(struct mindex_folder *f);
void fs_detach(struct mindex_folder *f);
/* The state of path if some handle of this process has it open and it
 * is loaded (a reference: fs_release), else NULL. */
struct fstate *fs_lookup(const char *path);
void fs_release(struct fstate *fs);
/*
 * Bring fs up to date with the disk on behalf of f (fs->lock held).
 * since: CLOCK_MONOTONIC time the caller's request began (a check that
 * started after it is enough); force: list the directories even when
 * nothing seems changed.
 */
int fs_refresh(struct fstate *fs, struct mindex_folder *f,
	       const struct timespec *since, bool force, struct error *err);
/*
 * Around this process's own renames in the folder (lock held): begin
 * tells whether the snapshot was up to date before them; end then takes
 * the directories' new mtimes as explained by them, so other sessions do
 * not list the folder again, and schedules one listing within a second
 * to catch another program's change in the same timestamp tick.
 */
bool fs_own_change_begin(struct fstate *fs);
void fs_own_change_end(struct fstate *fs, bool clean);
/* \Recent: a read-write f claims the UIDs no session had (lock held). */
int fs_claim_recent(struct fstate *fs, struct mindex_folder *f,
		    struct error *err);

/* A change to record in SQLite (fs_db_apply). */
struct fs_mod {
	uint32_t uid;
	uint32_t flags, keywords;
	uint64_t old_modseq; /* 0: new message */
	bool expunge;
	uint64_t modseq_r; /* out: the message's modseq now */
};
/* One transaction (lock held); updates fs's highestmodseq. */
int fs_db_apply(struct fstate *fs, struct mindex_folder *f, struct fs_mod *mods,
		size_t n, struct error *err);
/* Insert a message we just numbered (APPEND, COPY) into fs's table and
 * give it a modseq (lock held). */
int fs_insert_msg(struct fstate *fs, struct mindex_folder *f,
		  const struct mindex_msg *m, struct error *err);

/* ---- folders (mindex_folder.c) ---- */
struct mindex_folder {
	struct mindex_user *u;
	char *name;
	char *path; /* folder directory */
	bool readonly;
	struct fstate *fs;    /* NULL: a target-only handle */
	struct fs_view *view; /* what this session was told; NULL: empty */
	uint64_t seen_gen;    /* fs->gen this view was built from */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint64_t log_start;
	int64_t db_id;
	uint32_t db_recent_uid; /* first UID no session has had as \Recent */

	/* \Recent UIDs of this session: [lo, hi) ranges */
	struct {
		uint32_t lo, hi;
	} * recent;
	size_t nrecent;
	uint32_t recent_count;
	/* Some message of the view may be marked expunged (saves a walk of
	 * the view on every NOOP). */
	bool maybe_expunged;

	char *keywords[MINDEX_KEYWORDS_MAX];
	struct timespec kw_mtime;
	uint64_t kw_gen;

	/* What this handle last knew of dovecot-uidlist, so an APPEND reads
	 * only what others appended since (see folder_assign_uids). */
	bool ul_known;
	ino_t ul_ino;
	off_t ul_len;
	uint32_t ul_next_uid;
	char ul_hdr[160];
};

/* Re-read dir/dovecot-keywords into names if it changed (mtime). */
int keywords_refresh(const char *dir, char *names[MINDEX_KEYWORDS_MAX],
		     struct timespec *mtime, bool *changed_r,
		     struct error *err);
void keywords_copy(char *dst[MINDEX_KEYWORDS_MAX],
		   char *const src[MINDEX_KEYWORDS_MAX]);
/* Lock the uidlist and assign UIDs to files already in cur/ or new/ by
 * name (mindex_change.c uses it for append/copy). uids_r[i] for names[i]. */
int folder_assign_uids(struct mindex_folder *f, char *const *bases, size_t n,
		       uint32_t *uids_r, struct error *err);
/* Find a message renamed by someone else by its base name: 1 found
 * (*name_r malloc'd, *in_new_r), 0 gone, -1 error. */
int folder_refind(struct mindex_folder *f, const char *name, char **name_r,
		  bool *in_new_r, struct error *err);
char *mindex_msg_path(const struct mindex_folder *f,
		      const struct mindex_msg *m);
char *folder_file_path(const struct mindex_folder *f, bool in_new,
		       const char *name);

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
/* The table: every uidlist record with a listed file. */
void folder_build_view(struct mindex_folder *f, struct uidlist *ul,
		       struct scan *s, struct mindex_msg **msgs_r,
		       uint32_t *count_r);
/* Are there listed files without a record? */
bool folder_scan_unmatched(struct uidlist *ul, struct scan *s);
/* Number the unmatched files under the lock (ul: the list written);
 * prev_uidvalidity: the folder's last known one (0: none). */
int folder_assign_new(struct mindex_folder *f, uint32_t prev_uidvalidity,
		      struct uidlist *ul, struct scan *s, struct error *err);
void folder_remember_uidlist(struct mindex_folder *f, const struct uidlist *ul);

/* ---- helpers ---- */
int mindex_errno(struct error *err, int e, const char *what, const char *path);
int mindex_read_small(const char *path, struct buf *out, struct stat *st_r,
		      struct error *err);
bool mindex_folder_name_ok(const char *name);

#endif
