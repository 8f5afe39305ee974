/*
 * fts.c - the per-mailbox full-text index on SQLite FTS5 (fts.h).
 *
 * Tables:
 *   docs(id, folder, uniq)          one row per indexed message
 *   folders(folder, count, sig)     per folder: documents and the sum of
 *                                   their uniq hashes, so fts_missing()
 *                                   can tell "nothing changed" without
 *                                   reading 100,000 names
 *   msghdr (FTS5, trigram)          rowid = docs.id: f_from f_to f_cc
 *                                   f_bcc subject (small: SUBJECT/FROM/...
 *                                   read only their own posting lists)
 *   msgtext (FTS5, trigram)         rowid = docs.id: headers body (TEXT,
 *                                   BODY, HEADER)
 * PRAGMA user_version is FTS_SCHEMA_VERSION; a file of another version
 * (version 0: the single-table layout) is emptied and rebuilt.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/xmalloc.h"
#include "fts/fts-private.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS docs ("
    " id INTEGER PRIMARY KEY, folder TEXT NOT NULL, uniq TEXT NOT NULL,"
    " UNIQUE (folder, uniq));"
    "CREATE TABLE IF NOT EXISTS folders ("
    " folder TEXT PRIMARY KEY, count INTEGER NOT NULL, sig INTEGER NOT NULL);"
    /* case_sensitive 0: IMAP SEARCH is case-insensitive; SQLite folds
     * Unicode case for the trigram tokenizer too. */
    "CREATE VIRTUAL TABLE IF NOT EXISTS msghdr USING fts5("
    " f_from, f_to, f_cc, f_bcc, subject,"
    " tokenize = 'trigram case_sensitive 0');"
    "CREATE VIRTUAL TABLE IF NOT EXISTS msgtext USING fts5("
    " headers, body, tokenize = 'trigram case_sensitive 0');"
    "PRAGMA user_version = " FTS_SCHEMA_VERSION_STR ";";

/* Drop whatever an older version created (the index is a cache:
 * fts_missing() refills it). */
static const char upgrade_sql[] =
    "DROP TABLE IF EXISTS msgtext;"
    "DROP TABLE IF EXISTS msghdr;"
    "DROP TABLE IF EXISTS docs;"
    "DROP TABLE IF EXISTS folders;";

