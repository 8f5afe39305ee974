/*
 * dns_name - query names derived from addresses (PTR, DNSBL) and the
 * names of types, statuses and security states.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"
#include "dns/dns.h"

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{DNS_T_A, "A"},       {DNS_T_NS, "NS"},     {DNS_T_CNAME, "CNAME"},
	{6, "SOA"},           {DNS_T_PTR, "PTR"},   {DNS_T_MX, "MX"},
	{DNS_T_TXT, "TXT"},   {DNS_T_AAAA, "AAAA"}, {33, "SRV"},
	{43, "DS"},           {46, "RRSIG"},        {48, "DNSKEY"},
	{DNS_T_TLSA, "TLSA"}, {257, "CAA"},
};

const char *dns_type_name(uint16_t type, char buf[16])
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}

uint16_t dns_type_from_name(const char *name)
{
	unsigned long long v;

	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type_names[i].name, name) == 0)
			return type_names[i].type;
	/* RFC 3597 generic form. */
	if (strncasecmp(name, "TYPE", 4) == 0 && str_to_u64(name + 4, &v) &&
	    v > 0 && v <= 65535)
		return (uint16_t)v;
	return 0;
}

const char *dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_NOERROR:
		return "NOERROR";
	case DNS_NODATA:
		return "NODATA";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_TIMEOUT:
		return "TIMEOUT";
	case DNS_BOGUS:
		return "BOGUS";
	case DNS_BADNAME:
		return "BADNAME";
	}
	return "?";
}

const char *dns_security_name(enum dns_security sec)
{
	switch (sec) {
	case DNS_SECURE:
		return "secure";
	case DNS_SECURITY_BOGUS:
		return "bogus";
	case DNS_INSECURE:
		break;
	}
	return "insecure";
}

/* The labels of ip in reverse order (octets or nibbles), into b. */
static int reversed_labels(const char *ip, struct buf *b, bool *v6_r,
			   struct error *err)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, ip, a) == 1) {
		buf_printf(b, "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
		*v6_r = false;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const char hex[] = "0123456789abcdef";
		for (int i = 15; i >= 0; i--) {
			buf_printf(b, "%s%c.%c", i == 15 ? "" : ".",
				   hex[a[i] & 0xf], hex[a[i] >> 4]);
		}
		*v6_r = true;
		return 0;
	}
	return error_set(err, ERR_PERM, "not an IP address: \"%s\"", ip);
}

static int copy_out(struct buf *b, char *out, size_t size, struct error *err)
{
	if (buf_len(b) + 1 > size || buf_len(b) > 253) {
		buf_free(&b);
		return error_set(err, ERR_PERM, "query name too long");
	}
	memcpy(out, buf_data(b), buf_len(b) + 1);
	buf_free(&b);
	return 0;
}

int dns_reverse_name(const char *ip, char *out, size_t size,
		     struct error *err)
{
	struct buf *b = buf_new();
	bool v6;

	if (reversed_labels(ip, b, &v6, err) < 0) {
		buf_free(&b);
		return -1;
	}
	buf_append_str(b, v6 ? ".ip6.arpa" : ".in-addr.arpa");
	return copy_out(b, out, size, err);
}

int dns_dnsbl_name(const char *ip, const char *zone, char *out, size_t size,
		   struct error *err)
{
	struct buf *b = buf_new();
	size_t zlen = strlen(zone);
	bool v6;

	if (zlen > 0 && zone[zlen - 1] == '.')
		zlen--;
	if (zlen == 0 || zone[0] == '.') {
		buf_free(&b);
		return error_set(err, ERR_PERM, "bad DNSBL zone \"%s\"", zone);
	}
	if (reversed_labels(ip, b, &v6, err) < 0) {
		buf_free(&b);
		return -1;
	}
	buf_append_char(b, '.');
	buf_append(b, zone, zlen);
	return copy_out(b, out, size, err);
}
