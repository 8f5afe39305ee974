/*
 * test_imap_seqset - sequence set parsing, "*" and "$", resolving,
 * membership, iteration and compact writing.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "imap/imap_seqset.h"

/* Parse, resolve against max, write back. */
static void check(const char *in, uint32_t max, const char *want,
		  uint64_t count)
{
	struct imap_seqset *set = NULL;
	struct error err;
	if (imap_seqset_parse(in, false, &set, &err) != 0)
		fail_msg("%s: %s", in, err.msg);
	imap_seqset_resolve(set, max);
	struct buf *b = buf_new();
	imap_seqset_write(b, set);
	if (strcmp(buf_data(b), want) != 0)
		fail_msg("%s (max %u): got %s want %s", in, max, buf_data(b), want);
	assert_int_equal(imap_seqset_count(set), count);
	buf_free(&b);
	imap_seqset_free(&set);
	assert_null(set);
}

static void test_parse_resolve(void **state)
{
	(void)state;
	check("1", 10, "1", 1);
	check("1:3,7,9:*", 10, "1:3,7,9:10", 6);
	check("*", 10, "10", 1);
	check("*:4", 10, "4:10", 7);
	check("3:1", 10, "1:3", 3);
	check("5:3,1:2,4", 10, "1:5", 5);
	check("1:5,3:8,20", 10, "1:8,20", 9);
	check("900:*", 500, "500:900", 401); /* RFC 3501 6.4.8 */
	check("*", 0, "", 0);
	check("1:*", 0, "1", 1);
	check("4294967295", 5, "4294967295", 1);
	check("1:4294967295", 5, "1:4294967295", 4294967295ULL);
	check("4294967294,4294967295,1", 5, "1,4294967294:4294967295", 3);
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"", "0", "0:5", "1:0", "4294967296", "99999999999999999999",
		"1,", ",1", "1,,2", "1:", ":1", "1:2:3", "a", "1 2", "-1", "+1",
		"01", "$", "1,$", "**", "1:*x",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_seqset *set = NULL;
		struct error err;
		if (imap_seqset_parse(bad[i], false, &set, &err) == 0)
			fail_msg("accepted [%s]", bad[i]);
		assert_null(set);
		assert_int_equal(err.kind, ERR_PERM);
	}
}

static void test_saved(void **state)
{
	struct imap_seqset *set = NULL;
	struct error err;
	(void)state;
	assert_int_equal(imap_seqset_parse("$", true, &set, &err), 0);
	assert_true(set->saved);
	imap_seqset_free(&set);
	assert_int_equal(imap_seqset_parse("1,$", true, &set, &err), -1);
	uint32_t nums[] = {9, 3, 4, 5, 3, 12};
	set = imap_seqset_from_array(nums, 6);
	assert_true(set->resolved);
	struct buf *b = buf_new();
	imap_seqset_write(b, set);
	assert_string_equal(buf_data(b), "3:5,9,12");
	buf_free(&b);
	imap_seqset_free(&set);
}

static void test_contains_iter(void **state)
{
	struct imap_seqset *set = NULL;
	struct error err;
	(void)state;
	assert_int_equal(imap_seqset_parse("2:4,10,20:*", false, &set, &err), 0);
	assert_true(set->has_star);
	imap_seqset_resolve(set, 22);
	assert_false(set->has_star);
	assert_false(imap_seqset_contains(set, 1));
	assert_true(imap_seqset_contains(set, 2));
	assert_true(imap_seqset_contains(set, 4));
	assert_false(imap_seqset_contains(set, 5));
	assert_true(imap_seqset_contains(set, 10));
	assert_true(imap_seqset_contains(set, 22));
	assert_false(imap_seqset_contains(set, 23));
	assert_int_equal(imap_seqset_min(set), 2);
	assert_int_equal(imap_seqset_max(set), 22);
	assert_true(imap_seqset_within(set, 22));
	assert_false(imap_seqset_within(set, 21));
	struct imap_seqset_iter it;
	uint32_t n, got[16];
	size_t k = 0;
	imap_seqset_iter_init(&it, set);
	while (imap_seqset_iter_next(&it, &n) && k < 16)
		got[k++] = n;
	uint32_t want[] = {2, 3, 4, 10, 20, 21, 22};
	assert_int_equal(k, 7);
	assert_memory_equal(got, want, sizeof(want));
	imap_seqset_free(&set);

	/* iteration up to the very last UID does not wrap */
	assert_int_equal(imap_seqset_parse("4294967294:4294967295", false, &set,
					   &err), 0);
	imap_seqset_resolve(set, 1);
	k = 0;
	imap_seqset_iter_init(&it, set);
	while (imap_seqset_iter_next(&it, &n) && k < 16)
		k++;
	assert_int_equal(k, 2);
	imap_seqset_free(&set);

	/* empty set */
	set = imap_seqset_new();
	imap_seqset_resolve(set, 5);
	imap_seqset_iter_init(&it, set);
	assert_false(imap_seqset_iter_next(&it, &n));
	assert_false(imap_seqset_contains(set, 1));
	assert_int_equal(imap_seqset_min(set), 0);
	imap_seqset_free(&set);
}

static void test_write_array(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	uint32_t a[] = {1, 2, 3, 7, 9, 10};
	imap_seqset_write_array(b, a, 6);
	assert_string_equal(buf_data(b), "1:3,7,9:10");
	buf_reset(b);
	uint32_t c[] = {5, 6, 2, 3, 4294967295u};
	imap_seqset_write_array(b, c, 5); /* order kept (COPYUID) */
	assert_string_equal(buf_data(b), "5:6,2:3,4294967295");
	buf_reset(b);
	imap_seqset_write_array(b, a, 0);
	assert_string_equal(buf_data(b), "");
	uint32_t d[] = {4294967295u};
	imap_seqset_write_array(b, d, 1);
	assert_string_equal(buf_data(b), "4294967295");
	buf_free(&b);
	struct imap_seqset *set = NULL;
	struct error err;
	assert_int_equal(imap_seqset_parse("3:*,1", false, &set, &err), 0);
	b = buf_new();
	imap_seqset_write(b, set);
	assert_string_equal(buf_data(b), "3:*,1");
	buf_free(&b);
	imap_seqset_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_resolve),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_saved),
		cmocka_unit_test(test_contains_iter),
		cmocka_unit_test(test_write_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
