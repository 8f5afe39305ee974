/*
 * test_smtpd_content - the content checks' pieces without a daemon
 * (mta/smtpd-content.h): the action parser of header_checks(5) results,
 * and the filter: which table each header field and body line goes to
 * (primary, MIME, part, nested, body), joined multi-line fields, the
 * MIME boundaries, body_checks_size_limit, disable_mime_input_processing,
 * fields dropped or added by a check, and the same result whatever the
 * chunk boundaries.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "smtpd-content.h"

static void test_action_parse(void **state)
{
	static const struct {
		const char *value;
		enum content_action a;
		const char *text;
	} cases[] = {
	    {"REJECT", CONTENT_REJECT, ""},
	    {"reject  no spam here", CONTENT_REJECT, "no spam here"},
	    {"REJECT 4.7.1 later", CONTENT_REJECT, "4.7.1 later"},
	    {"  WARN\twatch", CONTENT_WARN, "watch"},
	    {"INFO", CONTENT_INFO, ""},
	    {"IGNORE", CONTENT_IGNORE, ""},
	    {"HOLD held", CONTENT_HOLD, "held"},
	    {"DISCARD", CONTENT_DISCARD, ""},
	    {"FILTER smtp:[127.0.0.1]:10025", CONTENT_FILTER,
	     "smtp:[127.0.0.1]:10025"},
	    {"FILTER", CONTENT_UNKNOWN, ""},
	    {"PREPEND X-Tag: yes", CONTENT_PREPEND, "X-Tag: yes"},
	    {"PREPEND", CONTENT_UNKNOWN, ""},
	    {"Replace Subject: clean", CONTENT_REPLACE, "Subject: clean"},
	    {"REPLACE ", CONTENT_UNKNOWN, ""},
	    {"REDIRECT a@b.test", CONTENT_REDIRECT, "a@b.test"},
	    {"REDIRECT", CONTENT_UNKNOWN, ""},
	    {"DUNNO", CONTENT_DUNNO, ""},
	    {"OK", CONTENT_OK, ""},
	    {"REJECTED", CONTENT_UNKNOWN, ""},
	    {"550 no", CONTENT_UNKNOWN, "no"},
	    {"", CONTENT_UNKNOWN, ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text;
		enum content_action a =
		    content_action_parse(cases[i].value, &text);
		if (a != cases[i].a)
			fail_msg("\"%s\": action %d, want %d", cases[i].value,
				 a, cases[i].a);
		if (a != CONTENT_UNKNOWN)
			assert_string_equal(text, cases[i].text);
	}
	assert_string_equal(content_action_name(CONTENT_REDIRECT), "redirect");
}

/* The check: logs "T|key" lines; a key holding DROP is dropped, one
 * holding PRE gets "X-Pre: 1" before it, STOP stops the filter. */
struct rec {
	struct buf *log;
	struct content_filter *f;
};

static void check(void *ctx, enum content_table t, const char *key,
		  const char *item, size_t len, struct buf *out)
{
	struct rec *r = ctx;
	static const char names[] = "HMNB";

	buf_printf(r->log, "%c|%s\n", names[t], key);
	if (strstr(key, "STOP") != NULL)
		content_filter_stop(r->f);
	if (strstr(key, "DROP") != NULL)
		return;
	if (strstr(key, "PRE") != NULL)
		buf_append_str(out, t == CONTENT_BODY ? "pre line\r\n"
						      : "X-Pre: 1\r\n");
	buf_append(out, item, len);
}

/* Run msg through a filter fed in pieces of `step` bytes. */
static void run(const char *msg, size_t step, bool no_mime, size_t body_limit,
		struct buf *log, struct buf *out)
{
	struct content_filter_limits lim = {
	    .no_mime = no_mime, .header_limit = 1000, .body_limit = body_limit};
	struct rec r = {.log = log};
	struct buf *chunk = buf_new();
	size_t len = strlen(msg);

	r.f = content_filter_new(&lim, 0xf, check, &r);
	for (size_t pos = 0; pos < len; pos += step) {
		size_t n = len - pos < step ? len - pos : step;
		buf_reset(chunk);
		buf_append(chunk, msg + pos, n);
		content_filter_feed(r.f, chunk);
		buf_append(out, buf_data(chunk), buf_len(chunk));
	}
	content_filter_end(r.f, out);
	content_filter_free(&r.f);
	assert_null(r.f);
	buf_free(&chunk);
}

static const char mime_msg[] =
    "Subject: top\r\n"
    "Content-Length: 12\r\n"
    "X-Multi: one\r\n"
    "\ttwo\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed;\r\n"
    " boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: text/plain\r\n"
    "X-Part: p1\r\n"
    "\r\n"
    "text line\r\n"
    "--outerish not a boundary\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "Content-Type: multipart/alternative; boundary=in\r\n"
    "\r\n"
    "--in\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "inner text\r\n"
    "--in--\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

