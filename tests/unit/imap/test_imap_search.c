/*
 * test_imap_search - SEARCH program parsing (every key, CHARSET,
 * RETURN, errors) and evaluation over a fake message through the
 * callbacks, including the cost levels (MAYBE), dates, the full-text
 * hook, text matching and ESEARCH writing.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"

struct msg {
	uint32_t seq, uid;
	unsigned flags;
	const char *keywords; /* " a b " */
	uint64_t size;
	time_t idate;
	bool has_sent;
	time_t sent;
	int tz;
	const char *subject, *from;
	const char *body;
	uint64_t modseq;
	const char *emailid;
	int calls_header, calls_body;
	bool fail_body;
};

static uint32_t m_seq(void *m) { return ((struct msg *)m)->seq; }
static uint32_t m_uid(void *m) { return ((struct msg *)m)->uid; }
static unsigned m_flags(void *m) { return ((struct msg *)m)->flags; }
static bool m_kw(void *m, const char *kw)
{
	char b[64];
	snprintf(b, sizeof(b), " %s ", kw);
	return strstr(((struct msg *)m)->keywords, b) != NULL;
}
static uint64_t m_size(void *m) { return ((struct msg *)m)->size; }
static time_t m_idate(void *m) { return ((struct msg *)m)->idate; }
static uint64_t m_modseq(void *m) { return ((struct msg *)m)->modseq; }
static const char *m_emailid(void *m) { return ((struct msg *)m)->emailid; }
static int m_sent(void *mp, time_t *t, int *tz, struct error *err)
{
	struct msg *m = mp;
	if (!m->has_sent)
		return 0;
	*t = m->sent;
	*tz = m->tz;
	return 1;
}
static int m_header(void *mp, const char *name, struct buf *out,
		    struct error *err)
{
	struct msg *m = mp;
	m->calls_header++;
	const char *v = strcasecmp(name, "Subject") == 0 ? m->subject
			: strcasecmp(name, "From") == 0	 ? m->from
							 : NULL;
	if (v == NULL)
		return 0;
	buf_append_str(out, v);
	return 1;
}
static int m_body(void *mp, const char *needle, bool whole, struct error *err)
{
	struct msg *m = mp;
	m->calls_body++;
	if (m->fail_body)
		return error_set(err, ERR_TEMP, "disk on fire");
	if (imap_search_text_match(m->body, strlen(m->body), needle))
		return 1;
	if (whole && imap_search_text_match(m->subject, strlen(m->subject), needle))
		return 1;
	return 0;
}

static const struct imap_search_msg_ops ops = {
	.seq = m_seq, .uid = m_uid, .flags = m_flags, .has_keyword = m_kw,
	.size = m_size, .internal_date = m_idate, .modseq = m_modseq,
	.emailid = m_emailid, .threadid = NULL, .sent_date = m_sent,
	.header = m_header, .body_contains = m_body,
};

/* 2024-03-15 12:00:00 UTC */
#define T0 1710504000

static struct msg sample(void)
{
	struct msg m = {
		.seq = 3, .uid = 42, .flags = IMAP_MSG_SEEN | IMAP_MSG_FLAGGED,
		.keywords = " $Junk work ", .size = 2048, .idate = T0,
		.has_sent = true, .sent = T0 - 13 * 3600, .tz = -600,
		.subject = "Re: Caf\xc3\x89 meeting", .from = "Ann <ann@example.org>",
		.body = "Hello \xd0\x9c\xd0\xb8\xd1\x80 world", .modseq = 77,
		.emailid = "M6d99ac3275bb4e",
	};
	return m;
}

static struct imap_search_program *parse(const char *s, struct error *err)
{
	char *perr = NULL;
	struct imap_command *c = imap_parse_args(s, false, &perr);
	if (c == NULL)
		fail_msg("%s: %s", s, perr);
	struct imap_search_program *prog = NULL;
	if (imap_search_parse(c->args, 0, &prog, err) < 0)
		prog = NULL;
	imap_command_free(&c);
	return prog;
}

