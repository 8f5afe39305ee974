/*
 * test_smtpd_restrict - the restriction lists (mta/smtpd-restrict.c,
 * smtpd-access.c): parsing errors, Postfix's evaluation rules (permit,
 * reject, defer, warn_if_reject, defer_if_permit, defer_if_reject, end of
 * list, relay and recipient lists), the restrictions without DNS, and
 * access maps: the keys looked up in order and every action; the
 * *_sender_login_mismatch and reject_unlisted_* restrictions and the
 * submission services' login check.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "restrict_test.h"
#include "smtpd-restrict.h"

/* example.com and anything @example.com is ours. */
static int is_local(void *ctx, const char *address, struct error *err)
{
	const char *at = strrchr(address, '@');

	(void)ctx;
	if (at != NULL && strcmp(at + 1, "tempfail.example") == 0)
		return error_set(err, ERR_TEMP, "database down");
	return at != NULL && strcmp(at + 1, "example.com") == 0;
}

static struct smtpd_restrict_input input(void)
{
	return restrict_input(is_local);
}

#define ALL_RCPT                                                               \
	(SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_CLIENT) |                           \
	 SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_HELO) |                             \
	 SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_SENDER) |                           \
	 SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RELAY) |                            \
	 SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT))

/* Run the RCPT check; "" if permitted, else "code dsn text". */
static char *check(const struct smtpd_restrict *r,
		   const struct smtpd_restrict_input *in,
		   struct smtpd_verdict *v_r)
{
	struct smtpd_verdict v;
	char *out = restrict_reply(r, ALL_RCPT, in, &v);

	assert_int_equal(out[0] != '\0', v.rejected);
	if (v_r != NULL)
		*v_r = v;
	else
		smtpd_verdict_clear(&v);
	return out;
}

#define CHECK_EQ(r, in, want)                                                  \
	do {                                                                   \
		char *got_ = check(r, in, NULL);                               \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void test_parse_errors(void **state)
{
	char *msg;

	(void)state;
	msg = make_fails("smtpd_recipient_restrictions = permit_mynetworks, "
			 "reject_bogus\n");
	assert_non_null(strstr(msg, "smtpd_recipient_restrictions"));
	assert_non_null(strstr(msg, "reject_bogus"));
	free(msg);
	msg = make_fails("smtpd_sender_restrictions = check_sender_access\n");
	assert_non_null(strstr(msg, "check_sender_access needs an argument"));
	free(msg);
	msg = make_fails("smtpd_helo_restrictions = check_helo_access "
			 "nosuchtype:x\n");
	assert_non_null(strstr(msg, "smtpd_helo_restrictions"));
	free(msg);
	/* An open relay is refused, as Postfix. */
	msg = make_fails("smtpd_relay_restrictions = permit_mynetworks\n");
	assert_non_null(strstr(msg, "reject_unauth_destination"));
	free(msg);
	msg = make_fails("smtpd_restriction_classes = nosuch\n");
	assert_non_null(strstr(msg, "nosuch"));
	free(msg);
	msg = make_fails("reject_code = 250\n");
	assert_non_null(strstr(msg, "reject_code"));
	free(msg);
}

static void test_default_relay(void **state)
{
	struct smtpd_restrict *r = make("");
	struct smtpd_restrict_input in = input();

	(void)state;
	assert_true(smtpd_restrict_delay_reject(r));
	assert_false(smtpd_restrict_uses_dns(r));
	CHECK_EQ(r, &in, "");
	in.recipient = "bob@elsewhere.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <bob@elsewhere.example>: Relay access denied");
	in.in_mynetworks = true;
	CHECK_EQ(r, &in, "");
	in.in_mynetworks = false;
	in.sasl_user = "alice";
	CHECK_EQ(r, &in, "");
	in.sasl_user = NULL;
	in.recipient = "x@tempfail.example";
	CHECK_EQ(r, &in,
		 "451 4.3.0 <x@tempfail.example>: Temporary lookup "
		 "failure");
	smtpd_restrict_free(&r);
}

