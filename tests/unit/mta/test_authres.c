/*
 * test_authres - the pure parts of sender authentication
 * (mta/smtpd-authres.h): DMARC record parsing, organizational domains and
 * alignment on the public suffix list, the Authentication-Results field
 * (format, quoting), recognizing and removing fields that claim our
 * authserv-id, and the DKIM b= tags.
 */
#include "test.h"

#include <string.h>

#include "core/buf.h"
#include "smtpd-authres.h"

#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

static void test_dmarc_record(void **state)
{
	struct dmarc_record r;

	(void)state;
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=reject", 18, &r), 1);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT); /* sp defaults to p */
	assert_int_equal(r.pct, 100);
	assert_false(r.adkim_strict);
	assert_false(r.aspf_strict);

	const char *full = " v = DMARC1 ;p=quarantine; sp=none ; pct=20;"
			   "adkim=s; aspf=s; rua=mailto:x@y.example;";
	assert_int_equal(dmarc_record_parse(full, strlen(full), &r), 1);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.pct, 20);
	assert_true(r.adkim_strict);
	assert_true(r.aspf_strict);

	/* Not DMARC: another version, v= not first, SPF, empty. */
	static const char *const no[] = {"v=DMARC2; p=reject",
					 "p=reject; v=DMARC1",
					 "v=spf1 -all",
					 "",
					 "v=dmarc1; p=reject",
					 ";;",
					 "garbage"};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_int_equal(dmarc_record_parse(no[i], strlen(no[i]), &r),
				 0);

	/* Bad values: p= falls back to none, pct= to 100. */
	const char *bad = "v=DMARC1; p=bogus; pct=101";
	assert_int_equal(dmarc_record_parse(bad, strlen(bad), &r), 1);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_int_equal(r.pct, 100);
	/* No policy at all (v= alone): none. */
	assert_int_equal(dmarc_record_parse("v=DMARC1", 8, &r), 1);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=REJECT", 18, &r), 1);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
}

static void test_org_domain_alignment(void **state)
{
	struct error err;
	struct authres_psl *psl = authres_psl_load(PSL_FILE, &err);
	char org[256];

	(void)state;
	assert_non_null(psl);
	authres_org_domain(psl, "mail.Example.COM", org, sizeof(org));
	assert_string_equal(org, "example.com");
	authres_org_domain(psl, "a.b.example.co.uk.", org, sizeof(org));
	assert_string_equal(org, "example.co.uk");
	/* Unlisted TLD: the default rule "*" (the test zones' case). */
	authres_org_domain(psl, "x.sub.signed.example", org, sizeof(org));
	assert_string_equal(org, "signed.example");
	/* A public suffix is its own organizational domain. */
	authres_org_domain(psl, "co.uk", org, sizeof(org));
	assert_string_equal(org, "co.uk");

	assert_true(
	    authres_aligned(psl, "mail.example.com", "example.com", false));
	assert_true(authres_aligned(psl, "EXAMPLE.com", "example.COM.", true));
	assert_false(
	    authres_aligned(psl, "mail.example.com", "example.com", true));
	assert_false(
	    authres_aligned(psl, "a.example.co.uk", "b.other.co.uk", false));
	/* Two registrations under one public suffix never align. */
	assert_false(authres_aligned(psl, "one.co.uk", "two.co.uk", false));
	assert_false(authres_aligned(psl, "", "example.com", false));
	assert_false(authres_aligned(psl, NULL, "example.com", false));
	authres_psl_free(&psl);
	assert_null(psl);

	assert_null(authres_psl_load("/nonexistent/psl.dat", &err));
	assert_int_equal(err.kind, ERR_CONFIG);
}

