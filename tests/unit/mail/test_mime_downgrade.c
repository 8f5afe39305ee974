/*
 * test_mime_downgrade - 8-bit to 7-bit conversion: exact output for the
 * simple cases, and the shared round-trip check (mime_downgrade_check.h)
 * for nested multiparts, message/rfc822, long lines and both line ends.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mime_downgrade_check.h"

/* Downgrade, require success and a clean round trip; returns the output. */
static struct buf *down(const char *in)
{
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_downgrade_7bit(in, strlen(in), out, &err), 0);
	const char *why = mdc_check(in, strlen(in), buf_data(out),
				    buf_len(out));
	if (why != NULL)
		fail_msg("round trip: %s\n%s", why, buf_data(out));
	return out;
}

/* Replace every "\n" by "\r\n". */
static char *crlf(const char *s)
{
	struct buf *b = buf_new();
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			buf_append_char(b, '\r');
		buf_append_char(b, *s);
	}
	char *text = buf_steal(b);
	buf_free(&b);
	return text;
}

static void test_is_8bit(void **state)
{
	(void)state;
	assert_false(mime_is_8bit("Subject: x\n\nhello\n", 18));
	assert_true(mime_is_8bit("a\xc3\xa9", 3));
	assert_true(mime_is_8bit("a\0b", 3));
	assert_false(mime_is_8bit("", 0));
}

static void test_seven_bit_unchanged(void **state)
{
	(void)state;
	/* Already 7-bit: byte for byte, even the 8bit label and a long
	 * line (the caller only downgrades 8-bit mail). */
	char longline[1200];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	struct buf *in = buf_new();
	buf_printf(in, "From: a@example.org\nContent-Transfer-Encoding: 8bit\n"
		       "\n%s\n",
		   longline);
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_downgrade_7bit(buf_data(in), buf_len(in), out,
					     &err),
			 0);
	assert_true(buf_len(out) == buf_len(in));
	assert_memory_equal(buf_data(out), buf_data(in), buf_len(in));
	buf_free(&in);
	buf_free(&out);
}

static void test_simple_text(void **state)
{
	(void)state;
	struct buf *out = down("From: a@example.org\n"
			       "Content-Type: text/plain; charset=utf-8\n"
			       "\n"
			       "Gr\xc3\xbc\xc3\x9f" "e = fine \n"
			       "-- \n"
			       "sig\n");
	assert_string_equal(buf_data(out),
			    "From: a@example.org\n"
			    "Content-Type: text/plain; charset=utf-8\n"
			    "MIME-Version: 1.0\n"
			    "Content-Transfer-Encoding: quoted-printable\n"
			    "\n"
			    "Gr=C3=BC=C3=9Fe =3D fine=20\n"
			    "=2D-=20\n"
			    "sig\n");
	buf_free(&out);
}

static void test_no_mime_headers(void **state)
{
	(void)state;
	/* Postfix-style upgrade: MIME-Version and the encoding are added,
	 * nothing else; an existing 8bit label is replaced in place. */
	struct buf *out = down("Subject: hi\n\ncaf\xc3\xa9\n");
	assert_string_equal(buf_data(out),
			    "Subject: hi\nMIME-Version: 1.0\n"
			    "Content-Transfer-Encoding: quoted-printable\n"
			    "\ncaf=C3=A9\n");
	buf_free(&out);
	out = down("MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n"
		   "Subject: hi\n\ncaf\xc3\xa9");
	assert_string_equal(buf_data(out),
			    "MIME-Version: 1.0\n"
			    "Content-Transfer-Encoding: quoted-printable\n"
			    "Subject: hi\n\ncaf=C3=A9");
	buf_free(&out);
}

