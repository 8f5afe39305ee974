/*
 * mime_downgrade_check - the output check shared by test_mime_downgrade
 * and fuzz_mime_downgrade.  mdc_check(in, out) returns NULL when `out` is
 * a faithful 7-bit form of `in`, else a static description of the first
 * problem:
 *   - every byte of out is 7-bit and not NUL;
 *   - when no input line is longer than 998 characters, no output line is;
 *   - out parses into the same tree as in, and every leaf decodes (by its
 *     Content-Transfer-Encoding) to the same bytes as the input leaf; a
 *     message/global the downgrade encoded whole is compared as a leaf,
 *     a multipart without parts (its body is like a preamble) not at all.
 */
#ifndef POSTERN_TESTS_MIME_DOWNGRADE_CHECK_H
#define POSTERN_TESTS_MIME_DOWNGRADE_CHECK_H

#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"
#include "mail/mime_downgrade.h"

static size_t mdc_longest_line(const char *d, size_t n)
{
	size_t best = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '\n') {
			size_t l = i - start;
			if (l > 0 && d[i - 1] == '\r' && i < n)
				l--;
			if (l > best)
				best = l;
			start = i + 1;
		}
	}
	return best;
}

static void mdc_decode(const struct mime_message *m,
		       const struct mime_part *p, struct buf *out)
{
	buf_reset(out);
	const char *d = mime_data(m) + p->body.phys_off;
	if (mime_decode_cte(mime_cte_parse(p->encoding), d, p->body.phys_size,
			    out) < 0)
		buf_append(out, d, p->body.phys_size);
}

static void mdc_chop_eol(struct buf *b)
{
	size_t n = buf_len(b);
	if (n > 0 && buf_data(b)[n - 1] == '\n')
		n--;
	if (n > 0 && buf_data(b)[n - 1] == '\r')
		n--;
	buf_truncate(b, n);
}

static const char *mdc_compare(const struct mime_message *mi,
			       const struct mime_part *a,
			       const struct mime_message *mo,
			       const struct mime_part *b, struct buf *x,
			       struct buf *y)
{
	for (; a != NULL || b != NULL; a = a->next, b = b->next) {
		if (a == NULL || b == NULL)
			return "different number of parts";
		if (strcmp(a->type, b->type) != 0 ||
		    strcmp(a->subtype, b->subtype) != 0)
			return "different content type";
		bool whole = a->children != NULL &&
			     mime_part_is(a, "message", "global") &&
			     mime_is_8bit(mime_data(mi) + a->body.phys_off,
					  a->body.phys_size);
		/* A multipart without parts: its 8-bit bytes became "?". */
		bool text_only = a->children == NULL &&
				 mime_part_is(a, "multipart", NULL);
		if ((a->children == NULL && !text_only) || whole) {
			mdc_decode(mi, a, x);
			mdc_decode(mo, b, y);
			if (whole) {
				/* The parser gives the line end before the
				 * boundary to a message part or not,
				 * depending on how its child parsed. */
				mdc_chop_eol(x);
				mdc_chop_eol(y);
			}
			if (buf_len(x) != buf_len(y) ||
			    memcmp(buf_data(x), buf_data(y), buf_len(x)) != 0)
				return "a part decodes differently";
			if (whole)
				continue;
		}
		const char *why = mdc_compare(mi, a->children, mo, b->children,
					      x, y);
		if (why != NULL)
			return why;
	}
	return NULL;
}

static const char *mdc_check(const char *in, size_t in_len, const char *out,
			     size_t out_len)
{
	if (mime_is_8bit(out, out_len))
		return "8-bit byte in the output";
	if (mdc_longest_line(in, in_len) <= 998 &&
	    mdc_longest_line(out, out_len) > 998)
		return "output line longer than 998";
	struct mime_message *mi = mime_parse(in, in_len);
	struct mime_message *mo = mime_parse(out, out_len);
	struct buf *x = buf_new(), *y = buf_new();
	const char *why = mdc_compare(mi, mime_root(mi), mo, mime_root(mo), x,
				      y);
	buf_free(&x);
	buf_free(&y);
	mime_message_free(&mi);
	mime_message_free(&mo);
	return why;
}

#endif
