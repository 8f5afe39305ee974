/*
 * test_db.c - the SQL layer on SQLite: the shared driver checks
 * (db_checks.c) plus what only SQLite has: backups before migrating,
 * busy = temporary, foreign keys on, configuration parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "db/db-private.h"
#include "db/db.h"
#include "db_checks.h"
#include "test.h"

struct fixture {
	char dir[64];
	char *path;
	struct db *db;
};

static struct db *open_sqlite(const char *path, unsigned pool,
			      unsigned timeout_ms)
{
	struct db_params p = {.driver = DB_SQLITE,
			      .path = path,
			      .pool_size = pool,
			      .timeout_ms = timeout_ms};
	struct error err;
	struct db *db = db_open_params(&p, &err);
	if (db == NULL)
		fail_msg("open %s: %s", path, err.msg);
	return db;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/postern-test-db.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->path = xasprintf("%s/postern.db", f->dir);
	f->db = open_sqlite(f->path, 2, 2000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	db_close(&f->db);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->path);
	free(f);
	return 0;
}

static void test_params_and_nulls(void **state)
{
	struct fixture *f = *state;
	db_check_params_and_nulls(f->db);
}

static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	db_check_duplicate(f->db);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	db_check_transactions(f->db);
}

static void test_injection(void **state)
{
	struct fixture *f = *state;
	db_check_injection_is_data(f->db);
}

static void test_migrations(void **state)
{
	struct fixture *f = *state;
	db_check_migrations(f->db);
}

static void test_pool_threads(void **state)
{
	struct fixture *f = *state;
	db_check_pool_threads(f->db);
}

/* Migrating a database with content first copies it aside. */
static void test_backup_before_migrating(void **state)
{
	struct fixture *f = *state;
	struct error err;
	struct buf *report = buf_new();

	/* An empty database has nothing worth a copy. */
	assert_int_equal(db_migrate(f->db, false, report, &err), 0);
	assert_non_null(strstr(buf_data(report), "backup: none"));
	const char *d[] = {"kept.example"};
	assert_int_equal(
	    db_exec(f->db, "INSERT INTO domains (name) VALUES (?)", d, 1, &err),
	    1);

	/* 900: after every migration this build embeds. */
	static const struct db_migration extra[] = {
	    {1, "initial", "SELECT 1"},
	    {900, "add_notes",
	     "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
	     "INSERT INTO notes (body) VALUES ('hello');"},
	};
	buf_reset(report);
	assert_int_equal(db_migrate_list(f->db, extra, 2, true, report, &err),
			 0);
	assert_string_equal(buf_data(report), "pending 900_add_notes\n");

	buf_reset(report);
	if (db_migrate_list(f->db, extra, 2, false, report, &err) < 0)
		fail_msg("%s", err.msg);
	const char *text = buf_data(report);
	assert_true(strncmp(text, "backup: ", 8) == 0);
	char *bak = xstrndup(text + 8, strcspn(text + 8, "\n"));
	assert_true(strncmp(bak, f->path, strlen(f->path)) == 0);
	assert_true(strncmp(bak + strlen(f->path), ".bak-", 5) == 0);
	assert_non_null(strstr(text, "applied 900_add_notes"));
	unsigned v;
	assert_int_equal(db_schema_version(f->db, &v, &err), 0);
	assert_int_equal(v, 900);

	/* The copy is a usable database holding the state before 900. */
	struct db *copy = open_sqlite(bak, 1, 1000);
	char *name = db_checks_scalar(copy, "SELECT name FROM domains");
	assert_string_equal(name, "kept.example");
	free(name);
	char *ver = db_checks_scalar(
	    copy, "SELECT max(version) FROM schema_migrations");
	char *latest = xasprintf("%u", db_schema_latest(DB_SQLITE));
	assert_string_equal(ver, latest);
	free(latest);
	free(ver);
	struct db_result *res = NULL;
	assert_int_equal(
	    db_query(copy, "SELECT * FROM notes", NULL, 0, &res, &err), -1);
	db_close(&copy);
	free(bak);
	buf_free(&report);
}

/* A failing migration leaves neither its tables nor its record. */
static void test_failed_migration_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct error err;
	static const struct db_migration list[] = {
	    {1, "good", "CREATE TABLE good (id INTEGER);"},
	    {2, "bad", "CREATE TABLE half (id INTEGER); SELEKT oops;"},
	    {3, "later", "CREATE TABLE later (id INTEGER);"},
	};
	assert_int_equal(db_migrate_list(f->db, list, 3, false, NULL, &err),
			 -1);
	assert_non_null(strstr(err.msg, "migration 002_bad"));
	unsigned v;
	assert_int_equal(db_schema_version(f->db, &v, &err), 0);
	assert_int_equal(v, 1);
	struct db_result *res = NULL;
	assert_int_equal(
	    db_query(f->db, "SELECT * FROM half", NULL, 0, &res, &err), -1);
	assert_int_equal(
	    db_query(f->db, "SELECT * FROM later", NULL, 0, &res, &err), -1);
}

