/*
 * test_mime_decode - base64, quoted-printable, charsets, UTF-8 repair, the
 * text extractor and the RFC 8970 preview, and the IMAP string writers.
 */
#include "test.h"

#include <string.h>

#include "core/buf.h"
#include "imap/imap_envelope.h"
#include "imap/imap_quote.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"
#include "mail/preview.h"

static void test_cte_parse(void **state)
{
	(void)state;
	assert_int_equal(mime_cte_parse(NULL), MIME_CTE_7BIT);
	assert_int_equal(mime_cte_parse(""), MIME_CTE_7BIT);
	assert_int_equal(mime_cte_parse("BASE64"), MIME_CTE_BASE64);
	assert_int_equal(mime_cte_parse(" Quoted-Printable (c)"), MIME_CTE_QP);
	assert_int_equal(mime_cte_parse("8bit"), MIME_CTE_8BIT);
	assert_int_equal(mime_cte_parse("binary"), MIME_CTE_BINARY);
	assert_int_equal(mime_cte_parse("x-uuencode"), MIME_CTE_UNKNOWN);
	assert_int_equal(mime_cte_parse("base64x"), MIME_CTE_UNKNOWN);
	struct buf *b = buf_new();
	assert_int_equal(mime_decode_cte(MIME_CTE_UNKNOWN, "x", 1, b), -1);
	assert_int_equal(buf_len(b), 0);
	buf_free(&b);
}

static void test_base64(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	assert_true(mime_base64_decode("aGVsbG8gd29ybGQ=", 16, b));
	assert_string_equal(buf_data(b), "hello world");
	buf_reset(b);
	/* line breaks and junk are skipped; junk is reported */
	assert_false(mime_base64_decode("aGVs\r\nbG8*gd29y\nbGQ", 19, b));
	assert_string_equal(buf_data(b), "hello world");
	buf_reset(b);
	/* concatenated encodings after padding */
	assert_true(mime_base64_decode("YQ==Yg==", 8, b));
	assert_string_equal(buf_data(b), "ab");
	/* round trip */
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	struct buf *enc = buf_new();
	mime_base64_encode(all, 256, true, enc);
	buf_reset(b);
	assert_true(mime_base64_decode(buf_data(enc), buf_len(enc), b));
	assert_int_equal(buf_len(b), 256);
	assert_memory_equal(buf_data(b), all, 256);
	buf_free(&enc);
	buf_free(&b);
}

static void test_qp(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	const char *in = "Gr=C3=BC=C3=9Fe   \nsoft =\nbreak=20\r\nend=";
	assert_true(mime_qp_decode(in, strlen(in), b));
	assert_string_equal(buf_data(b), "Grüße\nsoft break \r\nend");
	buf_reset(b);
	/* broken escapes are kept */
	assert_false(mime_qp_decode("a=ZZb=4", 7, b));
	assert_string_equal(buf_data(b), "a=ZZb=4");
	buf_reset(b);
	mime_q_decode("a_b=3F", 6, b);
	assert_string_equal(buf_data(b), "a b?");
	buf_free(&b);
}

