/*
 * test_db_servers.c - the SQL layer on real PostgreSQL and MariaDB
 * servers started by tests/integration/dbservers.sh: the same checks as
 * the SQLite unit test (tests/unit/db/db_checks.c), migrations included,
 * then an outage: with the server stopped a query fails as a temporary
 * error (no crash, no hang), and once it is back the pool reconnects.
 *
 *   eval "$(tests/integration/dbservers.sh start /tmp/postern-dbs)"
 *   ctest --test-dir build -R test_db_servers --output-on-failure
 *   tests/integration/dbservers.sh stop /tmp/postern-dbs
 *
 * Without PG_PORT and MYSQL_PORT in the environment it exits 77, which
 * ctest reports as skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "db/db.h"
#include "db_checks.h"
#include "test.h"

struct server {
	enum db_driver driver;
	const char *prefix; /* PG or MYSQL */
	const char *ctl;    /* dbservers.sh word: pg or mysql */
	struct db *db;
};

static struct server pg = {DB_PGSQL, "PG", "pg", NULL};
static struct server my = {DB_MYSQL, "MYSQL", "mysql", NULL};

static const char *env(const struct server *s, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "%s_%s", s->prefix, name);
	return getenv(key);
}

static struct db *open_server(const struct server *s, unsigned pool,
			      struct error *err)
{
	struct db_params p = {
	    .driver = s->driver,
	    .host = env(s, "HOST") ? env(s, "HOST") : "127.0.0.1",
	    .port = (unsigned)atoi(env(s, "PORT")),
	    .dbname = env(s, "DATABASE"),
	    .user = env(s, "USER"),
	    .password = env(s, "PASSWORD"),
	    .pool_size = pool,
	    .timeout_ms = 3000,
	};
	return db_open_params(&p, err);
}

static int setup(void **state)
{
	struct server *s = *state;
	if (env(s, "PORT") == NULL)
		return 0; /* the tests skip themselves */
	struct error err;
	s->db = open_server(s, 3, &err);
	if (s->db == NULL) {
		fprintf(stderr, "%s: %s\n", s->prefix, err.msg);
		return -1;
	}
	db_checks_reset(s->db);
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;
	db_close(&s->db);
	return 0;
}

static struct db *need(void **state)
{
	struct server *s = *state;
	if (s->db == NULL)
		skip();
	return s->db;
}

static void test_params(void **state)
{
	db_check_params_and_nulls(need(state));
}

static void test_duplicate(void **state)
{
	db_check_duplicate(need(state));
}

static void test_transactions(void **state)
{
	db_check_transactions(need(state));
}

static void test_injection(void **state)
{
	db_check_injection_is_data(need(state));
}

static void test_migrations(void **state)
{
	db_check_migrations(need(state));
}

static void test_pool_threads(void **state)
{
	db_check_pool_threads(need(state));
}

static void ctl(const struct server *s, const char *verb)
{
	const char *script = getenv("POSTERN_DBSERVERS");
	const char *src = getenv("POSTERN_SOURCE_DIR");
	const char *dir = getenv("POSTERN_DBSERVERS_DIR");
	assert_non_null(dir);
	char *path = script != NULL
			 ? xstrdup(script)
			 : xasprintf("%s/tests/integration/dbservers.sh",
				     src != NULL ? src : ".");
	char *cmd = xasprintf("'%s' %s-%s '%s' >&2", path, verb, s->ctl, dir);
	free(path);
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("%s: exit %d", cmd, rc);
	free(cmd);
}

static void test_outage(void **state)
{
	struct server *s = *state;
	struct db *db = need(state);
	struct error err;
	struct db_result *res = NULL;

	/* Fill the pool with open connections first, so the outage hits
	   idle ones as it would in a running daemon. */
	db_check_pool_threads(db);
	char *v = db_checks_scalar(db, "SELECT 41 + 1");
	assert_string_equal(v, "42");
	free(v);

	ctl(s, "stop");
	for (int i = 0; i < 3; i++) {
		err.kind = ERR_NONE;
		assert_int_equal(db_query(db, "SELECT 1", NULL, 0, &res, &err),
				 -1);
		assert_null(res);
		assert_int_equal(err.kind, ERR_TEMP);
		fprintf(stderr, "%s down, try %d: %s (%s)\n", s->prefix, i,
			err.msg, error_kind_name(err.kind));
	}
	assert_null(db_begin(db, &err));
	assert_int_equal(err.kind, ERR_TEMP);
	assert_int_equal(db_exec(db, "DELETE FROM t_pool", NULL, 0, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	/* A pool opened while the server is down (a daemon starting during
	   the outage) exists, fails as temporary, and works once it is up. */
	struct db *late = open_server(s, 1, &err);
	assert_non_null(late);
	assert_int_equal(db_exec(late, "DELETE FROM t_pool", NULL, 0, &err),
			 -1);
	assert_int_equal(err.kind, ERR_TEMP);

	ctl(s, "start");
	v = db_checks_scalar(db, "SELECT 40 + 2");
	assert_string_equal(v, "42");
	free(v);
	/* Every pooled connection works again, data intact. */
	v = db_checks_scalar(db, "SELECT count(*) FROM t_pool");
	assert_string_equal(v, "100");
	free(v);
	db_check_transactions(db);
	v = db_checks_scalar(late, "SELECT count(*) FROM t_kv");
	assert_string_equal(v, "1");
	free(v);
	db_close(&late);
}

int main(void)
{
	if (getenv("PG_PORT") == NULL && getenv("MYSQL_PORT") == NULL) {
		printf("test_db_servers: skipped: PG_PORT and MYSQL_PORT are "
		       "not set (run tests/integration/dbservers.sh start "
		       "DIR first)\n");
		return 77;
	}
#define T(fn, srv)                                                             \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &srv)
	const struct CMUnitTest tests[] = {
	    T(test_params, pg),	      T(test_duplicate, pg),
	    T(test_transactions, pg), T(test_injection, pg),
	    T(test_migrations, pg),   T(test_pool_threads, pg),
	    T(test_outage, pg),	      T(test_params, my),
	    T(test_duplicate, my),    T(test_transactions, my),
	    T(test_injection, my),    T(test_migrations, my),
	    T(test_pool_threads, my), T(test_outage, my),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