static const char mime_log[] =
    "H|Subject: top\n"
    "H|Content-Length: 12\n"
    "H|X-Multi: one\ttwo\n"
    "M|MIME-Version: 1.0\n"
    "M|Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "B|preamble\n"
    "M|Content-Type: text/plain\n"
    "M|X-Part: p1\n"
    "B|text line\n"
    "B|--outerish not a boundary\n"
    "M|Content-Type: message/rfc822\n"
    "N|Subject: inner\n"
    "M|Content-Type: multipart/alternative; boundary=in\n"
    "M|Content-Type: text/plain\n"
    "B|inner text\n"
    "B|epilogue\n";

static void test_tables(void **state)
{
	(void)state;
	/* Whatever the chunks, the same lookups and the same output. */
	for (size_t step = 1; step <= sizeof(mime_msg); step += 7) {
		struct buf *log = buf_new(), *out = buf_new();
		run(mime_msg, step, false, 51200, log, out);
		assert_string_equal(buf_data(log), mime_log);
		assert_string_equal(buf_data(out), mime_msg);
		buf_free(&log);
		buf_free(&out);
	}
}

static void test_no_mime(void **state)
{
	struct buf *log = buf_new(), *out = buf_new();

	(void)state;
	run(mime_msg, 4096, true, 51200, log, out);
	/* Every primary field in header_checks; the rest is body. */
	assert_non_null(strstr(buf_data(log), "H|Content-Type: multipart"));
	assert_non_null(strstr(buf_data(log), "B|X-Part: p1\n"));
	assert_non_null(strstr(buf_data(log), "B|Subject: inner\n"));
	assert_null(strstr(buf_data(log), "M|"));
	assert_null(strstr(buf_data(log), "N|"));
	buf_free(&log);
	buf_free(&out);
}

static void test_edit_and_stop(void **state)
{
	struct buf *log = buf_new(), *out = buf_new();

	(void)state;
	run("A: DROP me\r\n"
	    " continued\r\n"
	    "B: PRE this\r\n"
	    "\r\n"
	    "body DROP\r\n"
	    "body PRE\r\n"
	    "body STOP\r\n"
	    "body DROP not looked at\r\n",
	    5, false, 51200, log, out);
	assert_string_equal(buf_data(out), "X-Pre: 1\r\n"
					   "B: PRE this\r\n"
					   "\r\n"
					   "pre line\r\n"
					   "body PRE\r\n"
					   "body STOP\r\n"
					   "body DROP not looked at\r\n");
	assert_null(strstr(buf_data(log), "not looked at"));
	buf_free(&log);
	buf_free(&out);
}

static void test_body_limit(void **state)
{
	struct buf *log = buf_new(), *out = buf_new();

	(void)state;
	/* 10-byte lines, limit 25: the first three are looked at. */
	run("S: x\r\n\r\nline 0001\nline 0002\nline 0003\nline 0004\n", 3,
	    false, 25, log, out);
	assert_string_equal(buf_data(log), "H|S: x\nB|line 0001\n"
					   "B|line 0002\nB|line 0003\n");
	buf_free(&log);
	buf_free(&out);
}

static void test_odd_input(void **state)
{
	struct buf *log = buf_new(), *out = buf_new();
	static const char msg[] = "no header line\r\n"
				  "X: y\r\n"
				  "last without end";

	(void)state;
	/* The first line is no field: everything is body. */
	run(msg, 2, false, 51200, log, out);
	assert_string_equal(buf_data(log), "B|no header line\nB|X: y\n"
					   "B|last without end\n");
	assert_string_equal(buf_data(out), msg);
	buf_reset(log);
	buf_reset(out);
	/* A header that never ends (no body): its last field is checked. */
	run("A: 1\r\nB: 2", 1, false, 51200, log, out);
	assert_string_equal(buf_data(log), "H|A: 1\nH|B: 2\n");
	assert_string_equal(buf_data(out), "A: 1\r\nB: 2");
	buf_reset(log);
	buf_reset(out);
	/* A field over header_size_limit passes unchecked. */
	struct buf *big = buf_new();
	buf_append_str(big, "Big: x\r\n");
	for (int i = 0; i < 200; i++)
		buf_append_str(big, " continued line\r\n");
	buf_append_str(big, "Small: y\r\n\r\nbody\r\n");
	run(buf_data(big), 13, false, 51200, log, out);
	assert_string_equal(buf_data(log), "H|Small: y\nB|body\n");
	assert_string_equal(buf_data(out), buf_data(big));
	buf_free(&big);
	buf_free(&log);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_action_parse),
	    cmocka_unit_test(test_tables),
	    cmocka_unit_test(test_no_mime),
	    cmocka_unit_test(test_edit_and_stop),
	    cmocka_unit_test(test_body_limit),
	    cmocka_unit_test(test_odd_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
