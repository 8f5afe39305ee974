/*
 * test_cmd_config - `postern config` (postern/cmd_config.c) with the
 * cli_* helpers of main.c reproduced here, its output captured.
 */
#include "test.h"

#include <fcntl.h>
#include <stdarg.h>

#include "conf/conf.h"
#include "conf_test.h"
#include "postern.h"

/* The same contract as postern/main.c's helpers. */
int cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("postern: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

bool cli_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(text, stdout);
			return true;
		}
	return false;
}

struct conf *cli_conf(struct cli *cli)
{
	struct error err;
	struct conf *conf = conf_load(cli->config_dir, &err);
	if (conf == NULL)
		cli_error("%s", err.msg);
	return conf;
}

static char *out, *errout;

/* Run `postern -c scratch config ARGS...`; stdout/stderr into out/errout. */
static int run(const char *first, ...)
{
	char *argv[16] = {"config"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 15;
	     a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char *o_path = xasprintf("%s.out", scratch);
	char *e_path = xasprintf("%s.err", scratch);
	fflush(stdout);
	fflush(stderr);
	int save_o = dup(1), save_e = dup(2);
	int fo = open(o_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int fe = open(e_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	close(fo);
	close(fe);

	struct cli cli = {.config_dir = scratch, .argv0 = "postern"};
	int status = cmd_config(&cli, argc, argv);

	fflush(stdout);
	fflush(stderr);
	dup2(save_o, 1);
	dup2(save_e, 2);
	close(save_o);
	close(save_e);
	free(out);
	free(errout);
	out = read_text(o_path);
	errout = read_text(e_path);
	unlink(o_path);
	unlink(e_path);
	free(o_path);
	free(e_path);
	return status;
}

static void set_main_cf(const char *text)
{
	char *path = xasprintf("%s/main.cf", scratch);
	write_file(path, text);
	free(path);
}

static void test_show_all(void **state)
{
	set_main_cf("smtp_port = 2600\nmynetworks = $myhostname.x\n");
	assert_int_equal(run(NULL), 0);
	assert_contains(out, "smtp_port = 2600\n");
	assert_contains(out, "queue_directory = $config_directory/queue\n");
	assert_contains(out, "mynetworks = $myhostname.x\n");
	assert_contains(out, "tls_ciphers = \n");
	/* One line per parameter, in table order. */
	size_t lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, conf_param_count());
	assert_true(strncmp(out, "config_directory = ", 19) == 0);
	assert_string_equal(errout, "");
}

static void test_show_set_expanded_names(void **state)
{
	set_main_cf("# c\nsmtp_port = 2600\nmynetworks = $myhostname.x\n");
	assert_int_equal(run("-n", NULL), 0);
	/* Table order, not file order. */
	assert_string_equal(out,
			    "mynetworks = $myhostname.x\nsmtp_port = 2600\n");

	assert_int_equal(run("-nx", NULL), 0);
	assert_string_equal(out, "mynetworks = localhost.x\nsmtp_port = 2600\n");

	assert_int_equal(run("-x", "queue_directory", "smtp_port", NULL), 0);
	char *want = xasprintf("queue_directory = %s/queue\nsmtp_port = 2600\n",
			       scratch);
	assert_string_equal(out, want);
	free(want);

	/* -n with a name that is not set prints nothing for it. */
	assert_int_equal(run("-n", "imap_port", "smtp_port", NULL), 0);
	assert_string_equal(out, "smtp_port = 2600\n");
}

static void test_defaults(void **state)
{
	set_main_cf("smtp_port = 2600\n");
	assert_int_equal(run("-d", "smtp_port", "queue_directory", NULL), 0);
	assert_string_equal(out, "smtp_port = 2525\n"
				 "queue_directory = $config_directory/queue\n");
	assert_int_equal(run("-d", "-x", "queue_directory", NULL), 0);
	char *want = xasprintf("queue_directory = %s/queue\n", scratch);
	assert_string_equal(out, want);
	free(want);

	/* Defaults do not need a valid main.cf. */
	set_main_cf("smtp_port = bad\n");
	assert_int_equal(run("-d", "smtp_port", NULL), 0);
	assert_string_equal(out, "smtp_port = 2525\n");
}

static void test_errors(void **state)
{
	assert_int_equal(run("smtp_port", "nope", "imap_port", NULL), 1);
	assert_string_equal(out, "smtp_port = 2525\nimap_port = 2143\n");
	assert_string_equal(errout, "postern: unknown parameter nope\n");

	assert_int_equal(run("-q", NULL), 1);
	assert_contains(errout, "unknown option \"-q\"");
	assert_int_equal(run("-n", "-d", NULL), 1);

	set_main_cf("# one\n\nimap_port = x\n");
	assert_int_equal(run(NULL), 1);
	assert_string_equal(out, "");
	char *want = xasprintf("postern: %s/main.cf:3: imap_port: \"x\" is "
			       "not a decimal integer\n",
			       scratch);
	assert_string_equal(errout, want);
	free(want);
}

static void test_set(void **state)
{
	set_main_cf("# mine\nsmtp_port = 25\n");
	assert_int_equal(
	    run("set", "smtp_port=2600", "myhostname=mx.test", NULL), 0);
	assert_string_equal(out, "");
	char *path = xasprintf("%s/main.cf", scratch);
	char *text = read_text(path);
	assert_string_equal(text,
			    "# mine\nsmtp_port = 2600\nmyhostname = mx.test\n");
	free(text);

	assert_int_equal(run("set", "smtp_port=abc", NULL), 1);
	assert_contains(errout, "smtp_port: \"abc\" is not a decimal integer");
	assert_int_equal(run("set", "bogus=1", NULL), 1);
	assert_string_equal(errout, "postern: unknown parameter bogus\n");
	assert_int_equal(run("set", NULL), 1);
	text = read_text(path);
	assert_string_equal(text,
			    "# mine\nsmtp_port = 2600\nmyhostname = mx.test\n");
	free(text);
	free(path);
}

static void test_help_and_markdown(void **state)
{
	assert_int_equal(run("--help", NULL), 0);
	assert_contains(out, "usage: postern config");
	assert_int_equal(run("set", "--help", NULL), 0);
	assert_contains(out, "postern config set NAME=VALUE");
	assert_int_equal(run("--markdown", NULL), 0);
	struct buf *b = buf_new();
	conf_doc_markdown(b);
	assert_string_equal(out, buf_data(b));
	buf_free(&b);
}

static int teardown(void **state)
{
	XFREE(out);
	XFREE(errout);
	return scratch_teardown(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, scratch_setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_show_all), T(test_show_set_expanded_names),
	    T(test_defaults), T(test_errors),
	    T(test_set),      T(test_help_and_markdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
