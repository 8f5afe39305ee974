/*
 * conf_test.h - helpers shared by the conf tests: a scratch folder per
 * test and the log captured to a file, so warnings can be asserted.
 */
#ifndef POSTERN_CONF_TEST_H
#define POSTERN_CONF_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/xmalloc.h"

static char scratch[256];
static char log_path[300];

/* A fresh scratch folder; the log goes to scratch/../NAME.log, emptied. */
static inline int scratch_setup(void **state)
{
	(void)state;
	snprintf(scratch, sizeof(scratch), "/tmp/postern-conf-test.XXXXXX");
	if (mkdtemp(scratch) == NULL)
		return -1;
	snprintf(log_path, sizeof(log_path), "%s.log", scratch);
	if (log_to_file(log_path, NULL) < 0)
		return -1;
	return truncate(log_path, 0);
}

static inline int scratch_teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s' '%s'", scratch, log_path);
	int rc = system(cmd);
	free(cmd);
	log_to_stderr();
	return rc == 0 ? 0 : -1;
}

/* Everything logged since setup (malloc'd). */
static inline char *log_text(void)
{
	struct buf *b = buf_new();
	fs_read_file(log_path, b, 1 << 20, NULL);
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

static inline void log_clear(void)
{
	assert_int_equal(truncate(log_path, 0), 0);
}

static inline void assert_log_has(const char *needle)
{
	char *s = log_text();
	if (strstr(s, needle) == NULL)
		fail_msg("log lacks \"%s\":\n%s", needle, s);
	free(s);
}

static inline void assert_log_empty(void)
{
	char *s = log_text();
	if (s[0] != '\0')
		fail_msg("unexpected log:\n%s", s);
	free(s);
}

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static inline char *read_text(const char *path)
{
	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(path, b, 1 << 20, NULL), 0);
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

#define assert_contains(hay, needle)                                           \
	do {                                                                   \
		if (strstr((hay), (needle)) == NULL)                           \
			fail_msg("\"%s\" lacks \"%s\"", (hay), (needle));      \
	} while (0)

#endif
