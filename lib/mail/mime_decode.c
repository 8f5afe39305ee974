/* mime_decode - base64, quoted-printable and charsets (see mime_decode.h). */
#include "mail/mime_decode.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"

enum mime_cte mime_cte_parse(const char *value)
{
	if (value == NULL)
		return MIME_CTE_7BIT;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = 0;
	while (value[n] != '\0' && value[n] != ' ' && value[n] != '\t' &&
	       value[n] != '(' && value[n] != ';')
		n++;
	if (n == 0)
		return MIME_CTE_7BIT;
	static const struct {
		const char *name;
		enum mime_cte cte;
	} names[] = {
		{"7bit", MIME_CTE_7BIT},
		{"8bit", MIME_CTE_8BIT},
		{"binary", MIME_CTE_BINARY},
		{"base64", MIME_CTE_BASE64},
		{"quoted-printable", MIME_CTE_QP},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == n &&
		    strncasecmp(value, names[i].name, n) == 0)
			return names[i].cte;
	}
	return MIME_CTE_UNKNOWN;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62; /* '-' and '_': the URL alphabet, seen in the wild */
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

bool mime_base64_decode(const char *in, size_t len, struct buf *out)
{
	bool clean = true;
	unsigned int acc = 0, bits = 0;
	bool padded = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '=') {
			padded = true;
			continue;
		}
		int v = b64val(c);
		if (v < 0) {
			if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
				clean = false;
			continue;
		}
		if (padded) {
			/* Data after padding: a concatenation of encoded
			 * chunks; restart the quantum. */
			acc = 0;
			bits = 0;
			padded = false;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_char(out, (char)((acc >> bits) & 0xff));
		}
	}
	if (bits >= 6)
		clean = false; /* a lone sextet */
	return clean;
}

bool mime_qp_decode(const char *in, size_t len, struct buf *out)
{
	bool clean = true;
	size_t i = 0;

	while (i < len) {
		/* Trailing blanks before a line end are dropped (RFC 2045
		 * 6.7 rule 3). */
		if (in[i] == ' ' || in[i] == '\t') {
			size_t j = i;
			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j == len || in[j] == '\n' ||
			    (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')) {
				i = j;
				continue;
			}
			buf_append(out, in + i, j - i);
			i = j;
			continue;
		}
		if (in[i] != '=') {
			buf_append_char(out, in[i]);
			i++;
			continue;
		}
		/* "=" */
		if (i + 2 < len && str_hex_digit(in[i + 1]) >= 0 &&
		    str_hex_digit(in[i + 2]) >= 0) {
			buf_append_char(out,
					(char)(str_hex_digit(in[i + 1]) * 16 +
					       str_hex_digit(in[i + 2])));
			i += 3;
			continue;
		}
		/* Soft line break: "=" blanks* (CR)LF */
		size_t j = i + 1;
		while (j < len && (in[j] == ' ' || in[j] == '\t'))
			j++;
		if (j < len && in[j] == '\r' && j + 1 < len && in[j + 1] == '\n') {
			i = j + 2;
			continue;
		}
		if (j < len && in[j] == '\n') {
			i = j + 1;
			continue;
		}
		if (j == len) {
			i = j; /* "=" at the very end: a soft break */
			continue;
		}
		/* Broken escape: keep the "=" as is. */
		clean = false;
		buf_append_char(out, '=');
		i++;
	}
	return clean;
}

void mime_q_decode(const char *in, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '_') {
			buf_append_char(out, ' ');
		} else if (in[i] == '=' && i + 2 < len &&
			   str_hex_digit(in[i + 1]) >= 0 &&
			   str_hex_digit(in[i + 2]) >= 0) {
			buf_append_char(out,
					(char)(str_hex_digit(in[i + 1]) * 16 +
					       str_hex_digit(in[i + 2])));
			i += 2;
		} else {
			buf_append_char(out, in[i]);
		}
	}
}

void mime_base64_encode(const void *in, size_t len, bool wrap,
			struct buf *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t col = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned int v = (unsigned int)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
			     i + 1 < len ? tab[(v >> 6) & 63] : '=',
			     i + 2 < len ? tab[v & 63] : '='};
		buf_append(out, q, 4);
		col += 4;
		if (wrap && col >= 76) {
			buf_append(out, "\r\n", 2);
			col = 0;
		}
	}
	if (wrap && col > 0)
		buf_append(out, "\r\n", 2);
}

