/*
 * test_smtp_command - command line splitting, MAIL / RCPT with every
 * ESMTP parameter, BDAT, HELO, AUTH and xtext.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_command.h"
#include "smtp/smtp_xtext.h"

#define ALL SMTP_EXT_ALL

static void assert_reply(const struct smtp_reply *r, unsigned int code,
			 const char *enh, const char *text, const char *input)
{
	if (r->code != code || strcmp(r->enhanced, enh) != 0 ||
	    (text != NULL && strstr(r->text, text) == NULL))
		fail_msg("%s: got %u %s %s, want %u %s ...%s...", input,
			 r->code, r->enhanced, r->text, code, enh,
			 text != NULL ? text : "");
}

/* --- smtp_command_parse --- */

struct cmd_case {
	const char *line;
	enum smtp_verb verb;
	const char *args; /* expected args, or NULL when parse fails */
	unsigned int code;
	const char *enh;
};

static const struct cmd_case cmd_cases[] = {
    {"EHLO mx.example.com", SMTP_VERB_EHLO, "mx.example.com", 0, ""},
    {"ehlo mx.example.com", SMTP_VERB_EHLO, "mx.example.com", 0, ""},
    {"HeLo x", SMTP_VERB_HELO, "x", 0, ""},
    {"LHLO host", SMTP_VERB_LHLO, "host", 0, ""},
    {"MAIL FROM:<a@b>", SMTP_VERB_MAIL, "FROM:<a@b>", 0, ""},
    {"mail   FROM:<a@b>  ", SMTP_VERB_MAIL, "FROM:<a@b>", 0, ""},
    {"RCPT TO:<a@b> NOTIFY=NEVER", SMTP_VERB_RCPT, "TO:<a@b> NOTIFY=NEVER", 0,
     ""},
    {"DATA", SMTP_VERB_DATA, "", 0, ""},
    {"data ", SMTP_VERB_DATA, "", 0, ""},
    {"DATA x", SMTP_VERB_DATA, NULL, 501, "5.5.4"},
    {"BDAT 100 LAST", SMTP_VERB_BDAT, "100 LAST", 0, ""},
    {"BDAT", SMTP_VERB_BDAT, NULL, 501, "5.5.4"},
    {"RSET", SMTP_VERB_RSET, "", 0, ""},
    {"RSET now", SMTP_VERB_RSET, NULL, 501, "5.5.4"},
    {"NOOP", SMTP_VERB_NOOP, "", 0, ""},
    {"NOOP anything here", SMTP_VERB_NOOP, "anything here", 0, ""},
    {"QUIT", SMTP_VERB_QUIT, "", 0, ""},
    {"QUIT please", SMTP_VERB_QUIT, NULL, 501, "5.5.4"},
    {"VRFY user", SMTP_VERB_VRFY, "user", 0, ""},
    {"VRFY", SMTP_VERB_VRFY, NULL, 501, "5.5.4"},
    {"EXPN list", SMTP_VERB_EXPN, "list", 0, ""},
    {"HELP", SMTP_VERB_HELP, "", 0, ""},
    {"STARTTLS", SMTP_VERB_STARTTLS, "", 0, ""},
    {"STARTTLS x", SMTP_VERB_STARTTLS, NULL, 501, "5.5.4"},
    {"AUTH PLAIN", SMTP_VERB_AUTH, "PLAIN", 0, ""},
    {"XCLIENT ADDR=1.2.3.4", SMTP_VERB_XCLIENT, "ADDR=1.2.3.4", 0, ""},
    {"HELO", SMTP_VERB_HELO, NULL, 501, "5.5.4"},
    {"MAIL", SMTP_VERB_MAIL, NULL, 501, "5.5.4"},
    {"FOO bar", SMTP_VERB_UNKNOWN, NULL, 502, "5.5.2"},
    {"DATAX", SMTP_VERB_UNKNOWN, NULL, 502, "5.5.2"},
    {"", SMTP_VERB_UNKNOWN, NULL, 500, "5.5.2"},
    {"   ", SMTP_VERB_UNKNOWN, NULL, 500, "5.5.2"},
    {"MAIL FROM:<a@b>\rRCPT TO:<c@d>", SMTP_VERB_UNKNOWN, NULL, 500, "5.5.2"},
    {"NOOP \x01", SMTP_VERB_UNKNOWN, NULL, 500, "5.5.2"},
};

