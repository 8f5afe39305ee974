/*
 * smtp_xtext - RFC 3461 4 xtext; see smtp_xtext.h.
 */
#include "smtp/smtp_xtext.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	/* RFC 3461 4: hexchar uses upper-case A-F only. */
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* Walk s, optionally appending the decoded octets to out. */
static bool walk(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_xchar(c)) {
			if (out != NULL)
				buf_append_char(out, (char)c);
			continue;
		}
		if (c != '+' || len - i < 3)
			return false;
		int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		if (out != NULL)
			buf_append_char(out, (char)(hi * 16 + lo));
		i += 2;
	}
	return true;
}

bool smtp_xtext_valid(const char *s, size_t len)
{
	return walk(s, len, NULL);
}

bool smtp_xtext_decode(const char *s, size_t len, struct buf *out)
{
	if (!walk(s, len, NULL))
		return false;
	walk(s, len, out);
	return true;
}

void smtp_xtext_encode(const void *data, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		if (is_xchar(p[i])) {
			buf_append_char(out, (char)p[i]);
		} else {
			buf_append_char(out, '+');
			buf_append_char(out, hex[p[i] >> 4]);
			buf_append_char(out, hex[p[i] & 15]);
		}
	}
}
