/*
 * mime_section - IMAP section lookup and CRLF copies (see mime.h).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mail/mime.h"
#include "mail/mime_private.h"

static void whole(const struct mime_part *p, struct mime_range *r)
{
	r->phys_off = p->header.phys_off;
	r->phys_size = p->body.phys_off + p->body.phys_size - r->phys_off;
	r->virt_off = p->header.virt_off;
	r->virt_size = p->body.virt_off + p->body.virt_size - r->virt_off;
}

static const struct mime_part *nth_child(const struct mime_part *p,
					 unsigned int k)
{
	const struct mime_part *c = p->children;
	for (unsigned int i = 1; c != NULL && i < k; i++)
		c = c->next;
	return c;
}

/* Does the section numbering go into this part's message?  Only
 * message/rfc822: Dovecot 2.3 shows message/global as a leaf in
 * BODYSTRUCTURE, and the numbers must match what the client saw. */
static bool is_rfc822(const struct mime_part *p)
{
	return (p->flags & MIME_PART_MESSAGE) && p->children != NULL &&
	       strcmp(p->subtype, "rfc822") == 0;
}

/* Part k inside message m (the root or an encapsulated message): a
 * child of its multipart body, or for k == 1 the message itself, which
 * then stands for its single body. */
static const struct mime_part *in_message(const struct mime_part *m,
					  unsigned int k)
{
	if (m->flags & MIME_PART_MULTIPART)
		return nth_child(m, k);
	return k == 1 ? m : NULL;
}

/* Sub-part k of p.  Like Dovecot, a single part inside a multipart has
 * itself as part 1, so BODY[1.1] of a text part is BODY[1]. */
static const struct mime_part *sub_part(const struct mime_part *p,
					unsigned int k)
{
	if (p->flags & MIME_PART_MULTIPART)
		return nth_child(p, k);
	if (is_rfc822(p))
		return in_message(p->children, k);
	if (p->parent != NULL && (p->parent->flags & MIME_PART_MULTIPART))
		return k == 1 ? p : NULL;
	return NULL;
}

int mime_section_lookup(const struct mime_message *msg,
			const unsigned int *numbers, size_t count,
			enum mime_section_kind kind, struct mime_section *out,
			struct error *err)
{
	const struct mime_part *p = msg->root;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		if (numbers[i] == 0)
			return error_set(err, ERR_PERM, "section part 0");
	}
	if (count == 0) {
		out->part = p;
		switch (kind) {
		case MIME_SECTION_ALL:
			whole(p, &out->range);
			return 1;
		case MIME_SECTION_HEADER:
			out->range = p->header;
			return 1;
		case MIME_SECTION_TEXT:
			out->range = p->body;
			return 1;
		case MIME_SECTION_PART:
		case MIME_SECTION_MIME:
			break;
		}
		return error_set(err, ERR_PERM, "section needs a part number");
	}
	p = in_message(p, numbers[0]);
	for (size_t i = 1; i < count && p != NULL; i++)
		p = sub_part(p, numbers[i]);
	if (p == NULL)
		return 0;
	out->part = p;
	switch (kind) {
	case MIME_SECTION_ALL:
	case MIME_SECTION_PART:
		out->range = p->body;
		return 1;
	case MIME_SECTION_MIME:
		out->range = p->header;
		return 1;
	case MIME_SECTION_HEADER:
	case MIME_SECTION_TEXT:
		if (!is_rfc822(p))
			return 0;
		out->part = p->children;
		out->range = kind == MIME_SECTION_HEADER ? p->children->header
							 : p->children->body;
		return 1;
	}
	return 0;
}

int mime_section_parse(const char *spec, size_t len, unsigned int *numbers,
		       size_t max_numbers, size_t *count_r,
		       enum mime_section_kind *kind_r, struct error *err)
{
	size_t i = 0, n = 0;

	*count_r = 0;
	*kind_r = MIME_SECTION_ALL;
	while (i < len && isdigit((unsigned char)spec[i])) {
		unsigned long long v = 0;
		while (i < len && isdigit((unsigned char)spec[i])) {
			v = v * 10 + (unsigned)(spec[i] - '0');
			if (v > 1000000)
				return error_set(err, ERR_PERM,
						 "section number too large");
			i++;
		}
		if (v == 0)
			return error_set(err, ERR_PERM, "section part 0");
		if (n == max_numbers)
			return error_set(err, ERR_PERM, "section too deep");
		numbers[n++] = (unsigned int)v;
		if (i == len)
			break;
		if (spec[i] != '.')
			return error_set(err, ERR_PERM, "bad section");
		i++;
		if (i == len)
			return error_set(err, ERR_PERM, "bad section");
	}
	*count_r = n;
	const char *rest = spec + i;
	size_t rlen = len - i;
	if (rlen == 0) {
		*kind_r = n == 0 ? MIME_SECTION_ALL : MIME_SECTION_PART;
		return 0;
	}
	if (rlen == 6 && strncasecmp(rest, "HEADER", 6) == 0)
		*kind_r = MIME_SECTION_HEADER;
	else if (rlen == 4 && strncasecmp(rest, "TEXT", 4) == 0)
		*kind_r = MIME_SECTION_TEXT;
	else if (rlen == 4 && n > 0 && strncasecmp(rest, "MIME", 4) == 0)
		*kind_r = MIME_SECTION_MIME;
	else
		return error_set(err, ERR_PERM, "bad section");
	return 0;
}

/* Append the part of virtual [v, v+len) that lies in [ws, we); NUL
 * bytes become 0x80 as Dovecot sends them (an IMAP literal cannot carry
 * NUL). */
static uint64_t emit(struct buf *out, const char *s, uint64_t v, size_t len,
		     uint64_t ws, uint64_t we)
{
	uint64_t a = v > ws ? v : ws;
	uint64_t b = v + len < we ? v + len : we;
	if (a >= b)
		return 0;
	size_t start = buf_len(out);
	buf_append(out, s + (a - v), (size_t)(b - a));
	char *d = buf_mut(out) + start;
	size_t n = (size_t)(b - a);
	char *z;
	while ((z = memchr(d, '\0', n)) != NULL) {
		*z = (char)0x80;
		n -= (size_t)(z - d) + 1;
		d = z + 1;
	}
	return b - a;
}

uint64_t mime_copy_crlf(const char *data, size_t phys_off, size_t phys_size,
			uint64_t virt_start, uint64_t virt_count,
			struct buf *out)
{
	uint64_t ws = virt_start;
	uint64_t we = virt_count > UINT64_MAX - virt_start
			      ? UINT64_MAX
			      : virt_start + virt_count;
	size_t pos = phys_off, end = phys_off + phys_size;
	uint64_t v = 0, written = 0;

	while (pos < end && v < we) {
		const char *nl = memchr(data + pos, '\n', end - pos);
		size_t seg = nl == NULL ? end : (size_t)(nl - data);
		size_t n = seg - pos;
		if (v + n > ws)
			written += emit(out, data + pos, v, n, ws, we);
		v += n;
		pos = seg;
		if (nl == NULL)
			break;
		if (pos > 0 && data[pos - 1] == '\r') {
			written += emit(out, "\n", v, 1, ws, we);
			v++;
		} else {
			written += emit(out, "\r\n", v, 2, ws, we);
			v += 2;
		}
		pos++;
	}
	return written;
}
