/*
 * milter_message.c - a message held for milters and their edits
 * (milter_message.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/xmalloc.h"
#include "smtp/milter_message.h"
#include "smtp/milter_proto.h"

struct field {
	char *name;	/* NUL-terminated copy */
	struct buf *raw; /* "Name: value\r\n", folding kept */
};

struct milter_message {
	struct array *fields; /* struct field * */
	bool separator;	      /* the empty line after the header was there */
	struct buf *body;
	bool replacing; /* within a REPLBODY edit */
};

static void field_free(void *p)
{
	struct field *f = p;

	free(f->name);
	buf_free(&f->raw);
	free(f);
}

/* RFC 5322 2.2: ftext is printable US-ASCII but the colon. */
static size_t field_name_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] > 32 && p[i] < 127 && p[i] != ':')
		i++;
	return i < n && p[i] == ':' && i > 0 ? i : 0;
}

static size_t line_len(const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);

	return lf != NULL ? (size_t)(lf - p) + 1 : n;
}

struct milter_message *milter_message_parse(const char *data, size_t len)
{
	struct milter_message *m = xcalloc(1, sizeof(*m));
	size_t at = 0;

	m->fields = array_new();
	m->body = buf_new();
	while (at < len) {
		const char *p = data + at;
		size_t n = line_len(p, len - at);
		size_t name;

		if ((n == 2 && p[0] == '\r' && p[1] == '\n') ||
		    (n == 1 && p[0] == '\n')) {
			m->separator = true;
			at += n;
			break;
		}
		if ((p[0] == ' ' || p[0] == '\t') && array_len(m->fields) > 0) {
			struct field *f =
			    array_get(m->fields, array_len(m->fields) - 1);
			buf_append(f->raw, p, n);
			at += n;
			continue;
		}
		if ((name = field_name_len(p, n)) == 0)
			break; /* not a header field: the body starts */
		struct field *f = xcalloc(1, sizeof(*f));
		f->name = xstrndup(p, name);
		f->raw = buf_new();
		buf_append(f->raw, p, n);
		array_push(m->fields, f);
		at += n;
	}
	buf_append(m->body, data + at, len - at);
	return m;
}

void milter_message_free(struct milter_message **pm)
{
	struct milter_message *m = *pm;

	if (m == NULL)
		return;
	*pm = NULL;
	array_free_with(&m->fields, field_free);
	buf_free(&m->body);
	free(m);
}

size_t milter_message_header_count(const struct milter_message *m)
{
	return array_len(m->fields);
}

void milter_message_header(const struct milter_message *m, size_t i,
			   bool leadspc, const char **name_r, struct buf *value)
{
	const struct field *f = array_get(m->fields, i);
	const char *p = buf_data(f->raw) + strlen(f->name) + 1;
	const char *end = buf_data(f->raw) + buf_len(f->raw);

	*name_r = f->name;
	buf_reset(value);
	if (!leadspc)
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	/* Drop the final line end; inner CRLFs become LF as Sendmail and
	 * Postfix send them. */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	for (; p < end; p++)
		if (!(*p == '\r' && p + 1 < end && p[1] == '\n'))
			buf_append_char(value, *p);
}

const struct buf *milter_message_body(const struct milter_message *m)
{
	return m->body;
}

/* Append s with its line ends made CRLF. */
static void append_crlf(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			buf_append_char(out, '\r');
		buf_append_char(out, s[i]);
	}
}

static struct field *field_new(const char *name, const char *value,
			       bool leadspc)
{
	struct field *f = xcalloc(1, sizeof(*f));
	size_t vlen = strlen(value);

	f->name = xstrdup(name);
	f->raw = buf_new();
	buf_append_str(f->raw, name);
	buf_append_str(f->raw, leadspc ? ":" : ": ");
	/* A value ending in a line end would leave an empty line behind. */
	while (vlen > 0 && (value[vlen - 1] == '\n' || value[vlen - 1] == '\r'))
		vlen--;
	append_crlf(f->raw, value, vlen);
	buf_append_str(f->raw, "\r\n");
	return f;
}

void milter_message_add_header(struct milter_message *m, const char *name,
			       const char *value, bool leadspc)
{
	array_push(m->fields, field_new(name, value, leadspc));
}

void milter_message_insert_header(struct milter_message *m, uint32_t index,
				  const char *name, const char *value,
				  bool leadspc)
{
	size_t n = array_len(m->fields);

	array_push(m->fields, field_new(name, value, leadspc));
	if (index >= n)
		return;
	/* Shift the tail up by one and put the new field at index. */
	void *added = array_get(m->fields, n);
	for (size_t i = n; i > index; i--)
		array_set(m->fields, i, array_get(m->fields, i - 1));
	array_set(m->fields, index, added);
}

void milter_message_change_header(struct milter_message *m, uint32_t index,
				  const char *name, const char *value,
				  bool leadspc)
{
	uint32_t seen = 0;

	/* Sendmail treats index 0 as 1. */
	if (index == 0)
		index = 1;
	for (size_t i = 0; i < array_len(m->fields); i++) {
		struct field *f = array_get(m->fields, i);

		if (strcasecmp(f->name, name) != 0 || ++seen != index)
			continue;
		if (value[0] == '\0') {
			array_remove(m->fields, i);
			field_free(f);
		} else {
			array_set(m->fields, i, field_new(name, value, leadspc));
			field_free(f);
		}
		return;
	}
	if (value[0] != '\0')
		milter_message_add_header(m, name, value, leadspc);
}

void milter_message_replace_body(struct milter_message *m, const char *data,
				 size_t len)
{
	if (!m->replacing) {
		buf_reset(m->body);
		m->replacing = true;
	}
	/* A chunk may end between CR and LF: append_crlf looks back one
	 * byte within the chunk only, so check the body's last byte. */
	if (len > 0 && data[0] == '\n' && buf_len(m->body) > 0 &&
	    buf_data(m->body)[buf_len(m->body) - 1] == '\r') {
		buf_append_char(m->body, '\n');
		data++;
		len--;
	}
	append_crlf(m->body, data, len);
}

void milter_message_body_done(struct milter_message *m)
{
	m->replacing = false;
}

void milter_message_write(const struct milter_message *m, struct buf *out)
{
	for (size_t i = 0; i < array_len(m->fields); i++) {
		const struct field *f = array_get(m->fields, i);
		buf_append(out, buf_data(f->raw), buf_len(f->raw));
	}
	if (m->separator || array_len(m->fields) > 0)
		buf_append_str(out, "\r\n");
	buf_append(out, buf_data(m->body), buf_len(m->body));
}

bool milter_message_apply(struct milter_message *m,
			  const struct milter_reply *r, bool leadspc)
{
	switch (r->cmd) {
	case MILTER_REP_ADDHEADER:
		milter_message_add_header(m, r->name, r->value, leadspc);
		return true;
	case MILTER_REP_INSHEADER:
		milter_message_insert_header(m, r->index, r->name, r->value,
					     leadspc);
		return true;
	case MILTER_REP_CHGHEADER:
		milter_message_change_header(m, r->index, r->name, r->value,
					     leadspc);
		return true;
	case MILTER_REP_REPLBODY:
		milter_message_replace_body(m, r->data, r->len);
		return true;
	default:
		return false;
	}
}
