/*
 * test_dns_name - PTR and DNSBL query names, type names, the outcome of
 * each answer status, and MX lists (order, implicit MX, null MX) built
 * from hand-made results.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "dns/dns.h"
#include "dns/dns_rdata.h"

static void test_reverse_name(void **state)
{
	char out[DNS_NAME_TEXT_MAX];
	struct error err;

	assert_int_equal(dns_reverse_name("192.0.2.1", out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "1.2.0.192.in-addr.arpa");
	assert_int_equal(dns_reverse_name("2001:db8::567:89ab", out,
					  sizeof(out), &err),
			 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0."
				 "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	/* IPv4-mapped IPv6 stays IPv6 (the caller decides to unmap). */
	assert_int_equal(dns_reverse_name("::ffff:1.2.3.4", out, sizeof(out),
					  &err),
			 0);
	assert_true(strstr(out, "ip6.arpa") != NULL);
	assert_int_equal(dns_reverse_name("1.2.3", out, sizeof(out), &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(dns_reverse_name("", out, sizeof(out), &err), -1);
	assert_int_equal(dns_reverse_name("1.2.3.4 ", out, sizeof(out), &err),
			 -1);
	/* Too small a buffer fails cleanly. */
	assert_int_equal(dns_reverse_name("192.0.2.1", out, 10, &err), -1);
}

static void test_dnsbl_name(void **state)
{
	char out[DNS_NAME_TEXT_MAX];
	struct error err;

	assert_int_equal(dns_dnsbl_name("127.0.0.2", "zen.example", out,
					sizeof(out), &err),
			 0);
	assert_string_equal(out, "2.0.0.127.zen.example");
	assert_int_equal(dns_dnsbl_name("127.0.0.2", "zen.example.", out,
					sizeof(out), &err),
			 0);
	assert_string_equal(out, "2.0.0.127.zen.example");
	/* RFC 5782 2.4: IPv6 as 32 nibbles. */
	assert_int_equal(dns_dnsbl_name("2001:db8::1", "bl.example", out,
					sizeof(out), &err),
			 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				 "0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	assert_int_equal(dns_dnsbl_name("127.0.0.2", "", out, sizeof(out),
					&err),
			 -1);
	assert_int_equal(dns_dnsbl_name("127.0.0.2", ".x", out, sizeof(out),
					&err),
			 -1);
	assert_int_equal(dns_dnsbl_name("nonsense", "bl.example", out,
					sizeof(out), &err),
			 -1);
	/* A zone that makes the name longer than 253 is refused. */
	char zone[260];
	memset(zone, 'a', sizeof(zone) - 1);
	zone[sizeof(zone) - 1] = '\0';
	assert_int_equal(dns_dnsbl_name("127.0.0.2", zone, out, sizeof(out),
					&err),
			 -1);
}

static void test_type_names(void **state)
{
	char buf[16];

	assert_string_equal(dns_type_name(DNS_T_TLSA, buf), "TLSA");
	assert_string_equal(dns_type_name(999, buf), "TYPE999");
	assert_int_equal(dns_type_from_name("mx"), DNS_T_MX);
	assert_int_equal(dns_type_from_name("TYPE52"), DNS_T_TLSA);
	assert_int_equal(dns_type_from_name("TYPE0"), 0);
	assert_int_equal(dns_type_from_name("TYPE65536"), 0);
	assert_int_equal(dns_type_from_name("nope"), 0);
}

/* A result as the resolver would build it, with MX records. */
static struct dns_result *mx_result(enum dns_status status,
				    const char *const *mx, size_t n)
{
	struct dns_result *r = xcalloc(1, sizeof(*r));

	r->qname = xstrdup("example.org");
	r->canonname = xstrdup("example.org");
	r->qtype = DNS_T_MX;
	r->status = status;
	r->rcode = status == DNS_NXDOMAIN ? 3 : 0;
	r->rrs = xcalloc(n + 1, sizeof(*r->rrs));
	for (size_t i = 0; i < n; i++) {
		uint8_t wire[300];
		size_t len;
		const char *sp = strchr(mx[i], ' ');
		int pref = atoi(mx[i]);
		wire[0] = (uint8_t)(pref >> 8);
		wire[1] = (uint8_t)pref;
		assert_int_equal(dns_name_to_wire(sp + 1, wire + 2,
						  sizeof(wire) - 2, &len),
				 0);
		assert_int_equal(dns_rdata_parse(DNS_T_MX, wire, len + 2,
						 &r->rrs[i], NULL),
				 0);
		r->count++;
	}
	return r;
}