static void test_generic(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();

	(void)state;
	r = make("smtpd_client_restrictions = reject\n");
	CHECK_EQ(r, &in,
		 "554 5.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: Access denied");
	smtpd_restrict_free(&r);
	/* permit ends its list only: the next list still runs. */
	r = make("smtpd_client_restrictions = permit, reject\n"
		 "smtpd_sender_restrictions = defer\n");
	CHECK_EQ(r, &in,
		 "450 4.3.2 <someone@client.example>: Sender "
		 "address rejected: Try again later");
	smtpd_restrict_free(&r);
	/* reject_code and a relay list that permits before the recipient
	 * list rejects: both must permit. */
	r = make(
	    "reject_code = 550\n"
	    "smtpd_relay_restrictions = permit, reject_unauth_destination\n"
	    "smtpd_recipient_restrictions = reject\n");
	CHECK_EQ(r, &in,
		 "550 5.7.1 <alice@example.com>: Recipient address "
		 "rejected: Access denied");
	smtpd_restrict_free(&r);
	/* warn_if_reject: only a log line, the next one still rejects. */
	r = make("smtpd_helo_restrictions = warn_if_reject, reject, defer\n");
	CHECK_EQ(r, &in,
		 "450 4.3.2 <mail.client.example>: Helo command "
		 "rejected: Try again later");
	smtpd_restrict_free(&r);
	r = make("smtpd_helo_restrictions = warn_if_reject, reject\n");
	CHECK_EQ(r, &in, "");
	smtpd_restrict_free(&r);
	/* defer_if_permit: a later permit defers; a reject stays. */
	r = make("smtpd_client_restrictions = defer_if_permit, permit\n");
	CHECK_EQ(r, &in,
		 "450 4.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: defer_if_permit requested");
	smtpd_restrict_free(&r);
	r = make("smtpd_client_restrictions = defer_if_permit, reject\n");
	CHECK_EQ(r, &in,
		 "554 5.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: Access denied");
	smtpd_restrict_free(&r);
	/* defer_if_reject: a later reject becomes 450. */
	r = make("smtpd_client_restrictions = defer_if_reject, reject\n");
	CHECK_EQ(r, &in,
		 "450 4.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: Access denied");
	smtpd_restrict_free(&r);
	/* permit_auth_destination before reject. */
	r = make("smtpd_recipient_restrictions = permit_auth_destination, "
		 "reject\n");
	CHECK_EQ(r, &in, "");
	in.recipient = "x@other.example";
	in.in_mynetworks = true;
	CHECK_EQ(r, &in,
		 "554 5.7.1 <x@other.example>: Recipient address "
		 "rejected: Access denied");
	smtpd_restrict_free(&r);
}

