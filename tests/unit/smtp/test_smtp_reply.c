/*
 * test_smtp_reply - building replies (one and multi-line, enhanced codes,
 * injection-safe text, length cut) and parsing received replies.
 */
#include "test.h"

#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_reply.h"

static void test_reply_set_write(void **state)
{
	struct smtp_reply r;
	struct buf *out = buf_new();

	assert_int_equal(
	    smtp_reply_set(&r, 555, "5.5.4", "Unsupported option: %s", "FOO"),
	    -1);
	assert_int_equal(smtp_reply_class(&r), 5);
	smtp_reply_write(&r, out);
	assert_string_equal(buf_data(out),
			    "555 5.5.4 Unsupported option: FOO\r\n");

	/* No enhanced code (greeting, EHLO), or an invalid one dropped. */
	buf_reset(out);
	smtp_reply_set(&r, 220, NULL, "mx ESMTP");
	smtp_reply_write(&r, out);
	assert_string_equal(buf_data(out), "220 mx ESMTP\r\n");
	buf_reset(out);
	smtp_reply_set(&r, 250, "9.9", "ok");
	assert_string_equal(r.enhanced, "");
	smtp_reply_write(&r, out);
	assert_string_equal(buf_data(out), "250 ok\r\n");

	/* Peer-controlled text cannot forge a reply line. */
	buf_reset(out);
	smtp_reply_set(&r, 550, "5.1.1", "<%s>: unknown",
		       "a@b\r\n250 2.0.0 Ok");
	smtp_reply_write(&r, out);
	assert_string_equal(buf_data(out),
			    "550 5.1.1 <a@b??250 2.0.0 Ok>: unknown\r\n");

	/* Empty text: no trailing space after the enhanced code. */
	buf_reset(out);
	smtp_reply_set(&r, 250, "2.0.0", "%s", "");
	smtp_reply_write(&r, out);
	assert_string_equal(buf_data(out), "250 2.0.0\r\n");

	smtp_reply_clear(&r);
	assert_int_equal(r.code, 0);
	assert_int_equal(smtp_reply_class(&r), 0);
	buf_free(&out);
}

