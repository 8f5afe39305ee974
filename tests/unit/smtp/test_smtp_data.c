/*
 * test_smtp_data - the DATA reader (dot-stuffing, end of data, size limit,
 * bare CR / LF modes, the SMTP smuggling variants) and the BDAT counter.
 *
 * Every table case is fed whole, one byte at a time, split in two at
 * every offset and in random pieces: all must give the same output, the
 * same consumed count and the same verdict.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_data.h"

#define NORM SMTP_BARE_NORMALIZE
#define REJ SMTP_BARE_REJECT
#define KEEP SMTP_BARE_KEEP

struct run {
	bool done;
	size_t consumed; /* input bytes used */
	struct buf *out;
	struct smtp_reply reply;
	int result;
	unsigned long long size, bare_lf, bare_cr;
};

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	/* xorshift32: reproducible, no libc state */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/*
 * Feed `in` in pieces whose sizes come from `piece` (0: the rest), stop
 * at DONE.  split_at: for mode 'S', the offset of the single split.
 */
static void run_feed(enum smtp_bare_mode mode, uint64_t max, const char *in,
		     size_t len, char how, size_t split_at, struct run *r)
{
	struct smtp_data *d = smtp_data_new(mode, max);
	size_t pos = 0;

	r->out = buf_new();
	r->done = false;
	while (pos < len && !r->done) {
		size_t n = len - pos, used;

		if (how == '1')
			n = 1;
		else if (how == 'S' && pos < split_at)
			n = split_at - pos;
		else if (how == 'R' && 1 + rng() % 7 < n)
			n = 1 + rng_state % 7;
		if (smtp_data_feed(d, in + pos, n, r->out, &used) ==
		    SMTP_DATA_DONE) {
			r->done = true;
			assert_true(used <= n);
		} else {
			assert_int_equal(used, n);
		}
		pos += used;
	}
	/* Feeding after DONE consumes nothing. */
	if (r->done) {
		size_t used = 99;

		assert_int_equal(smtp_data_feed(d, "x\r\n", 3, r->out, &used),
				 SMTP_DATA_DONE);
		assert_int_equal(used, 0);
	}
	assert_int_equal(smtp_data_done(d), r->done);
	r->consumed = pos;
	smtp_reply_clear(&r->reply);
	r->result = smtp_data_result(d, &r->reply);
	r->size = smtp_data_size(d);
	r->bare_lf = smtp_data_bare_lf(d);
	r->bare_cr = smtp_data_bare_cr(d);
	smtp_data_free(&d);
	assert_null(d);
}

/* The reference: DATA ends after the first CRLF.CRLF of CRLF + input. */
static bool oracle_end(const char *in, size_t len, size_t *end_r)
{
	struct buf *b = buf_new();
	const char *hit;

	buf_append(b, "\r\n", 2);
	buf_append(b, in, len);
	hit = memmem(buf_data(b), buf_len(b), "\r\n.\r\n", 5);
	if (hit != NULL)
		*end_r = (size_t)(hit - buf_data(b)) + 5 - 2;
	buf_free(&b);
	return hit != NULL;
}

static void same_run(const struct run *a, const struct run *b, const char *what)
{
	if (a->done != b->done || a->consumed != b->consumed ||
	    buf_len(a->out) != buf_len(b->out) ||
	    memcmp(buf_data(a->out), buf_data(b->out), buf_len(a->out)) != 0 ||
	    a->result != b->result || a->reply.code != b->reply.code ||
	    a->size != b->size || a->bare_lf != b->bare_lf ||
	    a->bare_cr != b->bare_cr)
		fail_msg("%s: split feeding differs from whole feeding", what);
}

/* Feed every way; check all agree with the whole feed and the oracle. */
static void run_all_ways(enum smtp_bare_mode mode, uint64_t max, const char *in,
			 size_t len, struct run *whole)
{
	struct run other;
	size_t end;
	bool has_end = oracle_end(in, len, &end);

	run_feed(mode, max, in, len, 'W', 0, whole);
	assert_int_equal(whole->done, has_end);
	if (has_end)
		assert_int_equal(whole->consumed, end);
	else
		assert_int_equal(whole->consumed, len);

	run_feed(mode, max, in, len, '1', 0, &other);
	same_run(whole, &other, "one byte at a time");
	buf_free(&other.out);
	for (size_t s = 1; s < len; s++) {
		run_feed(mode, max, in, len, 'S', s, &other);
		same_run(whole, &other, "split in two");
		buf_free(&other.out);
	}
	for (int k = 0; k < 20; k++) {
		run_feed(mode, max, in, len, 'R', 0, &other);
		same_run(whole, &other, "random split");
		buf_free(&other.out);
	}
}