static void test_command_parse(void **state)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_command cmd;
		struct smtp_reply r;
		int ret;

		smtp_reply_clear(&r);
		ret = smtp_command_parse(c->line, strlen(c->line), &cmd, &r);
		if (cmd.verb != c->verb)
			fail_msg("%s: verb %d, want %d", c->line, cmd.verb,
				 c->verb);
		if (c->args != NULL) {
			if (ret != 0)
				fail_msg("%s: failed %u %s", c->line, r.code,
					 r.text);
			if (cmd.args_len != strlen(c->args) ||
			    memcmp(cmd.args, c->args, cmd.args_len) != 0)
				fail_msg("%s: args '%.*s'", c->line,
					 (int)cmd.args_len, cmd.args);
		} else {
			assert_int_equal(ret, -1);
			assert_reply(&r, c->code, c->enh, NULL, c->line);
		}
	}
}

static void test_command_nul_and_length(void **state)
{
	static const char nul[] = "MAIL FROM:<a@b>\0 SIZE=1";
	struct smtp_command cmd;
	struct smtp_reply r;
	char *line;

	assert_int_equal(smtp_command_parse(nul, sizeof(nul) - 1, &cmd, &r),
			 -1);
	assert_reply(&r, 500, "5.5.2", "control", "NUL");

	/* SMTP_COMMAND_LINE_MAX for MAIL, SMTP_AUTH_LINE_MAX for AUTH. */
	line = malloc(SMTP_AUTH_LINE_MAX + 2);
	memset(line, 'A', SMTP_AUTH_LINE_MAX + 1);
	memcpy(line, "NOOP ", 5);
	assert_int_equal(
	    smtp_command_parse(line, SMTP_COMMAND_LINE_MAX, &cmd, &r), 0);
	assert_int_equal(
	    smtp_command_parse(line, SMTP_COMMAND_LINE_MAX + 1, &cmd, &r), -1);
	assert_reply(&r, 500, "5.5.2", "too long", "long NOOP");
	memcpy(line, "AUTH ", 5);
	assert_int_equal(
	    smtp_command_parse(line, SMTP_COMMAND_LINE_MAX + 1, &cmd, &r), 0);
	assert_int_equal(smtp_command_parse(line, SMTP_AUTH_LINE_MAX, &cmd, &r),
			 0);
	assert_int_equal(
	    smtp_command_parse(line, SMTP_AUTH_LINE_MAX + 1, &cmd, &r), -1);
	assert_reply(&r, 500, "5.5.2", "too long", "long AUTH");
	free(line);
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "");
}

/* --- MAIL FROM --- */

struct mail_case {
	const char *args;
	unsigned int ext;
	unsigned long long max_size;
	unsigned int code; /* 0: success */
	const char *enh;
	const char *text;  /* substring of the reply text */
	const char *local; /* on success */
	const char *domain;
};

