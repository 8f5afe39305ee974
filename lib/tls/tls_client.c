/*
 * tls_client.c - the outbound SMTP side of TLS: the client SSL_CTX,
 * STARTTLS on an io, name checks (RFC 6125), DANE (RFC 7672) and a client
 * session cache keyed by destination.
 *
 * Verification never aborts the handshake: the verify callback records
 * each failure and lets OpenSSL go on, so the caller decides (the SMTP
 * client's security level) and the log can say Trusted or Untrusted even
 * for opportunistic TLS, as Postfix does.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "tls/io_private.h"
#include "tls/tls_private.h"

/* Per connection, in the SSL's ex_data. */
struct tls_conn {
	bool chain_error, name_error, dane;
	bool bad_ciphers; /* params->ciphers matched no cipher */
	enum tls_trust trust; /* of a resumed session */
	/* A name to match was an IP address: OpenSSL checks it against
	 * IP subjectAltNames and, on a match, leaves no peername. */
	bool ip_name;
	char *session_key;
	char verify_error[160];
};

/* One cached session and the trust its full handshake earned. */
struct tls_cached {
	SSL_SESSION *sess;
	enum tls_trust trust;
};

static int conn_index = -1, cache_index = -1;

static void cached_free(void *p)
{
	struct tls_cached *c = p;

	SSL_SESSION_free(c->sess);
	free(c);
}

static void conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	struct tls_conn *tc = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (tc == NULL)
		return;
	free(tc->session_key);
	free(tc);
}

static void cache_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			  long argl, void *argp)
{
	struct hash *h = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	hash_free(&h);
}

static int init_indexes(struct error *err)
{
	if (conn_index < 0)
		conn_index =
		    SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free);
	if (cache_index < 0)
		cache_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
						       cache_ex_free);
	if (conn_index < 0 || cache_index < 0)
		return tls_error_set(err, ERR_TEMP, "ex_data index");
	return 0;
}

static struct tls_conn *conn_of(const SSL *ssl)
{
	return ssl != NULL ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
	    xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *tc = conn_of(ssl);
	int e;

	if (ok || tc == NULL)
		return 1;
	e = X509_STORE_CTX_get_error(xs);
	if (e == X509_V_ERR_HOSTNAME_MISMATCH ||
	    e == X509_V_ERR_IP_ADDRESS_MISMATCH)
		tc->name_error = true;
	else
		tc->chain_error = true;
	if (tc->verify_error[0] == '\0')
		snprintf(tc->verify_error, sizeof(tc->verify_error),
			 "certificate verify failed at depth %d: %s",
			 X509_STORE_CTX_get_error_depth(xs),
			 X509_verify_cert_error_string(e));
	/* Go on: the caller's policy decides (see the file comment). */
	return 1;
}

static enum tls_trust trust_of(SSL *ssl, const struct tls_conn *tc)
{
	X509 *peer;
	enum tls_trust t;

	/* No verification ran on resumption: the cached verdict stands. */
	if (tc != NULL && SSL_session_reused(ssl))
		return tc->trust;
	peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL)
		return TLS_TRUST_ANONYMOUS;
	if (tc == NULL || tc->chain_error)
		return TLS_TRUST_UNTRUSTED;
	if (tc->dane)
		/* Only a TLSA match authenticates under DANE: PKIX trust
		 * anchors do not count (RFC 7672 3.1). */
		t = SSL_get0_dane_authority(ssl, NULL, NULL) >= 0 &&
			    !tc->name_error
			? TLS_TRUST_VERIFIED
			: TLS_TRUST_UNTRUSTED;
	else if (!tc->name_error &&
		 (SSL_get0_peername(ssl) != NULL || tc->ip_name))
		t = TLS_TRUST_VERIFIED;
	else
		t = TLS_TRUST_TRUSTED;
	return t;
}

/* TLS 1.3 tickets come after the handshake: this is where they land. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_conn *tc = conn_of(ssl);
	struct hash *cache =
	    SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index);
	struct tls_cached *c;

	if (tc == NULL || tc->session_key == NULL || cache == NULL)
		return 0;
	if (hash_count(cache) >= TLS_CLIENT_CACHE_MAX &&
	    !hash_contains(cache, tc->session_key)) {
		/* Crude but bounded: start over rather than track age. */
		struct hash *fresh = hash_new(HASH_DEFAULT, cached_free);

		SSL_CTX_set_ex_data(SSL_get_SSL_CTX(ssl), cache_index, fresh);
		hash_free(&cache);
		cache = fresh;
	}
	c = xcalloc(1, sizeof(*c));
	c->sess = sess;
	c->trust = trust_of(ssl, tc);
	hash_put(cache, tc->session_key, c);
	return 1; /* we keep the reference */
}

