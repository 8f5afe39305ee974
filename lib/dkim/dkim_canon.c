/* dkim_canon - relaxed canonicalisation and h= selection (dkim_canon.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "dkim/dkim_canon.h"

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

size_t dkim_body_offset(const char *msg, size_t len)
{
	size_t i = 0;

	/* A line that is empty (or just CR) ends the header section. */
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - msg) : len;
		size_t l = end - i;
		if (l == 0 || (l == 1 && msg[i] == '\r'))
			return nl != NULL ? end + 1 : len;
		if (nl == NULL)
			return len;
		i = end + 1;
	}
	return len;
}

void dkim_canon_body_relaxed(const char *body, size_t len, struct buf *out)
{
	size_t i = 0, blank = 0; /* empty lines not written yet */

	while (i < len) {
		const char *nl = memchr(body + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - body) : len;
		size_t l = end - i;
		if (l > 0 && body[i + l - 1] == '\r')
			l--;
		/* Trailing blanks go; inner runs become one SP. */
		while (l > 0 && wsp(body[i + l - 1]))
			l--;
		if (l == 0) {
			blank++;
		} else {
			for (; blank > 0; blank--)
				buf_append(out, "\r\n", 2);
			for (size_t k = 0; k < l; k++) {
				char c = body[i + k];
				if (wsp(c)) {
					while (k + 1 < l &&
					       wsp(body[i + k + 1]))
						k++;
					c = ' ';
				}
				buf_append_char(out, c);
			}
			buf_append(out, "\r\n", 2);
		}
		i = nl != NULL ? end + 1 : len;
	}
	/* Empty lines at the end are dropped (RFC 6376 3.4.4 (b)); an
	 * empty body stays empty. */
}

void dkim_canon_header_relaxed(const char *field, size_t len, bool crlf,
			       struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - field) : len;
	bool pending = false, any = false;

	while (nlen > 0 && wsp(field[nlen - 1]))
		nlen--;
	for (size_t i = 0; i < nlen; i++) {
		char c = field[i];
		buf_append_char(out,
				(c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
	}
	buf_append_char(out, ':');
	if (colon != NULL) {
		for (size_t i = (size_t)(colon - field) + 1; i < len; i++) {
			char c = field[i];
			if (c == '\r' || c == '\n')
				continue; /* unfolding */
			if (wsp(c)) {
				pending = any;
				continue;
			}
			if (pending)
				buf_append_char(out, ' ');
			pending = false;
			any = true;
			buf_append_char(out, c);
		}
	}
	if (crlf)
		buf_append(out, "\r\n", 2);
}

struct array *dkim_fields(const char *msg, size_t len)
{
	struct array *a = array_new();
	size_t hlen = dkim_body_offset(msg, len), i = 0;

	while (i < hlen) {
		size_t s = i;
		/* A field runs until a line that does not start with WSP. */
		do {
			const char *nl = memchr(msg + i, '\n', hlen - i);
			i = nl != NULL ? (size_t)(nl - msg) + 1 : hlen;
		} while (i < hlen && wsp(msg[i]));
		size_t l = i - s;
		const char *colon = memchr(msg + s, ':', l);
		if (colon == NULL)
			continue; /* the empty line, or junk */
		struct dkim_field *f = xcalloc(1, sizeof(*f));
		f->name = msg + s;
		f->name_len = (size_t)(colon - f->name);
		while (f->name_len > 0 && wsp(f->name[f->name_len - 1]))
			f->name_len--;
		f->raw = msg + s;
		f->raw_len = l;
		array_push(a, f);
	}
	return a;
}

void dkim_fields_free(struct array **fields)
{
	if (*fields == NULL)
		return;
	for (size_t i = 0; i < array_len(*fields); i++)
		free(array_get(*fields, i));
	array_free(fields);
}

struct dkim_field *dkim_select(struct array *fields, const char *name,
			       size_t name_len)
{
	for (size_t i = array_len(fields); i > 0; i--) {
		struct dkim_field *f = array_get(fields, i - 1);
		if (!f->used && f->name_len == name_len &&
		    strncasecmp(f->name, name, name_len) == 0) {
			f->used = true;
			return f;
		}
	}
	return NULL;
}
