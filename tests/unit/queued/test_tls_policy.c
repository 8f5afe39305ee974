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
					  "protocols=!SSLv2 tafile=/x.pem",
					  &p, &err),
			 0);
	assert_int_equal(p.level, TLS_LEV_SECURE);
	assert_string_equal(p.match, ".example.com");
	assert_int_equal(p.min_version, TLS_POLICY_TLS12);
	assert_int_equal(p.max_version, TLS_POLICY_TLS13);
	assert_true(p.ignored_attrs); /* tafile= */

	assert_int_equal(tls_policy_parse("encrypt protocols=>=TLSv1.3 "
					  "CIPHERS=High exclude=AES256:CAMELLIA",
					  &p, &err),
			 0);
	assert_false(p.ignored_attrs);
	assert_int_equal(p.min_version, TLS_POLICY_TLS13);
	assert_int_equal(p.max_version, TLS_POLICY_TLS13);
	assert_string_equal(p.ciphers, "high");
	assert_string_equal(p.exclude, "AES256:CAMELLIA");

	/* Bad values are config errors naming the value. */
	assert_int_equal(tls_policy_parse("encrypt protocols=TLSv1.4", &p,
					  &err),
			 -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "TLSv1.4"));
	assert_int_equal(tls_policy_parse("encrypt ciphers=strong", &p, &err),
			 -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "strong"));
	assert_int_equal(tls_policy_parse("encrypt exclude=!RC4", &p, &err),
			 -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(tls_policy_parse("encrypt protocols=TLSv1", &p, &err),
			 -1);

	assert_int_equal(tls_policy_parse("", &p, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(tls_policy_parse("maybe", &p, &err), -1);
	assert_non_null(strstr(err.msg, "maybe"));
	assert_int_equal(tls_policy_parse("verify match=", &p, &err), -1);
	assert_int_equal(tls_policy_parse("verify hostname", &p, &err), -1);
	assert_int_equal(tls_policy_parse("verify =x", &p, &err), -1);
}

static void check_protocols(const char *value, int rc, int min, int max)
{
	struct error err;
	int lo = -1, hi = -1;

	assert_int_equal(tls_protocols_parse(value, &lo, &hi, &err), rc);
	if (rc < 0) {
		assert_int_equal(err.kind, ERR_CONFIG);
		return;
	}
	assert_int_equal(lo, min);
	assert_int_equal(hi, max);
}

static void test_protocols(void **state)
{
	const int v12 = TLS_POLICY_TLS12, v13 = TLS_POLICY_TLS13;

	(void)state;
	check_protocols("", 0, 0, 0);
	check_protocols(" , ", 0, 0, 0);
	check_protocols(">=TLSv1.2", 0, v12, v13);
	check_protocols(">=TLSv1", 0, v12, v13); /* the floor stays */
	check_protocols(">=tlsv1.3", 0, v13, v13);
	check_protocols("<=TLSv1.2", 0, v12, v12);
	check_protocols("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", 0, v12, v13);
	check_protocols("!SSLv2, !SSLv3 !TLSv1.2", 0, v13, v13);
	check_protocols("!TLSv1.3", 0, v12, v12);
	check_protocols("TLSv1.2:TLSv1.3", 0, v12, v13);
	check_protocols("TLSv1.1:TLSv1.2", 0, v12, v12);
	check_protocols("TLSv1.3", 0, v13, v13);
	check_protocols(">=TLSv1.2 <=TLSv1.3", 0, v12, v13);
	/* Nothing left that Postern speaks. */
	check_protocols("TLSv1:TLSv1.1", -1, 0, 0);
	check_protocols("!TLSv1.2:!TLSv1.3", -1, 0, 0);
	check_protocols(">=TLSv1.3 <=TLSv1.2", -1, 0, 0);
	check_protocols("<=TLSv1.1", -1, 0, 0);
	/* Unknown words. */
	check_protocols("TLSv1.4", -1, 0, 0);
	check_protocols(">TLSv1.2", -1, 0, 0);
	check_protocols("=>TLSv1.2", -1, 0, 0);
	check_protocols(">=", -1, 0, 0);
	check_protocols("!", -1, 0, 0);
	check_protocols("tls1.2", -1, 0, 0);
}

static void test_ciphers(void **state)
{
	char out[256];
	struct error err;

	(void)state;
	assert_string_equal(tls_cipher_grade_list("high"),
			    "aNULL:-aNULL:HIGH:@STRENGTH");
	assert_string_equal(tls_cipher_grade_list("MEDIUM"),
			    "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH");
	assert_non_null(strstr(tls_cipher_grade_list("low"), ":LOW:"));
	assert_non_null(strstr(tls_cipher_grade_list("export"), ":EXPORT:"));
	assert_string_equal(tls_cipher_grade_list("null"), "eNULL:!aNULL");
	assert_null(tls_cipher_grade_list("strong"));
	assert_null(tls_cipher_grade_list(""));

	assert_int_equal(tls_cipherlist_build("HIGH", "AES256, CAMELLIA:3DES",
					      true, out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "HIGH:!AES256:!CAMELLIA:!3DES:!aNULL");
	assert_int_equal(
	    tls_cipherlist_build(NULL, "", false, out, sizeof(out), &err), 0);
	assert_string_equal(out, "DEFAULT");
	assert_int_equal(tls_cipherlist_build("", "ECDHE-ECDSA-AES128-SHA",
					      false, out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "DEFAULT:!ECDHE-ECDSA-AES128-SHA");
	/* Operators are not exclusions (Postfix refuses them too). */
	assert_int_equal(tls_cipherlist_build("HIGH", "!RC4", false, out,
					      sizeof(out), &err),
			 -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(tls_cipherlist_build("HIGH", "-RC4", false, out,
					      sizeof(out), &err),
			 -1);
	assert_int_equal(tls_cipherlist_build("HIGH", "@STRENGTH", false, out,
					      sizeof(out), &err),
			 -1);
	assert_int_equal(
	    tls_cipherlist_build("HIGH", "RC4", false, out, 8, &err), -1);
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
	    cmocka_unit_test(test_protocols),
	    cmocka_unit_test(test_ciphers),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
