/*
 * test_conf - the main.cf parser: syntax, continuation, comments,
 * expansion, per-type validation, overrides and the parameter table.
 */
#include "test.h"

#include "conf/conf.h"
#include "conf_test.h"

/* Load TEXT as main.cf of the scratch folder, origin "t". */
static struct conf *load(const char *text, struct error *err)
{
	return conf_load_string(scratch, "t", text, err);
}

/* TEXT must fail to load with a message containing WANT. */
static void assert_load_fails(const char *text, const char *want)
{
	struct error err;
	struct conf *c = load(text, &err);
	if (c != NULL)
		fail_msg("loaded, expected an error with \"%s\"", want);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_contains(err.msg, want);
}

static void test_defaults(void **state)
{
	struct error err;
	struct conf *c = load("", &err);
	assert_non_null(c);
	char *queue = xasprintf("%s/queue", scratch);
	char *logf = xasprintf("%s/log/postern.log", scratch);

	assert_string_equal(conf_str(c, "config_directory"), scratch);
	assert_string_equal(conf_str(c, "queue_directory"), queue);
	/* A default that expands another default that expands a third. */
	assert_string_equal(conf_str(c, "log_file"), logf);
	assert_string_equal(conf_raw(c, "queue_directory"),
			    "$config_directory/queue");
	assert_int_equal(conf_int(c, "smtp_port"), 2525);
	assert_true(conf_bool(c, "password_upgrade"));
	assert_int_equal(conf_time(c, "tls_handshake_timeout"), 30);
	assert_int_equal(conf_time(c, "restart_backoff_max"), 60);
	assert_false(conf_is_set(c, "smtp_port"));
	assert_false(conf_is_set(c, "config_directory"));
	assert_string_equal(conf_str(c, "tls_ciphers"), "");
	assert_log_empty();
	free(queue);
	free(logf);
	conf_free(&c);
	assert_null(c);
}

static void test_config_directory_absolute(void **state)
{
	struct error err;
	char cwd[1024];
	assert_non_null(getcwd(cwd, sizeof(cwd)));

	struct conf *c = conf_load_string("./no/such/dir/", "t", "", &err);
	assert_non_null(c);
	char *want = xasprintf("%s/no/such/dir", cwd);
	assert_string_equal(conf_str(c, "config_directory"), want);
	char *path = xasprintf("%s/main.cf", want);
	assert_string_equal(conf_path(c), path);
	free(want);
	free(path);
	conf_free(&c);

	/* An existing folder is resolved (no "..", no symlinks). */
	char *dotdot =
	    xasprintf("%s/../%s", scratch, strrchr(scratch, '/') + 1);
	c = conf_load_string(dotdot, "t", "", &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "config_directory"), scratch);
	free(dotdot);
	conf_free(&c);

	/* The file cannot move it: warned and ignored. */
	c = load("config_directory = /elsewhere\n", &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "config_directory"), scratch);
	assert_log_has("t:1: config_directory is set by -c DIR");
	conf_free(&c);
}

static void test_syntax(void **state)
{
	struct error err;
	struct conf *c = load("smtp_port=26\n"
			      "myhostname \t=   mail.example.com  \t\n"
			      "tls_ciphers =\n"
			      "database_name = example.com\r\n"
			      "recipient_delimiter = +-\n"
			      "smtpd_banner = a # not a comment",
			      &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 26);
	assert_string_equal(conf_str(c, "myhostname"), "mail.example.com");
	assert_string_equal(conf_str(c, "tls_ciphers"), "");
	assert_true(conf_is_set(c, "tls_ciphers"));
	assert_string_equal(conf_str(c, "database_name"), "example.com");
	assert_string_equal(conf_str(c, "recipient_delimiter"), "+-");
	/* As in Postfix, # only starts a comment at the start of a line. */
	assert_string_equal(conf_str(c, "smtpd_banner"), "a # not a comment");
	assert_true(conf_is_set(c, "smtp_port"));
	assert_false(conf_is_set(c, "imap_port"));
	assert_log_empty();
	conf_free(&c);
}

