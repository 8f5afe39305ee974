#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"

static char dir[] = "/tmp/postern-fsutil-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_atomic_write_replaces(void **state)
{
	struct error err;
	char *path = xasprintf("%s/file", dir);
	assert_int_equal(fs_write_atomic(path, "one", 3, 0600, &err), 0);
	assert_int_equal(fs_write_atomic(path, "two!", 4, 0640, &err), 0);
	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(path, b, 100, &err), 0);
	assert_true(buf_eq_str(b, "two!"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* No temporary file is left behind. */
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	assert_false(fs_exists(tmp));
	free(tmp);
	buf_free(&b);
	free(path);
}

static void test_write_fails_cleanly(void **state)
{
	struct error err;
	char *path = xasprintf("%s/missing/dir/file", dir);
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600, &err), -1);
	assert_int_not_equal(err.kind, ERR_NONE);
	assert_non_null(strstr(err.msg, "missing"));
	free(path);
}

static void test_mkdir_p_and_read_limit(void **state)
{
	struct error err;
	char *deep = xasprintf("%s/a/b/c", dir);
	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);
	assert_int_equal(fs_mkdir_p(deep, 0755, &err), 0);
	char *f = xasprintf("%s/big", deep);
	assert_int_equal(fs_write_atomic(f, "0123456789", 10, 0600, &err), 0);
	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(f, b, 5, &err), -1);
	assert_non_null(strstr(err.msg, "larger"));
	char *missing = xasprintf("%s/nope", dir);
	assert_int_equal(fs_read_file(missing, b, 5, &err), -1);
	char *dn = fs_dirname(f);
	assert_string_equal(dn, deep);
	free(dn);
	free(missing);
	buf_free(&b);
	free(f);
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_write_replaces),
		cmocka_unit_test(test_write_fails_cleanly),
		cmocka_unit_test(test_mkdir_p_and_read_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
