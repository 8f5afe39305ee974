/*
 * test_ccert - client certificate settings of lib/tls: Postfix's
 * fingerprint format, digest names, the server's ask/require setting
 * (kept across reloads) and the certificate a client context presents.
 * Handshakes with client certificates run in the integration tests
 * (tests/integration/test_tls_ccert.py).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#include "core/buf.h"
#include "tls/tls.h"

static char g_dir[64], g_cert[128], g_key[128], g_cert2[128], g_key2[128];

static void test_format(void **state)
{
	static const unsigned char md[] = {0xd7, 0x04, 0x2f, 0xa7, 0x0b, 0x00};
	struct buf *b = buf_new();

	(void)state;
	tls_fingerprint_format(md, sizeof(md), b);
	assert_string_equal(buf_data(b), "D7:04:2F:A7:0B:00");
	buf_reset(b);
	tls_fingerprint_format(md, 1, b);
	assert_string_equal(buf_data(b), "D7");
	buf_reset(b);
	tls_fingerprint_format(md, 0, b);
	assert_string_equal(buf_data(b), "");
	buf_free(&b);
}

static void test_digest_names(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(tls_digest_check("sha256", &err), 0);
	assert_int_equal(tls_digest_check("md5", &err), 0);
	assert_int_equal(tls_digest_check("sha512", &err), 0);
	assert_int_equal(tls_digest_check("sha257", &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(tls_digest_check(NULL, &err), -1);
}

/* The fingerprint `openssl x509 -noout -fingerprint -sha256` prints,
 * worked out here with printf, against the library's formatting. */
static void test_matches_openssl(void **state)
{
	FILE *f = fopen(g_cert, "r");
	X509 *x;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	char want[EVP_MAX_MD_SIZE * 3 + 1] = "";
	struct buf *b = buf_new();

	(void)state;
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
	assert_int_equal(len, 32);
	for (unsigned i = 0; i < len; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 "%s%02X", i ? ":" : "", md[i]);
	tls_fingerprint_format(md, len, b);
	assert_string_equal(buf_data(b), want);
	assert_int_equal(buf_len(b), 95);
	X509_free(x);
	buf_free(&b);
}

static void test_server_modes(void **state)
{
	struct error err;
	struct tls_ctx *t;
	struct tls_ccert_config cc = {.mode = TLS_CCERT_ASK, .ca_file = g_cert};

	(void)state;
	t = tls_server_new(g_cert, g_key, NULL, NULL, &err);
	assert_non_null(t);
	assert_int_equal(tls_server_ccert_mode(t), TLS_CCERT_NONE);
	assert_int_equal(tls_server_set_ccert(t, &cc, &err), 0);
	assert_int_equal(tls_server_ccert_mode(t), TLS_CCERT_ASK);
	cc.mode = TLS_CCERT_REQUIRE;
	assert_int_equal(tls_server_set_ccert(t, &cc, &err), 0);
	/* A reload rebuilds the context with the same setting. */
	assert_int_equal(tls_server_reload(t, &err), 0);
	assert_int_equal(tls_server_ccert_mode(t), TLS_CCERT_REQUIRE);
	/* A CA file that cannot be read is a configuration error. */
	cc.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(tls_server_set_ccert(t, &cc, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	/* ... which leaves the context as it was, reloads included. */
	assert_int_equal(tls_server_ccert_mode(t), TLS_CCERT_REQUIRE);
	assert_int_equal(tls_server_reload(t, &err), 0);
	tls_ctx_free(&t);
}

static void test_client_cert(void **state)
{
	struct error err;
	struct tls_ctx *t;

	(void)state;
	t = tls_client_new(false, NULL, NULL, &err);
	assert_non_null(t);
	assert_int_equal(tls_ctx_set_client_cert(t, NULL, NULL, &err), 0);
	assert_int_equal(tls_ctx_set_client_cert(t, g_cert, g_key, &err), 0);
	/* The key of another certificate does not match. */
	assert_int_equal(tls_ctx_set_client_cert(t, g_cert, g_key2, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(
	    tls_ctx_set_client_cert(t, "/nonexistent/c.pem", NULL, &err), -1);
	tls_ctx_free(&t);
}

static int group_setup(void **state)
{
	struct error err;

	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_ccert.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
	snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
	snprintf(g_cert2, sizeof(g_cert2), "%s/cert2.pem", g_dir);
	snprintf(g_key2, sizeof(g_key2), "%s/key2.pem", g_dir);
	if (tls_generate_selfsigned(g_cert, g_key, "client.example", 1, &err) <
		0 ||
	    tls_generate_selfsigned(g_cert2, g_key2, "other.example", 1, &err) <
		0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(g_cert);
	unlink(g_key);
	unlink(g_cert2);
	unlink(g_key2);
	rmdir(g_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_digest_names),
	    cmocka_unit_test(test_matches_openssl),
	    cmocka_unit_test(test_server_modes),
	    cmocka_unit_test(test_client_cert),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