static void test_comments_and_blank_lines(void **state)
{
	struct error err;
	struct conf *c = load("# smtp_port = 1\n"
			      "\n"
			      "   \t\n"
			      "   # indented comment = 3\n"
			      "#\n"
			      "imap_port = 143\n",
			      &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 2525);
	assert_false(conf_is_set(c, "smtp_port"));
	assert_int_equal(conf_int(c, "imap_port"), 143);
	conf_free(&c);
}

static void test_continuation(void **state)
{
	struct error err;
	struct conf *c = load("mynetworks = 10.0.0.0/8,\n"
			      "    192.168.0.0/16,\n"
			      "# a comment inside the value\n"
			      "\n"
			      "\t172.16.0.0/12   \n"
			      "smtp_port =\n"
			      "  2626\n",
			      &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "mynetworks"),
			    "10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12");
	assert_int_equal(conf_int(c, "smtp_port"), 2626);
	conf_free(&c);
}

static void test_syntax_errors(void **state)
{
	assert_load_fails("  smtp_port = 1\n", "t:1: line starts with white");
	assert_load_fails("# c\n\n  indented\n", "t:3: line starts with white");
	assert_load_fails("smtp_port = 1\nsmtp_port 2\n",
			  "t:2: missing '=' after \"smtp_port\"");
	assert_load_fails("myhostname = a\nsmtp_port\n  = 3\nx\n",
			  "t:4: missing '='");
	assert_load_fails("= 1\n", "t:1: a parameter name must start");
	assert_load_fails("-smtp_port = 1\n", "t:1: a parameter name");
	assert_load_fails("my-host = 1\n", "t:1: missing '=' after \"my\"");
}

static void test_nul_and_long_lines(void **state)
{
	struct error err;
	static const char text[] = "smtp_port = 1\nmyhostname = a\0b\n";
	struct conf *c =
	    conf_load_mem(scratch, "t", text, sizeof(text) - 1, NULL, 0, &err);
	assert_null(c);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_contains(err.msg, "t:2: NUL byte");

	struct buf *b = buf_new();
	buf_append_str(b, "imap_port = 1\nmyhostname = ");
	for (int i = 0; i < 70000; i++)
		buf_append_char(b, 'a');
	buf_append_char(b, '\n');
	assert_load_fails(buf_data(b), "t:2: line longer than");

	/* Long through continuation lines too. */
	buf_set_str(b, "myhostname = a\n");
	for (int i = 0; i < 2000; i++)
		buf_append_str(
		    b, "  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	assert_load_fails(buf_data(b), "t:1: line longer than");
	buf_free(&b);
}

static void test_redefinition(void **state)
{
	struct error err;
	struct conf *c =
	    load("smtp_port = 1\nimap_port = 2\nsmtp_port = 3\n", &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 3);
	assert_log_has("t:3: smtp_port is defined again; the definition at "
		       "line 1 is ignored");
	conf_free(&c);
}

static void test_expansion(void **state)
{
	struct error err;
	/* smtpd_banner refers to a definition further down: still seen. */
	struct conf *c = load("smtpd_banner = ${myhostname}.$database_name\n"
			      "myhostname = mx\n"
			      "database_name = example.org\n"
			      "database_password = pa$$word$$\n"
			      "mail_directory = ${queue_directory}/../m\n"
			      "tls_ciphers = $myhostname$myhostname_\n",
			      &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "smtpd_banner"), "mx.example.org");
	assert_string_equal(conf_raw(c, "smtpd_banner"), "${myhostname}.$database_name");
	assert_string_equal(conf_str(c, "database_password"), "pa$word$");
	char *want = xasprintf("%s/queue/../m", scratch);
	assert_string_equal(conf_str(c, "mail_directory"), want);
	free(want);
	/* The longest name is taken: $myhostname_ is another name. */
	assert_string_equal(conf_str(c, "tls_ciphers"), "mx");
	assert_log_has("t:6: tls_ciphers: undefined parameter $myhostname_");
	conf_free(&c);
}

