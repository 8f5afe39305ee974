/*
 * test_imap_utf7 - modified UTF-7 both ways (RFC 3501 5.1.3 examples),
 * strict refusal of every non-canonical spelling, UTF-8 validity and the
 * mailbox name check.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_utf7.h"

static const struct {
	const char *utf8, *utf7;
} pairs[] = {
	{"INBOX", "INBOX"},
	{"", ""},
	{"&", "&-"},
	{"a&b&&", "a&-b&-&-"},
	{"Entw\xc3\xbc" "rfe", "Entw&APw-rfe"},
	{"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	{"\xc3\xa4\xc3\xa4", "&AOQA5A-"},
	{"\xf0\x9f\x98\x80", "&2D3eAA-"},
	{"x\xf0\x9f\x98\x80y\xc3\xa9", "x&2D3eAA-y&AOk-"},
	{"tab\there", "tab&AAk-here"},
	{"\xef\xbf\xbd", "&,,0-"},
};

static void test_roundtrip(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		buf_reset(b);
		assert_int_equal(imap_utf8_to_utf7(pairs[i].utf8, b), 0);
		if (strcmp(buf_data(b), pairs[i].utf7) != 0)
			fail_msg("encode %s: got %s want %s", pairs[i].utf8,
				 buf_data(b), pairs[i].utf7);
		buf_reset(b);
		assert_int_equal(imap_utf7_to_utf8(pairs[i].utf7, b), 0);
		assert_string_equal(buf_data(b), pairs[i].utf8);
		assert_true(imap_utf7_is_valid(pairs[i].utf7));
	}
	/* a long run (many units, no padding issues) */
	struct buf *u8 = buf_new();
	for (int i = 0; i < 200; i++)
		buf_append_str(u8, "\xe6\x97\xa5");
	buf_reset(b);
	assert_int_equal(imap_utf8_to_utf7(buf_data(u8), b), 0);
	struct buf *back = buf_new();
	assert_int_equal(imap_utf7_to_utf8(buf_data(b), back), 0);
	assert_string_equal(buf_data(back), buf_data(u8));
	buf_free(&back);
	buf_free(&u8);
	buf_free(&b);
}

static void test_invalid_utf7(void **state)
{
	static const char *const bad[] = {
		"&",	      /* not closed */
		"&AOQ",	      /* not closed */
		"a&AOQ-&AOQ-", /* two runs in a row */
		"&AEE-",      /* "A" (printable) encoded */
		"&ACA-",      /* space encoded */
		"&AOR-",      /* non-zero padding bits */
		"&AO-",	      /* incomplete unit */
		"&AOQA-",     /* too many chars (leftover >= 6 bits) */
		"&2D0-",      /* lone high surrogate */
		"&2D3YPQ-",   /* high surrogate followed by high */
		"&3gA-",      /* lone low surrogate */
		"&AOQ/-",     /* "/" is not modified base64 */
		"&A=Q-",
		"caf\xc3\xa9", /* 8-bit */
		"a\tb",	      /* control */
		"a\x7f",
	};
	(void)state;
	struct buf *b = buf_new();
	buf_append_str(b, "keep");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_utf7_to_utf8(bad[i], b) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(buf_data(b), "keep"); /* left as it was */
		assert_false(imap_utf7_is_valid(bad[i]));
	}
	buf_free(&b);
}

static void test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"\xc0\xaf",	    /* overlong */
		"\xe0\x80\xaf",	    /* overlong */
		"\xed\xa0\x80",	    /* surrogate */
		"\xf4\x90\x80\x80", /* > U+10FFFF */
		"\xc3",		    /* truncated */
		"\x80",
		"\xff",
	};
	(void)state;
	struct buf *b = buf_new();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(imap_utf8_to_utf7(bad[i], b), -1);
		assert_int_equal(buf_len(b), 0);
		assert_false(imap_utf8_is_valid(bad[i], strlen(bad[i])));
	}
	assert_true(imap_utf8_is_valid("a\xc3\xa9\xf0\x9f\x98\x80", 7));
	assert_false(imap_utf8_is_valid("a\0b", 3));
	buf_free(&b);
}

static void test_mailbox_name(void **state)
{
	const char *why;
	(void)state;
	assert_true(imap_mailbox_name_valid("INBOX", '.', NULL));
	assert_true(imap_mailbox_name_valid("Archive.2024.R\xc3\xa9sum\xc3\xa9", '.', NULL));
	assert_true(imap_mailbox_name_valid("a.b", 0, NULL));
	assert_true(imap_mailbox_name_valid(".a", 0, NULL));
	static const char *const bad[] = {"", "a\x01", "a\xc2\x85", "a\x7f",
		"a\xe2\x80\xa8", "a%", "b*", "\xc3", ".a", "a.", "a..b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (imap_mailbox_name_valid(bad[i], '.', &why))
			fail_msg("accepted [%s]", bad[i]);
		assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_invalid_utf7),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_mailbox_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