static void test_header_8bit_perm(void **state)
{
	(void)state;
	const char *in[] = {
		"Subject: caf\xc3\xa9\n\nbody\n",
		"Subject: x\n\n\xff\n",
	};
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_downgrade_7bit(in[0], strlen(in[0]), out, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
	/* In an encapsulated message's header: also permanent. */
	const char *inner = "MIME-Version: 1.0\n"
			    "Content-Type: message/rfc822\n\n"
			    "Subject: \xc3\xa9t\xc3\xa9\n\nbody\n";
	buf_reset(out);
	assert_int_equal(mime_downgrade_7bit(inner, strlen(inner), out, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
	/* In a body part's MIME header. */
	const char *part = "Content-Type: multipart/mixed; boundary=b\n\n"
			   "--b\nContent-Disposition: attachment; "
			   "filename=\"\xc3\xa9.txt\"\n\nx\n--b--\n";
	buf_reset(out);
	assert_int_equal(mime_downgrade_7bit(part, strlen(part), out, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_free(&out);
	out = down(in[1]);
	buf_free(&out);
}

static const char nested[] =
	"From: a@example.org\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=outer\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"preamble \xe9t\xe9\n"
	"--outer\n"
	"Content-Type: multipart/alternative; boundary=inner\n"
	"\n"
	"--inner\n"
	"Content-Type: text/plain; charset=iso-8859-1\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"caf\xe9 --inner not a boundary\n"
	"--inner\n"
	"Content-Type: text/html; charset=utf-8\n"
	"\n"
	"<p>caf\xc3\xa9</p>\t\n"
	"--inner--\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"Subject: inner\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"\n"
	"\xc3\xbc\xc3\xbc\n"
	"--outer\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"aGVs\xff" "bG8=\n"
	"--outer\n"
	"Content-Type: text/plain\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"raw \xc3\xa9 and =C3=A9=\n"
	"\n"
	"--outer\n"
	"Content-Type: text/plain\n"
	"\n"
	"plain seven bit\n"
	"--outer--\n"
	"epilogue \xff\n";

static void check_nested(const char *in)
{
	struct buf *out = down(in);
	const char *o = buf_data(out);
	/* containers relabelled, leaves encoded */
	assert_non_null(strstr(o, "boundary=outer\n"
				  "Content-Transfer-Encoding: 7bit"));
	assert_non_null(strstr(o, "Content-Type: message/rfc822\n"
				  "Content-Transfer-Encoding: 7bit"));
	assert_non_null(strstr(o, "caf=E9 --inner not a boundary"));
	assert_non_null(strstr(o, "<p>caf=C3=A9</p>=09"));
	assert_non_null(strstr(o, "Content-Type: text/html; charset=utf-8\n"
				  "Content-Transfer-Encoding: "
				  "quoted-printable\n\n"));
	assert_non_null(strstr(o, "aGVsbG8=\n--outer"));
	assert_non_null(strstr(o, "raw =C3=A9 and =C3=A9\n--outer"));
	assert_non_null(strstr(o, "plain seven bit\n--outer--\nepilogue ?\n"));
	assert_non_null(strstr(o, "preamble ?t?\n"));
	/* a header-only change: no MIME-Version added twice */
	assert_null(strstr(strstr(o, "MIME-Version") + 1, "MIME-Version"));
	buf_free(&out);
}

static void test_nested(void **state)
{
	(void)state;
	check_nested(nested);
}

static void test_crlf(void **state)
{
	(void)state;
	char *c = crlf(nested);
	struct buf *out = down(c);
	const char *o = buf_data(out);
	/* every line end stays CRLF, also the added ones */
	for (size_t i = 0; i < buf_len(out); i++) {
		if (o[i] == '\n')
			assert_true(i > 0 && o[i - 1] == '\r');
	}
	assert_non_null(strstr(o, "Content-Type: text/html; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: "
				  "quoted-printable\r\n\r\n"));
	buf_free(&out);
	free(c);
	c = crlf("Subject: x\n\n"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n");
	out = down(c);
	/* soft breaks use the message's line end too */
	assert_non_null(strstr(buf_data(out), "=\r\n"));
	assert_null(strstr(buf_data(out), "=\n"));
	buf_free(&out);
	free(c);
}

static void test_long_lines(void **state)
{
	(void)state;
	struct buf *in = buf_new();
	buf_append_str(in, "Subject: long\n\n");
	for (int i = 0; i < 3000; i++)
		buf_append_str(in, i % 7 == 0 ? "\xc3\xa9" : (i % 5 ? "a" : "-"));
	buf_append_str(in, " \n");
	for (int i = 0; i < 2000; i++)
		buf_append_char(in, i % 80 == 74 ? '-' : 'z');
	buf_append_str(in, "\n");
	struct buf *out = down(buf_data(in));
	/* QP lines stay within RFC 2045's 76, and no line starts with '-'
	 * (it could otherwise meet an enclosing boundary). */
	const char *body = strstr(buf_data(out), "\n\n") + 2;
	size_t col = 0;
	for (const char *p = body; *p != '\0'; p++) {
		if (*p == '\n') {
			col = 0;
			continue;
		}
		if (col == 0)
			assert_true(*p != '-');
		col++;
		assert_true(col <= 76);
	}
	buf_free(&out);
	buf_free(&in);
}

static void test_binary_bytes(void **state)
{
	(void)state;
	/* NUL, bare CR, trailing blank at the end, every byte value */
	struct buf *in = buf_new();
	buf_append_str(in, "Content-Type: application/octet-stream\n"
			   "Content-Transfer-Encoding: binary\n\n");
	for (int round = 0; round < 3; round++)
		for (int c = 0; c < 256; c++)
			buf_append_char(in, (char)c);
	buf_append_str(in, "\r \t");
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_downgrade_7bit(buf_data(in), buf_len(in), out,
					     &err),
			 0);
	const char *why = mdc_check(buf_data(in), buf_len(in), buf_data(out),
				    buf_len(out));
	if (why != NULL)
		fail_msg("%s", why);
	assert_non_null(strstr(buf_data(out), "=0D =09"));
	buf_free(&out);
	buf_free(&in);
}

static void test_message_global(void **state)
{
	(void)state;
	/* message/global may hold UTF-8 headers: encoded whole. */
	struct buf *out = down("MIME-Version: 1.0\n"
			       "Content-Type: multipart/mixed; boundary=b\n\n"
			       "--b\nContent-Type: message/global\n\n"
			       "Subject: \xc3\xa9t\xc3\xa9\n\nbody\n"
			       "--b--\n");
	assert_non_null(strstr(buf_data(out),
			       "Content-Type: message/global\n"
			       "Content-Transfer-Encoding: quoted-printable\n"
			       "\nSubject: =C3=A9t=C3=A9\n\nbody\n--b--"));
	buf_free(&out);
}

static void test_unknown_cte(void **state)
{
	(void)state;
	const char *in = "Content-Transfer-Encoding: x-uuencode\n\n\xff\n";
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_downgrade_7bit(in, strlen(in), out, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_free(&out);
}

/* An 8-bit byte in a preamble line must not turn the line into a
 * boundary: "--a\xff" inside the inner multipart became "--a?", the
 * outer boundary, and ended the inner part early (found by the fuzzer). */
static void test_gap_byte_not_a_boundary(void **state)
{
	(void)state;
	const char *in = "Content-Type: multipart/mixed; boundary=\"a?\"\n\n"
			 "--a?\nContent-Type: multipart/mixed; boundary=b\n\n"
			 "--a\xff\n--b\n\nx\n--b--\n--a?--\n";
	struct buf *out = down(in);
	assert_non_null(strstr(buf_data(out), "\n--a~\n--b\n"));
	buf_free(&out);

	/* When every byte a gap could use is in some boundary, the
	 * conversion fails (permanently) rather than change the tree. */
	struct buf *all = buf_new();
	buf_append_str(all, "Content-Type: multipart/mixed; boundary=\"");
	for (int c = 32; c < 127; c++) {
		if (c != '"' && c != '\\')
			buf_append_char(all, (char)c);
	}
	buf_append_str(all, "\"; boundary*0=\"\\\\\\\"");
	for (int c = 1; c < 32; c++) {
		if (c != '\r' && c != '\n')
			buf_append_char(all, (char)c);
	}
	buf_append_str(all, "\x7f\"\n\n\xff\n");
	struct error err;
	struct buf *out2 = buf_new();
	assert_int_equal(mime_downgrade_7bit(buf_data(all), buf_len(all),
					     out2, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_non_null(strstr(err.msg, "between MIME parts"));
	buf_free(&out2);
	buf_free(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_8bit),
		cmocka_unit_test(test_seven_bit_unchanged),
		cmocka_unit_test(test_simple_text),
		cmocka_unit_test(test_no_mime_headers),
		cmocka_unit_test(test_header_8bit_perm),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_binary_bytes),
		cmocka_unit_test(test_message_global),
		cmocka_unit_test(test_unknown_cte),
		cmocka_unit_test(test_gap_byte_not_a_boundary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
