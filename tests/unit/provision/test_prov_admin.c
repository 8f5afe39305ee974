/*
 * The admin API's operations in lib/provision on a real SQLite database:
 * domain limits (max_mailboxes, the domain quota against the sum of
 * mailbox quotas), updates, the audit row written with each change,
 * admins, tokens (expiry, revocation, inactive admin) and the trash of
 * deleted mailboxes.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "provision/prov_admin.h"
#include "provision/provision.h"

static char dir[] = "/tmp/postern-provadm-XXXXXX";
static struct db *db;
static const char *scheme = "SHA512-CRYPT";
static const struct prov_actor who = {"admin:test", "192.0.2.1",
				      "{\"quota_bytes\":1}"};

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

static void add_mailbox(const char *address, long long quota, int expect,
			const char *code)
{
	struct error err;
	struct prov_mailbox m = {.address = address, .password = "pw",
				 .quota_bytes = quota, .active = true};
	assert_int_equal(prov_mailbox_add_as(db, &m, scheme, &who, &err), expect);
	if (code != NULL)
		assert_string_equal(err.code, code);
}

static void test_domain_limits(void **state)
{
	struct error err;
	struct prov_domain d = {.name = "q.test", .max_mailboxes = 3,
				.quota_bytes = 1000, .active = true};
	assert_int_equal(prov_domain_add_as(db, &d, &who, &err), 0);
	add_mailbox("a@q.test", 600, 0, NULL);
	/* Unlimited in a domain with a quota, or past what is left. */
	add_mailbox("b@q.test", 0, -1, "limit_reached");
	add_mailbox("b@q.test", 401, -1, "limit_reached");
	add_mailbox("b@q.test", 400, 0, NULL);
	add_mailbox("a@q.test", 1, -1, "already_exists");
	/* Raising one mailbox past the domain's quota; itself not counted. */
	struct prov_mailbox_patch mp = {.quota_bytes = 601, .active = -1};
	assert_int_equal(prov_mailbox_update(db, "A@Q.test", &mp, scheme, &who,
					     &err), -1);
	assert_string_equal(err.code, "limit_reached");
	mp.quota_bytes = 500;
	assert_int_equal(prov_mailbox_update(db, "a@q.test", &mp, scheme, &who,
					     &err), 0);
	mp.quota_bytes = -1;
	assert_int_equal(prov_mailbox_update(db, "nobody@q.test", &mp, scheme,
					     &who, &err), -1);
	assert_string_equal(err.code, "not_found");
	/* Limits below what the domain holds. */
	struct prov_domain_patch dp = {.max_mailboxes = 1, .quota_bytes = -1,
				       .active = -1};
	assert_int_equal(prov_domain_update(db, "q.test", &dp, &who, &err), -1);
	assert_string_equal(err.code, "limit_reached");
	dp.max_mailboxes = 2;
	assert_int_equal(prov_domain_update(db, "Q.TEST", &dp, &who, &err), 0);
	add_mailbox("c@q.test", 10, -1, "limit_reached");
	dp.max_mailboxes = -1;
	dp.quota_bytes = 899;
	assert_int_equal(prov_domain_update(db, "q.test", &dp, &who, &err), -1);
	assert_string_equal(err.code, "limit_reached");
	dp.description = "new";
	dp.quota_bytes = 900;
	assert_int_equal(prov_domain_update(db, "q.test", &dp, &who, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM domains WHERE "
			       "description = 'new' AND quota_bytes = 900",
			       NULL), 1);
}

static void test_audit(void **state)
{
	struct error err;
	long long before = count("SELECT COUNT(*) FROM audit", NULL);
	struct prov_domain d = {.name = "audit.test", .active = true};
	assert_int_equal(prov_domain_add_as(db, &d, &who, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM audit WHERE actor = "
			       "'admin:test' AND client_address = '192.0.2.1' "
			       "AND action = 'domain.create' AND object_id = ?",
			       "audit.test"), 1);
	/* A refused change leaves no audit row. */
	assert_int_equal(prov_domain_add_as(db, &d, &who, &err), -1);
	assert_int_equal(count("SELECT COUNT(*) FROM audit", NULL), before + 1);
	/* The CLI's functions record actor "cli". */
	assert_int_equal(prov_domain_del(db, "audit.test", &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM audit WHERE actor = 'cli' "
			       "AND action = 'domain.delete' AND object_id = ?",
			       "audit.test"), 1);
	struct prov_audit_filter f = {.action = "domain.create",
				      .object_id = "audit.test"};
	struct prov_page page = {.limit = 10};
	struct db_result *res;
	long long total;
	assert_int_equal(prov_audit_page(db, &f, &page, &res, &total, &err), 0);
	assert_int_equal(total, 1);
	assert_string_equal(db_result_value(res, 0, 7), "{\"quota_bytes\":1}");
	db_result_free(&res);
}

