/*
 * test_password - Dovecot-compatible password schemes.
 *
 * The fixed vectors were written by Dovecot 2.3 (`doveadm pw -s SCHEME`),
 * so this test proves compatibility without doveadm on the machine;
 * test_password_doveadm.sh checks both directions live when it is there.
 */
#include "test.h"

#include <string.h>

#include "auth/password.h"
#include "core/buf.h"
#include "core/error.h"

struct vector {
	const char *stored;
	const char *password;
};

/* doveadm pw -s SCHEME -p PASSWORD */
static const struct vector vectors[] = {
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$UMAfwTQDvffkQR9kZE3kqw$"
     "zLgfyrr+Cg1mxw1j+1Iir/BHsOQaANkHCVX5A3QxetU",
     "secret"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$tzdEvZAf8ec2faWl796UeA$"
     "3ANw/Jwkqc/3CAnuMYTbz6V7rUgvWBLMmfnA8Y9hEz4",
     "pässwörd with spaces"},
    {"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$Y0I540EKamAIlG4v+SEOZQ$"
     "3TsPpBV8fkFb0O+HNaU49VlhzlmuXyvLuXtEI1Znlbs",
     "secret"},
    {"{BLF-CRYPT}$2y$05$SLx7u3JESdkfYUU1GF89tOPmEsv/0/HoDYqx1R10FfyfKbo9f"
     "RreG",
     "secret"},
    {"{SHA512-CRYPT}$6$LMWpSaGD0y87MB6i$yoof7PFOL6lW62pEpTBh6g2LgyXAjdBb9"
     "39qOSjgfV7InhFJ9z62l6ndexEerOMlSetyfsykgn0i35Yk346wr1",
     "secret"},
    {"{SHA256-CRYPT}$5$gfE4Q2ZTX67m5l9/$ta2m9tlYmrsQ.QeSlTcEVUvaEVdQmjE5I"
     "OAnAcn/vw6",
     "secret"},
    {"{SHA256-CRYPT}$5$rounds=10000$MXN9oGUW2nSq5zh0$Tu8ioPOfuRKYPZiyESfj"
     "6q4aD3zjIWsK6uFmALRNYV2",
     "secret"},
    {"{SHA256-CRYPT}$5$eSk1J/jvp.YcuvB/$YbC1dimzwmFDh9gY8n69wKixbKmXgfFU8"
     "MUkOB.XKp5",
     "pässwörd with spaces"},
    {"{MD5-CRYPT}$1$LAauIe26$lCTTChY6nFQvpogVCstfW/", "secret"},
    {"{CRYPT}$2y$05$RxtuD5Idc/QXDzxJSG6dM.9dPRoYj.U0DiinCxQ1AcTXb4n4hcBf.",
     "secret"},
    {"{SSHA512}EEAJq7yrxi3DxJFQ+JfzxYAyd79ZnRchlHNdak7OMScxuVWHfc/i0KDFBg"
     "SndQJXi/F5DSd66NhQzaivj9dpXwQ3GCk=",
     "secret"},
    {"{SSHA512}mxOGL845cLJiAlDe2ZtbUS4F9YuoXOMvMOI6CxO+BtwLwdRwOtm0ff/jpe"
     "XlSThvh649F7O/KTNJi994e3RG7ZNlgPo=",
     "pässwörd with spaces"},
    {"{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztm"
     "eD2cmW192CF5bDufKRpayrW/isg==",
     "secret"},
    {"{SHA512.HEX}bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4d93"
     "dd0619d682ce56b4d64a9ef097761ced99e0f67265b5f76085e5b0ee7ca4696b2ad"
     "6fe2b2",
     "secret"},
    {"{SSHA256}wmmN3jnS12mlUrErfNH/lajZJO/7ck3W/CYHet3F+jN1fD4H", "secret"},
    {"{SSHA256}9Hf1Nj+D+vph2k6f0ahDAvUKS8/pT42/S4hcBO7nZouYUA6j",
     "pässwörd with spaces"},
    {"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret"},
    {"{PLAIN}secret", "secret"},
    {"{plain}secret", "secret"},
    {"{CLEARTEXT}secret", "secret"},
    /* No prefix: read as Dovecot's default CRYPT does. */
    {"$6$LMWpSaGD0y87MB6i$yoof7PFOL6lW62pEpTBh6g2LgyXAjdBb939qOSjgfV7Inh"
     "FJ9z62l6ndexEerOMlSetyfsykgn0i35Yk346wr1",
     "secret"},
    {"$2y$05$SLx7u3JESdkfYUU1GF89tOPmEsv/0/HoDYqx1R10FfyfKbo9fRreG", "secret"},
    {"$argon2id$v=19$m=65536,t=3,p=1$UMAfwTQDvffkQR9kZE3kqw$zLgfyrr+Cg1mx"
     "w1j+1Iir/BHsOQaANkHCVX5A3QxetU",
     "secret"},
};

