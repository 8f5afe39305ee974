/*
 * smtp_reply - building replies; see smtp_reply.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "smtp/smtp_reply.h"

/* CR, LF and NUL must never reach the wire inside a reply text: a peer
 * controlled string ("<a@b\r\n250 ok>") could forge a reply line. */
static void make_safe(char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			*s = '?';
	}
}

static void set_enhanced(char *dst, const char *enhanced)
{
	dst[0] = '\0';
	if (enhanced != NULL && smtp_enhanced_valid(enhanced, strlen(enhanced)))
		str_copy(dst, enhanced, SMTP_ENHANCED_MAX);
}

int smtp_reply_set(struct smtp_reply *r, unsigned int code,
		   const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	set_enhanced(r->enhanced, enhanced);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	make_safe(r->text);
	return -1;
}

void smtp_reply_clear(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->text[0] = '\0';
}

unsigned int smtp_reply_class(const struct smtp_reply *r)
{
	return r->code / 100;
}

bool smtp_enhanced_valid(const char *s, size_t len)
{
	size_t i = 0, part;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	i = 2;
	for (part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || i - start > 3)
			return false;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/* One line, cut to fit SMTP_REPLY_LINE_MAX with its code and CRLF. */
static void write_line(struct buf *out, unsigned int code, const char *enhanced,
		       bool last, const char *text, size_t text_len)
{
	char enh[SMTP_ENHANCED_MAX];
	size_t head, room;

	if (code < 200 || code > 599)
		code = 451; /* a caller bug must not produce a broken reply */
	set_enhanced(enh, enhanced);
	head = 4 + (enh[0] != '\0' ? strlen(enh) + 1 : 0);
	room = SMTP_REPLY_LINE_MAX - head - 2;
	if (text_len > room)
		text_len = room;
	buf_printf(out, "%03u%c", code, last ? ' ' : '-');
	if (enh[0] != '\0') {
		buf_append_str(out, enh);
		if (text_len > 0)
			buf_append_char(out, ' ');
	}
	for (size_t i = 0; i < text_len; i++) {
		unsigned char c = (unsigned char)text[i];

		buf_append_char(out, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	buf_append(out, "\r\n", 2);
}

void smtp_reply_write(const struct smtp_reply *r, struct buf *out)
{
	write_line(out, r->code, r->enhanced, true, r->text, strlen(r->text));
}

void smtp_reply_write_line(struct buf *out, unsigned int code,
			   const char *enhanced, bool last, const char *fmt,
			   ...)
{
	char text[SMTP_REPLY_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	write_line(out, code, enhanced, last, text, strlen(text));
}

void smtp_reply_write_lines(struct buf *out, unsigned int code,
			    const char *enhanced, const char *text)
{
	const char *p = text;

	for (;;) {
		const char *nl = strchr(p, '\n');

		if (nl == NULL) {
			write_line(out, code, enhanced, true, p, strlen(p));
			return;
		}
		write_line(out, code, enhanced, false, p, (size_t)(nl - p));
		p = nl + 1;
	}
}
