/*
 * test_imap_parser - IMAP command parsing: tags, names, UID prefix,
 * atoms/quoted/literals/lists, FETCH section atoms, literal flows
 * (synchronising, LITERAL+, literal8, streamed, refused, discarded after
 * an error), limits and malformed input.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parser.h"

/* Render args as text: atom, "quoted", {n}literal, ~{n}lit8, NIL,
 * (list), <stream n>. */
static void dump(struct buf *out, const struct imap_arg *a)
{
	for (size_t i = 0; a[i].type != IMAP_ARG_EOL; i++) {
		if (i > 0)
			buf_append_char(out, ' ');
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			buf_append_str(out, a[i].str);
			break;
		case IMAP_ARG_NIL:
			buf_append_str(out, "NIL");
			break;
		case IMAP_ARG_QUOTED:
			buf_printf(out, "\"%s\"", a[i].str);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s{%zu}", a[i].literal8 ? "~" : "",
				   a[i].len);
			buf_append(out, a[i].str, a[i].len);
			break;
		case IMAP_ARG_STREAM:
			buf_printf(out, "<stream %zu %s>", a[i].len,
				   (const char *)a[i].stream);
			break;
		case IMAP_ARG_LIST:
			buf_append_char(out, '(');
			dump(out, a[i].list);
			buf_append_char(out, ')');
			break;
		default:
			buf_append_str(out, "?");
		}
	}
}

struct run {
	enum imap_parse_result r;
	char tag[64], name[64], args[4096], err[256];
	const char *code;
	bool uid;
	int continuations; /* "+ OK" sent */
};

/*
 * Play a client script through the parser as the engine would: lines
 * end in "\n" (a preceding "\r" is stripped), literals are read after
 * NEED_LITERAL.  Stops at DONE or ERROR.  Refuses too-big literals.
 */
static void play(struct imap_parser *p, const char *script, size_t len,
		 struct run *res)
{
	size_t pos = 0;
	memset(res, 0, sizeof(*res));
	for (;;) {
		const char *nl = memchr(script + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - script) : len;
		size_t llen = end - pos;
		if (llen > 0 && script[pos + llen - 1] == '\r')
			llen--;
		enum imap_parse_result r =
			imap_parser_feed_line(p, script + pos, llen);
		pos = nl != NULL ? end + 1 : len;
		while (r == IMAP_PARSE_NEED_LITERAL) {
			struct imap_literal_info li;
			imap_parser_literal_info(p, &li);
			if (li.too_big) {
				r = imap_parser_literal_refuse(p);
				break;
			}
			if (li.sync && !li.discard)
				res->continuations++;
			/* feed in two pieces to test partial feeding */
			size_t n = (size_t)li.size;
			if (n > len - pos)
				n = len - pos;
			size_t half = n / 2;
			assert_int_equal(imap_parser_feed_literal(p, script + pos, half), half);
			assert_int_equal(imap_parser_feed_literal(p, script + pos + half, n - half + 5),
					 n - half);
			pos += n;
			assert_int_equal(imap_parser_literal_remaining(p), 0);
			nl = memchr(script + pos, '\n', len - pos);
			end = nl != NULL ? (size_t)(nl - script) : len;
			llen = end - pos;
			if (llen > 0 && script[pos + llen - 1] == '\r')
				llen--;
			r = imap_parser_feed_line(p, script + pos, llen);
			pos = nl != NULL ? end + 1 : len;
		}
		res->r = r;
		if (r == IMAP_PARSE_DONE) {
			struct imap_command *cmd = imap_parser_take(p);
			assert_non_null(cmd);
			snprintf(res->tag, sizeof(res->tag), "%s", cmd->tag);
			snprintf(res->name, sizeof(res->name), "%s", cmd->name);
			res->uid = cmd->uid;
			struct buf *b = buf_new();
			dump(b, cmd->args);
			snprintf(res->args, sizeof(res->args), "%s", buf_data(b));
			buf_free(&b);
			assert_int_equal(imap_args_count(cmd->args), cmd->arg_count);
			imap_command_free(&cmd);
			assert_null(cmd);
		} else {
			const char *tag = imap_parser_tag(p);
			snprintf(res->tag, sizeof(res->tag), "%s",
				 tag != NULL ? tag : "*");
			snprintf(res->err, sizeof(res->err), "%s",
				 imap_parser_error(p));
			res->code = imap_parser_error_code(p);
		}
		return;
	}
}

