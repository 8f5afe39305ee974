/*
 * migrate.c - schema migrations embedded at build time.
 *
 * schema/<driver>/NNN_name.sql files are compiled into the library
 * (schema_embedded.c), so an installed postern never needs the source
 * tree.  A migration is applied once and recorded in schema_migrations;
 * versions already recorded are skipped, so running db_migrate() again is
 * harmless.  Each migration runs in one transaction with its record where
 * DDL is transactional (SQLite, PostgreSQL): it is applied whole or not at
 * all.  MySQL commits DDL implicitly, so there the record is written after
 * the script succeeds, and a half-applied script must be finished by hand
 * (the error names the migration).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db-private.h"

#define MIGRATIONS_TABLE_SQL                                                   \
	"CREATE TABLE IF NOT EXISTS schema_migrations ("                       \
	" version INTEGER NOT NULL PRIMARY KEY,"                               \
	" name VARCHAR(200) NOT NULL,"                                         \
	" applied_at BIGINT NOT NULL)"

static int cmp_version(const void *a, const void *b)
{
	const struct db_migration *x = a, *y = b;
	return x->version < y->version ? -1 : x->version > y->version;
}

struct db_migration *db_migrations_builtin(enum db_driver driver, size_t *n_r)
{
	const char *name = db_driver_name(driver);
	struct db_migration *list =
	    xcalloc(db_schema_nfiles + 1, sizeof(*list));
	size_t n = 0;
	for (size_t i = 0; i < db_schema_nfiles; i++) {
		if (strcmp(db_schema_files[i].driver, name) != 0)
			continue;
		list[n].version = db_schema_files[i].version;
		list[n].name = db_schema_files[i].name;
		list[n].sql = db_schema_files[i].sql;
		n++;
	}
	qsort(list, n, sizeof(*list), cmp_version);
	*n_r = n;
	return list;
}

unsigned db_schema_latest(enum db_driver driver)
{
	size_t n;
	struct db_migration *list = db_migrations_builtin(driver, &n);
	unsigned v = n == 0 ? 0 : list[n - 1].version;
	free(list);
	return v;
}

/* 1: the table exists, 0: not, -1: error. */
static int table_exists(struct db *db, const char *table, struct error *err)
{
	struct db_result *res;
	const char *params[] = {table};
	if (db_query(db, db_get_ops(db)->table_exists_sql, params, 1, &res,
		     err) < 0)
		return -1;
	int found = db_result_rows(res) > 0;
	db_result_free(&res);
	return found;
}

/* Versions recorded in schema_migrations, in *applied_r (malloc'd). */
static int applied_versions(struct db *db, unsigned **applied_r, size_t *n_r,
			    struct error *err)
{
	*applied_r = NULL;
	*n_r = 0;
	int exists = table_exists(db, "schema_migrations", err);
	if (exists <= 0)
		return exists;

	struct db_result *res;
	if (db_query(db,
		     "SELECT version FROM schema_migrations"
		     " ORDER BY version",
		     NULL, 0, &res, err) < 0)
		return -1;
	size_t rows = db_result_rows(res);
	unsigned *v = xcalloc(rows + 1, sizeof(*v));
	for (size_t i = 0; i < rows; i++) {
		const char *s = db_result_value(res, i, 0);
		v[i] = s == NULL ? 0 : (unsigned)strtoul(s, NULL, 10);
	}
	db_result_free(&res);
	*applied_r = v;
	*n_r = rows;
	return 1;
}

