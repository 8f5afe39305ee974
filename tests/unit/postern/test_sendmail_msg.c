/*
 * test_sendmail_msg - the message rewriting of `postern sendmail`:
 * end of input, line ends, -t extraction, Bcc removal, added headers,
 * address lists.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"
#include "sendmail_msg.h"

static struct sendmail_opts opts(bool t, bool i)
{
	struct sendmail_opts o = {
	    .ignore_dots = i,
	    .extract_rcpts = t,
	    .sender = "s@x.example",
	    .myhostname = "mx.example",
	    .now = 1700000000,
	    .unique = "U1",
	};
	return o;
}

/* Build; the message into *out_r (caller frees), recipients joined by
 * spaces into *rcpts_r. */
static int build(const char *in, const struct sendmail_opts *o, char **out_r,
		 char **rcpts_r)
{
	struct buf *out = buf_new(), *r = buf_new();
	struct array *rcpts = array_new();
	struct error err;
	int ret = sendmail_msg_build(in, strlen(in), o, out, rcpts, &err);

	for (size_t k = 0; k < array_len(rcpts); k++)
		buf_printf(r, "%s%s", k ? " " : "",
			   (char *)array_get(rcpts, k));
	*out_r = buf_steal(out);
	*rcpts_r = buf_steal(r);
	buf_free(&out);
	buf_free(&r);
	array_free_with(&rcpts, free);
	return ret;
}

static void test_headers_added_and_crlf(void **state)
{
	struct sendmail_opts o = opts(false, false);
	char *out, *rcpts;

	(void)state;
	assert_int_equal(build("Subject: x\n\nline\r\nlast", &o, &out, &rcpts),
			 0);
	assert_string_equal(out, "Subject: x\r\n"
				 "From: s@x.example\r\n"
				 "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
				 "Message-ID: <U1@mx.example>\r\n"
				 "\r\n"
				 "line\r\nlast\r\n");
	assert_string_equal(rcpts, "");
	free(out);
	free(rcpts);

	/* Present headers are kept as they are, not duplicated; -F. */
	o.full_name = "Cron Daemon";
	assert_int_equal(
	    build("Date: today\nMessage-Id: <a@b>\n\nx\n", &o, &out, &rcpts),
	    0);
	assert_string_equal(out, "Date: today\r\nMessage-Id: <a@b>\r\n"
				 "From: \"Cron Daemon\" <s@x.example>\r\n"
				 "\r\nx\r\n");
	free(out);
	free(rcpts);
}

static void test_from_quoting_and_null_sender(void **state)
{
	struct sendmail_opts o = opts(false, false);
	char *out, *rcpts;

	(void)state;
	o.full_name = "A \"B\" \\C\r\n";
	o.sender = "";
	assert_int_equal(build("Subject: s\n\nx\n", &o, &out, &rcpts), 0);
	assert_non_null(strstr(
	    out, "From: \"A \\\"B\\\" \\\\C\" <MAILER-DAEMON@mx.example>\r\n"));
	free(out);
	free(rcpts);
}

static void test_lone_dot(void **state)
{
	struct sendmail_opts o = opts(false, false);
	char *out, *rcpts;

	(void)state;
	assert_int_equal(build("From: a@b\n\none\n.\ntwo\n", &o, &out, &rcpts),
			 0);
	assert_non_null(strstr(out, "\r\n\r\none\r\n"));
	assert_null(strstr(out, "two"));
	free(out);
	free(rcpts);
	/* CRLF before the dot too; ".." is not a lone dot. */
	assert_int_equal(
	    build("From: a@b\r\n\r\n..\r\n.\r\nno\r\n", &o, &out, &rcpts), 0);
	assert_non_null(strstr(out, "\r\n\r\n..\r\n"));
	assert_null(strstr(out, "no\r\n"));
	free(out);
	free(rcpts);

	o.ignore_dots = true;
	assert_int_equal(build("From: a@b\n\none\n.\ntwo\n", &o, &out, &rcpts),
			 0);
	assert_non_null(strstr(out, "\r\n\r\none\r\n.\r\ntwo\r\n"));
	free(out);
	free(rcpts);
}

