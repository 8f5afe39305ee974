/*
 * dns_pattern.c - DNSBL reply address patterns (dns_pattern.h); moved
 * here from postscreen/psc-dnsbl.c so smtpd's reject_rbl_client and
 * postscreen parse them the same way.
 */
#include <ctype.h>
#include <string.h>

#include "dns_pattern.h"

static void bit_set(uint8_t *set, unsigned v)
{
	set[v / 8] |= (uint8_t)(1u << (v % 8));
}

static bool bit_test(const uint8_t *set, unsigned v)
{
	return (set[v / 8] >> (v % 8)) & 1;
}

/* A decimal 0..255 at *p; advances *p. */
static bool octet_number(const char **p, unsigned *v_r)
{
	unsigned v = 0;
	int digits = 0;

	while (isdigit((unsigned char)**p) && digits < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || digits > 3 || v > 255)
		return false;
	*v_r = v;
	return true;
}

/* One octet pattern: N or [item;item..], item N or N..M. */
static bool octet_pattern(const char **p, uint8_t *set)
{
	unsigned a, b;

	if (**p != '[') {
		if (!octet_number(p, &a))
			return false;
		bit_set(set, a);
		return true;
	}
	(*p)++;
	for (;;) {
		if (!octet_number(p, &a))
			return false;
		b = a;
		if ((*p)[0] == '.' && (*p)[1] == '.') {
			*p += 2;
			if (!octet_number(p, &b) || b < a)
				return false;
		}
		for (unsigned v = a; v <= b; v++)
			bit_set(set, v);
		if (**p == ';') {
			(*p)++;
			continue;
		}
		if (**p != ']')
			return false;
		(*p)++;
		return true;
	}
}

bool dns_addr_pattern_parse(const char *text, struct dns_addr_pattern *pat)
{
	const char *p = text;

	memset(pat, 0, sizeof(*pat));
	for (int i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return false;
		if (!octet_pattern(&p, pat->octets[i]))
			return false;
	}
	return *p == '\0';
}

bool dns_addr_pattern_match(const struct dns_addr_pattern *pat,
			    const char *addr)
{
	const char *p = addr;
	unsigned v;

	for (int k = 0; k < 4; k++) {
		if (k > 0 && *p++ != '.')
			return false;
		if (!octet_number(&p, &v) || !bit_test(pat->octets[k], v))
			return false;
	}
	return *p == '\0';
}
