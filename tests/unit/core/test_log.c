#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/xmalloc.h"

static void test_file_lines_are_postfix_like(void **state)
{
	char path[] = "/tmp/postern-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct error err;
	log_init("postern/test");
	assert_int_equal(log_to_file(path, &err), 0);
	log_info("%s: from=<%s>, size=%d", "3F2A1B", "a@example.test", 12);
	log_warn("disk %s", "slow");
	log_set_trace(0);
	log_debug(LOG_TRACE_SQL, "hidden");
	log_set_trace(LOG_TRACE_SQL);
	log_debug(LOG_TRACE_SQL, "shown");
	log_to_stderr();

	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(path, b, 1 << 20, &err), 0);
	char *expect = xasprintf("postern/test[%ld]: 3F2A1B: from=<a@example.test>, size=12\n",
				 (long)getpid());
	assert_non_null(strstr(buf_data(b), expect));
	assert_non_null(strstr(buf_data(b), ": warning: disk slow\n"));
	assert_null(strstr(buf_data(b), "hidden"));
	assert_non_null(strstr(buf_data(b), ": debug: shown\n"));
	/* File lines start with an ISO 8601 UTC timestamp. */
	assert_int_equal(buf_data(b)[4], '-');
	assert_int_equal(buf_data(b)[10], 'T');
	free(expect);
	buf_free(&b);
	unlink(path);
}

static void test_trace_parse(void **state)
{
	unsigned mask = 0;
	struct error err;
	assert_int_equal(log_parse_trace("sql, io", &mask, &err), 0);
	assert_int_equal(mask, LOG_TRACE_SQL | LOG_TRACE_IO);
	assert_int_equal(log_parse_trace("all", &mask, &err), 0);
	assert_int_equal(mask, LOG_TRACE_ALL);
	assert_int_equal(log_parse_trace("", &mask, &err), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(log_parse_trace("sql,bogus", &mask, &err), -1);
	assert_non_null(strstr(err.msg, "bogus"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_lines_are_postfix_like),
		cmocka_unit_test(test_trace_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
