/*
 * test_map_cidr.c - cidr_table(5): v4 and v6 boundaries, first match,
 * negation, if/endif, and file:line errors.
 */
#include "test.h"

#include "conf/conf.h"
#include "map_test_util.h"

static const char table[] = "# Postfix cidr_table(5) syntax\n"
			    "192.168.1.1          exact\n"
			    "192.168.0.0/16       sixteen\n"
			    "10.0.0.0/8           REJECT private\n"
			    "172.16.0.0/12        twelve\n"
			    "[2001:db8::]/32      v6doc\n"
			    "::1                  v6loop\n"
			    "2001:db9:ab00::/40   forty\n"
			    "fe80::/10            linklocal\n"
			    "0.0.0.0/0            anyv4\n";

static void test_v4(void **state)
{
	struct error err;
	struct map *m = test_text("cidr", table, &err);

	assert_non_null(m);
	assert_string_equal(test_get(m, "192.168.1.1"), "exact");
	assert_string_equal(test_get(m, "192.168.1.2"), "sixteen");
	assert_string_equal(test_get(m, "192.168.255.255"), "sixteen");
	assert_string_equal(test_get(m, "192.169.0.0"), "anyv4");
	assert_string_equal(test_get(m, "10.255.255.255"), "REJECT private");
	assert_string_equal(test_get(m, "11.0.0.0"), "anyv4");
	/* /12 boundary: 172.16.0.0 - 172.31.255.255. */
	assert_string_equal(test_get(m, "172.16.0.0"), "twelve");
	assert_string_equal(test_get(m, "172.31.255.255"), "twelve");
	assert_string_equal(test_get(m, "172.32.0.0"), "anyv4");
	assert_string_equal(test_get(m, "172.15.255.255"), "anyv4");
	/* Not addresses: not found, no error. */
	assert_string_equal(test_get(m, "example.test"), "<none>");
	assert_string_equal(test_get(m, "192.168.1"), "<none>");
	assert_string_equal(test_get(m, ""), "<none>");
	map_free(&m);
}

static void test_v6(void **state)
{
	struct error err;
	struct map *m = test_text("cidr", table, &err);

	assert_non_null(m);
	assert_string_equal(test_get(m, "2001:db8::1"), "v6doc");
	assert_string_equal(test_get(m, "2001:DB8:FFFF:ffff::"), "v6doc");
	assert_string_equal(test_get(m, "2001:db9::1"), "<none>");
	assert_string_equal(test_get(m, "::1"), "v6loop");
	assert_string_equal(test_get(m, "::2"), "<none>");
	/* /40 boundary inside a byte-aligned prefix. */
	assert_string_equal(test_get(m, "2001:db9:ab00::"), "forty");
	assert_string_equal(test_get(m, "2001:db9:abff:ffff::"), "forty");
	assert_string_equal(test_get(m, "2001:db9:ac00::"), "<none>");
	/* /10 boundary inside a byte: fe80 - febf. */
	assert_string_equal(test_get(m, "febf::1"), "linklocal");
	assert_string_equal(test_get(m, "fec0::1"), "<none>");
	/* 0.0.0.0/0 does not match IPv6. */
	assert_string_equal(test_get(m, "3000::"), "<none>");
	map_free(&m);
}

static void test_negation_and_if(void **state)
{
	struct error err;
	struct map *m = test_text("cidr",
				  "if 10.0.0.0/8\n"
				  "if !10.1.0.0/16\n"
				  "10.2.0.0/16 inner\n"
				  "endif\n"
				  "10.0.0.0/8 ten\n"
				  "endif\n"
				  "!192.0.2.0/24 outside\n",
				  &err);

	assert_non_null(m);
	assert_string_equal(test_get(m, "10.2.3.4"), "inner");
	assert_string_equal(test_get(m, "10.1.3.4"), "ten");
	assert_string_equal(test_get(m, "10.3.0.1"), "ten");
	assert_string_equal(test_get(m, "192.0.2.7"), "<none>");
	assert_string_equal(test_get(m, "198.51.100.1"), "outside");
	assert_string_equal(test_get(m, "::1"), "outside");
	map_free(&m);
}

static void expect_error(const char *text, const char *want)
{
	struct error err;
	struct map *m = test_text("cidr", text, &err);

	if (m != NULL)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.kind, ERR_CONFIG);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_errors(void **state)
{
	expect_error("1.2.3.4 a\n\n1.2.3.0/33 b\n",
		     "t.map:3: bad network prefix");
	expect_error("::/129 b\n", "t.map:1: bad network prefix");
	expect_error("1.2.3.0/x b\n", "t.map:1: bad network prefix");
	expect_error("# c\n1.2.3.4/24 b\n",
		     "t.map:2: non-null host address bits in \"1.2.3.4/24\", "
		     "perhaps you should use \"1.2.3.0/24\" instead");
	expect_error("2001:db8::1/32 v\n", "\"2001:db8::/32\" instead");
	expect_error("1.2.3.4\n", "t.map:1: no lookup result");
	expect_error("example.test ok\n", "t.map:1: bad address pattern");
	expect_error("endif\n", "t.map:1: endif without matching if");
	expect_error("1.1.1.1 a\nif 10.0.0.0/8\n1.1.1.2 b\n",
		     "t.map:2: if without matching endif");
	expect_error("if 10.0.0.0/8 extra\nendif\n", "t.map:1: text after if");
	expect_error("if\n", "t.map:1: no address pattern after if");
}

static void test_file(void **state)
{
	char *dir = test_tmpdir();
	char *path = test_write(dir, "clients.cidr", "127.0.0.0/8 OK\n");
	char *spec = xasprintf("cidr:%s", path);
	struct error err;
	struct map *m = map_open(spec, NULL, &err);

	assert_non_null(m);
	assert_string_equal(test_get(m, "127.0.0.2"), "OK");
	map_free(&m);
	free(spec);
	free(path);
	path = test_write(dir, "bad.cidr", "127.0.0.0/8 OK\n300.1.1.1 x\n");
	spec = xasprintf("cidr:%s", path);
	assert_null(map_open(spec, NULL, &err));
	char *want =
	    xasprintf("%s:2: bad address pattern: \"300.1.1.1\"", path);
	assert_string_equal(err.msg, want);
	free(want);
	free(spec);
	free(path);
	test_rmdir(dir);
}

/* $mynetworks as the table smtpd and postscreen consult. */
static void test_mynetworks(void **state)
{
	struct error err;
	struct conf *conf = conf_load_string(
	    "/tmp", "main.cf", "mynetworks = 127.0.0.0/8, [::1]/128\n", &err);
	struct map *m;

	(void)state;
	assert_non_null(conf);
	m = map_mynetworks_open(conf, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, "127.1.2.3"), "OK");
	assert_string_equal(test_get(m, "::1"), "OK");
	assert_string_equal(test_get(m, "10.0.0.1"), "<none>");
	map_free(&m);
	conf_free(&conf);
	conf = conf_load_string("/tmp", "main.cf",
				"mynetworks = 127.0.0.0/8 300.1.1.1\n", &err);
	assert_non_null(conf);
	assert_null(map_mynetworks_open(conf, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "mynetworks"));
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mynetworks),
	    cmocka_unit_test(test_v4),
	    cmocka_unit_test(test_v6),
	    cmocka_unit_test(test_negation_and_if),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