static const struct mail_case mail_cases[] = {
    {"FROM:<user@example.com>", ALL, 0, 0, "", NULL, "user", "example.com"},
    {"from:<user@EXAMPLE.com>", ALL, 0, 0, "", NULL, "user", "example.com"},
    {"FROM:<>", ALL, 0, 0, "", NULL, "", ""},
    /* Postfix's tolerance: spaces after the colon. */
    {"FROM: <user@example.com>", ALL, 0, 0, "", NULL, "user", "example.com"},
    {"FROM:   <>", ALL, 0, 0, "", NULL, "", ""},
    /* Source route: checked and dropped (RFC 5321 C). */
    {"FROM:<@relay.example,@b.example:user@example.com>", ALL, 0, 0, "", NULL,
     "user", "example.com"},
    {"FROM:<@relay..example:user@example.com>", ALL, 0, 501, "5.1.7",
     "source route", NULL, NULL},
    /* Quoted local parts with @, spaces and >. */
    {"FROM:<\"john doe\"@example.com>", ALL, 0, 0, "", NULL, "john doe",
     "example.com"},
    {"FROM:<\"a@b\"@example.com> SIZE=10", ALL, 0, 0, "", NULL, "a@b",
     "example.com"},
    {"FROM:<\"a>b\"@example.com>", ALL, 0, 0, "", NULL, "a>b", "example.com"},
    {"FROM:<user@[192.0.2.1]>", ALL, 0, 0, "", NULL, "user", "[192.0.2.1]"},
    {"FROM:<user@[IPv6:2001:DB8::1]>", ALL, 0, 0, "", NULL, "user",
     "[IPv6:2001:db8::1]"},
    /* Syntax errors. */
    {"FROM:user@example.com", ALL, 0, 501, "5.1.7", "must start with <", NULL,
     NULL},
    {"FROM:<user@example.com", ALL, 0, 501, "5.1.7", NULL, NULL, NULL},
    {"FROM:<user>", ALL, 0, 501, "5.1.7", "missing @", NULL, NULL},
    {"FROM:<user@example.com>x", ALL, 0, 501, "5.1.7", "after the path", NULL,
     NULL},
    {"TO:<user@example.com>", ALL, 0, 501, "5.5.4", "Syntax: MAIL FROM:", NULL,
     NULL},
    {"FROM <user@example.com>", ALL, 0, 501, "5.5.4", NULL, NULL, NULL},
    {"FROM:<us er@example.com>", ALL, 0, 501, "5.1.7", NULL, NULL, NULL},
    /* UTF-8 needs the SMTPUTF8 parameter and the extension. */
    {"FROM:<j\xc3\xb6rg@example.com> SMTPUTF8", ALL, 0, 0, "", NULL,
     "j\xc3\xb6rg", "example.com"},
    {"FROM:<user@b\xc3\xbc"
     "cher.example> SMTPUTF8",
     ALL, 0, 0, "", NULL, "user", "xn--bcher-kva.example"},
    {"FROM:<j\xc3\xb6rg@example.com>", ALL, 0, 553, "5.6.7", "SMTPUTF8", NULL,
     NULL},
    {"FROM:<j\xc3\xb6rg@example.com> SMTPUTF8", ALL & ~SMTP_EXT_SMTPUTF8, 0,
     553, "5.6.7", "SMTPUTF8", NULL, NULL},
    {"FROM:<a@b.example> SMTPUTF8", ALL & ~SMTP_EXT_SMTPUTF8, 0, 555, "5.5.4",
     "SMTPUTF8", NULL, NULL},
    {"FROM:<a@b.example> SMTPUTF8=yes", ALL, 0, 501, "5.5.4", "no value", NULL,
     NULL},
    {"FROM:<j\xff@example.com> SMTPUTF8", ALL, 0, 501, "5.1.7", NULL, NULL,
     NULL},
    /* SIZE. */
    {"FROM:<a@b.example> SIZE=1000", ALL, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> size=10240000", ALL, 10240000, 0, "", NULL, "a",
     "b.example"},
    {"FROM:<a@b.example> SIZE=10240001", ALL, 10240000, 552, "5.3.4", NULL,
     NULL, NULL},
    {"FROM:<a@b.example> SIZE=99999999999999999999999", ALL, 0, 552, "5.3.4",
     NULL, NULL, NULL},
    {"FROM:<a@b.example> SIZE=12a", ALL, 0, 501, "5.5.4", "SIZE", NULL, NULL},
    {"FROM:<a@b.example> SIZE=-1", ALL, 0, 501, "5.5.4", "SIZE", NULL, NULL},
    {"FROM:<a@b.example> SIZE", ALL, 0, 501, "5.5.4", "needs a value", NULL,
     NULL},
    {"FROM:<a@b.example> SIZE=", ALL, 0, 501, "5.5.4", "syntax", NULL, NULL},
    {"FROM:<a@b.example> SIZE=1 SIZE=2", ALL, 0, 501, "5.5.4", "Duplicate",
     NULL, NULL},
    {"FROM:<a@b.example> SIZE=1", ALL & ~SMTP_EXT_SIZE, 0, 555, "5.5.4", "SIZE",
     NULL, NULL},
    /* BODY. */
    {"FROM:<a@b.example> BODY=7BIT", ALL, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> BODY=8bitmime", ALL, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> BODY=BINARYMIME", ALL, 0, 0, "", NULL, "a",
     "b.example"},
    {"FROM:<a@b.example> BODY=BINARYMIME", ALL & ~SMTP_EXT_CHUNKING, 0, 501,
     "5.5.4", "BODY", NULL, NULL},
    {"FROM:<a@b.example> BODY=8BITMIME", 0, 0, 501, "5.5.4", "BODY", NULL,
     NULL},
    {"FROM:<a@b.example> BODY=7BIT", 0, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> BODY=9BIT", ALL, 0, 501, "5.5.4", "BODY", NULL, NULL},
    {"FROM:<a@b.example> BODY=7BIT BODY=7BIT", ALL, 0, 501, "5.5.4",
     "Duplicate BODY", NULL, NULL},
    /* DSN. */
    {"FROM:<a@b.example> RET=FULL ENVID=QQ314159", ALL, 0, 0, "", NULL, "a",
     "b.example"},
    {"FROM:<a@b.example> RET=hdrs", ALL, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> RET=BODY", ALL, 0, 501, "5.5.4", "RET", NULL, NULL},
    {"FROM:<a@b.example> RET=FULL RET=HDRS", ALL, 0, 501, "5.5.4",
     "Duplicate RET", NULL, NULL},
    {"FROM:<a@b.example> RET=FULL", ALL & ~SMTP_EXT_DSN, 0, 555, "5.5.4", "RET",
     NULL, NULL},
    {"FROM:<a@b.example> ENVID=a+2", ALL, 0, 501, "5.5.4", "ENVID", NULL, NULL},
    {"FROM:<a@b.example> ENVID=a+0a", ALL, 0, 501, "5.5.4", "ENVID", NULL,
     NULL},
    {"FROM:<a@b.example> ENVID=a+0A", ALL, 0, 501, "5.5.4", "ENVID", NULL,
     NULL},
    /* AUTH= (RFC 4954 5). */
    {"FROM:<a@b.example> AUTH=<>", ALL, 0, 0, "", NULL, "a", "b.example"},
    {"FROM:<a@b.example> AUTH=e+3Dmc2@example.com", ALL, 0, 0, "", NULL, "a",
     "b.example"},
    {"FROM:<a@b.example> AUTH=nobody", ALL, 0, 501, "5.5.4", "AUTH", NULL,
     NULL},
    {"FROM:<a@b.example> AUTH=<>", ALL & ~SMTP_EXT_AUTH, 0, 555, "5.5.4",
     "AUTH", NULL, NULL},
    /* Unknown and malformed parameters. */
    {"FROM:<a@b.example> FOO=bar", ALL, 0, 555, "5.5.4", "FOO", NULL, NULL},
    {"FROM:<a@b.example> X-FOO", ALL, 0, 555, "5.5.4", "X-FOO", NULL, NULL},
    {"FROM:<a@b.example> NOTIFY=NEVER", ALL, 0, 555, "5.5.4", "NOTIFY", NULL,
     NULL},
    {"FROM:<a@b.example> =x", ALL, 0, 501, "5.5.4", "syntax", NULL, NULL},
    {"FROM:<a@b.example> -X", ALL, 0, 501, "5.5.4", "syntax", NULL, NULL},
    {"FROM:<a@b.example> SIZE=1=2", ALL, 0, 501, "5.5.4", "syntax", NULL, NULL},
    {"FROM:<a@b.example>  SIZE=1   BODY=8BITMIME", ALL, 0, 0, "", NULL, "a",
     "b.example"},
};

static void test_mail(void **state)
{
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]);
	     i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_mail mail;
		struct smtp_reply r;
		int ret;

		smtp_reply_clear(&r);
		ret = smtp_command_parse_mail(c->args, strlen(c->args), c->ext,
					      c->max_size, &mail, &r);
		if (c->code == 0) {
			if (ret != 0)
				fail_msg("%s: %u %s %s", c->args, r.code,
					 r.enhanced, r.text);
			assert_string_equal(mail.from.local, c->local);
			assert_string_equal(mail.from.domain, c->domain);
			smtp_mail_clear(&mail);
		} else {
			if (ret != -1)
				fail_msg("%s: accepted", c->args);
			assert_null(mail.from.local);
			assert_reply(&r, c->code, c->enh, c->text, c->args);
		}
	}
}

