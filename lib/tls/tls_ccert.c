/*
 * tls_ccert.c - client certificates: what a server context asks for
 * (tls_server_set_ccert), the certificate a client context presents
 * (tls_ctx_set_client_cert), and what a server learns about its peer
 * (fingerprints, subject and issuer CN), as Postfix's smtpd_tls_ask_ccert,
 * smtpd_tls_req_ccert and check_ccert_access use them.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <string.h>

#include "core/log.h"
#include "tls/io_private.h"
#include "tls/tls_private.h"

/* TLS_CCERT_ASK: note the failure (SSL_get_verify_result keeps it) and
 * let the handshake finish; the caller decides what an unverified
 * certificate is worth (Postfix's "Untrusted"). */
static int ccert_verify_cb(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

int tls_ccert_apply(SSL_CTX *c, const struct tls_ccert_config *cfg,
		    struct error *err)
{
	static const unsigned char sid_ctx[] = "postern";
	const char *file, *path;

	if (cfg == NULL || cfg->mode == TLS_CCERT_NONE)
		return 0;
	file =
	    cfg->ca_file != NULL && *cfg->ca_file != '\0' ? cfg->ca_file : NULL;
	path =
	    cfg->ca_path != NULL && *cfg->ca_path != '\0' ? cfg->ca_path : NULL;
	if ((file != NULL || path != NULL) &&
	    SSL_CTX_load_verify_locations(c, file, path) != 1)
		return tls_error_set(err, ERR_CONFIG,
				     file != NULL ? file : path);
	if (file != NULL) {
		/* The CA names go into the CertificateRequest, so a client
		 * with several certificates can pick (postconf(5)). */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);

		if (names == NULL)
			return tls_error_set(err, ERR_CONFIG, file);
		SSL_CTX_set_client_CA_list(c, names);
	}
	/* Resuming a session on a context that verifies peers needs a
	 * session id context, or OpenSSL refuses the resumption. */
	SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
	if (cfg->verify_depth > 0)
		SSL_CTX_set_verify_depth(c, cfg->verify_depth);
	if (cfg->mode == TLS_CCERT_REQUIRE)
		SSL_CTX_set_verify(c,
				   SSL_VERIFY_PEER |
				       SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
				       SSL_VERIFY_CLIENT_ONCE,
				   NULL);
	else
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
				   ccert_verify_cb);
	return 0;
}

int tls_client_cert_apply(SSL_CTX *c, const char *cert_file,
			  const char *key_file, struct error *err)
{
	if (cert_file == NULL || *cert_file == '\0')
		return 0;
	if (key_file == NULL || *key_file == '\0')
		key_file = cert_file;
	if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1)
		return tls_error_set(err, ERR_CONFIG, cert_file);
	if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1)
		return tls_error_set(err, ERR_CONFIG, key_file);
	if (SSL_CTX_check_private_key(c) != 1)
		return tls_error_set(err, ERR_CONFIG,
				     "client certificate and key do not "
				     "match");
	return 0;
}

void tls_fingerprint_format(const unsigned char *md, size_t len,
			    struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		if (i > 0)
			buf_append_char(out, ':');
		buf_append_char(out, hex[md[i] >> 4]);
		buf_append_char(out, hex[md[i] & 15]);
	}
}

int tls_digest_check(const char *name, struct error *err)
{
	if (name == NULL || EVP_get_digestbyname(name) == NULL)
		return error_set(err, ERR_CONFIG,
				 "unknown message digest \"%s\" (md5, sha1, "
				 "sha256, sha512)",
				 name != NULL ? name : "");
	return 0;
}

/* The peer certificate of a server-side connection after IO_TLSREADY. */
static X509 *peer_of(const struct io *io)
{
	return io_tls_active(io) ? SSL_get0_peer_certificate(io->ssl) : NULL;
}

bool io_tls_peer_cert(const struct io *io)
{
	return peer_of(io) != NULL;
}

int io_tls_peer_fingerprint(const struct io *io, const char *digest, bool pkey,
			    struct buf *out)
{
	X509 *peer = peer_of(io);
	const EVP_MD *md = digest != NULL ? EVP_get_digestbyname(digest) : NULL;
	unsigned char val[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (peer == NULL || md == NULL)
		return -1;
	if (pkey) {
		/* Postfix's pkey_fingerprint: the digest of the DER
		 * SubjectPublicKeyInfo (as DANE's selector 1), not of the
		 * bare key bits X509_pubkey_digest() would take. */
		unsigned char *der = NULL;
		int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der);
		int ok = n > 0 &&
			 EVP_Digest(der, (size_t)n, val, &len, md, NULL) == 1;

		OPENSSL_free(der);
		if (!ok)
			return -1;
	} else if (X509_digest(peer, md, val, &len) != 1) {
		return -1;
	}
	tls_fingerprint_format(val, len, out);
	return 0;
}

void io_tls_peer_subject_cn(const struct io *io, struct buf *out)
{
	X509 *peer = peer_of(io);

	if (peer != NULL)
		tls_append_cn(out, X509_get_subject_name(peer));
}

void io_tls_peer_issuer_cn(const struct io *io, struct buf *out)
{
	X509 *peer = peer_of(io);

	if (peer != NULL)
		tls_append_cn(out, X509_get_issuer_name(peer));
}

const char *io_tls_peer_verify_text(const struct io *io)
{
	long r;

	if (peer_of(io) == NULL)
		return "no certificate";
	r = SSL_get_verify_result(io->ssl);
	return r == X509_V_OK ? "verified OK"
			      : X509_verify_cert_error_string(r);
}