static void test_extract_and_bcc(void **state)
{
	struct sendmail_opts o = opts(true, true);
	char *out, *rcpts;

	(void)state;
	assert_int_equal(
	    build("From: a@b\n"
		  "To: \"Doe, J\" <J@D.Example>, k@d.example (Kay),\n"
		  "\tl@d.example\n"
		  "cc: list: m@d.example, root;\n"
		  "BCC: secret <n@d.example>\n"
		  " , o@d.example\n"
		  "Subject: To: not@here\n"
		  "\n"
		  "To: body@here\n",
		  &o, &out, &rcpts),
	    0);
	assert_string_equal(rcpts, "J@d.example k@d.example l@d.example "
				   "m@d.example root@mx.example n@d.example "
				   "o@d.example");
	/* Bcc and its continuation line are gone; the rest stays. */
	assert_null(strstr(out, "BCC"));
	assert_null(strstr(out, "secret"));
	assert_null(strstr(out, "o@d.example"));
	assert_non_null(strstr(out, "\tl@d.example\r\ncc: list:"));
	assert_non_null(strstr(out, "\r\n\r\nTo: body@here\r\n"));
	free(out);
	free(rcpts);

	/* Without -t nothing is extracted, but Bcc still goes. */
	o.extract_rcpts = false;
	assert_int_equal(
	    build("To: a@d.example\nBcc: b@d.example\n\nx\n", &o, &out, &rcpts),
	    0);
	assert_string_equal(rcpts, "");
	assert_null(strstr(out, "Bcc"));
	free(out);
	free(rcpts);
}

static void test_body_without_separator(void **state)
{
	struct sendmail_opts o = opts(false, false);
	char *out, *rcpts;

	(void)state;
	/* An mbox "From " line is dropped; a line that is no header starts
	 * the body (after the added headers and an empty line). */
	assert_int_equal(build("From someone Fri Nov 27\nSubject: s\n"
			       "just text\nmore\n",
			       &o, &out, &rcpts),
			 0);
	assert_true(strncmp(out, "Subject: s\r\nFrom: s@x.example\r\n", 31) ==
		    0);
	assert_non_null(strstr(out, ">\r\n\r\njust text\r\nmore\r\n"));
	assert_null(strstr(out, "someone"));
	free(out);
	free(rcpts);
}

static void test_bad_address(void **state)
{
	struct sendmail_opts o = opts(true, false);
	char *out, *rcpts;

	(void)state;
	assert_int_equal(build("To: a@@b\n\nx\n", &o, &out, &rcpts), -1);
	free(out);
	free(rcpts);
	assert_int_equal(build("To: <x@[bad\n\nx\n", &o, &out, &rcpts), -1);
	free(out);
	free(rcpts);
}

static void test_qualify(void **state)
{
	struct buf *b = buf_new();
	struct error err;

	(void)state;
	assert_int_equal(sendmail_qualify("root", "h.example", b, &err), 0);
	assert_string_equal(buf_data(b), "root@h.example");
	assert_int_equal(sendmail_qualify("<A@B.EXAMPLE>", "h", b, &err), 0);
	assert_string_equal(buf_data(b), "A@b.example");
	assert_int_equal(sendmail_qualify("<>", "h", b, &err), 0);
	assert_string_equal(buf_data(b), "");
	assert_int_equal(sendmail_qualify("", "h", b, &err), 0);
	assert_string_equal(buf_data(b), "");
	assert_int_equal(sendmail_qualify("a b@c", "h", b, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headers_added_and_crlf),
	    cmocka_unit_test(test_from_quoting_and_null_sender),
	    cmocka_unit_test(test_lone_dot),
	    cmocka_unit_test(test_extract_and_bcc),
	    cmocka_unit_test(test_body_without_separator),
	    cmocka_unit_test(test_bad_address),
	    cmocka_unit_test(test_qualify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