int db_schema_version(struct db *db, unsigned *version_r, struct error *err)
{
	unsigned *applied;
	size_t n;
	*version_r = 0;
	if (applied_versions(db, &applied, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (applied[i] > *version_r)
			*version_r = applied[i];
	free(applied);
	return 0;
}

/* Copy a non-empty SQLite database aside before changing it. */
static int backup_sqlite(struct db *db, struct buf *report, struct error *err)
{
	struct db_result *res;
	if (db_query(db,
		     "SELECT count(*) FROM sqlite_master"
		     " WHERE type = 'table'",
		     NULL, 0, &res, err) < 0)
		return -1;
	const char *count = db_result_value(res, 0, 0);
	bool empty = count == NULL || strcmp(count, "0") == 0;
	db_result_free(&res);
	if (empty) {
		if (report != NULL)
			buf_append_str(report,
				       "backup: none (empty database)\n");
		return 0;
	}

	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	char *path = xasprintf("%s.bak-%s", db_sqlite_path(db), stamp);
	struct stat st;
	/* Two runs in one second must not overwrite the first copy. */
	for (unsigned i = 1; stat(path, &st) == 0; i++) {
		free(path);
		path = xasprintf("%s.bak-%s-%u", db_sqlite_path(db), stamp, i);
	}
	if (db_backup(db, path, err) < 0) {
		free(path);
		return -1;
	}
	log_info("database backup written to %s", path);
	if (report != NULL)
		buf_printf(report, "backup: %s\n", path);
	free(path);
	return 0;
}

static int apply_one(struct db *db, const struct db_migration *m,
		     struct error *err)
{
	char version[16], now[32];
	snprintf(version, sizeof(version), "%u", m->version);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *params[] = {version, m->name, now};
	const char *record = "INSERT INTO schema_migrations"
			     " (version, name, applied_at) VALUES (?, ?, ?)";

	if (!db_get_ops(db)->transactional_ddl) {
		if (db_exec_script(db, m->sql, err) < 0)
			return -1;
		return db_exec(db, record, params, 3, err) < 0 ? -1 : 0;
	}
	struct db_txn *txn = db_begin(db, err);
	if (txn == NULL)
		return -1;
	if (db_txn_exec_script(txn, m->sql, err) < 0 ||
	    db_txn_exec(txn, record, params, 3, err) < 0) {
		db_rollback(&txn);
		return -1;
	}
	return db_commit(&txn, err);
}

int db_migrate_list(struct db *db, const struct db_migration *list, size_t n,
		    bool dry_run, struct buf *report, struct error *err)
{
	unsigned *applied;
	size_t napplied;
	int exists = applied_versions(db, &applied, &napplied, err);
	if (exists < 0)
		return -1;

	size_t pending = 0;
	unsigned current = 0;
	bool *todo = xcalloc(n + 1, sizeof(*todo));
	for (size_t a = 0; a < napplied; a++)
		if (applied[a] > current)
			current = applied[a];
	for (size_t i = 0; i < n; i++) {
		todo[i] = true;
		for (size_t a = 0; a < napplied; a++)
			if (applied[a] == list[i].version)
				todo[i] = false;
		pending += todo[i];
	}
	free(applied);

	int ret = 0;
	if (pending == 0) {
		if (report != NULL)
			buf_printf(report,
				   "schema is up to date (version %u)\n",
				   current);
		goto out;
	}
	if (dry_run) {
		for (size_t i = 0; i < n; i++)
			if (todo[i] && report != NULL)
				buf_printf(report, "pending %03u_%s\n",
					   list[i].version, list[i].name);
		goto out;
	}
	if (db_driver(db) == DB_SQLITE && backup_sqlite(db, report, err) < 0) {
		error_prefix(err, "backup before migrating");
		ret = -1;
		goto out;
	}
	if (exists == 0 && db_exec_script(db, MIGRATIONS_TABLE_SQL, err) < 0) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!todo[i])
			continue;
		if (apply_one(db, &list[i], err) < 0) {
			error_prefix(err, "migration %03u_%s", list[i].version,
				     list[i].name);
			ret = -1;
			goto out;
		}
		log_info("database migration %03u_%s applied", list[i].version,
			 list[i].name);
		if (report != NULL)
			buf_printf(report, "applied %03u_%s\n", list[i].version,
				   list[i].name);
	}
out:
	free(todo);
	return ret;
}

int db_migrate(struct db *db, bool dry_run, struct buf *report,
	       struct error *err)
{
	size_t n;
	struct db_migration *list = db_migrations_builtin(db_driver(db), &n);
	int ret = db_migrate_list(db, list, n, dry_run, report, err);
	free(list);
	return ret;
}