static void test_format(void **state)
{
	struct authres_dkim sigs[2] = {
	    {.result = DKIM_PASS,
	     .domain = "d.example",
	     .selector = "s1",
	     .b = "abc/+9=="},
	    {.result = DKIM_FAIL,
	     .domain = "d.example",
	     .selector = "s2",
	     .b = "12345678",
	     .reason = "body hash \"mismatch\""},
	};
	struct authres_result r = {
	    .spf_identity = "mailfrom",
	    .spf_value = "who@d.example",
	    .spf = AUTHRES_SPF_SOFTFAIL,
	    .dkim_checked = true,
	    .sigs = sigs,
	    .nsigs = 2,
	    .dmarc_checked = true,
	    .dmarc = DMARC_RESULT_FAIL,
	    .from_domain = "d.example",
	    .have_policy = true,
	    .policy = DMARC_POLICY_REJECT,
	    .disposition = DMARC_POLICY_QUARANTINE,
	};
	struct buf *b = buf_new();

	(void)state;
	authres_format(b, "mx.example", &r);
	assert_string_equal(
	    buf_data(b),
	    "Authentication-Results: mx.example;\r\n"
	    "\tspf=softfail smtp.mailfrom=who@d.example;\r\n"
	    "\tdkim=pass header.d=d.example header.s=s1 "
	    "header.b=\"abc/+9==\";\r\n"
	    "\tdkim=fail reason=\"body hash \\\"mismatch\\\"\" "
	    "header.d=d.example header.s=s2 header.b=12345678;\r\n"
	    "\tdmarc=fail (p=reject dis=quarantine) header.from=d.example\r\n");

	/* Quoting of odd mailbox values; dkim=none; no DMARC. */
	struct authres_result r2 = {
	    .spf_identity = "mailfrom",
	    .spf_value = "\"a b\"@d.example",
	    .spf = AUTHRES_SPF_PASS,
	    .dkim_checked = true,
	};
	buf_reset(b);
	authres_format(b, "mx.example", &r2);
	assert_string_equal(
	    buf_data(b), "Authentication-Results: mx.example;\r\n"
			 "\tspf=pass smtp.mailfrom=\"\\\"a b\\\"@d.example\";"
			 "\r\n\tdkim=none\r\n");

	/* Nothing checked: "none" (RFC 8601 2.2). */
	struct authres_result r3 = {0};
	buf_reset(b);
	authres_format(b, "mx.example", &r3);
	assert_string_equal(buf_data(b),
			    "Authentication-Results: mx.example; none\r\n");
	buf_free(&b);
}

static void test_field_is_ours(void **state)
{
	static const struct {
		const char *value;
		bool ours;
	} cases[] = {
	    {"mx.example; spf=pass", true},
	    {"MX.Example; none", true},
	    {"mx.example.; none", true},
	    {" (a comment (nested)) mx.example ; dkim=pass", true},
	    {"\r\n\tmx.example;\r\n\tspf=pass", true},
	    {"\"mx.example\"; none", true},
	    {"mx.example 1; none", true}, /* with a version */
	    {"other.example; spf=pass", false},
	    {"mx.example.evil; none", false},
	    {"x.mx.example; none", false},
	    {"", false},
	    {"(unterminated comment mx.example", false},
	    {";", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(authres_field_is_ours(cases[i].value,
						       strlen(cases[i].value),
						       "mx.example"),
				 cases[i].ours);
}

static void test_strip(void **state)
{
	const char *msg = "Received: from x\r\n"
			  "Authentication-Results: mx.example; spf=pass\r\n"
			  "Subject: hi\r\n"
			  "authentication-results: (c) MX.EXAMPLE;\r\n"
			  "\tdkim=pass\r\n"
			  "Authentication-Results: other.example; spf=fail\r\n"
			  "\r\n"
			  "Authentication-Results: mx.example; body line\r\n";
	struct buf *b = buf_new();

	(void)state;
	assert_int_equal(authres_strip_ours(msg, strlen(msg), "mx.example", b),
			 2);
	assert_string_equal(
	    buf_data(b), "Received: from x\r\n"
			 "Subject: hi\r\n"
			 "Authentication-Results: other.example; spf=fail\r\n"
			 "\r\n"
			 "Authentication-Results: mx.example; body line\r\n");
	buf_reset(b);
	assert_int_equal(
	    authres_strip_ours(msg, strlen(msg), "none.example", b), 0);
	assert_int_equal(buf_len(b), strlen(msg));
	buf_free(&b);
}

static void test_b_tags(void **state)
{
	const char *msg = "DKIM-Signature: v=1; a=rsa-sha256; d=x.example;\r\n"
			  "\ts=sel; bh=AAAA; b=abcd\r\n\t efgh ijkl==\r\n"
			  "From: a@x.example\r\n"
			  "dkim-signature: v=1; d=y.example; s=t; bh=B;\r\n"
			  "DKIM-Signature: v=1; b = Zz;\r\n"
			  "\r\nbody\r\n";
	char b[2][9];

	(void)state;
	assert_int_equal(authres_dkim_b_tags(msg, strlen(msg), b, 2), 3);
	assert_string_equal(b[0], "abcdefgh");
	assert_string_equal(b[1], "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dmarc_record),
	    cmocka_unit_test(test_org_domain_alignment),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_field_is_ours),
	    cmocka_unit_test(test_strip),
	    cmocka_unit_test(test_b_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
