/*
 * tls_cert.c - the self-signed certificate `postern init` writes, so the
 * one-machine default run has STARTTLS and implicit TLS from the start.
 */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "tls/tls_private.h"

static int cert_add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *cert_build(EVP_PKEY *key, const char *hostname, int days,
			struct error *err)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char *san = NULL;

	if (cert == NULL)
		goto fail;
	/* Random positive 127-bit serial (RFC 5280 4.1.2.2: unique). */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto fail;
	if (!X509_set_version(cert, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(cert, key))
		goto fail;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)hostname, -1, -1,
					0) ||
	    !X509_set_issuer_name(cert, name))
		goto fail;
	if (strcmp(hostname, "localhost") == 0)
		san = xstrdup("DNS:localhost,IP:127.0.0.1");
	else
		san = xasprintf("DNS:%s,DNS:localhost,IP:127.0.0.1", hostname);
	if (!cert_add_ext(cert, NID_subject_alt_name, san) ||
	    !cert_add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !cert_add_ext(cert, NID_key_usage,
			  "critical,digitalSignature,keyEncipherment") ||
	    !cert_add_ext(cert, NID_ext_key_usage, "serverAuth") ||
	    !cert_add_ext(cert, NID_subject_key_identifier, "hash"))
		goto fail;
	if (X509_sign(cert, key, EVP_sha256()) == 0)
		goto fail;
	free(san);
	BN_free(bn);
	return cert;
fail:
	tls_error_set(err, ERR_TEMP, "build self-signed certificate");
	free(san);
	BN_free(bn);
	X509_free(cert);
	return NULL;
}

/* PEM-encode through a memory BIO, then write atomically with `mode`. */
static int pem_write(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key,
		     struct error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int ok, rc;

	if (bio == NULL)
		return tls_error_set(err, ERR_TEMP, "BIO_new");
	ok = cert != NULL ? PEM_write_bio_X509(bio, cert)
			  : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
						     NULL, NULL);
	if (!ok) {
		BIO_free(bio);
		return tls_error_set(err, ERR_TEMP, "PEM encode");
	}
	len = BIO_get_mem_data(bio, &data);
	rc = fs_write_atomic(path, data, (size_t)len, mode, err);
	BIO_free(bio);
	return rc;
}

int tls_generate_selfsigned(const char *cert_path, const char *key_path,
			    const char *hostname, int days, struct error *err)
{
	EVP_PKEY *key;
	X509 *cert;
	int rc = -1;

	if (hostname == NULL || *hostname == '\0')
		hostname = "localhost";
	if (days <= 0)
		return error_set(err, ERR_PERM, "certificate lifetime %d days",
				 days);
	key = EVP_EC_gen("P-256");
	if (key == NULL)
		return tls_error_set(err, ERR_TEMP, "generate P-256 key");
	cert = cert_build(key, hostname, days, err);
	/* Key first: a certificate without its key would be unusable. */
	if (cert != NULL && pem_write(key_path, 0600, NULL, key, err) == 0 &&
	    pem_write(cert_path, 0644, cert, NULL, err) == 0)
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
