/*
 * test_smtpd_restrict_more - the Postfix restrictions added after the
 * first set (mta/smtpd-restrict.c, smtpd-access-server.c,
 * smtpd-rbl-reply.c) that need no DNS: the RBL reply template syntax,
 * reply pattern and template errors at start-up,
 * reject_plaintext_session, reject_multi_recipient_bounce,
 * defer_unauth_destination, check_sasl_access and
 * check_reverse_client_hostname_access without a resolver, access
 * table results that are restriction lists, the *_tempfail_action
 * settings' parsing.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "restrict_test.h"
#include "smtpd-rbl-reply.h"
#include "smtpd-restrict.h"

/* ---- Templates. */

static const char *names(const char *name, void *ctx)
{
	(void)ctx;
	if (strcmp(name, "rbl_code") == 0)
		return "554";
	if (strcmp(name, "rbl_reason") == 0)
		return "see \x01http://x";
	if (strcmp(name, "empty") == 0)
		return "";
	if (strcmp(name, "what") == 0)
		return "192.0.2.1";
	return NULL;
}

static char *expand(const char *t)
{
	struct buf *b = buf_new();
	char *out = smtpd_rbl_expand(t, names, NULL, b) == 0
			? xstrdup(buf_data(b))
			: xstrdup("ERROR");

	buf_free(&b);
	return out;
}

