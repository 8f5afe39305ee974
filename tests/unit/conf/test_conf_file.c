/*
 * test_conf_file - conf_file_set(): postconf -e style editing of main.cf.
 */
#include "test.h"

#include <sys/stat.h>

#include "conf/conf.h"
#include "conf_test.h"

static char *main_cf(void)
{
	return xasprintf("%s/main.cf", scratch);
}

/* main.cf must now hold exactly WANT. */
static void assert_file(const char *want)
{
	char *path = main_cf();
	char *got = read_text(path);
	assert_string_equal(got, want);
	free(got);
	free(path);
}

static void test_create(void **state)
{
	struct error err;
	char *path = main_cf();
	assert_int_equal(conf_file_set(scratch, "smtp_port", "2600", &err), 0);
	assert_file("smtp_port = 2600\n");

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	struct conf *c = conf_load(scratch, &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 2600);
	assert_true(conf_is_set(c, "smtp_port"));
	assert_false(conf_is_set(c, "imap_port"));
	conf_free(&c);
	free(path);
}

static void test_replace_in_place(void **state)
{
	struct error err;
	char *path = main_cf();
	write_file(path, "# Postern settings\n"
			 "mynetworks = 10.0.0.0/8,\n"
			 "    192.168.0.0/16\n"
			 "# keep me\n"
			 "\t172.16.0.0/12\n"
			 "smtp_port = 25 \n"
			 "\n"
			 "# the end\n"
			 "mynetworks = 127.0.0.1\n"
			 "  ::1\n"
			 "imap_port = 143");
	assert_int_equal(
	    conf_file_set(scratch, "mynetworks", "127.0.0.0/8", &err), 0);
	/* Replaced where it stood, continuation lines gone, the later
	 * duplicate (which would have won) removed, comments kept, and the
	 * missing final newline added. */
	assert_file("# Postern settings\n"
		    "mynetworks = 127.0.0.0/8\n"
		    "# keep me\n"
		    "smtp_port = 25 \n"
		    "\n"
		    "# the end\n"
		    "imap_port = 143\n");
	free(path);
}

static void test_many(void **state)
{
	struct error err;
	char *path = main_cf();
	write_file(path, "smtp_port = 25\n# c\n");
	const char *set[] = {"imap_port=1143", "smtp_port = 2525",
			     "myhostname=mx.example.com", "imap_port=2143",
			     "tls_ciphers="};
	assert_int_equal(conf_file_set_many(scratch, set, 5, &err), 0);
	/* The last imap_port wins; new names are appended in order. */
	assert_file("smtp_port = 2525\n"
		    "# c\n"
		    "imap_port = 2143\n"
		    "myhostname = mx.example.com\n"
		    "tls_ciphers =\n");

	struct conf *c = conf_load(scratch, &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "imap_port"), 2143);
	assert_string_equal(conf_str(c, "tls_ciphers"), "");
	assert_true(conf_is_set(c, "tls_ciphers"));
	conf_free(&c);
	free(path);
}

static void test_round_trip_raw(void **state)
{
	struct error err;
	assert_int_equal(
	    conf_file_set(scratch, "smtpd_banner", "$myhostname.$$x", &err), 0);
	assert_int_equal(conf_file_set(scratch, "myhostname", "h", &err), 0);
	struct conf *c = conf_load(scratch, &err);
	assert_non_null(c);
	assert_string_equal(conf_raw(c, "smtpd_banner"), "$myhostname.$$x");
	assert_string_equal(conf_str(c, "smtpd_banner"), "h.$x");
	assert_string_equal(conf_raw(c, "myhostname"), "h");
	conf_free(&c);
	assert_file("smtpd_banner = $myhostname.$$x\nmyhostname = h\n");
}

/* Every refused edit must leave main.cf exactly as it was. */
static void assert_refused(const char *nv, const char *want)
{
	struct error err;
	const char *set[] = {"imap_port=9", nv};
	assert_int_equal(conf_file_set_many(scratch, set, 2, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_contains(err.msg, want);
	assert_file("# keep\nsmtp_port = 25\nmyhostname = a\n");
}

static void test_refused(void **state)
{
	char *path = main_cf();
	write_file(path, "# keep\nsmtp_port = 25\nmyhostname = a\n");
	assert_refused("smtp_port=abc", ":2: smtp_port: \"abc\" is not a");
	assert_refused("restart_backoff_max=10x", "restart_backoff_max: bad time unit");
	assert_refused("password_upgrade=maybe", "is not yes or no");
	assert_refused("no_such_param=1", "unknown parameter no_such_param");
	assert_refused("config_directory=/x", "config_directory is set by -c");
	assert_refused("myhostname=a\nsmtp_port=1", "must be one line");
	assert_refused("smtpd_banner", "expected NAME=VALUE");
	assert_refused("smtpd_banner=$smtpd_banner", "expansion loop");
	assert_refused("smtpd_banner=${x", "bad $ reference");
	free(path);
}

static void test_missing_folder(void **state)
{
	struct error err;
	char *dir = xasprintf("%s/nope", scratch);
	assert_int_equal(conf_file_set(dir, "smtp_port", "1", &err), -1);
	assert_int_not_equal(err.kind, ERR_NONE);
	free(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create),  T(test_replace_in_place),
	    T(test_many),    T(test_round_trip_raw),
	    T(test_refused), T(test_missing_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
