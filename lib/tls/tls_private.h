/*
 * tls_private.h - what io.c needs from the contexts; lib/tls only.
 */
#ifndef POSTERN_TLS_PRIVATE_H
#define POSTERN_TLS_PRIVATE_H

#include <openssl/ssl.h>

#include "core/error.h"
#include "tls/tls.h"

/* A new SSL for one connection, from the current SSL_CTX; NULL with err. */
SSL *tls_ctx_new_ssl(struct tls_ctx *ctx, struct error *err);
bool tls_ctx_verifies(const struct tls_ctx *ctx);
/* The current SSL_CTX (tls_client.c configures the outbound one). */
SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *ctx);

/* tls_ccert.c: client certificate settings on an SSL_CTX. */
int tls_ccert_apply(SSL_CTX *c, const struct tls_ccert_config *cfg,
		    struct error *err);
int tls_client_cert_apply(SSL_CTX *c, const char *cert_file,
			  const char *key_file, struct error *err);

/* tls_client.c: append the commonName of name to out (nothing when it
 * has none, or name is NULL). */
void tls_append_cn(struct buf *out, const X509_NAME *name);

/* Fill err with `what` and the OpenSSL error queue (which is cleared). */
int tls_error_set(struct error *err, enum err_kind kind, const char *what);
/* Append the OpenSSL error queue to out as "; "-separated text, clear it. */
void tls_error_text(char *out, size_t outlen);

#endif