static int eval(const char *s, struct msg *m)
{
	struct error err;
	struct imap_search_program *prog = parse(s, &err);
	if (prog == NULL)
		fail_msg("%s: %s", s, err.msg);
	imap_search_resolve(prog, 10, 100, NULL, 0);
	int r = imap_search_eval(prog, IMAP_SEARCH_COST_BODY, &ops, m, T0 + 3600,
				 &err);
	imap_search_program_free(&prog);
	return r;
}

static void test_eval_keys(void **state)
{
	static const struct {
		const char *prog;
		int want;
	} cases[] = {
		{"ALL", 1}, {"SEEN", 1}, {"UNSEEN", 0}, {"FLAGGED", 1},
		{"UNFLAGGED", 0}, {"ANSWERED", 0}, {"UNANSWERED", 1},
		{"DELETED", 0}, {"UNDELETED", 1}, {"DRAFT", 0}, {"UNDRAFT", 1},
		{"RECENT", 0}, {"NEW", 0}, {"OLD", 1},
		{"KEYWORD $Junk", 1}, {"KEYWORD work", 1}, {"KEYWORD other", 0},
		{"UNKEYWORD other", 1}, {"UNKEYWORD work", 0},
		{"3", 1}, {"1:2,4:*", 0}, {"2:*", 1}, {"*", 0},
		{"UID 42", 1}, {"UID 1:41,43:*", 0}, {"UID 40:*", 1},
		{"LARGER 2047", 1}, {"LARGER 2048", 0}, {"SMALLER 2049", 1},
		{"SMALLER 2048", 0},
		{"SUBJECT meeting", 1}, {"SUBJECT \"caf\xc3\xa9\"", 1},
		{"SUBJECT CAFE", 0}, {"FROM ann@EXAMPLE", 1}, {"TO ann", 0},
		{"CC x", 0}, {"BCC x", 0},
		{"HEADER Subject \"\"", 1}, {"HEADER X-Missing \"\"", 0},
		{"HEADER subject RE:", 1},
		{"BODY world", 1}, {"BODY \"\xd0\xbc\xd0\x98\xd0\xa0\"", 1},
		{"BODY meeting", 0}, {"TEXT meeting", 1}, {"TEXT nothing", 0},
		{"BEFORE 16-Mar-2024", 1}, {"BEFORE 15-Mar-2024", 0},
		{"ON 15-Mar-2024", 1}, {"SINCE 15-Mar-2024", 1},
		{"SINCE 16-mar-2024", 0},
		/* sent 2024-03-14 23:00 UTC, zone -10:00: 2024-03-14 13:00 */
		{"SENTON 14-Mar-2024", 1}, {"SENTBEFORE 15-Mar-2024", 1},
		{"SENTSINCE 15-Mar-2024", 0}, {"SENTSINCE \"14-Mar-2024\"", 1},
		{"OLDER 3000", 1}, {"OLDER 4000", 0}, {"YOUNGER 4000", 1},
		{"YOUNGER 3000", 0},
		{"MODSEQ 77", 1}, {"MODSEQ 78", 0},
		{"MODSEQ \"/flags/\\\\draft\" all 5", 1},
		{"EMAILID M6d99ac3275bb4e", 1}, {"EMAILID Mother", 0},
		{"THREADID T1", 0},
		{"NOT SEEN", 0}, {"NOT NOT SEEN", 1},
		{"OR SEEN DELETED", 1}, {"OR DELETED DRAFT", 0},
		{"OR DELETED (FLAGGED SEEN)", 1},
		{"SEEN FLAGGED UID 42", 1}, {"SEEN FLAGGED UID 43", 0},
		{"(SEEN (FLAGGED (NOT DELETED)))", 1},
		{"CHARSET UTF-8 BODY world", 1}, {"charset us-ascii SEEN", 1},
		{"RETURN (MIN) SEEN", 1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg m = sample();
		int r = eval(cases[i].prog, &m);
		if (r != cases[i].want)
			fail_msg("%s: got %d want %d", cases[i].prog, r,
				 cases[i].want);
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *prog, *err;
	} cases[] = {
		{"", "Missing search key"}, {"FOO", "Unknown search key"},
		{"SUBJECT", "Missing string"}, {"HEADER Subject", "Missing"},
		{"HEADER \"\" x", "Empty header field"},
		{"HEADER \"a b\" x", "Invalid header field"},
		{"BEFORE 32-Jan-2024", "Invalid date"},
		{"BEFORE 29-Feb-2023", "Invalid date"},
		{"BEFORE 1-Foo-2024", "Invalid date"},
		{"BEFORE 1-Jan-24", "Invalid date"},
		{"BEFORE 001-Jan-2024", "Invalid date"},
		{"ON", "Invalid date"}, {"LARGER x", "Invalid number"},
		{"LARGER -1", "Invalid number"}, {"SMALLER", "Invalid number"},
		{"OLDER 0", "Invalid interval"},
		{"UID", "Invalid UID set"}, {"UID 0", "Invalid sequence set"},
		{"1:0", "Invalid sequence set"}, {"NOT", "Missing search key"},
		{"OR SEEN", "Missing search key"}, {"()", "Empty search key list"},
		{"KEYWORD \\Seen", "Invalid keyword"}, {"KEYWORD", "Invalid keyword"},
		{"MODSEQ \"/flags/x\" bogus 5", "entry type"},
		{"MODSEQ", "Invalid number"}, {"RETURN", "RETURN"},
		{"RETURN (FOO) ALL", "Unknown RETURN option"},
		{"CHARSET", "Missing charset"},
		{"SUBJECT \"\xff\"", "Invalid characters"},
		{"EMAILID a/b", "Invalid object id"},
		{"\"SEEN\"", "Invalid search key"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct error err;
		error_clear(&err);
		struct imap_search_program *prog = parse(cases[i].prog, &err);
		if (prog != NULL)
			fail_msg("accepted %s", cases[i].prog);
		if (strstr(err.msg, cases[i].err) == NULL)
			fail_msg("%s: error [%s] want [%s]", cases[i].prog,
				 err.msg, cases[i].err);
		assert_int_equal(err.kind, ERR_PERM);
	}
	/* BADCHARSET code */
	struct error err;
	error_clear(&err);
	assert_null(parse("CHARSET ISO-8859-1 SEEN", &err));
	assert_non_null(err.code);
	assert_string_equal(err.code, "BADCHARSET");
	/* the charset name is echoed printable only */
	assert_null(parse("CHARSET \"x\xc3\xa9\ty\" SEEN", &err));
	assert_string_equal(err.msg, "Unsupported charset x???y");
	/* deep NOT chain is refused, not a stack overflow */
	struct buf *b = buf_new();
	for (int i = 0; i < 5000; i++)
		buf_append_str(b, "NOT ");
	buf_append_str(b, "ALL");
	assert_null(parse(buf_data(b), &err));
	buf_free(&b);
}

static void test_program_fields(void **state)
{
	struct error err;
	(void)state;
	struct imap_search_program *p =
		parse("RETURN (MIN MAX COUNT ALL SAVE) CHARSET utf-8 SEEN", &err);
	assert_non_null(p);
	assert_true(p->esearch);
	assert_int_equal(p->return_opts,
			 IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX |
				 IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL |
				 IMAP_SEARCH_RETURN_SAVE);
	assert_string_equal(p->charset, "UTF-8");
	assert_int_equal(p->cost, IMAP_SEARCH_COST_INDEX);
	imap_search_program_free(&p);
	p = parse("RETURN () SEEN", &err);
	assert_true(p->esearch);
	assert_int_equal(p->return_opts, IMAP_SEARCH_RETURN_ALL);
	imap_search_program_free(&p);
	p = parse("SEEN", &err);
	assert_false(p->esearch);
	assert_null(p->charset);
	assert_false(p->uses_saved);
	imap_search_program_free(&p);
	p = parse("OR $ UID $ MODSEQ 5", &err);
	assert_true(p->uses_saved);
	assert_true(p->uses_modseq);
	uint32_t saved[] = {42};
	imap_search_resolve(p, 10, 100, saved, 1);
	struct msg m = sample();
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_BODY, &ops, &m, T0, &err), 1);
	m.uid = 41;
	m.modseq = 1;
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_BODY, &ops, &m, T0, &err), 0);
	imap_search_program_free(&p);
	assert_null(p);
	p = parse("SUBJECT x", &err);
	assert_int_equal(p->cost, IMAP_SEARCH_COST_HEADER);
	imap_search_program_free(&p);
	p = parse("SEEN OR SENTON 1-Jan-2020 TEXT x", &err);
	assert_int_equal(p->cost, IMAP_SEARCH_COST_BODY);
	assert_int_equal(p->root->children->cost, IMAP_SEARCH_COST_INDEX);
	imap_search_program_free(&p);

	/* SORT form: mandatory charset first */
	char *perr = NULL;
	struct imap_command *c = imap_parse_args("UTF-8 SUBJECT x", false, &perr);
	assert_int_equal(imap_search_parse(c->args, IMAP_SEARCH_PARSE_SORT, &p, &err), 0);
	assert_string_equal(p->charset, "UTF-8");
	imap_search_program_free(&p);
	imap_command_free(&c);
	c = imap_parse_args("KOI8-R SUBJECT x", false, &perr);
	assert_int_equal(imap_search_parse(c->args, IMAP_SEARCH_PARSE_SORT, &p, &err), -1);
	assert_string_equal(err.code, "BADCHARSET");
	imap_command_free(&c);
}