#define EXPAND_EQ(t, want)                                                     \
	do {                                                                   \
		char *got_ = expand(t);                                        \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void test_template(void **state)
{
	(void)state;
	EXPAND_EQ("plain", "plain");
	EXPAND_EQ("$rbl_code x", "554 x");
	EXPAND_EQ("${rbl_code}x$(what)y", "554x192.0.2.1y");
	/* Unprintable bytes of values become '_' (smtpd_expand_filter). */
	EXPAND_EQ("[$rbl_reason]", "[see _http://x]");
	EXPAND_EQ("a${rbl_reason?; $rbl_code}b", "a; 554b");
	EXPAND_EQ("a${empty?; $rbl_code}b", "ab");
	EXPAND_EQ("a${empty:none}b", "anoneb");
	EXPAND_EQ("a${what:none}b", "ab");
	EXPAND_EQ("$$rbl_code", "$rbl_code");
	EXPAND_EQ("${what?{$rbl_code}}", "{554}");
	/* Postfix's default. */
	EXPAND_EQ("$rbl_code Service unavailable; [$what]${empty?; $empty}",
		  "554 Service unavailable; [192.0.2.1]");
	/* Errors: unknown names, syntax. */
	EXPAND_EQ("$nosuch", "ERROR");
	EXPAND_EQ("${what?$nosuch}", "ERROR");
	/* As mac_expand: a branch not taken is not expanded. */
	EXPAND_EQ("${empty?$nosuch}", "");
	EXPAND_EQ("x$", "ERROR");
	EXPAND_EQ("${what", "ERROR");
	EXPAND_EQ("${what?x", "ERROR");
	EXPAND_EQ("$(what}", "ERROR");
	EXPAND_EQ("${}", "ERROR");
	EXPAND_EQ("${what!x}", "ERROR");
	/* Nesting is bounded. */
	EXPAND_EQ("${what?${what?${what?${what?${what?${what?${what?${what?"
		  "${what?${what?${what?${what?x}}}}}}}}}}}}",
		  "ERROR");
	EXPAND_EQ("${what?${what?${what?x}}}", "x");
}

/* ---- Restrictions. */

static int is_local(void *ctx, const char *address, struct error *err)
{
	const char *at = strrchr(address, '@');

	(void)ctx;
	(void)err;
	return at != NULL && strcmp(at + 1, "example.com") == 0;
}

static struct smtpd_restrict_input input(void)
{
	return restrict_input(is_local);
}

static char *check(const struct smtpd_restrict *r, unsigned stages,
		   const struct smtpd_restrict_input *in)
{
	return restrict_reply(r, stages, in, NULL);
}

#define RCPT SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT)
#define DATA SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_DATA)

#define CHECK_EQ(r, stages, in, want)                                          \
	do {                                                                   \
		char *got_ = check(r, stages, in);                             \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void test_parse(void **state)
{
	char *msg;

	(void)state;
	msg = make_fails("smtpd_recipient_restrictions = reject_rbl_client "
			 "zen.example=127.0.0.[2..1], reject\n");
	assert_non_null(strstr(msg, "bad reply pattern"));
	free(msg);
	msg = make_fails("smtpd_recipient_restrictions = reject\n"
			 "default_rbl_reply = $rbl_code blocked by $nosuch\n");
	assert_non_null(strstr(msg, "default_rbl_reply"));
	free(msg);
	msg = make_fails("smtpd_recipient_restrictions = reject\n"
			 "plaintext_reject_code = 250\n");
	assert_non_null(strstr(msg, "plaintext_reject_code"));
	free(msg);
	msg = make_fails("smtpd_recipient_restrictions = reject, "
			 "check_sender_mx_access\n");
	assert_non_null(strstr(msg, "needs an argument"));
	free(msg);
	/* Every new word parses (the DNS ones need no resolver to parse). */
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = "
		 "check_client_a_access inline:{x=DUNNO}, "
		 "check_client_mx_access inline:{x=DUNNO}, "
		 "check_client_ns_access inline:{x=DUNNO}, "
		 "check_reverse_client_hostname_access inline:{x=DUNNO}, "
		 "check_reverse_client_hostname_a_access inline:{x=DUNNO}, "
		 "check_reverse_client_hostname_mx_access inline:{x=DUNNO}, "
		 "check_reverse_client_hostname_ns_access inline:{x=DUNNO}, "
		 "check_helo_a_access inline:{x=DUNNO}, "
		 "check_helo_mx_access inline:{x=DUNNO}, "
		 "check_helo_ns_access inline:{x=DUNNO}, "
		 "check_sender_a_access inline:{x=DUNNO}, "
		 "check_sender_mx_access inline:{x=DUNNO}, "
		 "check_sender_ns_access inline:{x=DUNNO}, "
		 "check_recipient_a_access inline:{x=DUNNO}, "
		 "check_recipient_mx_access inline:{x=DUNNO}, "
		 "check_recipient_ns_access inline:{x=DUNNO}, "
		 "check_sasl_access inline:{x=DUNNO}, "
		 "permit_dnswl_client wl.example=127.0.[0..15].[2;4], "
		 "permit_rhswl_client wl.example, "
		 "reject_rhsbl_reverse_client bl.example, "
		 "reject_rhsbl_recipient bl.example=127.0.0.2, "
		 "reject_unknown_reverse_client_hostname, "
		 "reject_plaintext_session, reject_multi_recipient_bounce, "
		 "defer_unauth_destination, reject\n"
		 "rbl_reply_maps = inline:{bl.example=$rbl_code x}\n");
	assert_true(smtpd_restrict_uses_dns(r));
	smtpd_restrict_free(&r);
}

static void test_plaintext(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = reject_plaintext_session, "
		 "permit_auth_destination, reject\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	CHECK_EQ(r, RCPT, &in, "450 4.7.1 Session encryption is required");
	in.tls = true;
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
	r = make("smtpd_recipient_restrictions = reject_plaintext_session, "
		 "permit_auth_destination, reject\n"
		 "plaintext_reject_code = 554\n");
	in.tls = false;
	CHECK_EQ(r, RCPT, &in, "554 5.7.1 Session encryption is required");
	smtpd_restrict_free(&r);
}

static void test_multi_recipient_bounce(void **state)
{
	struct smtpd_restrict *r = make(
	    "smtpd_recipient_restrictions = reject_multi_recipient_bounce, "
	    "permit_auth_destination, reject\n"
	    "smtpd_data_restrictions = reject_multi_recipient_bounce\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	in.sender = "";
	CHECK_EQ(r, RCPT, &in, "");
	in.rcpt_count = 1;
	CHECK_EQ(r, RCPT, &in,
		 "550 5.5.3 <alice@example.com>: Recipient address rejected: "
		 "Multi-recipient bounce");
	in.sender = "someone@client.example";
	CHECK_EQ(r, RCPT, &in, "");
	/* DATA: more than one recipient. */
	in.sender = "";
	in.recipient = NULL;
	CHECK_EQ(r, DATA, &in, "");
	in.rcpt_count = 2;
	CHECK_EQ(r, DATA, &in,
		 "550 5.5.3 <DATA>: Data command rejected: Multi-recipient "
		 "bounce");
	smtpd_restrict_free(&r);
}

static void test_defer_unauth_destination(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = defer_unauth_destination, "
		 "permit\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	CHECK_EQ(r, RCPT, &in, "");
	in.recipient = "bob@elsewhere.example";
	CHECK_EQ(r, RCPT, &in,
		 "454 4.7.1 <bob@elsewhere.example>: Relay access denied");
	smtpd_restrict_free(&r);
}

static void test_sasl_access(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = check_sasl_access "
		 "inline:{ {bad@example.com=REJECT compromised}, "
		 "good@example.com=OK }, reject\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	/* Not logged in: nothing to look up. */
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <alice@example.com>: Recipient address rejected: "
		 "Access denied");
	in.sasl_user = "bad@example.com";
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <bad@example.com>: SASL login name rejected: "
		 "compromised");
	in.sasl_user = "good@example.com";
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
}

