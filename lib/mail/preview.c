/*
 * preview - readable text of a message and the RFC 8970 preview
 * (see preview.h).
 */
#include "mail/preview.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mail/mime_decode.h"

/* Decoded part text is capped: preview and search never need more. */
#define PART_TEXT_MAX (4 * 1024 * 1024)

static bool is_attachment(const struct mime_part *p)
{
	if (p->disposition != NULL &&
	    strcasecmp(p->disposition, "attachment") == 0)
		return true;
	return false;
}

/* Append the UTF-8 encoding of code point cp. */
static void put_utf8(struct buf *out, unsigned long cp)
{
	char b[4];
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		buf_append_char(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, b, 4);
	}
}

static const struct {
	const char *name;
	unsigned int cp;
} entities[] = {
	{"amp", '&'},	   {"lt", '<'},	      {"gt", '>'},	{"quot", '"'},
	{"apos", '\''},	   {"nbsp", 0xa0},    {"copy", 0xa9},	{"reg", 0xae},
	{"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"laquo", 0xab},
	{"raquo", 0xbb},   {"euro", 0x20ac},  {"rsquo", 0x2019}, {"lsquo", 0x2018},
	{"rdquo", 0x201d}, {"ldquo", 0x201c}, {"bull", 0x2022}, {"trade", 0x2122},
	{"auml", 0xe4},	   {"ouml", 0xf6},    {"uuml", 0xfc},	{"Auml", 0xc4},
	{"Ouml", 0xd6},	   {"Uuml", 0xdc},    {"szlig", 0xdf},	{"eacute", 0xe9},
	{"egrave", 0xe8},  {"agrave", 0xe0},  {"ccedil", 0xe7}, {"zwnj", 0x200c},
};

/* Decode an entity at s[0..len) ('&' first); returns bytes used or 0. */
static size_t entity(const char *s, size_t len, struct buf *out)
{
	size_t i = 1;
	if (i < len && s[i] == '#') {
		unsigned long cp = 0;
		bool hex = i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X');
		i += hex ? 2 : 1;
		size_t start = i;
		while (i < len && i - start < 8 &&
		       (hex ? isxdigit((unsigned char)s[i])
			    : isdigit((unsigned char)s[i]))) {
			int d = isdigit((unsigned char)s[i])
					? s[i] - '0'
					: tolower((unsigned char)s[i]) - 'a' + 10;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
			i++;
		}
		if (i == start)
			return 0;
		if (i < len && s[i] == ';')
			i++;
		put_utf8(out, cp);
		return i;
	}
	size_t start = i;
	while (i < len && i - start < 10 && isalnum((unsigned char)s[i]))
		i++;
	for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]); e++) {
		if (strlen(entities[e].name) == i - start &&
		    strncmp(entities[e].name, s + start, i - start) == 0) {
			if (i < len && s[i] == ';')
				i++;
			put_utf8(out, entities[e].cp);
			return i;
		}
	}
	return 0;
}

static bool tag_is(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len >= n && strncasecmp(s, name, n) == 0 &&
	       (len == n || !isalnum((unsigned char)s[n]));
}

void mail_html_to_text(const char *html, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		char c = html[i];
		if (c == '&') {
			size_t used = entity(html + i, len - i, out);
			if (used > 0) {
				i += used;
				continue;
			}
			buf_append_char(out, c);
			i++;
			continue;
		}
		if (c != '<') {
			buf_append_char(out, c);
			i++;
			continue;
		}
		/* A tag, comment or skipped element. */
		if (len - i >= 4 && memcmp(html + i, "<!--", 4) == 0) {
			const char *e = memmem(html + i + 4, len - i - 4, "-->", 3);
			i = e == NULL ? len : (size_t)(e - html) + 3;
			continue;
		}
		const char *t = html + i + 1;
		size_t tl = len - i - 1;
		const char *skip_to = NULL;
		if (tag_is(t, tl, "script"))
			skip_to = "</script";
		else if (tag_is(t, tl, "style"))
			skip_to = "</style";
		else if (tag_is(t, tl, "head"))
			skip_to = "</head";
		bool block = tag_is(t, tl, "br") || tag_is(t, tl, "p") ||
			     tag_is(t, tl, "div") || tag_is(t, tl, "/p") ||
			     tag_is(t, tl, "/div") || tag_is(t, tl, "tr") ||
			     tag_is(t, tl, "li") || tag_is(t, tl, "h1") ||
			     tag_is(t, tl, "h2") || tag_is(t, tl, "h3");
		const char *gt = memchr(html + i, '>', len - i);
		i = gt == NULL ? len : (size_t)(gt - html) + 1;
		if (skip_to != NULL) {
			size_t sl = strlen(skip_to);
			while (i + sl <= len &&
			       strncasecmp(html + i, skip_to, sl) != 0)
				i++;
			if (i + sl > len) {
				i = len;
			} else {
				gt = memchr(html + i, '>', len - i);
				i = gt == NULL ? len : (size_t)(gt - html) + 1;
			}
		}
		buf_append_char(out, block ? '\n' : ' ');
	}
}