static void test_syntax_checks(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();

	(void)state;
	r = make("smtpd_helo_restrictions = reject_invalid_helo_hostname, "
		 "reject_non_fqdn_helo_hostname\n"
		 "smtpd_sender_restrictions = reject_non_fqdn_sender\n"
		 "smtpd_recipient_restrictions = reject_non_fqdn_recipient\n");
	CHECK_EQ(r, &in, "");
	in.helo = "bad?name";
	CHECK_EQ(r, &in,
		 "501 5.5.2 <bad?name>: Helo command rejected: "
		 "Invalid name");
	in.helo = "1.2.3.4";
	CHECK_EQ(r, &in,
		 "501 5.5.2 <1.2.3.4>: Helo command rejected: "
		 "Invalid name");
	in.helo = "-a.example";
	CHECK_EQ(r, &in,
		 "501 5.5.2 <-a.example>: Helo command rejected: "
		 "Invalid name");
	in.helo = "[192.0.2.10]";
	CHECK_EQ(r, &in, "");
	in.helo = "localhost";
	CHECK_EQ(r, &in,
		 "504 5.5.2 <localhost>: Helo command rejected: "
		 "need fully-qualified hostname");
	in.helo = "ok.example";
	in.sender = "someone@localhost";
	CHECK_EQ(r, &in,
		 "504 5.5.2 <someone@localhost>: Sender address "
		 "rejected: need fully-qualified address");
	in.sender = ""; /* <> is fine */
	CHECK_EQ(r, &in, "");
	in.in_mynetworks = true;
	in.recipient = "bob@mailhost";
	CHECK_EQ(r, &in,
		 "504 5.5.2 <bob@mailhost>: Recipient address "
		 "rejected: need fully-qualified address");
	smtpd_restrict_free(&r);

	r = make("smtpd_data_restrictions = reject_unauth_pipelining\n");
	in = input();
	struct smtpd_verdict v;
	assert_int_equal(
	    smtpd_restrict_check(r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_DATA),
				 &in, &v),
	    0);
	in.pipelined = true;
	assert_int_equal(
	    smtpd_restrict_check(r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_DATA),
				 &in, &v),
	    -1);
	assert_int_equal(v.reply.code, 503);
	assert_string_equal(v.reply.text, "<DATA>: Data command rejected: "
					  "Improper use of SMTP command "
					  "pipelining");
	smtpd_verdict_clear(&v);
	smtpd_restrict_free(&r);
}

static void test_access_keys(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();

	(void)state;
	/* Address order: user+ext@domain, user@domain, domain, parents,
	 * user@. */
	r = make("smtpd_sender_restrictions = check_sender_access "
		 "inline:{ {exact+x@a.example=REJECT exact+x}, "
		 "{bare@a.example=REJECT bare}, "
		 "sub.b.example=DUNNO, {b.example=REJECT parent}, "
		 "{c.example=REJECT domain}, {postmaster@=REJECT local}, "
		 "{<>=REJECT null} }\n");
	in.sender = "exact+x@a.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <exact+x@a.example>: Sender address "
		 "rejected: exact+x");
	in.sender = "bare+y@a.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <bare+y@a.example>: Sender address "
		 "rejected: bare");
	in.sender = "u@deep.x.b.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <u@deep.x.b.example>: Sender address "
		 "rejected: parent");
	/* DUNNO stops the search at sub.b.example. */
	in.sender = "u@sub.b.example";
	CHECK_EQ(r, &in, "");
	in.sender = "u@C.Example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <u@C.Example>: Sender address rejected: "
		 "domain");
	in.sender = "postmaster@anywhere.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <postmaster@anywhere.example>: Sender "
		 "address rejected: local");
	in.sender = "";
	CHECK_EQ(r, &in, "554 5.7.1 <>: Sender address rejected: null");
	smtpd_restrict_free(&r);

	/* Client: name, then address and its prefixes. */
	r = make("smtpd_client_restrictions = check_client_access "
		 "inline:{ {192.0.2=REJECT net}, 198.51.100.7=OK, "
		 "{bad.example=REJECT name}, {2001:db8:1=REJECT six} }, "
		 "reject\n");
	in = input();
	CHECK_EQ(r, &in,
		 "554 5.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: net");
	in.client_addr = "198.51.100.7";
	CHECK_EQ(r, &in, "");
	in.client_addr = "198.51.100.8";
	in.client_name = "host.bad.example";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <host.bad.example[198.51.100.8]>: "
		 "Client host rejected: name");
	in.client_name = "unknown";
	in.client_addr = "2001:db8:1:2::5";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <unknown[2001:db8:1:2::5]>: Client host "
		 "rejected: six");
	smtpd_restrict_free(&r);

	/* HELO: the name and parents. */
	r = make("smtpd_helo_restrictions = check_helo_access "
		 "inline:{ {client.example=REJECT you} }\n");
	in = input();
	CHECK_EQ(r, &in,
		 "554 5.7.1 <mail.client.example>: Helo command "
		 "rejected: you");
	smtpd_restrict_free(&r);
}

