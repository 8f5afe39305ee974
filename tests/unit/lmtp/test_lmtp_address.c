/*
 * test_lmtp_address - recipient lookup keys, map answers and settings
 * of postern-lmtpd (lib/lmtp: lmtp_address.h, lmtp_settings.h).
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lmtp/lmtp_address.h"
#include "lmtp/lmtp_settings.h"

static void free_keys(char *keys[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
}

static void test_keys_plus(void **state)
{
	char *keys[2];
	(void)state;
	size_t n = lmtp_address_keys("user+tag", "ex.test", "+", keys);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], "user+tag@ex.test");
	assert_string_equal(keys[1], "user@ex.test");
	free_keys(keys, n);
}

static void test_keys_lowercase_first_delimiter(void **state)
{
	char *keys[2];
	(void)state;
	/* The split is at the first delimiter of the set. */
	size_t n = lmtp_address_keys("Bob-x+y", "ex.test", "+-", keys);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], "bob-x+y@ex.test");
	assert_string_equal(keys[1], "bob@ex.test");
	free_keys(keys, n);
}

static void test_keys_no_split(void **state)
{
	char *keys[2];
	(void)state;
	size_t n = lmtp_address_keys("user", "ex.test", "+", keys);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "user@ex.test");
	free_keys(keys, n);
	n = lmtp_address_keys("user+tag", "ex.test", "", keys);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "user+tag@ex.test");
	free_keys(keys, n);
	/* An empty user is never split off ("+tag"). */
	n = lmtp_address_keys("+tag", "ex.test", "+", keys);
	assert_int_equal(n, 1);
	free_keys(keys, n);
}

static void test_mailbox_parse(void **state)
{
	char *d, *l;
	(void)state;
	assert_true(lmtp_mailbox_parse("ex.test/bob/", &d, &l));
	assert_string_equal(d, "ex.test");
	assert_string_equal(l, "bob");
	free(d);
	free(l);
	static const char *const bad[] = {
	    "ex.test/bob",  "ex.test/../",   "../bob/",
	    "ex.test/a/b/", "/bob/",	     "ex.test//",
	    "EX.test/bob/", "ex.test/.hid/", "",
	    "bob",	    "ex.test/Bob/",  "/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = l = (char *)"x";
		assert_false(lmtp_mailbox_parse(bad[i], &d, &l));
		assert_null(d);
		assert_null(l);
	}
}

static void test_settings(void **state)
{
	struct error err;
	struct lmtp_server_settings set;
	(void)state;
	struct conf *conf = conf_load_string(
	    "/tmp", "test",
	    "myhostname = mx.ex.test\nmessage_size_limit = 1000\n"
	    "smtpd_forbid_bare_newline = reject\n"
	    "quota_exceeded_permanent = yes\nlmtpd_timeout = 2m\n",
	    &err);
	assert_non_null(conf);
	assert_int_equal(lmtp_server_settings_load(&set, conf, &err), 0);
	assert_string_equal(set.hostname, "mx.ex.test");
	assert_int_equal(set.message_size_limit, 1000);
	assert_int_equal(set.bare_mode, SMTP_BARE_REJECT);
	assert_int_equal(set.timeout_ms, 120000);
	assert_string_equal(set.recipient_delimiter, "+");
	lmtp_server_settings_clear(&set);
	conf_free(&conf);

	conf = conf_load_string("/tmp", "test",
				"smtpd_forbid_bare_newline = maybe\n", &err);
	assert_non_null(conf);
	assert_int_equal(lmtp_server_settings_load(&set, conf, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "maybe"));
	conf_free(&conf);

	/* lmtpd_tls_security_level: may by default, a bad word refused. */
	conf = conf_load_string("/tmp", "test", "", &err);
	assert_non_null(conf);
	assert_int_equal(lmtp_server_settings_load(&set, conf, &err), 0);
	assert_int_equal(set.tls_level, LMTP_TLS_MAY);
	lmtp_server_settings_clear(&set);
	conf_free(&conf);
	conf = conf_load_string("/tmp", "test",
				"lmtpd_tls_security_level = encrypt\n", &err);
	assert_int_equal(lmtp_server_settings_load(&set, conf, &err), 0);
	assert_int_equal(set.tls_level, LMTP_TLS_ENCRYPT);
	lmtp_server_settings_clear(&set);
	conf_free(&conf);
	conf = conf_load_string("/tmp", "test",
				"lmtpd_tls_security_level = verify\n", &err);
	assert_int_equal(lmtp_server_settings_load(&set, conf, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_plus),
	    cmocka_unit_test(test_keys_lowercase_first_delimiter),
	    cmocka_unit_test(test_keys_no_split),
	    cmocka_unit_test(test_mailbox_parse),
	    cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
