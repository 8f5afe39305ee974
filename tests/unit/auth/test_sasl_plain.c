/*
 * test_sasl_plain - SASL PLAIN (RFC 4616) as imapd and the IMAP proxy
 * decode it: the three parts, the outcomes each caller answers
 * differently (bad base64, bad message, a foreign authzid), the
 * encoder's round trip, and the "*" / "=" conventions.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sasl_plain.h"

/* base64 of the len bytes of raw. */
static char *b64(const char *raw, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)raw;
	char *out = calloc(1, (len + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = p[i] << 16;
		if (i + 1 < len)
			v |= p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	return out;
}

static enum sasl_plain_result decode_raw(const char *raw, size_t len,
					 char **user, char **pass)
{
	char *enc = b64(raw, len);
	enum sasl_plain_result r = sasl_plain_decode(enc, user, pass);
	free(enc);
	return r;
}

static void test_decode(void **state)
{
	char *user, *pass;

	(void)state;
	assert_int_equal(decode_raw("\0a@b.test\0secret", 16, &user, &pass),
			 SASL_PLAIN_OK);
	assert_string_equal(user, "a@b.test");
	assert_string_equal(pass, "secret");
	free(user);
	sasl_secret_free(&pass);
	assert_null(pass);

	/* authzid equal to the authcid: the same login. */
	assert_int_equal(decode_raw("a@b\0a@b\0pw", 10, &user, &pass),
			 SASL_PLAIN_OK);
	assert_string_equal(user, "a@b");
	free(user);
	sasl_secret_free(&pass);

	/* An empty password is the passdb's to refuse, not a bad message. */
	assert_int_equal(decode_raw("\0u\0", 3, &user, &pass), SASL_PLAIN_OK);
	assert_string_equal(pass, "");
	free(user);
	sasl_secret_free(&pass);
}

static void test_refusals(void **state)
{
	char *user = (char *)1, *pass = (char *)1;

	(void)state;
	assert_int_equal(sasl_plain_decode("not base64!", &user, &pass),
			 SASL_PLAIN_BAD_BASE64);
	assert_null(user);
	assert_null(pass);
	/* No NUL at all, one NUL, three NULs, an empty authcid. */
	assert_int_equal(decode_raw("userpass", 8, &user, &pass),
			 SASL_PLAIN_BAD_MESSAGE);
	assert_int_equal(decode_raw("\0userpass", 9, &user, &pass),
			 SASL_PLAIN_BAD_MESSAGE);
	assert_int_equal(decode_raw("\0u\0p\0x", 6, &user, &pass),
			 SASL_PLAIN_BAD_MESSAGE);
	assert_int_equal(decode_raw("\0\0pw", 4, &user, &pass),
			 SASL_PLAIN_BAD_MESSAGE);
	/* Logging in as someone else. */
	assert_int_equal(decode_raw("admin\0u\0pw", 10, &user, &pass),
			 SASL_PLAIN_AUTHZID);
	assert_null(user);
	assert_int_equal(sasl_plain_decode("", &user, &pass),
			 SASL_PLAIN_BAD_MESSAGE);
}

static void test_encode(void **state)
{
	char *user, *pass;
	char *enc = sasl_plain_encode("a@b.test", "s3cr\xc3\xa9t");

	(void)state;
	/* The same bytes any client sends for it. */
	char *want = b64("\0a@b.test\0s3cr\xc3\xa9t", 17);
	assert_string_equal(enc, want);
	free(want);
	assert_int_equal(sasl_plain_decode(enc, &user, &pass), SASL_PLAIN_OK);
	assert_string_equal(user, "a@b.test");
	assert_string_equal(pass, "s3cr\xc3\xa9t");
	free(user);
	sasl_secret_free(&pass);
	sasl_secret_free(&enc);
}

static void test_conventions(void **state)
{
	(void)state;
	assert_true(sasl_response_cancelled("*"));
	assert_false(sasl_response_cancelled("*x"));
	assert_false(sasl_response_cancelled(""));
	assert_string_equal(sasl_initial_response("="), "");
	assert_string_equal(sasl_initial_response("AGEAYg=="), "AGEAYg==");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_conventions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
