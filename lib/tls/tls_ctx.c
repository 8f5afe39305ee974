/*
 * tls_ctx.c - server and client SSL_CTX construction and reload.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "tls/tls_private.h"

/* TLS 1.3 tickets per handshake: one is enough for a mail client that
 * reconnects now and then; OpenSSL's default of two doubles the work. */
#define TLS_TICKETS 1
#define TLS_SESSION_LIFETIME 3600

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool server, verify;
	char *cert_file, *key_file, *protocols, *ciphers, *ca_file;
	/* Client certificates (tls_ccert.c), kept for reloads. */
	enum tls_ccert_mode ccert_mode;
	char *ccert_ca_file, *ccert_ca_path;
	int ccert_depth;
};

int tls_parse_protocols(const char *protocols, int *min_version_r,
			struct error *err)
{
	int v;

	if (protocols == NULL || *protocols == '\0' ||
	    strcmp(protocols, ">=TLSv1.2") == 0)
		v = TLS1_2_VERSION;
	else if (strcmp(protocols, ">=TLSv1.3") == 0)
		v = TLS1_3_VERSION;
	else
		return error_set(err, ERR_CONFIG,
				 "tls_protocols \"%s\": expected >=TLSv1.2 "
				 "or >=TLSv1.3",
				 protocols);
	if (min_version_r != NULL)
		*min_version_r = v;
	return 0;
}