static void test_access_cidr(void **state)
{
	char path[] = "/tmp/test_restrict_XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "192.0.2.0/24 REJECT cidr says no\n";
	char *cf;
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)(sizeof(text) - 1));
	close(fd);
	cf = xasprintf("smtpd_client_restrictions = check_client_access "
		       "cidr:%s\n",
		       path);
	r = make(cf);
	CHECK_EQ(r, &in,
		 "554 5.7.1 <unknown[192.0.2.10]>: Client host "
		 "rejected: cidr says no");
	in.client_addr = "198.51.100.1";
	CHECK_EQ(r, &in, "");
	smtpd_restrict_free(&r);
	free(cf);
	unlink(path);

	/* pcre: the whole address, once (no domain or user@ keys). */
	char ppath[] = "/tmp/test_restrict_XXXXXX";
	const char ptext[] = "/^spam@/ REJECT pcre says no\n"
			     "/^example\\.org$/ REJECT domain key\n";
	fd = mkstemp(ppath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ptext, sizeof(ptext) - 1),
			 (ssize_t)(sizeof(ptext) - 1));
	close(fd);
	cf = xasprintf("smtpd_sender_restrictions = check_sender_access "
		       "pcre:%s\n",
		       ppath);
	r = make(cf);
	in = input();
	in.sender = "spam@anywhere.example";
	CHECK_EQ(r, &in, "554 5.7.1 <spam@anywhere.example>: Sender address "
			 "rejected: pcre says no");
	in.sender = "ham@example.org";
	CHECK_EQ(r, &in, "");
	smtpd_restrict_free(&r);
	free(cf);
	unlink(ppath);
}

/* *_sender_login_mismatch: alice@example.com is alice's; info@ is
 * alice's and bob's; nobody owns anything else; tempfail.example fails. */
static int owners(void *ctx, const char *address, struct array *owners_r,
		  struct error *err)
{
	(void)ctx;
	if (strstr(address, "@tempfail.example") != NULL)
		return error_set(err, ERR_TEMP, "database down");
	if (strcmp(address, "alice@example.com") == 0)
		array_push(owners_r, xstrdup("alice@example.com"));
	if (strcmp(address, "info@example.com") == 0) {
		array_push(owners_r, xstrdup("bob@example.com"));
		array_push(owners_r, xstrdup("Alice@Example.com"));
	}
	return 0;
}

static void test_login_mismatch(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();
	const char *tail = "\nsmtpd_relay_restrictions = "
			   "reject_unauth_destination\n";
	char conf[512];

	(void)state;
	in.sender_owners = owners;
	snprintf(conf, sizeof(conf),
		 "smtpd_sender_restrictions = reject_sender_login_mismatch%s",
		 tail);
	r = make(conf);
	in.sender = "alice@example.com";
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not logged in");
	in.sasl_user = "bob@example.com";
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not owned by user bob@example.com");
	in.sender = "info@example.com";
	CHECK_EQ(r, &in, "");
	in.sasl_user = "alice@example.com"; /* case does not matter */
	CHECK_EQ(r, &in, "");
	in.sender = "x@elsewhere.example"; /* no owner: a login is refused */
	CHECK_EQ(r, &in, "553 5.7.1 <x@elsewhere.example>: Sender address "
			 "rejected: not owned by user alice@example.com");
	in.sasl_user = NULL;
	CHECK_EQ(r, &in, "");
	in.sender = ""; /* <> is never checked */
	in.sasl_user = "bob@example.com";
	CHECK_EQ(r, &in, "");
	in.sender = "a@tempfail.example";
	CHECK_EQ(r, &in, "451 4.3.0 <a@tempfail.example>: Sender address "
			 "rejected: Temporary lookup failure");
	smtpd_restrict_free(&r);

	snprintf(conf, sizeof(conf),
		 "smtpd_sender_restrictions = "
		 "reject_known_sender_login_mismatch%s",
		 tail);
	r = make(conf);
	in.sender = "x@elsewhere.example";
	CHECK_EQ(r, &in, "");
	in.sender = "alice@example.com";
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not owned by user bob@example.com");
	smtpd_restrict_free(&r);

	snprintf(conf, sizeof(conf),
		 "smtpd_sender_restrictions = "
		 "reject_unauthenticated_sender_login_mismatch%s",
		 tail);
	r = make(conf);
	CHECK_EQ(r, &in, ""); /* logged in: not its business */
	in.sasl_user = NULL;
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not logged in");
	smtpd_restrict_free(&r);

	snprintf(conf, sizeof(conf),
		 "smtpd_sender_restrictions = "
		 "reject_authenticated_sender_login_mismatch%s",
		 tail);
	r = make(conf);
	CHECK_EQ(r, &in, ""); /* not logged in: not its business */
	in.sasl_user = "bob@example.com";
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not owned by user bob@example.com");
	smtpd_restrict_free(&r);

	/* The submission check, with every list empty of it. */
	r = make(tail);
	CHECK_EQ(r, &in, "");
	in.submission_login_check = true;
	CHECK_EQ(r, &in, "553 5.7.1 <alice@example.com>: Sender address "
			 "rejected: not owned by user bob@example.com");
	in.sasl_user = NULL; /* only logged-in clients */
	CHECK_EQ(r, &in, "");
	smtpd_restrict_free(&r);
}

