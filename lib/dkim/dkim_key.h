/*
 * dkim_key - DKIM key pairs on OpenSSL EVP: generation (RSA 2048 bits,
 * Ed25519), the public key as published (p=), and the DNS TXT record.
 *
 * p= is base64 of the DER SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1)
 * and of the raw 32-byte key for Ed25519 (RFC 8463 4.2).  Private keys
 * are PEM (PKCS#8), which libopendkim loads for both algorithms.
 * No global state; errors: ERR_PERM (bad key), ERR_TEMP (OpenSSL out of
 * entropy or memory).
 */
#ifndef POSTERN_DKIM_KEY_H
#define POSTERN_DKIM_KEY_H

#include "core/buf.h"
#include "core/error.h"
#include "dkim/dkim.h"

#define DKIM_RSA_BITS 2048

/* A new key pair: the private PEM appended to priv_pem, p= to pub_b64. */
int dkim_key_generate(enum dkim_alg alg, struct buf *priv_pem,
		      struct buf *pub_b64, struct error *err);
/* p= of a private key (PEM of alg's type) appended to pub_b64. */
int dkim_key_public(enum dkim_alg alg, const char *priv_pem,
		    struct buf *pub_b64, struct error *err);
/* The record text: "v=DKIM1; k=rsa; p=...". */
void dkim_key_record(enum dkim_alg alg, const char *pub_b64, struct buf *out);
/*
 * The zone file line to publish, without a line end:
 *   sel._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=..."
 * The record is cut into strings of at most 255 bytes (RFC 1035 3.3.14;
 * an RSA 2048 key needs two), which DNS joins again for the verifier
 * (RFC 6376 3.6.2.2).
 */
void dkim_key_zone_line(const char *domain, const char *selector,
			enum dkim_alg alg, const char *pub_b64,
			struct buf *out);

#endif
