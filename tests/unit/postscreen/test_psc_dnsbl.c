/*
 * test_psc_dnsbl - postscreen_dnsbl_sites: the domain[=filter][*weight]
 * syntax, filters with ranges and lists, and the combined score.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "psc-dnsbl.h"

static void test_parse_plain(void **state)
{
	struct error err;
	struct psc_dnsbl *d =
	    psc_dnsbl_parse("zen.example, b.example*3  Allow.Example.*-5", &err);

	(void)state;
	assert_non_null(d);
	assert_int_equal(psc_dnsbl_count(d), 3);
	assert_string_equal(psc_dnsbl_site_domain(d, 0), "zen.example");
	assert_int_equal(psc_dnsbl_site_weight(d, 0), 1);
	assert_int_equal(psc_dnsbl_site_weight(d, 1), 3);
	/* Lower-cased, trailing dot dropped, negative weight. */
	assert_string_equal(psc_dnsbl_site_domain(d, 2), "allow.example");
	assert_int_equal(psc_dnsbl_site_weight(d, 2), -5);
	assert_true(psc_dnsbl_site_match(d, 0, "127.0.0.2"));
	psc_dnsbl_free(&d);
	assert_null(d);

	d = psc_dnsbl_parse("", &err);
	assert_non_null(d);
	assert_int_equal(psc_dnsbl_count(d), 0);
	psc_dnsbl_free(&d);
}

static void test_filters(void **state)
{
	struct error err;
	struct psc_dnsbl *d = psc_dnsbl_parse(
	    "a.example=127.0.0.2 a.example=127.0.0.[4..6]*2 "
	    "a.example=127.0.[0;1].[10;20..22;99]*-1",
	    &err);

	(void)state;
	assert_non_null(d);
	/* One domain asked once for three entries. */
	assert_int_equal(psc_dnsbl_ndomains(d), 1);
	assert_true(psc_dnsbl_site_match(d, 0, "127.0.0.2"));
	assert_false(psc_dnsbl_site_match(d, 0, "127.0.0.3"));
	assert_false(psc_dnsbl_site_match(d, 1, "127.0.0.3"));
	assert_true(psc_dnsbl_site_match(d, 1, "127.0.0.4"));
	assert_true(psc_dnsbl_site_match(d, 1, "127.0.0.6"));
	assert_false(psc_dnsbl_site_match(d, 1, "127.0.0.7"));
	assert_true(psc_dnsbl_site_match(d, 2, "127.0.1.21"));
	assert_true(psc_dnsbl_site_match(d, 2, "127.0.0.99"));
	assert_false(psc_dnsbl_site_match(d, 2, "127.0.2.10"));
	assert_false(psc_dnsbl_site_match(d, 2, "127.0.0.23"));
	/* Not an address: no match. */
	assert_false(psc_dnsbl_site_match(d, 0, "127.0.0.2.1"));
	assert_false(psc_dnsbl_site_match(d, 0, "x"));
	psc_dnsbl_free(&d);
}

static void test_score(void **state)
{
	struct error err;
	struct psc_dnsbl *d = psc_dnsbl_parse(
	    "bl.example=127.0.0.[2..3]*2, bl.example=127.0.0.4*5, "
	    "bl.example*1, wl.example*-3",
	    &err);
	const char *two[] = {"127.0.0.2"};
	const char *both[] = {"127.0.0.3", "127.0.0.4"};
	const char *other[] = {"127.0.0.9"};
	long top;

	(void)state;
	assert_non_null(d);
	assert_int_equal(psc_dnsbl_ndomains(d), 2);
	/* 2 (filter) + 1 (any). */
	assert_int_equal(psc_dnsbl_score(d, "bl.example", two, 1, &top), 3);
	assert_int_equal(top, 0);
	/* Each entry counts once, however many answers match it. */
	assert_int_equal(psc_dnsbl_score(d, "bl.example", both, 2, &top), 8);
	assert_int_equal(top, 1);
	assert_int_equal(psc_dnsbl_score(d, "bl.example", other, 1, &top), 1);
	assert_int_equal(psc_dnsbl_score(d, "wl.example", other, 1, &top), -3);
	assert_int_equal(psc_dnsbl_score(d, "none.example", two, 1, &top), 0);
	assert_int_equal(top, -1);
	assert_int_equal(psc_dnsbl_score(d, "bl.example", two, 0, NULL), 0);
	psc_dnsbl_free(&d);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
	    "a.example=127.0.0",     "a.example=127.0.0.256",
	    "a.example=127.0.0.[5..4]", "a.example=127.0.0.[1",
	    "a.example=127.0.0.1x",  "a.example*",
	    "a.example*x",           "a.example*99999999",
	    "=127.0.0.1",            "a..example",
	    "a.example=1.2.3.[]",    "bad/domain",
	    "a.example=127.0.0.[1;]",
	};
	struct error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct psc_dnsbl *d = psc_dnsbl_parse(bad[i], &err);
		if (d != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_non_null(strstr(err.msg, "postscreen_dnsbl_sites"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_plain),
	    cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_score),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
