/*
 * test_throttle - failed-login counters: blocking after max failures,
 * window expiry, success clearing, independent keys, bounded table.
 */
#include "test.h"

#include <stdio.h>

#include "auth/throttle.h"

static void test_block_after_max(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 60);

	(void)state;
	assert_false(auth_throttle_blocked(t, "ip:192.0.2.1", 1000));
	auth_throttle_failure(t, "ip:192.0.2.1", 1000);
	auth_throttle_failure(t, "ip:192.0.2.1", 1001);
	assert_false(auth_throttle_blocked(t, "ip:192.0.2.1", 1002));
	auth_throttle_failure(t, "ip:192.0.2.1", 1002);
	assert_true(auth_throttle_blocked(t, "ip:192.0.2.1", 1003));
	assert_int_equal(auth_throttle_failures(t, "ip:192.0.2.1", 1003), 3);
	/* Another key is untouched. */
	assert_false(auth_throttle_blocked(t, "ip:192.0.2.2", 1003));
	assert_false(auth_throttle_blocked(t, "user:a@example.org", 1003));
	auth_throttle_free(&t);
	assert_null(t);
}

static void test_window_expiry(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 10);

	(void)state;
	auth_throttle_failure(t, "k", 100);
	auth_throttle_failure(t, "k", 105);
	assert_true(auth_throttle_blocked(t, "k", 109));
	/* The window started at 100: over at 110. */
	assert_false(auth_throttle_blocked(t, "k", 110));
	auth_throttle_failure(t, "k", 111);
	assert_int_equal(auth_throttle_failures(t, "k", 111), 1);
	assert_false(auth_throttle_blocked(t, "k", 111));
	auth_throttle_free(&t);
}

static void test_success_clears(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 60);

	(void)state;
	auth_throttle_failure(t, "user:x@y.z", 1);
	auth_throttle_failure(t, "user:x@y.z", 2);
	assert_true(auth_throttle_blocked(t, "user:x@y.z", 3));
	auth_throttle_success(t, "user:x@y.z");
	assert_false(auth_throttle_blocked(t, "user:x@y.z", 3));
	assert_int_equal(auth_throttle_failures(t, "user:x@y.z", 3), 0);
	auth_throttle_free(&t);
}

static void test_disabled(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0, 60);

	(void)state;
	for (int i = 0; i < 100; i++)
		auth_throttle_failure(t, "k", 1);
	assert_false(auth_throttle_blocked(t, "k", 1));
	auth_throttle_free(&t);
	assert_false(auth_throttle_blocked(NULL, "k", 1));
}

/* Many more keys than slots: still works, the newest keys are counted
 * (memory cannot grow; old entries are pushed out). */
static void test_bounded(void **state)
{
	struct auth_throttle *t = auth_throttle_new(1, 3600);
	char key[64];
	int i, blocked = 0;

	(void)state;
	for (i = 0; i < 4 * AUTH_THROTTLE_SLOTS; i++) {
		snprintf(key, sizeof(key), "ip:10.%d.%d.%d", i >> 16,
			 (i >> 8) & 255, i & 255);
		auth_throttle_failure(t, key, 1000 + i / 1000);
	}
	/* The last key just failed: blocked. */
	assert_true(auth_throttle_blocked(t, key, 1000 + i / 1000));
	for (i = 4 * AUTH_THROTTLE_SLOTS - 1000; i < 4 * AUTH_THROTTLE_SLOTS;
	     i++) {
		snprintf(key, sizeof(key), "ip:10.%d.%d.%d", i >> 16,
			 (i >> 8) & 255, i & 255);
		blocked += auth_throttle_blocked(t, key, 1100);
	}
	/* Recent keys survive eviction (older windows go first). */
	assert_true(blocked > 900);
	auth_throttle_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_after_max),
	    cmocka_unit_test(test_window_expiry),
	    cmocka_unit_test(test_success_clears),
	    cmocka_unit_test(test_disabled),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