static void test_reverse_client_access(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = "
		 "check_reverse_client_hostname_access "
		 "inline:{ {192.0.2=REJECT net}, 198.51.100.1=OK }, permit\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	/* No resolver: the reverse name is "unknown"; the address and its
	 * networks are looked up. */
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <unknown>: Unverified Client host rejected: net");
	/* OK is not allowed (Postfix's forbid_allowlist). */
	in.client_addr = "198.51.100.1";
	CHECK_EQ(r, RCPT, &in, "451 4.3.5 Server configuration error");
	in.client_addr = "203.0.113.1";
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
}

static void test_server_access_literal(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = "
		 "check_sender_mx_access inline:{ {192.0.2=REJECT mx net} }, "
		 "check_sender_ns_access inline:{ {198.51.100.1=REJECT ns} }, "
		 "permit\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	/* An address literal is its own MX (and has no NS); no DNS. */
	in.sender = "x@[192.0.2.5]";
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <x@[192.0.2.5]>: Sender address rejected: mx net");
	in.sender = "x@[198.51.100.1]";
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
}

/* access(5) "restriction...": a table result that is a list. */
static void test_table_result_list(void **state)
{
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = check_client_access "
		 "inline:{ {192.0.2.10=permit_auth_destination, reject}, "
		 "{192.0.2.11=reject_non_fqdn_sender permit} }, permit\n");
	struct smtpd_restrict_input in = input();

	(void)state;
	/* The nested list permits a local recipient ... */
	CHECK_EQ(r, RCPT, &in, "");
	/* ... and its reject refuses another; without the list's words
	 * (a class name or 451 before) both would differ. */
	in.recipient = "bob@elsewhere.example";
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <bob@elsewhere.example>: Recipient address "
		 "rejected: Access denied");
	in.client_addr = "192.0.2.11";
	CHECK_EQ(r, RCPT, &in, "");
	in.sender = "someone";
	CHECK_EQ(r, RCPT, &in,
		 "504 5.5.2 <someone>: Sender address rejected: need "
		 "fully-qualified address");
	/* Not in the table: the outer list goes on. */
	in.client_addr = "192.0.2.12";
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
}

