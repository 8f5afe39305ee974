/* imap_quote - IMAP string writers (see imap_quote.h). */
#include "imap/imap_quote.h"

#include "mail/mime_decode.h"

#include <string.h>
#include <strings.h>

/* More quoted-specials than this make a literal shorter (Dovecot). */
#define QUOTE_MAX_ESCAPES 4

bool imap_can_quote(const char *s, size_t len, unsigned int flags)
{
	unsigned int escapes = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80 && !(flags & IMAP_QUOTE_UTF8))
			return false;
		if ((c == '"' || c == '\\') && ++escapes > QUOTE_MAX_ESCAPES)
			return false;
	}
	/* RFC 6855: 8-bit in a quoted string must be valid UTF-8. */
	if ((flags & IMAP_QUOTE_UTF8) && !mime_utf8_valid(s, len))
		return false;
	return true;
}

void imap_append_literal(struct buf *out, const char *s, size_t len)
{
	buf_printf(out, "{%zu}\r\n", len);
	buf_append(out, s, len);
}

void imap_append_literal8(struct buf *out, const char *s, size_t len)
{
	buf_printf(out, "~{%zu}\r\n", len);
	buf_append(out, s, len);
}

static void append_quoted_raw(struct buf *out, const char *s, size_t len)
{
	buf_append_char(out, '"');
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			buf_append(out, s + start, i - start);
			buf_append_char(out, '\\');
			start = i;
		}
	}
	buf_append(out, s + start, len - start);
	buf_append_char(out, '"');
}

void imap_append_quoted(struct buf *out, const char *s, size_t len,
			unsigned int flags)
{
	struct buf *tmp = NULL;
	if ((flags & IMAP_QUOTE_NOLF) &&
	    (memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL)) {
		tmp = buf_new_size(len + 1);
		for (size_t i = 0; i < len; i++) {
			if (s[i] != '\r' && s[i] != '\n')
				buf_append_char(tmp, s[i]);
		}
		s = buf_data(tmp);
		len = buf_len(tmp);
	}
	if (imap_can_quote(s, len, flags))
		append_quoted_raw(out, s, len);
	else
		imap_append_literal(out, s, len);
	buf_free(&tmp);
}

void imap_append_string_for_humans(struct buf *out, const char *s,
				   size_t len, unsigned int flags)
{
	struct buf *t = buf_new_size(len + 1);
	bool modified = false, blank = true; /* blank: drop leading ones */
	bool special = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (c != ' ' || blank)
				modified = true;
			if (!blank)
				buf_append_char(t, ' ');
			blank = true;
			continue;
		}
		blank = false;
		if (c == '\0') {
			c = 0x80; /* as Dovecot: NUL would end a C string */
			modified = true;
		}
		if (c == '"' || c == '\\' ||
		    (c >= 0x80 && !(flags & IMAP_QUOTE_UTF8)))
			special = true;
		buf_append_char(t, (char)c);
	}
	if (buf_len(t) > 0 && buf_data(t)[buf_len(t) - 1] == ' ') {
		buf_truncate(t, buf_len(t) - 1);
		modified = true;
	}
	if ((flags & IMAP_QUOTE_UTF8) && !mime_utf8_valid(buf_data(t), buf_len(t)))
		special = true;
	if (buf_len(t) == 0)
		buf_append_str(out, "\"\"");
	else if (modified || special)
		imap_append_literal(out, buf_data(t), buf_len(t));
	else
		append_quoted_raw(out, buf_data(t), buf_len(t));
	buf_free(&t);
}

void imap_append_quoted_str(struct buf *out, const char *s,
			    unsigned int flags)
{
	imap_append_quoted(out, s, strlen(s), flags);
}

void imap_append_nstring(struct buf *out, const char *s, size_t len,
			 unsigned int flags)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		imap_append_quoted(out, s, len, flags);
}

void imap_append_nstring_str(struct buf *out, const char *s,
			     unsigned int flags)
{
	imap_append_nstring(out, s, s == NULL ? 0 : strlen(s), flags);
}

static bool is_astring_char(unsigned char c)
{
	/* ATOM-CHAR minus nothing plus "]": no atom-specials
	 * ( ) { SP CTL % * " \ and no 8-bit. */
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '%' && c != '*' && c != '"' && c != '\\';
}

void imap_append_astring(struct buf *out, const char *s, size_t len,
			 unsigned int flags)
{
	bool atom = len > 0;
	for (size_t i = 0; i < len && atom; i++)
		atom = is_astring_char((unsigned char)s[i]);
	/* "NIL" as an atom would read as nil where an nstring is also
	 * allowed; quoting it is always safe. */
	if (atom && !(len == 3 && strncasecmp(s, "NIL", 3) == 0))
		buf_append(out, s, len);
	else
		imap_append_quoted(out, s, len, flags);
}
