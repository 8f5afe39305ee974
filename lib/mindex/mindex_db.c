/*
 * The per-user SQLite database ROOT/DOMAIN/LOCAL/postern-index.sqlite
 * (docs/index.md): MODSEQs, the expunge log and cached message data.
 * It is a cache of what the files say plus the modseq history: a missing
 * or corrupt file is replaced by an empty one, whose folders start at a
 * modseq taken from the clock in microseconds, above any modseq the old
 * one can have given out (it would have needed more than a million
 * changes a second).
 *
 * Connections are opened per operation (WAL mode, busy timeout), so an
 * idle session holds none; SQLite serialises writers across processes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "mindex_private.h"

#define DB_SCHEMA_VERSION 1
static const char DB_CORRUPT[] = "db_corrupt";

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS folders("
    " id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " uidvalidity INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,"
    " log_start INTEGER NOT NULL, recent_uid INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS msgs("
    " folder INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " keywords INTEGER NOT NULL,"
    " PRIMARY KEY(folder, uid)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS expunged("
    " folder INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL,"
    " PRIMARY KEY(folder, uid)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged(folder, modseq);"
    "CREATE TABLE IF NOT EXISTS cache("
    " folder INTEGER NOT NULL, uid INTEGER NOT NULL, field TEXT NOT NULL,"
    " value BLOB NOT NULL,"
    " PRIMARY KEY(folder, uid, field)) WITHOUT ROWID;"
    /* The full-text index (FTS5) will get its own tables here. */
    "PRAGMA user_version = 1;";