static void test_reply_line_limit(void **state)
{
	struct smtp_reply r;
	struct buf *out = buf_new();
	char big[2000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smtp_reply_set(&r, 550, "5.7.1", "%s", big);
	smtp_reply_write(&r, out);
	assert_int_equal(buf_len(out), SMTP_REPLY_LINE_MAX);
	assert_memory_equal(buf_data(out), "550 5.7.1 xxx", 13);
	assert_memory_equal(buf_data(out) + SMTP_REPLY_LINE_MAX - 2, "\r\n", 2);

	buf_reset(out);
	smtp_reply_write_line(out, 250, NULL, true, "%s", big);
	assert_int_equal(buf_len(out), SMTP_REPLY_LINE_MAX);
	buf_free(&out);
}

static void test_reply_multiline(void **state)
{
	struct buf *out = buf_new();

	smtp_reply_write_line(out, 250, NULL, false, "%s greets %s", "mx",
			      "client");
	smtp_reply_write_line(out, 250, NULL, false, "SIZE %u", 10240000u);
	smtp_reply_write_line(out, 250, NULL, true, "SMTPUTF8");
	assert_string_equal(buf_data(out), "250-mx greets client\r\n"
					   "250-SIZE 10240000\r\n"
					   "250 SMTPUTF8\r\n");

	buf_reset(out);
	smtp_reply_write_lines(out, 550, "5.7.1", "first\nsecond\nthird");
	assert_string_equal(buf_data(out), "550-5.7.1 first\r\n"
					   "550-5.7.1 second\r\n"
					   "550 5.7.1 third\r\n");
	buf_reset(out);
	smtp_reply_write_lines(out, 221, "2.0.0", "Bye");
	assert_string_equal(buf_data(out), "221 2.0.0 Bye\r\n");
	buf_reset(out);
	/* Out-of-range code from a caller bug: still a valid reply. */
	smtp_reply_write_lines(out, 99, NULL, "x");
	assert_string_equal(buf_data(out), "451 x\r\n");
	buf_free(&out);
}

static void test_enhanced_valid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
	    {"2.0.0", true},	 {"5.5.4", true},     {"4.7.1", true},
	    {"5.1.10", true},	 {"5.123.999", true}, {"3.0.0", false},
	    {"5.0", false},	 {"5..0", false},     {"5.0.", false},
	    {"5.1234.0", false}, {"5.0.0.0", false},  {"x.0.0", false},
	    {"", false},	 {"5.a.0", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (smtp_enhanced_valid(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("%s", cases[i].s);
}

/* --- parsing --- */

struct parse_step {
	const char *line;
	int ret;	      /* 1 complete, 0 more, -1 error */
	unsigned int code;    /* when complete */
	const char *enhanced; /* when complete */
	const char *joined;   /* the text lines joined with "|" */
};

struct parse_case {
	const char *name;
	struct parse_step steps[6];
};

static const struct parse_case parse_cases[] = {
    {"one line",
     {{"250 2.1.0 Ok", 1, 250, "2.1.0", "Ok"}, {NULL, 0, 0, NULL, NULL}}},
    {"no enhanced code",
     {{"220 mx.example ESMTP", 1, 220, "", "mx.example ESMTP"},
      {NULL, 0, 0, NULL, NULL}}},
    {"bare code", {{"250", 1, 250, "", ""}, {NULL, 0, 0, NULL, NULL}}},
    {"code and space", {{"354 ", 1, 354, "", ""}, {NULL, 0, 0, NULL, NULL}}},
    {"class mismatch is text",
     {{"550 2.0.0 odd", 1, 550, "", "2.0.0 odd"}, {NULL, 0, 0, NULL, NULL}}},
    {"EHLO multi-line",
     {{"250-mx.example", 0, 0, NULL, NULL},
      {"250-PIPELINING", 0, 0, NULL, NULL},
      {"250-SIZE 10240000", 0, 0, NULL, NULL},
      {"250 SMTPUTF8", 1, 250, "",
       "mx.example|PIPELINING|SIZE 10240000|"
       "SMTPUTF8"},
      {NULL, 0, 0, NULL, NULL}}},
    {"multi-line with enhanced codes",
     {{"550-5.7.1 first", 0, 0, NULL, NULL},
      {"550 5.7.1 second", 1, 550, "5.7.1", "first|second"},
      {NULL, 0, 0, NULL, NULL}}},
    {"LMTP replies in a row",
     {{"250 2.0.0 <a@x> Ok", 1, 250, "2.0.0", "<a@x> Ok"},
      {"452 4.2.2 <b@x> Mailbox full", 1, 452, "4.2.2", "<b@x> Mailbox full"},
      {"550 5.1.1 <c@x> Unknown", 1, 550, "5.1.1", "<c@x> Unknown"},
      {NULL, 0, 0, NULL, NULL}}},
    {"code changes mid-reply",
     {{"250-a", 0, 0, NULL, NULL},
      {"251 b", -1, 0, NULL, NULL},
      {"221 2.0.0 Bye", 1, 221, "2.0.0", "Bye"},
      {NULL, 0, 0, NULL, NULL}}},
    {"bad codes",
     {{"25 short", -1, 0, NULL, NULL},
      {"600 big", -1, 0, NULL, NULL},
      {"190 low", -1, 0, NULL, NULL},
      {"260 second digit", -1, 0, NULL, NULL},
      {"abc x", -1, 0, NULL, NULL},
      {NULL, 0, 0, NULL, NULL}}},
    {"bad separator",
     {{"250_x", -1, 0, NULL, NULL},
      {"2500", -1, 0, NULL, NULL},
      {"", -1, 0, NULL, NULL},
      {NULL, 0, 0, NULL, NULL}}},
    {"CR inside", {{"250 a\rb", -1, 0, NULL, NULL}, {NULL, 0, 0, NULL, NULL}}},
};

static void join_lines(const struct smtp_parsed_reply *r, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; i < array_len(r->lines); i++) {
		if (i > 0)
			buf_append_char(b, '|');
		buf_append_str(b, array_get(r->lines, i));
	}
}

static void test_reply_parse(void **state)
{
	struct buf *joined = buf_new();

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		struct smtp_reply_parser *p = smtp_reply_parser_new();

		for (const struct parse_step *s = parse_cases[i].steps;
		     s->line != NULL; s++) {
			const struct smtp_parsed_reply *r = NULL;
			struct error err;
			int ret = smtp_reply_parser_line(
			    p, s->line, strlen(s->line), &r, &err);

			if (ret != s->ret)
				fail_msg("%s: '%s' gave %d",
					 parse_cases[i].name, s->line, ret);
			if (ret == -1) {
				assert_int_equal(err.kind, ERR_PERM);
				assert_non_null(strstr(err.msg, "malformed"));
			}
			if (ret != 1)
				continue;
			assert_int_equal(r->code, s->code);
			assert_string_equal(r->enhanced, s->enhanced);
			join_lines(r, joined);
			assert_string_equal(buf_data(joined), s->joined);
		}
		smtp_reply_parser_free(&p);
		assert_null(p);
	}
	buf_free(&joined);
}

static void test_reply_parse_limits(void **state)
{
	struct smtp_reply_parser *p = smtp_reply_parser_new();
	const struct smtp_parsed_reply *r;
	struct error err;
	char line[SMTP_REPLY_PARSE_LINE_MAX + 2];
	static const char nul[] = "250 a\0b";

	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	assert_int_equal(smtp_reply_parser_line(
			     p, line, SMTP_REPLY_PARSE_LINE_MAX, &r, &err),
			 1);
	assert_int_equal(smtp_reply_parser_line(
			     p, line, SMTP_REPLY_PARSE_LINE_MAX + 1, &r, &err),
			 -1);
	assert_int_equal(
	    smtp_reply_parser_line(p, nul, sizeof(nul) - 1, &r, &err), -1);
	for (int i = 0; i < SMTP_REPLY_PARSE_LINES_MAX; i++)
		assert_int_equal(
		    smtp_reply_parser_line(p, "250-x", 5, &r, &err), 0);
	assert_int_equal(smtp_reply_parser_line(p, "250 x", 5, &r, &err), -1);
	assert_non_null(strstr(err.msg, "too many lines"));
	/* After an error the next line starts afresh. */
	assert_int_equal(smtp_reply_parser_line(p, "250 ok", 6, &r, &err), 1);
	assert_int_equal(array_len(r->lines), 1);

	/* What the builder writes, the parser reads back. */
	{
		struct buf *out = buf_new();
		const char *s, *nl;

		smtp_reply_write_lines(out, 550, "5.7.1", "one\ntwo");
		s = buf_data(out);
		assert_int_equal(smtp_reply_parser_line(p, s, 13, &r, &err), 0);
		nl = strstr(s, "\r\n") + 2;
		assert_int_equal(
		    smtp_reply_parser_line(p, nl, strlen(nl) - 2, &r, &err), 1);
		assert_int_equal(r->code, 550);
		assert_string_equal(r->enhanced, "5.7.1");
		assert_string_equal(array_get(r->lines, 0), "one");
		assert_string_equal(array_get(r->lines, 1), "two");
		buf_free(&out);
	}
	smtp_reply_parser_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_set_write),
	    cmocka_unit_test(test_reply_line_limit),
	    cmocka_unit_test(test_reply_multiline),
	    cmocka_unit_test(test_enhanced_valid),
	    cmocka_unit_test(test_reply_parse),
	    cmocka_unit_test(test_reply_parse_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