static SSL_CTX *tls_ctx_base(bool server, const char *protocols,
			     const char *ciphers, struct error *err)
{
	SSL_CTX *c;
	int minv;

	if (tls_parse_protocols(protocols, &minv, err) < 0)
		return NULL;
	c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (c == NULL) {
		tls_error_set(err, ERR_TEMP, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(c, minv)) {
		tls_error_set(err, ERR_CONFIG, "set minimum TLS version");
		goto fail;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				   SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* io.c writes from a buf that may move between retries.  Idle
	 * connections give their ~34 KiB of record buffers back
	 * (RELEASE_BUFFERS): thousands of IMAP IDLE sessions per process. */
	SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				SSL_MODE_ENABLE_PARTIAL_WRITE |
				SSL_MODE_RELEASE_BUFFERS);
	if (ciphers != NULL && *ciphers != '\0' &&
	    !SSL_CTX_set_cipher_list(c, ciphers)) {
		tls_error_set(err, ERR_CONFIG, "tls_ciphers");
		goto fail;
	}
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

static SSL_CTX *tls_server_build(const struct tls_ctx *t, struct error *err)
{
	SSL_CTX *c = tls_ctx_base(true, t->protocols, t->ciphers, err);

	if (c == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(c, t->cert_file) != 1) {
		tls_error_set(err, ERR_CONFIG, t->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, t->key_file, SSL_FILETYPE_PEM) !=
	    1) {
		tls_error_set(err, ERR_CONFIG, t->key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		tls_error_set(err, ERR_CONFIG,
			      "certificate and key do not match");
		goto fail;
	}
	if (t->ccert_mode != TLS_CCERT_NONE) {
		struct tls_ccert_config cc = {
		    .mode = t->ccert_mode,
		    .ca_file = t->ccert_ca_file,
		    .ca_path = t->ccert_ca_path,
		    .verify_depth = t->ccert_depth,
		};
		if (tls_ccert_apply(c, &cc, err) < 0)
			goto fail;
	}
	/* Tickets only (see tls.h): no server-side cache shared by nobody. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, TLS_TICKETS);
	SSL_CTX_set_timeout(c, TLS_SESSION_LIFETIME);
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

static struct tls_ctx *tls_ctx_alloc(bool server, const char *protocols,
				     const char *ciphers)
{
	struct tls_ctx *t = xcalloc(1, sizeof(*t));

	t->server = server;
	t->protocols = xstrdup(protocols ? protocols : "");
	t->ciphers = xstrdup(ciphers ? ciphers : "");
	return t;
}

struct tls_ctx *tls_server_new(const char *cert_file, const char *key_file,
			       const char *protocols, const char *ciphers,
			       struct error *err)
{
	struct tls_ctx *t = tls_ctx_alloc(true, protocols, ciphers);

	t->cert_file = xstrdup(cert_file);
	t->key_file = xstrdup(key_file);
	t->ssl_ctx = tls_server_build(t, err);
	if (t->ssl_ctx == NULL) {
		tls_ctx_free(&t);
		return NULL;
	}
	return t;
}

int tls_server_reload(struct tls_ctx *t, struct error *err)
{
	SSL_CTX *c;

	ASSERT(t->server);
	c = tls_server_build(t, err);
	if (c == NULL) {
		log_warn("TLS reload failed, keeping the old certificate: %s",
			 err != NULL ? err->msg : "error");
		return -1;
	}
	/* Live SSL objects hold their own reference to the old context. */
	SSL_CTX_free(t->ssl_ctx);
	t->ssl_ctx = c;
	log_info("TLS certificate reloaded from %s", t->cert_file);
	return 0;
}

struct tls_ctx *tls_client_new(bool verify, const char *ca_file,
			       const char *protocols, struct error *err)
{
	struct tls_ctx *t = tls_ctx_alloc(false, protocols, NULL);

	t->verify = verify;
	t->ssl_ctx = tls_ctx_base(false, protocols, NULL, err);
	if (t->ssl_ctx == NULL)
		goto fail;
	if (verify) {
		int ok = ca_file != NULL
			     ? SSL_CTX_load_verify_locations(t->ssl_ctx,
							     ca_file, NULL)
			     : SSL_CTX_set_default_verify_paths(t->ssl_ctx);

		if (ok != 1) {
			tls_error_set(err, ERR_CONFIG,
				      ca_file ? ca_file : "system CA store");
			goto fail;
		}
		t->ca_file = ca_file ? xstrdup(ca_file) : NULL;
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	return t;
fail:
	tls_ctx_free(&t);
	return NULL;
}

void tls_ctx_free(struct tls_ctx **tp)
{
	struct tls_ctx *t = *tp;

	if (t == NULL)
		return;
	SSL_CTX_free(t->ssl_ctx);
	free(t->cert_file);
	free(t->key_file);
	free(t->protocols);
	free(t->ciphers);
	free(t->ca_file);
	free(t->ccert_ca_file);
	free(t->ccert_ca_path);
	free(t);
	*tp = NULL;
}

int tls_server_set_ccert(struct tls_ctx *t, const struct tls_ccert_config *cfg,
			 struct error *err)
{
	struct tls_ccert_config none = {.mode = TLS_CCERT_NONE};
	struct tls_ctx old;
	SSL_CTX *c;

	ASSERT(t->server);
	if (cfg == NULL)
		cfg = &none;
	old = *t;
	t->ccert_mode = cfg->mode;
	t->ccert_ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
	t->ccert_ca_path = cfg->ca_path ? xstrdup(cfg->ca_path) : NULL;
	t->ccert_depth = cfg->verify_depth;
	/* A fresh SSL_CTX: verify settings cannot be taken back from one
	 * that live connections may share. */
	c = tls_server_build(t, err);
	if (c == NULL) {
		/* Keep the context as it was (and reloads with it). */
		free(t->ccert_ca_file);
		free(t->ccert_ca_path);
		*t = old;
		return -1;
	}
	free(old.ccert_ca_file);
	free(old.ccert_ca_path);
	SSL_CTX_free(t->ssl_ctx);
	t->ssl_ctx = c;
	return 0;
}

enum tls_ccert_mode tls_server_ccert_mode(const struct tls_ctx *t)
{
	return t->server ? t->ccert_mode : TLS_CCERT_NONE;
}

int tls_ctx_set_client_cert(struct tls_ctx *t, const char *cert_file,
			    const char *key_file, struct error *err)
{
	ASSERT(!t->server);
	return tls_client_cert_apply(t->ssl_ctx, cert_file, key_file, err);
}

bool tls_ctx_is_server(const struct tls_ctx *t)
{
	return t->server;
}

bool tls_ctx_verifies(const struct tls_ctx *t)
{
	return t->verify;
}

SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *t)
{
	return t->ssl_ctx;
}

SSL *tls_ctx_new_ssl(struct tls_ctx *t, struct error *err)
{
	SSL *ssl = SSL_new(t->ssl_ctx);

	if (ssl == NULL)
		tls_error_set(err, ERR_TEMP, "SSL_new");
	return ssl;
}
