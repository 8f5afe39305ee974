/*
 * rewrite_header.c - address header fields through the rewriting
 * (rewrite.h): find each addr-spec of an RFC 5322 address list and
 * replace only its bytes.
 *
 * Postfix re-serialises the whole field from its token tree; we splice
 * so that everything but the addresses stays byte for byte (a DKIM
 * signature over other fields survives, and a value we cannot read
 * safely is left alone rather than mangled).  The addresses that come out
 * are the same as Postfix's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#include "rewrite-private.h"

unsigned rewrite_header_class(const char *name, size_t len)
{
	/* Postfix global/header_opts.c: HDR_OPT_SENDER, HDR_OPT_RECIP and
	 * HDR_OPT_XRECIP fields. */
	static const struct {
		const char *name;
		unsigned cls;
	} fields[] = {
	    {"From", REWRITE_HDR_SENDER},
	    {"Sender", REWRITE_HDR_SENDER},
	    {"Reply-To", REWRITE_HDR_SENDER},
	    {"Return-Path", REWRITE_HDR_SENDER},
	    {"Errors-To", REWRITE_HDR_SENDER},
	    {"Return-Receipt-To", REWRITE_HDR_SENDER},
	    {"Disposition-Notification-To", REWRITE_HDR_SENDER},
	    {"Mail-Followup-To", REWRITE_HDR_SENDER},
	    {"Resent-From", REWRITE_HDR_SENDER},
	    {"Resent-Sender", REWRITE_HDR_SENDER},
	    {"To", REWRITE_HDR_RECIPIENT},
	    {"Cc", REWRITE_HDR_RECIPIENT},
	    {"Bcc", REWRITE_HDR_RECIPIENT},
	    {"Apparently-To", REWRITE_HDR_RECIPIENT},
	    {"Resent-To", REWRITE_HDR_RECIPIENT},
	    {"Resent-Cc", REWRITE_HDR_RECIPIENT},
	    {"Resent-Bcc", REWRITE_HDR_RECIPIENT},
	    {"Resent-Reply-To", REWRITE_HDR_RECIPIENT},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == len &&
		    strncasecmp(fields[i].name, name, len) == 0)
			return fields[i].cls;
	return 0;
}

static bool is_atext(unsigned char c)
{
	if (c >= 0x80) /* RFC 6532 */
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

/* The local part in wire form: a dot-atom as it is, else quoted. */
static void format_local(const char *local, size_t len, struct buf *out)
{
	bool dot_atom = len > 0 && local[0] != '.' && local[len - 1] != '.';

	for (size_t i = 0; i < len && dot_atom; i++) {
		unsigned char c = (unsigned char)local[i];
		if (c == '.' ? local[i + 1] == '.' : !is_atext(c))
			dot_atom = false;
	}
	if (dot_atom) {
		buf_append(out, local, len);
		return;
	}
	buf_append_char(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (local[i] == '"' || local[i] == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, local[i]);
	}
	buf_append_char(out, '"');
}

static void format_address(const char *addr, struct buf *out)
{
	const char *at = strrchr(addr, '@');

	format_local(addr, at != NULL ? (size_t)(at - addr) : strlen(addr),
		     out);
	if (at != NULL)
		buf_append_str(out, at);
}

/*
 * The addr-spec text s[0..len) in internal form; false when it is too
 * odd to rewrite (mixed quoting, blanks, line breaks).
 */
static bool internalize(const char *s, size_t len, struct buf *out)
{
	size_t at = len, i;
	bool q = false;

	for (i = 0; i < len; i++) {
		if (q && s[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == '@')
			at = i;
		else if (!q && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
				s[i] == '\n' || s[i] == '(' || s[i] == '<'))
			return false;
	}
	if (q || at == 0)
		return false;
	buf_reset(out);
	if (s[0] == '"') {
		if (at < 2 || s[at - 1] != '"')
			return false;
		for (i = 1; i < at - 1; i++) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				return false;
			if (s[i] == '\r' || s[i] == '\n')
				return false;
			buf_append_char(out, s[i]);
		}
	} else {
		if (memchr(s, '"', at) != NULL)
			return false;
		buf_append(out, s, at);
	}
	if (at < len) {
		if (at + 1 == len)
			return false;
		buf_append(out, s + at, len - at);
	}
	return true;
}

/* One address through the mode's rewriting; 1 changed (out), 0, -1. */
static int rewrite_one(const struct rewrite *rw, enum rewrite_mode mode,
		       const char *domain, unsigned cls, const char *addr,
		       struct buf *out, struct error *err)
{
	struct buf *q = buf_new();
	int r;

	if (mode == REWRITE_MODE_GENERIC) {
		r = rewrite_generic(rw, addr, out, err);
	} else {
		rewrite_qualify(rw, addr,
				mode == REWRITE_MODE_REMOTE ? domain : NULL, q);
		r = rewrite_address(rw, cls, buf_data(q), out, err);
		if (r == 0 && strcmp(buf_data(q), addr) != 0) {
			buf_set_str(out, buf_data(q));
			r = 1;
		}
	}
	buf_free(&q);
	return r;
}

struct span {
	size_t start, end;
};

/* Trim blanks, folding and comments around [s, e); false when any
 * remain inside (the element is not a plain addr-spec). */