struct tls_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
				   struct error *err)
{
	struct tls_ctx *t;
	SSL_CTX *c;
	const char *file = cfg->ca_file, *path = cfg->ca_path;

	if (init_indexes(err) < 0)
		return NULL;
	t = tls_client_new(false, NULL, cfg->protocols, err);
	if (t == NULL)
		return NULL;
	c = tls_ctx_ssl_ctx(t);
	if (cfg->ciphers != NULL && *cfg->ciphers != '\0' &&
	    !SSL_CTX_set_cipher_list(c, cfg->ciphers)) {
		tls_error_set(err, ERR_CONFIG, "smtp_tls_ciphers");
		goto fail;
	}
	if (file != NULL && *file == '\0')
		file = NULL;
	if (path != NULL && *path == '\0')
		path = NULL;
	if ((file != NULL || path != NULL) &&
	    SSL_CTX_load_verify_locations(c, file, path) != 1) {
		tls_error_set(err, ERR_CONFIG, file != NULL ? file : path);
		goto fail;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_cb);
	if (SSL_CTX_dane_enable(c) <= 0) {
		tls_error_set(err, ERR_TEMP, "SSL_CTX_dane_enable");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
					      SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c, new_session_cb);
	SSL_CTX_set_ex_data(c, cache_index,
			    hash_new(HASH_DEFAULT, cached_free));
	return t;
fail:
	tls_ctx_free(&t);
	return NULL;
}

static bool is_address(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 ||
	       inet_pton(AF_INET6, s, tmp) == 1;
}

/* DANE records; how many OpenSSL took (usages 0/1 are skipped). */
static int add_tlsa(SSL *ssl, const struct tls_client_params *p)
{
	int n = 0;

	for (size_t i = 0; i < p->ntlsa; i++) {
		const struct tls_tlsa *r = &p->tlsa[i];

		/* RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for
		 * SMTP; a client treats them as unusable. */
		if (r->usage != 2 && r->usage != 3)
			continue;
		if (SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->mtype,
				      r->data, r->len) > 0)
			n++;
		else
			ERR_clear_error(); /* an unusable record */
	}
	return n;
}

/* Per-connection versions (smtp_tls_policy_maps protocols=), on the SSL
 * so the shared context keeps its own; never below the context floor. */
static int set_versions(SSL *ssl, const struct tls_client_params *p)
{
	int floor = (int)SSL_get_min_proto_version(ssl);

	if (p->min_version != 0 &&
	    !SSL_set_min_proto_version(
		ssl, p->min_version > floor ? p->min_version : floor))
		return -1;
	if (p->max_version != 0 &&
	    !SSL_set_max_proto_version(
		ssl, p->max_version > floor ? p->max_version : floor))
		return -1;
	return 0;
}

static int setup_ssl(SSL *ssl, struct tls_ctx *ctx,
		     const struct tls_client_params *p, struct tls_conn *tc)
{
	struct hash *cache;
	struct tls_cached *cached;

	if (p->sni != NULL && *p->sni != '\0' && !is_address(p->sni) &&
	    SSL_set_tlsext_host_name(ssl, p->sni) != 1)
		return -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (set_versions(ssl, p) < 0)
		return -1;
	if (p->ciphers != NULL && SSL_set_cipher_list(ssl, p->ciphers) != 1) {
		tc->bad_ciphers = true;
		return -1;
	}
	if (p->ntlsa > 0 && p->dane_base != NULL) {
		if (SSL_dane_enable(ssl, p->dane_base) <= 0)
			return -1;
		/* RFC 7672 3.1.1: DANE-EE binds the key, not a name. */
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		tc->dane = add_tlsa(ssl, p) > 0;
	}
	for (size_t i = 0; i < p->nnames; i++) {
		/* SSL_dane_enable set the base domain as the first name. */
		int ok = (i == 0 && !tc->dane)
			     ? SSL_set1_host(ssl, p->names[i])
			     : SSL_add1_host(ssl, p->names[i]);
		if (ok != 1)
			return -1;
		if (is_address(p->names[i]))
			tc->ip_name = true;
	}
	if (p->session_key != NULL) {
		tc->session_key = xstrdup(p->session_key);
		cache = SSL_CTX_get_ex_data(tls_ctx_ssl_ctx(ctx), cache_index);
		cached = cache != NULL ? hash_get(cache, p->session_key) : NULL;
		if (cached != NULL) {
			if (SSL_SESSION_is_resumable(cached->sess) &&
			    SSL_set_session(ssl, cached->sess) == 1) {
				tc->trust = cached->trust;
			} else {
				hash_del(cache, p->session_key);
			}
		}
	}
	return 0;
}

