/*
 * test_mime_dovecot - BODY, BODYSTRUCTURE and ENVELOPE of the messages in
 * data/NAME.eml must equal, byte for byte, what Dovecot 2.3.19 answered for
 * the same files (data/NAME.body, .bodystructure, .envelope; produced
 * with `doveadm fetch imap.body imap.bodystructure imap.envelope`).
 */
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_envelope.h"
#include "mail/mime.h"

static char *data_dir(void)
{
	const char *src = getenv("POSTERN_SOURCE_DIR");
	const char *other = getenv("POSTERN_MIME_DATA"); /* another set */
	static char path[4096];
	if (other != NULL)
		return (char *)other;
	snprintf(path, sizeof(path), "%s/tests/unit/mail/data",
		 src != NULL ? src : ".");
	return path;
}

static struct buf *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf *b = buf_new();
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(b, tmp, n);
	fclose(f);
	return b;
}

static int compare(const char *name, const char *what, const struct buf *got)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.%s", data_dir(), name, what);
	struct buf *want = read_file(path);
	if (want == NULL) {
		print_error("%s: missing %s\n", name, path);
		return 1;
	}
	int bad = buf_len(want) != buf_len(got) ||
		  memcmp(buf_data(want), buf_data(got), buf_len(got)) != 0;
	if (bad)
		print_error("%s %s\n want: %s\n  got: %s\n", name, what,
			    buf_data(want), buf_data(got));
	buf_free(&want);
	return bad;
}

static void test_against_dovecot(void **state)
{
	(void)state;
	DIR *d = opendir(data_dir());
	assert_non_null(d);
	struct dirent *de;
	int failures = 0, messages = 0;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		char name[256], path[4400];
		snprintf(name, sizeof(name), "%.*s", (int)(n - 4), de->d_name);
		snprintf(path, sizeof(path), "%s/%s", data_dir(), de->d_name);
		struct buf *msgdata = read_file(path);
		assert_non_null(msgdata);
		struct mime_message *msg =
			mime_parse(buf_data(msgdata), buf_len(msgdata));
		struct buf *out = buf_new();
		imap_bodystructure_write(out, msg, NULL, false, 0);
		failures += compare(name, "body", out);
		buf_reset(out);
		imap_bodystructure_write(out, msg, NULL, true, 0);
		failures += compare(name, "bodystructure", out);
		buf_reset(out);
		/* doveadm prints the envelope without its parentheses */
		imap_envelope_write_message(out, msg, 0);
		assert_true(buf_len(out) >= 2);
		buf_consume(out, 1);
		buf_truncate(out, buf_len(out) - 1);
		failures += compare(name, "envelope", out);
		buf_free(&out);
		mime_message_free(&msg);
		buf_free(&msgdata);
		messages++;
	}
	closedir(d);
	assert_true(messages >= 20);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_dovecot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
