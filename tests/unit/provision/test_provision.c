/* Provisioning rules on a real SQLite database with the real schema. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/password.h"
#include "core/xmalloc.h"
#include "provision/provision.h"

static char dir[] = "/tmp/postern-prov-XXXXXX";
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
	if (db == NULL || db_migrate(db, false, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	db_close(&db);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static long long count(const char *sql, const char *param)
{
	struct db_result *res;
	struct error err;
	const char *params[] = {param};
	assert_int_equal(db_query(db, sql, params, param ? 1 : 0, &res, &err), 0);
	long long n = atoll(db_result_value(res, 0, 0));
	db_result_free(&res);
	return n;
}

static void test_domains(void **state)
{
	struct error err;
	struct prov_domain d = {.name = "Example.TEST", .active = true};
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM domains WHERE name = ?",
			       "example.test"), 1);
	/* Same name in another case is the same domain. */
	d.name = "example.test";
	assert_int_equal(prov_domain_add(db, &d, &err), -1);
	assert_string_equal(err.code, "already_exists");
	/* IDN stored as A-label. */
	d.name = "bücher.example";
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM domains WHERE name = ?",
			       "xn--bcher-kva.example"), 1);
	d.name = "bad..name";
	assert_int_equal(prov_domain_add(db, &d, &err), -1);
	assert_string_equal(err.code, "invalid_value");
	d.name = "x' OR '1'='1";
	assert_int_equal(prov_domain_add(db, &d, &err), -1);
	assert_string_equal(err.code, "invalid_value");
	assert_int_equal(prov_domain_del(db, "nothere.example", &err), -1);
	assert_string_equal(err.code, "not_found");
	assert_int_equal(prov_domain_del(db, "xn--bcher-kva.example", &err), 0);
}

static void test_mailboxes(void **state)
{
	struct error err;
	struct prov_domain d = {.name = "small.test", .max_mailboxes = 1,
				.active = true};
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	struct prov_mailbox m = {.address = "A@Small.Test", .password = "pw1",
				 .active = true};
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), 0);
	/* Stored lower-case, hashed, never the plaintext. */
	struct db_result *res;
	const char *p[] = {"a@small.test"};
	assert_int_equal(db_query(db, "SELECT password_hash, local_part FROM "
				      "mailboxes WHERE address = ?",
				  p, 1, &res, &err), 0);
	assert_int_equal(db_result_rows(res), 1);
	const char *hash = db_result_value(res, 0, 0);
	assert_true(strncmp(hash, "{SHA512-CRYPT}$6$", 17) == 0);
	assert_int_equal(password_verify(hash, "pw1", &err), 1);
	assert_string_equal(db_result_value(res, 0, 1), "a");
	db_result_free(&res);

	m.address = "b@small.test";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), -1);
	assert_string_equal(err.code, "limit_reached");
	m.address = "a@small.test";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), -1);
	assert_true(strcmp(err.code, "already_exists") == 0 ||
		    strcmp(err.code, "limit_reached") == 0);
	m.address = "c@unhosted.test";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), -1);
	assert_string_equal(err.code, "not_found");
	m.address = "not-an-address";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), -1);
	assert_string_equal(err.code, "invalid_value");
	m.address = "d@small.test";
	m.password = "";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), -1);
	assert_string_equal(err.code, "invalid_value");

	unsigned long long quota = 99;
	assert_int_equal(prov_mailbox_quota(db, "a@small.test", &quota, &err), 1);
	assert_int_equal(quota, 0);
	assert_int_equal(prov_mailbox_quota(db, "x' OR '1'='1", &quota, &err), 0);
	assert_true(db_exec(db, "UPDATE mailboxes SET quota_bytes = 5000",
			    NULL, 0, &err) >= 0);
	assert_int_equal(prov_mailbox_quota(db, "a@small.test", &quota, &err), 1);
	assert_int_equal(quota, 5000);

	assert_int_equal(prov_mailbox_list(db, "small.test", &res, &err), 0);
	assert_int_equal(db_result_rows(res), 1);
	assert_string_equal(db_result_value(res, 0, 0), "a@small.test");
	db_result_free(&res);
	/* Deleting the domain takes its mailboxes with it. */
	assert_int_equal(prov_domain_del(db, "small.test", &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM mailboxes WHERE address = ?",
			       "a@small.test"), 0);
}

static void test_aliases(void **state)
{
	struct error err;
	struct prov_domain d = {.name = "alias.test", .active = true};
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	struct prov_alias a = {.source = "Sales@alias.test",
			       .destinations = "x@elsewhere.example, Y@alias.test,x@elsewhere.example",
			       .active = true};
	assert_int_equal(prov_alias_add(db, &a, &err), 0);
	struct db_result *res;
	assert_int_equal(prov_alias_list(db, "alias.test", &res, &err), 0);
	assert_int_equal(db_result_rows(res), 1);
	assert_string_equal(db_result_value(res, 0, 0), "sales@alias.test");
	assert_string_equal(db_result_value(res, 0, 1),
			    "x@elsewhere.example,y@alias.test");
	db_result_free(&res);
	a.source = "@alias.test"; /* catch-all */
	assert_int_equal(prov_alias_add(db, &a, &err), 0);
	a.source = "@other.test";
	assert_int_equal(prov_alias_add(db, &a, &err), -1);
	assert_string_equal(err.code, "not_found");
	a.source = "z@alias.test";
	a.destinations = "";
	assert_int_equal(prov_alias_add(db, &a, &err), -1);
	assert_string_equal(err.code, "invalid_value");

	assert_int_equal(prov_alias_domain_add(db, "alias2.test", "alias.test",
					       &err), 0);
	assert_int_equal(prov_alias_domain_add(db, "alias.test", "alias2.test",
					       &err), -1);
	assert_string_equal(err.code, "conflict");
	assert_int_equal(prov_alias_domain_add(db, "alias3.test", "nope.test",
					       &err), -1);
	assert_string_equal(err.code, "not_found");
	/* A hosted domain cannot be created over an alias domain. */
	d.name = "alias2.test";
	assert_int_equal(prov_domain_add(db, &d, &err), -1);
	assert_string_equal(err.code, "conflict");
	assert_int_equal(prov_alias_domain_del(db, "alias2.test", &err), 0);
	assert_int_equal(prov_alias_del(db, "@alias.test", &err), 0);
	assert_int_equal(prov_alias_del(db, "@alias.test", &err), -1);
	assert_string_equal(err.code, "not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_aliases),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