static void test_expansion_of_defaults(void **state)
{
	struct error err;
	struct conf *c = load("log_directory = /var/log/p\n", &err);
	assert_non_null(c);
	/* log_file's default follows the changed log_directory. */
	assert_string_equal(conf_str(c, "log_file"), "/var/log/p/postern.log");
	assert_false(conf_is_set(c, "log_file"));
	conf_free(&c);
}

/* A raw parameter is a template its user fills in: neither its value nor
 * its default is expanded, and a name it uses is not "undefined". */
static void test_raw_not_expanded(void **state)
{
	struct error err;
	struct conf *c = load("myhostname = mx\n", &err);
	assert_non_null(c);
	assert_non_null(strstr(conf_str(c, "default_rbl_reply"),
			       "$rbl_code Service unavailable"));
	conf_free(&c);
	log_clear();
	c = load("myhostname = mx\n"
		 "default_rbl_reply = $rbl_code $myhostname ${rbl_reason?x}\n",
		 &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "default_rbl_reply"),
			    "$rbl_code $myhostname ${rbl_reason?x}");
	assert_log_empty();
	conf_free(&c);
	(void)state;
}

static void test_expansion_loops(void **state)
{
	assert_load_fails("myhostname = $database_name\ndatabase_name = x.$myhostname\n",
			  "expansion loop");
	assert_load_fails("smtpd_banner = $smtpd_banner\n",
			  "t:1: smtpd_banner: expansion loop: $smtpd_banner");
	/* A loop through a default: log_file -> log_directory -> log_file. */
	assert_load_fails("log_directory = ${log_file}.d\n", "expansion loop");
	/* Through an unknown (user-defined) name. */
	assert_load_fails("base = $database_name\ndatabase_name = $base\n",
			  "expansion loop");
}

static void test_expansion_errors(void **state)
{
	assert_load_fails("myhostname = ${database_name\n",
			  "t:1: myhostname: bad $ reference");
	assert_load_fails("myhostname = a$\n", "t:1: myhostname: bad $");
	assert_load_fails("myhostname = $ x\n", "bad $ reference");
	assert_load_fails("myhostname = ${}\n", "bad $ reference");

	/* Doubling at each level: stopped, not exhausting memory. */
	struct buf *b = buf_new();
	buf_append_str(b, "myhostname = $a0\n");
	for (int i = 0; i < 40; i++)
		buf_printf(b, "a%d = $a%d$a%d\n", i, i + 1, i + 1);
	buf_append_str(b, "a40 = xxxxxxxx\n");
	assert_load_fails(buf_data(b), "value longer than");

	/* A long chain of references. */
	buf_set_str(b, "myhostname = $a0\n");
	for (int i = 0; i < 100; i++)
		buf_printf(b, "a%d = $a%d\n", i, i + 1);
	assert_load_fails(buf_data(b), "nested more than");
	buf_free(&b);
}

static void test_undefined_expands_empty(void **state)
{
	struct error err;
	struct conf *c = load("\nsmtpd_banner = a${nosuch}b$nosuch2\n", &err);
	assert_non_null(c);
	assert_string_equal(conf_str(c, "smtpd_banner"), "ab");
	assert_log_has("t:2: smtpd_banner: undefined parameter $nosuch expands "
		       "to nothing");
	assert_log_has("undefined parameter $nosuch2");
	conf_free(&c);
}

static void test_unknown_names(void **state)
{
	struct error err;
	struct conf *c = load("smtp_port = 1\n"
			      "my_port = 2600\n"
			      "imap_port = $my_port\n"
			      "smpt_port = 5\n",
			      &err);
	assert_non_null(c);
	assert_log_has("t:2: unknown parameter my_port");
	assert_log_has("t:4: unknown parameter smpt_port");
	/* Still usable in a reference, as user-defined Postfix params. */
	assert_int_equal(conf_int(c, "imap_port"), 2600);
	assert_int_equal(conf_int(c, "smtp_port"), 1);
	assert_null(conf_param_find("my_port"));
	conf_free(&c);
}

