/* A domain's sender allow/block list (prov_sender_policy.c) on a real
 * SQLite database with the real schema: validation, storage, matching
 * precedence, alias domains, cascade on domain deletion. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "provision/prov_sender_policy.h"
#include "provision/provision.h"

static char dir[] = "/tmp/postern-sp-XXXXXX";
static struct db *db;

static int setup(void **state)
{
	struct error err;
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	char *path = xasprintf("%s/test.db", dir);
	struct db_params p = {.driver = DB_SQLITE,
			      .path = path,
			      .pool_size = 1,
			      .timeout_ms = 2000};
	db = db_open_params(&p, &err);
	free(path);
	if (db == NULL || db_migrate(db, false, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	struct prov_domain d = {.name = "example.test", .active = true};
	struct prov_domain d2 = {.name = "other.test", .active = true};
	if (prov_domain_add(db, &d, &err) < 0 ||
	    prov_domain_add(db, &d2, &err) < 0 ||
	    prov_alias_domain_add(db, "alias.test", "example.test", &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	db_close(&db);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_check(void **state)
{
	static const struct {
		const char *kind, *value, *action, *want; /* NULL: invalid */
	} cases[] = {
	    {"sender", "Spam.Example", "block", "spam.example"},
	    {"sender", ".Sub.Example", "allow", ".sub.example"},
	    {"sender", "Boss@Spam.Example", "allow", "boss@spam.example"},
	    {"sender", "<>", "block", "<>"},
	    {"client", "192.0.2.77/24", "block", "192.0.2.0/24"},
	    {"client", "192.0.2.77", "block", "192.0.2.77/32"},
	    {"client", "2001:db8::1/32", "allow", "2001:db8::/32"},
	    {"client", "192.0.2.0/33", "block", NULL},
	    {"client", "example.org", "block", NULL},
	    {"sender", "a b@x.example", "block", NULL},
	    {"sender", "", "block", NULL},
	    {"sender", "x.example", "permit", NULL},
	    {"robot", "x.example", "block", NULL},
	};
	struct buf *out = buf_new();
	struct error err;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prov_sender_policy_entry e = {
		    cases[i].kind, cases[i].value, cases[i].action};
		int rc = prov_sender_policy_check(&e, out, &err);
		if (cases[i].want == NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(err.code, "invalid_value");
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(buf_data(out), cases[i].want);
		}
	}
	buf_free(&out);
}

static int match(const char *dom, const char *sender, const char *client,
		 bool *block, char *m)
{
	struct error err;
	return prov_sender_policy_match(db, dom, sender, client, block, m, 200,
					&err);
}

static void test_match(void **state)
{
	const struct prov_sender_policy_entry list[] = {
	    {"sender", "spam.example", "block"},
	    {"sender", "boss@spam.example", "allow"},
	    {"sender", ".sub.example", "block"},
	    {"sender", ".a.sub.example", "allow"},
	    {"sender", "<>", "block"},
	    {"client", "198.51.100.0/24", "block"},
	    {"client", "198.51.100.7", "allow"},
	    {"client", "203.0.113.0/24", "allow"},
	    {"client", "203.0.113.0/24", "block"}, /* a duplicate */
	};
	struct error err;
	bool block;
	char m[200];
	(void)state;

	assert_int_equal(
	    prov_sender_policy_replace(db, "example.test", list, 9, NULL, &err),
	    -1);
	assert_string_equal(err.code, "invalid_value");
	assert_int_equal(
	    prov_sender_policy_replace(db, "Example.TEST", list, 8, NULL, &err),
	    0);
	assert_int_equal(
	    match("example.test", "x@spam.example", NULL, &block, m), 1);
	assert_true(block);
	assert_string_equal(m, "sender:spam.example");
	assert_int_equal(
	    match("example.test", "Boss@SPAM.example", NULL, &block, m), 1);
	assert_false(block);
	/* The nearer parent wins. */
	assert_int_equal(
	    match("example.test", "x@b.sub.example", NULL, &block, m), 1);
	assert_true(block);
	assert_int_equal(
	    match("example.test", "x@z.a.sub.example", NULL, &block, m), 1);
	assert_false(block);
	assert_int_equal(
	    match("example.test", "x@sub.example", NULL, &block, m), 0);
	assert_int_equal(match("example.test", "", NULL, &block, m), 1);
	assert_true(block);
	/* Clients: the longest prefix; senders first. */
	assert_int_equal(
	    match("example.test", "x@else.example", "198.51.100.9", &block, m),
	    1);
	assert_true(block);
	assert_int_equal(
	    match("example.test", "x@else.example", "198.51.100.7", &block, m),
	    1);
	assert_false(block);
	assert_int_equal(match("example.test", "boss@spam.example",
			       "198.51.100.9", &block, m),
			 1);
	assert_false(block);
	assert_int_equal(
	    match("example.test", "x@else.example", "192.0.2.1", &block, m), 0);
	/* The alias domain follows its target; another domain has none. */
	assert_int_equal(match("alias.test", "x@spam.example", NULL, &block, m),
			 1);
	assert_true(block);
	assert_int_equal(match("other.test", "x@spam.example", NULL, &block, m),
			 0);
	/* Listing; unknown domain. */
	struct db_result *res;
	assert_int_equal(
	    prov_sender_policy_list(db, "example.test", &res, &err), 0);
	assert_int_equal(db_result_rows(res), 8);
	assert_string_equal(db_result_value(res, 0, 0), "client");
	db_result_free(&res);
	assert_int_equal(
	    prov_sender_policy_list(db, "nowhere.test", &res, &err), -1);
	assert_string_equal(err.code, "not_found");
	assert_int_equal(
	    prov_sender_policy_replace(db, "nowhere.test", list, 1, NULL, &err),
	    -1);
	assert_string_equal(err.code, "not_found");
	/* Deleting the domain deletes its list. */
	assert_int_equal(prov_domain_del(db, "example.test", &err), 0);
	struct db_result *r2;
	assert_int_equal(db_query(db,
				  "SELECT count(*) FROM domain_sender_policy",
				  NULL, 0, &r2, &err),
			 0);
	assert_string_equal(db_result_value(r2, 0, 0), "0");
	db_result_free(&r2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
