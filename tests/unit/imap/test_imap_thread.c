/*
 * test_imap_thread - THREAD=REFERENCES grouping (lib/imap/imap_thread.h),
 * the webmail's conversation ids: threads by References / In-Reply-To,
 * by base subject when links are missing, a missing parent, and the
 * base subject itself.
 */
#include "test.h"

#include <string.h>

#include "core/buf.h"
#include "imap/imap_thread.h"

struct spec {
	uint32_t uid;
	int64_t date;
	const char *id, *refs, *subject;
};

/* Group specs; roots[i] is the index of i's thread root. */
static void thread(const struct spec *s, size_t n, size_t *roots)
{
	struct imap_thread_msg m[16];
	struct buf *base[16];

	for (size_t i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		base[i] = buf_new();
		imap_base_subject(s[i].subject, base[i], &m[i].is_reply);
		m[i].id = s[i].uid;
		m[i].seq = (uint32_t)i + 1;
		m[i].date = s[i].date;
		m[i].message_id = s[i].id;
		m[i].nrefs = imap_msgids_parse(s[i].refs, &m[i].refs);
		m[i].base_subject = buf_data(base[i]);
	}
	imap_thread_references(m, n, roots);
	for (size_t i = 0; i < n; i++) {
		imap_msgids_free(m[i].refs, m[i].nrefs);
		buf_free(&base[i]);
	}
}

static void test_references(void **state)
{
	(void)state;
	static const struct spec s[] = {
	    {1, 100, "<a@x>", NULL, "Plans"},
	    {2, 300, "<c@x>", "<a@x> <b@x>", "Re: Plans"}, /* b missing */
	    {3, 200, "<d@x>", NULL, "Other"},
	    {4, 400, "<e@x>", "<a@x>", "Re: Plans"},
	    {5, 500, "<f@x>", NULL, "Unrelated"},
	};
	size_t roots[5];

	thread(s, 5, roots);
	assert_int_equal(roots[0], 0);
	assert_int_equal(roots[1], 0);
	assert_int_equal(roots[3], 0);
	assert_int_equal(roots[2], 2);
	assert_int_equal(roots[4], 4);
}

static void test_subject_merge(void **state)
{
	(void)state;
	/* No links at all: "Re: Lunch" joins "Lunch" by base subject. */
	static const struct spec s[] = {
	    {10, 100, "<l1@x>", NULL, "Lunch"},
	    {11, 200, "<l2@x>", NULL, "Re: Lunch"},
	    {12, 300, "<l3@x>", NULL, "[team] Fwd: lunch"},
	    {13, 400, NULL, NULL, "Dinner"},
	};
	size_t roots[4];

	thread(s, 4, roots);
	assert_int_equal(roots[0], 0);
	assert_int_equal(roots[1], 0);
	assert_int_equal(roots[2], 0);
	assert_int_equal(roots[3], 3);
}

static void test_base_subject(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	bool reply;

	imap_base_subject("Re: [list] Fwd: Hello  world (fwd)", b, &reply);
	assert_string_equal(buf_data(b), "HELLO WORLD");
	assert_true(reply);
	imap_base_subject("Hello", b, &reply);
	assert_string_equal(buf_data(b), "HELLO");
	assert_false(reply);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_references),
	    cmocka_unit_test(test_subject_merge),
	    cmocka_unit_test(test_base_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
