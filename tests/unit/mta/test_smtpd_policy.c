/*
 * test_smtpd_policy - check_policy_service and check_greylist in the
 * restriction lists (mta/smtpd-policy.c, smtpd-greylist.c): the word
 * forms and their errors, the blocking query path against a policy
 * server on a unix socket (actions, default_action, connection reuse),
 * and the greylisting networks.  The suspending path and the SQL side
 * are in tests/integration/test_policy_service.py and test_greylist.py.
 */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "restrict_test.h"
#include "smtpd-greylist.h"
#include "smtpd-restrict.h"

static char sock_path[108];

static void test_words(void **state)
{
	static const struct {
		const char *list;
		const char *error; /* NULL: parses */
	} cases[] = {
	    {"check_policy_service inet:127.0.0.1:10023", NULL},
	    {"check_policy_service unix:/run/p.sock", NULL},
	    {"check_policy_service { inet:127.0.0.1:10023, timeout=10s, "
	     "default_action=DUNNO, max_idle=5s, max_ttl=1m, "
	     "request_limit=3, try_limit=1, retry_delay=0, "
	     "policy_context=x }",
	     NULL},
	    {"check_policy_service", "needs an argument"},
	    {"check_policy_service inet:nohostport", "not inet:host:port"},
	    {"check_policy_service { inet:127.0.0.1:1, bogus=1 }",
	     "unknown option \"bogus\""},
	    {"check_policy_service { timeout=1s }", "no target"},
	    {"check_policy_service { inet:127.0.0.1:1, timeout=x }",
	     "not a time"},
	    {"check_policy_service { inet:127.0.0.1:1", "missing }"},
	    {"check_greylist", "needs the database"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("smtpd_recipient_restrictions = "
				       "reject_unauth_destination, %s\n",
				       cases[i].list);
		struct error err;
		struct smtpd_restrict *r = try_make(text, &err);

		if (cases[i].error == NULL) {
			if (r == NULL)
				fail_msg("%s: %s", cases[i].list, err.msg);
		} else {
			assert_null(r);
			assert_int_equal(err.kind, ERR_CONFIG);
			if (strstr(err.msg, cases[i].error) == NULL)
				fail_msg("%s: %s", cases[i].list, err.msg);
		}
		smtpd_restrict_free(&r);
		free(text);
	}
}

/* ---- A policy server: answers by the recipient's local part. */

static int listen_fd = -1;
static int connections, requests;

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		char buf[8192];
		size_t len = 0;

		if (fd < 0)
			return NULL;
		__atomic_add_fetch(&connections, 1, __ATOMIC_SEQ_CST);
		for (;;) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
			char *end, *rcpt;
			const char *action = "DUNNO";
			char out[256];

			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			end = strstr(buf, "\n\n");
			if (end == NULL)
				continue;
			__atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
			rcpt = strstr(buf, "\nrecipient=");
			if (strstr(buf, "request=smtpd_access_policy\n") != buf)
				action = "REJECT no request line";
			else if (rcpt != NULL &&
				 strncmp(rcpt, "\nrecipient=rej@", 15) == 0)
				action = "REJECT policy says no";
			else if (rcpt != NULL &&
				 strncmp(rcpt, "\nrecipient=ok@", 14) == 0)
				action = "OK";
			else if (rcpt != NULL &&
				 strncmp(rcpt, "\nrecipient=none@", 16) == 0)
				action = NULL;
			if (action != NULL)
				snprintf(out, sizeof(out), "x=y\naction=%s\n\n",
					 action);
			else
				snprintf(out, sizeof(out), "x=y\n\n");
			if (write(fd, out, strlen(out)) < 0)
				break;
			len = 0;
		}
		close(fd);
	}
}

static struct smtpd_restrict *policy_lists(const char *extra)
{
	char *text =
	    xasprintf("smtpd_recipient_restrictions = check_policy_service "
		      "{ unix:%s%s }, check_policy_service { unix:%s.dead, "
		      "try_limit=1 }, permit\n"
		      "smtpd_relay_restrictions = reject\n",
		      sock_path, extra, sock_path);
	struct error err;
	struct smtpd_restrict *r = try_make(text, &err);

