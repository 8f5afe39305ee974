/* Per-mailbox daily sending limits (prov_limits.c) on a real SQLite
 * database with the real schema. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "provision/provision.h"

#define DAY 86400LL
/* Noon of some UTC day. */
#define NOW (20000 * DAY + DAY / 2)

static char dir[] = "/tmp/postern-limits-XXXXXX";
static struct db *db;
static const struct prov_send_limits defaults = {3, 2};

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
	struct prov_domain d = {.name = "example.test", .active = true};
	if (prov_domain_add(db, &d, &err) < 0)
		return -1;
	const char *users[] = {"a@example.test", "b@example.test",
			       "c@example.test"};
	for (size_t i = 0; i < 3; i++) {
		struct prov_mailbox m = {.address = users[i],
					 .password = "pw", .active = true};
		if (prov_mailbox_add(db, &m, "SHA512-CRYPT", &err) < 0) {
			fprintf(stderr, "setup: %s\n", err.msg);
			return -1;
		}
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

static int charge(const char *user, bool msg, const char *rcpt,
		  long long now, struct prov_send_result *res)
{
	struct error err;
	const char *rcpts[] = {rcpt};
	return prov_send_charge(db, user, &defaults, msg, rcpts,
				rcpt != NULL ? 1 : 0, now, res, &err);
}

static void test_messages_and_rollover(void **state)
{
	struct prov_send_result res;
	for (int i = 0; i < 3; i++)
		assert_int_equal(charge("a@example.test", true, "x@else.test",
					NOW, &res),
				 1);
	assert_int_equal(res.messages, 3);
	assert_int_equal(res.new_rcpts, 1); /* the same recipient */
	assert_int_equal(charge("A@Example.TEST", true, "x@else.test", NOW,
				&res),
			 0);
	assert_int_equal(res.over, PROV_SEND_OVER_MESSAGES);
	assert_int_equal(res.limits.messages, 3);
	/* Another recipient of the same message is no new message. */
	assert_int_equal(charge("a@example.test", false, "x@else.test", NOW,
				&res),
			 1);
	/* Just before midnight UTC: still today; after it: a new day. */
	long long midnight = (NOW / DAY + 1) * DAY;
	assert_int_equal(charge("a@example.test", true, "x@else.test",
				midnight - 1, &res),
			 0);
	assert_int_equal(charge("a@example.test", true, "x@else.test",
				midnight, &res),
			 1);
	assert_int_equal(res.messages, 1);
	assert_int_equal(res.new_rcpts, 0); /* known from yesterday */
}

static void test_new_recipients(void **state)
{
	struct prov_send_result res;
	struct error err;
	/* Case does not make a recipient new; duplicates count once. */
	const char *two[] = {"p@else.test", "P@ELSE.test", "q@else.test"};
	assert_int_equal(prov_send_charge(db, "b@example.test", &defaults,
					  true, two, 3, NOW, &res, &err),
			 1);
	assert_int_equal(res.new_rcpts, 2);
	/* A message with a known and a third new recipient is refused
	 * whole, and nothing of it is counted. */
	const char *three[] = {"p@else.test", "r@else.test"};
	assert_int_equal(prov_send_charge(db, "b@example.test", &defaults,
					  true, three, 2, NOW, &res, &err),
			 0);
	assert_int_equal(res.over, PROV_SEND_OVER_NEW_RCPTS);
	assert_int_equal(res.messages, 1);
	assert_int_equal(charge("b@example.test", true, "q@else.test", NOW,
				&res),
			 1);
	assert_int_equal(res.messages, 2);
}

static void test_overrides(void **state)
{
	struct prov_send_result res;
	struct error err;
	struct prov_send_limits eff;
	char id[24];
	/* Domain 0 (unlimited) under a mailbox of 1. */
	struct prov_send_limits_patch dom = {true, true, 0, 5};
	assert_int_equal(prov_send_limits_set(db, true, "Example.Test", &dom,
					      &prov_cli_actor, &err),
			 0);
	assert_int_equal(prov_send_limits_get(db, "c@example.test",
					      &defaults, &eff, id, &err),
			 1);
	assert_int_equal(eff.messages, 0);
	assert_int_equal(eff.new_rcpts, 5);
	struct prov_send_limits_patch mbox = {true, false, 1, 0};
	assert_int_equal(prov_send_limits_set(db, false, "c@example.test",
					      &mbox, &prov_cli_actor, &err),
			 0);
	assert_int_equal(charge("c@example.test", true, NULL, NOW, &res), 1);
	assert_int_equal(charge("c@example.test", true, NULL, NOW, &res), 0);
	/* null: back to the domain's (unlimited). */
	mbox.messages = -1;
	assert_int_equal(prov_send_limits_set(db, false, "c@example.test",
					      &mbox, &prov_cli_actor, &err),
			 0);
	assert_int_equal(charge("c@example.test", true, NULL, NOW, &res), 1);
	assert_int_equal(prov_send_limits_set(db, false, "nobody@example.test",
					      &mbox, &prov_cli_actor, &err),
			 -1);
	assert_string_equal(err.code, "not_found");
	/* Not a mailbox (a login of another kind): not limited. */
	assert_int_equal(charge("not-a-mailbox", true, NULL, NOW, &res), 1);
	assert_int_equal(charge("z@nowhere.test", true, NULL, NOW, &res), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages_and_rollover),
	    cmocka_unit_test(test_new_recipients),
	    cmocka_unit_test(test_overrides),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
