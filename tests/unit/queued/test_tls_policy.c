/*
 * test_tls_policy - smtp_tls_policy_maps values, levels, match= names and
 * the lookup order (queued/tls_policy.c).
 */
#include "test.h"

#include <string.h>

#include "map/map.h"
#include "tls_policy.h"

static void test_levels(void **state)
{
	static const char *const words[] = {
	    "none", "may", "encrypt", "dane", "dane-only", "verify", "secure"};
	enum tls_level l;

	(void)state;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		assert_int_equal(tls_level_parse(words[i], &l), 0);
		assert_int_equal(l, (enum tls_level)i);
		assert_string_equal(tls_level_name(l), words[i]);
	}
	assert_int_equal(tls_level_parse("VERIFY", &l), 0);
	assert_int_equal(l, TLS_LEV_VERIFY);
	assert_int_equal(tls_level_parse("fingerprint", &l), -1);
	assert_int_equal(tls_level_parse("", &l), -1);
}

static void test_parse(void **state)
{
	struct tls_policy p;
	struct error err;

	(void)state;
	assert_int_equal(tls_policy_parse("encrypt", &p, &err), 0);
	assert_int_equal(p.level, TLS_LEV_ENCRYPT);
	assert_string_equal(p.match, "");
	assert_false(p.ignored_attrs);

	assert_int_equal(
	    tls_policy_parse("  verify   match=hostname:nexthop ", &p, &err),
	    0);
	assert_int_equal(p.level, TLS_LEV_VERIFY);
	assert_string_equal(p.match, "hostname:nexthop");

	assert_int_equal(tls_policy_parse("secure match=.example.com "
					  "protocols=!SSLv2",
					  &p, &err),
			 0);
	assert_int_equal(p.level, TLS_LEV_SECURE);
	assert_string_equal(p.match, ".example.com");
	assert_true(p.ignored_attrs);

	assert_int_equal(tls_policy_parse("", &p, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(tls_policy_parse("maybe", &p, &err), -1);
	assert_non_null(strstr(err.msg, "maybe"));
	assert_int_equal(tls_policy_parse("verify match=", &p, &err), -1);
	assert_int_equal(tls_policy_parse("verify hostname", &p, &err), -1);
	assert_int_equal(tls_policy_parse("verify =x", &p, &err), -1);
}

static void test_names(void **state)
{
	char names[4][256];
	size_t n;

	(void)state;
	n = tls_policy_names("hostname", "MX1.Example.NET", "example.com",
			     names, 4);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "mx1.example.net");

	n = tls_policy_names("nexthop, dot-nexthop", "mx1.example.net",
			     "example.com", names, 4);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "example.com");
	assert_string_equal(names[1], ".example.com");

	n = tls_policy_names("hostname:mail.example.org:nexthop", NULL,
			     "example.com", names, 4);
	assert_int_equal(n, 2); /* no host name: "hostname" gives nothing */
	assert_string_equal(names[0], "mail.example.org");
	assert_string_equal(names[1], "example.com");

	n = tls_policy_names("a b c d e f", "h", "n", names, 4);
	assert_int_equal(n, 4);
}

static void test_lookup(void **state)
{
	static const char table[] =
	    "[relay.example]:587 secure match=relay.example\n"
	    "example.com verify\n"
	    ".example.org encrypt\n"
	    "broken.example maybe\n";
	struct map *m;
	struct tls_policy p;
	struct error err;

	(void)state;
	m = map_open_text("texthash", "policy", table, sizeof(table) - 1, NULL,
			  &err);
	assert_non_null(m);
	assert_int_equal(tls_policy_lookup(m, "[relay.example]:587", &p, &err),
			 1);
	assert_int_equal(p.level, TLS_LEV_SECURE);
	assert_string_equal(p.match, "relay.example");
	/* A bracketed next hop is looked up only as written. */
	assert_int_equal(tls_policy_lookup(m, "[relay.example]:25", &p, &err),
			 0);
	assert_int_equal(tls_policy_lookup(m, "[example.com]", &p, &err), 0);
	/* Domains: as written, without :port, then .parent forms. */
	assert_int_equal(tls_policy_lookup(m, "example.com", &p, &err), 1);
	assert_int_equal(p.level, TLS_LEV_VERIFY);
	assert_int_equal(tls_policy_lookup(m, "Example.COM:26", &p, &err), 1);
	assert_int_equal(p.level, TLS_LEV_VERIFY);
	assert_int_equal(tls_policy_lookup(m, "sub.example.com", &p, &err), 0);
	assert_int_equal(tls_policy_lookup(m, "a.b.example.org", &p, &err), 1);
	assert_int_equal(p.level, TLS_LEV_ENCRYPT);
	assert_int_equal(tls_policy_lookup(m, "example.org", &p, &err), 0);
	/* A bad value is a config error naming the map and key. */
	assert_int_equal(tls_policy_lookup(m, "broken.example", &p, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "broken.example"));
	map_free(&m);

	/* A failing map is a temporary failure, never "not found". */
	m = map_open("fail:x", NULL, &err);
	assert_non_null(m);
	assert_int_equal(tls_policy_lookup(m, "example.com", &p, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
