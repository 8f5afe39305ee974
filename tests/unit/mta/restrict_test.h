/*
 * restrict_test.h - helpers the restriction unit tests share
 * (test_smtpd_restrict*.c, test_smtpd_policy.c): a restriction set built
 * from main.cf text, the error of a configuration that must fail, the
 * usual restriction input, and one check's reply as a string.  Include
 * after test.h.
 */
#ifndef POSTERN_RESTRICT_TEST_H
#define POSTERN_RESTRICT_TEST_H

#include <string.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "smtpd-restrict.h"

static inline struct conf *load(const char *text, struct error *err)
{
	return conf_load_mem("/nonexistent", "main.cf", text, strlen(text),
			     NULL, 0, err);
}

/* The restrictions of main.cf text; NULL with err when they do not
 * build (main.cf itself must load). */
static inline struct smtpd_restrict *try_make(const char *text,
					      struct error *err)
{
	struct conf *conf = load(text, err);
	struct smtpd_restrict *r;

	if (conf == NULL)
		fail_msg("conf: %s", err->msg);
	r = smtpd_restrict_new(conf, NULL, err);
	conf_free(&conf);
	return r;
}

static inline struct smtpd_restrict *make(const char *text)
{
	struct error err;
	struct smtpd_restrict *r = try_make(text, &err);

	if (r == NULL)
		fail_msg("restrict: %s", err.msg);
	return r;
}

/* The error message of a configuration that must fail (malloc'd). */
static inline char *make_fails(const char *text)
{
	struct error err;
	struct smtpd_restrict *r = try_make(text, &err);

	assert_null(r);
	assert_int_equal(err.kind, ERR_CONFIG);
	return xstrdup(err.msg);
}

/* The input the tests start from: a client relaying for
 * someone@client.example to alice@example.com, is_local deciding which
 * addresses are ours. */
static inline struct smtpd_restrict_input
restrict_input(int (*is_local)(void *, const char *, struct error *))
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

/* Run the check of stages: "" if permitted, else "code dsn text"
 * (malloc'd).  The verdict goes to v_r, or is cleared when v_r is NULL. */
static inline char *restrict_reply(const struct smtpd_restrict *r,
				   unsigned stages,
				   const struct smtpd_restrict_input *in,
				   struct smtpd_verdict *v_r)
{
	struct smtpd_verdict v;
	int ret = smtpd_restrict_check(r, stages, in, &v);
	char *out = ret < 0 ? xasprintf("%u %s %s", v.reply.code,
					v.reply.enhanced, v.reply.text)
			    : xstrdup("");

	if (v_r != NULL)
		*v_r = v;
	else
		smtpd_verdict_clear(&v);
	return out;
}

#endif