struct data_case {
	const char *in;
	enum smtp_bare_mode mode;
	unsigned long long max;
	const char *out;    /* the message produced */
	int consumed;	    /* -1: end not seen */
	unsigned int reply; /* 0: accepted */
	unsigned int bare_lf, bare_cr;
};

#define END "\r\n.\r\n"

static const struct data_case data_cases[] = {
    /* Plain messages, empty message, pipelined rest. */
    {".\r\n", NORM, 0, "", 3, 0, 0, 0},
    {"a" END, NORM, 0, "a\r\n", 6, 0, 0, 0},
    {"a\r\nb" END, NORM, 0, "a\r\nb\r\n", 9, 0, 0, 0},
    {"a" END "QUIT\r\n", NORM, 0, "a\r\n", 6, 0, 0, 0},
    {"a" END "MAIL FROM:<x@y>" END, NORM, 0, "a\r\n", 6, 0, 0, 0},
    {"\r\n.\r\n", NORM, 0, "\r\n", 5, 0, 0, 0},
    /* Dot-stuffing (RFC 5321 4.5.2). */
    {"..\r\n.\r\n", NORM, 0, ".\r\n", 7, 0, 0, 0},
    {"a\r\n..b\r\n.\r\n", NORM, 0, "a\r\n.b\r\n", 11, 0, 0, 0},
    {"a\r\n...\r\n.\r\n", NORM, 0, "a\r\n..\r\n", 11, 0, 0, 0},
    {"a\r\n.b\r\n.\r\n", NORM, 0, "a\r\nb\r\n", 10, 0, 0, 0},
    {"a\r\n. \r\n.\r\n", NORM, 0, "a\r\n \r\n", 10, 0, 0, 0},
    {"a.b\r\n.\r\n", NORM, 0, "a.b\r\n", 8, 0, 0, 0},
    {"a\r\n.\r.\r\n", NORM, 0, "a\r\n\r\n\r\n", -1, 451, 0, 1},
    /* Not finished. */
    {"a\r\n.\r", NORM, 0, "a\r\n", -1, 451, 0, 0},
    {"a\r\n.", NORM, 0, "a\r\n", -1, 451, 0, 0},
    {"a\r\n", NORM, 0, "a\r\n", -1, 451, 0, 0},
    /* Bare LF / CR normalised to CRLF, counted. */
    {"a\nb" END, NORM, 0, "a\r\nb\r\n", 8, 0, 1, 0},
    {"a\rb" END, NORM, 0, "a\r\nb\r\n", 8, 0, 0, 1},
    {"a\r\r\nb" END, NORM, 0, "a\r\n\r\nb\r\n", 10, 0, 0, 1},
    {"a\n\r\n.\r\n", NORM, 0, "a\r\n\r\n", 7, 0, 1, 0},
    {"a\n..b" END, NORM, 0, "a\r\n.b\r\n", 10, 0, 1, 0},
    {"\n" END, NORM, 0, "\r\n\r\n", 6, 0, 1, 0},
    /* The same in reject mode: same framing, 550 at the end. */
    {"a\nb" END, REJ, 0, "a\r\nb\r\n", 8, 550, 1, 0},
    {"a\rb" END, REJ, 0, "a\r\nb\r\n", 8, 550, 0, 1},
    {"a\r\nb" END, REJ, 0, "a\r\nb\r\n", 9, 0, 0, 0},
    /* Keep mode: bare CR / LF are content. */
    {"a\nb" END, KEEP, 0, "a\nb\r\n", 8, 0, 1, 0},
    {"a\rb" END, KEEP, 0, "a\rb\r\n", 8, 0, 0, 1},
    {"a\n.b" END, KEEP, 0, "a\n.b\r\n", 9, 0, 1, 0},
    {"a\r\r\n.\r\n", KEEP, 0, "a\r\r\n", 7, 0, 0, 1},
    /* Size limit: read to the end, 552 after it. */
    {"12345" END, NORM, 7, "12345\r\n", 10, 0, 0, 0},
    {"123456" END, NORM, 7, "123456\r", 11, 552, 0, 0},
    {"123456" END "QUIT\r\n", NORM, 7, "123456\r", 11, 552, 0, 0},
    {"..\r\n..\r\n.\r\n", NORM, 6, ".\r\n.\r\n", 11, 0, 0, 0},
};

