/*
 * test_mime - the MIME structure parser: physical and virtual ranges,
 * line counts, sections, CRLF copies with partial windows, RFC 2231
 * parameters, hard limits and garbage input.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/mime.h"

static const char SIMPLE[] = "A: 1\nB: 2\n\nbody\n";

static void test_simple_ranges(void **state)
{
	(void)state;
	struct mime_message *m = mime_parse(SIMPLE, strlen(SIMPLE));
	const struct mime_part *p = mime_root(m);
	assert_int_equal(p->header.phys_off, 0);
	assert_int_equal(p->header.phys_size, 11);
	assert_int_equal(p->header.virt_off, 0);
	assert_int_equal(p->header.virt_size, 14);
	assert_int_equal(p->body.phys_off, 11);
	assert_int_equal(p->body.phys_size, 5);
	assert_int_equal(p->body.virt_off, 14);
	assert_int_equal(p->body.virt_size, 6);
	assert_int_equal(p->body_lines, 1);
	assert_string_equal(p->type, "text");
	assert_string_equal(p->subtype, "plain");
	assert_true(p->flags & MIME_PART_TEXT);
	assert_string_equal(mime_part_charset(p), "us-ascii");
	assert_int_equal(mime_virtual_size(m), 20);
	assert_int_equal(mime_part_count(m), 1);
	mime_message_free(&m);
	assert_null(m);
}

static const char MULTI[] =
	"From: a@b\n"
	"Content-Type: multipart/mixed; boundary=\"XX\"\n"
	"\n"
	"preamble\n"
	"--XX\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"\n"
	"first\n"
	"--XX\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"\n"
	"inner body\n"
	"--XX\n"
	"Content-Type: multipart/alternative; boundary=YY\n"
	"\n"
	"--YY\n"
	"\n"
	"alt1\n"
	"--YY\n"
	"Content-Type: text/html\n"
	"\n"
	"<b>alt2</b>\n"
	"--YY--\n"
	"--XX--\n"
	"epilogue\n";

/* Section text as IMAP would send it. */
static char *section(const struct mime_message *m, const char *spec)
{
	unsigned int nums[16];
	size_t n;
	enum mime_section_kind kind;
	struct mime_section sec;
	struct error err;
	struct buf *b = buf_new();
	assert_int_equal(mime_section_parse(spec, strlen(spec), nums, 16, &n,
					    &kind, &err),
			 0);
	int r = mime_section_lookup(m, nums, n, kind, &sec, &err);
	assert_true(r >= 0);
	if (r == 0) {
		buf_free(&b);
		return NULL;
	}
	uint64_t w = mime_copy_crlf(mime_data(m), sec.range.phys_off,
				    sec.range.phys_size, 0, UINT64_MAX, b);
	assert_int_equal(w, sec.range.virt_size);
	assert_int_equal(buf_len(b), sec.range.virt_size);
	char *r2 = buf_steal(b);
	buf_free(&b);
	return r2;
}

static void expect_section(const struct mime_message *m, const char *spec,
			   const char *want)
{
	char *got = section(m, spec);
	if (want == NULL) {
		if (got != NULL)
			fail_msg("%s: got '%s', want none", spec, got);
		return;
	}
	if (got == NULL)
		fail_msg("%s: not found", spec);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s' want '%s'", spec, got, want);
	free(got);
}

