/*
 * test_tlsrpt - RFC 8460: the "_smtp._tls" TXT record (3), mailto: rua
 * addresses and the JSON aggregate report (4.4).
 */
#include "test.h"

#include <string.h>

#include "smtp/tlsrpt.h"

static int parse(const char *text, struct tlsrpt_record *r)
{
	struct error err;

	return tlsrpt_record_parse(text, strlen(text), r, &err);
}

static void test_record_ok(void **state)
{
	struct tlsrpt_record r;

	/* The RFC's examples. */
	assert_int_equal(parse("v=TLSRPTv1;rua=mailto:reports@example.com", &r),
			 0);
	assert_int_equal(r.nrua, 1);
	assert_string_equal(r.rua[0], "mailto:reports@example.com");
	assert_int_equal(
	    parse("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
		  &r),
	    0);
	assert_int_equal(r.nrua, 1);
	assert_string_equal(r.rua[0],
			    "https://reporting.example.com/v1/tlsrpt");
	/* Two URIs, white space, a trailing delimiter, an extension. */
	assert_int_equal(
	    parse("v=TLSRPTv1 ; ext-1.x=v!al ;rua=mailto:a@b.example"
		  " , https://c.example/r ; ",
		  &r),
	    0);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0], "mailto:a@b.example");
	assert_string_equal(r.rua[1], "https://c.example/r");
	/* A scheme we cannot use is skipped when another is left. */
	assert_int_equal(
	    parse("v=TLSRPTv1; rua=ftp://x.example/,mailto:a@b.example", &r),
	    0);
	assert_int_equal(r.nrua, 1);
	assert_string_equal(r.rua[0], "mailto:a@b.example");
}