/* reject_unlisted_*: hosted (is_local) but not resolvable. */
static int verify_known(void *ctx, const char *address,
			struct smtp_reply *reply_r)
{
	(void)ctx;
	if (strncmp(address, "alice@", 6) == 0)
		return 0;
	smtp_reply_set(reply_r, 550, "5.1.1", "<%s>: unknown", address);
	return -1;
}

static void test_unlisted(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();

	(void)state;
	in.verify_local = verify_known;
	r = make("smtpd_sender_restrictions = reject_unlisted_sender\n"
		 "smtpd_recipient_restrictions = reject_unlisted_recipient, "
		 "reject_unauth_destination\n");
	CHECK_EQ(r, &in, ""); /* foreign sender, alice@example.com */
	in.sender = "nobody@example.com";
	CHECK_EQ(r, &in, "550 5.1.0 <nobody@example.com>: Sender address "
			 "rejected: User unknown in virtual mailbox table");
	in.sender = "";
	in.recipient = "nobody@example.com";
	CHECK_EQ(r, &in, "550 5.1.1 <nobody@example.com>: Recipient address "
			 "rejected: User unknown in virtual mailbox table");
	in.recipient = "alice@example.com";
	in.sender = "x@tempfail.example";
	CHECK_EQ(r, &in, "451 4.3.0 <x@tempfail.example>: Sender address "
			 "rejected: Temporary lookup failure");
	smtpd_restrict_free(&r);
}

