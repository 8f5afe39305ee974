#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/str.h"
#include "core/xmalloc.h"

static void test_lower_trim_prefix(void **state)
{
	char s[] = "  MiXeD.Example \t\n";
	char *t = str_trim(s);
	assert_string_equal(t, "MiXeD.Example");
	assert_string_equal(str_lower(t), "mixed.example");
	assert_true(str_has_prefix("sql:/x", "sql:"));
	assert_false(str_has_prefix("sq", "sql:"));
	assert_true(str_case_has_prefix("STARTTLS", "starttls"));
	assert_true(str_has_suffix("a.cf", ".cf"));
	assert_false(str_has_suffix("f", ".cf"));
}

static void test_split(void **state)
{
	struct array *a = str_split(" a, b,,c ", ", ");
	assert_int_equal(array_len(a), 3);
	assert_string_equal(array_get(a, 0), "a");
	assert_string_equal(array_get(a, 2), "c");
	array_free_with(&a, free);
	a = str_split("", ",");
	assert_int_equal(array_len(a), 0);
	array_free_with(&a, free);
}

static void test_numbers(void **state)
{
	unsigned long long u;
	long long i;
	assert_true(str_to_u64("18446744073709551615", &u));
	assert_false(str_to_u64("18446744073709551616", &u));
	assert_false(str_to_u64("-1", &u));
	assert_false(str_to_u64("12x", &u));
	assert_false(str_to_u64("", &u));
	assert_true(str_to_i64("-42", &i));
	assert_int_equal(i, -42);
	assert_false(str_to_i64("-", &i));
}

static void test_copy_and_secure_eq(void **state)
{
	char small[4];
	assert_int_equal(str_copy(small, "abcdef", sizeof(small)), 6);
	assert_string_equal(small, "abc");
	assert_true(str_secure_eq("token", "token"));
	assert_false(str_secure_eq("token", "tokeN"));
	assert_false(str_secure_eq("token", "token2"));
	assert_false(str_secure_eq("", "x"));
	assert_false(str_secure_eq("x", ""));
	assert_true(str_secure_eq("", ""));
}

static void test_error_convention(void **state)
{
	struct error err;
	assert_int_equal(error_set(&err, ERR_TEMP, "db %s", "down"), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	error_prefix(&err, "lookup %s", "a@b");
	assert_string_equal(err.msg, "lookup a@b: db down");
	assert_string_equal(error_kind_name(err.kind), "temporary");
	assert_int_equal(error_set(NULL, ERR_PERM, "ignored"), -1);
	error_clear(&err);
	assert_int_equal(err.kind, ERR_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lower_trim_prefix),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_copy_and_secure_eq),
		cmocka_unit_test(test_error_convention),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
