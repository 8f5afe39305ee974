/*
 * fuzz_dns_rdata - libFuzzer target for lib/dns's rdata parsers
 * (dns_rdata.c) and query-name helpers (dns_name.c).  The first input
 * byte picks the record type (A, AAAA, MX, TXT, TLSA, PTR, CNAME, NS or a
 * raw type), the rest is the rdata.  Checks: a parsed record is
 * consistent (addresses of the right family, TXT no longer than its
 * rdata, names within DNS_NAME_TEXT_MAX and, when they needed no escape,
 * equal to the input once encoded back); the same bytes as a name and as
 * a text address never crash the name helpers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/dns_rdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[] = {DNS_T_A,   DNS_T_AAAA, DNS_T_MX,
				 DNS_T_TXT, DNS_T_TLSA, DNS_T_PTR,
				 DNS_T_CNAME, DNS_T_NS, 257};

static void check_name(const char *name, const uint8_t *wire, size_t len)
{
	uint8_t back[300];
	size_t blen;

	if (strlen(name) >= DNS_NAME_TEXT_MAX)
		abort();
	if (strchr(name, '\\') != NULL)
		return;
	/* Without escapes the text must encode back to the same wire. */
	if (dns_name_to_wire(name, back, sizeof(back), &blen) < 0 ||
	    blen != len || memcmp(back, wire, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_rr rr;
	struct error err;
	char text[DNS_NAME_TEXT_MAX];
	size_t used;

	if (size < 1)
		return 0;
	uint16_t type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	const uint8_t *rd = data + 1;
	size_t len = size - 1;

	if (dns_rdata_parse(type, rd, len, &rr, &err) == 0) {
		switch (type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			if (rr.addr.sa.ss_family !=
			    (type == DNS_T_A ? AF_INET : AF_INET6))
				abort();
			break;
		case DNS_T_MX:
			check_name(rr.mx.host, rd + 2, len - 2);
			break;
		case DNS_T_TXT:
			if (rr.txt.len >= len || rr.txt.nstrings == 0 ||
			    rr.txt.data[rr.txt.len] != '\0')
				abort();
			break;
		case DNS_T_TLSA:
			if (rr.tlsa.len != len - 3)
				abort();
			break;
		case DNS_T_PTR:
		case DNS_T_CNAME:
		case DNS_T_NS:
			check_name(rr.name, rd, len);
			break;
		default:
			if (rr.raw.len != len)
				abort();
		}
		dns_rr_clear(&rr);
	}
	/* The raw name parser with a small output buffer. */
	if (dns_name_from_wire(rd, len, &used, text, 64, &err) == 0 &&
	    (used > len || strlen(text) >= 64))
		abort();
	/* The bytes as an address for the query-name helpers. */
	char *s = malloc(len + 1);
	memcpy(s, rd, len);
	s[len] = '\0';
	if (dns_reverse_name(s, text, sizeof(text), &err) == 0 &&
	    strlen(text) > 253)
		abort();
	if (dns_dnsbl_name(s, "bl.example", text, sizeof(text), &err) == 0 &&
	    strlen(text) > 253)
		abort();
	free(s);
	return 0;
}
