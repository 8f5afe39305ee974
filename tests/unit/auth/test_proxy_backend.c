/* proxy_backend: rendezvous hashing (stability, spread, 1/n movement)
 * and the mailbox row's backend column on a real SQLite database. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/proxy_backend.h"
#include "core/xmalloc.h"
#include "provision/provision.h"

#define USERS 20000

static const char *pick(const struct proxy_backends *b, unsigned i)
{
	char addr[64];

	snprintf(addr, sizeof(addr), "user%u@example.test", i);
	return proxy_backend_hash(b, addr);
}

static struct proxy_backends *parse(const char *list)
{
	struct error err;
	struct proxy_backends *b = proxy_backends_parse(list, &err);

	assert_non_null(b);
	return b;
}

static void test_parse(void **state)
{
	struct error err;
	struct proxy_backends *b = parse(" 10.0.0.1:143,10.0.0.2:143 [::1]:1143");

	assert_int_equal(proxy_backends_count(b), 3);
	assert_string_equal(proxy_backends_get(b, 2), "[::1]:1143");
	proxy_backends_free(&b);
	assert_null(b);
	assert_null(proxy_backends_parse("10.0.0.1", &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_null(proxy_backends_parse("a:1 b:0", &err));
	assert_null(proxy_backends_parse("a:1 a:1", &err));
	b = parse("");
	assert_int_equal(proxy_backends_count(b), 0);
	assert_null(proxy_backend_hash(b, "a@b.c"));
	proxy_backends_free(&b);
}

/* The same address always gets the same backend, whatever the order of
 * the list (so proxies configured in a different order agree), and the
 * weights are fixed numbers (no per-process seed). */
static void test_stable(void **state)
{
	struct proxy_backends *a = parse("h1:143 h2:143 h3:143 h4:143");
	struct proxy_backends *b = parse("h4:143, h2:143, h1:143, h3:143");

	for (unsigned i = 0; i < 2000; i++)
		assert_string_equal(pick(a, i), pick(b, i));
	assert_true(proxy_backend_weight("h1:143", "a@b.c") ==
		    proxy_backend_weight("h1:143", "a@b.c"));
	assert_true(proxy_backend_weight("h1:143", "a@b.c") !=
		    proxy_backend_weight("h2:143", "a@b.c"));
	assert_true(proxy_backend_weight("h1:143", "a@b.c") !=
		    proxy_backend_weight("h1:14", "3a@b.c"));
	proxy_backends_free(&a);
	proxy_backends_free(&b);
}

/* Each of n backends gets 1/n of the users, within 5% of the share. */
static void test_spread(void **state)
{
	struct proxy_backends *b = parse("h1:143 h2:143 h3:143 h4:143 h5:143");
	unsigned count[5] = {0};

	for (unsigned i = 0; i < USERS; i++) {
		const char *h = pick(b, i);
		count[h[1] - '1']++;
	}
	for (unsigned k = 0; k < 5; k++) {
		assert_true(count[k] > USERS / 5 * 95 / 100);
		assert_true(count[k] < USERS / 5 * 105 / 100);
	}
	proxy_backends_free(&b);
}

/* Adding a 5th backend moves about 1/5 of the users, all of them to the
 * new backend; removing it moves them back and nobody else. */
static void test_movement(void **state)
{
	struct proxy_backends *four = parse("h1:143 h2:143 h3:143 h4:143");
	struct proxy_backends *five = parse("h1:143 h2:143 h3:143 h4:143 h5:143");
	unsigned moved = 0;

	for (unsigned i = 0; i < USERS; i++) {
		const char *before = pick(four, i), *after = pick(five, i);

		if (strcmp(before, after) != 0) {
			assert_string_equal(after, "h5:143");
			moved++;
		}
	}
	assert_true(moved > USERS / 5 * 90 / 100);
	assert_true(moved < USERS / 5 * 110 / 100);
	proxy_backends_free(&four);
	proxy_backends_free(&five);
}

static void test_lookup(void **state)
{
	char dir[] = "/tmp/postern-pb-XXXXXX";
	struct error err;
	struct buf *out = buf_new();
	struct proxy_backends *b = parse("h1:143 h2:143");

	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/test.db", dir);
	struct db_params p = {.driver = DB_SQLITE, .path = path,
			      .pool_size = 1, .timeout_ms = 2000};
	struct db *db = db_open_params(&p, &err);
	assert_non_null(db);
	assert_int_equal(db_migrate(db, false, NULL, &err), 0);
	struct prov_domain d = {.name = "example.test", .active = true};
	struct prov_mailbox m = {.address = "pinned@example.test",
				 .password = "x", .active = true};
	assert_int_equal(prov_domain_add(db, &d, &err), 0);
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), 0);
	m.address = "hashed@example.test";
	assert_int_equal(prov_mailbox_add(db, &m, "SHA512-CRYPT", &err), 0);
	const char *params[] = {"pinned@example.test"};
	assert_true(db_exec(db, "UPDATE mailboxes SET backend = 'b9:1143' "
				"WHERE address = ?",
			    params, 1, &err) == 1);

	assert_int_equal(proxy_backend_lookup(db, b, "pinned@example.test",
					      out, &err), 1);
	assert_string_equal(buf_data(out), "b9:1143");
	assert_int_equal(proxy_backend_lookup(db, b, "hashed@example.test",
					      out, &err), 1);
	assert_string_equal(buf_data(out),
			    proxy_backend_hash(b, "hashed@example.test"));
	assert_int_equal(proxy_backend_lookup(db, b, "none@example.test", out,
					      &err), 0);

	proxy_backends_free(&b);
	buf_free(&out);
	db_close(&db);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_stable),
	    cmocka_unit_test(test_spread),
	    cmocka_unit_test(test_movement),
	    cmocka_unit_test(test_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