static void test_multipart_sections(void **state)
{
	(void)state;
	struct mime_message *m = mime_parse(MULTI, strlen(MULTI));
	const struct mime_part *root = mime_root(m);
	assert_true(root->flags & MIME_PART_MULTIPART);
	assert_int_equal(root->child_count, 3);
	assert_int_equal(mime_part_count(m), 7);
	const struct mime_part *p1 = root->children;
	assert_string_equal(mime_param_get(p1->params, p1->param_count,
					   "CHARSET"),
			    "utf-8");
	assert_string_equal(mime_part_charset(p1), "utf-8");
	assert_null(mime_part_charset(root));
	assert_int_equal(p1->body_lines, 0); /* "first" w/o its LF */
	const struct mime_part *p2 = p1->next;
	assert_true(p2->flags & MIME_PART_MESSAGE);
	assert_int_equal(p2->child_count, 1);

	expect_section(m, "HEADER",
		       "From: a@b\r\nContent-Type: multipart/mixed; "
		       "boundary=\"XX\"\r\n\r\n");
	expect_section(m, "1", "first");
	expect_section(m, "1.MIME",
		       "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	expect_section(m, "2", "Subject: inner\r\n\r\ninner body");
	expect_section(m, "2.HEADER", "Subject: inner\r\n\r\n");
	expect_section(m, "2.TEXT", "inner body");
	expect_section(m, "2.1", "inner body");
	expect_section(m, "2.1.MIME", "Subject: inner\r\n\r\n");
	expect_section(m, "3.1", "alt1");
	expect_section(m, "3.2", "<b>alt2</b>");
	expect_section(m, "3.2.MIME", "Content-Type: text/html\r\n\r\n");
	expect_section(m, "3", "--YY\r\n\r\nalt1\r\n--YY\r\nContent-Type: "
			       "text/html\r\n\r\n<b>alt2</b>\r\n--YY--");
	expect_section(m, "1.HEADER", NULL); /* not a message/rfc822 */
	expect_section(m, "4", NULL);
	expect_section(m, "3.3", NULL);
	expect_section(m, "1.1", "first"); /* Dovecot: a leaf is its own 1 */
	expect_section(m, "1.2", NULL);
	expect_section(m, "2.2", NULL);
	mime_message_free(&m);
}

static void test_whole_and_text(void **state)
{
	(void)state;
	struct mime_message *m = mime_parse(MULTI, strlen(MULTI));
	char *all = section(m, "");
	assert_non_null(all);
	assert_int_equal(strlen(all), mime_virtual_size(m));
	assert_int_equal(mime_virtual_size(m), mime_virtual_len(MULTI,
								strlen(MULTI)));
	char *text = section(m, "TEXT");
	assert_non_null(strstr(all, text));
	assert_true(strncmp(text, "preamble\r\n--XX\r\n", 16) == 0);
	assert_true(strlen(text) > 10 &&
		    strcmp(text + strlen(text) - 10, "epilogue\r\n") == 0);
	free(all);
	free(text);

	/* Non-multipart message: BODY[1] is the body. */
	m = (mime_message_free(&m), mime_parse(SIMPLE, strlen(SIMPLE)));
	expect_section(m, "1", "body\r\n");
	expect_section(m, "1.MIME", "A: 1\r\nB: 2\r\n\r\n");
	expect_section(m, "TEXT", "body\r\n");
	expect_section(m, "2", NULL);
	mime_message_free(&m);
}

static void test_section_parse(void **state)
{
	(void)state;
	unsigned int nums[4];
	size_t n;
	enum mime_section_kind k;
	struct error err;
	assert_int_equal(mime_section_parse("1.2.3", 5, nums, 4, &n, &k, &err),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(nums[2], 3);
	assert_int_equal(k, MIME_SECTION_PART);
	assert_int_equal(mime_section_parse("4.text", 6, nums, 4, &n, &k, &err),
			 0);
	assert_int_equal(k, MIME_SECTION_TEXT);
	assert_int_equal(mime_section_parse("", 0, nums, 4, &n, &k, &err), 0);
	assert_int_equal(k, MIME_SECTION_ALL);
	const char *bad[] = {"0", "1.", ".1", "MIME", "1.FOO", "1..2",
			     "1.2.3.4.5", "99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mime_section_parse(bad[i], strlen(bad[i]), nums, 4, &n, &k,
				       &err) == 0)
			fail_msg("'%s' parsed", bad[i]);
	}
	/* lookup of a zero number is an error, MIME without numbers too */
	struct mime_message *m = mime_parse(SIMPLE, strlen(SIMPLE));
	struct mime_section sec;
	unsigned int zero = 0;
	assert_int_equal(mime_section_lookup(m, &zero, 1, MIME_SECTION_PART,
					     &sec, &err),
			 -1);
	assert_int_equal(mime_section_lookup(m, NULL, 0, MIME_SECTION_MIME,
					     &sec, &err),
			 -1);
	mime_message_free(&m);
}

