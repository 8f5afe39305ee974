/*
 * dkim - DKIM signatures (RFC 6376) with rsa-sha256 and ed25519-sha256
 * (RFC 8463): signing with our relaxed canonicaliser on OpenSSL EVP
 * (dkim_sign.c says why not libopendkim's signer), verification on
 * libopendkim (docs/dkim.md).  Both stay behind this header.
 *
 * Signing is relaxed/relaxed over the header fields OpenDKIM signs by
 * default (RFC 6376 5.4.1's list: From, Sender, Reply-To, Subject, Date,
 * Message-ID, To, Cc, MIME and Resent- fields, In-Reply-To, References,
 * List-*), each signed once per instance present, and From oversigned (one
 * more h= entry than instances) so no From can be added after signing.
 *
 * Verification takes the key records from the caller (dkim_key_fn):
 * lib/dkim does no DNS.  A caller on the event loop resolves each
 * "selector._domainkey.domain" asynchronously (lib/dns) first and answers
 * the lookups from what it found, as LIBRARIES.md advises.
 *
 * Messages are in the queue's form: header, empty line, body, with lines
 * ending in CRLF or bare LF (canonicalised as CRLF, which is what the
 * peer stores).  Threads: a struct dkim may be used from several threads
 * at once (one libopendkim handle per call inside).  Errors: ERR_PERM for
 * a key that does not load, ERR_TEMP when OpenSSL cannot sign,
 * ERR_CONFIG when libopendkim cannot start.
 */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

enum dkim_alg { DKIM_RSA_SHA256 = 0, DKIM_ED25519_SHA256 = 1 };

/* "rsa-sha256" / "ed25519-sha256" (the a= tag and the SQL value). */
const char *dkim_alg_name(enum dkim_alg alg);
/* "rsa" / "ed25519" (the k= tag). */
const char *dkim_alg_keytype(enum dkim_alg alg);
/* Parse either spelling ("rsa-sha256", "rsa", "ed25519-sha256",
 * "ed25519"): 0, or -1. */
int dkim_alg_parse(const char *s, enum dkim_alg *alg_r);

struct dkim_ctx;

struct dkim_params {
	/* Signature time t= in seconds; 0: the clock (tests fix it). */
	int64_t fixed_time;
};

/* NULL with ERR_CONFIG when libopendkim cannot start. */
struct dkim_ctx *dkim_ctx_new(const struct dkim_params *params,
			      struct error *err);
void dkim_ctx_free(struct dkim_ctx **d);

/*
 * A private key, parsed once (PEM, PKCS#8 or traditional; RSA of 1024
 * bits or more, or Ed25519) and kept by the caller: parsing costs more
 * than signing.  NULL with ERR_PERM.  Read-only after the load, so
 * several threads may sign with one.
 */
struct dkim_secret;
struct dkim_secret *dkim_secret_load(enum dkim_alg alg, const char *pem,
				     struct error *err);
void dkim_secret_free(struct dkim_secret **s);
enum dkim_alg dkim_secret_alg(const struct dkim_secret *s);

/* One signing key: borrowed for the call. */
struct dkim_sign_key {
	const char *domain;		  /* d= */
	const char *selector;		  /* s= */
	const struct dkim_secret *secret; /* the algorithm comes with it */
};

/*
 * Sign msg with each key in turn (RFC 8463 3: a message may carry an RSA
 * and an Ed25519 signature side by side) and append the DKIM-Signature
 * fields, complete with their line ends (CRLF, or LF when the message's
 * first line ends in a bare LF), to out: prepend them to msg to send it.
 * 0, or -1 with err (out then unspecified).
 */
int dkim_sign_msg(struct dkim_ctx *d, const struct dkim_sign_key *keys,
		  size_t nkeys, const char *msg, size_t len, struct buf *out,
		  struct error *err);

/* ---- Verification (RFC 6376 6). */

enum dkim_result {
	DKIM_PASS,
	DKIM_FAIL,	/* signature or body hash does not match */
	DKIM_NEUTRAL,	/* a signature we do not evaluate */
	DKIM_TEMPERROR, /* the key could not be fetched now */
	DKIM_PERMERROR, /* malformed signature or key, no key */
};
/* "pass", "fail", ... as in Authentication-Results (RFC 8601 2.7.1). */
const char *dkim_result_name(enum dkim_result r);

struct dkim_sig_result {
	enum dkim_result result;
	char domain[256]; /* d= */
	char selector[64];
	char alg[20];	  /* a= as written, "" when unknown */
	char reason[128]; /* why not pass, "" on pass */
};

/*
 * Find the key record of qname ("sel._domainkey.example.com"): 1 with the
 * TXT strings joined into txt, 0 when there is none (NXDOMAIN or no TXT),
 * -1 for a temporary failure.
 */
typedef int dkim_key_fn(void *ctx, const char *qname, struct buf *txt);

/*
 * Verify every DKIM-Signature of msg.  *results_r (malloc'd, free()) gets
 * one entry per signature, in header order; *n_r may be 0 (unsigned
 * mail).  -1 with err only for a message libopendkim cannot parse at
 * all.
 */
int dkim_verify_msg(struct dkim_ctx *d, const char *msg, size_t len,
		    dkim_key_fn *lookup, void *ctx,
		    struct dkim_sig_result **results_r, size_t *n_r,
		    struct error *err);

#endif
