/*
 * test_map_text.c - static, inline, fail and texthash maps, the logical
 * line rules, case folding and the virtual(5) address lookup order.
 */
#include "test.h"

#include "map_test_util.h"

static void test_static(void **state)
{
	struct error err;
	struct map *m = map_open("static:OK", NULL, &err);

	assert_non_null(m);
	assert_string_equal(test_get(m, "anything"), "OK");
	assert_string_equal(test_get(m, ""), "OK");
	assert_string_equal(map_spec(m), "static:OK");
	map_free(&m);
	assert_null(m);
	m = map_open("static:{ two words }", NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "x"), "two words");
	map_free(&m);
}

static void test_bad_specs(void **state)
{
	struct error err;

	assert_null(map_open("nocolon", NULL, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_null(map_open("dbm:/etc/x", NULL, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "unsupported map type"));
	/* hash: is lmdb: (test_map_lmdb): not built here, so refused too. */
	assert_null(map_open("hash:/nonexistent/postern/map", NULL, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_null(map_open("texthash:", NULL, &err));
	assert_null(map_open("texthash:/nonexistent/postern/map", NULL, &err));
}

static void test_fail(void **state)
{
	struct error err;
	struct map *m = map_open("fail:down", NULL, &err);
	struct buf *v = buf_new();

	assert_non_null(m);
	assert_int_equal(map_lookup(m, "a@b", v, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	buf_free(&v);
	map_free(&m);
}

static void test_inline(void **state)
{
	struct error err;
	struct map *m;

	m = map_open("inline:{a=1, B=Two,c=3}", NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "a"), "1");
	assert_string_equal(test_get(m, "b"), "Two"); /* key folded */
	assert_string_equal(test_get(m, "C"), "3");   /* lookup folded */
	assert_string_equal(test_get(m, "d"), "<none>");
	map_free(&m);

	/* Spacing around =, white space as separator, braced elements. */
	m = map_open("inline:{ a = b , x= y z =w "
		     "{ key = value with spaces, and commas } }",
		     NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "a"), "b");
	assert_string_equal(test_get(m, "x"), "y");
	assert_string_equal(test_get(m, "z"), "w");
	assert_string_equal(test_get(m, "key"),
			    "value with spaces, and commas");
	map_free(&m);

	m = map_open("inline:{ k = {v w} }", NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "k"), "v w");
	map_free(&m);

	m = test_text("inline", "{ q = r }", &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "q"), "r");
	map_free(&m);
}

static void test_inline_errors(void **state)
{
	static const char *bad[] = {
	    "inline:a=b",      "inline:{}",	   "inline:{ a }",
	    "inline:{ =b }",   "inline:{ a= }",	   "inline:{ {a b} }",
	    "inline:{ {a=b }", "inline:{ a=b } }", "inline:{a=}b}",
	};
	struct error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct map *m = map_open(bad[i], NULL, &err);

		if (m != NULL)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_non_null(strstr(err.msg, bad[i]));
	}
}

static void test_texthash(void **state)
{
	char *dir = test_tmpdir();
	char *path = test_write(dir, "virtual",
				"# comment\n"
				"Alice@Example.TEST   Alice@Elsewhere.test\n"
				"\n"
				"bob@example.test\tb1,\n"
				"   b2\n"
				"# a comment inside a continuation\n"
				"\tb3\n"
				"@example.test catchall@example.test\n"
				"dup first\n"
				"dup second\n"
				"crlf value\r\n");
	char *spec = xasprintf("texthash:%s", path);
	struct error err;
	struct map *m = map_open(spec, NULL, &err);

	assert_non_null(m);
	/* Keys folded both ways; values keep their case. */
	assert_string_equal(test_get(m, "alice@example.test"),
			    "Alice@Elsewhere.test");
	assert_string_equal(test_get(m, "ALICE@example.test"),
			    "Alice@Elsewhere.test");
	assert_string_equal(test_get(m, "bob@example.test"), "b1,   b2\tb3");
	assert_string_equal(test_get(m, "dup"), "first");
	assert_string_equal(test_get(m, "crlf"), "value");
	assert_string_equal(test_get(m, "# comment"), "<none>");
	assert_string_equal(test_get(m, "nobody@example.test"), "<none>");
	map_free(&m);
	free(spec);
	free(path);
	test_rmdir(dir);
}

static void test_texthash_error_line(void **state)
{
	struct error err;
	struct map *m = test_text("texthash",
				  "a b\n"
				  "# c\n"
				  "\n"
				  "lonely\n",
				  &err);

	assert_null(m);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_string_equal(err.msg,
			    "t.map:4: expected format: key whitespace value");

	/* The file name in errors is the real path. */
	char *dir = test_tmpdir();
	char *path = test_write(dir, "bad", "ok 1\n\nbroken\n");
	char *spec = xasprintf("texthash:%s", path);
	char *want = xasprintf("%s:3:", path);

	assert_null(map_open(spec, NULL, &err));
	assert_true(strncmp(err.msg, want, strlen(want)) == 0);
	free(want);
	free(spec);
	free(path);
	test_rmdir(dir);
}

static void test_address_order(void **state)
{
	struct error err;
	struct map *m = map_open("inline:{ user+ext@d.test=exact, "
				 "user@d.test=plain, @d.test=catchall, "
				 "other=unqualified }",
				 NULL, &err);
	struct buf *v = buf_new();

	assert_non_null(m);
	assert_int_equal(map_lookup_address(m, "User+Ext@D.test", "+", v, &err),
			 1);
	assert_string_equal(buf_data(v), "exact");
	assert_int_equal(
	    map_lookup_address(m, "user+other@d.test", "+-", v, &err), 1);
	assert_string_equal(buf_data(v), "plain");
	assert_int_equal(
	    map_lookup_address(m, "user-x+y@d.test", "+-", v, &err), 1);
	assert_string_equal(buf_data(v), "plain");
	/* Without delimiters the extension is part of the name. */
	assert_int_equal(
	    map_lookup_address(m, "user+other@d.test", NULL, v, &err), 1);
	assert_string_equal(buf_data(v), "catchall");
	assert_int_equal(map_lookup_address(m, "nobody@d.test", "+", v, &err),
			 1);
	assert_string_equal(buf_data(v), "catchall");
	/* A leading delimiter is not an extension. */
	assert_int_equal(map_lookup_address(m, "+user@e.test", "+", v, &err),
			 0);
	assert_int_equal(map_lookup_address(m, "other+x", "+", v, &err), 1);
	assert_string_equal(buf_data(v), "unqualified");
	assert_int_equal(map_lookup_address(m, "nobody@e.test", "+", v, &err),
			 0);
	map_free(&m);

	/* A failure at the first step stops the search with -1. */
	m = map_open("fail:x", NULL, &err);
	assert_int_equal(map_lookup_address(m, "a+b@c.test", "+", v, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	map_free(&m);
	buf_free(&v);
}

static void test_domain(void **state)
{
	struct error err;
	struct map *m = map_open("inline:{ example.test=ok }", NULL, &err);
	struct buf *v = buf_new();

	assert_int_equal(map_lookup_domain(m, "Example.TEST.", v, &err), 1);
	assert_int_equal(map_lookup_domain(m, "a@example.test", v, &err), 1);
	assert_int_equal(map_lookup_domain(m, "other.test", v, &err), 0);
	assert_int_equal(map_lookup_domain(m, "", v, &err), 0);
	buf_free(&v);
	map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static),
	    cmocka_unit_test(test_bad_specs),
	    cmocka_unit_test(test_fail),
	    cmocka_unit_test(test_inline),
	    cmocka_unit_test(test_inline_errors),
	    cmocka_unit_test(test_texthash),
	    cmocka_unit_test(test_texthash_error_line),
	    cmocka_unit_test(test_address_order),
	    cmocka_unit_test(test_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