static void test_mail_param_values(void **state)
{
	static const char args[] =
	    "FROM:<a@b.example> SIZE=4096 BODY=8BITMIME SMTPUTF8 RET=HDRS "
	    "ENVID=QQ+2B314+20159 AUTH=e+3Dmc2@example.com";
	struct smtp_mail mail;
	struct smtp_reply r;

	assert_int_equal(
	    smtp_command_parse_mail(args, strlen(args), ALL, 0, &mail, &r), 0);
	assert_true(mail.params.has_size);
	assert_int_equal(mail.params.size, 4096);
	assert_int_equal(mail.params.body, SMTP_BODY_8BITMIME);
	assert_true(mail.params.smtputf8);
	assert_int_equal(mail.params.ret, SMTP_RET_HDRS);
	assert_string_equal(mail.params.envid, "QQ+314 159");
	assert_string_equal(mail.params.auth, "e=mc2@example.com");
	smtp_mail_clear(&mail);

	assert_int_equal(
	    smtp_command_parse_mail("FROM:<>", 7, ALL, 0, &mail, &r), 0);
	assert_false(mail.params.has_size);
	assert_int_equal(mail.params.body, SMTP_BODY_NONE);
	assert_int_equal(mail.params.ret, SMTP_RET_NONE);
	assert_string_equal(mail.params.envid, "");
	assert_string_equal(mail.params.auth, "");
	smtp_mail_clear(&mail);
}

