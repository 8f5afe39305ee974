/*
 * test_conf_doc - docs/config.md is generated from conf_params.def and
 * must be current.  When this fails after a parameter change, run
 *   build/tests/conf_doc_gen > docs/config.md
 * (or `postern config --markdown > docs/config.md`).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"

static void test_every_parameter_documented(void **state)
{
	struct buf *b = buf_new();
	conf_doc_markdown(b);
	for (size_t i = 0; i < conf_param_count(); i++) {
		const struct conf_param *p = conf_param_at(i);
		char *row = xasprintf("| `%s` | %s | ", p->name,
				      conf_type_name(p->type));
		if (strstr(buf_data(b), row) == NULL)
			fail_msg("no row for %s", p->name);
		free(row);
	}
	assert_non_null(strstr(buf_data(b), "## Expansion"));
	assert_non_null(
	    strstr(buf_data(b), "| `tls_ciphers` | str | *(empty)* |"));
	assert_non_null(strstr(buf_data(b), "| `queue_directory` | str | "
					    "`$config_directory/queue` |"));
	buf_free(&b);
}

static void test_docs_current(void **state)
{
	const char *src = getenv("POSTERN_SOURCE_DIR");
	assert_non_null(src);
	char *path = xasprintf("%s/docs/config.md", src);
	struct buf *file = buf_new(), *gen = buf_new();
	struct error err;

	if (fs_read_file(path, file, 1 << 20, &err) < 0)
		fail_msg("%s; generate it with build/tests/conf_doc_gen > "
			 "docs/config.md",
			 err.msg);
	conf_doc_markdown(gen);
	if (!buf_eq_str(file, buf_data(gen)))
		fail_msg("%s is stale: run build/tests/conf_doc_gen > "
			 "docs/config.md",
			 path);
	buf_free(&file);
	buf_free(&gen);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_parameter_documented),
	    cmocka_unit_test(test_docs_current),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
