#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/xmalloc.h"

static void test_put_get_del_many(void **state)
{
	struct hash *h = hash_new(HASH_DEFAULT, free);
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		hash_put(h, key, xasprintf("v%d", i));
	}
	assert_int_equal(hash_count(h), 5000);
	assert_string_equal(hash_get(h, "key4321"), "v4321");
	assert_null(hash_get(h, "KEY4321"));
	hash_put(h, "key1", xstrdup("replaced"));
	assert_string_equal(hash_get(h, "key1"), "replaced");
	assert_int_equal(hash_count(h), 5000);
	assert_true(hash_del(h, "key1"));
	assert_false(hash_del(h, "key1"));
	assert_false(hash_contains(h, "key1"));
	assert_int_equal(hash_count(h), 4999);
	hash_free(&h);
	assert_null(h);
}

static void test_fold_case(void **state)
{
	struct hash *h = hash_new(HASH_FOLD_CASE, NULL);
	hash_put(h, "Example.TEST", "x");
	assert_string_equal(hash_get(h, "example.test"), "x");
	hash_put(h, "EXAMPLE.test", "y");
	assert_int_equal(hash_count(h), 1);
	assert_string_equal(hash_get(h, "Example.Test"), "y");
	hash_free(&h);
}

static void test_iterate_sees_every_key_once(void **state)
{
	struct hash *h = hash_new(HASH_DEFAULT, NULL);
	static int marks[100];
	char key[16];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "%d", i);
		hash_put(h, key, &marks[i]);
	}
	struct hash_iter it = {0};
	const char *k;
	void *v;
	int seen = 0;
	while (hash_next(h, &it, &k, &v)) {
		int i = atoi(k);
		assert_ptr_equal(v, &marks[i]);
		marks[i]++;
		seen++;
	}
	assert_int_equal(seen, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(marks[i], 1);
	hash_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del_many),
		cmocka_unit_test(test_fold_case),
		cmocka_unit_test(test_iterate_sees_every_key_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
