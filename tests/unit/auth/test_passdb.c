/* passdb_verify on a real SQLite database: logins and hash upgrades;
 * passdb_verify_split on two. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passdb.h"
#include "core/xmalloc.h"
#include "provision/provision.h"

static char dir[] = "/tmp/postern-passdb-XXXXXX";
static struct db *db;

static int setup(void **state)
{
	struct error err;
	if (mkdtemp(dir) == NULL)
		return -1;
	char *path = xasprintf("%s/test.db", dir);
	struct db_params p = {.driver = DB_SQLITE, .path = path,
			      .pool_size = 1, .timeout_ms = 2000};
	db = db_open_params(&p, &err);
	free(path);
	if (db == NULL || db_migrate(db, false, NULL, &err) < 0)
		return -1;
	struct prov_domain d = {.name = "example.test", .active = true};
	struct prov_mailbox m = {.address = "old@example.test",
				 .password = "Tr0ub4dor", .active = true};
	if (prov_domain_add(db, &d, &err) < 0 ||
	    prov_mailbox_add(db, &m, "SHA512-CRYPT", &err) < 0)
		return -1;
	m.address = "off@example.test";
	m.active = false;
	return prov_mailbox_add(db, &m, "SHA512-CRYPT", &err);
}

static int teardown(void **state)
{
	db_close(&db);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static char *stored_hash(const char *address)
{
	struct db_result *res;
	struct error err;
	const char *params[] = {address};
	assert_int_equal(db_query(db, "SELECT password_hash FROM mailboxes "
				      "WHERE address = ?",
				  params, 1, &res, &err), 0);
	char *h = xstrdup(db_result_value(res, 0, 0));
	db_result_free(&res);
	return h;
}

static void test_login_and_upgrade(void **state)
{
	struct error err;
	struct passdb_opts keep = {.default_scheme = "ARGON2ID", .upgrade = false};
	struct passdb_opts upgrade = {.default_scheme = "ARGON2ID", .upgrade = true};

	assert_int_equal(passdb_verify(db, "old@example.test", "wrong", &upgrade,
				       &err), 0);
	assert_int_equal(passdb_verify(db, "OLD@Example.Test", "Tr0ub4dor", &keep,
				       &err), 1);
	char *h = stored_hash("old@example.test");
	assert_true(strncmp(h, "{SHA512-CRYPT}", 14) == 0);
	free(h);

	/* A wrong password never upgrades anything. */
	assert_int_equal(passdb_verify(db, "old@example.test", "Tr0ub4dorX",
				       &upgrade, &err), 0);
	h = stored_hash("old@example.test");
	assert_true(strncmp(h, "{SHA512-CRYPT}", 14) == 0);
	free(h);

	assert_int_equal(passdb_verify(db, "old@example.test", "Tr0ub4dor",
				       &upgrade, &err), 1);
	h = stored_hash("old@example.test");
	assert_true(strncmp(h, "{ARGON2ID}$argon2id$", 20) == 0);
	free(h);
	/* The upgraded hash still takes the same password, and only it. */
	assert_int_equal(passdb_verify(db, "old@example.test", "Tr0ub4dor",
				       &upgrade, &err), 1);
	assert_int_equal(passdb_verify(db, "old@example.test", "tr0ub4dor",
				       &upgrade, &err), 0);
}

static void test_refusals(void **state)
{
	struct error err;
	struct passdb_opts o = {.default_scheme = "ARGON2ID", .upgrade = true};
	assert_int_equal(passdb_verify(db, "off@example.test", "Tr0ub4dor", &o,
				       &err), 0);
	assert_int_equal(passdb_verify(db, "nobody@example.test", "x", &o, &err),
			 0);
	assert_int_equal(passdb_verify(db, "x' OR '1'='1", "x", &o, &err), 0);
	assert_int_equal(passdb_verify(db, "old@example.test", "", &o, &err), 0);
	/* An inactive domain closes every mailbox in it. */
	assert_true(db_exec(db, "UPDATE domains SET active = 0", NULL, 0, &err) >= 0);
	assert_int_equal(passdb_verify(db, "old@example.test", "Tr0ub4dor", &o,
				       &err), 0);
	assert_true(db_exec(db, "UPDATE domains SET active = 1", NULL, 0, &err) >= 0);
}

/* Reads from one database (a replica), an upgrade written to the other
 * (the primary): passdb_verify_split. */
static void test_split(void **state)
{
	struct error err;
	struct passdb_opts o = {.default_scheme = "ARGON2ID", .upgrade = true};
	char *path = xasprintf("%s/replica.db", dir);
	struct db_params p = {.driver = DB_SQLITE, .path = path,
			      .pool_size = 1, .timeout_ms = 2000};
	struct db *replica = db_open_params(&p, &err);
	free(path);
	assert_non_null(replica);
	assert_int_equal(db_migrate(replica, false, NULL, &err), 0);
	struct prov_domain d = {.name = "split.test", .active = true};
	struct prov_mailbox m = {.address = "s@split.test",
				 .password = "S3cret-pw", .active = true};
	assert_int_equal(prov_domain_add(replica, &d, &err), 0);
	assert_int_equal(prov_mailbox_add(replica, &m, "SHA512-CRYPT", &err),
			 0);

	/* Only the replica has the row: the split check reads it there. */
	assert_int_equal(passdb_verify_split(replica, db, "s@split.test",
					     "S3cret-pw", &o, &err), 1);
	assert_int_equal(passdb_verify_split(db, replica, "s@split.test",
					     "S3cret-pw", &o, &err), 0);
	assert_int_equal(passdb_verify_split(replica, db, "s@split.test",
					     "wrong", &o, &err), 0);

	/* The same row on both (replicated): the upgrade lands on the
	 * write side only. */
	struct db_result *res;
	const char *q[] = {"s@split.test"};
	assert_int_equal(db_query(replica,
				  "SELECT password_hash FROM mailboxes "
				  "WHERE address = ?",
				  q, 1, &res, &err),
			 0);
	char *old = xstrdup(db_result_value(res, 0, 0));
	db_result_free(&res);
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), 0);
	const char *set[] = {old, "s@split.test"};
	assert_int_equal(db_exec(db, "UPDATE mailboxes SET password_hash = ? "
				     "WHERE address = ?",
				 set, 2, &err), 1);
	assert_int_equal(passdb_verify_split(replica, db, "s@split.test",
					     "S3cret-pw", &o, &err), 1);
	char *primary = stored_hash("s@split.test");
	assert_true(strncmp(primary, "{ARGON2ID}$argon2id$", 20) == 0);
	assert_int_equal(db_query(replica,
				  "SELECT password_hash FROM mailboxes "
				  "WHERE address = ?",
				  q, 1, &res, &err),
			 0);
	assert_string_equal(db_result_value(res, 0, 0), old);
	db_result_free(&res);
	free(primary);
	free(old);
	db_close(&replica);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_and_upgrade),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
