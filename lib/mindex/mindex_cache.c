/*
 * Batched access to the per-message cache table (mindex.h): one pooled
 * connection, one transaction and one prepared statement per batch.
 * A FETCH/SORT/THREAD over 10,000 messages otherwise pays a connection
 * take, a prepare and a finalize per message (~40 us each).
 */
#include "mindex_private.h"
#include <stdlib.h>
#include <string.h>

/* A range scan beats point lookups while the uids are this dense. */
#define DENSE_FACTOR 4

/* SQLite gives NULL for an empty blob; callers get "" (never NULL). */
static const void *blob_or_empty(sqlite3_stmt *st, int col)
{
	const void *v = sqlite3_column_blob(st, col);
	return v != NULL ? v : "";
}

/* Rows of cache for field with uid in [lo, hi], merged with uids[]. */
static int get_range(sqlite3 *db, struct mindex_folder *f, const uint32_t *uids,
		     size_t n, const char *field, mindex_cache_cb *cb,
		     void *ctx, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT uid, value FROM cache WHERE"
				    " folder = ? AND uid BETWEEN ? AND ?"
				    " AND field = ? ORDER BY uid",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_int64(st, 1, f->db_id);
	sqlite3_bind_int64(st, 2, uids[0]);
	sqlite3_bind_int64(st, 3, uids[n - 1]);
	sqlite3_bind_text(st, 4, field, -1, SQLITE_STATIC);
	size_t i = 0;
	int found = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		while (i < n && uids[i] < uid)
			i++;
		if (i == n)
			break;
		const void *v = blob_or_empty(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		for (; i < n && uids[i] == uid; i++) {
			cb(ctx, i, v, len);
			found++;
		}
	}
	int ret = found;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = mindex_db_error(db, rc, "cache get", err);
	sqlite3_finalize(st);
	return ret;
}

/* One prepared point lookup, reset and rebound per uid. */
static int get_points(sqlite3 *db, struct mindex_folder *f,
		      const uint32_t *uids, size_t n, const char *field,
		      mindex_cache_cb *cb, void *ctx, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT value FROM cache WHERE folder = ?"
				    " AND uid = ? AND field = ?",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_int64(st, 1, f->db_id);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 2, uids[i]);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			cb(ctx, i, blob_or_empty(st, 0),
			   (size_t)sqlite3_column_bytes(st, 0));
			found++;
		} else if (rc != SQLITE_DONE) {
			found = mindex_db_error(db, rc, "cache get", err);
			break;
		}
	}
	sqlite3_finalize(st);
	return found;
}

int mindex_cache_get_many(struct mindex_folder *f, const uint32_t *uids,
			  size_t n, const char *field, mindex_cache_cb *cb,
			  void *ctx, struct error *err)
{
	if (n == 0)
		return 0;
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	/* one read transaction: a consistent view, one lock for all */
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	int ret;
	if (rc != SQLITE_OK) {
		ret = mindex_db_error(db, rc, "begin", err);
	} else if ((uint64_t)uids[n - 1] - uids[0] + 1 <=
		   (uint64_t)n * DENSE_FACTOR + 64) {
		ret = get_range(db, f, uids, n, field, cb, ctx, err);
	} else {
		ret = get_points(db, f, uids, n, field, cb, ctx, err);
	}
	if (rc == SQLITE_OK)
		(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	mindex_db_close(db);
	return ret;
}

int mindex_cache_put_many(struct mindex_folder *f, const char *field,
			  const struct mindex_cache_item *items, size_t n,
			  struct error *err)
{
	if (n == 0)
		return 0;
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int ret = mindex_db_error(db, rc, "begin", err);
		mindex_db_close(db);
		return ret;
	}
	sqlite3_stmt *st = NULL;
	/* only for a message the index knows (not one expunged meanwhile) */
	rc = sqlite3_prepare_v2(db,
				"INSERT OR REPLACE INTO cache(folder, uid,"
				" field, value) SELECT ?, ?, ?, ?"
				" WHERE EXISTS (SELECT 1 FROM msgs"
				" WHERE folder = ?1 AND uid = ?2)",
				-1, &st, NULL);
	int ret = 0;
	if (rc != SQLITE_OK) {
		ret = mindex_db_error(db, rc, "prepare", err);
	} else {
		sqlite3_bind_int64(st, 1, f->db_id);
		sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
		for (size_t i = 0; i < n && ret == 0; i++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 2, items[i].uid);
			sqlite3_bind_blob(st, 4,
					  items[i].len > 0 ? items[i].data : "",
					  (int)items[i].len, SQLITE_STATIC);
			if ((rc = sqlite3_step(st)) != SQLITE_DONE)
				ret = mindex_db_error(db, rc, "cache put", err);
		}
	}
	sqlite3_finalize(st);
	if (ret == 0 &&
	    (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		ret = mindex_db_error(db, rc, "commit", err);
	mindex_db_close(db); /* rolls back what was not committed */
	return ret;
}
