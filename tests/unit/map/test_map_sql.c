/*
 * test_map_sql.c - sql: maps on SQLite: the default map files against
 * the real schema (db_migrate), %s/%u/%d binding, injection keys passed
 * as data, domain restriction, result_format, row joining, own
 * connection settings, and errors (file:line, ERR_TEMP, ERR_CONFIG).
 */
#include <sys/stat.h>

#include "test.h"

#include "db/db.h"
#include "map_test_util.h"

struct fixture {
	char *dir;
	char *sqldir;
	struct db *db;
	struct map_env env;
};

static void exec(struct db *db, const char *sql)
{
	struct error err;

	if (db_exec(db, sql, NULL, 0, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct db_params p = {
	    .driver = DB_SQLITE, .pool_size = 1, .timeout_ms = 2000};
	struct error err;
	char *path;

	f->dir = test_tmpdir();
	path = xasprintf("%s/postern.db", f->dir);
	p.path = path;
	f->db = db_open_params(&p, &err);
	free(path);
	if (f->db == NULL)
		fail_msg("db_open_params: %s", err.msg);
	if (db_migrate(f->db, false, NULL, &err) < 0)
		fail_msg("db_migrate: %s", err.msg);
	exec(f->db,
	     "INSERT INTO domains (id, name) VALUES (1, 'example.test')");
	exec(f->db, "INSERT INTO domains (id, name, active) "
		    "VALUES (2, 'off.test', 0)");
	exec(f->db, "INSERT INTO domains (id, name) VALUES (3, 'target.test')");
	exec(f->db, "INSERT INTO mailboxes (domain_id, local_part, address, "
		    "password_hash) VALUES (1, 'a', 'a@example.test', 'x')");
	exec(f->db, "INSERT INTO mailboxes (domain_id, local_part, address, "
		    "password_hash, active) "
		    "VALUES (1, 'gone', 'gone@example.test', 'x', 0)");
	exec(f->db, "INSERT INTO mailboxes (domain_id, local_part, address, "
		    "password_hash) VALUES (2, 'b', 'b@off.test', 'x')");
	exec(f->db, "INSERT INTO aliases (domain_id, source, destinations) "
		    "VALUES (1, 'info@example.test', "
		    "'a@example.test,x@remote.test')");
	exec(f->db, "INSERT INTO aliases (domain_id, source, destinations) "
		    "VALUES (1, '@example.test', 'a@example.test')");
	exec(f->db, "INSERT INTO alias_domains (alias_domain, "
		    "target_domain_id) VALUES ('alias.test', 3)");
	f->sqldir = xasprintf("%s/sql", f->dir);
	if (map_sql_write_defaults(f->sqldir, &err) < 0)
		fail_msg("map_sql_write_defaults: %s", err.msg);
	f->env.db = f->db;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	db_close(&f->db);
	free(f->sqldir);
	test_rmdir(f->dir);
	free(f);
	return 0;
}

static struct map *open_cf(struct fixture *f, const char *name,
			   const char *text)
{
	struct error err;
	char *path = text != NULL ? test_write(f->dir, name, text)
				  : xasprintf("%s/%s", f->sqldir, name);
	char *spec = xasprintf("sql:%s", path);
	struct map *m = map_open(spec, &f->env, &err);

	if (m == NULL)
		fail_msg("%s: %s", spec, err.msg);
	free(spec);
	free(path);
	return m;
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	struct map *m;
	struct stat st;
	char *path = xasprintf("%s/domains.cf", f->sqldir);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(path);

	m = open_cf(f, "domains.cf", NULL);
	assert_string_equal(test_get(m, "example.test"), "example.test");
	assert_string_equal(test_get(m, "Example.TEST"), "example.test");
	assert_string_equal(test_get(m, "off.test"), "<none>");
	assert_string_equal(test_get(m, "x' OR '1'='1"), "<none>");
	assert_string_equal(test_get(m, "' OR 1=1 --"), "<none>");
	map_free(&m);

	m = open_cf(f, "mailboxes.cf", NULL);
	assert_string_equal(test_get(m, "a@example.test"), "example.test/a/");
	assert_string_equal(test_get(m, "A@Example.Test"), "example.test/a/");
	assert_string_equal(test_get(m, "gone@example.test"), "<none>");
	assert_string_equal(test_get(m, "b@off.test"), "<none>");
	assert_string_equal(test_get(m, "x' OR '1'='1"), "<none>");
	assert_string_equal(test_get(m, "a@example.test' OR '1'='1"), "<none>");
	map_free(&m);

	m = open_cf(f, "aliases.cf", NULL);
	assert_string_equal(test_get(m, "info@example.test"),
			    "a@example.test,x@remote.test");
	assert_string_equal(test_get(m, "@example.test"), "a@example.test");
	assert_string_equal(test_get(m, "nobody@example.test"), "<none>");
	struct buf *v = buf_new();
	struct error err;
	assert_int_equal(
	    map_lookup_address(m, "nobody+x@example.test", "+", v, &err), 1);
	assert_string_equal(buf_data(v), "a@example.test");
	buf_free(&v);
	map_free(&m);

	m = open_cf(f, "alias-domains.cf", NULL);
	assert_string_equal(test_get(m, "alias.test"), "target.test");
	assert_string_equal(test_get(m, "example.test"), "<none>");
	map_free(&m);

	/* A second call keeps an administrator's edits. */
	path = test_write(f->sqldir, "domains.cf", "query = SELECT 'edited'\n");
	assert_int_equal(map_sql_write_defaults(f->sqldir, &err), 0);
	m = open_cf(f, "domains.cf", NULL);
	assert_string_equal(test_get(m, "anything"), "edited");
	map_free(&m);
	free(path);
}

static void test_expansions(void **state)
{
	struct fixture *f = *state;
	struct map *m;

	/* %u and %d as separate parameters, bare and quoted. */
	m = open_cf(f, "parts.cf",
		    "query = SELECT address FROM mailboxes\n"
		    "  WHERE local_part = %u AND address = '%u@%d'\n"
		    "result_format = <%s> key=%S user=%U dom=%D\n");
	assert_string_equal(test_get(m, "a@example.test"),
			    "<a@example.test> key=a@example.test user=a "
			    "dom=example.test");
	/* %d without a domain or %u with an empty local part: no query. */
	assert_string_equal(test_get(m, "a"), "<none>");
	assert_string_equal(test_get(m, "@example.test"), "<none>");
	assert_string_equal(test_get(m, "a' OR 'x'='x@example.test"), "<none>");
	map_free(&m);

	/* Domain labels, literal %% and a LIKE pattern built from %s. */
	m = open_cf(
	    f, "labels.cf",
	    "query = SELECT '%2|%1|50%%' FROM domains WHERE name = '%d'\n");
	assert_string_equal(test_get(m, "x@example.test"), "example|test|50%");
	assert_string_equal(test_get(m, "x@test"), "<none>"); /* no %2 */
	map_free(&m);

	m = open_cf(f, "like.cf",
		    "query = SELECT name FROM domains "
		    "WHERE name LIKE '%%%s' ORDER BY name\n");
	assert_string_equal(test_get(m, "test"),
			    "example.test, off.test, target.test");
	map_free(&m);

	/* Several rows and columns joined with ", ", NULLs skipped. */
	m = open_cf(f, "rows.cf",
		    "query = SELECT name, NULL, '' FROM domains WHERE id < %s"
		    " ORDER BY id\n");
	assert_string_equal(test_get(m, "3"), "example.test, off.test");
	map_free(&m);

	/* A result_format that needs a domain skips values without one. */
	m = open_cf(f, "fmt.cf",
		    "query = SELECT 'plain' UNION ALL SELECT 'u@d.test'\n"
		    "result_format = %u at %d\n");
	assert_string_equal(test_get(m, "k"), "u at d.test");
	map_free(&m);
}

static void test_domain_restriction(void **state)
{
	struct fixture *f = *state;
	struct map *m = open_cf(f, "restricted.cf",
				"domain = Example.test, other.test\n"
				"query = SELECT '%s'\n");

	assert_string_equal(test_get(m, "a@example.test"), "a@example.test");
	assert_string_equal(test_get(m, "a@other.test"), "a@other.test");
	assert_string_equal(test_get(m, "a@third.test"), "<none>");
	assert_string_equal(test_get(m, "@example.test"), "<none>");
	assert_string_equal(test_get(m, "example.test"), "<none>");
	map_free(&m);
}

static void test_own_connection(void **state)
{
	struct fixture *f = *state;
	char *text = xasprintf("driver = sqlite\n"
			       "dbpath = %s/postern.db\n"
			       "query = SELECT name FROM domains "
			       "WHERE name = '%%s'\n",
			       f->dir);
	struct map_env none = {0};
	char *path = test_write(f->dir, "own.cf", text);
	char *spec = xasprintf("sql:%s", path);
	struct error err;
	struct map *m = map_open(spec, &none, &err);

	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "example.test"), "example.test");
	map_free(&m);
	free(spec);
	free(path);
	free(text);

	/* No connection settings and nothing in the env: a config error at
	   lookup time, never "not found". */
	path = test_write(f->dir, "nodb.cf", "query = SELECT 1\n");
	spec = xasprintf("sql:%s", path);
	m = map_open(spec, &none, &err);
	assert_non_null(m);
	assert_true(strncmp(test_get(m, "k"), "<error: config", 14) == 0);
	map_free(&m);
	free(spec);
	free(path);
}

