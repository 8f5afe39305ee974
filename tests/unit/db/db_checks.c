/*
 * db_checks.c - see db_checks.h.
 */
#include "db_checks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "test.h"

/*
 * Drop every table of the current schema, whatever the migrations made:
 * the list comes from the engine's catalog, so a new migration's tables
 * and references never block a reset.  PostgreSQL drops with CASCADE;
 * MariaDB on one held connection with FOREIGN_KEY_CHECKS off; SQLite
 * (whose PRAGMA foreign_keys cannot change inside the pool's use) in
 * rounds, a table still referenced being dropped in a later round.
 */
void db_checks_reset(struct db *db)
{
	static const char *const list_sql[] = {
	    [DB_SQLITE] = "SELECT name FROM sqlite_master WHERE type = 'table'"
			  " AND name NOT LIKE 'sqlite_%'",
	    [DB_PGSQL] = "SELECT tablename FROM pg_tables WHERE schemaname ="
			 " current_schema()",
	    [DB_MYSQL] = "SELECT table_name FROM information_schema.tables"
			 " WHERE table_schema = DATABASE()",
	};
	enum db_driver driver = db_driver(db);
	struct error err;
	for (int round = 0; round < 10; round++) {
		struct db_result *res = NULL;
		if (db_query(db, list_sql[driver], NULL, 0, &res, &err) < 0)
			fail_msg("list tables: %s", err.msg);
		size_t n = db_result_rows(res);
		if (n == 0) {
			db_result_free(&res);
			return;
		}
		/* MariaDB: the drops on the connection where the checks are
		   off (a transaction holds it; each DROP commits anyway). */
		struct db_txn *txn = NULL;
		if (driver == DB_MYSQL) {
			txn = db_begin(db, &err);
			if (txn == NULL ||
			    db_txn_exec(txn, "SET FOREIGN_KEY_CHECKS = 0", NULL,
					0, &err) < 0)
				fail_msg("%s", err.msg);
		}
		for (size_t i = 0; i < n; i++) {
			char *sql = xasprintf(
			    "DROP TABLE IF EXISTS \"%s\"%s",
			    db_result_value(res, i, 0),
			    driver == DB_PGSQL ? " CASCADE" : "");
			/* A failure (SQLite: still referenced) is retried
			   in the next round. */
			if (txn != NULL)
				(void)db_txn_exec(txn, sql, NULL, 0, &err);
			else
				(void)db_exec(db, sql, NULL, 0, &err);
			free(sql);
		}
		if (txn != NULL) {
			(void)db_txn_exec(txn, "SET FOREIGN_KEY_CHECKS = 1",
					  NULL, 0, &err);
			if (db_commit(&txn, &err) < 0)
				fail_msg("commit: %s", err.msg);
		}
		db_result_free(&res);
	}
	fail_msg("reset: tables still there after 10 rounds");
}