int mime_decode_cte(enum mime_cte cte, const char *in, size_t len,
		    struct buf *out)
{
	switch (cte) {
	case MIME_CTE_BASE64:
		mime_base64_decode(in, len, out);
		return 0;
	case MIME_CTE_QP:
		mime_qp_decode(in, len, out);
		return 0;
	case MIME_CTE_7BIT:
	case MIME_CTE_8BIT:
	case MIME_CTE_BINARY:
		buf_append(out, in, len);
		return 0;
	case MIME_CTE_UNKNOWN:
		break;
	}
	return -1;
}

size_t mime_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t n;
	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		cp = s[0];
		n = 1;
		min = 0;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp_r != NULL)
		*cp_r = cp;
	return n;
}

bool mime_utf8_valid(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0;
	while (i < len) {
		size_t n = mime_utf8_decode(p + i, len - i, NULL);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

void mime_utf8_sanitize(const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, start = 0;
	while (i < len) {
		size_t n = mime_utf8_decode(p + i, len - i, NULL);
		if (n > 0) {
			i += n;
			continue;
		}
		buf_append(out, in + start, i - start);
		buf_append(out, "\xef\xbf\xbd", 3);
		i++;
		start = i;
	}
	buf_append(out, in + start, i - start);
}

static bool charset_is_utf8(const char *cs)
{
	return cs == NULL || *cs == '\0' || strcasecmp(cs, "utf-8") == 0 ||
	       strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	       strcasecmp(cs, "ascii") == 0 || strcasecmp(cs, "x-unknown") == 0 ||
	       strcasecmp(cs, "unknown-8bit") == 0;
}

/* Some names mail uses that glibc iconv does not know as such. */
static const char *charset_alias(const char *cs)
{
	if (strcasecmp(cs, "ks_c_5601-1987") == 0)
		return "CP949";
	if (strcasecmp(cs, "x-sjis") == 0)
		return "SHIFT_JIS";
	if (strcasecmp(cs, "gb2312") == 0)
		return "GB18030"; /* superset; real mail often needs it */
	if (strcasecmp(cs, "iso-8859-8-i") == 0)
		return "ISO-8859-8";
	if (strcasecmp(cs, "windows-874") == 0)
		return "CP874";
	return cs;
}

static iconv_t charset_open(const char *charset)
{
	char name[64];
	size_t n = strlen(charset);
	if (n == 0 || n >= sizeof(name) - 1)
		return (iconv_t)-1;
	/* Only plausible charset names: iconv also takes things like
	 * "UTF-8//TRANSLIT" or paths for gconv modules. */
	for (size_t i = 0; i < n; i++) {
		char c = charset[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			return (iconv_t)-1;
	}
	memcpy(name, charset, n + 1);
	return iconv_open("UTF-8", charset_alias(name));
}

bool mime_charset_known(const char *charset)
{
	if (charset_is_utf8(charset))
		return true;
	iconv_t cd = charset_open(charset);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

int mime_charset_to_utf8(const char *charset, const char *in, size_t len,
			 struct buf *out)
{
	if (charset_is_utf8(charset)) {
		mime_utf8_sanitize(in, len, out);
		return 0;
	}
	iconv_t cd = charset_open(charset);
	if (cd == (iconv_t)-1) {
		mime_utf8_sanitize(in, len, out);
		return -1;
	}
	char tmp[4096];
	char *ip = (char *)in;
	size_t ileft = len;
	while (ileft > 0) {
		char *op = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		int e = errno;
		buf_append(out, tmp, (size_t)(op - tmp));
		if (r != (size_t)-1)
			break;
		if (e == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated input): one replacement
		 * character, skip a byte, go on. */
		buf_append(out, "\xef\xbf\xbd", 3);
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush shift states (ISO-2022-JP). */
	char *op = tmp;
	size_t oleft = sizeof(tmp);
	iconv(cd, NULL, NULL, &op, &oleft);
	buf_append(out, tmp, (size_t)(op - tmp));
	iconv_close(cd);
	return 0;
}
