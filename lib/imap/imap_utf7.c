/*
 * imap_utf7 - see imap_utf7.h.  Modified base64 uses "," instead of
 * "/"; UTF-16 code units, big endian, surrogate pairs for U+10000 and up.
 */
#include "imap/imap_utf7.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mail/mime_decode.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static void utf8_encode(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

bool imap_utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = mime_utf8_decode(u + i, len - i, &cp);
		if (n == 0 || cp == 0)
			return false;
		i += n;
	}
	return true;
}

/* Decode the base64 run s[0..n) (between "&" and "-") into out. */
static int decode_run(const char *s, size_t n, struct buf *out)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	uint32_t high = 0; /* pending high surrogate */
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		any = true;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			utf8_encode(out, 0x10000 + ((high - 0xd800) << 10) +
						 (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if ((u >= 0x20 && u <= 0x7e) || u == 0) {
			return -1; /* printable ASCII must not be encoded */
		} else {
			utf8_encode(out, u);
		}
	}
	/* Leftover: fewer than 6 bits, all zero (shortest encoding). */
	if (high != 0 || !any || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

int imap_utf7_to_utf8(const char *in, struct buf *out)
{
	size_t start = buf_len(out);
	bool prev_run = false; /* the previous token was a shifted run */
	const char *p = in;
	while (*p != '\0') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c > 0x7e)
			goto bad;
		if (c != '&') {
			buf_append_char(out, (char)c);
			p++;
			prev_run = false;
			continue;
		}
		const char *end = strchr(p + 1, '-');
		if (end == NULL)
			goto bad;
		if (end == p + 1) {
			buf_append_char(out, '&');
			p = end + 1;
			prev_run = false;
			continue;
		}
		if (prev_run) /* "&...-&...-" must be one run */
			goto bad;
		if (decode_run(p + 1, (size_t)(end - p - 1), out) < 0)
			goto bad;
		p = end + 1;
		prev_run = true;
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

bool imap_utf7_is_valid(const char *in)
{
	struct buf *b = buf_new();
	bool ok = imap_utf7_to_utf8(in, b) == 0;
	buf_free(&b);
	return ok;
}

static void flush_run(struct buf *out, const uint16_t *units, size_t n)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	buf_append_char(out, '&');
	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | units[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			buf_append_char(out, b64chars[(bits >> nbits) & 0x3f]);
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits > 0)
		buf_append_char(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
	buf_append_char(out, '-');
}

int imap_utf8_to_utf7(const char *in, struct buf *out)
{
	size_t start = buf_len(out);
	size_t len = strlen(in);
	const unsigned char *u = (const unsigned char *)in;
	uint16_t *units = NULL;
	size_t nunits = 0, alloc = 0;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = mime_utf8_decode(u + i, len - i, &cp);
		if (n == 0)
			goto bad;
		i += n;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (nunits > 0) {
				flush_run(out, units, nunits);
				nunits = 0;
			}
			if (cp == '&')
				buf_append_str(out, "&-");
			else
				buf_append_char(out, (char)cp);
			continue;
		}
		if (nunits + 2 > alloc) {
			alloc = alloc == 0 ? 16 : alloc * 2;
			units = xreallocarray(units, alloc, sizeof(*units));
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[nunits++] = (uint16_t)(0xd800 + (cp >> 10));
			units[nunits++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
		} else {
			units[nunits++] = (uint16_t)cp;
		}
	}
	if (nunits > 0)
		flush_run(out, units, nunits);
	free(units);
	return 0;
bad:
	free(units);
	buf_truncate(out, start);
	return -1;
}

bool imap_mailbox_name_valid(const char *name, char sep, const char **why_r)
{
	const char *why = NULL;
	size_t len = strlen(name);
	const unsigned char *u = (const unsigned char *)name;
	if (len == 0) {
		why = "Empty mailbox name";
		goto bad;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = mime_utf8_decode(u + i, len - i, &cp);
		if (n == 0) {
			why = "Mailbox name is not valid UTF-8";
			goto bad;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029) {
			why = "Control characters in mailbox name";
			goto bad;
		}
		if (cp == '%' || cp == '*') {
			why = "Wildcards in mailbox name";
			goto bad;
		}
		i += n;
	}
	if (sep != '\0') {
		for (size_t i = 0; i < len; i++) {
			if (name[i] != sep)
				continue;
			if (i == 0 || i + 1 == len || name[i + 1] == sep) {
				why = "Empty hierarchy level in mailbox name";
				goto bad;
			}
		}
	}
	return true;
bad:
	if (why_r != NULL)
		*why_r = why;
	return false;
}
