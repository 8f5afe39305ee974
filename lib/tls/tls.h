/*
 * tls - OpenSSL contexts for the servers and for outbound SMTP.
 *
 * A struct tls_ctx wraps an SSL_CTX.  Connections use it through io.h
 * (io_accept_tls, io_start_tls_server, io_connect_tls, and
 * io_start_tls_client for outbound SMTP, tls_client.c); nothing outside
 * lib/tls sees OpenSSL types.
 *
 * Policy (not configurable below these floors):
 *   - protocols ">=TLSv1.2" (default) or ">=TLSv1.3"; SSLv3, TLS 1.0 and
 *     1.1 are always refused;
 *   - ciphers: the tls_ciphers OpenSSL list for TLS 1.2 ("" = OpenSSL's
 *     secure default); TLS 1.3 suites are OpenSSL's defaults; server
 *     preference; no compression, no renegotiation;
 *   - session tickets on, one ticket per TLS 1.3 handshake, lifetime one
 *     hour; the ticket key lives in the SSL_CTX, so each reload (SIGHUP)
 *     rotates it and a leaked key exposes at most one reload period.
 *     No server-side session cache: processes are many and short-lived.
 *
 * Reload: tls_server_reload() builds a new SSL_CTX from the same files and
 * swaps it in only if everything loads; connections already running keep
 * the SSL_CTX they started with (OpenSSL reference counts it).  On failure
 * the old context stays and a warning is logged.
 *
 * Errors: -1 / NULL with err filled: ERR_CONFIG for unreadable or
 * mismatched cert/key files or a bad protocols/ciphers value, ERR_TEMP for
 * other OpenSSL failures.  The OpenSSL error queue is folded into the
 * message and cleared.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/error.h"

struct tls_ctx;

/*
 * Server context from a PEM certificate chain and a PEM private key.
 * protocols: ">=TLSv1.2" or ">=TLSv1.3" (NULL or "" = ">=TLSv1.2").
 * ciphers: OpenSSL cipher list for TLS 1.2 (NULL or "" = default).
 */
struct tls_ctx *tls_server_new(const char *cert_file, const char *key_file,
			       const char *protocols, const char *ciphers,
			       struct error *err);
/* Re-read the cert and key given to tls_server_new(); see above. */
int tls_server_reload(struct tls_ctx *ctx, struct error *err);

/*
 * Client context (outbound SMTP).  verify: check the peer's chain against
 * ca_file (NULL: the system store) and the name given to io_connect_tls();
 * without verify the handshake succeeds with any certificate
 * (opportunistic TLS, RFC 7435).
 */
struct tls_ctx *tls_client_new(bool verify, const char *ca_file,
			       const char *protocols, struct error *err);

/*
 * Outbound SMTP client context (tls_client.c), Postfix's smtp_tls_*:
 * the CA file and/or folder (both NULL/"": no trust anchors, nothing
 * verifies except DANE), protocols and TLS 1.2 ciphers as for servers.
 * The handshake never fails on the certificate: each connection records
 * what verified (io_tls_trust) and the caller applies its policy, so
 * opportunistic TLS still logs "Trusted" or "Untrusted" as Postfix does.
 * DANE (RFC 7672) is enabled on the context; a client session cache keyed
 * by the caller's string (io_start_tls_client) lives in it, at most
 * TLS_CLIENT_CACHE_MAX sessions, dropped with the context.
 */
struct tls_client_config {
	const char *ca_file, *ca_path;
	const char *protocols, *ciphers;
};
#define TLS_CLIENT_CACHE_MAX 1000
struct tls_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
				   struct error *err);

void tls_ctx_free(struct tls_ctx **ctx);
bool tls_ctx_is_server(const struct tls_ctx *ctx);

/* Check a protocols value (">=TLSv1.2" / ">=TLSv1.3"); for config checks. */
int tls_parse_protocols(const char *protocols, int *min_version_r,
			struct error *err);

/*
 * Write a self-signed certificate for hostname (used by `postern init`):
 * an EC P-256 key, SHA-256 signature, valid `days` days from now, CN =
 * hostname, subjectAltName = DNS:hostname, DNS:localhost, IP:127.0.0.1.
 * The key file is created with mode 0600, the certificate 0644; both are
 * written atomically (temporary file + rename), so a crash leaves either
 * the old files or the new ones.
 */
int tls_generate_selfsigned(const char *cert_path, const char *key_path,
			    const char *hostname, int days, struct error *err);

/*
 * Client certificates (tls_ccert.c), as Postfix's smtpd_tls_ask_ccert and
 * smtpd_tls_req_ccert and Dovecot's ssl_verify_client_cert:
 *   TLS_CCERT_NONE     no certificate is asked for (the default: asking
 *                      makes some clients prompt their user);
 *   TLS_CCERT_ASK      asked for, never required: the handshake succeeds
 *                      without one or with one that does not verify, and
 *                      the caller looks at io_tls_peer_verified();
 *   TLS_CCERT_REQUIRE  a certificate that verifies against the CAs is
 *                      required: the handshake fails with a TLS alert
 *                      otherwise (io_error says why).
 * ca_file (PEM; its subject names are sent in the CertificateRequest)
 * and/or ca_path (hashed folder) are the trust anchors; none: nothing
 * verifies.  verify_depth: longest chain (0: OpenSSL's 100).  The setting
 * rebuilds the context and survives tls_server_reload().
 */
enum tls_ccert_mode { TLS_CCERT_NONE, TLS_CCERT_ASK, TLS_CCERT_REQUIRE };
struct tls_ccert_config {
	enum tls_ccert_mode mode;
	const char *ca_file, *ca_path;
	int verify_depth;
};
int tls_server_set_ccert(struct tls_ctx *ctx,
			 const struct tls_ccert_config *cfg, struct error *err);
enum tls_ccert_mode tls_server_ccert_mode(const struct tls_ctx *ctx);

/* A client context (tls_client_new, tls_client_ctx_new) presents this
 * certificate chain and key (PEM; key_file NULL or "": in cert_file) when
 * a server asks.  cert_file NULL or "": nothing (returns 0). */
int tls_ctx_set_client_cert(struct tls_ctx *ctx, const char *cert_file,
			    const char *key_file, struct error *err);

/* Fingerprints as Postfix writes them: colon-separated uppercase hex
 * ("D7:04:2F:..."), appended to out. */
void tls_fingerprint_format(const unsigned char *md, size_t len,
			    struct buf *out);
/* Is name a digest OpenSSL knows (md5, sha1, sha256, sha512)? */
int tls_digest_check(const char *name, struct error *err);

#endif