/* Postfix's rules for such lists: 451 4.3.5 Server configuration error. */
static void test_table_result_list_errors(void **state)
{
	struct smtpd_restrict *r = make(
	    "smtpd_restriction_classes = loop\n"
	    "loop = check_client_access inline:{ "
	    "{192.0.2.13=permit_mynetworks, loop} }\n"
	    "smtpd_recipient_restrictions = check_client_access inline:{ "
	    "{192.0.2.10=check_sender_access texthash:/nonexistent}, "
	    "{192.0.2.11=permit_mynetworks, no_such_restriction}, "
	    "{192.0.2.12=reject_rbl_client zen.example}, "
	    "{192.0.2.13=permit_mynetworks, loop}, "
	    "{192.0.2.14=check_helo_access}, "
	    "{192.0.2.15=check_greylist} }, "
	    "check_sender_mx_access inline:{ {192.0.2=permit_auth_destination} "
	    "}, permit\n");
	struct smtpd_restrict_input in = input();
	static const char *const bad[] = {
	    "192.0.2.10", /* a lookup table inside a table */
	    "192.0.2.11", /* an unknown word */
	    "192.0.2.12", /* DNS without a resolver */
	    "192.0.2.13", /* a class and a list naming each other */
	    "192.0.2.14", /* a missing argument */
	    "192.0.2.15", /* check_greylist not set up at start-up */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.client_addr = bad[i];
		CHECK_EQ(r, RCPT, &in, "451 4.3.5 Server configuration error");
	}
	/* A list from a check_*_mx_access table may not permit either
	 * (Postfix's forbid_allowlist). */
	in.client_addr = "198.51.100.1";
	in.sender = "x@[192.0.2.5]";
	CHECK_EQ(r, RCPT, &in, "451 4.3.5 Server configuration error");
	in.sender = "x@[198.51.100.5]";
	CHECK_EQ(r, RCPT, &in, "");
	smtpd_restrict_free(&r);
}

static void test_tempfail_action_parse(void **state)
{
	char *msg;

	(void)state;
	msg = make_fails("smtpd_recipient_restrictions = reject\n"
			 "unknown_helo_hostname_tempfail_action = dunno\n");
	assert_non_null(strstr(msg, "unknown_helo_hostname_tempfail_action"));
	free(msg);
	msg = make_fails("smtpd_recipient_restrictions = reject\n"
			 "reject_tempfail_action = maybe\n");
	assert_non_null(strstr(msg, "reject_tempfail_action"));
	free(msg);
	struct smtpd_restrict *r =
	    make("smtpd_recipient_restrictions = reject\n"
		 "reject_tempfail_action = defer\n"
		 "unknown_client_hostname_tempfail_action = defer_if_permit\n");
	smtpd_restrict_free(&r);
}

/* The *_tempfail_action settings with DNS that fails: the forwarder is
 * a loopback socket of this test that answers every query SERVFAIL.
 * defer answers 450 at once, so a later reject does not get to say 554;
 * defer_if_permit (the default) lets the reject win and defers only a
 * check that would otherwise permit. */
static int servfail_fd = -1;

static void *servfail_loop(void *arg)
{
	unsigned char q[512];

	(void)arg;
	for (;;) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(servfail_fd, q, sizeof(q), 0,
				     (struct sockaddr *)&from, &len);
		if (n < 12)
			continue;
		q[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, RD */
		q[3] = 0x82;				      /* RA, SERVFAIL */
		memset(q + 6, 0, 6); /* no answer, authority, additional */
		sendto(servfail_fd, q, (size_t)n, 0, (struct sockaddr *)&from,
		       len);
	}
	return NULL;
}

static struct dns_resolver *dead_resolver(void)
{
	static pthread_t thread;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct error err;
	char cf[200];

