/*
 * smtpd-content-filter.c - the line, header field and MIME machinery
 * under the content checks (smtpd-content.h), with no session in it so
 * that the unit tests and the fuzz target drive it directly.
 *
 * Which table a header field goes to is Postfix's (cleanup_message.c
 * with mime_state): primary fields to header_checks, MIME fields
 * (MIME-Version, Content-*) and every field of a multipart part header
 * to mime_header_checks, the fields of a message/rfc822 part to
 * nested_header_checks.  The structure is followed from Content-Type
 * (boundaries at most CONTENT_DEPTH_MAX deep; Postfix's
 * mime_nesting_limit is 100), enough to tell headers from bodies; it is
 * not a validating MIME parser.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#include "smtpd-content.h"

#define CONTENT_DEPTH_MAX 32
/* RFC 2046 5.1.1: a boundary is 1 to 70 characters. */
#define BOUNDARY_MAX 70

enum hclass { H_PRIMARY, H_PART, H_NESTED };

struct content_filter {
	struct content_filter_limits lim;
	unsigned tables;
	content_check_fn *fn;
	void *ctx;
	struct buf *held;  /* a partial line */
	struct buf *field; /* the header field being collected */
	struct buf *key;
	bool in_header;
	bool oversize; /* the current field is over header_limit */
	enum hclass hclass;
	bool multipart, rfc822; /* what this header's Content-Type said */
	char *boundary;
	char *bounds[CONTENT_DEPTH_MAX];
	size_t nbounds;
	size_t body_seen; /* bytes of this part looked at */
	bool stopped;
};

static void header_start(struct content_filter *f, enum hclass hc)
{
	f->in_header = true;
	f->hclass = hc;
	f->multipart = f->rfc822 = false;
	free(f->boundary);
	f->boundary = NULL;
}

struct content_filter *
content_filter_new(const struct content_filter_limits *lim, unsigned tables,
		   content_check_fn *fn, void *ctx)
{
	struct content_filter *f = xcalloc(1, sizeof(*f));

	f->lim = *lim;
	f->tables = tables;
	f->fn = fn;
	f->ctx = ctx;
	f->held = buf_new();
	f->field = buf_new();
	f->key = buf_new();
	header_start(f, H_PRIMARY);
	return f;
}

static void pop_bounds(struct content_filter *f, size_t n)
{
	while (f->nbounds > n)
		free(f->bounds[--f->nbounds]);
}

void content_filter_free(struct content_filter **fp)
{
	struct content_filter *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	buf_free(&f->held);
	buf_free(&f->field);
	buf_free(&f->key);
	free(f->boundary);
	pop_bounds(f, 0);
	free(f);
}

void content_filter_stop(struct content_filter *f)
{
	f->stopped = true;
}

/* Does this line start a header field ("Name:", RFC 5322 2.2)? */
static bool field_line(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && p[n] != ':' && p[n] > ' ' && p[n] < 0x7f)
		n++;
	/* "Name :" is obsolete syntax (RFC 5322 4.5.3) but real. */
	size_t name = n;
	while (n < len && (p[n] == ' ' || p[n] == '\t'))
		n++;
	return name > 0 && n < len && p[n] == ':';
}

static bool name_is(const char *field, size_t flen, const char *name)
{
	size_t n = strlen(name);
	size_t i = n;

	if (flen < n || strncasecmp(field, name, n) != 0)
		return false;
	while (i < flen && (field[i] == ' ' || field[i] == '\t'))
		i++;
	return i < flen && field[i] == ':';
}

/* Postfix's HDR_OPT_MIME fields (header_opts.c); Content-Length and
 * other Content-* fields are not among them. */
static bool is_mime_field(const char *f, size_t len)
{
	static const char *const names[] = {
	    "Content-Description",	 "Content-Disposition", "Content-ID",
	    "Content-Transfer-Encoding", "Content-Type",	"MIME-Version"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name_is(f, len, names[i]))
			return true;
	return false;
}

/* Content-Type (joined, NUL-terminated): multipart and its boundary, or
 * message/rfc822. */
static void content_type(struct content_filter *f, const char *v)
{
	const char *p;

	v = strchr(v, ':') + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, "message/rfc822", 14) == 0) {
		f->rfc822 = true;
		return;
	}
	if (strncasecmp(v, "multipart/", 10) != 0)
		return;
	for (p = v; (p = strchr(p, '=')) != NULL; p++) {
		const char *n = p;
		size_t len;

		while (n > v && (n[-1] == ' ' || n[-1] == '\t'))
			n--;
		if (n - v < 8 || strncasecmp(n - 8, "boundary", 8) != 0)
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			p++;
			len = strcspn(p, "\"");
		} else {
			len = strcspn(p, " \t;");
		}
		if (len > 0 && len <= BOUNDARY_MAX) {
			free(f->boundary);
			f->boundary = xstrndup(p, len);
			f->multipart = true;
		}
		return;
	}
}