static bool bare_span(const char *v, size_t s, size_t e, struct span *sp)
{
	size_t i, first = e, last = s;
	int depth = 0;
	bool q = false, inside_gap = false, seen = false, gap = false;

	for (i = s; i < e; i++) {
		char c = v[i];
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			gap = true;
			continue;
		}
		if (q) {
			if (c == '\\')
				i++;
			else if (c == '"')
				q = false;
			last = i + 1;
			continue;
		}
		if (c == '(') {
			depth = 1;
			gap = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			gap = true;
			continue;
		}
		if (seen && gap)
			inside_gap = true;
		gap = false;
		if (!seen)
			first = i;
		seen = true;
		if (c == '"')
			q = true;
		last = i + 1;
	}
	if (!seen || inside_gap || q || depth > 0)
		return false;
	sp->start = first;
	sp->end = last;
	return true;
}

/* Find the addr-specs of an address list value v[0..len). */
static void find_addresses(const char *v, size_t len, struct span *spans,
			   size_t *n_r, size_t max)
{
	size_t n = 0, elem = 0, lt = 0;
	int depth = 0;
	bool q = false, angle = false, had_angle = false;

	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? v[i] : ',';

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (q) {
			if (c == '\\')
				i++;
			else if (c == '"')
				q = false;
			continue;
		}
		if (c == '"') {
			q = true;
		} else if (c == '(') {
			depth = 1;
		} else if (c == '<' && !angle) {
			angle = true;
			had_angle = true;
			lt = i + 1;
		} else if (c == '>' && angle) {
			size_t s = lt;
			/* an obsolete route "@a,@b:" before the mailbox */
			if (s < i && v[s] == '@') {
				const char *colon = memchr(v + s, ':', i - s);
				s = colon != NULL ? (size_t)(colon - v) + 1 : i;
			}
			if (s < i && n < max) {
				struct span sp;
				if (bare_span(v, s, i, &sp))
					spans[n++] = sp;
			}
			angle = false;
		} else if (!angle && (c == ',' || c == ';' || c == ':')) {
			if (c != ':' && !had_angle && i > elem && n < max) {
				struct span sp;
				if (bare_span(v, elem, i, &sp))
					spans[n++] = sp;
			}
			/* ':' starts a group: what came before is its name. */
			elem = i + 1;
			had_angle = false;
		}
	}
	*n_r = n;
}

#define MAX_FIELD_ADDRESSES 1024

int rewrite_header_field(const struct rewrite *rw, enum rewrite_mode mode,
			 const char *domain, const char *field, size_t len,
			 struct buf *out, struct error *err)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len, vstart, n = 0, done;
	struct span *spans;
	struct buf *addr, *res;
	unsigned cls;
	int changed = 0, r = 0;
	size_t out_start = buf_len(out);

	if (colon == NULL) {
		buf_append(out, field, len);
		return 0;
	}
	name_len = (size_t)(colon - field);
	while (name_len > 0 &&
	       (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
		name_len--;
	cls = rewrite_header_class(field, name_len);
	if (cls == 0 ||
	    (mode != REWRITE_MODE_GENERIC && mode != REWRITE_MODE_LOCAL &&
	     mode != REWRITE_MODE_REMOTE) ||
	    (mode == REWRITE_MODE_GENERIC && rw->generic == NULL)) {
		buf_append(out, field, len);
		return 0;
	}
	vstart = (size_t)(colon - field) + 1;
	spans = xcalloc(MAX_FIELD_ADDRESSES, sizeof(*spans));
	find_addresses(field + vstart, len - vstart, spans, &n,
		       MAX_FIELD_ADDRESSES);
	addr = buf_new();
	res = buf_new();
	done = 0;
	for (size_t k = 0; k < n; k++) {
		size_t s = vstart + spans[k].start, e = vstart + spans[k].end;

		if (!internalize(field + s, e - s, addr))
			continue;
		r = rewrite_one(rw, mode, domain, cls, buf_data(addr), res,
				err);
		if (r < 0)
			break;
		if (r == 0 || strcmp(buf_data(res), buf_data(addr)) == 0)
			continue;
		buf_append(out, field + done, s - done);
		format_address(buf_data(res), out);
		done = e;
		changed = 1;
	}
	if (r < 0) {
		buf_truncate(out, out_start);
		buf_append(out, field, len);
		changed = -1;
	} else {
		buf_append(out, field + done, len - done);
	}
	buf_free(&addr);
	buf_free(&res);
	free(spans);
	return changed;
}

/* Length of the line at p (with its LF), or of the rest without one. */
static size_t line_len(const char *p, size_t left)
{
	const char *nl = memchr(p, '\n', left);

	return nl != NULL ? (size_t)(nl - p) + 1 : left;
}

/* Does the line start a header field ("name:")? */
static bool is_field_start(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != ':' && p[i] > ' ' && p[i] < 0x7f)
		i++;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i > 0 && i < len && p[i] == ':' && p[0] != ' ' && p[0] != '\t';
}

int rewrite_header_block(const struct rewrite *rw, enum rewrite_mode mode,
			 const char *domain, const char *msg, size_t len,
			 struct buf *out, struct error *err)
{
	size_t pos = 0;
	int count = 0;

	while (pos < len) {
		size_t l = line_len(msg + pos, len - pos), end;

		if (!is_field_start(msg + pos, l))
			break; /* the empty line, or no header at all */
		end = pos + l;
		while (end < len && (msg[end] == ' ' || msg[end] == '\t'))
			end += line_len(msg + end, len - end);
		int r = rewrite_header_field(rw, mode, domain, msg + pos,
					     end - pos, out, err);
		if (r < 0)
			return -1;
		count += r;
		pos = end;
	}
	buf_append(out, msg + pos, len - pos);
	return count;
}
