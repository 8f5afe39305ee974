/*
 * test_dns_pattern - DNSBL reply patterns (lib/dns/dns_pattern.h):
 * single addresses, [n..m;k] lists and ranges in any octet, and the
 * syntax errors.
 */
#include "test.h"

#include <stdio.h>

#include "dns/dns_pattern.h"

static void test_exact(void **state)
{
	struct dns_addr_pattern p;

	(void)state;
	assert_true(dns_addr_pattern_parse("127.0.0.2", &p));
	assert_true(dns_addr_pattern_match(&p, "127.0.0.2"));
	assert_false(dns_addr_pattern_match(&p, "127.0.0.3"));
	assert_false(dns_addr_pattern_match(&p, "127.0.0.20"));
	/* Not an IPv4 address: never matches. */
	assert_false(dns_addr_pattern_match(&p, "127.0.0.2.1"));
	assert_false(dns_addr_pattern_match(&p, "127.0.0"));
	assert_false(dns_addr_pattern_match(&p, "::1"));
	assert_false(dns_addr_pattern_match(&p, ""));
}

static void test_ranges(void **state)
{
	struct dns_addr_pattern p;

	(void)state;
	/* Postfix's postconf(5) example. */
	assert_true(dns_addr_pattern_parse("127.0.0.[2..10;12]", &p));
	for (unsigned i = 0; i < 256; i++) {
		char a[32];
		snprintf(a, sizeof(a), "127.0.0.%u", i);
		assert_int_equal(dns_addr_pattern_match(&p, a),
				 (i >= 2 && i <= 10) || i == 12);
	}
	assert_false(dns_addr_pattern_match(&p, "127.0.1.2"));
	assert_true(
	    dns_addr_pattern_parse("127.[0;1].[0..255].[1;3;5..9]", &p));
	assert_true(dns_addr_pattern_match(&p, "127.1.200.7"));
	assert_false(dns_addr_pattern_match(&p, "127.2.200.7"));
	assert_false(dns_addr_pattern_match(&p, "127.1.200.4"));
	assert_true(
	    dns_addr_pattern_parse("[0..255].[0..255].[0..255].[0..255]", &p));
	assert_true(dns_addr_pattern_match(&p, "255.0.128.1"));
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "127.0.0",
	    "127.0.0.256",
	    "127.0.0.2.",
	    "127.0.0.2x",
	    "127.0.0.[2..1]",
	    "127.0.0.[2",
	    "127.0.0.[]",
	    "127.0.0.[2;]",
	    "127.0.0.[..3]",
	    "127.0.0.[1..]",
	    "127..0.0.1",
	    "1270.0.0.1",
	    "127.0.0.[1..300]",
	    "a.b.c.d",
	    " 127.0.0.2",
	};
	struct dns_addr_pattern p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dns_addr_pattern_parse(bad[i], &p))
			fail_msg("accepted \"%s\"", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
