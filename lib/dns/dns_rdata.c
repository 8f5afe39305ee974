/*
 * dns_rdata - bounds-checked parsers of A, AAAA, MX, TXT, TLSA and name
 * rdata (RFC 1035 3.3, RFC 3596, RFC 6698 2.1).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "dns/dns_rdata.h"

#define NAME_WIRE_MAX 255 /* RFC 1035 2.3.4 */

static int malformed(struct error *err, uint16_t type, const char *why)
{
	char tbuf[16];
	return error_set(err, ERR_PERM, "malformed %s rdata: %s",
			 dns_type_name(type, tbuf), why);
}

int dns_name_from_wire(const uint8_t *data, size_t len, size_t *used_r,
		       char *out, size_t size, struct error *err)
{
	size_t pos = 0, o = 0;

	if (size < 2)
		return error_set(err, ERR_PERM, "name buffer too small");
	for (;;) {
		if (pos >= len)
			return error_set(err, ERR_PERM, "name runs past the end");
		uint8_t l = data[pos];
		if (l == 0) {
			pos++;
			break;
		}
		if (l > 63)
			/* 0xC0 pointers (and the obsolete 0x40/0x80
			 * label types) cannot appear in uncompressed rdata. */
			return error_set(err, ERR_PERM,
					 "compressed or extended label");
		if (pos + 1 + l > len)
			return error_set(err, ERR_PERM, "label runs past the end");
		if (pos + 1 + l + 1 > NAME_WIRE_MAX)
			return error_set(err, ERR_PERM, "name over 255 octets");
		if (o > 0) {
			if (o + 1 >= size)
				goto small;
			out[o++] = '.';
		}
		for (size_t i = 0; i < l; i++) {
			uint8_t c = data[pos + 1 + i];
			if (c > 0x20 && c < 0x7f && c != '.' && c != '\\' &&
			    c != '"' && c != ';' && c != '(' && c != ')') {
				if (o + 1 >= size)
					goto small;
				out[o++] = (char)c;
			} else {
				if (o + 4 >= size)
					goto small;
				snprintf(out + o, 5, "\\%03u", c);
				o += 4;
			}
		}
		pos += 1 + (size_t)l;
	}
	if (o == 0)
		out[o++] = '.'; /* the root */
	out[o] = '\0';
	if (used_r != NULL)
		*used_r = pos;
	return 0;
small:
	return error_set(err, ERR_PERM, "name too long for its buffer");
}

int dns_name_to_wire(const char *name, uint8_t *out, size_t size,
		     size_t *len_r)
{
	size_t o = 0;
	const char *p = name;

	if (strcmp(name, ".") == 0 || *name == '\0')
		goto root;
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || o + 1 + l + 1 > size ||
		    o + 1 + l + 1 > NAME_WIRE_MAX)
			return -1;
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.') {
			p++;
			if (*p == '\0')
				break; /* final dot */
		}
	}
root:
	if (o + 1 > size)
		return -1;
	out[o++] = 0;
	*len_r = o;
	return 0;
}

/* A name filling the rest of the rdata exactly. */
static int parse_name_rest(uint16_t type, const uint8_t *data, size_t len,
			   char **name_r, struct error *err)
{
	char text[DNS_NAME_TEXT_MAX];
	size_t used;

	if (dns_name_from_wire(data, len, &used, text, sizeof(text), err) < 0)
		return -1;
	if (used != len)
		return malformed(err, type, "bytes after the name");
	*name_r = xstrdup(text);
	return 0;
}

static int parse_txt(const uint8_t *data, size_t len, struct dns_rr *rr,
		     struct error *err)
{
	size_t pos = 0, total = 0;
	unsigned n = 0;

	/* RFC 1035 3.3.14: one or more <character-string>s. */
	if (len == 0)
		return malformed(err, DNS_T_TXT, "no string");
	while (pos < len) {
		size_t l = data[pos];
		if (pos + 1 + l > len)
			return malformed(err, DNS_T_TXT,
					 "string runs past the end");
		total += l;
		pos += 1 + l;
		n++;
	}
	rr->txt.data = xmalloc(total + 1);
	rr->txt.len = total;
	rr->txt.nstrings = n;
	for (pos = 0, total = 0; pos < len;) {
		size_t l = data[pos];
		memcpy(rr->txt.data + total, data + pos + 1, l);
		total += l;
		pos += 1 + l;
	}
	rr->txt.data[total] = '\0';
	return 0;
}

int dns_rdata_parse(uint16_t type, const uint8_t *data, size_t len,
		    struct dns_rr *rr, struct error *err)
{
	memset(rr, 0, sizeof(*rr));
	rr->type = type;
	switch (type) {
	case DNS_T_A: {
		struct sockaddr_in *sin = (struct sockaddr_in *)&rr->addr.sa;
		if (len != 4)
			return malformed(err, type, "not 4 octets");
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, data, 4);
		inet_ntop(AF_INET, &sin->sin_addr, rr->addr.text,
			  sizeof(rr->addr.text));
		return 0;
	}
	case DNS_T_AAAA: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rr->addr.sa;
		if (len != 16)
			return malformed(err, type, "not 16 octets");
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, data, 16);
		inet_ntop(AF_INET6, &sin6->sin6_addr, rr->addr.text,
			  sizeof(rr->addr.text));
		return 0;
	}
	case DNS_T_MX:
		if (len < 3)
			return malformed(err, type, "too short");
		rr->mx.pref = (uint16_t)(data[0] << 8 | data[1]);
		if (parse_name_rest(type, data + 2, len - 2, &rr->mx.host,
				    err) < 0) {
			error_prefix(err, "MX exchange");
			return -1;
		}
		return 0;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		return parse_name_rest(type, data, len, &rr->name, err);
	case DNS_T_TXT:
		return parse_txt(data, len, rr, err);
	case DNS_T_TLSA:
		/* RFC 6698 2.1: usage, selector, matching type, then the
		 * certificate association data (at least one octet). */
		if (len < 4)
			return malformed(err, type, "too short");
		rr->tlsa.usage = data[0];
		rr->tlsa.selector = data[1];
		rr->tlsa.mtype = data[2];
		rr->tlsa.len = len - 3;
		rr->tlsa.data = xmemdup(data + 3, len - 3);
		return 0;
	default:
		rr->raw.len = len;
		rr->raw.data = xmemdup(data, len);
		return 0;
	}
}

void dns_rr_clear(struct dns_rr *rr)
{
	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		break;
	case DNS_T_MX:
		free(rr->mx.host);
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		free(rr->name);
		break;
	case DNS_T_TXT:
		free(rr->txt.data);
		break;
	case DNS_T_TLSA:
		free(rr->tlsa.data);
		break;
	default:
		free(rr->raw.data);
		break;
	}
	memset(rr, 0, sizeof(*rr));
}