void mail_part_text(const struct mime_message *msg,
		    const struct mime_part *part, struct buf *out)
{
	const char *data = mime_data(msg) + part->body.phys_off;
	size_t len = part->body.phys_size;
	if (len > PART_TEXT_MAX)
		len = PART_TEXT_MAX;
	struct buf *raw = buf_new_size(len + 1), *utf8 = buf_new_size(len + 1);
	if (mime_decode_cte(mime_cte_parse(part->encoding), data, len, raw) < 0)
		buf_append(raw, data, len); /* unknown CTE: show as is */
	const char *cs = mime_param_get(part->params, part->param_count,
					"charset");
	mime_charset_to_utf8(cs, buf_data(raw), buf_len(raw), utf8);
	if (strcmp(part->subtype, "html") == 0) {
		struct buf *txt = buf_new_size(buf_len(utf8) + 1);
		mail_html_to_text(buf_data(utf8), buf_len(utf8), txt);
		/* Entities may have produced NUL-free valid UTF-8 only. */
		buf_append(out, buf_data(txt), buf_len(txt));
		buf_free(&txt);
	} else {
		buf_append(out, buf_data(utf8), buf_len(utf8));
	}
	buf_free(&raw);
	buf_free(&utf8);
}

/* Length of s[0..len) cut back to a UTF-8 sequence start. */
static size_t utf8_cut(const char *s, size_t len)
{
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

static bool text_part(const struct mime_part *p)
{
	return (p->flags & MIME_PART_TEXT) && !is_attachment(p) &&
	       (strcmp(p->subtype, "plain") == 0 ||
		strcmp(p->subtype, "html") == 0 ||
		strcmp(p->subtype, "enriched") == 0);
}

static void walk(const struct mime_message *msg, const struct mime_part *p,
		 size_t max, struct buf *out, bool first_only, bool *done)
{
	for (; p != NULL && !*done; p = p->next) {
		if (p->children != NULL) {
			/* multipart/alternative: only the first readable
			 * alternative (plain usually comes first), so the
			 * text is not there twice. */
			if ((p->flags & MIME_PART_MULTIPART) &&
			    strcmp(p->subtype, "alternative") == 0) {
				const struct mime_part *c = p->children;
				while (c != NULL && !text_part(c) &&
				       c->children == NULL)
					c = c->next;
				if (c != NULL) {
					struct mime_part tmp = *c;
					tmp.next = NULL;
					walk(msg, &tmp, max, out, first_only, done);
				}
			} else {
				walk(msg, p->children, max, out, first_only,
				     done);
			}
			continue;
		}
		if (!text_part(p))
			continue;
		if (buf_len(out) > 0)
			buf_append_char(out, '\n');
		mail_part_text(msg, p, out);
		if (first_only)
			*done = true;
		if (max > 0 && buf_len(out) >= max) {
			buf_truncate(out, utf8_cut(buf_data(out), max));
			*done = true;
		}
	}
}

void mail_text_extract(const struct mime_message *msg, size_t max_bytes,
		       struct buf *out)
{
	struct buf *tmp = buf_new();
	bool done = false;
	walk(msg, mime_root(msg), max_bytes, tmp, false, &done);
	buf_append(out, buf_data(tmp), buf_len(tmp));
	buf_free(&tmp);
}

void mail_preview(const struct mime_message *msg, struct buf *out)
{
	struct buf *txt = buf_new();
	bool done = false;
	buf_reset(out);
	walk(msg, mime_root(msg), 64 * 1024, txt, true, &done);
	const char *s = buf_data(txt);
	size_t n = buf_len(txt), chars = 0;
	bool space = false;
	for (size_t i = 0; i < n && chars < MAIL_PREVIEW_MAX_CHARS;) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == '\f' || c == '\v' || c < 0x20 || c == 0x7f) {
			space = true;
			i++;
			continue;
		}
		/* U+00A0 no-break space is blank too. */
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0) {
			space = true;
			i += 2;
			continue;
		}
		if (space && buf_len(out) > 0) {
			buf_append_char(out, ' ');
			chars++;
			if (chars >= MAIL_PREVIEW_MAX_CHARS)
				break;
		}
		space = false;
		size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + l > n)
			break;
		buf_append(out, s + i, l);
		chars++;
		i += l;
	}
	buf_free(&txt);
}
