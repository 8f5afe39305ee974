/* dkim_key - key pairs and TXT records (dkim_key.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/xmalloc.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_private.h"

static int ssl_fail(struct error *err, enum err_kind kind, const char *what)
{
	unsigned long e = ERR_get_error();
	char text[256];

	ERR_error_string_n(e, text, sizeof(text));
	ERR_clear_error();
	return error_set(err, kind, "%s: %s", what, e != 0 ? text : "failed");
}

void dkim_base64(const unsigned char *in, size_t len, struct buf *out)
{
	char *b = xmalloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)b, in, (int)len);

	buf_append(out, b, (size_t)n);
	free(b);
}

static int public_of(enum dkim_alg alg, EVP_PKEY *pk, struct buf *pub_b64,
		     struct error *err)
{
	if (alg == DKIM_ED25519_SHA256) {
		unsigned char raw[32];
		size_t len = sizeof(raw);
		if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519 ||
		    EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1 ||
		    len != sizeof(raw))
			return ssl_fail(err, ERR_PERM, "not an Ed25519 key");
		dkim_base64(raw, len, pub_b64);
		return 0;
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return error_set(err, ERR_PERM, "not an RSA key");
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pk, &der);
	if (len <= 0)
		return ssl_fail(err, ERR_PERM, "RSA public key");
	dkim_base64(der, (size_t)len, pub_b64);
	OPENSSL_free(der);
	return 0;
}

int dkim_key_generate(enum dkim_alg alg, struct buf *priv_pem,
		      struct buf *pub_b64, struct error *err)
{
	EVP_PKEY *pk;
	BIO *bio;
	char *data;
	long len;
	int rc;

	pk = alg == DKIM_ED25519_SHA256
		 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
		 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIM_RSA_BITS);
	if (pk == NULL)
		return ssl_fail(err, ERR_TEMP, "key generation");
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(pk);
		return ssl_fail(err, ERR_TEMP, "writing the private key");
	}
	len = BIO_get_mem_data(bio, &data);
	buf_append(priv_pem, data, (size_t)len);
	BIO_free(bio);
	rc = public_of(alg, pk, pub_b64, err);
	EVP_PKEY_free(pk);
	return rc;
}

int dkim_key_public(enum dkim_alg alg, const char *priv_pem,
		    struct buf *pub_b64, struct error *err)
{
	BIO *bio = BIO_new_mem_buf(priv_pem, -1);
	EVP_PKEY *pk;
	int rc;

	if (bio == NULL)
		return ssl_fail(err, ERR_TEMP, "BIO");
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk == NULL)
		return ssl_fail(err, ERR_PERM, "reading the private key");
	rc = public_of(alg, pk, pub_b64, err);
	EVP_PKEY_free(pk);
	return rc;
}

void dkim_key_record(enum dkim_alg alg, const char *pub_b64, struct buf *out)
{
	buf_printf(out, "v=DKIM1; k=%s; p=%s", dkim_alg_keytype(alg), pub_b64);
}

void dkim_key_zone_line(const char *domain, const char *selector,
			enum dkim_alg alg, const char *pub_b64, struct buf *out)
{
	struct buf *rec = buf_new();
	size_t off = 0;

	dkim_key_record(alg, pub_b64, rec);
	buf_printf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	while (off < buf_len(rec)) {
		size_t n = buf_len(rec) - off;
		if (n > 255)
			n = 255;
		buf_printf(out, " \"%.*s\"", (int)n, buf_data(rec) + off);
		off += n;
	}
	buf_free(&rec);
}
