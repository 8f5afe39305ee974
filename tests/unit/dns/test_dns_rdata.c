/*
 * test_dns_rdata - the rdata parsers on hand-made wire data: each type's
 * good form, and every truncation, trailing byte and compression pointer
 * refused.
 */
#include "test.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rdata.h"

static int parse(uint16_t type, const char *data, size_t len,
		 struct dns_rr *rr)
{
	struct error err;
	int r = dns_rdata_parse(type, (const uint8_t *)data, len, rr, &err);
	if (r < 0)
		assert_int_equal(err.kind, ERR_PERM);
	return r;
}

static void test_a_aaaa(void **state)
{
	struct dns_rr rr;

	assert_int_equal(parse(DNS_T_A, "\xc6\x12\x00\x01", 4, &rr), 0);
	assert_string_equal(rr.addr.text, "198.18.0.1");
	assert_int_equal(rr.addr.sa.ss_family, AF_INET);
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_A, "\xc6\x12\x00", 3, &rr), -1);
	assert_int_equal(parse(DNS_T_A, "\xc6\x12\x00\x01\x02", 5, &rr), -1);
	assert_int_equal(parse(DNS_T_AAAA,
			       "\x20\x01\x05\x00\0\0\0\0\0\0\0\0\0\0\0\x02",
			       16, &rr),
			 0);
	assert_string_equal(rr.addr.text, "2001:500::2");
	assert_int_equal(rr.addr.sa.ss_family, AF_INET6);
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_AAAA, "\x20\x01", 2, &rr), -1);
	assert_int_equal(parse(DNS_T_AAAA, "", 0, &rr), -1);
}

static void test_mx(void **state)
{
	struct dns_rr rr;
	static const char mx[] = "\x00\x0a\x03mx1\x07" "example\x00";
	static const char null_mx[] = "\x00\x00\x00";

	assert_int_equal(parse(DNS_T_MX, mx, sizeof(mx) - 1, &rr), 0);
	assert_int_equal(rr.mx.pref, 10);
	assert_string_equal(rr.mx.host, "mx1.example");
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_MX, null_mx, 3, &rr), 0);
	assert_int_equal(rr.mx.pref, 0);
	assert_string_equal(rr.mx.host, ".");
	dns_rr_clear(&rr);
	/* Every truncation fails, as do a trailing byte and a pointer. */
	for (size_t n = 0; n < sizeof(mx) - 1; n++)
		assert_int_equal(parse(DNS_T_MX, mx, n, &rr), -1);
	assert_int_equal(parse(DNS_T_MX, "\x00\x0a\x03mx1\x00X", 8, &rr), -1);
	assert_int_equal(parse(DNS_T_MX, "\x00\x0a\xc0\x0c", 4, &rr), -1);
	assert_int_equal(parse(DNS_T_MX, "\x00\x0a\x40" "abc", 6, &rr), -1);
}

static void test_txt(void **state)
{
	struct dns_rr rr;
	static const char two[] = "\x05v=spf\x0e" "1 ip4:1/8 -all";
	char big[1 + 255 + 1 + 10];

	assert_int_equal(parse(DNS_T_TXT, two, sizeof(two) - 1, &rr), 0);
	assert_int_equal(rr.txt.nstrings, 2);
	assert_int_equal(rr.txt.len, 19);
	assert_string_equal(rr.txt.data, "v=spf1 ip4:1/8 -all");
	dns_rr_clear(&rr);
	/* Strings are concatenated without separators (RFC 7208 3.3). */
	big[0] = (char)255;
	memset(big + 1, 'a', 255);
	big[256] = 10;
	memset(big + 257, 'b', 10);
	assert_int_equal(parse(DNS_T_TXT, big, sizeof(big), &rr), 0);
	assert_int_equal(rr.txt.len, 265);
	assert_int_equal(rr.txt.nstrings, 2);
	assert_int_equal(rr.txt.data[254], 'a');
	assert_int_equal(rr.txt.data[255], 'b');
	assert_int_equal(rr.txt.data[265], '\0');
	dns_rr_clear(&rr);
	/* Empty strings and NUL octets are data. */
	assert_int_equal(parse(DNS_T_TXT, "\x00\x02" "a\0", 4, &rr), 0);
	assert_int_equal(rr.txt.len, 2);
	assert_int_equal(rr.txt.nstrings, 2);
	assert_memory_equal(rr.txt.data, "a\0", 2);
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_TXT, "", 0, &rr), -1);
	assert_int_equal(parse(DNS_T_TXT, "\x05" "abcd", 5, &rr), -1);
	assert_int_equal(parse(DNS_T_TXT, "\x01" "a\x02" "b", 4, &rr), -1);
}