static void play_str(struct imap_parser *p, const char *script, struct run *res)
{
	play(p, script, strlen(script), res);
}

struct ok_case {
	const char *in, *tag, *name;
	bool uid;
	const char *args;
};

static void test_valid(void **state)
{
	static const struct ok_case cases[] = {
		{"a1 NOOP", "a1", "NOOP", false, ""},
		{"a1 noop", "a1", "NOOP", false, ""},
		{"A.2 LOGIN joe \"se cr\\\"et\\\\\"", "A.2", "LOGIN", false,
		 "joe \"se cr\"et\\\""},
		{"t UID FETCH 1:* (FLAGS)", "t", "FETCH", true, "1:* (FLAGS)"},
		{"t uid store 1 +FLAGS.SILENT (\\Seen $Junk)", "t", "STORE",
		 true, "1 +FLAGS.SILENT (\\Seen $Junk)"},
		{"t UID", "t", "UID", false, ""},
		{"t SELECT nil", "t", "SELECT", false, "NIL"},
		{"t LIST \"\" *", "t", "LIST", false, "\"\" *"},
		{"t LIST \"\" %", "t", "LIST", false, "\"\" %"},
		{"t SELECT foo]bar", "t", "SELECT", false, "foo]bar"},
		{"t X ((a) (b (c)) ())", "t", "X", false, "((a) (b (c)) ())"},
		{"t X  a   b ", "t", "X", false, "a b"},
		{"t X (a )", "t", "X", false, "(a)"},
		{"t SEARCH SUBJECT \"h\xc3\xa9llo\"", "t", "SEARCH", false,
		 "SUBJECT \"h\xc3\xa9llo\""},
		{"t FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]<0.100>", "t",
		 "FETCH", false, "1 BODY.PEEK[HEADER.FIELDS (From To)]<0.100>"},
		{"t FETCH 1 (BODY[] BINARY.PEEK[1.2]<5.6> FLAGS)", "t", "FETCH",
		 false, "1 (BODY[] BINARY.PEEK[1.2]<5.6> FLAGS)"},
		{"t FETCH 1 BODY[HEADER.FIELDS (\"X]Y\" Z)]", "t", "FETCH",
		 false, "1 BODY[HEADER.FIELDS (\"X]Y\" Z)]"},
		{"t SELECT a[b c]", "t", "SELECT", false, "a[b c]"},
		{"t STATUS INBOX (MESSAGES UIDNEXT)", "t", "STATUS", false,
		 "INBOX (MESSAGES UIDNEXT)"},
		{"t APPEND INBOX {3}\r\nabc", "t", "APPEND", false, "INBOX {3}abc"},
		{"t LOGIN {3}\r\njoe {4}\r\npa\"s\r\n", "t", "LOGIN", false,
		 "{3}joe {4}pa\"s"},
		{"t LOGIN {3+}\r\njoe \"x\"", "t", "LOGIN", false, "{3}joe \"x\""},
		{"t X ({1}\r\na {0}\r\n)", "t", "X", false, "({1}a {0})"},
		{"t APPEND INBOX ~{4}\r\na\0bc", "t", "APPEND", false,
		 "INBOX ~{4}a"},
		{"t APPEND INBOX (\\Seen) \"1-Jan-2020 00:00:00 +0000\" {2}\r\nhi",
		 "t", "APPEND", false,
		 "INBOX (\\Seen) \"1-Jan-2020 00:00:00 +0000\" {2}hi"},
	};
	struct imap_parser *p = imap_parser_new(NULL);
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		size_t len = strlen(cases[i].in);
		if (strstr(cases[i].in, "~{4}") != NULL)
			len += 3; /* the literal holds a NUL */
		play(p, cases[i].in, len, &r);
		if (r.r != IMAP_PARSE_DONE)
			fail_msg("%s: error %s", cases[i].in, r.err);
		assert_string_equal(r.tag, cases[i].tag);
		assert_string_equal(r.name, cases[i].name);
		assert_int_equal(r.uid, cases[i].uid);
		if (strcmp(r.args, cases[i].args) != 0)
			fail_msg("%s: got [%s] want [%s]", cases[i].in, r.args,
				 cases[i].args);
	}
	imap_parser_free(&p);
}

