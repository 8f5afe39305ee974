/*
 * test_mta_sts - RFC 8461 policy files (3.2 grammar), the _mta-sts TXT
 * record (3.1) and MX pattern matching (4.1).
 */
#include "test.h"

#include <string.h>

#include "smtp/mta_sts.h"

static int parse(const char *text, struct mta_sts_policy *p)
{
	struct error err;

	return mta_sts_policy_parse(text, strlen(text), p, &err);
}

static void test_policy_ok(void **state)
{
	struct mta_sts_policy p;

	/* The RFC's example, CRLF. */
	assert_int_equal(
	    parse("version: STSv1\r\nmode: enforce\r\n"
		  "mx: mail.example.com\r\n"
		  "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
		  "max_age: 604800\r\n",
		  &p),
	    0);
	assert_int_equal(p.mode, MTA_STS_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 3);
	assert_string_equal(
	    p.mx, "mail.example.com *.example.net backupmx.example.com");
	mta_sts_policy_clear(&p);

	/* LF, no final delimiter, white space around values, upper case
	 * names lowered, unknown keys ignored. */
	assert_int_equal(parse("version:STSv1\nmode:   testing \n"
			       "x-foo: anything at all\nmx: MX.Example.ORG\n"
			       "max_age:86400",
			       &p),
			 0);
	assert_int_equal(p.mode, MTA_STS_TESTING);
	assert_int_equal(p.max_age, 86400);
	assert_string_equal(p.mx, "mx.example.org");
	mta_sts_policy_clear(&p);

	/* max_age capped at 31557600. */
	assert_int_equal(parse("version: STSv1\nmode: enforce\nmx: a.b\n"
			       "max_age: 9999999999\n",
			       &p),
			 0);
	assert_int_equal(p.max_age, MTA_STS_MAX_AGE_CAP);
	mta_sts_policy_clear(&p);

	/* mode none needs no mx; the first of a repeated field wins. */
	assert_int_equal(parse("version: STSv1\nmode: none\nmode: enforce\n"
			       "max_age: 10\nmax_age: 20\n",
			       &p),
			 0);
	assert_int_equal(p.mode, MTA_STS_NONE);
	assert_int_equal(p.max_age, 10);
	assert_int_equal(p.nmx, 0);
	assert_string_equal(p.mx, "");
	mta_sts_policy_clear(&p);
}

static void test_policy_bad(void **state)
{
	static const char *const bad[] = {
	    "",					    /* empty */
	    "mode: enforce\nmx: a.b\nmax_age: 1\n", /* no version */
	    "version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", /* version
								     */
	    "version: STSv1\nmx: a.b\nmax_age: 1\n",		   /* no mode */
	    "version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n", /* mode */
	    "version: STSv1\nmode: enforce\nmx: a.b\n", /* no max_age */
	    "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", /* sign */
	    "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n",
	    "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1d\n",
	    "version: STSv1\nmode: enforce\nmax_age: 1\n", /* no mx */
	    "version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx: a_b.c\nmax_age: 1\n",
	    "version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n",
	    "version: STSv1\nmode enforce\nmx: a.b\nmax_age: 1\n", /* no colon
								    */
	    "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nx: \x01\n",
	    "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nx: \xc3\xa9\n",
	    "version: STSv1\nmode: en\rforce\nmx: a.b\nmax_age: 1\n",
	};
	struct mta_sts_policy p;
	struct error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mta_sts_policy_parse(bad[i], strlen(bad[i]), &p, &err) !=
		    -1)
			fail_msg("accepted bad policy %zu", i);
		assert_int_equal(err.kind, ERR_PERM);
		assert_null(p.mx);
	}
	/* A NUL inside. */
	assert_int_equal(mta_sts_policy_parse("version: STSv1\0\nmode: none\n"
					      "max_age: 1\n",
					      33, &p, &err),
			 -1);
	/* Too large. */
	{
		static char big[MTA_STS_POLICY_MAX + 2];
		memset(big, '\n', sizeof(big));
		assert_int_equal(
		    mta_sts_policy_parse(big, sizeof(big), &p, &err), -1);
	}
}

static void test_txt(void **state)
{
	char id[MTA_STS_ID_MAX + 1];
	struct error err;
	const char *t;

#define TXT(s) mta_sts_txt_parse((s), strlen(s), id, &err)
	assert_int_equal(TXT("v=STSv1; id=20160831085700Z;"), 1);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(TXT("v=STSv1;id=abc"), 1);
	assert_string_equal(id, "abc");
	assert_int_equal(TXT("v=STSv1 ;  ext=1 ; id=X2 "), 1);
	assert_string_equal(id, "X2");
	/* Not an STS record: ignored. */
	assert_int_equal(TXT("v=spf1 -all"), 0);
	assert_int_equal(TXT("v=STSv10; id=1"), 0);
	assert_int_equal(TXT(""), 0);
	/* STS but broken. */
	assert_int_equal(TXT("v=STSv1;"), -1);
	assert_int_equal(TXT("v=STSv1; id="), -1);
	assert_int_equal(TXT("v=STSv1; id=a-b"), -1);
	t = "v=STSv1; id=123456789012345678901234567890123";
	assert_int_equal(TXT(t), -1);
	assert_int_equal(TXT("v=STSv1 id=1"), -1);
#undef TXT
}

static void test_mx_match(void **state)
{
	assert_true(mta_sts_mx_match("mx.example.com", "mx.example.com"));
	assert_true(mta_sts_mx_match("mx.example.com", "MX.Example.COM."));
	assert_false(mta_sts_mx_match("mx.example.com", "mx2.example.com"));
	assert_false(mta_sts_mx_match("mx.example.com", "x.mx.example.com"));
	/* The wildcard is exactly one label. */
	assert_true(mta_sts_mx_match("*.example.net", "a.example.net"));
	assert_true(mta_sts_mx_match("*.example.net", "A.EXAMPLE.NET."));
	assert_false(mta_sts_mx_match("*.example.net", "example.net"));
	assert_false(mta_sts_mx_match("*.example.net", "a.b.example.net"));
	assert_false(mta_sts_mx_match("*.example.net", ".example.net"));
	assert_false(mta_sts_mx_match("*.example.net", "a.example.org"));
	assert_false(mta_sts_mx_match("*.example.net", "aexample.net"));

	assert_true(
	    mta_sts_mx_allowed("a.example *.example.net", "x.example.net"));
	assert_true(mta_sts_mx_allowed("a.example *.example.net", "a.example"));
	assert_false(
	    mta_sts_mx_allowed("a.example *.example.net", "b.example"));
	assert_false(mta_sts_mx_allowed("", "a.example"));
}

static void test_mode_names(void **state)
{
	enum mta_sts_mode m;

	assert_int_equal(mta_sts_mode_parse("ENFORCE", &m), 0);
	assert_int_equal(m, MTA_STS_ENFORCE);
	assert_int_equal(mta_sts_mode_parse("weak", &m), -1);
	assert_string_equal(mta_sts_mode_name(MTA_STS_TESTING), "testing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_ok),
	    cmocka_unit_test(test_policy_bad),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_mx_match),
	    cmocka_unit_test(test_mode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