uint64_t mindex_now_modseq(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int mindex_db_error(sqlite3 *db, int rc, const char *what, struct error *err)
{
	int prim = rc & 0xff;
	if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
		return error_set_code(
		    err, ERR_TEMP, DB_CORRUPT, "index %s: %s", what,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	if (prim == SQLITE_FULL)
		return error_set_code(err, ERR_TEMP, STORE_ERR_NOSPACE,
				      "index %s: disk full", what);
	return error_set(err, ERR_TEMP, "index %s: %s", what,
			 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

int mindex_db_exec(sqlite3 *db, const char *sql, struct error *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "exec", err);
	return 0;
}

static sqlite3 *db_try_open(const char *path, struct error *err)
{
	sqlite3 *db = NULL;
	struct stat fst;
	if (stat(path, &fst) < 0 && errno == ENOENT) {
		/* A -wal left by a removed database would be replayed into
		 * the new one. */
		char *p = xasprintf("%s-wal", path);
		(void)unlink(p);
		free(p);
		p = xasprintf("%s-shm", path);
		(void)unlink(p);
		free(p);
	}
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		mindex_db_error(db, rc, "open", err);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, MINDEX_LOCK_WAIT_MS);
	sqlite3_stmt *st = NULL;
	int version = -1;
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	else
		rc = rc == SQLITE_OK ? sqlite3_errcode(db) : rc;
	sqlite3_finalize(st);
	if (version < 0) {
		mindex_db_error(db, rc, "open", err);
		sqlite3_close(db);
		return NULL;
	}
	if (version != DB_SCHEMA_VERSION) {
		if (mindex_db_exec(db,
				   "PRAGMA journal_mode=WAL;"
				   "PRAGMA synchronous=NORMAL;",
				   err) < 0 ||
		    mindex_db_exec(db, schema, err) < 0) {
			sqlite3_close(db);
			return NULL;
		}
	} else if (mindex_db_exec(db, "PRAGMA synchronous=NORMAL", err) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void db_remove(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char *p = xasprintf("%s%s", path, sfx[i]);
		(void)unlink(p);
		free(p);
	}
}

/*
 * A small per-process pool of idle handles (imapd runs thousands of
 * sessions per process but only a few operations at once): a handle is
 * taken out while used, so one thread at a time uses it.
 */
#define DB_POOL_MAX 8
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	sqlite3 *db;
	char *path;
	dev_t dev; /* the file it has open (a removed one is not reused) */
	ino_t ino;
} pool[DB_POOL_MAX];
static unsigned pool_next;
static pid_t pool_pid;

/* A forked child must not use its parent's SQLite handles (SQLite says
 * so): forget them without closing. */
static void pool_check_fork(void)
{
	pid_t me = getpid();
	if (pool_pid != me) {
		for (unsigned i = 0; i < DB_POOL_MAX; i++) {
			pool[i].db = NULL;
			pool[i].path = NULL;
		}
		pool_pid = me;
	}
}

/* A pooled handle on the file st (NULL: the file is gone) or NULL;
 * handles on a removed or replaced file are closed. */
static sqlite3 *pool_take(const char *path, const struct stat *st)
{
	sqlite3 *db = NULL;
	sqlite3 *stale[DB_POOL_MAX];
	unsigned nstale = 0;
	pthread_mutex_lock(&pool_lock);
	pool_check_fork();
	for (unsigned i = 0; i < DB_POOL_MAX; i++) {
		if (pool[i].db == NULL || strcmp(pool[i].path, path) != 0)
			continue;
		bool same = st != NULL && st->st_dev == pool[i].dev &&
			    st->st_ino == pool[i].ino;
		if (same && db == NULL)
			db = pool[i].db;
		else if (!same)
			stale[nstale++] = pool[i].db;
		else
			continue;
		pool[i].db = NULL;
		free(pool[i].path);
		pool[i].path = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	for (unsigned i = 0; i < nstale; i++)
		sqlite3_close(stale[i]);
	return db;
}

sqlite3 *mindex_db_open(struct mindex_user *u, struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_DB, u->root);
	struct stat st;
	sqlite3 *pooled;
	bool exists = stat(path, &st) == 0;
	while ((pooled = pool_take(path, exists ? &st : NULL)) != NULL) {
		free(path);
		return pooled;
	}
	struct error e = {0};
	sqlite3 *db = db_try_open(path, &e);
	if (db == NULL && e.code == DB_CORRUPT) {
		/* A cache: start again (modseqs restart from the clock). */
		mindex_db_pool_flush();
		db_remove(path);
		error_clear(&e);
		db = db_try_open(path, &e);
	}
	free(path);
	if (db == NULL && err != NULL)
		*err = e;
	return db;
}

void mindex_db_close(sqlite3 *db)
{
	if (db == NULL)
		return;
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	const char *file = sqlite3_db_filename(db, "main");
	if (file == NULL || *file == '\0') {
		sqlite3_close(db);
		return;
	}
	struct stat st;
	if (stat(file, &st) < 0) {
		sqlite3_close(db);
		return;
	}
	char *path = xstrdup(file);
	sqlite3 *evict = NULL;
	char *evict_path = NULL;
	pthread_mutex_lock(&pool_lock);
	pool_check_fork();
	unsigned slot = DB_POOL_MAX;
	for (unsigned i = 0; i < DB_POOL_MAX; i++)
		if (pool[i].db == NULL) {
			slot = i;
			break;
		}
	if (slot == DB_POOL_MAX) {
		slot = pool_next++ % DB_POOL_MAX;
		evict = pool[slot].db;
		evict_path = pool[slot].path;
	}
	pool[slot].db = db;
	pool[slot].path = path;
	pool[slot].dev = st.st_dev;
	pool[slot].ino = st.st_ino;
	pthread_mutex_unlock(&pool_lock);
	if (evict != NULL)
		sqlite3_close(evict);
	free(evict_path);
}

void mindex_db_pool_flush(void)
{
	pthread_mutex_lock(&pool_lock);
	pool_check_fork();
	for (unsigned i = 0; i < DB_POOL_MAX; i++) {
		if (pool[i].db != NULL)
			sqlite3_close(pool[i].db);
		free(pool[i].path);
		pool[i].db = NULL;
		pool[i].path = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
}

int mindex_db_folder(sqlite3 *db, const char *name, uint32_t uidvalidity,
		     int64_t *id_r, uint64_t *hms_r, uint64_t *log_start_r,
		     uint32_t *recent_uid_r, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT id, uidvalidity, highestmodseq,"
				    " log_start, recent_uid FROM folders"
				    " WHERE name = ?",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint32_t uv = (uint32_t)sqlite3_column_int64(st, 1);
		*id_r = id;
		*hms_r = (uint64_t)sqlite3_column_int64(st, 2);
		*log_start_r = (uint64_t)sqlite3_column_int64(st, 3);
		*recent_uid_r = (uint32_t)sqlite3_column_int64(st, 4);
		sqlite3_finalize(st);
		if (uv == uidvalidity)
			return 0;
		/* A new uidlist: everything known about the old UIDs goes;
		 * modseqs continue upwards. */
		char *sql = xasprintf(
		    "DELETE FROM msgs WHERE folder = %lld;"
		    "DELETE FROM expunged WHERE folder = %lld;"
		    "DELETE FROM cache WHERE folder = %lld;"
		    "UPDATE folders SET uidvalidity = %u, log_start = %llu,"
		    " highestmodseq = %llu, recent_uid = 1 WHERE id = %lld;",
		    (long long)id, (long long)id, (long long)id, uidvalidity,
		    (unsigned long long)(*hms_r + 1),
		    (unsigned long long)(*hms_r + 1), (long long)id);
		int r = mindex_db_exec(db, sql, err);
		free(sql);
		*hms_r += 1;
		*log_start_r = *hms_r;
		*recent_uid_r = 1;
		return r;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mindex_db_error(db, rc, "select folder", err);
	uint64_t start = mindex_now_modseq();
	rc = sqlite3_prepare_v2(db,
				"INSERT INTO folders(name, uidvalidity,"
				" highestmodseq, log_start, recent_uid)"
				" VALUES (?, ?, ?, ?, 1)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)start);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)start);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mindex_db_error(db, rc, "insert folder", err);
	*id_r = sqlite3_last_insert_rowid(db);
	*hms_r = start;
	*log_start_r = start;
	*recent_uid_r = 1;
	return 0;
}

int mindex_db_folder_set(sqlite3 *db, int64_t id, uint64_t hms,
			 uint32_t recent_uid, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "UPDATE folders SET highestmodseq = ?,"
				    " recent_uid = ? WHERE id = ?",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)hms);
	sqlite3_bind_int64(st, 2, recent_uid);
	sqlite3_bind_int64(st, 3, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mindex_db_error(db, rc, "update folder", err);
	return 0;
}

static int exec_name(sqlite3 *db, const char *sql, const char *a, const char *b,
		     struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return mindex_db_error(db, rc, "update", err);
	return 0;
}

int mindex_db_folder_delete(sqlite3 *db, const char *name, struct error *err)
{
	if (mindex_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	static const char *const sqls[] = {
	    "DELETE FROM msgs WHERE folder IN"
	    " (SELECT id FROM folders WHERE name = ?)",
	    "DELETE FROM expunged WHERE folder IN"
	    " (SELECT id FROM folders WHERE name = ?)",
	    "DELETE FROM cache WHERE folder IN"
	    " (SELECT id FROM folders WHERE name = ?)",
	    "DELETE FROM folders WHERE name = ?",
	};
	for (size_t i = 0; i < 4; i++) {
		if (exec_name(db, sqls[i], name, NULL, err) < 0) {
			(void)mindex_db_exec(db, "ROLLBACK", NULL);
			return -1;
		}
	}
	return mindex_db_exec(db, "COMMIT", err);
}

int mindex_db_folder_rename(sqlite3 *db, const char *from, const char *to,
			    struct error *err)
{
	/* The uidlist moves with the directory, so its data stays valid;
	 * a stale row under the new name would be reset by uidvalidity. */
	if (mindex_db_folder_delete(db, to, err) < 0)
		return -1;
	return exec_name(db, "UPDATE folders SET name = ? WHERE name = ?", to,
			 from, err);
}

bool mindex_db_is_corrupt(const struct error *err)
{
	return err != NULL && err->code == DB_CORRUPT;
}

void mindex_db_remove(struct mindex_user *u)
{
	char *path = xasprintf("%s/" MINDEX_DB, u->root);
	mindex_db_pool_flush();
	db_remove(path);
	free(path);
}
