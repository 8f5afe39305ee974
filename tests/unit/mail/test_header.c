/*
 * test_header - header field iteration, HEADER.FIELDS extraction, RFC 2047,
 * RFC 5322 address lists and dates, base subjects.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/header.h"

static const char HDR[] =
	"Received: from a\n"
	"\tby b; Fri, 1 Jan 2021 00:00:00 +0000\n"
	"Subject: Hello\n"
	" world\n"
	"no colon line\n"
	"X-Spaced : value\n"
	"To: x@y\n"
	"subject: second\n"
	"\n"
	"Body: not a header\n";

static void test_iter(void **state)
{
	(void)state;
	struct header_iter it;
	struct header_field f;
	const char *names[] = {"Received", "Subject", "X-Spaced", "To",
			       "subject"};
	size_t n = 0;
	header_iter_init(&it, HDR, strlen(HDR));
	while (header_iter_next(&it, &f)) {
		assert_true(n < 5);
		assert_int_equal(f.name_len, strlen(names[n]));
		assert_memory_equal(f.name, names[n], f.name_len);
		n++;
	}
	assert_int_equal(n, 5);

	struct buf *b = buf_new();
	assert_true(header_get(HDR, strlen(HDR), "SUBJECT", b));
	assert_string_equal(buf_data(b), "Hello world");
	assert_true(header_get(HDR, strlen(HDR), "x-spaced", b));
	assert_string_equal(buf_data(b), "value");
	assert_false(header_get(HDR, strlen(HDR), "Body", b));
	assert_false(header_get(HDR, strlen(HDR), "no colon line", b));
	buf_free(&b);
}

static void test_fields_extract(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	const char *names[] = {"subject", "TO"};
	header_fields_extract(HDR, strlen(HDR), names, 2, false, b);
	assert_string_equal(buf_data(b), "Subject: Hello\r\n world\r\n"
					 "To: x@y\r\n"
					 "subject: second\r\n\r\n");
	buf_reset(b);
	header_fields_extract(HDR, strlen(HDR), names, 2, true, b);
	assert_string_equal(buf_data(b),
			    "Received: from a\r\n\tby b; Fri, 1 Jan 2021 "
			    "00:00:00 +0000\r\nX-Spaced : value\r\n\r\n");
	buf_reset(b);
	const char *none[] = {"x-none"};
	header_fields_extract(HDR, strlen(HDR), none, 1, false, b);
	assert_string_equal(buf_data(b), "\r\n");
	/* CRLF input stays CRLF; a last field without a line end gets one. */
	buf_reset(b);
	const char crlf[] = "A: 1\r\nB: 2";
	const char *ab[] = {"a", "b"};
	header_fields_extract(crlf, strlen(crlf), ab, 2, false, b);
	assert_string_equal(buf_data(b), "A: 1\r\nB: 2\r\n\r\n");
	buf_free(&b);
}

struct dec_case {
	const char *in, *out;
};