int io_start_tls_client(struct io *io, struct tls_ctx *ctx,
			const struct tls_client_params *params,
			struct error *err)
{
	struct tls_conn *tc;

	if (io->ssl != NULL)
		return error_set(err, ERR_PERM, "TLS already active");
	if (io->state != IO_ST_OPEN)
		return error_set(err, ERR_PERM, "connection not open");
	if (tls_ctx_is_server(ctx) || conn_index < 0)
		return error_set(err, ERR_PERM, "wrong kind of TLS context");
	io->ssl = tls_ctx_new_ssl(ctx, err);
	if (io->ssl == NULL)
		return -1;
	tc = xcalloc(1, sizeof(*tc));
	SSL_set_ex_data(io->ssl, conn_index, tc);
	if (SSL_set_fd(io->ssl, io->fd) != 1 ||
	    setup_ssl(io->ssl, ctx, params, tc) < 0) {
		enum err_kind kind = tc->bad_ciphers ? ERR_CONFIG : ERR_TEMP;
		char what[300];

		snprintf(what, sizeof(what), "%s%s",
			 tc->bad_ciphers ? "no cipher matches " : "",
			 tc->bad_ciphers ? params->ciphers : "TLS client setup");
		SSL_free(io->ssl);
		io->ssl = NULL;
		return tls_error_set(err, kind, what);
	}
	/* RFC 3207 4.2: the client too forgets what came before TLS. */
	buf_reset(io->in);
	io->discarding = false;
	io->in_full = false;
	io->eof = false;
	SSL_set_connect_state(io->ssl);
	io->ssl_want_write = true;
	io->state = IO_ST_HANDSHAKE;
	io_timer_restart(io);
	io_update(io);
	return 0;
}

enum tls_trust io_tls_trust(const struct io *io)
{
	struct tls_conn *tc;

	if (!io_tls_active(io))
		return TLS_TRUST_ANONYMOUS;
	tc = conn_of(io->ssl);
	return trust_of(io->ssl, tc);
}

const char *tls_trust_name(enum tls_trust trust)
{
	switch (trust) {
	case TLS_TRUST_VERIFIED:
		return "Verified";
	case TLS_TRUST_TRUSTED:
		return "Trusted";
	case TLS_TRUST_UNTRUSTED:
		return "Untrusted";
	case TLS_TRUST_ANONYMOUS:
		break;
	}
	return "Anonymous";
}

bool io_tls_dane_matched(const struct io *io)
{
	struct tls_conn *tc;

	if (!io_tls_active(io))
		return false;
	tc = conn_of(io->ssl);
	return tc != NULL && tc->dane && io_tls_trust(io) == TLS_TRUST_VERIFIED;
}

bool io_tls_reused(const struct io *io)
{
	return io_tls_active(io) && SSL_session_reused(io->ssl);
}

const char *io_tls_verify_error(const struct io *io)
{
	struct tls_conn *tc = io->ssl != NULL ? conn_of(io->ssl) : NULL;

	if (tc == NULL)
		return "";
	if (tc->verify_error[0] == '\0' && tc->dane &&
	    io_tls_trust(io) != TLS_TRUST_VERIFIED)
		return "no TLSA record matched the certificate chain";
	if (tc->verify_error[0] == '\0' && tc->name_error)
		return "certificate name does not match";
	return tc->verify_error;
}

void tls_append_cn(struct buf *out, const X509_NAME *name)
{
	char cn[256];

	if (name == NULL ||
	    X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, cn,
				      sizeof(cn)) < 0)
		cn[0] = '\0';
	buf_printf(out, "%s", cn);
}

void io_tls_peer_names(const struct io *io, struct buf *out)
{
	X509 *peer;

	if (!io_tls_active(io) ||
	    (peer = SSL_get0_peer_certificate(io->ssl)) == NULL)
		return;
	buf_printf(out, "CN=");
	tls_append_cn(out, X509_get_subject_name(peer));
	buf_printf(out, ", issuer=");
	tls_append_cn(out, X509_get_issuer_name(peer));
}