char *db_checks_scalar(struct db *db, const char *sql)
{
	struct db_result *res = NULL;
	struct error err;
	if (db_query(db, sql, NULL, 0, &res, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
	assert_int_equal(db_result_rows(res), 1);
	const char *v = db_result_value(res, 0, 0);
	char *copy = v == NULL ? NULL : xstrdup(v);
	db_result_free(&res);
	return copy;
}

static void exec_ok(struct db *db, const char *sql, const char *const *params,
		    size_t n, long long want)
{
	struct error err;
	long long r = db_exec(db, sql, params, n, &err);
	if (r < 0)
		fail_msg("%s: %s", sql, err.msg);
	if (want >= 0)
		assert_int_equal(r, want);
}

static void make_kv(struct db *db)
{
	exec_ok(db, "DROP TABLE IF EXISTS t_kv", NULL, 0, -1);
	exec_ok(db,
		"CREATE TABLE t_kv (k VARCHAR(100) NOT NULL PRIMARY KEY,"
		" v VARCHAR(2000) NULL, n INTEGER NULL)",
		NULL, 0, -1);
}

void db_check_params_and_nulls(struct db *db)
{
	struct error err;
	struct db_result *res = NULL;
	make_kv(db);

	const char *p1[] = {"a", "one ? 'x'", "1"};
	exec_ok(db, "INSERT INTO t_kv (k, v, n) VALUES (?, ?, ?)", p1, 3, 1);
	const char *p2[] = {"b", NULL, NULL};
	exec_ok(db, "INSERT INTO t_kv (k, v, n) VALUES (?, ?, ?)", p2, 3, 1);
	/* A long value crosses the MySQL driver's first fetch buffer. */
	char long_v[1501];
	memset(long_v, 'z', sizeof(long_v) - 1);
	long_v[sizeof(long_v) - 1] = '\0';
	const char *p3[] = {"c", long_v, "-7"};
	exec_ok(db, "INSERT INTO t_kv (k, v, n) VALUES (?, ?, ?)", p3, 3, 1);

	/* A ? inside a literal is not a placeholder on any driver. */
	const char *k[] = {"a"};
	assert_int_equal(db_query(db,
				  "SELECT k, v, n, '?' AS q FROM t_kv"
				  " WHERE k = ?",
				  k, 1, &res, &err),
			 0);
	assert_int_equal(db_result_rows(res), 1);
	assert_int_equal(db_result_cols(res), 4);
	assert_string_equal(db_result_colname(res, 1), "v");
	assert_string_equal(db_result_value(res, 0, 1), "one ? 'x'");
	assert_string_equal(db_result_value(res, 0, 2), "1");
	assert_string_equal(db_result_value(res, 0, 3), "?");
	db_result_free(&res);
	assert_null(res);

	assert_int_equal(db_query(db, "SELECT k, v, n FROM t_kv ORDER BY k",
				  NULL, 0, &res, &err),
			 0);
	assert_int_equal(db_result_rows(res), 3);
	assert_string_equal(db_result_value(res, 1, 0), "b");
	assert_null(db_result_value(res, 1, 1));
	assert_null(db_result_value(res, 1, 2));
	assert_string_equal(db_result_value(res, 2, 1), long_v);
	assert_string_equal(db_result_value(res, 2, 2), "-7");
	db_result_free(&res);

	/* An empty string is not NULL. */
	const char *p5[] = {"", "b"};
	exec_ok(db, "UPDATE t_kv SET v = ? WHERE k = ?", p5, 2, 1);
	char *v = db_checks_scalar(db, "SELECT v FROM t_kv WHERE k = 'b'");
	assert_non_null(v);
	assert_string_equal(v, "");
	free(v);

	/* Rows affected: matched rows, even when the value is unchanged. */
	const char *p6[] = {"", "b"};
	exec_ok(db, "UPDATE t_kv SET v = ? WHERE k = ?", p6, 2, 1);
	exec_ok(db, "DELETE FROM t_kv WHERE k = 'nothing'", NULL, 0, 0);

	/* Too few values for the placeholders: a permanent error. */
	const char *p7[] = {"x"};
	long long r =
	    db_exec(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", p7, 1, &err);
	assert_int_equal(r, -1);
	assert_int_equal(err.kind, ERR_PERM);

	/* A syntax error is permanent, and the connection stays usable. */
	r = db_exec(db, "SELEKT nonsense", NULL, 0, &err);
	assert_int_equal(r, -1);
	assert_int_equal(err.kind, ERR_PERM);
	v = db_checks_scalar(db, "SELECT count(*) FROM t_kv");
	assert_string_equal(v, "3");
	free(v);
}

void db_check_duplicate(struct db *db)
{
	struct error err;
	make_kv(db);
	const char *p[] = {"dup", "first"};
	exec_ok(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", p, 2, 1);
	const char *q[] = {"dup", "second"};
	long long r =
	    db_exec(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", q, 2, &err);
	assert_int_equal(r, DB_DUPLICATE);
	assert_int_equal(err.kind, ERR_PERM);
	char *v = db_checks_scalar(db, "SELECT v FROM t_kv WHERE k = 'dup'");
	assert_string_equal(v, "first");
	free(v);
}

void db_check_transactions(struct db *db)
{
	struct error err;
	make_kv(db);

	struct db_txn *txn = db_begin(db, &err);
	assert_non_null(txn);
	const char *a[] = {"t1", "committed"};
	assert_int_equal(db_txn_exec(txn,
				     "INSERT INTO t_kv (k, v) VALUES (?, ?)", a,
				     2, &err),
			 1);
	struct db_result *res = NULL;
	const char *k[] = {"t1"};
	assert_int_equal(db_txn_query(txn, "SELECT v FROM t_kv WHERE k = ?", k,
				      1, &res, &err),
			 0);
	assert_int_equal(db_result_rows(res), 1);
	db_result_free(&res);
	assert_int_equal(db_commit(&txn, &err), 0);
	assert_null(txn);

	txn = db_begin(db, &err);
	assert_non_null(txn);
	const char *b[] = {"t2", "rolled back"};
	assert_int_equal(db_txn_exec(txn,
				     "INSERT INTO t_kv (k, v) VALUES (?, ?)", b,
				     2, &err),
			 1);
	db_rollback(&txn);
	assert_null(txn);

	/* A duplicate inside a transaction is reported as such. */
	txn = db_begin(db, &err);
	assert_non_null(txn);
	const char *c[] = {"t1", "again"};
	assert_int_equal(db_txn_exec(txn,
				     "INSERT INTO t_kv (k, v) VALUES (?, ?)", c,
				     2, &err),
			 DB_DUPLICATE);
	db_rollback(&txn);

	char *v = db_checks_scalar(db, "SELECT count(*) FROM t_kv");
	assert_string_equal(v, "1");
	free(v);
	v = db_checks_scalar(db, "SELECT v FROM t_kv WHERE k = 't1'");
	assert_string_equal(v, "committed");
	free(v);
}

void db_check_injection_is_data(struct db *db)
{
	struct error err;
	struct db_result *res = NULL;
	make_kv(db);
	const char *evil = "x' OR '1'='1";
	const char *p[] = {"safe", "v"};
	exec_ok(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", p, 2, 1);
	const char *q[] = {evil, "'); DROP TABLE t_kv; --"};
	exec_ok(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", q, 2, 1);

	/* Matches only the row whose key is literally the string. */
	const char *k[] = {evil};
	assert_int_equal(
	    db_query(db, "SELECT k, v FROM t_kv WHERE k = ?", k, 1, &res, &err),
	    0);
	assert_int_equal(db_result_rows(res), 1);
	assert_string_equal(db_result_value(res, 0, 0), evil);
	assert_string_equal(db_result_value(res, 0, 1),
			    "'); DROP TABLE t_kv; --");
	db_result_free(&res);

	const char *k2[] = {"nope' OR '1'='1"};
	assert_int_equal(
	    db_query(db, "SELECT k FROM t_kv WHERE k = ?", k2, 1, &res, &err),
	    0);
	assert_int_equal(db_result_rows(res), 0);
	db_result_free(&res);

	/* Backslashes and quotes round-trip unchanged. */
	const char *b[] = {"bs", "a\\'b\"c\\\\"};
	exec_ok(db, "INSERT INTO t_kv (k, v) VALUES (?, ?)", b, 2, 1);
	char *v = db_checks_scalar(db, "SELECT v FROM t_kv WHERE k = 'bs'");
	assert_string_equal(v, "a\\'b\"c\\\\");
	free(v);
	v = db_checks_scalar(db, "SELECT count(*) FROM t_kv");
	assert_string_equal(v, "3");
	free(v);
}

static bool table_exists(struct db *db, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	struct db_result *res = NULL;
	struct error err;
	int r = db_query(db, sql, NULL, 0, &res, &err);
	db_result_free(&res);
	free(sql);
	return r == 0;
}

void db_check_migrations(struct db *db)
{
	struct error err;
	unsigned version = 99;
	unsigned latest = db_schema_latest(db_driver(db));
	assert_true(latest >= 1);
	db_checks_reset(db);

	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, 0);

	/* Dry run: lists, writes nothing. */
	struct buf *report = buf_new();
	assert_int_equal(db_migrate(db, true, report, &err), 0);
	assert_non_null(strstr(buf_data(report), "pending 001_initial"));
	assert_false(table_exists(db, "schema_migrations"));
	assert_false(table_exists(db, "domains"));

	buf_reset(report);
	if (db_migrate(db, false, report, &err) < 0)
		fail_msg("migrate: %s", err.msg);
	assert_non_null(strstr(buf_data(report), "applied 001_initial"));
	assert_int_equal(db_schema_version(db, &version, &err), 0);
	assert_int_equal(version, latest);

	/* Idempotent. */
	buf_reset(report);
	assert_int_equal(db_migrate(db, false, report, &err), 0);
	assert_non_null(strstr(buf_data(report), "up to date"));
	assert_null(strstr(buf_data(report), "applied"));
	buf_free(&report);
	char *count =
	    db_checks_scalar(db, "SELECT count(*) FROM schema_migrations");
	assert_int_equal(atoi(count), (int)latest);
	free(count);

	/* The schema works as the other modules use it: RETURNING ids,
	   defaults, the lower-case rule, unique addresses, cascades. */
	struct db_result *res = NULL;
	const char *d[] = {"example.org"};
	assert_int_equal(db_query(db,
				  "INSERT INTO domains (name) VALUES (?)"
				  " RETURNING id",
				  d, 1, &res, &err),
			 0);
	assert_int_equal(db_result_rows(res), 1);
	char *domain_id = xstrdup(db_result_value(res, 0, 0));
	db_result_free(&res);
	char *created = db_checks_scalar(db, "SELECT created_at FROM domains");
	assert_true(atoll(created) > 1600000000LL);
	free(created);

	const char *upper[] = {"Example.NET"};
	assert_int_equal(db_exec(db, "INSERT INTO domains (name) VALUES (?)",
				 upper, 1, &err),
			 -1);
	assert_int_equal(
	    db_exec(db, "INSERT INTO domains (name) VALUES (?)", d, 1, &err),
	    DB_DUPLICATE);

	const char *m[] = {domain_id, "user", "user@example.org", "{X}h"};
	const char *ins = "INSERT INTO mailboxes"
			  " (domain_id, local_part, address, password_hash)"
			  " VALUES (?, ?, ?, ?)";
	assert_int_equal(db_exec(db, ins, m, 4, &err), 1);
	assert_int_equal(db_exec(db, ins, m, 4, &err), DB_DUPLICATE);
	const char *al[] = {domain_id, "@example.org", "user@example.org"};
	assert_int_equal(db_exec(db,
				 "INSERT INTO aliases"
				 " (domain_id, source, destinations)"
				 " VALUES (?, ?, ?)",
				 al, 3, &err),
			 1);
	char *quota = db_checks_scalar(db, "SELECT quota_bytes + used_bytes"
					   " + message_count FROM mailboxes");
	assert_string_equal(quota, "0");
	free(quota);

	const char *bad_role[] = {"root", "x", "emperor"};
	assert_int_equal(db_exec(db,
				 "INSERT INTO admins (username, password_hash,"
				 " role) VALUES (?, ?, ?)",
				 bad_role, 3, &err),
			 -1);
	const char *token[] = {"hash1"};
	assert_int_equal(db_exec(db,
				 "INSERT INTO tokens (admin_id, secret_hash)"
				 " VALUES (NULL, ?)",
				 token, 1, &err),
			 1);

	const char *del[] = {"example.org"};
	assert_int_equal(
	    db_exec(db, "DELETE FROM domains WHERE name = ?", del, 1, &err), 1);
	count = db_checks_scalar(db, "SELECT count(*) FROM mailboxes");
	assert_string_equal(count, "0");
	free(count);
	count = db_checks_scalar(db, "SELECT count(*) FROM aliases");
	assert_string_equal(count, "0");
	free(count);
	free(domain_id);
}

#define POOL_THREADS 4
#define POOL_ROWS 25

struct pool_arg {
	struct db *db;
	int id;
	int failures;
};

static void *pool_worker(void *p)
{
	struct pool_arg *arg = p;
	for (int i = 0; i < POOL_ROWS; i++) {
		char key[32];
		snprintf(key, sizeof(key), "%d-%d", arg->id, i);
		const char *params[] = {key};
		struct error err;
		if (db_exec(arg->db, "INSERT INTO t_pool (k) VALUES (?)",
			    params, 1, &err) != 1)
			arg->failures++;
	}
	return NULL;
}

void db_check_pool_threads(struct db *db)
{
	exec_ok(db, "DROP TABLE IF EXISTS t_pool", NULL, 0, -1);
	exec_ok(db, "CREATE TABLE t_pool (k VARCHAR(32) NOT NULL PRIMARY KEY)",
		NULL, 0, -1);
	pthread_t th[POOL_THREADS];
	struct pool_arg args[POOL_THREADS];
	for (int i = 0; i < POOL_THREADS; i++) {
		args[i] = (struct pool_arg){.db = db, .id = i};
		assert_int_equal(
		    pthread_create(&th[i], NULL, pool_worker, &args[i]), 0);
	}
	for (int i = 0; i < POOL_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	char *count = db_checks_scalar(db, "SELECT count(*) FROM t_pool");
	assert_int_equal(atoi(count), POOL_THREADS * POOL_ROWS);
	free(count);
}