static const struct dec_case dec_cases[] = {
	{"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld Jørn Simonsen"},
	{"=?utf-8?B?0JjQstCw0L0=?=", "Иван"},
	{"=?ISO-2022-JP?B?GyRCJEskWyRzJDQbKEI=?=", "にほんご"},
	{"=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=", "Привет"},
	{"=?windows-1252?Q?=80uro?=", "€uro"},
	{"=?gb2312?B?xOO6ww==?=", "你好"},
	{"=?iso-8859-15?q?=A4?=", "€"},
	{"=?big5?B?pKSk5Q==?=", "中文"},
	{"=?shift_jis?B?k/qWe4zq?=", "日本語"},
	{"=?euc-kr?B?x9Gxub7u?=", "한국어"},
	/* blanks between encoded words vanish, others stay */
	{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
	{"=?utf-8?q?a?=\n  =?utf-8?q?b?=", "ab"},
	{"x =?utf-8?q?a?= y", "x a y"},
	/* a UTF-8 character split across two words */
	{"=?utf-8?B?ww==?= =?utf-8?B?pA==?=", "\xc3\xa4"},
	{"=?utf-8?q?=C3?= =?utf-8?q?=A4?=", "ä"},
	/* RFC 2231 language in the charset */
	{"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
	/* broken: kept as they are */
	{"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
	{"=?utf-8?q?no end", "=?utf-8?q?no end"},
	{"=??q?x?=", "=??q?x?="},
	/* unknown charset: bytes kept readable */
	{"=?x-unknown-cs?q?abc?=", "abc"},
	{"=?x-bogus?q?a=FFb?=", "a\xef\xbf\xbd" "b"},
	/* invalid UTF-8 outside words is repaired */
	{"caf\xe9", "caf\xef\xbf\xbd"},
	{"plain text", "plain text"},
	{"", ""},
};

static void test_2047(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		buf_reset(b);
		header_decode_2047(dec_cases[i].in, strlen(dec_cases[i].in), b);
		if (strcmp(buf_data(b), dec_cases[i].out) != 0)
			fail_msg("case %zu '%s': got '%s' want '%s'", i,
				 dec_cases[i].in, buf_data(b),
				 dec_cases[i].out);
	}
	buf_free(&b);
}

/* Render an address list as name|route|mailbox|host;... */
static char *render(const char *in)
{
	struct header_address *list = header_address_parse(in, strlen(in), 0);
	struct buf *b = buf_new();
	for (struct header_address *a = list; a != NULL; a = a->next) {
		buf_printf(b, "%s|%s|%s|%s;", a->name ? a->name : "NIL",
			   a->route ? a->route : "NIL",
			   a->mailbox ? a->mailbox : "NIL",
			   a->host ? a->host : "NIL");
	}
	header_address_free(&list);
	assert_null(list);
	char *r = buf_steal(b);
	buf_free(&b);
	return r;
}

static const struct dec_case addr_cases[] = {
	{"a@b.example", "NIL|NIL|a|b.example;"},
	{"John Doe <jdoe@machine.example>",
	 "John Doe|NIL|jdoe|machine.example;"},
	{"\"Joe Q. Public\" <john.q.public@example.com>",
	 "Joe Q. Public|NIL|john.q.public|example.com;"},
	{"Joe Q. Public <j@x>", "Joe Q. Public|NIL|j|x;"},
	{"Mary <@a.tld,@b.tld:mary@x.example>", "Mary|@a.tld,@b.tld|mary|x.example;"},
	{"a@b (Comment Name)", "Comment Name|NIL|a|b;"},
	{"\"a b\"@example.com", "NIL|NIL|a b|example.com;"},
	{"user@[192.0.2.1]", "NIL|NIL|user|[192.0.2.1];"},
	{"A Group:Ed <c@a.test>,joe@where.test;, z@z",
	 "NIL|NIL|A Group|NIL;Ed|NIL|c|a.test;NIL|NIL|joe|where.test;"
	 "NIL|NIL|NIL|NIL;NIL|NIL|z|z;"},
	{"undisclosed-recipients:;", "NIL|NIL|undisclosed-recipients|NIL;"
				     "NIL|NIL|NIL|NIL;"},
	{"list: a@b", "NIL|NIL|list|NIL;NIL|NIL|a|b;NIL|NIL|NIL|NIL;"},
	{"foo", "NIL|NIL|foo|MISSING_DOMAIN;"},
	{"<>", "NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN;"},
	{"a@b, , c@d", "NIL|NIL|a|b;NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN;"
		       "NIL|NIL|c|d;"},
	{"Joe <joe@x", "Joe|NIL|joe|SYNTAX_ERROR;"},
	{"jdoe@test   . example", "NIL|NIL|jdoe|test.example;"},
	{"=?utf-8?q?J=C3=B6rg?= <j@x>", "=?utf-8?q?J=C3=B6rg?=|NIL|j|x;"},
	{"\"\\\"quoted\\\"\" <q@x>", "\"quoted\"|NIL|q|x;"},
	{"", ""},
	{"   ", ""},
	{"(only a comment)", ""},
	{",,,", "NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN;NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN;"},
	{"<<<>>>@@@::;;", NULL}, /* junk: just must not crash */
	{"\"unterminated", "NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN;"},
	{"a@b\n\t(folded), c@d", "folded|NIL|a|b;NIL|NIL|c|d;"},
};

static void test_address(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]);
	     i++) {
		char *got = render(addr_cases[i].in);
		if (addr_cases[i].out != NULL &&
		    strcmp(got, addr_cases[i].out) != 0)
			fail_msg("case %zu '%s': got '%s' want '%s'", i,
				 addr_cases[i].in, got, addr_cases[i].out);
		free(got);
	}
	/* max limits the entries */
	const char *many = "a@b, c@d, e@f, g@h";
	struct header_address *l = header_address_parse(many, strlen(many), 2);
	assert_non_null(l);
	assert_non_null(l->next);
	assert_null(l->next->next);
	header_address_free(&l);
}

