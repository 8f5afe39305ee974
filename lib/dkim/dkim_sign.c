/*
 * dkim_sign - DKIM signatures, rsa-sha256 and ed25519-sha256, made with
 * our relaxed canonicalisation (dkim_canon.c) and OpenSSL EVP (dkim.h).
 *
 * Why not libopendkim's signer (which Debian's 2.11.0~beta2 has for both
 * algorithms, and whose output this file reproduces): it parses the PEM
 * key again for every signature, 2-3 ms with OpenSSL 3's decoders, more
 * than the RSA signature itself, and for Ed25519 it never frees that key
 * (about 470 bytes lost per signed message, found with ASan).  Here a
 * key is parsed once (struct dkim_secret) and kept by the caller.  The
 * RSA signature of a test message is byte for byte libopendkim's
 * (tests/unit/dkim), libopendkim verifies both kinds, and so does dkimpy
 * (tests/integration/test_dkim.py).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "core/xmalloc.h"
#include "dkim/dkim.h"
#include "dkim/dkim_canon.h"
#include "dkim/dkim_private.h"

/* RFC 6376 5.4.1's recommended set, which is OpenDKIM's default list
 * (should_signhdrs in libopendkim/dkim.c).  Each instance present is
 * signed, then From once more (RFC 6376 8.15, "oversigning"): a From
 * added later breaks the signature. */
static const char *const sign_headers[] = {
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    NULL,
};

struct dkim_secret {
	enum dkim_alg alg;
	EVP_PKEY *pk;
};

struct dkim_secret *dkim_secret_load(enum dkim_alg alg, const char *pem,
				     struct error *err)
{
	int type = alg == DKIM_ED25519_SHA256 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA;
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk =
	    bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	struct dkim_secret *s;

	BIO_free(bio);
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != type ||
	    (alg == DKIM_RSA_SHA256 && EVP_PKEY_get_bits(pk) < 1024)) {
		EVP_PKEY_free(pk);
		error_set(err, ERR_PERM, "not a usable %s private key",
			  alg == DKIM_ED25519_SHA256
			      ? "Ed25519"
			      : "RSA (1024 bits or more)");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->alg = alg;
	s->pk = pk;
	return s;
}

void dkim_secret_free(struct dkim_secret **sp)
{
	if (*sp == NULL)
		return;
	EVP_PKEY_free((*sp)->pk);
	free(*sp);
	*sp = NULL;
}

enum dkim_alg dkim_secret_alg(const struct dkim_secret *s)
{
	return s->alg;
}

/* Does the message's first line end in CRLF?  (An empty message: yes.) */
static bool uses_crlf(const char *msg, size_t len)
{
	const char *nl = memchr(msg, '\n', len);

	return nl == NULL || (nl > msg && nl[-1] == '\r');
}

static bool signed_name(const char *name, size_t len)
{
	for (size_t i = 0; sign_headers[i] != NULL; i++)
		if (strlen(sign_headers[i]) == len &&
		    strncasecmp(sign_headers[i], name, len) == 0)
			return true;
	return false;
}

/* RSA: PKCS#1 v1.5 over SHA-256 of data (RFC 6376 3.3.1); Ed25519: over
 * the SHA-256 digest of data (RFC 8463 3). */
static int sign_data(const struct dkim_secret *s, const struct buf *data,
		     struct buf *sig_b64, struct error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32], *sig = NULL;
	size_t siglen = 0;
	int ok = md != NULL;

	if (ok && s->alg == DKIM_ED25519_SHA256) {
		SHA256((const unsigned char *)buf_data(data), buf_len(data),
		       digest);
		siglen = 64;
		sig = xmalloc(siglen);
		ok = EVP_DigestSignInit(md, NULL, NULL, NULL, s->pk) == 1 &&
		     EVP_DigestSign(md, sig, &siglen, digest, 32) == 1;
	} else if (ok) {
		siglen = (size_t)EVP_PKEY_get_size(s->pk);
		sig = xmalloc(siglen);
		ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->pk) ==
			 1 &&
		     EVP_DigestSign(md, sig, &siglen,
				    (const unsigned char *)buf_data(data),
				    buf_len(data)) == 1;
	}
	EVP_MD_CTX_free(md);
	if (ok)
		dkim_base64(sig, siglen, sig_b64);
	free(sig);
	return ok ? 0 : error_set(err, ERR_TEMP, "OpenSSL could not sign");
}