struct bad_case {
	const char *in, *tag, *err;
};

static void test_invalid(void **state)
{
	static const struct bad_case cases[] = {
		{"", "*", "Empty command"},
		{"a1", "a1", "Missing command name"},
		{"a1 ", "a1", "Invalid command name"},
		{"+a NOOP", "*", "Invalid tag"},
		{"a*b NOOP", "*", "Invalid tag"},
		{"a\\b NOOP", "*", "Invalid tag"},
		{"a(b NOOP", "*", "Invalid tag"},
		{"a1 NO\"OP", "a1", "Invalid command name"},
		{"a1 X (a b", "a1", "Missing ')'"},
		{"a1 X a)", "a1", "Unexpected ')'"},
		{"a1 X \"abc", "a1", "Missing '\"'"},
		{"a1 X \"a\\bc\"", "a1", "Invalid escape"},
		{"a1 X a\x01", "a1", "Invalid characters in atom"},
		{"a1 X caf\xc3\xa9", "a1", "Invalid characters in atom"},
		{"a1 X a\"b\"", "a1", "Invalid characters in atom"},
		{"a1 X \"a\"b", "a1", "Missing space"},
		{"a1 X (a)(b)", "a1", "Missing space"},
		{"a1 X a{3}", "a1", "Invalid characters in atom"},
		{"a1 X {3} b", "a1", "Invalid literal"},
		{"a1 X {3x}", "a1", "Invalid literal"},
		{"a1 X {}", "a1", "Invalid literal"},
		{"a1 X {99999999999999999999}", "a1", "Literal size too large"},
		{"a1 FETCH 1 BODY[HEADER.FIELDS (a", "a1", "Invalid FETCH section"},
		{"a1 FETCH 1 BODY[{3}]", "a1", "Invalid FETCH section"},
	};
	struct imap_parser *p = imap_parser_new(NULL);
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		play_str(p, cases[i].in, &r);
		if (r.r != IMAP_PARSE_ERROR)
			fail_msg("%s: accepted as [%s]", cases[i].in, r.args);
		assert_string_equal(r.tag, cases[i].tag);
		if (strstr(r.err, cases[i].err) == NULL)
			fail_msg("%s: error [%s] want [%s]", cases[i].in, r.err,
				 cases[i].err);
		/* the error text is safe to put on a reply line */
		for (const char *c = r.err; *c != '\0'; c++)
			assert_true((unsigned char)*c >= 0x20 &&
				    (unsigned char)*c < 0x7f);
	}
	/* NUL inside a line */
	struct run r;
	play(p, "a1 X \"a\0b\"", 10, &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	play(p, "a1 X a\0b", 8, &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	/* NUL in a normal literal, accepted in literal8 */
	play(p, "a1 X {3}\r\na\0b\r\n", 15, &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_non_null(strstr(r.err, "NUL"));
	play(p, "a1 X ~{3}\r\na\0b\r\n", 16, &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	{
		struct imap_parser *q = imap_parser_new(NULL);
		const char *s;
		size_t n;
		assert_int_equal(imap_parser_feed_line(q, "a1 X ~{3}", 9),
				 IMAP_PARSE_NEED_LITERAL);
		imap_parser_feed_literal(q, "a\0b", 3);
		assert_int_equal(imap_parser_feed_line(q, "", 0), IMAP_PARSE_DONE);
		struct imap_command *c = imap_parser_take(q);
		assert_true(c->args[0].literal8);
		/* not a C string: only get_data hands it out */
		assert_false(imap_arg_get_string(&c->args[0], &s));
		assert_false(imap_arg_get_astring(&c->args[0], &s));
		assert_true(imap_arg_get_data(&c->args[0], &s, &n));
		assert_int_equal(n, 3);
		assert_memory_equal(s, "a\0b", 3);
		imap_command_free(&c);
		imap_parser_free(&q);
	}
	/* the parser recovers for the next command */
	play_str(p, "a2 NOOP", &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	assert_string_equal(r.tag, "a2");
	imap_parser_free(&p);
}

static void test_literal_flow(void **state)
{
	struct imap_parser_limits lim = {.max_literal = 10, .max_message = 100,
					 .max_command = 200};
	struct imap_parser *p = imap_parser_new(&lim);
	struct imap_literal_info li;
	(void)state;

	/* synchronising: the engine sends "+ OK" */
	assert_int_equal(imap_parser_feed_line(p, "a LOGIN {3}", 11),
			 IMAP_PARSE_NEED_LITERAL);
	assert_string_equal(imap_parser_tag(p), "a");
	assert_string_equal(imap_parser_command_name(p), "LOGIN");
	imap_parser_literal_info(p, &li);
	assert_int_equal(li.size, 3);
	assert_true(li.sync);
	assert_false(li.too_big);
	assert_false(li.message);
	assert_false(li.discard);
	assert_int_equal(li.depth, 0);
	assert_int_equal(li.arg_index, 0);
	assert_int_equal(imap_parser_feed_literal(p, "j", 1), 1);
	assert_int_equal(imap_parser_literal_remaining(p), 2);
	assert_int_equal(imap_parser_feed_literal(p, "oe", 2), 2);
	assert_int_equal(imap_parser_feed_line(p, " x", 2), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_int_equal(cmd->arg_count, 2);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_LITERAL);
	assert_true(cmd->args[0].literal_sync);
	assert_string_equal(cmd->args[0].str, "joe");
	imap_command_free(&cmd);

	/* too big synchronising literal: refused without reading */
	assert_int_equal(imap_parser_feed_line(p, "b LOGIN {11}", 12),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.too_big);
	assert_int_equal(imap_parser_literal_refuse(p), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error_code(p), "TOOBIG");
	assert_string_equal(imap_parser_tag(p), "b");
	assert_false(imap_parser_error_fatal(p)); /* nothing was sent */

	/* APPEND message literal: may be big, is streamed */
	assert_int_equal(imap_parser_feed_line(p, "c APPEND {5}", 12),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_false(li.message); /* the mailbox name */
	imap_parser_feed_literal(p, "INBOX", 5);
	assert_int_equal(imap_parser_feed_line(p, " (\\Seen) {50+}", 14),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.message);
	assert_false(li.sync);
	assert_false(li.too_big);
	assert_int_equal(li.arg_index, 2);
	imap_parser_literal_stream(p, strdup("file1"), free);
	assert_int_equal(imap_parser_literal_remaining(p), 0);
	assert_int_equal(imap_parser_feed_line(p, " {60}", 5),
			 IMAP_PARSE_NEED_LITERAL); /* MULTIAPPEND */
	imap_parser_literal_stream(p, strdup("file2"), free);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	{
		struct buf *b = buf_new();
		dump(b, cmd->args);
		assert_string_equal(buf_data(b),
				    "{5}INBOX (\\Seen) <stream 50 file1> <stream 60 file2>");
		buf_free(&b);
	}
	imap_command_free(&cmd); /* frees the handles (ASan checks) */

	/* a message literal above max_message */
	assert_int_equal(imap_parser_feed_line(p, "d APPEND x {101+}", 17),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.too_big);
	assert_false(li.sync);
	/* (the engine replies BAD [TOOBIG] and closes) */
	assert_int_equal(imap_parser_literal_refuse(p), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_fatal(p));

	/* stream handle of an abandoned command is freed by reset */
	assert_int_equal(imap_parser_feed_line(p, "e APPEND x {20}", 15),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_stream(p, strdup("lost"), free);
	imap_parser_reset(p);

	/* CATENATE: TEXT literal is a message, URL literal is not */
	assert_int_equal(imap_parser_feed_line(p, "f APPEND x CATENATE (URL {3}", 28),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_false(li.message);
	assert_int_equal(li.depth, 1);
	imap_parser_feed_literal(p, "/a;", 3);
	assert_int_equal(imap_parser_feed_line(p, " TEXT {4}", 9),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.message);
	imap_parser_feed_literal(p, "body", 4);
	assert_int_equal(imap_parser_feed_line(p, ")", 1), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_int_equal(cmd->arg_count, 3);
	imap_command_free(&cmd);

	/* a non-message literal over max_literal, fed anyway: error, the
	 * bytes are dropped, the command ends */
	assert_int_equal(imap_parser_feed_line(p, "g X {12+}", 9),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.too_big);
	assert_int_equal(imap_parser_feed_literal(p, "123456789012", 12), 12);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error_code(p), "TOOBIG");

	/* "{0}": the next line may come without feeding anything */
	assert_int_equal(imap_parser_feed_line(p, "z X {0}", 7),
			 IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_literal_remaining(p), 0);
	assert_int_equal(imap_parser_feed_line(p, " y", 2), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_LITERAL);
	assert_int_equal(cmd->args[0].len, 0);
	assert_string_equal(cmd->args[0].str, "");
	assert_string_equal(cmd->args[1].str, "y");
	imap_command_free(&cmd);
	/* feeding outside a literal takes nothing */
	assert_int_equal(imap_parser_feed_literal(p, "abc", 3), 0);

	/* literal data missing: a line while bytes are expected */
	assert_int_equal(imap_parser_feed_line(p, "h X {2}", 7),
			 IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_line(p, "x", 1), IMAP_PARSE_ERROR);

	/* misuse: streaming a literal twice fails the command, no leak */
	assert_int_equal(imap_parser_feed_line(p, "i APPEND x {2}", 14),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_stream(p, strdup("s1"), free);
	imap_parser_literal_stream(p, strdup("s2"), free);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_ERROR);
	imap_parser_free(&p);
}

static void test_error_skips_literals(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_literal_info li;
	(void)state;
	/* bad line ending in a LITERAL+: its bytes and the next line are
	 * still part of the failed command */
	assert_int_equal(imap_parser_feed_line(p, "a X (a \"b {5+}", 14),
			 IMAP_PARSE_NEED_LITERAL);
	imap_parser_literal_info(p, &li);
	assert_true(li.discard);
	assert_false(li.sync);
	assert_int_equal(imap_parser_feed_literal(p, "a1 NO", 5), 5);
	assert_int_equal(imap_parser_feed_line(p, "OP {2+}", 7),
			 IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "zz", 2), 2);
	assert_int_equal(imap_parser_feed_line(p, ")", 1), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_tag(p), "a");
	assert_non_null(strstr(imap_parser_error(p), "Missing '\"'"));
	/* a bad line ending in a synchronising literal fails at once */
	assert_int_equal(imap_parser_feed_line(p, "b X ) {5}", 9),
			 IMAP_PARSE_ERROR);
	assert_false(imap_parser_error_fatal(p));
	/* next command fine */
	assert_int_equal(imap_parser_feed_line(p, "c NOOP", 6), IMAP_PARSE_DONE);
	/* an unparsable non-synchronising literal size: close */
	assert_int_equal(imap_parser_feed_line(p, "d X {99999999999999999999+}", 27),
			 IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_fatal(p));
	assert_int_equal(imap_parser_feed_line(p, "e X {99999999999999999999}", 26),
			 IMAP_PARSE_ERROR);
	assert_false(imap_parser_error_fatal(p));
	imap_parser_free(&p);
}

static void test_limits(void **state)
{
	struct imap_parser_limits lim = {.max_line = 50, .max_command = 80,
					 .max_literal = 40, .max_depth = 3,
					 .max_args = 10};
	struct imap_parser *p = imap_parser_new(&lim);
	struct run r;
	(void)state;
	play_str(p, "a X (((a)))", &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	play_str(p, "a X ((((a))))", &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_non_null(strstr(r.err, "nested"));
	play_str(p, "a X 1 2 3 4 5 6 7 8 9 10", &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	play_str(p, "a X 1 2 3 4 5 6 7 8 9 10 11", &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_non_null(strstr(r.err, "Too many"));
	play_str(p, "a X (1 2 3 4 5 6 7 8 9 10)", &r); /* list counts too */
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	play_str(p, "a X 123456789012345678901234567890123456789012345678901", &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_string_equal(r.code, "TOOBIG");
	/* the command total counts lines and literals */
	play_str(p, "a X {30}\r\n123456789012345678901234567890 {30}\r\n"
		    "123456789012345678901234567890\r\n", &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	play_str(p, "a X {35}\r\n12345678901234567890123456789012345 {35}\r\n"
		    "12345678901234567890123456789012345\r\n", &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_string_equal(r.code, "TOOBIG");
	/* a second line over what is left of max_command */
	play_str(p, "a X {20}\r\n12345678901234567890 {20}\r\n"
		    "12345678901234567890 12345678901234567890123456789\r\n", &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	assert_string_equal(r.code, "TOOBIG");
	assert_non_null(strstr(r.err, "Command too long"));
	assert_int_equal(imap_parser_line_too_long(p), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error_code(p), "TOOBIG");
	assert_true(imap_parser_error_fatal(p));
	imap_parser_free(&p);
}

static void test_deep_lists(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL); /* depth 32 */
	struct buf *b = buf_new();
	struct run r;
	(void)state;
	buf_append_str(b, "a X ");
	for (int i = 0; i < 32; i++)
		buf_append_char(b, '(');
	buf_append_str(b, "x");
	for (int i = 0; i < 32; i++)
		buf_append_char(b, ')');
	play_str(p, buf_data(b), &r);
	assert_int_equal(r.r, IMAP_PARSE_DONE);
	assert_int_equal(strlen(r.args), 65);
	buf_reset(b);
	buf_append_str(b, "a X ");
	for (int i = 0; i < 33; i++)
		buf_append_char(b, '(');
	play_str(p, buf_data(b), &r);
	assert_int_equal(r.r, IMAP_PARSE_ERROR);
	buf_free(&b);
	imap_parser_free(&p);
}

static void test_accessors(void **state)
{
	char *err = NULL;
	(void)state;
	struct imap_command *c = imap_parse_args(
		"atom \"q s\" NIL (l 1) 4294967295 4294967296 007 -1 9223372036854775807",
		false, &err);
	assert_non_null(c);
	const struct imap_arg *a = c->args, *list;
	const char *s;
	size_t n;
	uint32_t u;
	uint64_t u64;
	assert_true(imap_arg_is_atom(&a[0]));
	assert_true(imap_arg_atom_equals(&a[0], "ATOM"));
	assert_false(imap_arg_get_string(&a[0], &s));
	assert_true(imap_arg_get_astring(&a[0], &s));
	assert_string_equal(s, "atom");
	assert_true(imap_arg_get_string(&a[1], &s));
	assert_string_equal(s, "q s");
	assert_false(imap_arg_get_atom(&a[1], &s));
	assert_true(imap_arg_is_nil(&a[2]));
	assert_true(imap_arg_get_nstring(&a[2], &s));
	assert_null(s);
	assert_true(imap_arg_get_astring(&a[2], &s));
	assert_string_equal(s, "NIL");
	assert_false(imap_arg_get_nstring(&a[0], &s));
	assert_true(imap_arg_get_list(&a[3], &list, &n));
	assert_int_equal(n, 2);
	assert_true(imap_arg_is_eol(&list[2]));
	assert_false(imap_arg_get_list(&a[0], &list, &n));
	assert_true(imap_arg_get_number(&a[4], &u));
	assert_int_equal(u, 4294967295u);
	assert_false(imap_arg_get_number(&a[5], &u));
	assert_true(imap_arg_get_number64(&a[5], &u64));
	assert_int_equal(u64, 4294967296ULL);
	assert_true(imap_arg_get_number(&a[6], &u));
	assert_int_equal(u, 7);
	assert_false(imap_arg_get_number(&a[7], &u));
	assert_true(imap_arg_get_number64(&a[8], &u64));
	assert_false(imap_arg_get_number(&a[1], &u)); /* quoted */
	assert_int_equal(imap_args_count(a), 9);
	imap_command_free(&c);

	assert_null(imap_parse_args("a {3}", false, &err));
	assert_non_null(strstr(err, "Literal"));
	free(err);
	err = NULL;
	assert_null(imap_parse_args("(a", false, &err));
	free(err);
	c = imap_parse_args("", false, &err);
	assert_non_null(c);
	assert_true(imap_arg_is_eol(&c->args[0]));
	imap_command_free(&c);
	c = imap_parse_args("BODY[HEADER.FIELDS (A B)]<1.2> X", true, &err);
	assert_non_null(c);
	assert_string_equal(c->args[0].str, "BODY[HEADER.FIELDS (A B)]<1.2>");
	imap_command_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_literal_flow),
		cmocka_unit_test(test_error_skips_literals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_deep_lists),
		cmocka_unit_test(test_accessors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