static void test_cost_levels(void **state)
{
	struct error err;
	(void)state;
	struct imap_search_program *p = parse("SEEN BODY world", &err);
	struct msg m = sample();
	/* index pass: MAYBE, no body callback */
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_INDEX, &ops, &m, T0, &err),
			 IMAP_SEARCH_MAYBE);
	assert_int_equal(m.calls_body, 0);
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_BODY, &ops, &m, T0, &err),
			 IMAP_SEARCH_YES);
	assert_int_equal(m.calls_body, 1);
	/* a cheap NO decides without the body */
	m.flags = 0;
	m.calls_body = 0;
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_INDEX, &ops, &m, T0, &err),
			 IMAP_SEARCH_NO);
	imap_search_program_free(&p);
	/* OR: a cheap YES decides */
	p = parse("OR SEEN SUBJECT x", &err);
	m = sample();
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_INDEX, &ops, &m, T0, &err),
			 IMAP_SEARCH_YES);
	assert_int_equal(m.calls_header, 0);
	imap_search_program_free(&p);
	/* NOT MAYBE is MAYBE */
	p = parse("NOT SUBJECT x", &err);
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_INDEX, &ops, &m, T0, &err),
			 IMAP_SEARCH_MAYBE);
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_HEADER, &ops, &m, T0, &err),
			 IMAP_SEARCH_YES);
	imap_search_program_free(&p);
	/* callback failure */
	p = parse("BODY x", &err);
	m.fail_body = true;
	error_clear(&err);
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_BODY, &ops, &m, T0, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	imap_search_program_free(&p);
}

