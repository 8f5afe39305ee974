/*
 * smtp_data - the DATA stream reader; see smtp_data.h.
 *
 * A byte-level state machine.  Every CR is held back until the next byte
 * says whether it is half of a CRLF or a bare CR, so a chunk may end
 * anywhere, CRLF.CRLF included, and the result is the same as feeding the
 * whole input at once.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "smtp/smtp_data.h"

struct smtp_data {
	enum smtp_bare_mode mode;
	uint64_t max_size;
	uint64_t size;
	uint64_t bare_lf, bare_cr;
	bool too_big;
	bool done;
	bool bol;	/* at the start of a line */
	bool line_crlf; /* this line follows a CRLF (or the DATA command) */
	bool dot;	/* the line so far is its (removed) leading dot */
	bool cr;	/* a CR is held back */
};

bool smtp_bare_mode_parse(const char *value, enum smtp_bare_mode *mode_r)
{
	if (strcasecmp(value, "normalize") == 0 ||
	    strcasecmp(value, "yes") == 0)
		*mode_r = SMTP_BARE_NORMALIZE;
	else if (strcasecmp(value, "reject") == 0)
		*mode_r = SMTP_BARE_REJECT;
	else if (strcasecmp(value, "no") == 0)
		*mode_r = SMTP_BARE_KEEP;
	else
		return false;
	return true;
}

struct smtp_data *smtp_data_new(enum smtp_bare_mode mode, uint64_t max_size)
{
	struct smtp_data *d = xcalloc(1, sizeof(*d));

	d->mode = mode;
	d->max_size = max_size;
	smtp_data_reset(d);
	return d;
}

void smtp_data_free(struct smtp_data **d)
{
	XFREE(*d);
}

void smtp_data_reset(struct smtp_data *d)
{
	d->size = d->bare_lf = d->bare_cr = 0;
	d->too_big = d->done = d->dot = d->cr = false;
	/* "DATA" CRLF ends a line: ".\r\n" right away is an empty
	 * message (RFC 5321 4.1.1.4). */
	d->bol = d->line_crlf = true;
}

static void emit(struct smtp_data *d, struct buf *out, const void *p, size_t n)
{
	uint64_t before = d->size;

	d->size += n;
	if (d->too_big)
		return;
	if (d->max_size > 0 && d->size > d->max_size) {
		/* Keep exactly the first max_size octets, however the input
		 * was split; the caller discards them anyway. */
		d->too_big = true;
		n = (size_t)(d->max_size - before);
	}
	buf_append(out, p, n);
}

static void line_end(struct smtp_data *d, struct buf *out, bool crlf)
{
	emit(d, out, "\r\n", 2);
	d->bol = true;
	d->line_crlf = crlf;
	d->dot = false;
}

enum smtp_data_status smtp_data_feed(struct smtp_data *d, const void *in,
				     size_t len, struct buf *out,
				     size_t *consumed_r)
{
	const unsigned char *p = in;
	size_t i = 0;

	if (d->done) {
		*consumed_r = 0;
		return SMTP_DATA_DONE;
	}
	while (i < len) {
		unsigned char c = p[i];

		if (d->cr) {
			d->cr = false;
			if (c == '\n') {
				i++;
				/* RFC 5321 4.1.1.4: CRLF "." CRLF, and only
				 * that, is the end of the mail data. */
				if (d->dot && d->line_crlf) {
					d->done = true;
					*consumed_r = i;
					return SMTP_DATA_DONE;
				}
				line_end(d, out, true);
				continue;
			}
			d->bare_cr++;
			if (d->mode == SMTP_BARE_KEEP) {
				emit(d, out, "\r", 1);
				d->bol = d->dot = false;
			} else {
				line_end(d, out, false);
			}
			continue; /* c is looked at again, without the CR */
		}
		if (c == '\r') {
			d->cr = true;
			i++;
			continue;
		}
		if (c == '\n') {
			d->bare_lf++;
			i++;
			if (d->mode == SMTP_BARE_KEEP) {
				emit(d, out, "\n", 1);
				d->bol = d->dot = false;
			} else {
				line_end(d, out, false);
			}
			continue;
		}
		if (d->bol) {
			d->bol = false;
			/* RFC 5321 4.5.2: drop the first of a line's dots. */
			if (c == '.') {
				d->dot = true;
				i++;
				continue;
			}
		}
		d->dot = false;
		size_t j = i + 1;

		while (j < len && p[j] != '\r' && p[j] != '\n')
			j++;
		emit(d, out, p + i, j - i);
		i = j;
	}
	*consumed_r = len;
	return SMTP_DATA_MORE;
}

bool smtp_data_done(const struct smtp_data *d)
{
	return d->done;
}

uint64_t smtp_data_size(const struct smtp_data *d)
{
	return d->size;
}

bool smtp_data_too_big(const struct smtp_data *d)
{
	return d->too_big;
}

uint64_t smtp_data_bare_lf(const struct smtp_data *d)
{
	return d->bare_lf;
}

uint64_t smtp_data_bare_cr(const struct smtp_data *d)
{
	return d->bare_cr;
}

int smtp_data_result(const struct smtp_data *d, struct smtp_reply *reply_r)
{
	if (!d->done)
		return smtp_reply_set(reply_r, 451, "4.3.0",
				      "Error: end of data not seen");
	if (d->too_big)
		return smtp_reply_set(reply_r, 552, "5.3.4",
				      "Message size exceeds fixed limit");
	/* Postfix's reject answer for smtpd_forbid_bare_newline = reject. */
	if (d->mode == SMTP_BARE_REJECT && (d->bare_lf > 0 || d->bare_cr > 0))
		return smtp_reply_set(reply_r, 550, "5.5.2",
				      "Error: message contains bare CR or LF "
				      "(RFC 5321 2.3.8)");
	return 0;
}