static void test_charset(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	assert_int_equal(mime_charset_to_utf8("ISO-8859-1", "caf\xe9", 4, b), 0);
	assert_string_equal(buf_data(b), "café");
	buf_reset(b);
	assert_int_equal(mime_charset_to_utf8("windows-1251", "\xcf\xf0\xe8", 3,
					      b),
			 0);
	assert_string_equal(buf_data(b), "При");
	buf_reset(b);
	/* invalid sequences become U+FFFD, the rest survives */
	assert_int_equal(mime_charset_to_utf8("utf-8", "a\xff" "b", 3, b), 0);
	assert_string_equal(buf_data(b), "a\xef\xbf\xbd" "b");
	buf_reset(b);
	assert_int_equal(mime_charset_to_utf8("shift_jis", "\x82\xa0\x82", 3, b),
			 0);
	assert_true(mime_utf8_valid(buf_data(b), buf_len(b)));
	assert_non_null(strstr(buf_data(b), "あ"));
	buf_reset(b);
	assert_int_equal(mime_charset_to_utf8("x-no-such", "abc\xe9", 4, b), -1);
	assert_string_equal(buf_data(b), "abc\xef\xbf\xbd");
	assert_false(mime_charset_known("x-no-such"));
	assert_false(mime_charset_known("UTF-8//TRANSLIT"));
	assert_false(mime_charset_known("../../etc/x"));
	assert_true(mime_charset_known("koi8-r"));
	assert_true(mime_charset_known(NULL));
	/* UTF-8 validity edge cases */
	assert_false(mime_utf8_valid("\xc0\x80", 2));	  /* overlong */
	assert_false(mime_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(mime_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_true(mime_utf8_valid("\xf0\x9f\x98\x80", 4));
	buf_free(&b);
}

static void test_html(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	const char *h = "<html><head><title>T</title><style>p{}</style></head>"
			"<body><script>var x='<p>';</script><!-- c -->"
			"<p>A&amp;B &lt;&#233;&#x263a;&nbsp;&bogus;</p></body>";
	mail_html_to_text(h, strlen(h), b);
	assert_non_null(strstr(buf_data(b), "A&B <é☺\xc2\xa0&bogus;"));
	assert_null(strstr(buf_data(b), "var"));
	assert_null(strstr(buf_data(b), "p{}"));
	assert_null(strstr(buf_data(b), " c "));
	buf_free(&b);
}

static const char MSG[] =
	"From: a@b\n"
	"Content-Type: multipart/mixed; boundary=m\n"
	"\n"
	"--m\n"
	"Content-Type: multipart/alternative; boundary=a\n"
	"\n"
	"--a\n"
	"Content-Type: text/plain; charset=iso-8859-1\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"Gr=FC=DFe   aus\n"
	"\n"
	"  K=F6ln!\n"
	"--a\n"
	"Content-Type: text/html\n"
	"\n"
	"<p>html version</p>\n"
	"--a--\n"
	"--m\n"
	"Content-Type: text/plain\n"
	"Content-Disposition: attachment; filename=a.txt\n"
	"\n"
	"attached text\n"
	"--m\n"
	"Content-Type: text/html; charset=utf-8\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"PHA+U2Vjb25kICZhbXA7IHRoaXJkPC9wPg==\n"
	"--m--\n";

static void test_extract_preview(void **state)
{
	(void)state;
	struct mime_message *m = mime_parse(MSG, strlen(MSG));
	struct buf *b = buf_new();
	mail_text_extract(m, 0, b);
	assert_non_null(strstr(buf_data(b), "Grüße   aus"));
	assert_non_null(strstr(buf_data(b), "Second & third"));
	assert_null(strstr(buf_data(b), "html version")); /* alternative */
	assert_null(strstr(buf_data(b), "attached text"));
	mail_preview(m, b);
	assert_string_equal(buf_data(b), "Grüße aus Köln!");
	mime_message_free(&m);

	/* 200 characters, cut on a character boundary */
	struct buf *big = buf_new();
	buf_append_str(big, "Content-Type: text/plain; charset=utf-8\n\n");
	for (int i = 0; i < 300; i++)
		buf_append_str(big, "ä");
	m = mime_parse(buf_data(big), buf_len(big));
	mail_preview(m, b);
	assert_int_equal(buf_len(b), 400);
	assert_true(mime_utf8_valid(buf_data(b), buf_len(b)));
	buf_reset(b);
	mail_text_extract(m, 101, b);
	assert_int_equal(buf_len(b), 100);
	mime_message_free(&m);
	buf_free(&big);

	/* no text part: empty preview */
	const char bin[] = "Content-Type: image/png\n\nxxxx";
	m = mime_parse(bin, strlen(bin));
	mail_preview(m, b);
	assert_string_equal(buf_data(b), "");
	mime_message_free(&m);
	buf_free(&b);
}

static void test_quote(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	imap_append_quoted_str(b, "a \"b\" \\c", 0);
	assert_string_equal(buf_data(b), "\"a \\\"b\\\" \\\\c\"");
	buf_reset(b);
	imap_append_quoted_str(b, "\"\"\"\"\"", 0); /* 5 escapes */
	assert_string_equal(buf_data(b), "{5}\r\n\"\"\"\"\"");
	buf_reset(b);
	imap_append_quoted_str(b, "line\r\nbreak", 0);
	assert_string_equal(buf_data(b), "{11}\r\nline\r\nbreak");
	buf_reset(b);
	imap_append_quoted_str(b, "line\r\nbreak", IMAP_QUOTE_NOLF);
	assert_string_equal(buf_data(b), "\"linebreak\"");
	buf_reset(b);
	imap_append_quoted_str(b, "Grüße", 0);
	assert_string_equal(buf_data(b), "{7}\r\nGrüße");
	buf_reset(b);
	imap_append_quoted_str(b, "Grüße", IMAP_QUOTE_UTF8);
	assert_string_equal(buf_data(b), "\"Grüße\"");
	buf_reset(b);
	imap_append_quoted_str(b, "caf\xe9", IMAP_QUOTE_UTF8); /* latin-1 */
	assert_string_equal(buf_data(b), "{4}\r\ncaf\xe9");
	buf_reset(b);
	imap_append_nstring_str(b, NULL, 0);
	assert_string_equal(buf_data(b), "NIL");
	buf_reset(b);
	imap_append_nstring(b, "", 0, 0);
	assert_string_equal(buf_data(b), "\"\"");
	buf_reset(b);
	imap_append_astring(b, "INBOX.Sent]", 11, 0);
	assert_string_equal(buf_data(b), "INBOX.Sent]");
	buf_reset(b);
	imap_append_astring(b, "NIL", 3, 0);
	assert_string_equal(buf_data(b), "\"NIL\"");
	buf_reset(b);
	imap_append_astring(b, "a b", 3, 0);
	assert_string_equal(buf_data(b), "\"a b\"");
	buf_reset(b);
	imap_append_astring(b, "", 0, 0);
	assert_string_equal(buf_data(b), "\"\"");
	buf_reset(b);
	imap_append_literal8(b, "\0x", 2);
	assert_int_equal(buf_len(b), 8);
	assert_memory_equal(buf_data(b), "~{2}\r\n\0x", 8);
	/* for humans: Dovecot's tests */
	static const char *const hum[][2] = {
		{"", "\"\""},	       {" \t ", "\"\""},
		{" foo", "{3}\r\nfoo"}, {" foo  \t  \t", "{3}\r\nfoo"},
		{"a  b", "{3}\r\na b"}, {"a b", "\"a b\""},
		{"a\"b", "{3}\r\na\"b"}, {"x\n y", "{3}\r\nx y"},
	};
	for (size_t i = 0; i < sizeof(hum) / sizeof(hum[0]); i++) {
		buf_reset(b);
		imap_append_string_for_humans(b, hum[i][0], strlen(hum[i][0]),
					      0);
		if (strcmp(buf_data(b), hum[i][1]) != 0)
			fail_msg("humans '%s': got '%s'", hum[i][0],
				 buf_data(b));
	}
	buf_free(&b);
}

static void test_envelope_utf8(void **state)
{
	(void)state;
	const char hdr[] = "Subject: Grüße\nFrom: Jörg <j@x>\n\n";
	struct buf *b = buf_new();
	imap_envelope_write(b, hdr, strlen(hdr), IMAP_QUOTE_UTF8);
	assert_string_equal(buf_data(b),
			    "(NIL \"Grüße\" ((\"Jörg\" NIL \"j\" \"x\")) "
			    "((\"Jörg\" NIL \"j\" \"x\")) ((\"Jörg\" NIL \"j\" "
			    "\"x\")) NIL NIL NIL NIL NIL)");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cte_parse),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_extract_preview),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_envelope_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