static void attach(struct imap_search_key *key, void *ctx)
{
	struct imap_search_program *p = ctx;
	uint32_t uids[] = {42, 50};
	imap_search_key_set_fts(p, key, imap_seqset_from_array(uids, 2),
				key->type == IMAP_SK_BODY);
}

static void test_fts_hook(void **state)
{
	struct error err;
	(void)state;
	struct imap_search_program *p = parse("BODY nomatch SUBJECT meeting", &err);
	imap_search_foreach_text(p, attach, p);
	/* BODY is definite (INDEX), SUBJECT still HEADER */
	assert_int_equal(p->cost, IMAP_SEARCH_COST_HEADER);
	struct msg m = sample();
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_HEADER, &ops, &m, T0, &err),
			 IMAP_SEARCH_YES);
	assert_int_equal(m.calls_body, 0); /* answered by the index */
	assert_int_equal(m.calls_header, 1);
	m.uid = 43; /* not in the fts set */
	m.calls_header = 0;
	assert_int_equal(imap_search_eval(p, IMAP_SEARCH_COST_INDEX, &ops, &m, T0, &err),
			 IMAP_SEARCH_NO);
	assert_int_equal(m.calls_header, 0);
	imap_search_program_free(&p);
}

static void test_text_match(void **state)
{
	(void)state;
	assert_true(imap_search_text_match("Hello World", 11, "o w"));
	assert_true(imap_search_text_match("Hello World", 11, ""));
	assert_true(imap_search_text_match("", 0, ""));
	assert_false(imap_search_text_match("Hello", 5, "hello!"));
	assert_true(imap_search_text_match("\xc3\x84pfel", 6, "\xc3\xa4PF"));
	assert_true(imap_search_text_match("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", 10,
					   "\xcf\x83\xce\xbf\xcf\x86")); /* Greek */
	assert_true(imap_search_text_match("\xc5\x81\xc3\xb3" "d\xc5\xba", 7, "\xc5\x82\xc3\x93"));
	assert_false(imap_search_text_match("\xc3\xa4", 2, "a"));
	/* Cyrillic IO, Latin A macron, Y diaeresis, final sigma, tonos */
	assert_true(imap_search_text_match("\xd0\x81\xd0\xb6", 4, "\xd1\x91\xd0\x96"));
	assert_true(imap_search_text_match("\xc4\x80", 2, "\xc4\x81"));
	assert_true(imap_search_text_match("\xc5\xb8", 2, "\xc3\xbf"));
	assert_true(imap_search_text_match("\xcf\x82", 2, "\xce\xa3"));
	assert_true(imap_search_text_match("\xce\x86", 2, "\xce\xac"));
	assert_false(imap_search_text_match("\xc4\xb1", 2, "I")); /* dotless i */
	/* binary haystack with NUL and invalid bytes */
	assert_true(imap_search_text_match("a\0\xff" "Bc", 5, "bc"));
	assert_true(imap_search_text_match("x\xff\xfey", 4, "\xff\xfe"));
}

