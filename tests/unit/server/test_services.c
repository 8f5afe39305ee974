#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "server/services.h"

#define CONFDIR "/srv/postern"

static struct conf *make_conf(const char *text)
{
	struct error err;
	struct conf *conf = conf_load_string(CONFDIR, "main.cf", text, &err);
	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	return conf;
}

static struct services *parse(const struct conf *conf, const char *text,
			      struct error *err)
{
	return services_parse("services.cf", text, strlen(text), conf, err);
}

/* Parse text that must fail; the message must start with want. */
static void expect_error(const char *text, const char *want)
{
	struct conf *conf = make_conf("");
	struct error err = {0};
	struct services *s = parse(conf, text, &err);
	if (s != NULL)
		fail_msg("parsed but should fail with \"%s\"", want);
	assert_int_equal(err.kind, ERR_CONFIG);
	if (strncmp(err.msg, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want prefix \"%s\"", err.msg, want);
	conf_free(&conf);
}

static void test_default_table(void **state)
{
	struct conf *conf = make_conf("");
	struct error err;
	const char *text = services_default_text();
	struct services *s = parse(conf, text, &err);
	if (s == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(services_count(s), 10);

	const struct service_def *d = services_find(s, "smtp");
	assert_non_null(d);
	assert_int_equal(d->type, SERVICE_INET);
	assert_int_equal(d->tls, SERVICE_TLS_STARTTLS);
	assert_int_equal(d->procs, 2);
	assert_int_equal(d->naddrs, 1);
	assert_string_equal(d->addrs[0].text, "127.0.0.1:2525");
	assert_string_equal(d->addrs[0].host, "127.0.0.1");
	assert_int_equal(d->addrs[0].port, 2525);
	assert_int_equal(d->argc, 1);
	assert_string_equal(d->argv[0], "postern-smtpd");
	assert_null(d->argv[1]);
	assert_string_equal(d->origin, "services.cf:6");

	d = services_find(s, "submissions");
	assert_int_equal(d->tls, SERVICE_TLS_IMPLICIT);
	assert_string_equal(d->addrs[0].text, "127.0.0.1:2465");
	d = services_find(s, "imaps");
	assert_int_equal(d->tls, SERVICE_TLS_IMPLICIT);
	assert_string_equal(d->addrs[0].text, "127.0.0.1:2993");
	d = services_find(s, "lmtp-unix");
	assert_int_equal(d->type, SERVICE_UNIX);
	assert_string_equal(d->addrs[0].path, CONFDIR "/run/lmtp.sock");
	d = services_find(s, "queue");
	assert_non_null(d);
	assert_int_equal(d->type, SERVICE_UNIX);
	assert_int_equal(d->procs, 1);
	assert_string_equal(d->addrs[0].path, CONFDIR "/run/queue.sock");
	assert_string_equal(d->argv[0], "postern-queued");
	d = services_find(s, "admin-api");
	assert_string_equal(d->addrs[0].text, "127.0.0.1:8081");
	assert_string_equal(d->argv[0], "postern-admin-api");
	assert_null(services_find(s, "nope"));
	assert_ptr_equal(services_at(s, 0), services_find(s, "smtp"));
	assert_null(services_at(s, 10));

	services_free(&s);
	assert_null(s);
	conf_free(&conf);
}

static void test_expansion_lists_and_overrides(void **state)
{
	struct conf *conf = make_conf("inet_interfaces = 127.0.0.1, ::1\n"
				      "smtp_port = 3025\n"
				      "admin_api_interfaces = all\n");
	struct error err;
	const char *text =
	    "# comment\n"
	    "\n"
	    "smtp inet $inet_interfaces:${smtp_port} starttls 3\n"
	    "   postern-smtpd -o myhostname=mx.example\n"
	    "  # a comment inside does not end the entry\n"
	    "   -v\n"
	    "api inet $admin_api_interfaces:9000,[::1]:9001 none 1 "
	    "postern-admin-api\n"
	    "sock unix $run_directory/x.sock none 1 postern-lmtpd";
	struct services *s = parse(conf, text, &err);
	if (s == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(services_count(s), 3);

	const struct service_def *d = services_find(s, "smtp");
	assert_int_equal(d->procs, 3);
	assert_int_equal(d->naddrs, 2);
	assert_string_equal(d->addrs[0].text, "127.0.0.1:3025");
	assert_string_equal(d->addrs[1].text, "[::1]:3025");
	assert_string_equal(d->addrs[1].host, "::1");
	assert_int_equal(d->argc, 4);
	assert_string_equal(d->argv[1], "-o");
	assert_string_equal(d->argv[2], "myhostname=mx.example");
	assert_string_equal(d->argv[3], "-v");
	assert_string_equal(d->origin, "services.cf:3");

	d = services_find(s, "api");
	assert_int_equal(d->naddrs, 2);
	assert_string_equal(d->addrs[0].text, "*:9000");
	assert_string_equal(d->addrs[0].host, "*");
	assert_string_equal(d->addrs[1].text, "[::1]:9001");
	assert_string_equal(d->origin, "services.cf:7");

	d = services_find(s, "sock");
	assert_string_equal(d->addrs[0].path, CONFDIR "/run/x.sock");
	assert_string_equal(d->origin, "services.cf:8");
	services_free(&s);
	conf_free(&conf);
}

static void test_errors_name_file_and_line(void **state)
{
	expect_error("", "services.cf: no service defined");
	expect_error("# only\n\n", "services.cf: no service defined");
	expect_error("\n\nsmtp tcp 127.0.0.1:25 none 1 postern-smtpd\n",
		     "services.cf:3: service smtp: type \"tcp\" is not inet");
	expect_error("a inet 127.0.0.1:1 none 1 x\n"
		     "b inet 127.0.0.1:2 maybe 1 x\n",
		     "services.cf:2: service b: tls \"maybe\"");
	expect_error("a inet 127.0.0.1:1 none 0 x\n",
		     "services.cf:1: service a: procs \"0\" is not 1..64");
	expect_error("a inet 127.0.0.1:1 none many x\n",
		     "services.cf:1: service a: procs \"many\"");
	expect_error("a inet $nope:25 none 1 x\n",
		     "services.cf:1: unknown parameter $nope");
	expect_error("a inet ${smtp_port:25 none 1 x\n",
		     "services.cf:1: malformed $name");
	expect_error("a inet 127.0.0.1 none 1 x\n",
		     "services.cf:1: listen address \"127.0.0.1\" is not "
		     "HOST:PORT");
	expect_error("a inet 127.0.0.1:70000 none 1 x\n",
		     "services.cf:1: bad port \"70000\"");
	expect_error("a inet 127.0.0.1:$myhostname none 1 x\n",
		     "services.cf:1: bad port \"localhost\"");
	expect_error("a unix relative.sock none 1 x\n",
		     "services.cf:1: unix socket \"relative.sock\" is not an "
		     "absolute path");
	expect_error("a inet 127.0.0.1:1 none 1\n",
		     "services.cf:1: expected: name type listen tls procs");
	expect_error("  a inet 127.0.0.1:1 none 1 x\n",
		     "services.cf:1: continuation line without an entry");
	expect_error("a inet 127.0.0.1:1 none 1 x\n"
		     "# c\n"
		     "a inet 127.0.0.1:2 none 1 x\n",
		     "services.cf:3: service a defined twice");
	expect_error("a inet 127.0.0.1:1 none 1 x\n"
		     "b inet 127.0.0.1:2,127.0.0.1:1 none 1 x\n",
		     "services.cf:2: 127.0.0.1:1 is also used by service a "
		     "(services.cf:1)");
	expect_error("a inet 127.0.0.1:1,127.0.0.1:1 none 1 x\n",
		     "services.cf:1: 127.0.0.1:1 is listed twice");
	expect_error("a inet 127.0.0.1:1 none 1 x -o bogus_param=1\n",
		     "services.cf:1: -o bogus_param: unknown parameter");
	expect_error("a inet 127.0.0.1:1 none 1 x -o novalue\n",
		     "services.cf:1: -o \"novalue\" is not name=value");
	expect_error("a inet 127.0.0.1:1 none 1 x -o\n",
		     "services.cf:1: -o without name=value");
	expect_error("a inet 127.0.0.1:1 none 1 /bin/sh\n",
		     "services.cf:1: command \"/bin/sh\" must be a program");
	expect_error("a inet 127.0.0.1:1,127.0.0.2:1,127.0.0.3:1,127.0.0.4:1,"
		     "127.0.0.5:1,127.0.0.6:1,127.0.0.7:1,127.0.0.8:1,"
		     "127.0.0.9:1,127.0.0.10:1,127.0.0.11:1,127.0.0.12:1,"
		     "127.0.0.13:1,127.0.0.14:1,127.0.0.15:1,127.0.0.16:1,"
		     "127.0.0.17:1,127.0.0.18:1,127.0.0.19:1,127.0.0.20:1,"
		     "127.0.0.21:1,127.0.0.22:1,127.0.0.23:1,127.0.0.24:1,"
		     "127.0.0.25:1,127.0.0.26:1,127.0.0.27:1,127.0.0.28:1,"
		     "127.0.0.29:1,127.0.0.30:1,127.0.0.31:1,127.0.0.32:1,"
		     "127.0.0.33:1 none 1 x\n",
		     "services.cf:1: service a has more than 32 listen");
	expect_error("Bad! inet 127.0.0.1:1 none 1 x\n",
		     "services.cf:1: bad service name");

	struct conf *conf = make_conf("");
	struct error err;
	static const char nul[] = "a inet 127.0.0.1:1 none 1 x\nb\0c\n";
	assert_null(
	    services_parse("services.cf", nul, sizeof(nul) - 1, conf, &err));
	assert_string_equal(err.msg, "services.cf:2: NUL byte in the file");
	conf_free(&conf);
}

static void test_same(void **state)
{
	struct conf *conf = make_conf("");
	struct error err;
	struct services *s1 = parse(conf,
				    "a inet 127.0.0.1:1 none 1 x\n"
				    "b inet 127.0.0.1:2 none 1 x\n"
				    "c inet 127.0.0.1:3 none 1 x\n",
				    &err);
	struct services *s2 = parse(conf,
				    "\na inet 127.0.0.1:1 none 5 x\n"
				    "b inet 127.0.0.1:2 starttls 1 x\n"
				    "c inet 127.0.0.1:3 none 1 x -v\n",
				    &err);
	assert_non_null(s1);
	assert_non_null(s2);
	/* procs and origin may change without restarting the service. */
	assert_true(
	    service_def_same(services_find(s1, "a"), services_find(s2, "a")));
	assert_false(
	    service_def_same(services_find(s1, "b"), services_find(s2, "b")));
	assert_false(
	    service_def_same(services_find(s1, "c"), services_find(s2, "c")));
	services_free(&s1);
	services_free(&s2);
	conf_free(&conf);
}

static void test_write_default_and_load(void **state)
{
	char dir[] = "/tmp/test_services.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/sub/services.cf", dir);

	struct error err;
	assert_int_equal(services_write_default(path, &err), 0);
	struct conf *conf = make_conf("lmtp_port = 12424\n");
	struct services *s = services_load(path, conf, &err);
	if (s == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(services_find(s, "lmtp")->addrs[0].text,
			    "127.0.0.1:12424");
	services_free(&s);

	/* A missing file is an error naming it. */
	unlink(path);
	assert_null(services_load(path, conf, &err));
	assert_non_null(strstr(err.msg, "services.cf"));
	conf_free(&conf);

	char sub[300];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	rmdir(sub);
	rmdir(dir);
}

static void test_names(void **state)
{
	enum service_tls t;
	assert_int_equal(service_tls_parse("implicit", &t), 0);
	assert_int_equal(t, SERVICE_TLS_IMPLICIT);
	assert_int_equal(service_tls_parse("IMPLICIT", &t), -1);
	assert_string_equal(service_tls_name(SERVICE_TLS_STARTTLS), "starttls");
	assert_string_equal(service_type_name(SERVICE_UNIX), "unix");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_table),
	    cmocka_unit_test(test_expansion_lists_and_overrides),
	    cmocka_unit_test(test_errors_name_file_and_line),
	    cmocka_unit_test(test_same),
	    cmocka_unit_test(test_write_default_and_load),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
