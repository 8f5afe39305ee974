/*
 * test_imap_fetch_items - FETCH attribute lists: macros, every item,
 * sections with parts / HEADER.FIELDS / MIME, partials and their reply
 * names, BINARY, PREVIEW (LAZY), CHANGEDSINCE / VANISHED, and errors.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "imap/imap_fetch_items.h"
#include "imap/imap_parser.h"

static struct imap_fetch_items *parse(const char *s, struct error *err)
{
	char *perr = NULL;
	struct imap_command *c = imap_parse_args(s, true, &perr);
	if (c == NULL)
		fail_msg("%s: %s", s, perr);
	struct imap_fetch_items *items = NULL;
	if (imap_fetch_items_parse(c->args, &items, err) < 0)
		items = NULL;
	imap_command_free(&c);
	return items;
}

/* Reply names joined by "|". */
static void names(const struct imap_fetch_items *it, char *out, size_t size)
{
	struct buf *b = buf_new();
	for (size_t i = 0; i < it->count; i++)
		buf_printf(b, "%s%s", i > 0 ? "|" : "", it->items[i].reply_name);
	snprintf(out, size, "%s", buf_data(b));
	buf_free(&b);
}

static void test_names(void **state)
{
	static const struct {
		const char *in, *names;
	} cases[] = {
		{"ALL", "FLAGS|INTERNALDATE|RFC822.SIZE|ENVELOPE"},
		{"fast", "FLAGS|INTERNALDATE|RFC822.SIZE"},
		{"FULL", "FLAGS|INTERNALDATE|RFC822.SIZE|ENVELOPE|BODY"},
		{"flags", "FLAGS"},
		{"(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY BODYSTRUCTURE)",
		 "UID|FLAGS|RFC822.SIZE|INTERNALDATE|ENVELOPE|BODY|BODYSTRUCTURE"},
		{"(RFC822 RFC822.HEADER RFC822.TEXT)", "RFC822|RFC822.HEADER|RFC822.TEXT"},
		{"(MODSEQ EMAILID THREADID SAVEDATE PREVIEW)",
		 "MODSEQ|EMAILID|THREADID|SAVEDATE|PREVIEW"},
		{"BODY[]", "BODY[]"},
		{"body.peek[]<0.1024>", "BODY[]<0>"},
		{"BODY[HEADER]", "BODY[HEADER]"},
		{"BODY.PEEK[header.fields (From To)]<10.20>",
		 "BODY[HEADER.FIELDS (FROM TO)]<10>"},
		{"BODY[HEADER.FIELDS.NOT (Received)]", "BODY[HEADER.FIELDS.NOT (RECEIVED)]"},
		{"BODY[HEADER.FIELDS (\"X-Odd]\" \"Y\")]", "BODY[HEADER.FIELDS (\"X-ODD]\" Y)]"},
		{"BODY[TEXT]", "BODY[TEXT]"},
		{"BODY[1]", "BODY[1]"},
		{"BODY[1.2.3.MIME]", "BODY[1.2.3.MIME]"},
		{"BODY[2.HEADER]", "BODY[2.HEADER]"},
		{"BODY[2.text]", "BODY[2.TEXT]"},
		{"BODY[3.HEADER.FIELDS (Subject)]", "BODY[3.HEADER.FIELDS (SUBJECT)]"},
		{"BINARY[1]", "BINARY[1]"},
		{"BINARY.PEEK[1.2]<0.10>", "BINARY[1.2]<0>"},
		{"BINARY[]", "BINARY[]"},
		{"BINARY.SIZE[1]", "BINARY.SIZE[1]"},
		{"(PREVIEW (LAZY) FLAGS)", "PREVIEW|FLAGS"},
		{"(FLAGS) (CHANGEDSINCE 12345)", "FLAGS"},
		{"FLAGS (CHANGEDSINCE 1 VANISHED)", "FLAGS"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct error err;
		char got[512];
		struct imap_fetch_items *it = parse(cases[i].in, &err);
		if (it == NULL)
			fail_msg("%s: %s", cases[i].in, err.msg);
		names(it, got, sizeof(got));
		if (strcmp(got, cases[i].names) != 0)
			fail_msg("%s: got %s want %s", cases[i].in, got,
				 cases[i].names);
		imap_fetch_items_free(&it);
		assert_null(it);
	}
}

static void test_details(void **state)
{
	struct error err;
	(void)state;
	struct imap_fetch_items *it =
		parse("(BODY.PEEK[1.2.HEADER.FIELDS (a b c)]<5.6> BODY[] FLAGS)", &err);
	assert_int_equal(it->count, 3);
	const struct imap_fetch_item *x = &it->items[0];
	assert_int_equal(x->type, IMAP_FETCH_BODY_SECTION);
	assert_true(x->peek);
	assert_int_equal(x->section.part_count, 2);
	assert_int_equal(x->section.parts[0], 1);
	assert_int_equal(x->section.parts[1], 2);
	assert_int_equal(x->section.kind, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(x->section.field_count, 3);
	assert_string_equal(x->section.fields[2], "c");
	assert_true(x->partial);
	assert_int_equal(x->partial_offset, 5);
	assert_int_equal(x->partial_len, 6);
	assert_false(it->items[1].peek);
	assert_true(it->sets_seen);
	assert_true(it->need & IMAP_FETCH_NEED_BODY);
	assert_true(it->need & IMAP_FETCH_NEED_STRUCTURE);
	assert_false(it->has_changedsince);
	imap_fetch_items_free(&it);

	it = parse("(FLAGS UID BODY.PEEK[HEADER])", &err);
	assert_false(it->sets_seen);
	assert_int_equal(it->need, IMAP_FETCH_NEED_INDEX | IMAP_FETCH_NEED_HEADER);
	imap_fetch_items_free(&it);

	it = parse("RFC822.HEADER", &err);
	assert_false(it->sets_seen);
	assert_true(it->items[0].peek);
	imap_fetch_items_free(&it);
	it = parse("RFC822.TEXT", &err);
	assert_true(it->sets_seen);
	imap_fetch_items_free(&it);
	it = parse("BINARY.SIZE[1]", &err);
	assert_false(it->sets_seen);
	imap_fetch_items_free(&it);

	it = parse("(PREVIEW (LAZY))", &err);
	assert_true(it->items[0].lazy);
	imap_fetch_items_free(&it);
	it = parse("PREVIEW (CHANGEDSINCE 4)", &err); /* modifier, not LAZY */
	assert_false(it->items[0].lazy);
	assert_true(it->has_changedsince);
	imap_fetch_items_free(&it);

	it = parse("(FLAGS MODSEQ) (CHANGEDSINCE 9223372036854775807 VANISHED)", &err);
	assert_true(it->has_changedsince);
	assert_int_equal(it->changedsince, 9223372036854775807ULL);
	assert_true(it->vanished);
	assert_true(it->has_modseq);
	imap_fetch_items_free(&it);
	it = parse("FLAGS (CHANGEDSINCE 5)", &err);
	assert_true(it->has_modseq); /* CHANGEDSINCE implies MODSEQ */
	imap_fetch_items_free(&it);

	struct imap_fetch_section sec;
	assert_int_equal(imap_fetch_section_parse("4.1.MIME", 8, &sec, &err), 0);
	assert_int_equal(sec.kind, IMAP_SECTION_MIME);
	assert_int_equal(sec.part_count, 2);
	imap_fetch_section_clear(&sec);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
		"", "()", "FOO", "(FLAGS FOO)", "(ALL)", "\"FLAGS\"",
		"BODY[", "BODY[]<", "BODY[]<0>", "BODY[]<0.0>", "BODY[]<a.1>",
		"BODY[]<1.2>x", "BODY[MIME]", "BODY[0]", "BODY[1.]", "BODY[.1]",
		"BODY[1..2]", "BODY[01]", "BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (A:B)]",
		"BODY[HEADER.FIELDS (A]", "BODY[HEADER.FIELDS (\"\")]",
		"BODY[HEADER.FIELDS (\"a b\")]", "BODY[HEADERX]", "BODY[TEXT.HEADER]",
		"BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33]",
		"BODY[4294967296]", "BODYX[]", "BODY.PEEKX[]", "BINARY[HEADER]",
		"BINARY[1.MIME]", "BINARY.SIZE[1]<0.5>", "RFC822[]",
		"FLAGS (CHANGEDSINCE)", "FLAGS (CHANGEDSINCE x)", "FLAGS (VANISHED)",
		"FLAGS (FOO)", "FLAGS ()", "FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",
		"FLAGS (CHANGEDSINCE 1) X", "FLAGS X", "(PREVIEW (FOO))",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err;
		char *perr = NULL;
		struct imap_command *c = imap_parse_args(bad[i], true, &perr);
		if (c == NULL) { /* refused by the parser already: fine */
			free(perr);
			continue;
		}
		struct imap_fetch_items *it = NULL;
		error_clear(&err);
		if (imap_fetch_items_parse(c->args, &it, &err) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_null(it);
		assert_int_equal(err.kind, ERR_PERM);
		assert_true(err.msg[0] != '\0');
		imap_command_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