/* The held field is complete: through its table, then out. */
static void field_done(struct content_filter *f, struct buf *out)
{
	const char *p = buf_data(f->field);
	size_t len = buf_len(f->field);
	enum content_table t;

	if (len == 0)
		return;
	if (len > f->lim.header_limit) {
		buf_append(out, p, len);
		buf_reset(f->field);
		return;
	}
	/* Multi-line fields are joined: line ends out, the folding white
	 * space kept (header_checks(5)). */
	buf_reset(f->key);
	for (size_t i = 0; i < len; i++)
		if (p[i] != '\r' && p[i] != '\n')
			buf_append(f->key, p + i, 1);
	if (f->lim.no_mime)
		t = f->hclass == H_PRIMARY ? CONTENT_HEADER : CONTENT_NESTED;
	else if (f->hclass == H_PART || is_mime_field(p, len))
		t = CONTENT_MIME;
	else
		t = f->hclass == H_PRIMARY ? CONTENT_HEADER : CONTENT_NESTED;
	if (!f->lim.no_mime && name_is(p, len, "Content-Type"))
		content_type(f, buf_data(f->key));
	if (!f->stopped && (f->tables & CONTENT_TABLE_BIT(t)))
		f->fn(f->ctx, t, buf_data(f->key), p, len, out);
	else
		buf_append(out, p, len);
	buf_reset(f->field);
}

/* The header ended (the empty line, or a line that is not a field). */
static void header_end(struct content_filter *f)
{
	f->in_header = false;
	f->body_seen = 0;
	if (f->multipart && f->nbounds < CONTENT_DEPTH_MAX) {
		f->bounds[f->nbounds++] = f->boundary;
		f->boundary = NULL;
	} else if (f->rfc822) {
		header_start(f, H_NESTED);
	}
}

/* A "--boundary" or "--boundary--" line of an open multipart? */
static bool boundary_line(struct content_filter *f, const char *l, size_t len)
{
	if (len < 3 || l[0] != '-' || l[1] != '-')
		return false;
	for (size_t i = f->nbounds; i-- > 0;) {
		size_t n = strlen(f->bounds[i]);
		const char *rest;
		size_t rlen;
		bool close, ws = true;

		if (len - 2 < n || memcmp(l + 2, f->bounds[i], n) != 0)
			continue;
		rest = l + 2 + n;
		rlen = len - 2 - n;
		close = rlen >= 2 && rest[0] == '-' && rest[1] == '-';
		if (close) {
			rest += 2;
			rlen -= 2;
		}
		/* Only white space may follow (RFC 2046 5.1.1). */
		for (size_t j = 0; j < rlen && ws; j++)
			ws = isspace((unsigned char)rest[j]);
		if (!ws)
			continue;
		if (close) {
			pop_bounds(f, i);
			f->body_seen = 0;
		} else {
			pop_bounds(f, i + 1);
			header_start(f, H_PART);
		}
		return true;
	}
	return false;
}

static void body_line(struct content_filter *f, const char *l, size_t len,
		      struct buf *out)
{
	size_t n = len;

	if (f->stopped || !(f->tables & CONTENT_TABLE_BIT(CONTENT_BODY)) ||
	    f->body_seen >= f->lim.body_limit) {
		buf_append(out, l, len);
		return;
	}
	f->body_seen += len;
	while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
		n--;
	buf_reset(f->key);
	buf_append(f->key, l, n);
	f->fn(f->ctx, CONTENT_BODY, buf_data(f->key), l, len, out);
}

/* One line, with its line end if it has one. */
static void line_in(struct content_filter *f, const char *l, size_t len,
		    struct buf *out)
{
	if (f->in_header) {
		bool cont = l[0] == ' ' || l[0] == '\t';
		if (cont && f->oversize) {
			buf_append(out, l, len);
			return;
		}
		if (cont && buf_len(f->field) > 0) {
			buf_append(f->field, l, len);
			if (buf_len(f->field) > f->lim.header_limit) {
				/* Too long to look at: it passes unchecked,
				 * and is not held any longer. */
				buf_append(out, buf_data(f->field),
					   buf_len(f->field));
				buf_reset(f->field);
				f->oversize = true;
			}
			return;
		}
		field_done(f, out);
		f->oversize = false;
		if (field_line(l, len)) {
			buf_append(f->field, l, len);
			return;
		}
		header_end(f);
		if (l[0] == '\n' || (l[0] == '\r' && len <= 2)) {
			buf_append(out, l, len);
			return;
		}
		/* No empty line: this line is the body already. */
		f->in_header = false;
	}
	if (!f->lim.no_mime && f->nbounds > 0 && boundary_line(f, l, len)) {
		buf_append(out, l, len);
		return;
	}
	body_line(f, l, len, out);
}

static void lines(struct content_filter *f, struct buf *out, bool end)
{
	const char *p = buf_data(f->held);
	size_t len = buf_len(f->held), pos = 0;

	while (pos < len) {
		const char *nl = memchr(p + pos, '\n', len - pos);
		size_t l =
		    nl != NULL ? (size_t)(nl - (p + pos)) + 1 : len - pos;

		if (nl == NULL && !end)
			break;
		line_in(f, p + pos, l, out);
		pos += l;
	}
	buf_consume(f->held, pos);
	if (end && f->in_header)
		field_done(f, out);
}

void content_filter_feed(struct content_filter *f, struct buf *chunk)
{
	if (buf_len(chunk) == 0)
		return;
	buf_append(f->held, buf_data(chunk), buf_len(chunk));
	buf_reset(chunk);
	lines(f, chunk, false);
	/* A line longer than anything we look at: pass it on as it is
	 * (its tail then starts a "line" of its own, as in Postfix, where
	 * a long line is cut into records). */
	if (buf_len(f->held) > f->lim.header_limit + 1024) {
		if (f->in_header)
			field_done(f, chunk);
		buf_append(chunk, buf_data(f->held), buf_len(f->held));
		buf_reset(f->held);
	}
}

void content_filter_end(struct content_filter *f, struct buf *out)
{
	lines(f, out, true);
}