static void test_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct error err = {0};
		int rc = password_verify(v->stored, v->password, &err);

		if (rc != 1)
			fail_msg("%s: verify gave %d (%s)", v->stored, rc,
				 err.msg);
		rc = password_verify(v->stored, "Secret", &err);
		if (rc != 0)
			fail_msg("%s: wrong password gave %d", v->stored, rc);
		rc = password_verify(v->stored, "", &err);
		if (rc != 0)
			fail_msg("%s: empty password gave %d", v->stored, rc);
	}
}

struct bad_case {
	const char *stored;
	const char *err;
};

static const struct bad_case bad_cases[] = {
    {"", "no {SCHEME} prefix"},
    {"secret", "no {SCHEME} prefix"},
    {"{FOO}bar", "unknown password scheme {FOO}"},
    {"{SHA512-CRYPT", "malformed {SCHEME} prefix"},
    {"{ARGON2ID.HEX}x", "unknown password scheme"},
    {"{SHA512-CRYPT}garbage", "does not start with $6$"},
    {"{BLF-CRYPT}$6$abc$def", "does not start with $2"},
    {"{SHA512-CRYPT}$6$", "malformed crypt hash"},
    {"{CRYPT}$9$nonsense", "malformed crypt hash"},
    {"{ARGON2ID}garbage", "malformed argon2"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3$c2FsdA$aGFzaA", "malformed argon2"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdA", "malformed"},
    {"{ARGON2ID}$argon2id$v=19$m= 5,t=3,p=1$c2FsdA$aGFzaA", "malformed"},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2F*dA$aGFzaA", "malformed"},
    {"{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$c2FsdA$aGFzaA",
     "too much memory"},
    {"{SHA512}!!!!", "malformed {SHA512}"},
    {"{SHA512}c2hvcnQ=", "wrong length"},
    {"{SSHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "wrong length"},
};

static void test_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct error err = {0};
		int rc = password_verify(bad_cases[i].stored, "secret", &err);

		if (rc != -1)
			fail_msg("%s: gave %d", bad_cases[i].stored, rc);
		assert_int_equal(err.kind, ERR_PERM);
		if (strstr(err.msg, bad_cases[i].err) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"",
				 bad_cases[i].stored, err.msg,
				 bad_cases[i].err);
	}
}

struct round_case {
	const char *scheme;
	const char *prefix;
};

static const struct round_case round_cases[] = {
    {"ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"},
    {"blf-crypt", "{BLF-CRYPT}$2y$10$"},
    {"SHA512-CRYPT", "{SHA512-CRYPT}$6$"},
    {"SHA256-CRYPT", "{SHA256-CRYPT}$5$"},
};

static void test_round_trip(void **state)
{
	struct buf *a = buf_new(), *b = buf_new();

	for (size_t i = 0; i < sizeof(round_cases) / sizeof(round_cases[0]);
	     i++) {
		const struct round_case *c = &round_cases[i];
		struct error err = {0};

		assert_int_equal(password_hash(c->scheme, "pässwörd", a, &err),
				 0);
		assert_int_equal(password_hash(c->scheme, "pässwörd", b, &err),
				 0);
		if (strncmp(buf_data(a), c->prefix, strlen(c->prefix)) != 0)
			fail_msg("%s: got %s", c->scheme, buf_data(a));
		/* A fresh salt each time. */
		assert_string_not_equal(buf_data(a), buf_data(b));
		assert_int_equal(password_verify(buf_data(a), "pässwörd", &err),
				 1);
		assert_int_equal(password_verify(buf_data(b), "pässwörd", &err),
				 1);
		assert_int_equal(password_verify(buf_data(a), "passwörd", &err),
				 0);
		assert_false(password_needs_upgrade(buf_data(a), c->scheme));
		assert_true(password_needs_upgrade(
		    buf_data(a), strcmp(c->scheme, "ARGON2ID") == 0
				     ? "SHA512-CRYPT"
				     : "ARGON2ID"));
	}
	/* NULL scheme is the default, ARGON2ID. */
	assert_int_equal(password_hash(NULL, "x", a, NULL), 0);
	assert_true(strncmp(buf_data(a), "{ARGON2ID}$argon2id$", 20) == 0);
	assert_false(password_needs_upgrade(buf_data(a), NULL));
	buf_free(&a);
	buf_free(&b);
}

static void test_hash_refused(void **state)
{
	struct buf *out = buf_new_str("old");
	struct error err = {0};

	assert_int_equal(password_hash("MD5-CRYPT", "x", out, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "verification only"));
	assert_int_equal(password_hash("PLAIN", "x", out, &err), -1);
	assert_int_equal(password_hash("NOPE", "x", out, &err), -1);
	assert_non_null(strstr(err.msg, "unknown password scheme NOPE"));
	assert_int_equal(buf_len(out), 0);
	buf_free(&out);
}

struct upgrade_case {
	const char *stored;
	const char *default_scheme;
	bool upgrade;
};

