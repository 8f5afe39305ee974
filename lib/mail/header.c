/* header - field iteration, lookup and HEADER.FIELDS (see header.h). */
#include "mail/header.h"

#include <string.h>
#include <strings.h>

void header_iter_init(struct header_iter *it, const char *hdr, size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
}

/* End of the line starting at p: just after its LF, or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl == NULL ? end : nl + 1;
}

static bool line_is_empty(const char *p, const char *end)
{
	return (p < end && *p == '\n') ||
	       (end - p >= 2 && p[0] == '\r' && p[1] == '\n');
}

bool header_iter_next(struct header_iter *it, struct header_field *f)
{
	while (it->p < it->end) {
		const char *start = it->p;
		if (line_is_empty(start, it->end)) {
			it->p = it->end; /* end of the header block */
			return false;
		}
		const char *e = line_end(start, it->end);
		/* Continuation lines belong to the field before. */
		while (e < it->end && (*e == ' ' || *e == '\t'))
			e = line_end(e, it->end);
		it->p = e;
		if (*start == ' ' || *start == '\t')
			continue; /* continuation without a field */
		const char *colon = memchr(start, ':', (size_t)(e - start));
		if (colon == NULL)
			continue; /* not a field */
		/* A name may not span lines. */
		const char *nl = memchr(start, '\n', (size_t)(colon - start));
		if (nl != NULL)
			continue;
		const char *ne = colon;
		while (ne > start && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (ne == start)
			continue;
		f->name = start;
		f->name_len = (size_t)(ne - start);
		const char *v = colon + 1;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		const char *ve = e;
		if (ve > v && ve[-1] == '\n')
			ve--;
		if (ve > v && ve[-1] == '\r')
			ve--;
		if (ve < v)
			ve = v;
		f->value = v;
		f->value_len = (size_t)(ve - v);
		f->raw = start;
		f->raw_len = (size_t)(e - start);
		return true;
	}
	return false;
}

static bool name_eq(const struct header_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

bool header_find(const char *hdr, size_t len, const char *name,
		 struct header_field *f)
{
	struct header_iter it;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, f)) {
		if (name_eq(f, name))
			return true;
	}
	return false;
}

void header_unfold(const char *value, size_t len, struct buf *out)
{
	size_t start = buf_len(out);
	while (len > 0 && (*value == ' ' || *value == '\t' ||
			   *value == '\r' || *value == '\n')) {
		value++;
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\n')
			continue;
		if (value[i] == '\r' && i + 1 < len && value[i + 1] == '\n')
			continue;
		buf_append_char(out, value[i]);
	}
	size_t n = buf_len(out);
	const char *d = buf_data(out);
	while (n > start && (d[n - 1] == ' ' || d[n - 1] == '\t' ||
			     d[n - 1] == '\r'))
		n--;
	buf_truncate(out, n);
}

bool header_get(const char *hdr, size_t len, const char *name,
		struct buf *out)
{
	struct header_field f;
	buf_reset(out);
	if (!header_find(hdr, len, name, &f))
		return false;
	header_unfold(f.value, f.value_len, out);
	return true;
}

/* Append s[0..len) with each LF not preceded by CR turned into CRLF. */
static void append_crlf(struct buf *out, const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
			buf_append(out, s + start, i - start);
			buf_append(out, "\r\n", 2);
			start = i + 1;
		}
	}
	buf_append(out, s + start, len - start);
}

void header_fields_extract(const char *hdr, size_t len,
			   const char *const *names, size_t name_count,
			   bool not_, struct buf *out)
{
	struct header_iter it;
	struct header_field f;

	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		bool match = false;
		for (size_t i = 0; i < name_count && !match; i++)
			match = name_eq(&f, names[i]);
		if (match == not_)
			continue;
		append_crlf(out, f.raw, f.raw_len);
		/* A last field without a line end gets one. */
		if (f.raw_len == 0 || f.raw[f.raw_len - 1] != '\n')
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}
