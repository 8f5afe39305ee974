/*
 * fuzz_smtp_data - libFuzzer target for the DATA reader and the BDAT
 * counter (lib/smtp/smtp_data.c).
 *
 * Input: byte 0 picks the bare CR/LF mode and a size limit, byte 1 seeds
 * the chunk split, the rest is what a client sends after "354".  Checks:
 *   - end of data is detected exactly after the first CRLF.CRLF of
 *     (CRLF + input), never at any other "<LF>.<LF>"-like sequence, and
 *     the bytes after it are left unconsumed;
 *   - feeding in random chunks gives the same result as feeding whole;
 *   - in normalize and reject modes the output has only CRLF line ends;
 *   - round trip: dot-stuffing the output again (as our SMTP/LMTP client
 *     will) and reading it back ends exactly at the appended CRLF.CRLF
 *     and gives the same message, so no hop after us can see an end of
 *     data, and so a second message, inside what we accepted as one;
 *   - BDAT consumes exactly the announced chunk size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	bool done;
	bool too_big;
	size_t consumed;
	int verdict;
};

static struct result feed(enum smtp_bare_mode mode, uint64_t max,
			  const char *in, size_t len, uint32_t seed,
			  struct buf *out)
{
	struct smtp_data *d = smtp_data_new(mode, max);
	struct result res = {false, false, 0, 0};
	struct smtp_reply reply;

	while (res.consumed < len) {
		size_t n = len - res.consumed, used;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 13 + 1 < n)
				n = (seed >> 16) % 13 + 1;
		}
		if (smtp_data_feed(d, in + res.consumed, n, out, &used) ==
		    SMTP_DATA_DONE) {
			res.done = true;
			res.consumed += used;
			break;
		}
		if (used != n)
			abort();
		res.consumed += used;
	}
	res.verdict = smtp_data_result(d, &reply);
	res.too_big = smtp_data_too_big(d);
	if (res.too_big && buf_len(out) != max)
		abort();
	if (res.done != smtp_data_done(d))
		abort();
	smtp_data_free(&d);
	return res;
}

static void check_crlf_only(const struct buf *b)
{
	const char *o = buf_data(b);

	for (size_t k = 0; k < buf_len(b); k++) {
		if (o[k] == '\r' && (k + 1 >= buf_len(b) || o[k + 1] != '\n'))
			abort();
		if (o[k] == '\n' && (k == 0 || o[k - 1] != '\r'))
			abort();
	}
}

/* Dot-stuff msg after every CRLF (RFC 5321 4.5.2) and append CRLF.CRLF. */
static void restuff(const struct buf *msg, struct buf *wire)
{
	const char *m = buf_data(msg);
	bool bol = true;

	for (size_t k = 0; k < buf_len(msg); k++) {
		if (bol && m[k] == '.')
			buf_append_char(wire, '.');
		buf_append_char(wire, m[k]);
		bol = m[k] == '\n' && k > 0 && m[k - 1] == '\r';
	}
	buf_append(wire, ".\r\n", 3);
}

static void fuzz_bdat(const char *in, size_t len, uint32_t seed)
{
	struct smtp_bdat *b = smtp_bdat_new(seed % 64);
	struct buf *out = buf_new();
	size_t chunk = seed % (len + 1), used;

	smtp_bdat_chunk(b, chunk, true);
	if (smtp_bdat_feed(b, in, len, out, &used) != SMTP_DATA_DONE ||
	    used != chunk || !smtp_bdat_done(b))
		abort();
	if (!smtp_bdat_too_big(b) &&
	    (buf_len(out) != chunk || memcmp(buf_data(out), in, chunk) != 0))
		abort();
	smtp_bdat_free(&b);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum smtp_bare_mode mode;
	struct buf *whole, *split, *tmp, *wire, *again;
	struct result a, b;
	const char *in, *hit;
	uint64_t max;
	size_t len;

	if (size < 2)
		return 0;
	mode = (enum smtp_bare_mode)(data[0] % 3);
	max = (data[0] >> 2) & 1 ? (uint64_t)(data[0] >> 3) : 0;
	in = (const char *)data + 2;
	len = size - 2;

	whole = buf_new();
	split = buf_new();
	a = feed(mode, max, in, len, 0, whole);
	b = feed(mode, max, in, len, data[1] + 1u, split);
	if (a.done != b.done || a.consumed != b.consumed ||
	    a.verdict != b.verdict || buf_len(whole) != buf_len(split) ||
	    memcmp(buf_data(whole), buf_data(split), buf_len(whole)) != 0)
		abort();

	/* The oracle: the end is right after the first CRLF.CRLF. */
	tmp = buf_new();
	buf_append(tmp, "\r\n", 2);
	buf_append(tmp, in, len);
	hit = memmem(buf_data(tmp), buf_len(tmp), "\r\n.\r\n", 5);
	if ((hit != NULL) != a.done)
		abort();
	if (hit != NULL && a.consumed != (size_t)(hit - buf_data(tmp)) + 3)
		abort();
	if (hit == NULL && a.consumed != len)
		abort();

	/* Past the limit the output is cut, maybe inside a CRLF. */
	if (mode != SMTP_BARE_KEEP && !a.too_big)
		check_crlf_only(whole);

	if (a.done && max == 0) {
		struct result c;

		wire = buf_new();
		again = buf_new();
		restuff(whole, wire);
		c = feed(mode, 0, buf_data(wire), buf_len(wire), 0, again);
		if (!c.done || c.consumed != buf_len(wire) ||
		    buf_len(again) != buf_len(whole) ||
		    memcmp(buf_data(again), buf_data(whole), buf_len(whole)) !=
			0)
			abort();
		buf_free(&wire);
		buf_free(&again);
	}
	fuzz_bdat(in, len, data[1]);
	buf_free(&tmp);
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