static const struct upgrade_case upgrade_cases[] = {
    /* doveadm's own ARGON2ID cost is our default. */
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$UMAfwTQDvffkQR9kZE3kqw$"
     "zLgfyrr+Cg1mxw1j+1Iir/BHsOQaANkHCVX5A3QxetU",
     "ARGON2ID", false},
    {"$argon2id$v=19$m=65536,t=3,p=1$UMAfwTQDvffkQR9kZE3kqw$"
     "zLgfyrr+Cg1mxw1j+1Iir/BHsOQaANkHCVX5A3QxetU",
     "ARGON2ID", false},
    {"{ARGON2ID}$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA", "ARGON2ID",
     true},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", "ARGON2ID",
     true},
    {"{ARGON2ID}$argon2id$v=19$m=262144,t=4,p=1$c2FsdA$aGFzaA", "ARGON2ID",
     false},
    {"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$Y0I540EKamAIlG4v+SEOZQ$"
     "3TsPpBV8fkFb0O+HNaU49VlhzlmuXyvLuXtEI1Znlbs",
     "ARGON2ID", true},
    /* doveadm writes bcrypt cost 5, below our 10. */
    {"{BLF-CRYPT}$2y$05$SLx7u3JESdkfYUU1GF89tOPmEsv/0/HoDYqx1R10FfyfKbo9f"
     "RreG",
     "BLF-CRYPT", true},
    {"{BLF-CRYPT}$2y$12$SLx7u3JESdkfYUU1GF89tOPmEsv/0/HoDYqx1R10FfyfKbo9f"
     "RreG",
     "BLF-CRYPT", false},
    {"{SHA512-CRYPT}$6$LMWpSaGD0y87MB6i$x", "SHA512-CRYPT", false},
    {"{SHA512-CRYPT}$6$rounds=1000$LMWpSaGD0y87MB6i$x", "SHA512-CRYPT", true},
    {"{SHA512-CRYPT}$6$rounds=656000$LMWpSaGD0y87MB6i$x", "SHA512-CRYPT",
     false},
    {"{SHA512-CRYPT}$6$LMWpSaGD0y87MB6i$x", "ARGON2ID", true},
    {"{PLAIN}secret", "ARGON2ID", true},
    {"{SSHA512}EEAJq7yrxi3DxJFQ+JfzxYAy", "ARGON2ID", true},
    {"garbage", "ARGON2ID", true},
    /* An unusable default never forces re-hashing. */
    {"{PLAIN}secret", "NOPE", false},
    {"{PLAIN}secret", "PLAIN", false},
};

static void test_needs_upgrade(void **state)
{
	for (size_t i = 0; i < sizeof(upgrade_cases) / sizeof(upgrade_cases[0]);
	     i++) {
		const struct upgrade_case *c = &upgrade_cases[i];

		if (password_needs_upgrade(c->stored, c->default_scheme) !=
		    c->upgrade)
			fail_msg("%s / %s: expected %d", c->stored,
				 c->default_scheme, c->upgrade);
	}
}

static void test_scheme_parse(void **state)
{
	enum password_scheme s;
	const char *data;
	struct error err = {0};

	assert_int_equal(
	    password_scheme_parse("{blf-crypt}$2y$05$abc", &s, &data, &err), 0);
	assert_int_equal(s, PASSWORD_SCHEME_BLF_CRYPT);
	assert_string_equal(data, "$2y$05$abc");
	assert_int_equal(
	    password_scheme_parse("$argon2id$v=19$x", &s, &data, &err), 0);
	assert_int_equal(s, PASSWORD_SCHEME_ARGON2ID);
	assert_string_equal(data, "$argon2id$v=19$x");
	assert_int_equal(password_scheme_parse("$5$salt$h", &s, &data, &err),
			 0);
	assert_int_equal(s, PASSWORD_SCHEME_SHA256_CRYPT);
	assert_int_equal(
	    password_scheme_parse("$y$j9T$salt$h", &s, &data, &err), 0);
	assert_int_equal(s, PASSWORD_SCHEME_CRYPT);
	assert_int_equal(password_scheme_parse("{X}y", &s, &data, &err), -1);

	assert_int_equal(password_scheme_lookup("sha512.hex", &s), 1);
	assert_int_equal(s, PASSWORD_SCHEME_SHA512);
	assert_int_equal(password_scheme_lookup("CLEAR", &s), 1);
	assert_int_equal(s, PASSWORD_SCHEME_PLAIN);
	assert_int_equal(password_scheme_lookup("SHA512-CRYPT.HEX", &s), 0);
	assert_int_equal(password_scheme_lookup("", &s), 0);
	assert_string_equal(password_scheme_name(PASSWORD_SCHEME_BLF_CRYPT),
			    "BLF-CRYPT");
	assert_true(password_scheme_can_hash(PASSWORD_SCHEME_ARGON2ID));
	assert_false(password_scheme_can_hash(PASSWORD_SCHEME_SSHA512));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_hash_refused),
	    cmocka_unit_test(test_needs_upgrade),
	    cmocka_unit_test(test_scheme_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
