/*
 * test_smtpd_restrict_tls - the TLS client certificate restrictions
 * (mta/smtpd-restrict-tls.c) on the restriction input alone:
 * permit_tls_clientcerts (fingerprint, then public key fingerprint, only
 * when verified), permit_tls_all_clientcerts, check_ccert_access (either
 * fingerprint, the reply naming the certificate's CN), and nothing found
 * without a certificate.  The handshakes are in
 * tests/integration/test_tls_ccert.py.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "restrict_test.h"
#include "smtpd-restrict.h"

#define FP "AA:BB:CC"
#define PKFP "11:22:33"

static int not_local(void *ctx, const char *address, struct error *err)
{
	(void)ctx;
	(void)address;
	(void)err;
	return 0;
}

/* A client relaying to a domain that is not ours, with a certificate. */
static struct smtpd_restrict_input input(const char *fp, const char *pkfp,
					 bool verified)
{
	return (struct smtpd_restrict_input){
	    .client_addr = "192.0.2.10",
	    .client_name = "unknown",
	    .helo = "client.example",
	    .sender = "s@client.example",
	    .recipient = "r@elsewhere.example",
	    .delimiters = "+",
	    .is_local = not_local,
	    .esmtp = true,
	    .log_id = "TEST",
	    .ccert_fingerprint = fp,
	    .ccert_pkey_fingerprint = pkfp,
	    .ccert_verified = verified,
	    .ccert_subject = fp != NULL ? "client.example" : NULL,
	};
}

static char *check(const struct smtpd_restrict *r,
		   const struct smtpd_restrict_input *in)
{
	return restrict_reply(r,
			      SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RELAY) |
				  SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT),
			      in, NULL);
}

#define CHECK_EQ(r, in, want)                                                  \
	do {                                                                   \
		struct smtpd_restrict_input in_ = (in);                        \
		char *got_ = check(r, &in_);                                   \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

#define DENIED "554 5.7.1 <r@elsewhere.example>: Relay access denied"

static void test_permit_tls_clientcerts(void **state)
{
	struct smtpd_restrict *r;

	(void)state;
	r = make("relay_clientcerts = inline:{ " FP "=host-a, " PKFP
		 "=host-b }\n"
		 "smtpd_relay_restrictions = permit_tls_clientcerts, "
		 "reject_unauth_destination\n");
	CHECK_EQ(r, input(FP, "99:99", true), "");
	/* The public key fingerprint when the certificate's is not there. */
	CHECK_EQ(r, input("98:98", PKFP, true), "");
	CHECK_EQ(r, input("98:98", "99:99", true), DENIED);
	/* Listed, but it did not verify: the fingerprint is the
	 * identity (Postfix: "OK if the issuing CA is not trusted"). */
	CHECK_EQ(r, input(FP, PKFP, false), "");
	CHECK_EQ(r, input(NULL, NULL, false), DENIED);
	smtpd_restrict_free(&r);

	/* Without relay_clientcerts nothing is listed (as Postfix). */
	r = make("smtpd_relay_restrictions = permit_tls_clientcerts, "
		 "reject_unauth_destination\n");
	CHECK_EQ(r, input(FP, PKFP, true), DENIED);
	smtpd_restrict_free(&r);
}

static void test_permit_tls_all_clientcerts(void **state)
{
	struct smtpd_restrict *r;

	(void)state;
	r = make("smtpd_relay_restrictions = permit_tls_all_clientcerts, "
		 "reject_unauth_destination\n");
	CHECK_EQ(r, input("98:98", "99:99", true), "");
	CHECK_EQ(r, input("98:98", "99:99", false), DENIED);
	CHECK_EQ(r, input(NULL, NULL, false), DENIED);
	smtpd_restrict_free(&r);
}

static void test_check_ccert_access(void **state)
{
	struct smtpd_restrict *r;

	(void)state;
	r = make("smtpd_relay_restrictions = check_ccert_access "
		 "inline:{ {" FP "=REJECT revoked}, " PKFP "=OK, "
		 "{77:77=DUNNO} }, reject_unauth_destination\n");
	CHECK_EQ(r, input(FP, PKFP, true),
		 "554 5.7.1 <client.example>: Client certificate rejected: "
		 "revoked");
	/* An unverified certificate is looked up too: the key is the
	 * identity. */
	CHECK_EQ(r, input("98:98", PKFP, false), "");
	/* The certificate's fingerprint is found first: DUNNO stops. */
	CHECK_EQ(r, input("77:77", PKFP, true), DENIED);
	CHECK_EQ(r, input(NULL, NULL, false), DENIED);
	smtpd_restrict_free(&r);
}

static void test_parse(void **state)
{
	struct error err;
	struct conf *conf;
	const char *text = "smtpd_relay_restrictions = check_ccert_access, "
			   "reject_unauth_destination\n";

	(void)state;
	conf = conf_load_mem("/nonexistent", "main.cf", text, strlen(text),
			     NULL, 0, &err);
	assert_non_null(conf);
	/* The argument is the next word: "reject_unauth_destination" is
	 * taken as a map and fails to open. */
	assert_null(smtpd_restrict_new(conf, NULL, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "check_ccert_access"));
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_permit_tls_clientcerts),
	    cmocka_unit_test(test_permit_tls_all_clientcerts),
	    cmocka_unit_test(test_check_ccert_access),
	    cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