/* A writer blocked past busy_timeout gets a temporary error. */
static void test_busy_is_temporary(void **state)
{
	struct fixture *f = *state;
	struct error err;
	assert_int_equal(
	    db_exec(f->db, "CREATE TABLE t (x INTEGER)", NULL, 0, &err), 0);
	struct db_txn *holder = db_begin(f->db, &err);
	assert_non_null(holder);
	assert_int_equal(
	    db_txn_exec(holder, "INSERT INTO t VALUES (1)", NULL, 0, &err), 1);

	struct db *other = open_sqlite(f->path, 1, 100);
	assert_int_equal(
	    db_exec(other, "INSERT INTO t VALUES (2)", NULL, 0, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_null(db_begin(other, &err));
	assert_int_equal(err.kind, ERR_TEMP);

	assert_int_equal(db_commit(&holder, &err), 0);
	assert_int_equal(
	    db_exec(other, "INSERT INTO t VALUES (2)", NULL, 0, &err), 1);
	db_close(&other);
}

static void test_open_errors(void **state)
{
	struct error err;
	struct db_params p = {.driver = DB_SQLITE,
			      .path = "/nonexistent-dir/x/postern.db"};
	assert_null(db_open_params(&p, &err));
	assert_int_not_equal(err.kind, ERR_NONE);
	p.path = "";
	assert_null(db_open_params(&p, &err));
	assert_int_equal(err.kind, ERR_CONFIG);

	enum db_driver d;
	assert_int_equal(db_driver_parse("pgsql", &d), 0);
	assert_int_equal(d, DB_PGSQL);
	assert_int_equal(db_driver_parse("mysql", &d), 0);
	assert_int_equal(d, DB_MYSQL);
	assert_int_equal(db_driver_parse("sqlite", &d), 0);
	assert_int_equal(d, DB_SQLITE);
	assert_int_equal(db_driver_parse("oracle", &d), -1);
	assert_string_equal(db_driver_name(DB_MYSQL), "mysql");
}

static void test_open_from_conf(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char *text = xasprintf("database_path = %s/conf.db\n"
			       "database_pool_size = 2\n"
			       "database_timeout = 1s\n",
			       f->dir);
	struct conf *conf = conf_load_string(f->dir, "test", text, &err);
	if (conf == NULL)
		fail_msg("%s", err.msg);
	struct db *db = db_open(conf, &err);
	if (db == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(db_driver(db), DB_SQLITE);
	assert_int_equal(db_migrate(db, false, NULL, &err), 0);
	db_close(&db);
	conf_free(&conf);
	free(text);
	char *path = xasprintf("%s/conf.db", f->dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	free(path);

	conf = conf_load_string(f->dir, "test", "database_driver = oracle\n",
				&err);
	assert_non_null(conf);
	assert_null(db_open(conf, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "oracle"));
	conf_free(&conf);
}

static void test_foreign_keys_on(void **state)
{
	struct fixture *f = *state;
	struct error err;
	assert_int_equal(db_migrate(f->db, false, NULL, &err), 0);
	const char *m[] = {"999", "u", "u@nowhere.example", "h"};
	assert_int_equal(db_exec(f->db,
				 "INSERT INTO mailboxes (domain_id, local_part,"
				 " address, password_hash) VALUES (?, ?, ?, ?)",
				 m, 4, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
}

static void test_pgsql_rewrite(void **state)
{
	static const struct {
		const char *in, *out;
		size_t n;
	} cases[] = {
	    {"SELECT 1", "SELECT 1", 0},
	    {"a = ? AND b = ?", "a = $1 AND b = $2", 2},
	    {"x = '?' AND y = ?", "x = '?' AND y = $1", 1},
	    {"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1", 1},
	    {"\"we?ird\" = ?", "\"we?ird\" = $1", 1},
	    {"? -- why?\n, ?", "$1 -- why?\n, $2", 2},
	    {"/* ? */ ?", "/* ? */ $1", 1},
	    {"'unterminated ?", "'unterminated ?", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 99;
		char *out = db_pgsql_rewrite(cases[i].in, &n);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, cases[i].n);
		free(out);
	}
}

static void test_embedded_schema(void **state)
{
	/* Every driver ships the same migrations. */
	assert_true(db_schema_latest(DB_SQLITE) >= 1);
	assert_int_equal(db_schema_latest(DB_SQLITE),
			 db_schema_latest(DB_PGSQL));
	assert_int_equal(db_schema_latest(DB_SQLITE),
			 db_schema_latest(DB_MYSQL));
	size_t n;
	struct db_migration *list = db_migrations_builtin(DB_PGSQL, &n);
	assert_true(n >= 1);
	assert_int_equal(list[0].version, 1);
	assert_string_equal(list[0].name, "initial");
	assert_non_null(strstr(list[0].sql, "CREATE TABLE mailboxes"));
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_params_and_nulls),
	    T(test_duplicate),
	    T(test_transactions),
	    T(test_injection),
	    T(test_migrations),
	    T(test_pool_threads),
	    T(test_backup_before_migrating),
	    T(test_failed_migration_rolls_back),
	    T(test_busy_is_temporary),
	    T(test_open_from_conf),
	    T(test_foreign_keys_on),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_pgsql_rewrite),
	    cmocka_unit_test(test_embedded_schema),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