static void test_server_down(void **state)
{
	struct fixture *f = *state;
	struct map *m = open_cf(f, "down.cf",
				"driver = pgsql\n"
				"hosts = 127.0.0.1\n"
				"port = 1\n"
				"dbname = postern\n"
				"user = postern\n"
				"query = SELECT 1 WHERE 1 = %s\n");
	struct buf *v = buf_new();
	struct error err;

	/* Temporary, never "not found", for every lookup order. */
	assert_int_equal(map_lookup(m, "1", v, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_int_equal(
	    map_lookup_address(m, "a+b@example.test", "+", v, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	buf_free(&v);
	map_free(&m);
}

static void test_bad_query(void **state)
{
	struct fixture *f = *state;
	struct map *m = open_cf(f, "badq.cf",
				"query = SELECT x FROM no_such_table "
				"WHERE y = '%s'\n");
	const char *got = test_get(m, "k");

	assert_true(strncmp(got, "<error: config", 14) == 0);
	map_free(&m);
}

static void expect_error(struct fixture *f, const char *text, const char *want)
{
	char *path = test_write(f->dir, "err.cf", text);
	char *spec = xasprintf("sql:%s", path);
	char *full = xasprintf("%s%s", path, want);
	struct error err;
	struct map *m = map_open(spec, &f->env, &err);

	if (m != NULL)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.kind, ERR_CONFIG);
	if (strstr(err.msg, full) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, full);
	free(full);
	free(spec);
	free(path);
}

static void test_file_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "# c\nquery = SELECT 1\nhots = x\n",
		     ":3: unknown parameter \"hots\"");
	expect_error(f, "query SELECT 1\n", ":1: expected name = value");
	expect_error(f, "domain = a.test\n", ": no query");
	expect_error(f, "query = SELECT '%x'\n", ": query: bad % escape");
	expect_error(f, "query = SELECT %q\n", ": query: bad % escape");
	expect_error(f, "query = SELECT ?\n", ": query: use %s");
	expect_error(f, "query = SELECT 'abc\n", ": query: unterminated");
	expect_error(f, "query = SELECT 1\nresult_format = %1\n",
		     ": result_format: bad % escape");
	expect_error(f, "query = SELECT 1\ndriver = oracle\n",
		     ":2: unknown driver");
	expect_error(f, "query = SELECT 1\nport = 70000\n", ":2: bad port");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expansions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_restriction, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_own_connection, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_server_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