/* Every partial window equals the same slice of the full CRLF copy. */
static void test_partial_windows(void **state)
{
	(void)state;
	const char *msgs[] = {MULTI, SIMPLE, "a\r\nb\nc\rd\n\n\r\n",
			      "\n\n\n", ""};
	for (size_t mi = 0; mi < sizeof(msgs) / sizeof(msgs[0]); mi++) {
		const char *d = msgs[mi];
		size_t len = strlen(d);
		struct buf *full = buf_new(), *part = buf_new();
		mime_copy_crlf(d, 0, len, 0, UINT64_MAX, full);
		assert_int_equal(buf_len(full), mime_virtual_len(d, len));
		/* every window for short inputs, a sample for MULTI */
		size_t step = buf_len(full) > 100 ? 5 : 1;
		for (size_t s = 0; s <= buf_len(full) + 2; s += step) {
			for (size_t c = 0; c <= buf_len(full) + 2 - s; c += step) {
				buf_reset(part);
				uint64_t w = mime_copy_crlf(d, 0, len, s, c, part);
				size_t want = s >= buf_len(full) ? 0
					      : (s + c > buf_len(full)
							 ? buf_len(full) - s
							 : c);
				assert_int_equal(w, want);
				assert_int_equal(buf_len(part), want);
				assert_memory_equal(buf_data(part),
						    buf_data(full) + s, want);
			}
		}
		buf_free(&full);
		buf_free(&part);
	}
}

static void test_rfc2231(void **state)
{
	(void)state;
	const char msg[] =
		"Content-Type: application/pdf;\n"
		" name*0*=utf-8''%E2%82%AC%20rates;\n"
		" name*1=\".pdf\"; title*1=\"b\"; title*0=\"a \"\n"
		"Content-Disposition: attachment;\n"
		" filename*=iso-8859-1'de'F%FCr%20Dich.pdf\n"
		"\n"
		"x";
	struct mime_message *m = mime_parse(msg, strlen(msg));
	const struct mime_part *p = mime_root(m);
	assert_string_equal(mime_param_get(p->params, p->param_count, "name"),
			    "€ rates.pdf");
	assert_string_equal(mime_param_get(p->params, p->param_count, "title"),
			    "a b");
	assert_string_equal(p->params[0].name, "name*");
	assert_string_equal(p->params[0].value, "utf-8''%E2%82%AC%20rates.pdf");
	assert_string_equal(mime_param_get(p->disp_params, p->disp_param_count,
					   "filename"),
			    "Für Dich.pdf");
	assert_string_equal(p->disposition, "attachment");
	mime_message_free(&m);
}

static void test_digest_default(void **state)
{
	(void)state;
	const char msg[] = "Content-Type: multipart/digest; boundary=d\n\n"
			   "--d\n\nSubject: a\n\nA\n--d\nContent-Type: "
			   "text/plain\n\nB\n--d--\n";
	struct mime_message *m = mime_parse(msg, strlen(msg));
	const struct mime_part *c = mime_root(m)->children;
	assert_true(mime_part_is(c, "message", "rfc822"));
	assert_true(c->flags & MIME_PART_MESSAGE);
	assert_true(mime_part_is(c->next, "text", "plain"));
	mime_message_free(&m);
}

static void check_tree(const struct mime_message *m,
		       const struct mime_part *p, unsigned int *count)
{
	const char *d = mime_data(m);
	size_t len = mime_size(m);
	for (; p != NULL; p = p->next) {
		(*count)++;
		assert_true(p->header.phys_off + p->header.phys_size <= len);
		assert_true(p->body.phys_off + p->body.phys_size <= len);
		assert_true(p->header.phys_off + p->header.phys_size <=
			    p->body.phys_off);
		assert_int_equal(p->header.virt_size,
				 mime_virtual_len(d + p->header.phys_off,
						  p->header.phys_size));
		assert_int_equal(p->body.virt_size,
				 mime_virtual_len(d + p->body.phys_off,
						  p->body.phys_size));
		assert_int_equal(p->body.virt_off,
				 mime_virtual_len(d, p->body.phys_off));
		assert_non_null(p->type);
		assert_non_null(p->subtype_raw);
		if (p->parent != NULL) {
			assert_true(p->header.phys_off >=
				    p->parent->body.phys_off);
			assert_true(p->body.phys_off + p->body.phys_size <=
				    p->parent->body.phys_off +
					    p->parent->body.phys_size);
		}
		check_tree(m, p->children, count);
	}
}