static void test_mail_envid_limit(void **state)
{
	struct buf *b = buf_new();
	struct smtp_mail mail;
	struct smtp_reply r;

	buf_append_str(b, "FROM:<a@b.example> ENVID=");
	for (int i = 0; i < SMTP_ENVID_MAX; i++)
		buf_append_char(b, 'x');
	assert_int_equal(
	    smtp_command_parse_mail(buf_data(b), buf_len(b), ALL, 0, &mail, &r),
	    0);
	assert_int_equal(strlen(mail.params.envid), SMTP_ENVID_MAX);
	smtp_mail_clear(&mail);
	buf_append_char(b, 'x');
	assert_int_equal(
	    smtp_command_parse_mail(buf_data(b), buf_len(b), ALL, 0, &mail, &r),
	    -1);
	assert_reply(&r, 501, "5.5.4", "ENVID", "long ENVID");
	buf_free(&b);
}

/* --- RCPT TO --- */

struct rcpt_case {
	const char *args;
	unsigned int ext;
	bool smtputf8;
	unsigned int code;
	const char *enh;
	const char *text;
	const char *local;
	const char *domain;
	unsigned int notify;
	const char *orcpt_decoded;
};

static const struct rcpt_case rcpt_cases[] = {
    {"TO:<user@example.com>", ALL, false, 0, "", NULL, "user", "example.com", 0,
     ""},
    {"to:<User@Example.COM>", ALL, false, 0, "", NULL, "User", "example.com", 0,
     ""},
    {"TO: <user@example.com>", ALL, false, 0, "", NULL, "user", "example.com",
     0, ""},
    {"TO:<Postmaster>", ALL, false, 0, "", NULL, "postmaster", "", 0, ""},
    {"TO:<postmaster@example.com>", ALL, false, 0, "", NULL, "postmaster",
     "example.com", 0, ""},
    {"TO:<>", ALL, false, 501, "5.1.3", "not allowed", NULL, NULL, 0, NULL},
    {"TO:<@a.example,@b.example:user@example.com>", ALL, false, 0, "", NULL,
     "user", "example.com", 0, ""},
    {"TO:<\"a@b\"@example.com>", ALL, false, 0, "", NULL, "a@b", "example.com",
     0, ""},
    {"TO:<\"user name\"@example.com>", ALL, false, 0, "", NULL, "user name",
     "example.com", 0, ""},
    {"TO:<user%other.example@example.com>", ALL, false, 0, "", NULL,
     "user%other.example", "example.com", 0, ""},
    {"TO:<j\xc3\xb6rg@example.com>", ALL, false, 553, "5.6.7", "SMTPUTF8", NULL,
     NULL, 0, NULL},
    {"TO:<j\xc3\xb6rg@example.com>", ALL, true, 0, "", NULL, "j\xc3\xb6rg",
     "example.com", 0, ""},
    {"FROM:<user@example.com>", ALL, false, 501, "5.5.4", "RCPT TO:", NULL,
     NULL, 0, NULL},
    {"TO:<user@example.com", ALL, false, 501, "5.1.3", NULL, NULL, NULL, 0,
     NULL},
    {"TO:<user@-bad.example>", ALL, false, 501, "5.1.3", NULL, NULL, NULL, 0,
     NULL},
    /* NOTIFY. */
    {"TO:<a@b.example> NOTIFY=NEVER", ALL, false, 0, "", NULL, "a", "b.example",
     SMTP_NOTIFY_NEVER, ""},
    {"TO:<a@b.example> NOTIFY=success,FAILURE,Delay", ALL, false, 0, "", NULL,
     "a", "b.example",
     SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, ""},
    {"TO:<a@b.example> NOTIFY=FAILURE", ALL, false, 0, "", NULL, "a",
     "b.example", SMTP_NOTIFY_FAILURE, ""},
    {"TO:<a@b.example> NOTIFY=NEVER,FAILURE", ALL, false, 501, "5.5.4",
     "NOTIFY", NULL, NULL, 0, NULL},
    {"TO:<a@b.example> NOTIFY=FAILURE,FAILURE", ALL, false, 501, "5.5.4",
     "NOTIFY", NULL, NULL, 0, NULL},
    {"TO:<a@b.example> NOTIFY=FAILURE,", ALL, false, 501, "5.5.4", "NOTIFY",
     NULL, NULL, 0, NULL},
    {"TO:<a@b.example> NOTIFY=SOMETIMES", ALL, false, 501, "5.5.4", "NOTIFY",
     NULL, NULL, 0, NULL},
    {"TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER", ALL, false, 501, "5.5.4",
     "Duplicate", NULL, NULL, 0, NULL},
    {"TO:<a@b.example> NOTIFY=NEVER", ALL & ~SMTP_EXT_DSN, false, 555, "5.5.4",
     "NOTIFY", NULL, NULL, 0, NULL},
    /* ORCPT. */
    {"TO:<a@b.example> ORCPT=rfc822;a+2Bx@b.example", ALL, false, 0, "", NULL,
     "a", "b.example", 0, "a+x@b.example"},
    {"TO:<a@b.example> ORCPT=rfc822;a+2", ALL, false, 501, "5.5.4", "ORCPT",
     NULL, NULL, 0, NULL},
    {"TO:<a@b.example> ORCPT=rfc822", ALL, false, 501, "5.5.4", "ORCPT", NULL,
     NULL, 0, NULL},
    {"TO:<a@b.example> ORCPT=;a@b", ALL, false, 501, "5.5.4", "ORCPT", NULL,
     NULL, 0, NULL},
    {"TO:<a@b.example> ORCPT=rfc822;", ALL, false, 501, "5.5.4", "ORCPT", NULL,
     NULL, 0, NULL},
    {"TO:<a@b.example> ORCPT=rfc822;a@b ORCPT=rfc822;a@b", ALL, false, 501,
     "5.5.4", "Duplicate", NULL, NULL, 0, NULL},
    /* MAIL parameters are not RCPT parameters. */
    {"TO:<a@b.example> SIZE=10", ALL, false, 555, "5.5.4", "SIZE", NULL, NULL,
     0, NULL},
    {"TO:<a@b.example> BODY=8BITMIME", ALL, false, 555, "5.5.4", "BODY", NULL,
     NULL, 0, NULL},
};