	if (r == NULL)
		fail_msg("%s", err.msg);
	free(text);
	return r;
}

static int check(struct smtpd_restrict *r, const char *rcpt,
		 struct smtpd_verdict *v)
{
	struct smtpd_restrict_input in = {
	    .client_addr = "192.0.2.10",
	    .client_name = "unknown",
	    .helo = "client.example",
	    .sender = "s@client.example",
	    .recipient = rcpt,
	    .esmtp = true,
	    .log_id = "TEST",
	};
	return smtpd_restrict_check(
	    r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT), &in, v);
}

static void test_blocking_query(void **state)
{
	struct smtpd_restrict *r = policy_lists("");
	struct smtpd_verdict v;

	(void)state;
	/* OK ends the list before the dead service. */
	assert_int_equal(check(r, "ok@example.com", &v), 0);
	smtpd_verdict_clear(&v);
	assert_int_equal(check(r, "rej@example.com", &v), -1);
	assert_string_equal(v.reply.text, "<rej@example.com>: Recipient "
					  "address rejected: policy says no");
	assert_int_equal(v.reply.code, 554);
	smtpd_verdict_clear(&v);
	assert_int_equal(check(r, "none@example.com", &v), -1);
	assert_int_equal(v.reply.code, 451);
	assert_string_equal(v.reply.enhanced, "4.3.5");
	smtpd_verdict_clear(&v);
	/* DUNNO, then the dead service: its default action. */
	assert_int_equal(check(r, "other@example.com", &v), -1);
	assert_int_equal(v.reply.code, 451);
	assert_string_equal(v.reply.text, "Server configuration problem");
	smtpd_verdict_clear(&v);
	smtpd_restrict_free(&r);
}

static void test_connection_reuse(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_verdict v;
	int c0 = __atomic_load_n(&connections, __ATOMIC_SEQ_CST);

	(void)state;
	r = policy_lists("");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(check(r, "ok@example.com", &v), 0);
		smtpd_verdict_clear(&v);
	}
	assert_int_equal(__atomic_load_n(&connections, __ATOMIC_SEQ_CST) - c0,
			 1);
	smtpd_restrict_free(&r);

	c0 = __atomic_load_n(&connections, __ATOMIC_SEQ_CST);
	r = policy_lists(", request_limit=2");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(check(r, "ok@example.com", &v), 0);
		smtpd_verdict_clear(&v);
	}
	assert_int_equal(__atomic_load_n(&connections, __ATOMIC_SEQ_CST) - c0,
			 2);
	smtpd_restrict_free(&r);
}

static void test_networks(void **state)
{
	char out[80];

	(void)state;
	assert_true(
	    smtpd_greylist_network("192.0.2.77", 24, 64, out, sizeof(out)));
	assert_string_equal(out, "192.0.2.0/24");
	assert_true(
	    smtpd_greylist_network("192.0.2.77", 20, 64, out, sizeof(out)));
	assert_string_equal(out, "192.0.0.0/20");
	assert_true(
	    smtpd_greylist_network("192.0.2.77", 32, 64, out, sizeof(out)));
	assert_string_equal(out, "192.0.2.77/32");
	assert_true(smtpd_greylist_network("2001:db8:1:2:3:4:5:6", 24, 64, out,
					   sizeof(out)));
	assert_string_equal(out, "2001:db8:1:2::/64");
	assert_true(smtpd_greylist_network("2001:db8:1:2:3:4:5:6", 24, 56, out,
					   sizeof(out)));
	assert_string_equal(out, "2001:db8:1::/56");
	assert_false(
	    smtpd_greylist_network("host.example", 24, 64, out, sizeof(out)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_blocking_query),
	    cmocka_unit_test(test_connection_reuse),
	    cmocka_unit_test(test_networks),
	};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	pthread_t th;

	snprintf(sock_path, sizeof(sock_path), "/tmp/test_smtpd_policy.%d",
		 (int)getpid());
	unlink(sock_path);
	strcpy(sun.sun_path, sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(listen_fd, 16) < 0) {
		perror("policy test server");
		return 1;
	}
	pthread_create(&th, NULL, serve, NULL);
	pthread_detach(th);
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(sock_path);
	return ret;
}
