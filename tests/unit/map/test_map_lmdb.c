/*
 * test_map_lmdb.c - postmap: building FILE.lmdb from a source and
 * reading it through lmdb:FILE; rebuilds replace the file atomically.
 */
#include <sys/stat.h>

#include "test.h"

#include "map_test_util.h"

static void test_build_and_query(void **state)
{
	char *dir = test_tmpdir();
	char *src = test_write(dir, "virtual",
			       "# source\n"
			       "Alice@Example.test  alice@elsewhere.test\n"
			       "bob@example.test    Bob Value,\n"
			       "  continued\n"
			       "dup one\n"
			       "dup two\n");
	char *spec = xasprintf("lmdb:%s", src);
	char *db = xasprintf("%s.lmdb", src);
	char *lock = xasprintf("%s.lmdb-lock", src);
	struct error err;
	struct map *m;
	struct stat st;

	assert_null(map_open(spec, NULL, &err)); /* not built yet */
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "postern map build"));

	if (map_lmdb_build(src, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(stat(db, &st), 0);
	assert_int_not_equal(stat(lock, &st), 0); /* MDB_NOLOCK */
	m = map_open(spec, NULL, &err);
	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "alice@example.test"),
			    "alice@elsewhere.test");
	assert_string_equal(test_get(m, "ALICE@EXAMPLE.TEST"),
			    "alice@elsewhere.test");
	assert_string_equal(test_get(m, "bob@example.test"),
			    "Bob Value,  continued");
	assert_string_equal(test_get(m, "dup"), "one");
	assert_string_equal(test_get(m, "carol@example.test"), "<none>");
	assert_string_equal(test_get(m, ""), "<none>");

	/* Rebuild while the old map is open: the open map keeps its
	   snapshot, a new open sees the new content. */
	free(test_write(dir, "virtual", "carol@example.test carol\n"));
	if (map_lmdb_build(src, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "alice@example.test"),
			    "alice@elsewhere.test");
	map_free(&m);
	m = map_open(spec, NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "carol@example.test"), "carol");
	assert_string_equal(test_get(m, "alice@example.test"), "<none>");
	map_free(&m);

	free(lock);
	free(db);
	free(spec);
	free(src);
	test_rmdir(dir);
}

static void test_build_errors(void **state)
{
	char *dir = test_tmpdir();
	char *src = test_write(dir, "bad", "ok value\n\nnovalue\n");
	char *db = xasprintf("%s.lmdb", src);
	char *want = xasprintf("%s:3: expected format", src);
	struct error err;
	struct stat st;

	assert_int_equal(map_lmdb_build(src, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_true(strncmp(err.msg, want, strlen(want)) == 0);
	assert_int_not_equal(stat(db, &st), 0); /* nothing left behind */
	free(want);

	/* Keys over LMDB's 511 bytes are refused with file:line. */
	char big[600];
	memset(big, 'k', 599);
	big[599] = '\0';
	char *text = xasprintf("a b\n%s v\n", big);
	free(src);
	src = test_write(dir, "big", text);
	want = xasprintf("%s:2: key longer than 511 bytes", src);
	assert_int_equal(map_lmdb_build(src, &err), -1);
	assert_string_equal(err.msg, want);
	free(want);
	free(text);

	assert_int_equal(map_lmdb_build("/nonexistent/postern/src", &err), -1);
	free(db);
	free(src);
	test_rmdir(dir);
}

static void test_many_entries(void **state)
{
	/* A table of some size: every entry is found after the build. */
	char *dir = test_tmpdir();
	struct buf *text = buf_new();
	char *src, *spec;
	struct error err;
	struct map *m;

	for (int i = 0; i < 20000; i++)
		buf_printf(text, "key%d value%d\n", i, i);
	src = test_write(dir, "many", buf_data(text));
	if (map_lmdb_build(src, &err) < 0)
		fail_msg("%s", err.msg);
	spec = xasprintf("lmdb:%s", src);
	m = map_open(spec, NULL, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "key0"), "value0");
	assert_string_equal(test_get(m, "key19999"), "value19999");
	map_free(&m);
	free(spec);
	free(src);
	buf_free(&text);
	test_rmdir(dir);
}

/* Postfix's names carry over: hash: and btree: are lmdb: snapshots,
 * regexp: is read as pcre:; the spec keeps the name the admin wrote. */
static void test_postfix_type_names(void **state)
{
	char *dir = test_tmpdir();
	char *src = test_write(dir, "access", "spam.example REJECT\n");
	char *re = test_write(dir, "checks", "/^Subject: win/ REJECT\n");
	const char *kinds[] = {"hash", "btree"};
	struct error err;
	struct map *m;

	if (map_lmdb_build(src, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < 2; i++) {
		char *spec = xasprintf("%s:%s", kinds[i], src);

		m = map_open(spec, NULL, &err);
		if (m == NULL)
			fail_msg("%s", err.msg);
		assert_string_equal(test_get(m, "spam.example"), "REJECT");
		assert_string_equal(map_spec(m), spec);
		map_free(&m);
		free(spec);
	}
	char *spec = xasprintf("regexp:%s", re);
	m = map_open(spec, NULL, &err);
	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "Subject: win a prize"), "REJECT");
	assert_string_equal(test_get(m, "Subject: hello"), "<none>");
	map_free(&m);
	assert_null(map_open("hashish:/x", NULL, &err)); /* no prefix match */
	assert_int_equal(err.kind, ERR_CONFIG);
	free(spec);
	free(re);
	free(src);
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_and_query),
	    cmocka_unit_test(test_postfix_type_names),
	    cmocka_unit_test(test_build_errors),
	    cmocka_unit_test(test_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