static void test_access_actions(void **state)
{
	struct smtpd_restrict *r;
	struct smtpd_restrict_input in = input();
	struct smtpd_verdict v;
	char *got;

	(void)state;
	r = make("smtpd_restriction_classes = strict\n"
		 "strict = reject_non_fqdn_helo_hostname, permit\n"
		 "smtpd_recipient_restrictions = check_recipient_access "
		 "inline:{ ok@example.com=OK, num@example.com=1234, "
		 "rej@example.com=REJECT, "
		 "{text@example.com=REJECT 5.7.9 go away}, "
		 "def@example.com=DEFER, {deftxt@example.com=DEFER later}, "
		 "{c450@example.com=450 busy}, "
		 "{c550@example.com=550 5.1.1 no such user}, "
		 "dunno@example.com=DUNNO, cls@example.com=strict, "
		 "{warn@example.com=WARN look}, hold@example.com=HOLD, "
		 "discard@example.com=DISCARD, "
		 "{filter@example.com=FILTER smtp:[127.0.0.1]:10025}, "
		 "{redirect@example.com=REDIRECT x@example.com}, "
		 "{prepend@example.com=PREPEND X-Tag: yes}, "
		 "bogus@example.com=FROBNICATE "
		 "}, reject\n");
	in.recipient = "ok@example.com";
	CHECK_EQ(r, &in, "");
	in.recipient = "num@example.com";
	CHECK_EQ(r, &in, "");
	in.recipient = "rej@example.com";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <rej@example.com>: Recipient address "
		 "rejected: Access denied");
	in.recipient = "text@example.com";
	CHECK_EQ(r, &in,
		 "554 5.7.9 <text@example.com>: Recipient address "
		 "rejected: go away");
	in.recipient = "def@example.com";
	CHECK_EQ(r, &in,
		 "450 4.7.1 <def@example.com>: Recipient address "
		 "rejected: Access denied");
	in.recipient = "deftxt@example.com";
	CHECK_EQ(r, &in,
		 "450 4.7.1 <deftxt@example.com>: Recipient address "
		 "rejected: later");
	in.recipient = "c450@example.com";
	CHECK_EQ(r, &in, "450 4.7.1 busy");
	in.recipient = "c550@example.com";
	CHECK_EQ(r, &in, "550 5.1.1 no such user");
	/* DUNNO, WARN, HOLD, FILTER, REDIRECT, PREPEND go on to reject. */
	in.recipient = "dunno@example.com";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <dunno@example.com>: Recipient address "
		 "rejected: Access denied");
	in.recipient = "warn@example.com";
	CHECK_EQ(r, &in,
		 "554 5.7.1 <warn@example.com>: Recipient address "
		 "rejected: Access denied");
	in.recipient = "hold@example.com";
	got = check(r, &in, &v);
	assert_true(v.hold);
	assert_true(v.rejected);
	smtpd_verdict_clear(&v);
	free(got);
	in.recipient = "filter@example.com";
	got = check(r, &in, &v);
	assert_string_equal(v.filter, "smtp:[127.0.0.1]:10025");
	smtpd_verdict_clear(&v);
	free(got);
	in.recipient = "redirect@example.com";
	got = check(r, &in, &v);
	assert_string_equal(v.redirect, "x@example.com");
	smtpd_verdict_clear(&v);
	free(got);
	in.recipient = "prepend@example.com";
	got = check(r, &in, &v);
	assert_string_equal(v.prepend, "X-Tag: yes");
	smtpd_verdict_clear(&v);
	free(got);
	/* DISCARD is OK for the rest of the list. */
	in.recipient = "discard@example.com";
	got = check(r, &in, &v);
	assert_string_equal(got, "");
	assert_true(v.discard);
	smtpd_verdict_clear(&v);
	free(got);
	/* A class: its list decides. */
	in.recipient = "cls@example.com";
	CHECK_EQ(r, &in, "");
	in.helo = "shortname";
	CHECK_EQ(r, &in,
		 "504 5.5.2 <shortname>: Helo command rejected: need "
		 "fully-qualified hostname");
	in.recipient = "bogus@example.com";
	CHECK_EQ(r, &in, "451 4.3.5 Server configuration error");
	smtpd_restrict_free(&r);

	/* A class named directly in a list. */
	r = make("smtpd_restriction_classes = nobody\n"
		 "nobody = reject\n"
		 "smtpd_sender_restrictions = nobody\n");
	in = input();
	CHECK_EQ(r, &in,
		 "554 5.7.1 <someone@client.example>: Sender "
		 "address rejected: Access denied");
	smtpd_restrict_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_default_relay),
	    cmocka_unit_test(test_generic),
	    cmocka_unit_test(test_syntax_checks),
	    cmocka_unit_test(test_access_keys),
	    cmocka_unit_test(test_access_cidr),
	    cmocka_unit_test(test_access_actions),
	    cmocka_unit_test(test_login_mismatch),
	    cmocka_unit_test(test_unlisted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