static void test_rcpt(void **state)
{
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);
	     i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct smtp_rcpt rcpt;
		struct smtp_reply r;
		int ret;

		smtp_reply_clear(&r);
		ret = smtp_command_parse_rcpt(c->args, strlen(c->args), c->ext,
					      c->smtputf8, &rcpt, &r);
		if (c->code == 0) {
			if (ret != 0)
				fail_msg("%s: %u %s %s", c->args, r.code,
					 r.enhanced, r.text);
			assert_string_equal(rcpt.to.local, c->local);
			assert_string_equal(rcpt.to.domain, c->domain);
			assert_int_equal(rcpt.params.notify, c->notify);
			assert_string_equal(rcpt.params.orcpt_decoded,
					    c->orcpt_decoded);
			smtp_rcpt_clear(&rcpt);
		} else {
			if (ret != -1)
				fail_msg("%s: accepted", c->args);
			assert_null(rcpt.to.local);
			assert_reply(&r, c->code, c->enh, c->text, c->args);
		}
	}
}

static void test_rcpt_orcpt_kept_raw(void **state)
{
	static const char args[] = "TO:<a@b.example> ORCPT=RFC822;x+2By@z";
	struct smtp_rcpt rcpt;
	struct smtp_reply r;

	assert_int_equal(
	    smtp_command_parse_rcpt(args, strlen(args), ALL, false, &rcpt, &r),
	    0);
	assert_string_equal(rcpt.params.orcpt_type, "RFC822");
	assert_string_equal(rcpt.params.orcpt, "x+2By@z");
	assert_string_equal(rcpt.params.orcpt_decoded, "x+y@z");
	smtp_rcpt_clear(&rcpt);
}