static int schema_version(sqlite3 *db, int *rc_r)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	*rc_r = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (*rc_r == SQLITE_OK) {
		*rc_r = sqlite3_step(st);
		if (*rc_r == SQLITE_ROW) {
			version = sqlite3_column_int(st, 0);
			*rc_r = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return version;
}

/* 1 when the file holds tables of another schema version. */
static int needs_upgrade(sqlite3 *db, int *rc_r)
{
	sqlite3_stmt *st = NULL;
	int tables = 0;
	int version = schema_version(db, rc_r);

	if (*rc_r != SQLITE_OK || version == FTS_SCHEMA_VERSION)
		return 0;
	*rc_r = sqlite3_prepare_v2(db,
				   "SELECT count(*) FROM sqlite_master"
				   " WHERE type = 'table'",
				   -1, &st, NULL);
	if (*rc_r == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		tables = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return tables > 0;
}

int fts_sql_error(struct fts *fts, int rc, const char *what, struct error *err)
{
	/* A full file system (or a file size limit) is told apart: a batch
	 * stops at the first one instead of trying every message. */
	int code = fts->db != NULL ? sqlite3_errcode(fts->db) : rc;
	int sys = fts->db != NULL ? sqlite3_system_errno(fts->db) : 0;
	bool full = (rc & 0xff) == SQLITE_FULL || (code & 0xff) == SQLITE_FULL ||
		    sys == ENOSPC || sys == EDQUOT || sys == EFBIG;
	return error_set_code(err, ERR_TEMP, full ? FTS_ERR_NOSPACE : NULL,
			      "full-text index %s: %s: %s", fts->path, what,
			      fts->db != NULL ? sqlite3_errmsg(fts->db)
					      : sqlite3_errstr(rc));
}

/* 64-bit FNV-1a of a unique part: summed per folder (order-free, and a
 * removal subtracts). */
uint64_t fts_uniq_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

const char *fts_folder_key(const char *folder)
{
	return folder == NULL ? "" : folder;
}

static int open_db(struct fts *fts, unsigned busy_ms, struct error *err)
{
	int rc = sqlite3_open_v2(fts->path, &fts->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		error_set(err, ERR_TEMP, "full-text index %s: %s", fts->path,
			  fts->db != NULL ? sqlite3_errmsg(fts->db)
					  : sqlite3_errstr(rc));
		sqlite3_close(fts->db);
		fts->db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(fts->db, (int)busy_ms);
	/* WAL: readers (SEARCH) never wait for a delivery's insert.
	 * synchronous=NORMAL: the index is a cache that fts_missing()
	 * repairs, so it needs no fsync per message. */
	rc = sqlite3_exec(fts->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
			  NULL, NULL, NULL);
	/* Current: nothing to write, so no lock (a reader must open while
	 * a delivery writes).  Else check and create in one write
	 * transaction: two processes opening an old file must not both
	 * drop (nor one drop what the other just created). */
	bool current = false;
	if (rc == SQLITE_OK)
		current = schema_version(fts->db, &rc) == FTS_SCHEMA_VERSION;
	if (rc == SQLITE_OK && !current)
		rc = sqlite3_exec(fts->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK && !current) {
		bool dropped = false;
		int up = needs_upgrade(fts->db, &rc);
		if (rc == SQLITE_OK && up) {
			rc = sqlite3_exec(fts->db, upgrade_sql, NULL, NULL,
					  NULL);
			dropped = true;
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(fts->db, schema_sql, NULL, NULL,
					  NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(fts->db, "COMMIT", NULL, NULL, NULL);
		else
			(void)sqlite3_exec(fts->db, "ROLLBACK", NULL, NULL,
					   NULL);
		/* give the old index's pages back to the file system */
		if (rc == SQLITE_OK && dropped)
			(void)sqlite3_exec(fts->db, "VACUUM", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		fts_sql_error(fts, rc, "create", err);
		sqlite3_close(fts->db);
		fts->db = NULL;
	}
	return rc;
}

/*
 * The index files this process has open, path -> count (as a pointer):
 * fts_reset() may unlink a file only when no connection of this process
 * has it (POSIX locks are per process, so its lock probe cannot see
 * them, and closing its probe fd would drop their locks).
 */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hash *open_files;

static void open_count(const char *path, int delta)
{
	pthread_mutex_lock(&open_lock);
	if (open_files == NULL)
		open_files = hash_new(HASH_DEFAULT, NULL);
	intptr_t n = (intptr_t)hash_get(open_files, path) + delta;
	if (n > 0)
		hash_put(open_files, path, (void *)n);
	else
		hash_del(open_files, path);
	pthread_mutex_unlock(&open_lock);
}

static void remove_db_files(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		(void)unlink(p);
		free(p);
	}
}

struct fts *fts_open(const char *mailbox_path, unsigned busy_ms,
		     struct error *err)
{
	struct fts *fts = xcalloc(1, sizeof(*fts));
	fts->path = xasprintf("%s/%s", mailbox_path, FTS_FILE_NAME);
	open_count(fts->path, 1);
	fts->counted = true;

	int rc = open_db(fts, busy_ms, err);
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
		/* A cache: start again empty; fts_missing() refills it. */
		remove_db_files(fts->path);
		error_clear(err);
		rc = open_db(fts, busy_ms, err);
	}
	if (rc != SQLITE_OK) {
		fts_close(&fts);
		return NULL;
	}
	return fts;
}

/*
 * Remove the index files when no connection has them open: none of
 * this process (open_files), and none of another, which would hold a
 * read lock on the "dead man switch" byte of the -shm file while open
 * (SQLite's unix VFS: byte 128, (22 + SQLITE_SHM_NLOCK) * 4 + 8).
 * Holding the write lock on it while unlinking keeps openers out
 * (SQLITE_BUSY) until the files are gone.  0 when removed.
 */
#define SHM_DMS_BYTE 128

static int drop_unused(const char *path)
{
	char *shm = xasprintf("%s-shm", path);
	int ret = -1, fd = -1;

	pthread_mutex_lock(&open_lock);
	if (open_files != NULL && hash_get(open_files, path) != NULL)
		goto out;
	fd = open(shm, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		struct flock fl = {.l_type = F_WRLCK,
				   .l_whence = SEEK_SET,
				   .l_start = SHM_DMS_BYTE,
				   .l_len = 1};
		if (fcntl(fd, F_SETLK, &fl) < 0)
			goto out; /* open elsewhere */
	}
	remove_db_files(path);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&open_lock);
	free(shm);
	return ret;
}

long long fts_reset(const char *mailbox_path, unsigned busy_ms,
		    struct error *err)
{
	struct fts f = {0};
	struct stat st;
	long long before = 0, after = 0;

	f.path = xasprintf("%s/%s", mailbox_path, FTS_FILE_NAME);
	/* No index, or an empty one (one page): nothing to give back. */
	if (stat(f.path, &st) < 0 || st.st_size <= 4096) {
		free(f.path);
		return 0;
	}
	before = (long long)st.st_size;
	/* Not unlink(): another process may have the file open, and
	 * SQLite removes "-wal" and "-shm" by name when its last
	 * connection closes - a new file's, then.  An emptied database
	 * (one page) under SQLite's own locks is safe for every reader; it
	 * needs a few pages of WAL, which the guard's reserve holds. */
	int rc = sqlite3_open_v2(f.path, &f.db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(f.db, (int)busy_ms);
		rc = sqlite3_exec(f.db, "PRAGMA journal_mode=WAL", NULL, NULL,
				  NULL);
	}
	if (rc == SQLITE_OK) {
		sqlite3_db_config(f.db, SQLITE_DBCONFIG_RESET_DATABASE, 1, 0);
		rc = sqlite3_exec(f.db, "VACUUM", NULL, NULL, NULL);
		sqlite3_db_config(f.db, SQLITE_DBCONFIG_RESET_DATABASE, 0, 0);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(f.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
				  NULL, NULL);
	if (rc != SQLITE_OK)
		fts_sql_error(&f, rc, "reset", err);
	sqlite3_close(f.db);
	if (rc == SQLITE_OK && stat(f.path, &st) == 0)
		after = (long long)st.st_size;
	else if (rc != SQLITE_OK && drop_unused(f.path) == 0) {
		/* The disk is too full for SQLite to write even that:
		 * nobody had the file open, so it could go. */
		error_clear(err);
		rc = SQLITE_OK;
	}
	free(f.path);
	return rc == SQLITE_OK ? before - after : -1;
}

void fts_close(struct fts **ftsp)
{
	struct fts *fts = *ftsp;
	if (fts == NULL)
		return;
	for (size_t i = 0; i < FTS_STMT_COUNT; i++)
		sqlite3_finalize(fts->stmts[i]);
	sqlite3_close(fts->db);
	if (fts->counted)
		open_count(fts->path, -1);
	free(fts->path);
	free(fts);
	*ftsp = NULL;
}

static const char *const stmt_sql[FTS_STMT_COUNT] = {
    [FTS_STMT_DOC_ID] = "SELECT id FROM docs WHERE folder = ? AND uniq = ?",
    [FTS_STMT_DOC_INSERT] = "INSERT INTO docs (folder, uniq) VALUES (?, ?)",
    [FTS_STMT_DOC_DELETE] = "DELETE FROM docs WHERE id = ?",
    [FTS_STMT_HDR_INSERT] =
	"INSERT INTO msghdr (rowid, f_from, f_to, f_cc, f_bcc, subject)"
	" VALUES (?, ?, ?, ?, ?, ?)",
    [FTS_STMT_HDR_DELETE] = "DELETE FROM msghdr WHERE rowid = ?",
    [FTS_STMT_HDR_COPY] =
	"INSERT INTO msghdr (rowid, f_from, f_to, f_cc, f_bcc, subject)"
	" SELECT ?, f_from, f_to, f_cc, f_bcc, subject FROM msghdr"
	" WHERE rowid = ?",
    [FTS_STMT_TEXT_INSERT] =
	"INSERT INTO msgtext (rowid, headers, body) VALUES (?, ?, ?)",
    [FTS_STMT_TEXT_DELETE] = "DELETE FROM msgtext WHERE rowid = ?",
    [FTS_STMT_TEXT_COPY] =
	"INSERT INTO msgtext (rowid, headers, body) SELECT ?, headers, body"
	" FROM msgtext WHERE rowid = ?",
    [FTS_STMT_FOLDER_GET] =
	"SELECT count, sig FROM folders WHERE folder = ?",
    [FTS_STMT_FOLDER_SET] =
	"INSERT INTO folders (folder, count, sig) VALUES (?, ?, ?)"
	" ON CONFLICT (folder) DO UPDATE SET count = excluded.count,"
	" sig = excluded.sig",
};

sqlite3_stmt *fts_stmt(struct fts *fts, enum fts_stmt which, struct error *err)
{
	sqlite3_stmt *st = fts->stmts[which];
	if (st == NULL) {
		int rc = sqlite3_prepare_v2(fts->db, stmt_sql[which], -1, &st,
					    NULL);
		if (rc != SQLITE_OK) {
			fts_sql_error(fts, rc, "prepare", err);
			return NULL;
		}
		fts->stmts[which] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int fts_exec(struct fts *fts, const char *sql, struct error *err)
{
	int rc = sqlite3_exec(fts->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fts_sql_error(fts, rc, sql, err);
}

int fts_begin(struct fts *fts, struct error *err)
{
	/* IMMEDIATE: take the write lock now (waiting busy_ms), not at the
	 * first write, where a deadlock with another writer is possible. */
	if (fts_exec(fts, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	fts->in_txn = true;
	fts->rolled_back_code = NULL;
	return 0;
}

int fts_commit(struct fts *fts, struct error *err)
{
	fts->in_txn = false;
	/* SQLite ends the transaction itself on some errors (SQLITE_FULL,
	 * SQLITE_IOERR): nothing of it was kept. */
	if (sqlite3_get_autocommit(fts->db))
		return error_set_code(err, ERR_TEMP, fts->rolled_back_code,
				      "full-text index %s: transaction rolled "
				      "back", fts->path);
	if (fts_exec(fts, "COMMIT", err) < 0) {
		(void)sqlite3_exec(fts->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

void fts_rollback(struct fts *fts)
{
	fts->in_txn = false;
	if (!sqlite3_get_autocommit(fts->db))
		(void)sqlite3_exec(fts->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Run fn inside a transaction unless the caller holds one already; in
 * the caller's transaction (a batch), fn runs in a savepoint so that a
 * failing message leaves nothing half-written (a docs row without its
 * text) while the batch's other messages stay.
 */
int fts_in_txn(struct fts *fts, int (*fn)(struct fts *, const void *,
					  struct error *),
	       const void *arg, struct error *err)
{
	if (fts->in_txn) {
		if (fts_exec(fts, "SAVEPOINT fts_doc", err) < 0)
			return -1;
		if (fn(fts, arg, err) < 0) {
			if (err != NULL && err->code != NULL &&
			    strcmp(err->code, FTS_ERR_NOSPACE) == 0)
				fts->rolled_back_code = FTS_ERR_NOSPACE;
			if (!sqlite3_get_autocommit(fts->db))
				(void)sqlite3_exec(fts->db,
						   "ROLLBACK TO fts_doc;"
						   " RELEASE fts_doc",
						   NULL, NULL, NULL);
			return -1;
		}
		return fts_exec(fts, "RELEASE fts_doc", err);
	}
	if (fts_begin(fts, err) < 0)
		return -1;
	if (fn(fts, arg, err) < 0) {
		fts_rollback(fts);
		return -1;
	}
	return fts_commit(fts, err);
}

long long fts_count(struct fts *fts, const char *folder, struct error *err)
{
	uint64_t sig;
	long long count;
	if (fts_folder_state(fts, folder, &count, &sig, err) < 0)
		return -1;
	return count;
}

int fts_folder_state(struct fts *fts, const char *folder, long long *count_r,
		     uint64_t *sig_r, struct error *err)
{
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_FOLDER_GET, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*count_r = 0;
	*sig_r = 0;
	if (rc == SQLITE_ROW) {
		*count_r = sqlite3_column_int64(st, 0);
		*sig_r = (uint64_t)sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		return fts_sql_error(fts, rc, "folder state", err);
	}
	sqlite3_reset(st);
	return 0;
}

int fts_folder_adjust(struct fts *fts, const char *folder, long long count,
		      uint64_t sig, struct error *err)
{
	/* The sum is modulo 2^64, done here: SQLite would turn an
	 * overflowing INTEGER sum into a REAL. */
	long long cur_count;
	uint64_t cur_sig;
	if (fts_folder_state(fts, folder, &cur_count, &cur_sig, err) < 0)
		return -1;
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_FOLDER_SET, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, cur_count + count);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(cur_sig + sig));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : fts_sql_error(fts, rc, "folder update", err);
}
