/*
 * test_imapd_msg - helpers of the IMAP message commands: the CRLF view of
 * LF-stored messages, RFC 5256 base subjects and the THREAD algorithms.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imapd-msg.h"

static void test_crlf(void **state)
{
	const char *m = "a\nbc\r\nd\n";
	struct buf *b = buf_new();

	(void)state;
	assert_int_equal(imapd_crlf_size(m, strlen(m), '\0'), 10);
	assert_int_equal(imapd_crlf_lines(m, strlen(m)), 3);
	assert_int_equal(imapd_crlf_lines("x\ny", 3), 2);
	assert_int_equal(imapd_crlf_append(b, m, strlen(m), '\0', 0, UINT64_MAX), 10);
	assert_string_equal(buf_data(b), "a\r\nbc\r\nd\r\n");
	buf_reset(b);
	/* a window that starts between CR and LF of a converted line end */
	assert_int_equal(imapd_crlf_append(b, m, strlen(m), '\0', 2, 4), 4);
	assert_string_equal(buf_data(b), "\nbc\r");
	buf_reset(b);
	assert_int_equal(imapd_crlf_append(b, m, strlen(m), '\0', 9, 100), 1);
	assert_string_equal(buf_data(b), "\n");
	buf_reset(b);
	assert_int_equal(imapd_crlf_append(b, m, strlen(m), '\0', 10, 100), 0);
	/* prev = CR: a leading LF is already a CRLF */
	assert_int_equal(imapd_crlf_size("\nx", 2, '\r'), 2);
	buf_free(&b);
}

/* Copy in chunks of every size: the result must equal the whole copy. */
static void test_crlf_chunks(void **state)
{
	const char *m = "ab\ncd\r\n\nxyz\n";
	size_t len = strlen(m);
	struct buf *whole = buf_new(), *b = buf_new();

	(void)state;
	imapd_crlf_append(whole, m, len, '\0', 0, UINT64_MAX);
	for (uint64_t chunk = 1; chunk <= 20; chunk++) {
		for (uint64_t off = 0; off <= buf_len(whole); off++) {
			size_t pc = 0;
			uint64_t vc = 0, vnext = off, vend = buf_len(whole);

			buf_reset(b);
			while (vnext < vend) {
				size_t pd;
				uint64_t vd, want = vend - vnext, got;
				if (want > chunk)
					want = chunk;
				got = imapd_crlf_copy(b, m + pc, len - pc,
						      pc ? m[pc - 1] : '\0',
						      vnext - vc, want, &pd, &vd);
				assert_int_equal(got, want);
				pc += pd;
				vc += vd;
				vnext += got;
			}
			assert_memory_equal(buf_data(b), buf_data(whole) + off,
					    buf_len(whole) - off);
			assert_int_equal(buf_len(b), buf_len(whole) - off);
		}
	}
	buf_free(&b);
	buf_free(&whole);
}

static void test_header_end(void **state)
{
	size_t blank;

	(void)state;
	assert_int_equal(imapd_header_end("A: b\n\nbody", 10, &blank), 6);
	assert_int_equal(blank, 5);
	assert_int_equal(imapd_header_end("\nbody", 5, &blank), 1);
	assert_int_equal(blank, 0);
	assert_int_equal(imapd_header_end("A: b\n", 5, &blank), 5);
	assert_int_equal(blank, 5);
}

static void check_base(const char *in, const char *want, bool reply)
{
	struct buf *b = buf_new();
	bool r;

	imap_base_subject(in, b, &r);
	assert_string_equal(buf_data(b), want);
	assert_int_equal(r, reply);
	buf_free(&b);
}

static void test_base_subject(void **state)
{
	(void)state;
	check_base("Hello", "HELLO", false);
	check_base("Re: Hello", "HELLO", true);
	check_base("RE: re:  Fwd: Hello  (fwd) ", "HELLO", true);
	check_base("[list] Re: Hello", "HELLO", true);
	check_base("Re[2]: Hello", "HELLO", true);
	check_base("[fwd: Re: Hello]", "HELLO", true);
	check_base("[list]", "[LIST]", false);
	check_base("  a \t  b  ", "A B", false);
	check_base("Fw: x", "X", true);
	check_base("", "", false);
	check_base("Re:", "", true);
}

static void test_msgids(void **state)
{
	char **ids;
	size_t n;

	(void)state;
	n = imap_msgids_parse("<a@b> junk <c\n @d> <nothing>", &ids);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "<a@b>");
	assert_string_equal(ids[1], "<c@d>");
	imap_msgids_free(ids, n);
}

static void test_orderedsubject(void **state)
{
	struct imap_thread_msg m[4] = {
		{.id = 1, .seq = 1, .date = 100, .base_subject = "B"},
		{.id = 2, .seq = 2, .date = 50, .base_subject = "A"},
		{.id = 3, .seq = 3, .date = 200, .base_subject = "B"},
		{.id = 4, .seq = 4, .date = 150, .base_subject = "B"},
	};
	struct buf *b = buf_new();

	(void)state;
	imap_thread_orderedsubject(m, 4, b);
	assert_string_equal(buf_data(b), "(2)(1 (4)(3))");
	buf_reset(b);
	imap_thread_orderedsubject(m, 3, b);
	assert_string_equal(buf_data(b), "(2)(1 3)");
	buf_free(&b);
}

static void test_references(void **state)
{
	char *r2[] = {"<1@x>"};
	char *r3[] = {"<1@x>", "<2@x>"};
	char *r4[] = {"<1@x>"};
	char *r6[] = {"<missing@x>"};
	char *r7[] = {"<missing@x>"};
	struct imap_thread_msg m[] = {
		{.id = 1, .seq = 1, .date = 10, .message_id = "<1@x>",
		 .base_subject = "A"},
		{.id = 2, .seq = 2, .date = 20, .message_id = "<2@x>",
		 .refs = r2, .nrefs = 1, .base_subject = "A", .is_reply = true},
		{.id = 3, .seq = 3, .date = 30, .message_id = "<3@x>",
		 .refs = r3, .nrefs = 2, .base_subject = "A", .is_reply = true},
		{.id = 4, .seq = 4, .date = 25, .message_id = "<4@x>",
		 .refs = r4, .nrefs = 1, .base_subject = "A", .is_reply = true},
		/* same subject, no references: joins thread 1 by subject */
		{.id = 5, .seq = 5, .date = 40, .message_id = "<5@x>",
		 .base_subject = "A", .is_reply = true},
		/* two replies to a missing parent: a dummy root */
		{.id = 6, .seq = 6, .date = 5, .message_id = "<6@x>",
		 .refs = r6, .nrefs = 1, .base_subject = "Z"},
		{.id = 7, .seq = 7, .date = 6, .message_id = "<7@x>",
		 .refs = r7, .nrefs = 1, .base_subject = "Z"},
		{.id = 8, .seq = 8, .date = 1, .base_subject = "Q"},
	};
	struct buf *b = buf_new();

	(void)state;
	imap_thread_references_print(m, 8, b);
	assert_string_equal(buf_data(b), "(8)((6)(7))(1 (2 3)(4)(5))");
	buf_reset(b);
	/* single reply to missing parent: no dummy kept */
	imap_thread_references_print(m + 5, 1, b);
	assert_string_equal(buf_data(b), "(6)");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_crlf_chunks),
		cmocka_unit_test(test_header_end),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_msgids),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_references),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