static int sign_one(struct dkim_ctx *d, const struct dkim_sign_key *k,
		    const char *msg, size_t len, bool crlf, struct buf *out,
		    struct error *err)
{
	const char *eol = crlf ? "\r\n" : "\n";
	size_t boff = dkim_body_offset(msg, len);
	struct buf *data = buf_new(), *h = buf_new(), *hdr = buf_new();
	struct buf *b = buf_new();
	struct array *fields = dkim_fields(msg, len);
	unsigned char bh[32];
	long long t = d->fixed_time > 0 ? (long long)d->fixed_time
					: (long long)time(NULL);
	int rc;

	dkim_canon_body_relaxed(msg + boff, len - boff, data);
	SHA256((const unsigned char *)buf_data(data), buf_len(data), bh);
	/* h=: the fields we sign, in message order, then From once more. */
	for (size_t i = 0; i < array_len(fields); i++) {
		const struct dkim_field *f = array_get(fields, i);
		if (!signed_name(f->name, f->name_len))
			continue;
		buf_append(h, f->name, f->name_len);
		buf_append_char(h, ':');
	}
	buf_append_str(h, "from");
	/* Folded only where a blank is anyway, so the canonical form (and
	 * so the signature) is the one libopendkim makes. */
	buf_printf(hdr,
		   "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s;%s"
		   "\ts=%s; t=%lld;%s\tbh=",
		   dkim_alg_name(dkim_secret_alg(k->secret)), k->domain, eol,
		   k->selector, t, eol);
	dkim_base64(bh, sizeof(bh), hdr);
	buf_printf(hdr, ";%s\th=%s;%s\tb=", eol, buf_data(h), eol);
	/* The signed data: the fields h= names, taken from the bottom, then
	 * this field with b= empty and no line end (RFC 6376 3.7). */
	buf_reset(data);
	const char *p = buf_data(h), *end = p + buf_len(h);
	while (p < end) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		size_t n = c != NULL ? (size_t)(c - p) : (size_t)(end - p);
		const struct dkim_field *f = dkim_select(fields, p, n);
		if (f != NULL)
			dkim_canon_header_relaxed(f->raw, f->raw_len, true,
						  data);
		p += n + 1;
	}
	dkim_canon_header_relaxed(buf_data(hdr), buf_len(hdr), false, data);
	rc = sign_data(k->secret, data, b, err);
	if (rc == 0) {
		/* b= in lines of 64 (blanks inside b= are ignored). */
		for (size_t i = 0; i < buf_len(b); i += 64) {
			if (i > 0)
				buf_printf(hdr, "%s\t ", eol);
			buf_append(hdr, buf_data(b) + i,
				   buf_len(b) - i < 64 ? buf_len(b) - i : 64);
		}
		buf_append_str(hdr, eol);
		buf_append(out, buf_data(hdr), buf_len(hdr));
	} else {
		error_prefix(err, "dkim %s/%s: ", k->domain, k->selector);
	}
	dkim_fields_free(&fields);
	buf_free(&data);
	buf_free(&h);
	buf_free(&hdr);
	buf_free(&b);
	return rc;
}

int dkim_sign_msg(struct dkim_ctx *d, const struct dkim_sign_key *keys,
		  size_t nkeys, const char *msg, size_t len, struct buf *out,
		  struct error *err)
{
	bool crlf = uses_crlf(msg, len);

	for (size_t i = 0; i < nkeys; i++)
		if (sign_one(d, &keys[i], msg, len, crlf, out, err) < 0)
			return -1;
	return 0;
}
