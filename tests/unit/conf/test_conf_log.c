/*
 * test_conf_log - conf_setup_logging(): log_target, log_file,
 * syslog_facility and debug_trace applied through core/log.h.
 */
#include "test.h"

#include "conf/conf.h"
#include "conf_test.h"

static struct conf *load(const char *text)
{
	struct error err;
	struct conf *c = conf_load_string(scratch, "t", text, &err);
	if (c == NULL)
		fail_msg("load: %s", err.msg);
	return c;
}

static void test_file_target(void **state)
{
	struct error err;
	struct conf *c = load("log_target = file\n"
			      "log_directory = $config_directory/a/b\n");
	assert_int_equal(conf_setup_logging(c, "postern/test", &err), 0);
	log_info("hello file");
	log_to_stderr();

	char *path = xasprintf("%s/a/b/postern.log", scratch);
	char *text = read_text(path);
	assert_contains(text, "postern/test[");
	assert_contains(text, "hello file");
	free(text);
	free(path);
	conf_free(&c);
}

static void test_stderr_target(void **state)
{
	struct error err;
	struct conf *c = load("log_target = stderr\n");
	assert_int_equal(conf_setup_logging(c, NULL, &err), 0);
	log_info("not in the file");
	assert_log_empty();
	conf_free(&c);
}

static void test_trace(void **state)
{
	struct error err;
	struct conf *c = load("log_target = stderr\ndebug_trace = sql, conf\n");
	assert_int_equal(conf_setup_logging(c, NULL, &err), 0);
	assert_true(log_tracing(LOG_TRACE_SQL));
	assert_true(log_tracing(LOG_TRACE_CONF));
	assert_false(log_tracing(LOG_TRACE_IO));
	conf_free(&c);
	log_set_trace(0);
}

/* A bad setting fails with the parameter named and changes nothing. */
static void assert_refused(const char *text, const char *want)
{
	struct error err;
	struct conf *c = load(text);
	assert_int_equal(conf_setup_logging(c, "other", &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_contains(err.msg, want);
	conf_free(&c);
}

static void test_errors(void **state)
{
	log_init("postern/test");
	assert_refused("log_target = journal\n",
		       "log_target: \"journal\" is not stderr, file or syslog");
	assert_refused("log_target = stderr\ndebug_trace = io, nope\n",
		       "debug_trace: unknown trace class \"nope\"");
	assert_refused("log_target = syslog\nsyslog_facility = kern0\n",
		       "syslog_facility: unknown syslog facility");
	assert_refused("log_target = file\nlog_file =\n", "log_file: empty");

	/* Cannot create the folder: the file system's error, named. */
	struct error err;
	struct conf *c = load("log_target = file\n"
			      "log_file = /proc/no/such/x.log\n");
	assert_int_equal(conf_setup_logging(c, "other", &err), -1);
	assert_contains(err.msg, "log_file: ");
	assert_contains(err.msg, "/proc/no");
	conf_free(&c);
	/* Nothing was switched: the capture file still gets lines. */
	log_info("still captured");
	assert_log_has("still captured");
	assert_string_equal(log_progname(), "postern/test");
	assert_false(log_tracing(LOG_TRACE_IO));
}

#define T(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_file_target),
	    T(test_stderr_target),
	    T(test_trace),
	    T(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