static void test_int(void **state)
{
	struct error err;
	struct conf *c = load("smtp_port = -1\ndatabase_port = 0\n", &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), -1);
	assert_int_equal(conf_int(c, "database_port"), 0);
	conf_free(&c);

	assert_load_fails("\n\nsmtp_port = abc\n",
			  "t:3: smtp_port: \"abc\" is not a decimal integer");
	assert_load_fails("smtp_port = 12x\n", "t:1: smtp_port: \"12x\"");
	assert_load_fails("smtp_port = 0x10\n", "is not a decimal integer");
	assert_load_fails("smtp_port =\n", "t:1: smtp_port: \"\" is not");
	assert_load_fails("smtp_port = 99999999999999999999\n",
			  "is not a decimal integer");
	/* Checked after expansion. */
	assert_load_fails("myhostname = h\n\nsmtp_port = $myhostname\n",
			  "t:3: smtp_port: \"h\" is not a decimal integer");
	/* Valid as written, invalid once expanded. */
	assert_load_fails("smtp_port = 1$database_name\ndatabase_name = x\n",
			  "t:1: smtp_port: \"1x\"");
}

static void test_bool(void **state)
{
	static const struct {
		const char *text;
		bool want;
	} cases[] = {
	    {"yes", true},    {"no", false}, {"true", true},
	    {"false", false}, {"YES", true}, {"False", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct error err;
		char *text =
		    xasprintf("password_upgrade = %s\n", cases[i].text);
		struct conf *c = load(text, &err);
		assert_non_null(c);
		assert_int_equal(conf_bool(c, "password_upgrade"),
				 cases[i].want);
		conf_free(&c);
		free(text);
	}
	assert_load_fails("#\npassword_upgrade = maybe\n",
			  "t:2: password_upgrade: \"maybe\" is not yes or no");
	assert_load_fails("password_upgrade = 1\n", "is not yes or no");
}

static void test_time(void **state)
{
	struct error err;
	struct conf *c = load("restart_backoff_max = 5m\nstop_timeout = 2\n"
			      "database_timeout = 1d\ntls_handshake_timeout = 1w\n",
			      &err);
	assert_non_null(c);
	assert_int_equal(conf_time(c, "restart_backoff_max"), 300);
	assert_int_equal(conf_time(c, "stop_timeout"), 2);
	assert_int_equal(conf_time(c, "database_timeout"), 86400);
	assert_int_equal(conf_time(c, "tls_handshake_timeout"), 7 * 86400);
	conf_free(&c);

	assert_load_fails("\nrestart_backoff_max = 10x\n", "t:2: restart_backoff_max: bad time unit");
	assert_load_fails("restart_backoff_max = soon\n", "t:1: restart_backoff_max: bad time value");
	assert_load_fails("restart_backoff_max = 5mm\n", "t:1: restart_backoff_max:");
}

static void test_size_and_check_value(void **state)
{
	struct error err;
	/* No SIZE parameter in the table yet: check the validator itself. */
	assert_int_equal(conf_check_value(CONF_SIZE, "1048576", &err), 0);
	assert_int_equal(conf_check_value(CONF_SIZE, "0", &err), 0);
	assert_int_equal(conf_check_value(CONF_SIZE, "-1", &err), -1);
	assert_contains(err.msg, "\"-1\" is not a size in bytes");
	assert_int_equal(conf_check_value(CONF_SIZE, "10M", &err), -1);
	assert_int_equal(
	    conf_check_value(CONF_SIZE, "9223372036854775808", &err), -1);
	assert_int_equal(
	    conf_check_value(CONF_SIZE, "9223372036854775807", &err), 0);
	assert_int_equal(conf_check_value(CONF_STR, "", &err), 0);
	assert_int_equal(conf_check_value(CONF_INT, "-42", &err), 0);
	assert_int_equal(conf_check_value(CONF_INT, "+42", &err), -1);
	assert_int_equal(conf_check_value(CONF_BOOL, "on", &err), -1);
	assert_int_equal(conf_check_value(CONF_TIME, "3h", &err), 0);
	assert_int_equal(err.kind, ERR_CONFIG);
}

static void test_overrides(void **state)
{
	struct error err;
	char *path = xasprintf("%s/main.cf", scratch);
	write_file(path, "smtp_port = 25\nmyhostname = file.example\n");

	const char *ov[] = {"smtp_port=2600", " myhostname = o.example ",
			    "extra_thing=1"};
	struct conf *c = conf_load_overrides(scratch, ov, 3, &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 2600);
	assert_true(conf_is_set(c, "smtp_port"));
	assert_string_equal(conf_str(c, "myhostname"), "o.example");
	/* Expansion sees the override. */
	assert_string_equal(conf_str(c, "smtpd_banner"), "o.example ESMTP Postern");
	assert_log_has("-o extra_thing: unknown parameter extra_thing");
	conf_free(&c);

	const char *bad[] = {"smtp_port"};
	c = conf_load_overrides(scratch, bad, 1, &err);
	assert_null(c);
	assert_contains(err.msg, "-o smtp_port: expected name=value");

	const char *badname[] = {"smtp port=1"};
	c = conf_load_overrides(scratch, badname, 1, &err);
	assert_null(c);
	assert_contains(err.msg, "expected name=value");

	const char *badtype[] = {"imap_port=x"};
	c = conf_load_overrides(scratch, badtype, 1, &err);
	assert_null(c);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_contains(err.msg, "-o imap_port: imap_port: \"x\" is not");
	free(path);
}

static void test_load_file(void **state)
{
	struct error err;
	/* No main.cf: defaults. */
	struct conf *c = conf_load(scratch, &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 2525);
	conf_free(&c);

	char *path = xasprintf("%s/main.cf", scratch);
	write_file(path, "# test\nsmtp_port = 2700\n\nimap_port = no\n");
	c = conf_load(scratch, &err);
	assert_null(c);
	assert_int_equal(err.kind, ERR_CONFIG);
	char *want =
	    xasprintf("%s:4: imap_port: \"no\" is not a decimal", path);
	assert_contains(err.msg, want);
	free(want);

	write_file(path, "smtp_port = 2700\n");
	c = conf_load(scratch, &err);
	assert_non_null(c);
	assert_int_equal(conf_int(c, "smtp_port"), 2700);
	assert_string_equal(conf_path(c), path);
	conf_free(&c);
	free(path);
}

static void test_table(void **state)
{
	assert_true(conf_param_count() > 40);
	const struct conf_param *p = conf_param_find("smtp_port");
	assert_non_null(p);
	assert_int_equal(p->type, CONF_INT);
	assert_string_equal(p->def, "2525");
	assert_string_equal(conf_type_name(p->type), "int");
	assert_string_equal(conf_type_name(CONF_TIME), "time");
	assert_null(conf_param_find("nope"));
	assert_null(conf_param_at(conf_param_count()));
	assert_string_equal(conf_param_at(0)->name, "config_directory");
	for (size_t i = 0; i < conf_param_count(); i++) {
		const struct conf_param *q = conf_param_at(i);
		assert_true(q->doc[0] != '\0');
		assert_ptr_equal(conf_param_find(q->name), q);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_config_directory_absolute),
	    T(test_syntax),
	    T(test_comments_and_blank_lines),
	    T(test_continuation),
	    T(test_syntax_errors),
	    T(test_nul_and_long_lines),
	    T(test_redefinition),
	    T(test_expansion),
	    T(test_expansion_of_defaults),
	    T(test_raw_not_expanded),
	    T(test_expansion_loops),
	    T(test_expansion_errors),
	    T(test_undefined_expands_empty),
	    T(test_unknown_names),
	    T(test_int),
	    T(test_bool),
	    T(test_time),
	    T(test_size_and_check_value),
	    T(test_overrides),
	    T(test_load_file),
	    T(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