static void test_data_table(void **state)
{
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]);
	     i++) {
		const struct data_case *c = &data_cases[i];
		struct run r;

		run_all_ways(c->mode, c->max, c->in, strlen(c->in), &r);
		if (c->consumed < 0) {
			assert_false(r.done);
		} else {
			if (!r.done || r.consumed != (size_t)c->consumed)
				fail_msg("case %zu: done %d consumed %zu", i,
					 r.done, r.consumed);
		}
		/* Over the limit the output is cut at exactly max octets. */
		if (!buf_eq_str(r.out, c->out))
			fail_msg("case %zu: output '%s'", i, buf_data(r.out));
		assert_int_equal(r.reply.code, c->reply);
		assert_int_equal(r.result, c->reply == 0 ? 0 : -1);
		assert_int_equal(r.bare_lf, c->bare_lf);
		assert_int_equal(r.bare_cr, c->bare_cr);
		if (c->reply == 552)
			assert_string_equal(r.reply.enhanced, "5.3.4");
		if (c->reply == 550)
			assert_string_equal(r.reply.enhanced, "5.5.2");
		buf_free(&r.out);
	}
}

/*
 * SMTP smuggling: a first message whose "end" is a non-standard
 * sequence, then a smuggled transaction, then the real CRLF.CRLF.  In
 * every mode it must be ONE message (the whole input consumed at the one
 * real end), the smuggled commands part of its content; in reject mode
 * refused, in normalize mode never containing a lone-dot line.
 */
#define S(x)                                                                   \
	{                                                                      \
		x, sizeof(x) - 1                                               \
	}
static const struct {
	const char *s;
	size_t len;
} smuggle_ends[] = {
    S("\n.\n"),		S("\r.\r"),	   S("\n.\r\n"),       S("\r\n.\n"),
    S("\r.\r\n"),	S("\r\n.\r"),	   S("\n.\r"),	       S("\r.\n"),
    S("\r\n.\r\r\n"),	S("\r\n.\n\r\n"),  S("\n\n.\n\n"),     S("\r\r.\r\r"),
    S("\r\n\x00.\r\n"), S("\r\n .\r\n"),   S("\r\n.\x00\r\n"), S("\r\n\r.\r\n"),
    S("\n\r\n.\n"),	S("\r\n.\n.\r\n"),
};

static void test_smuggling(void **state)
{
	static const char *const modes_name[] = {"normalize", "reject", "keep"};

	for (size_t i = 0; i < sizeof(smuggle_ends) / sizeof(smuggle_ends[0]);
	     i++) {
		struct buf *in = buf_new();

		buf_append_str(in, "From: a@example.com\r\n\r\nhello");
		buf_append(in, smuggle_ends[i].s, smuggle_ends[i].len);
		buf_append_str(in, "MAIL FROM:<evil@example.com>\r\n"
				   "RCPT TO:<victim@example.com>\r\n"
				   "DATA\r\n"
				   "From: ceo@example.com\r\n\r\nsmuggled");
		buf_append(in, END, 5);
		for (int m = 0; m < 3; m++) {
			struct run r;

			run_all_ways((enum smtp_bare_mode)m, 0, buf_data(in),
				     buf_len(in), &r);
			if (!r.done || r.consumed != buf_len(in))
				fail_msg("variant %zu (%s): ended early at "
					 "%zu of %zu",
					 i, modes_name[m], r.consumed,
					 buf_len(in));
			assert_non_null(memmem(buf_data(r.out), buf_len(r.out),
					       "smuggled\r\n", 10));
			if (m == REJ && (r.bare_lf || r.bare_cr))
				assert_int_equal(r.reply.code, 550);
			if (m == NORM) {
				assert_int_equal(r.result, 0);
				/* No lone-dot line and no bare CR / LF. */
				assert_null(memmem(buf_data(r.out),
						   buf_len(r.out), END, 5));
				for (size_t k = 0; k < buf_len(r.out); k++) {
					char c = buf_data(r.out)[k];

					if (c == '\r')
						assert_int_equal(
						    buf_data(r.out)[k + 1],
						    '\n');
					if (c == '\n')
						assert_true(
						    k > 0 &&
						    buf_data(r.out)[k - 1] ==
							'\r');
				}
			}
			buf_free(&r.out);
		}
		buf_free(&in);
	}
}