/* --- BDAT, HELO, AUTH --- */

struct bdat_case {
	const char *args;
	int ret;
	unsigned long long size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
    {"0", 0, 0, false},
    {"100", 0, 100, false},
    {"100 LAST", 0, 100, true},
    {"0 last", 0, 0, true},
    {"100  LAST", 0, 100, true},
    {"999999999999999999", 0, 999999999999999999ULL, false},
    {"9999999999999999999", -1, 0, false},
    {"100 LASTX", -1, 0, false},
    {"100LAST", -1, 0, false},
    {"LAST", -1, 0, false},
    {"-1", -1, 0, false},
    {"10 LAST x", -1, 0, false},
    {"0x10", -1, 0, false},
};

static void test_bdat(void **state)
{
	for (size_t i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]);
	     i++) {
		const struct bdat_case *c = &bdat_cases[i];
		struct smtp_reply r;
		uint64_t size;
		bool last;
		int ret = smtp_command_parse_bdat(c->args, strlen(c->args),
						  &size, &last, &r);

		if (ret != c->ret)
			fail_msg("BDAT %s: %d", c->args, ret);
		if (ret == 0) {
			assert_int_equal(size, c->size);
			assert_int_equal(last, c->last);
		} else {
			assert_reply(&r, 501, "5.5.4", "BDAT", c->args);
		}
	}
}

struct helo_case {
	const char *args;
	const char *want; /* NULL: invalid */
};

static const struct helo_case helo_cases[] = {
    {"mx.example.com", "mx.example.com"},
    {"MX.Example.COM", "mx.example.com"},
    {"localhost", "localhost"},
    {"[192.0.2.1]", "[192.0.2.1]"},
    {"[IPv6:2001:db8:0::1]", "[IPv6:2001:db8::1]"},
    {"[192.0.2.256]", NULL},
    {"192.0.2.1 extra", NULL},
    {"-bad.example", NULL},
    {"bad_.example", NULL},
    {"exa mple", NULL},
    {"b\xc3\xbc"
     "cher.example",
     NULL},
    {"a@b.example", NULL},
    {"", NULL},
};

static void test_helo(void **state)
{
	struct buf *out = buf_new();

	for (size_t i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]);
	     i++) {
		const struct helo_case *c = &helo_cases[i];
		struct smtp_reply r;
		int ret =
		    smtp_command_parse_helo(c->args, strlen(c->args), out, &r);

		if (c->want != NULL) {
			if (ret != 0)
				fail_msg("HELO %s: %s", c->args, r.text);
			assert_string_equal(buf_data(out), c->want);
		} else {
			if (ret != -1)
				fail_msg("HELO %s: accepted", c->args);
			assert_int_equal(r.code, 501);
		}
	}
	buf_free(&out);
}