	if (servfail_fd < 0) {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		servfail_fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(servfail_fd >= 0);
		assert_int_equal(
		    bind(servfail_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(
		    pthread_create(&thread, NULL, servfail_loop, NULL), 0);
		pthread_detach(thread);
	}
	assert_int_equal(
	    getsockname(servfail_fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(cf, sizeof(cf),
		 "dns_servers = 127.0.0.1@%u\ndns_dnssec = no\n"
		 "dns_timeout = 5s\n",
		 ntohs(sin.sin_port));
	struct conf *conf = load(cf, &err);
	struct dns_resolver *dns;

	assert_non_null(conf);
	dns = dns_resolver_new(NULL, conf, &err);
	if (dns == NULL)
		fail_msg("dns: %s", err.msg);
	conf_free(&conf);
	return dns;
}

static void tempfail_case(const char *restriction, const char *setting,
			  const char *deferred)
{
	struct dns_resolver *dns = dead_resolver();
	struct smtpd_restrict_input in = input();
	char cf[512];
	struct smtpd_restrict *r;

	/* 198.18.0.1: libunbound does not answer its reverse zone itself. */
	in.dns = dns;
	in.client_addr = "198.18.0.1";
	in.client_name = NULL;
	snprintf(cf, sizeof(cf),
		 "smtpd_recipient_restrictions = %s, reject\n"
		 "smtpd_relay_restrictions = %s, permit_auth_destination, "
		 "reject\n",
		 restriction, restriction);
	/* defer_if_permit: the final reject of the recipient list wins ... */
	r = make(cf);
	CHECK_EQ(r, RCPT, &in,
		 "554 5.7.1 <alice@example.com>: Recipient address rejected: "
		 "Access denied");
	/* ... and the relay list alone would permit: deferred at the end. */
	CHECK_EQ(r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RELAY), &in, deferred);
	smtpd_restrict_free(&r);
	/* defer: 450 at once, in both. */
	snprintf(cf + strlen(cf), sizeof(cf) - strlen(cf), "%s = defer\n",
		 setting);
	r = make(cf);
	CHECK_EQ(r, RCPT, &in, deferred);
	CHECK_EQ(r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RELAY), &in, deferred);
	smtpd_restrict_free(&r);
	/* reject_tempfail_action is the others' default. */
	snprintf(cf, sizeof(cf),
		 "smtpd_recipient_restrictions = %s, reject\n"
		 "reject_tempfail_action = defer\n",
		 restriction);
	r = make(cf);
	CHECK_EQ(r, RCPT, &in, deferred);
	smtpd_restrict_free(&r);
	dns_resolver_free(&dns);
}

static void test_tempfail_actions(void **state)
{
	(void)state;
	tempfail_case("reject_unknown_sender_domain",
		      "unknown_address_tempfail_action",
		      "450 4.1.8 <someone@client.example>: Sender address "
		      "rejected: Domain not found");
	tempfail_case("reject_unknown_helo_hostname",
		      "unknown_helo_hostname_tempfail_action",
		      "450 4.7.1 <mail.client.example>: Helo command "
		      "rejected: Host not found");
	tempfail_case("reject_unknown_client_hostname",
		      "unknown_client_hostname_tempfail_action",
		      "450 4.7.25 Client host rejected: cannot find your "
		      "hostname, [198.18.0.1]");
	tempfail_case("reject_unknown_reverse_client_hostname",
		      "unknown_client_hostname_tempfail_action",
		      "450 4.7.1 Client host rejected: cannot find your "
		      "reverse hostname, [198.18.0.1]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_plaintext),
	    cmocka_unit_test(test_multi_recipient_bounce),
	    cmocka_unit_test(test_defer_unauth_destination),
	    cmocka_unit_test(test_sasl_access),
	    cmocka_unit_test(test_reverse_client_access),
	    cmocka_unit_test(test_server_access_literal),
	    cmocka_unit_test(test_table_result_list),
	    cmocka_unit_test(test_table_result_list_errors),
	    cmocka_unit_test(test_tempfail_action_parse),
	    cmocka_unit_test(test_tempfail_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