/* Random inputs over the interesting alphabet against the oracle. */
static void test_data_random(void **state)
{
	static const char alphabet[] = {'\r', '\n', '.', 'a', '\r', '\n', '.'};
	char in[48];

	for (int iter = 0; iter < 3000; iter++) {
		size_t len = rng() % sizeof(in);

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rng() % sizeof(alphabet)];
		for (int m = 0; m < 3; m++) {
			struct run whole, split;
			size_t end;
			bool has_end = oracle_end(in, len, &end);

			run_feed((enum smtp_bare_mode)m, 0, in, len, 'W', 0,
				 &whole);
			assert_int_equal(whole.done, has_end);
			assert_int_equal(whole.consumed, has_end ? end : len);
			run_feed((enum smtp_bare_mode)m, 0, in, len, 'R', 0,
				 &split);
			same_run(&whole, &split, "random input");
			if (m != KEEP) {
				/* Normalised output: only CRLF line ends. */
				const char *o = buf_data(whole.out);

				for (size_t k = 0; k < buf_len(whole.out);
				     k++) {
					if (o[k] == '\r')
						assert_int_equal(o[k + 1],
								 '\n');
					if (o[k] == '\n')
						assert_true(k > 0 &&
							    o[k - 1] == '\r');
				}
			}
			if (m == REJ)
				assert_int_equal(whole.result == 0,
						 has_end &&
						     whole.bare_cr == 0 &&
						     whole.bare_lf == 0);
			assert_int_equal(whole.size, buf_len(whole.out));
			buf_free(&whole.out);
			buf_free(&split.out);
		}
	}
}

/* A big message streamed in chunks, the output drained after each. */
static void test_data_streaming(void **state)
{
	struct smtp_data *d = smtp_data_new(NORM, 0);
	struct buf *out = buf_new();
	char chunk[65536];
	unsigned long long total = 0;
	size_t used;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'x';
	for (int i = 0; i < 160; i++) { /* 10 MB */
		assert_int_equal(
		    smtp_data_feed(d, chunk, sizeof(chunk), out, &used),
		    SMTP_DATA_MORE);
		assert_true(buf_len(out) <= sizeof(chunk) + 2);
		total += buf_len(out);
		buf_reset(out);
	}
	/* 65536 % 80 != 0: the last line is unfinished. */
	assert_int_equal(smtp_data_feed(d, END "QUIT\r\n", 11, out, &used),
			 SMTP_DATA_DONE);
	assert_int_equal(used, 5);
	assert_true(buf_eq_str(out, "\r\n"));
	total += buf_len(out);
	assert_int_equal(total, 160ULL * sizeof(chunk) + 2);
	assert_int_equal(smtp_data_size(d), total);
	assert_false(smtp_data_too_big(d));

	/* Reset: a new message with the same settings. */
	smtp_data_reset(d);
	assert_false(smtp_data_done(d));
	assert_int_equal(smtp_data_size(d), 0);
	assert_int_equal(smtp_data_feed(d, ".\r\n", 3, out, &used),
			 SMTP_DATA_DONE);
	buf_free(&out);
	smtp_data_free(&d);
}

static void test_bare_mode_parse(void **state)
{
	enum smtp_bare_mode m;

	assert_true(smtp_bare_mode_parse("normalize", &m));
	assert_int_equal(m, NORM);
	assert_true(smtp_bare_mode_parse("yes", &m));
	assert_int_equal(m, NORM);
	assert_true(smtp_bare_mode_parse("Reject", &m));
	assert_int_equal(m, REJ);
	assert_true(smtp_bare_mode_parse("no", &m));
	assert_int_equal(m, KEEP);
	assert_false(smtp_bare_mode_parse("maybe", &m));
	assert_false(smtp_bare_mode_parse("", &m));
}