struct date_case {
	const char *in;
	long long t;
	int tz;
};

static const struct date_case date_cases[] = {
	{"Fri, 21 Nov 1997 09:55:06 -0600", 880127706, -360},
	{"Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120},
	{"Thu, 13 Feb 1969 23:32:54 -0330", -27723426, -210},
	{"21 Nov 97 09:55:06 GMT", 880106106, 0},
	{"Fri, 21 Nov 1997 09:55 -0600", 880127700, -360},
	{"  Fri ,  21  Nov  1997  09 : 55 : 06  EST", 880124106, -300},
	{"Fri, 21 Nov 1997 09:55:06 -0600 (CST)", 880127706, -360},
	{"21-Nov-1997 09:55:06 +0000", 880106106, 0},
	{"1 Jan 2049 00:00:00 +0000", 2493072000, 0},
	{"1 Jan 50 00:00:00 +0000", -631152000, 0},
	{"Mon, 1 Jan 2001 00:00:00 Z", 978307200, 0},
	{"Mon, 1 Jan 2001 00:00:00", 978307200, 0},
};

static void test_date(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]);
	     i++) {
		time_t t;
		int tz;
		if (!header_date_parse(date_cases[i].in,
				       strlen(date_cases[i].in), &t, &tz))
			fail_msg("case %zu '%s' not parsed", i,
				 date_cases[i].in);
		if ((long long)t != date_cases[i].t || tz != date_cases[i].tz)
			fail_msg("case %zu '%s': got %lld %d want %lld %d", i,
				 date_cases[i].in, (long long)t, tz,
				 date_cases[i].t, date_cases[i].tz);
	}
	const char *bad[] = {"", "yesterday", "32 Jan 2020 00:00 +0000",
			     "1 Foo 2020 00:00 +0000", "1 Jan 2020",
			     "1 Jan 2020 25:00 +0000",
			     "1 Jan 2020 10:00 +0099",
			     "Thu, 13 Feb 1969 23:32:54 -8330 (Newfoundland Time)"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		int tz;
		if (header_date_parse(bad[i], strlen(bad[i]), &t, &tz))
			fail_msg("'%s' should not parse", bad[i]);
	}
}

static void test_base_subject(void **state)
{
	(void)state;
	static const struct dec_case cases[] = {
		{"Re: hello", "hello"},
		{"RE: Fwd: [list] Re:  hello   world (fwd)", "hello world"},
		{"[Fwd: important]", "important"},
		{"=?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?=", "Grüße"},
		{"[only blob]", "[only blob]"},
		{"Fw[tag]: x", "x"},
		{"", ""},
	};
	struct buf *b = buf_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		header_base_subject(cases[i].in, strlen(cases[i].in), b);
		if (strcmp(buf_data(b), cases[i].out) != 0)
			fail_msg("case %zu '%s': got '%s' want '%s'", i,
				 cases[i].in, buf_data(b), cases[i].out);
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iter),
		cmocka_unit_test(test_fields_extract),
		cmocka_unit_test(test_2047),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_base_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