static void test_record_bad(void **state)
{
	struct tlsrpt_record r;
	struct error err;

	assert_int_equal(parse("v=TLSRPTv1", &r), -1); /* no rua */
	assert_int_equal(parse("v=TLSRPTv1;", &r), -1);
	assert_int_equal(parse("v=tlsrptv1; rua=mailto:a@b", &r), -1);
	assert_int_equal(parse("v=TLSRPTv2; rua=mailto:a@b", &r), -1);
	assert_int_equal(parse(" v=TLSRPTv1; rua=mailto:a@b", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1 rua=mailto:a@b", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a@b,", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=ftp://x/", &r), -1);
	assert_int_equal(
	    parse("v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a b@c", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a@b; x", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a@b; -x=1", &r), -1);
	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:a@b; x=", &r), -1);
	/* A NUL inside the TXT data. */
	assert_int_equal(
	    tlsrpt_record_parse("v=TLSRPTv1; rua=mailto:a@b\0x", 28, &r, &err),
	    -1);
	assert_false(tlsrpt_record_is_tlsrpt("v=spf1 -all", 11));
	assert_false(tlsrpt_record_is_tlsrpt("v=TLSRPTv10", 11));
	assert_true(tlsrpt_record_is_tlsrpt("v=TLSRPTv1", 10));
	assert_true(tlsrpt_record_is_tlsrpt("v=TLSRPTv1;rua=x", 16));
}

static void test_mailto(void **state)
{
	char a[64];
	struct error err;

	assert_int_equal(
	    tlsrpt_mailto_address("mailto:tls@example.com", a, sizeof(a), &err),
	    0);
	assert_string_equal(a, "tls@example.com");
	assert_int_equal(
	    tlsrpt_mailto_address("MAILTO:tls%2Breports@example.com?subject=x",
				  a, sizeof(a), &err),
	    0);
	assert_string_equal(a, "tls+reports@example.com");
	assert_int_equal(
	    tlsrpt_mailto_address("mailto:a@b.example,c@d", a, sizeof(a), &err),
	    0);
	assert_string_equal(a, "a@b.example");
	assert_int_equal(
	    tlsrpt_mailto_address("https://x/", a, sizeof(a), &err), -1);
	assert_int_equal(
	    tlsrpt_mailto_address("mailto:nobody", a, sizeof(a), &err), -1);
	assert_int_equal(
	    tlsrpt_mailto_address("mailto:a@b@", a, sizeof(a), &err), -1);
	assert_int_equal(tlsrpt_mailto_address("mailto:@b", a, sizeof(a), &err),
			 -1);
	assert_int_equal(
	    tlsrpt_mailto_address("mailto:a%4", a, sizeof(a), &err), -1);
	assert_int_equal(
	    tlsrpt_mailto_address("mailto:a%0A@b", a, sizeof(a), &err), -1);
	assert_int_equal(tlsrpt_mailto_address("mailto:averyveryverylongname"
					       "@example.com",
					       a, 16, &err),
			 -1);
}

static void test_https_host(void **state)
{
	char h[32];
	unsigned port = 0;
	struct error err;

	assert_int_equal(tlsrpt_https_host("https://Reports.Example/tlsrpt", h,
					   sizeof(h), &port, &err),
			 0);
	assert_string_equal(h, "reports.example");
	assert_int_equal(port, 443);
	assert_int_equal(tlsrpt_https_host("HTTPS://r.example:8443", h,
					   sizeof(h), &port, &err),
			 0);
	assert_string_equal(h, "r.example");
	assert_int_equal(port, 8443);
	assert_int_equal(tlsrpt_https_host("https://[2001:db8::1]:444/x?y", h,
					   sizeof(h), &port, &err),
			 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(port, 444);
	assert_int_equal(
	    tlsrpt_https_host("https://192.0.2.1#f", h, sizeof(h), &port, &err),
	    0);
	assert_string_equal(h, "192.0.2.1");
	static const char *const bad[] = {
	    "http://r.example/",
	    "https://",
	    "https:///x",
	    "https://u@r.example/",
	    "https://r.example:/",
	    "https://r.example:0/",
	    "https://r.example:65536",
	    "https://r.example:1x",
	    "https://[2001:db8::1",
	    "https://[zz]/",
	    "mailto:a@b",
	    "https://r.example\\x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    tlsrpt_https_host(bad[i], h, sizeof(h), &port, &err), -1);
	/* Longer than the buffer. */
	assert_int_equal(tlsrpt_https_host("https://a-very-long-host-name-that-"
					   "does-not-fit.example/",
					   h, sizeof(h), &port, &err),
			 -1);
}

static void test_result_types(void **state)
{
	assert_true(tlsrpt_result_type_known("starttls-not-supported"));
	assert_true(tlsrpt_result_type_known("tlsa-invalid"));
	assert_true(tlsrpt_result_type_known("sts-webpki-invalid"));
	assert_false(tlsrpt_result_type_known("success"));
	assert_false(tlsrpt_result_type_known(""));
}

static void test_json(void **state)
{
	struct buf *b = buf_new();
	const struct tlsrpt_failure fails[] = {
	    {"certificate-expired", "2001:db8:abcd:0012::1",
	     "mx2.mail.company-y.example", "203.0.113.56", 100,
	     "mx2.company-y.example"},
	    {"starttls-not-supported", "", "", "", 3, NULL},
	};
	const struct tlsrpt_policy pols[] = {
	    {.type = "sts",
	     .policy_string = "version: STSv1\nmode: testing\n"
			      "mx: *.mail.company-y.example\nmax_age: 86400",
	     .domain = "company-y.example",
	     .mx_host = "*.mail.company-y.example",
	     .successes = 5326,
	     .failures = 103,
	     .details = fails,
	     .ndetails = 2},
	    {.type = "no-policy-found",
	     .policy_string = "",
	     .domain = "x.example",
	     .mx_host = "",
	     .successes = 1},
	};
	const struct tlsrpt_report r = {
	    .organization = "Company-X \"quoted\" \\ org",
	    .contact = "sts-reporting@company-x.example",
	    .report_id = "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
	    .start = 1459468800, /* 2016-04-01T00:00:00Z */
	    .end = 1459468800 + 86399,
	    .policies = pols,
	    .npolicies = 2,
	};

	tlsrpt_report_json(&r, b);
	assert_string_equal(
	    buf_data(b),
	    "{\"organization-name\":\"Company-X \\\"quoted\\\" \\\\ org\","
	    "\"date-range\":{\"start-datetime\":\"2016-04-01T00:00:00Z\","
	    "\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
	    "\"contact-info\":\"sts-reporting@company-x.example\","
	    "\"report-id\":\"5065427c-23d3-47ca-b6e0-946ea0e8c4be\","
	    "\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	    "\"policy-string\":[\"version: STSv1\",\"mode: testing\","
	    "\"mx: *.mail.company-y.example\",\"max_age: 86400\"],"
	    "\"policy-domain\":\"company-y.example\","
	    "\"mx-host\":\"*.mail.company-y.example\"},"
	    "\"summary\":{\"total-successful-session-count\":5326,"
	    "\"total-failure-session-count\":103},"
	    "\"failure-details\":[{\"result-type\":\"certificate-expired\","
	    "\"sending-mta-ip\":\"2001:db8:abcd:0012::1\","
	    "\"receiving-mx-hostname\":\"mx2.mail.company-y.example\","
	    "\"receiving-ip\":\"203.0.113.56\","
	    "\"receiving-mx-helo\":\"mx2.company-y.example\","
	    "\"failed-session-count\":100},"
	    "{\"result-type\":\"starttls-not-supported\","
	    "\"failed-session-count\":3}]},"
	    "{\"policy\":{\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"x.example\"},"
	    "\"summary\":{\"total-successful-session-count\":1,"
	    "\"total-failure-session-count\":0}}]}");
	buf_reset(b);
	tlsrpt_json_string(b, "a\x01\n\x7f\xc3\xa9");
	assert_string_equal(buf_data(b), "\"a\\u0001\\n\\u007f\xc3\xa9\"");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_ok),
	    cmocka_unit_test(test_record_bad),
	    cmocka_unit_test(test_mailto),
	    cmocka_unit_test(test_https_host),
	    cmocka_unit_test(test_result_types),
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