static void test_mx_order(void **state)
{
	static const char *const mx[] = {"20 b.example", "10 a1.example",
					 "30 c.example", "10 a2.example"};
	struct dns_result *r = mx_result(DNS_NOERROR, mx, 4);
	struct dns_mx_list *l;
	struct error err;

	assert_int_equal(dns_mx_from_result(r, "example.org.", &l, &err), 1);
	assert_int_equal(l->count, 4);
	assert_string_equal(l->domain, "example.org");
	/* By preference; equal ones keep answer order (stable). */
	assert_string_equal(l->hosts[0].host, "a1.example");
	assert_string_equal(l->hosts[1].host, "a2.example");
	assert_string_equal(l->hosts[2].host, "b.example");
	assert_string_equal(l->hosts[3].host, "c.example");
	assert_false(l->implicit);
	assert_false(l->null_mx);
	dns_mx_list_free(&l);
	dns_result_free(&r);
}

static void test_mx_null_and_implicit(void **state)
{
	static const char *const null_mx[] = {"0 ."};
	static const char *const mixed[] = {"0 .", "10 mx.example"};
	struct dns_result *r;
	struct dns_mx_list *l;
	struct error err;

	r = mx_result(DNS_NOERROR, null_mx, 1);
	assert_int_equal(dns_mx_from_result(r, "example.org", &l, &err), 0);
	assert_true(l->null_mx);
	assert_int_equal(l->count, 0);
	assert_int_equal(err.kind, ERR_PERM);
	dns_mx_list_free(&l);
	dns_result_free(&r);

	/* A null MX beside real ones is ignored. */
	r = mx_result(DNS_NOERROR, mixed, 2);
	assert_int_equal(dns_mx_from_result(r, "example.org", &l, &err), 1);
	assert_false(l->null_mx);
	assert_int_equal(l->count, 1);
	assert_string_equal(l->hosts[0].host, "mx.example");
	dns_mx_list_free(&l);
	dns_result_free(&r);

	/* No MX: the domain itself (RFC 5321 5.1). */
	r = mx_result(DNS_NODATA, NULL, 0);
	assert_int_equal(dns_mx_from_result(r, "example.org", &l, &err), 1);
	assert_true(l->implicit);
	assert_int_equal(l->count, 1);
	assert_string_equal(l->hosts[0].host, "example.org");
	dns_mx_list_free(&l);
	dns_result_free(&r);

	r = mx_result(DNS_NXDOMAIN, NULL, 0);
	assert_int_equal(dns_mx_from_result(r, "example.org", &l, &err), 0);
	assert_false(l->implicit);
	assert_int_equal(err.kind, ERR_PERM);
	dns_mx_list_free(&l);
	dns_result_free(&r);
}

static void test_outcomes(void **state)
{
	static const char *const one[] = {"10 mx.example"};
	static const struct {
		enum dns_status status;
		int ret, raw_ret;
		enum err_kind kind;
	} cases[] = {
		{DNS_NOERROR, 1, 1, ERR_NONE},
		{DNS_NODATA, 0, 0, ERR_PERM},
		{DNS_NXDOMAIN, 0, 0, ERR_PERM},
		{DNS_SERVFAIL, -1, -1, ERR_TEMP},
		{DNS_TIMEOUT, -1, -1, ERR_TEMP},
		{DNS_BOGUS, -1, 1, ERR_TEMP},
		{DNS_BADNAME, -1, -1, ERR_PERM},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool data = cases[i].status == DNS_NOERROR ||
			    cases[i].status == DNS_BOGUS;
		struct dns_result *r =
		    mx_result(cases[i].status, one, data ? 1 : 0);
		struct dns_mx_list *l;
		struct error err;

		error_clear(&err);
		assert_int_equal(dns_result_outcome(r, 0, &err), cases[i].ret);
		assert_int_equal(err.kind, cases[i].kind);
		assert_int_equal(dns_result_outcome(r, DNS_RAW, &err),
				 cases[i].raw_ret);
		/* The MX list agrees, and a bogus MX never gives hosts. */
		int mret = dns_mx_from_result(r, "example.org", &l, &err);
		if (cases[i].status == DNS_NODATA)
			assert_int_equal(mret, 1); /* implicit */
		else
			assert_int_equal(mret, cases[i].ret);
		dns_mx_list_free(&l);
		dns_result_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test(test_dnsbl_name),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_mx_null_and_implicit),
		cmocka_unit_test(test_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