static void test_admins_tokens(void **state)
{
	struct error err;
	struct prov_domain d = {.name = "adm.test", .active = true};
	assert_int_equal(prov_domain_add_as(db, &d, NULL, &err), 0);
	struct prov_admin a = {.username = "Alice", .password = "pw",
			       .role = "domain", .domains = "ADM.test",
			       .active = true};
	assert_int_equal(prov_admin_add(db, &a, scheme, &who, &err), 0);
	assert_int_equal(prov_admin_add(db, &a, scheme, &who, &err), -1);
	assert_string_equal(err.code, "already_exists");
	a.username = "bob";
	a.domains = "nothere.test";
	assert_int_equal(prov_admin_add(db, &a, scheme, &who, &err), -1);
	assert_string_equal(err.code, "not_found");
	assert_int_equal(count("SELECT COUNT(*) FROM admins WHERE username = ?",
			       "bob"), 0);

	struct buf *id = buf_new(), *domains = buf_new();
	assert_int_equal(prov_admin_login(db, "alice", "pw", id, &err), 1);
	assert_int_equal(prov_admin_domains(db, buf_data(id), domains, &err), 0);
	assert_string_equal(buf_data(domains), "adm.test");

	char token[TOKEN_STR_LEN + 1], expired[TOKEN_STR_LEN + 1];
	long long tid, eid;
	struct prov_token_info info;
	assert_int_equal(prov_token_create(db, buf_data(id), "t", 2000000000,
					   token, &tid, &who, &err), 0);
	assert_int_equal(prov_token_create(db, buf_data(id), "t", 1000, expired,
					   &eid, &who, &err), 0);
	assert_int_equal(prov_token_auth(db, token, 1700000000, &info, &err), 1);
	assert_false(info.superadmin);
	assert_string_equal(info.username, "alice");
	assert_int_equal(prov_token_auth(db, expired, 1700000000, &info, &err),
			 0);
	assert_int_equal(prov_token_auth(db, "pt_x", 0, &info, &err), 0);
	/* Only the stored hash is in the database. */
	assert_int_equal(count("SELECT COUNT(*) FROM tokens WHERE secret_hash "
			       "= ?", token), 0);
	/* An inactive admin's tokens stop working. */
	struct prov_admin_patch p = {.active = 0};
	assert_int_equal(prov_admin_update(db, "alice", &p, scheme, &who, &err), 0);
	assert_int_equal(prov_token_auth(db, token, 1700000000, &info, &err), 0);
	p.active = 1;
	assert_int_equal(prov_admin_update(db, "alice", &p, scheme, &who, &err), 0);
	char idtext[24];
	snprintf(idtext, sizeof(idtext), "%lld", tid);
	assert_int_equal(prov_token_revoke(db, idtext, "999", &who, &err), -1);
	assert_string_equal(err.code, "not_found");
	assert_int_equal(prov_token_revoke(db, idtext, buf_data(id), &who, &err),
			 0);
	assert_int_equal(prov_token_auth(db, token, 1700000000, &info, &err), 0);
	buf_free(&id);
	buf_free(&domains);
}

static void test_trash(void **state)
{
	struct error err;
	char *mail = xasprintf("%s/mail", dir);
	char *box = xasprintf("%s/t.test/u/new", mail);
	char *cmd = xasprintf("mkdir -p '%s' && echo x > '%s/1'", box, box);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(prov_trash_move(mail, "t.test", "u", &err), 0);
	struct stat st;
	assert_int_equal(stat(box, &st), -1);
	/* Nothing to move is fine; unsafe names are refused. */
	assert_int_equal(prov_trash_move(mail, "t.test", "u", &err), 0);
	assert_int_equal(prov_trash_move(mail, "..", NULL, &err), -1);
	unsigned n;
	assert_int_equal(prov_trash_purge(mail, 3600, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(prov_trash_purge(mail, 0, &n, &err), 0);
	assert_int_equal(n, 1);
	free(mail);
	free(box);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domain_limits),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_admins_tokens),
	    cmocka_unit_test(test_trash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