/* --- BDAT --- */

static void test_bdat_chunks(void **state)
{
	struct smtp_bdat *b = smtp_bdat_new(0);
	struct buf *out = buf_new();
	size_t used;

	/* "BDAT 5" then "hello" followed by the next command. */
	smtp_bdat_chunk(b, 5, false);
	assert_int_equal(smtp_bdat_feed(b, "hel", 3, out, &used),
			 SMTP_DATA_MORE);
	assert_int_equal(used, 3);
	assert_int_equal(smtp_bdat_remaining(b), 2);
	assert_int_equal(smtp_bdat_feed(b, "loBDAT 4 LAST\r\n", 15, out, &used),
			 SMTP_DATA_DONE);
	assert_int_equal(used, 2);
	assert_false(smtp_bdat_done(b));
	/* No dot or line-end processing: binary passes through. */
	smtp_bdat_chunk(b, 7, true);
	for (size_t i = 0; i < 7; i++) {
		enum smtp_data_status st =
		    smtp_bdat_feed(b, &"\r\n.\r\n\0\n"[i], 1, out, &used);

		assert_int_equal(used, 1);
		assert_int_equal(st, i == 6 ? SMTP_DATA_DONE : SMTP_DATA_MORE);
	}
	assert_true(smtp_bdat_done(b));
	assert_int_equal(smtp_bdat_size(b), 12);
	assert_int_equal(buf_len(out), 12);
	assert_memory_equal(buf_data(out), "hello\r\n.\r\n\0\n", 12);
	assert_int_equal(smtp_bdat_result(b, NULL), 0);

	/* A new message after LAST; "BDAT 0 LAST" ends at once. */
	buf_reset(out);
	smtp_bdat_chunk(b, 0, true);
	assert_true(smtp_bdat_done(b));
	assert_int_equal(smtp_bdat_size(b), 0);
	assert_int_equal(smtp_bdat_feed(b, "QUIT\r\n", 6, out, &used),
			 SMTP_DATA_DONE);
	assert_int_equal(used, 0);
	smtp_bdat_free(&b);
	assert_null(b);
	buf_free(&out);
}

static void test_bdat_size_limit(void **state)
{
	struct smtp_bdat *b = smtp_bdat_new(8);
	struct buf *out = buf_new();
	struct smtp_reply r;
	size_t used;

	smtp_bdat_chunk(b, 6, false);
	assert_int_equal(smtp_bdat_feed(b, "123456", 6, out, &used),
			 SMTP_DATA_DONE);
	assert_false(smtp_bdat_too_big(b));
	smtp_bdat_chunk(b, 6, true);
	/* The whole chunk is still consumed, past the limit. */
	assert_int_equal(smtp_bdat_feed(b, "789012", 6, out, &used),
			 SMTP_DATA_DONE);
	assert_int_equal(used, 6);
	assert_true(smtp_bdat_done(b));
	assert_true(smtp_bdat_too_big(b));
	assert_int_equal(smtp_bdat_result(b, &r), -1);
	assert_int_equal(r.code, 552);
	assert_string_equal(r.enhanced, "5.3.4");
	/* RSET: reset and go again within the limit. */
	smtp_bdat_reset(b);
	buf_reset(out);
	smtp_bdat_chunk(b, 8, true);
	assert_int_equal(smtp_bdat_feed(b, "12345678", 8, out, &used),
			 SMTP_DATA_DONE);
	assert_int_equal(smtp_bdat_result(b, &r), 0);
	assert_true(buf_eq_str(out, "12345678"));
	smtp_bdat_free(&b);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_table),
	    cmocka_unit_test(test_smuggling),
	    cmocka_unit_test(test_data_random),
	    cmocka_unit_test(test_data_streaming),
	    cmocka_unit_test(test_bare_mode_parse),
	    cmocka_unit_test(test_bdat_chunks),
	    cmocka_unit_test(test_bdat_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