static void test_tlsa(void **state)
{
	struct dns_rr rr;

	assert_int_equal(parse(DNS_T_TLSA, "\x03\x01\x01\xab\xcd", 5, &rr), 0);
	assert_int_equal(rr.tlsa.usage, 3);
	assert_int_equal(rr.tlsa.selector, 1);
	assert_int_equal(rr.tlsa.mtype, 1);
	assert_int_equal(rr.tlsa.len, 2);
	assert_memory_equal(rr.tlsa.data, "\xab\xcd", 2);
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_TLSA, "\x03\x01\x01", 3, &rr), -1);
}

static void test_names(void **state)
{
	struct dns_rr rr;
	char out[DNS_NAME_TEXT_MAX];
	uint8_t wire[300];
	size_t used, len;
	struct error err;

	assert_int_equal(parse(DNS_T_PTR, "\x03mx1\x04mail\x07" "example\x00",
			       18, &rr),
			 0);
	assert_string_equal(rr.name, "mx1.mail.example");
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_CNAME, "\x01" "a\x00", 3, &rr), 0);
	assert_string_equal(rr.name, "a");
	dns_rr_clear(&rr);
	assert_int_equal(parse(DNS_T_PTR, "\x01" "a", 2, &rr), -1);
	/* Dots, backslashes and binary octets in labels are escaped. */
	assert_int_equal(dns_name_from_wire((const uint8_t *)"\x03" "a.b\x02"
							     "\\\x01\x00",
					    8, &used, out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "a\\046b.\\092\\001");
	assert_int_equal(used, 8);
	/* Too small an output buffer is an error, never an overflow. */
	assert_int_equal(dns_name_from_wire((const uint8_t *)"\x03" "abc\x00",
					    5, &used, out, 3, &err),
			 -1);
	/* 255 octets is the limit on the wire. */
	assert_int_equal(dns_name_to_wire("a.b.example.", wire, sizeof(wire),
					  &len),
			 0);
	assert_int_equal(len, 13);
	assert_memory_equal(wire, "\x01" "a\x01" "b\x07" "example\x00", 13);
	memset(wire, 0, sizeof(wire));
	for (size_t i = 0; i < 4; i++) {
		wire[i * 64] = 63;
		memset(wire + i * 64 + 1, 'x', 63);
	}
	/* 4 * 64 + 1 = 257 octets: too long. */
	assert_int_equal(dns_name_from_wire(wire, 257, &used, out, sizeof(out),
					    &err),
			 -1);
	wire[3 * 64] = 61; /* 3 * 64 + 62 + 1 = 255 */
	wire[3 * 64 + 62] = 0;
	assert_int_equal(dns_name_from_wire(wire, 255, &used, out, sizeof(out),
					    &err),
			 0);
	assert_int_equal(used, 255);
	assert_int_equal(dns_name_to_wire("a..b", wire, sizeof(wire), &len),
			 -1);
}

static void test_raw(void **state)
{
	struct dns_rr rr;

	assert_int_equal(parse(257, "\x00\x05issue", 8, &rr), 0);
	assert_int_equal(rr.raw.len, 8);
	assert_memory_equal(rr.raw.data, "\x00\x05issue", 8);
	dns_rr_clear(&rr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_aaaa), cmocka_unit_test(test_mx),
		cmocka_unit_test(test_txt),    cmocka_unit_test(test_tlsa),
		cmocka_unit_test(test_names),  cmocka_unit_test(test_raw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
