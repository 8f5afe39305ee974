#include "str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return s;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_case_has_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

char *str_trim(char *s)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

struct array *str_split(const char *s, const char *seps)
{
	struct array *a = array_new();
	while (*s) {
		s += strspn(s, seps);
		size_t n = strcspn(s, seps);
		if (n > 0)
			array_push(a, xstrndup(s, n));
		s += n;
	}
	return a;
}

size_t str_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size > 0) {
		size_t m = n < size - 1 ? n : size - 1;
		memcpy(dst, src, m);
		dst[m] = '\0';
	}
	return n;
}

bool str_to_u64(const char *s, unsigned long long *v_r)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v_r = v;
	return true;
}

bool str_to_i64(const char *s, long long *v_r)
{
	char *end;
	const char *digits = *s == '-' ? s + 1 : s;
	if (*digits < '0' || *digits > '9')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v_r = v;
	return true;
}

bool str_secure_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return diff == 0 && lb > 0 ? true : (la == 0 && lb == 0);
}

int str_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *str_url_decode(const char *s, size_t len, bool plus)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int a = i + 1 < len ? str_hex_digit(s[i + 1]) : -1;
			int b = i + 2 < len ? str_hex_digit(s[i + 2]) : -1;
			int h = a < 0 || b < 0 ? -1 : a * 16 + b;

			if (h <= 0) { /* a bad escape, or %00 */
				free(out);
				return NULL;
			}
			c = (char)h;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		} else if (c == '\0') {
			free(out);
			return NULL;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}