struct auth_case {
	const char *args;
	int ret;
	const char *mech;
	const char *ir;
};

static const struct auth_case auth_cases[] = {
    {"PLAIN", 0, "PLAIN", NULL},
    {"plain", 0, "PLAIN", NULL},
    {"PLAIN AHVzZXIAcGFzcw==", 0, "PLAIN", "AHVzZXIAcGFzcw=="},
    {"PLAIN =", 0, "PLAIN", "="},
    {"SCRAM-SHA-256", 0, "SCRAM-SHA-256", NULL},
    {"PLAIN AHVzZXIAcGFzcw=", -1, NULL, NULL},
    {"PLAIN AH=zZXIA", -1, NULL, NULL},
    {"PLAIN a b", -1, NULL, NULL},
    {"PL@IN", -1, NULL, NULL},
    {"ABCDEFGHIJKLMNOPQRSTU", -1, NULL, NULL},
};

static void test_auth(void **state)
{
	for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]);
	     i++) {
		const struct auth_case *c = &auth_cases[i];
		char mech[SMTP_SASL_MECH_MAX + 1];
		const char *ir;
		size_t ir_len;
		struct smtp_reply r;
		int ret = smtp_command_parse_auth(c->args, strlen(c->args),
						  mech, &ir, &ir_len, &r);

		if (ret != c->ret)
			fail_msg("AUTH %s: %d", c->args, ret);
		if (ret < 0) {
			assert_int_equal(r.code, 501);
			continue;
		}
		assert_string_equal(mech, c->mech);
		if (c->ir == NULL) {
			assert_null(ir);
		} else {
			assert_int_equal(ir_len, strlen(c->ir));
			assert_memory_equal(ir, c->ir, ir_len);
		}
	}
}

/* --- xtext --- */

static void test_xtext(void **state)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: invalid */
	} cases[] = {
	    {"", ""},	      {"abc", "abc"},	{"a+2Bb", "a+b"},
	    {"a+3Db", "a=b"}, {"+20+7E", " ~"}, {"+C3+B6", "\xc3\xb6"},
	    {"a+2b", NULL},   {"a+2", NULL},	{"a+", NULL},
	    {"a=b", NULL},    {"a b", NULL},	{"a+00", NULL},
	    {"a\x7f", NULL},
	};
	struct buf *b = buf_new(), *enc = buf_new();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok;

		buf_reset(b);
		ok = smtp_xtext_decode(cases[i].in, strlen(cases[i].in), b);
		assert_int_equal(ok, cases[i].want != NULL);
		assert_int_equal(
		    smtp_xtext_valid(cases[i].in, strlen(cases[i].in)), ok);
		if (!ok) {
			assert_int_equal(buf_len(b), 0);
			continue;
		}
		assert_string_equal(buf_data(b), cases[i].want);
		/* encode(decode(x)) decodes to the same bytes. */
		buf_reset(enc);
		smtp_xtext_encode(buf_data(b), buf_len(b), enc);
		buf_reset(b);
		assert_true(smtp_xtext_decode(buf_data(enc), buf_len(enc), b));
		assert_string_equal(buf_data(b), cases[i].want);
	}
	buf_reset(enc);
	smtp_xtext_encode("a+b=c d\x01", 8, enc);
	assert_string_equal(buf_data(enc), "a+2Bb+3Dc+20d+01");
	buf_free(&b);
	buf_free(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_parse),
	    cmocka_unit_test(test_command_nul_and_length),
	    cmocka_unit_test(test_mail),
	    cmocka_unit_test(test_mail_param_values),
	    cmocka_unit_test(test_mail_envid_limit),
	    cmocka_unit_test(test_rcpt),
	    cmocka_unit_test(test_rcpt_orcpt_kept_raw),
	    cmocka_unit_test(test_bdat),
	    cmocka_unit_test(test_helo),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_xtext),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