static void test_dates(void **state)
{
	int32_t d;
	(void)state;
	assert_true(imap_search_parse_date("1-Jan-1970", &d));
	assert_int_equal(d, 0);
	assert_true(imap_search_parse_date("15-Mar-2024", &d));
	assert_int_equal(d, T0 / 86400);
	assert_true(imap_search_parse_date("29-Feb-2000", &d));
	assert_true(imap_search_parse_date("31-Dec-1969", &d));
	assert_int_equal(d, -1);
	assert_false(imap_search_parse_date("29-Feb-1900", &d));
	assert_false(imap_search_parse_date("0-Jan-2000", &d));
	assert_false(imap_search_parse_date("1-Jan-2000x", &d));
	assert_false(imap_search_parse_date("1 Jan 2000", &d));
	assert_false(imap_search_parse_date("", &d));
	assert_false(imap_search_parse_date("1-Ja", &d));
}

static void test_esearch(void **state)
{
	(void)state;
	struct buf *b = buf_new();
	uint32_t n[] = {2, 3, 4, 9};
	imap_search_write_esearch(b, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX |
					     IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL,
				  n, 4, 0);
	assert_string_equal(buf_data(b), "MIN 2 MAX 9 COUNT 4 ALL 2:4,9");
	buf_reset(b);
	imap_search_write_esearch(b, IMAP_SEARCH_RETURN_ALL, n, 4, 123);
	assert_string_equal(buf_data(b), "ALL 2:4,9 MODSEQ 123");
	buf_reset(b);
	imap_search_write_esearch(b, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_COUNT |
					     IMAP_SEARCH_RETURN_ALL,
				  n, 0, 5);
	assert_string_equal(buf_data(b), "COUNT 0");
	buf_reset(b);
	imap_search_write_esearch(b, IMAP_SEARCH_RETURN_MIN, n, 0, 0);
	assert_string_equal(buf_data(b), "");
	buf_free(&b);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_keys),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_program_fields),
		cmocka_unit_test(test_cost_levels),
		cmocka_unit_test(test_fts_hook),
		cmocka_unit_test(test_text_match),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_esearch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
