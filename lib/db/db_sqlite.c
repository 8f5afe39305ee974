/*
 * db_sqlite.c - the embedded SQLite driver.
 *
 * Each pooled connection is its own sqlite3 handle on the same file, in WAL
 * mode so readers never wait for the writer.  The pool guarantees one
 * thread per handle at a time, so handles are opened NOMUTEX.  Lock waits
 * are bounded by busy_timeout (database_timeout); past it SQLite answers
 * SQLITE_BUSY, which is a temporary failure for our callers.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "db-private.h"

struct sqlite_conn {
	struct db_conn conn;
	sqlite3 *handle;
};

static int sqlite_error(struct sqlite_conn *sc, int rc, struct error *err)
{
	int ext = sqlite3_extended_errcode(sc->handle);
	const char *msg = sqlite3_errmsg(sc->handle);

	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (ext == SQLITE_CONSTRAINT_UNIQUE ||
		    ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
			error_set(err, ERR_PERM, "sqlite: duplicate: %s", msg);
			return DB_DUPLICATE;
		}
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_PROTOCOL:
		return error_set(err, ERR_TEMP, "sqlite: %s", msg);
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		/* The handle may hold a stale file descriptor: reopen. */
		sc->conn.broken = true;
		return error_set(err, ERR_TEMP, "sqlite: %s", msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		sc->conn.broken = true;
		break;
	}
	return error_set(err, ERR_PERM, "sqlite: %s", msg);
}

static struct db_conn *sqlite_connect(const struct db_settings *set,
				      struct error *err)
{
	sqlite3 *handle = NULL;
	int rc = sqlite3_open_v2(set->path, &handle,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		error_set(err, rc == SQLITE_CANTOPEN ? ERR_CONFIG : ERR_TEMP,
			  "sqlite: open %s: %s", set->path,
			  handle != NULL ? sqlite3_errmsg(handle)
					 : sqlite3_errstr(rc));
		sqlite3_close(handle);
		return NULL;
	}
	sqlite3_extended_result_codes(handle, 1);
	sqlite3_busy_timeout(handle, (int)set->timeout_ms);

	struct sqlite_conn *sc = xcalloc(1, sizeof(*sc));
	sc->handle = handle;
	/* foreign_keys is per connection and off by default; ON DELETE
	   CASCADE of mailboxes depends on it. */
	char *msg = NULL;
	rc = sqlite3_exec(handle,
			  "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
			  " PRAGMA synchronous=NORMAL;",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		error_set(err, (rc & 0xff) == SQLITE_BUSY ? ERR_TEMP : ERR_PERM,
			  "sqlite: %s: %s", set->path,
			  msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(handle);
		free(sc);
		return NULL;
	}
	return &sc->conn;
}

static void sqlite_disconnect(struct db_conn *conn)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)conn;
	sqlite3_close_v2(sc->handle);
	free(sc);
}

static int sqlite_run(struct db_conn *conn, const char *sql,
		      const char *const *params, size_t nparams,
		      struct db_result **res_r, long long *affected_r,
		      struct error *err)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)conn;
	sqlite3_stmt *stmt = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(sc->handle, sql, -1, &stmt, &tail);
	if (rc != SQLITE_OK)
		return sqlite_error(sc, rc, err);
	if (stmt == NULL)
		return error_set(err, ERR_PERM, "sqlite: empty statement");
	if ((size_t)sqlite3_bind_parameter_count(stmt) != nparams) {
		sqlite3_finalize(stmt);
		return error_set(err, ERR_PERM,
				 "sqlite: statement has %d placeholders, %zu "
				 "values given",
				 sqlite3_bind_parameter_count(stmt), nparams);
	}
	for (size_t i = 0; i < nparams; i++) {
		rc = params[i] == NULL
			 ? sqlite3_bind_null(stmt, (int)i + 1)
			 : sqlite3_bind_text(stmt, (int)i + 1, params[i], -1,
					     SQLITE_STATIC);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(stmt);
			return sqlite_error(sc, rc, err);
		}
	}

	struct db_result *res = NULL;
	if (res_r != NULL) {
		int cols = sqlite3_column_count(stmt);
		res = db_result_new((size_t)cols);
		for (int c = 0; c < cols; c++)
			db_result_set_colname(res, (size_t)c,
					      sqlite3_column_name(stmt, c));
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (res == NULL)
			continue;
		size_t row = db_result_add_row(res);
		for (size_t c = 0; c < db_result_cols(res); c++) {
			if (sqlite3_column_type(stmt, (int)c) == SQLITE_NULL)
				continue;
			const unsigned char *v =
			    sqlite3_column_text(stmt, (int)c);
			int len = sqlite3_column_bytes(stmt, (int)c);
			db_result_set(res, row, c, (const char *)v,
				      (size_t)len);
		}
	}
	if (rc != SQLITE_DONE) {
		int ret = sqlite_error(sc, rc, err);
		sqlite3_finalize(stmt);
		db_result_free(&res);
		return ret;
	}
	sqlite3_finalize(stmt);
	*affected_r = sqlite3_changes(sc->handle);
	if (res_r != NULL)
		*res_r = res;
	return 0;
}

static int sqlite_script(struct db_conn *conn, const char *sql,
			 struct error *err)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)conn;
	char *msg = NULL;
	int rc = sqlite3_exec(sc->handle, sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	if (rc != SQLITE_OK)
		return sqlite_error(sc, rc, err);
	return 0;
}

int db_sqlite_backup(struct db_conn *conn, const char *dest_path,
		     struct error *err)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)conn;
	sqlite3 *dest = NULL;
	int rc = sqlite3_open_v2(
	    dest_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		error_set(err, ERR_TEMP, "sqlite: backup %s: %s", dest_path,
			  dest != NULL ? sqlite3_errmsg(dest)
				       : sqlite3_errstr(rc));
		sqlite3_close(dest);
		return -1;
	}
	sqlite3_backup *bk =
	    sqlite3_backup_init(dest, "main", sc->handle, "main");
	if (bk == NULL) {
		error_set(err, ERR_TEMP, "sqlite: backup %s: %s", dest_path,
			  sqlite3_errmsg(dest));
		sqlite3_close(dest);
		return -1;
	}
	/* -1: the whole database in one step, under one read lock, so the
	   copy is consistent. */
	rc = sqlite3_backup_step(bk, -1);
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		error_set(err, ERR_TEMP, "sqlite: backup %s: %s", dest_path,
			  sqlite3_errstr(rc));
		sqlite3_close(dest);
		return -1;
	}
	if (sqlite3_close(dest) != SQLITE_OK)
		return error_set(err, ERR_TEMP, "sqlite: backup %s: close",
				 dest_path);
	return 0;
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    /* IMMEDIATE takes the write lock at BEGIN, so two writers queue on
       busy_timeout instead of one failing at its first write. */
    .begin_sql = "BEGIN IMMEDIATE",
    .table_exists_sql =
	"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    .transactional_ddl = true,
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .run = sqlite_run,
    .script = sqlite_script,
};
