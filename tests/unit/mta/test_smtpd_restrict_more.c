/*
 * test_smtpd_restrict_more - the Postfix restrictions added after the
 * first set (mta/smtpd-restrict.c, smtpd-access-server.c,
 * smtpd-rbl-reply.c) that need no DNS: the RBL reply template syntax,
 * reply pattern and template errors at start-up,
 * reject_plaintext_session, reject_multi_recipient_bounce,
 * defer_unauth_destination, check_sasl_access and
 * check_reverse_client_hostname_access without a resolver.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/xmalloc.h"
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

static struct conf *load(const char *text, struct error *err)
{
	return conf_load_mem("/nonexistent", "main.cf", text, strlen(text),
			     NULL, 0, err);
}

static struct smtpd_restrict *make(const char *text)
{
	struct error err;
	struct conf *conf = load(text, &err);
	struct smtpd_restrict *r;

	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	r = smtpd_restrict_new(conf, NULL, &err);
	if (r == NULL)
		fail_msg("restrict: %s", err.msg);
	conf_free(&conf);
	return r;
}

static char *make_fails(const char *text)
{
	struct error err;
	struct conf *conf = load(text, &err);
	struct smtpd_restrict *r;

	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	r = smtpd_restrict_new(conf, NULL, &err);
	conf_free(&conf);
	assert_null(r);
	assert_int_equal(err.kind, ERR_CONFIG);
	return xstrdup(err.msg);
}

static int is_local(void *ctx, const char *address, struct error *err)
{
	const char *at = strrchr(address, '@');

	(void)ctx;
	(void)err;
	return at != NULL && strcmp(at + 1, "example.com") == 0;
}

static struct smtpd_restrict_input input(void)
{
	return (struct smtpd_restrict_input){
	    .client_addr = "192.0.2.10",
	    .client_name = "unknown",
	    .helo = "mail.client.example",
	    .sender = "someone@client.example",
	    .recipient = "alice@example.com",
	    .delimiters = "+",
	    .is_local = is_local,
	    .esmtp = true,
	    .log_id = "TEST",
	};
}

static char *check(const struct smtpd_restrict *r, unsigned stages,
		   const struct smtpd_restrict_input *in)
{
	struct smtpd_verdict v;
	int ret = smtpd_restrict_check(r, stages, in, &v);
	char *out = ret < 0 ? xasprintf("%u %s %s", v.reply.code,
					v.reply.enhanced, v.reply.text)
			    : xstrdup("");

	smtpd_verdict_clear(&v);
	return out;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