static void test_depth_limit(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	for (int i = 0; i < 200; i++)
		buf_printf(b, "Content-Type: multipart/mixed; boundary=b%03d\n\n"
			      "--b%03d\n",
			   i, i);
	buf_append_str(b, "\ndeep text\n");
	for (int i = 199; i >= 0; i--)
		buf_printf(b, "--b%03d--\n", i);
	struct mime_message *m = mime_parse(buf_data(b), buf_len(b));
	unsigned int count = 0;
	check_tree(m, mime_root(m), &count);
	assert_int_equal(count, mime_part_count(m));
	assert_true(count <= MIME_MAX_DEPTH + 1);
	/* The deepest part is a leaf that holds the rest. */
	const struct mime_part *p = mime_root(m);
	int depth = 0;
	while (p->children != NULL) {
		p = p->children;
		depth++;
	}
	assert_true(depth <= MIME_MAX_DEPTH);
	assert_non_null(memmem(buf_data(b) + p->body.phys_off,
			       p->body.phys_size, "deep text", 9));
	mime_message_free(&m);

	/* The same with message/rfc822 nesting. */
	buf_reset(b);
	for (int i = 0; i < 500; i++)
		buf_append_str(b, "Content-Type: message/rfc822\n\n");
	buf_append_str(b, "\nend\n");
	m = mime_parse(buf_data(b), buf_len(b));
	count = 0;
	check_tree(m, mime_root(m), &count);
	assert_true(count <= MIME_MAX_DEPTH + 1);
	mime_message_free(&m);
	buf_free(&b);
}

static void test_part_limit(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	buf_append_str(b, "Content-Type: multipart/mixed; boundary=p\n\n");
	for (int i = 0; i < MIME_MAX_PARTS + 500; i++)
		buf_append_str(b, "--p\n\nx\n");
	buf_append_str(b, "--p--\n");
	struct mime_message *m = mime_parse(buf_data(b), buf_len(b));
	assert_true(mime_part_count(m) <= MIME_MAX_PARTS);
	assert_true(mime_part_count(m) >= MIME_MAX_PARTS - 1);
	assert_true(mime_root(m)->flags & MIME_PART_TRUNCATED);
	unsigned int count = 0;
	check_tree(m, mime_root(m), &count);
	mime_message_free(&m);
	buf_free(&b);
}

static void test_garbage(void **state)
{
	(void)state;
	const char *msgs[] = {
		"",
		"\n",
		"no header separator at all",
		"Subject: x",
		"Subject: x\r",
		"\r\r\r\n\n",
		"A\0B: c\n\nbo\0dy\n",
		"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a",
		"Content-Type: multipart/mixed; boundary=a\n\n--a--",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\n",
		"Content-Type: message/rfc822\n\n",
		"Content-Type: message/rfc822",
		": no name\n\xff\xfe: 8bit\n \n\t\n\nx",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\r\n\r\n--a--\r\n",
		"Content-Type: text/plain; charset*0*=x; charset*1*=%ZZ;"
		" charset*3=y; a=\"\\",
		"Content-Type: multipart/x; boundary=\"a\"; boundary=b\n\n--b\n\n--a\n",
	};
	size_t lens[sizeof(msgs) / sizeof(msgs[0])];
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		lens[i] = strlen(msgs[i]);
	lens[6] = 14; /* with its NULs */
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct mime_message *m = mime_parse(msgs[i], lens[i]);
		unsigned int count = 0;
		check_tree(m, mime_root(m), &count);
		assert_int_equal(count, mime_part_count(m));
		assert_int_equal(mime_virtual_size(m),
				 mime_virtual_len(msgs[i], lens[i]));
		mime_message_free(&m);
	}
	/* random input with mail-ish tokens */
	static const char *const toks[] = {
		"\n", "\r\n", "--a", "--b", "--a--", "Content-Type: ",
		"multipart/mixed; boundary=a", "multipart/digest; boundary=b",
		"message/rfc822", "\n\n", ": ", "x", "\0", "\xc3"};
	srand(42);
	for (int round = 0; round < 3000; round++) {
		struct buf *b = buf_new();
		int n = rand() % 60;
		for (int i = 0; i < n; i++) {
			const char *t = toks[rand() % 14];
			buf_append(b, t, *t == '\0' ? 1 : strlen(t));
		}
		struct mime_message *m = mime_parse(buf_data(b), buf_len(b));
		unsigned int count = 0;
		check_tree(m, mime_root(m), &count);
		assert_int_equal(count, mime_part_count(m));
		mime_message_free(&m);
		buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_ranges),
		cmocka_unit_test(test_multipart_sections),
		cmocka_unit_test(test_whole_and_text),
		cmocka_unit_test(test_section_parse),
		cmocka_unit_test(test_partial_windows),
		cmocka_unit_test(test_rfc2231),
		cmocka_unit_test(test_digest_default),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
